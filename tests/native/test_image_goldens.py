"""image_to_tensor against MediaPipe's ImageToTensor goldens (../shared/data/image_to_tensor)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from native.image import image_to_tensor

# name, rect, rotation (deg), keep_aspect, (out_w, out_h), value range
CASES = [
    ("medium_sub_rect_keep_aspect", (0.65, 0.4, 0.5, 0.5), 0, True, (256, 256), (0, 1)),
    ("medium_sub_rect_keep_aspect_with_rotation", (0.65, 0.4, 0.5, 0.5), 90, True, (256, 256), (0, 1)),
    ("medium_sub_rect_with_rotation", (0.65, 0.4, 0.5, 0.5), -45, False, (256, 256), (-1, 1)),
    ("large_sub_rect", (0.5, 0.5, 1.5, 1.1), 0, False, (128, 128), (0, 1)),
    ("large_sub_rect_keep_aspect", (0.5, 0.5, 1.5, 1.1), 0, True, (128, 128), (0, 1)),
    ("large_sub_rect_keep_aspect_with_rotation", (0.5, 0.5, 1.5, 1.1), -15, True, (128, 128), (0, 1)),
]


def _read(path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, f"cannot read {path}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _to_255(tensor, value_range):
    lo, hi = value_range
    return (tensor[0] - lo) * (255.0 / (hi - lo))


def _check(out255, golden, rotated):
    # the goldens are stored as uint8, so compare the tensor rounded the same way
    diff = np.abs(np.round(out255) - golden.astype(np.float64))
    assert out255.shape == golden.shape
    if rotated:
        # sharp edges of a rotated crop may differ by a few levels more (README tolerance)
        assert diff.max() <= 8, diff.max()
        assert diff.mean() < 0.5, diff.mean()
        assert (diff > 5).sum() <= 0.001 * diff.size
    else:
        assert diff.max() <= 5, diff.max()


@pytest.fixture
def golden_dir(shared):
    return shared("data", "image_to_tensor")


@pytest.mark.parametrize("border", ["replicate", "zero"])
@pytest.mark.parametrize("name,rect,rot,keep,size,vr", CASES, ids=[c[0] for c in CASES])
def test_golden(golden_dir, name, rect, rot, keep, size, vr, border):
    image = _read(golden_dir / "input.jpg")
    golden = _read(golden_dir / (name + ("_border_zero" if border == "zero" else "") + ".png"))
    tensor, _tf = image_to_tensor(image, rect, math.radians(rot), size, keep_aspect=keep, border=border, value_range=vr)
    assert tensor.dtype == np.float32 and tensor.shape == (1, size[1], size[0], 3)
    assert tensor.min() >= vr[0] - 1e-5 and tensor.max() <= vr[1] + 1e-5
    _check(_to_255(tensor, vr), golden, rotated=rot != 0)


def test_golden_cubic(golden_dir):
    image = _read(golden_dir / "input.jpg")
    golden = _read(golden_dir / "medium_sub_rect_with_rotation_border_zero_interp_cubic.png")
    tensor, _ = image_to_tensor(
        image, (0.65, 0.4, 0.5, 0.5), math.radians(-45), (256, 256), border="zero", value_range=(-1, 1), interp="cubic"
    )
    _check(_to_255(tensor, (-1, 1)), golden, rotated=True)


def test_golden_noop_except_range(golden_dir):
    image = _read(golden_dir / "input.jpg")
    golden = _read(golden_dir / "noop_except_range.png")
    tensor, tf = image_to_tensor(image, (0.5, 0.5, 1, 1), 0.0, (64, 128), keep_aspect=True, value_range=(-10, 10))
    out = _to_255(tensor, (-10, 10))
    assert np.abs(out - golden).max() <= 1e-3
    assert tf.padding == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("i,rect", [(1, (0.4, 0.6, 1.2, 1.0)), (2, (0.6, 0.4, 0.6, 0.5)), (3, (0.5, 0.5, 0.25, 0.25))])
def test_golden_crop_rect(golden_dir, i, rect):
    image = _read(golden_dir / "input.jpg")
    golden = _read(golden_dir / f"crop_rect{i}.png")
    tensor, _ = image_to_tensor(image, rect, 0.0, (128, 128), border="zero", pixel_centers=True)
    assert np.abs(_to_255(tensor, (0, 1)) - golden).max() <= 1.5


@pytest.mark.parametrize("rect", [(2.0, 2.0, 0.5, 0.5), (-1.0, 0.5, 0.5, 0.5), (0.5, 5.0, 1, 1)])
def test_golden_crop_empty(golden_dir, rect):
    golden = _read(golden_dir / "crop_empty.png")
    image = _read(golden_dir / "input.jpg")
    h, w = golden.shape[:2]
    tensor, _ = image_to_tensor(image, rect, 0.3, (w, h), border="zero")
    assert np.array_equal(_to_255(tensor, (0, 1)), golden.astype(np.float64))
