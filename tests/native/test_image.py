"""image_to_tensor / letterbox behaviour beyond the goldens: transforms, layouts, channels, errors."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from native.image import image_to_tensor, letterbox, roi_transform


def _rng_image(h=97, w=131, c=3, seed=0):
    return (
        np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
        if c
        else np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    )


def _cv2_reference(image, tf, out_size, border, interp=cv2.INTER_LINEAR):
    bm = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(
        image, tf.matrix[:2], out_size, flags=interp | cv2.WARP_INVERSE_MAP, borderMode=bm, borderValue=0
    )


@pytest.mark.parametrize("border", ["replicate", "zero"])
@pytest.mark.parametrize("rot", [0.0, 0.3, -1.2, math.pi])
def test_matches_opencv_warp(border, rot):
    image = _rng_image()
    tensor, tf = image_to_tensor(image, (0.45, 0.55, 0.7, 0.9), rot, (64, 48), border=border, value_range=(0, 255))
    ref = _cv2_reference(image, tf, (64, 48), border)
    # OpenCV interpolates in 1/32 pixel steps and rounds to uint8; we stay in float
    assert np.abs(tensor[0] - ref).max() <= 4.0
    assert np.abs(tensor[0] - ref).mean() < 0.6


def test_layouts_and_channels():
    rgba = _rng_image(c=4)
    nhwc, _ = image_to_tensor(rgba, (0.5, 0.5, 0.5, 0.5), 0.2, (32, 24))
    nchw, _ = image_to_tensor(rgba, (0.5, 0.5, 0.5, 0.5), 0.2, (32, 24), layout="nchw")
    assert nhwc.shape == (1, 24, 32, 4) and nchw.shape == (1, 4, 24, 32)
    assert np.array_equal(nhwc.transpose(0, 3, 1, 2), nchw)
    rgb, _ = image_to_tensor(rgba, (0.5, 0.5, 0.5, 0.5), 0.2, (32, 24), out_channels=3)
    assert np.array_equal(rgb, nhwc[..., :3])
    gray = _rng_image(c=0)
    g1, _ = image_to_tensor(gray, (0.5, 0.5, 1, 1), 0.0, (16, 16))
    g3, _ = image_to_tensor(gray, (0.5, 0.5, 1, 1), 0.0, (16, 16), out_channels=3)
    assert g1.shape == (1, 16, 16, 1) and g3.shape == (1, 16, 16, 3)
    assert np.array_equal(np.repeat(g1, 3, axis=3), g3)


def test_strided_rows_view():
    big = _rng_image(200, 300)
    view = big[10:110, 20:220]
    assert not view.flags.c_contiguous
    a, _ = image_to_tensor(view, (0.5, 0.5, 0.8, 0.8), 0.4, (40, 40))
    b, _ = image_to_tensor(np.ascontiguousarray(view), (0.5, 0.5, 0.8, 0.8), 0.4, (40, 40))
    assert np.array_equal(a, b)


def test_identity_crop_is_exact():
    image = _rng_image(32, 48)
    tensor, _ = image_to_tensor(image, (0.5, 0.5, 1, 1), 0.0, (48, 32), value_range=(0, 255))
    assert np.array_equal(tensor[0], image.astype(np.float32))


def test_to_image_maps_tensor_corners_to_roi_corners():
    tf = roi_transform((640, 480), (0.5, 0.4, 0.25, 0.5), math.radians(30), (256, 256))
    corners = np.array([[0, 0], [256, 0], [256, 256], [0, 256], [128, 128]], float)
    img = tf.to_image(corners)
    assert np.allclose(img[4], [320, 192])
    # sides are the ROI's size in pixels and the top edge is turned 30 degrees clockwise
    assert np.isclose(np.linalg.norm(img[1] - img[0]), 160)
    assert np.isclose(np.linalg.norm(img[3] - img[0]), 240)
    ang = math.atan2(img[1][1] - img[0][1], img[1][0] - img[0][0])
    assert np.isclose(ang, math.radians(30))
    back = tf.to_tensor(img)
    assert np.allclose(back, corners)
    z = tf.to_image(np.array([[10.0, 20.0, 12.8]]))
    assert np.isclose(z[0, 2], 12.8 * 160 / 256)


def test_to_image_locates_sampled_content():
    # a bright dot in the image appears in the tensor where to_tensor says it is
    image = np.zeros((120, 160, 3), np.uint8)
    image[70, 100] = 255
    tensor, tf = image_to_tensor(image, (0.6, 0.55, 0.5, 0.5), 0.5, (128, 128), border="zero")
    ty, tx = np.unravel_index(np.argmax(tensor[0, :, :, 0]), tensor.shape[1:3])
    # pixel index 100 sits at continuous coordinate ~100 in OpenCV's sampling convention
    pt = tf.to_tensor(np.array([[100.0, 70.0]]))[0]
    assert abs(pt[0] - tx) <= 1.0 and abs(pt[1] - ty) <= 1.0


def test_keep_aspect_padding():
    _tensor, tf = image_to_tensor(_rng_image(100, 200), (0.5, 0.5, 1, 1), 0, (64, 64), keep_aspect=True, border="zero")
    assert tf.padding == pytest.approx((0.0, 0.25, 0.0, 0.25))
    assert tf.roi[2] == pytest.approx(200) and tf.roi[3] == pytest.approx(200)


def test_letterbox():
    image = _rng_image(100, 200)
    tensor, lb = letterbox(image, (128, 128), value_range=(-1, 1), layout="nchw")
    assert tensor.shape == (1, 3, 128, 128)
    assert lb.padding == pytest.approx((0, 0.25, 0, 0.25))
    # bars hold the low end of the range
    assert np.all(tensor[:, :, :30, :] == -1) and np.all(tensor[:, :, -30:, :] == -1)
    pts = lb.to_image(np.array([[0.0, 0.25], [1.0, 0.75], [0.5, 0.5]]))
    assert np.allclose(pts, [[0, 0], [200, 100], [100, 50]])


BAD = [
    ({"image": np.zeros((10, 10, 3), np.float32)}, TypeError, "uint8"),
    ({"image": [[1, 2]]}, TypeError, "numpy array"),
    ({"image": np.zeros((0, 10, 3), np.uint8)}, ValueError, "empty"),
    ({"image": np.zeros((10, 10, 2), np.uint8)}, ValueError, "shape"),
    ({"image": np.zeros((10, 10, 3), np.uint8)[:, :, ::-1]}, ValueError, "ascontiguousarray"),
    ({"image": np.zeros((10, 10, 3), np.uint8)[:, ::2]}, ValueError, "ascontiguousarray"),
    ({"roi": (np.nan, 0.5, 1, 1)}, ValueError, "x_center"),
    ({"roi": (0.5, 0.5, 0, 1)}, ValueError, "positive"),
    ({"roi": (0.5, 0.5, -1, 1)}, ValueError, "positive"),
    ({"roi": (0.5, 0.5, 1)}, ValueError, "roi"),
    ({"roi": (1e300, 0.5, 1, 1)}, ValueError, "absurdly"),
    ({"rotation": float("inf")}, ValueError, "rotation"),
    ({"out_size": (0, 10)}, ValueError, "positive"),
    ({"out_size": (-5, 10)}, ValueError, "positive"),
    ({"out_size": (10.5, 10)}, TypeError, "int"),
    ({"out_size": (20000, 10)}, ValueError, "16384"),
    ({"out_size": (16384, 16384)}, ValueError, "cap"),
    ({"border": "wrap"}, ValueError, "border"),
    ({"layout": "chw"}, ValueError, "layout"),
    ({"interp": "area"}, ValueError, "interp"),
    ({"value_range": (0, np.inf)}, ValueError, "value_range"),
    ({"out_channels": 4}, ValueError, "out_channels"),
]


@pytest.mark.parametrize("kwargs,exc,msg", BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)])
def test_bad_arguments_raise(kwargs, exc, msg):
    args = {"image": np.zeros((10, 10, 3), np.uint8), "roi": (0.5, 0.5, 1, 1), "rotation": 0.0, "out_size": (8, 8)}
    args.update(kwargs)
    with pytest.raises(exc, match=msg):
        image_to_tensor(**args)


@pytest.mark.parametrize("border", ["replicate", "zero"])
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize(
    "roi,rot", [((0.9, 0.5, 0.6, 0.8), 0.4), ((0.1, 0.95, 0.5, 0.5), -2.0), ((0.5, 0.5, 1.4, 1.3), 0.05)]
)
def test_rows_crossing_the_border_match_opencv(border, layout, roi, rot):
    # smooth content, so OpenCV's 1/32-pixel snapping stays within a level or two
    image = cv2.GaussianBlur(_rng_image(240, 320), (0, 0), 2)
    tensor, tf = image_to_tensor(image, roi, rot, (200, 150), border=border, value_range=(0, 255), layout=layout)
    ref = _cv2_reference(image, tf, (200, 150), border)
    got = tensor[0] if layout == "nhwc" else tensor[0].transpose(1, 2, 0)
    assert np.abs(got - ref).max() <= 3.0
