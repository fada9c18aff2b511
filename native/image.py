"""Image -> model tensor in one C pass: rotated ROI crop, resize, value range and layout.

Behaves like MediaPipe's ImageToTensorCalculator (OpenCV path): the ROI is a normalised rect
(x_center, y_center, width, height) with a clockwise-positive rotation in radians, its corners
map to the tensor's corners (0, 0)..(W, H), keep_aspect widens the ROI to the tensor's aspect
ratio, and the pixels are sampled bilinearly (or bicubically) from the uint8 image. The returned
transform maps landmark coordinates in tensor pixels back to image pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from native import _kernels

_BORDERS = ("replicate", "zero")
_LAYOUTS = ("nhwc", "nchw")
_INTERPS = ("bilinear", "cubic")
_MAX_NORM = 1e6  # |centre| and size in image units; beyond this an ROI is a bug, not a crop


@dataclass(frozen=True)
class RoiTransform:
    """Affine map between tensor pixel coordinates and image pixel coordinates.

    `matrix` (3x3) maps a tensor point (x, y, 1) in the continuous frame where the tensor spans
    [0, out_w] x [0, out_h] to the image frame where the image spans [0, W] x [0, H] (so a
    normalised landmark times out_size maps to image pixels exactly as MediaPipe projects it).
    `roi` is the rect actually sampled (after keep_aspect) in image pixels: (xc, yc, w, h);
    `padding` is the normalised (left, top, right, bottom) share of the tensor that lies outside
    the requested ROI because keep_aspect widened it (MediaPipe's letterbox padding).
    """

    matrix: np.ndarray
    out_size: tuple[int, int]
    image_size: tuple[int, int]
    roi: tuple[float, float, float, float]
    rotation: float
    padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2|3) tensor-pixel points -> image pixels; z is scaled by roi width / out_w."""
        pts = _points(points, "points")
        out = pts.copy()
        out[:, :2] = pts[:, :2] @ self.matrix[:2, :2].T + self.matrix[:2, 2]
        if pts.shape[1] == 3:
            out[:, 2] = pts[:, 2] * (self.roi[2] / self.out_size[0])
        return out

    def to_tensor(self, points: np.ndarray) -> np.ndarray:
        """Inverse of `to_image`: (N, 2|3) image pixels -> tensor pixels."""
        pts = _points(points, "points")
        inv = np.linalg.inv(self.matrix)
        out = pts.copy()
        out[:, :2] = pts[:, :2] @ inv[:2, :2].T + inv[:2, 2]
        if pts.shape[1] == 3:
            out[:, 2] = pts[:, 2] * (self.out_size[0] / self.roi[2])
        return out


@dataclass(frozen=True)
class LetterboxTransform:
    """Maps points normalised to a letterboxed tensor back to image pixels.

    `padding` = normalised (left, top, right, bottom) bars, as MediaPipe's letterbox_padding.
    """

    roi: RoiTransform

    @property
    def padding(self) -> tuple[float, float, float, float]:
        return self.roi.padding

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2|3) points normalised to the tensor (0..1) -> image pixels (z as x)."""
        pts = _points(points, "points").copy()
        ow, oh = self.roi.out_size
        pts[:, 0] *= ow
        pts[:, 1] *= oh
        if pts.shape[1] == 3:
            pts[:, 2] *= ow
        return self.roi.to_image(pts)


def _points(points: np.ndarray, name: str) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"{name} must have shape (N, 2) or (N, 3), got {pts.shape}")
    return pts


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _size(out_size: Sequence[int]) -> tuple[int, int]:
    try:
        ow, oh = out_size
    except (TypeError, ValueError):
        raise ValueError(f"out_size must be (out_w, out_h), got {out_size!r}") from None
    for name, v in (("out_w", ow), ("out_h", oh)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"out_size {name} must be an int, got {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"out_size {name} must be positive, got {v}")
    return int(ow), int(oh)


def _image(image: np.ndarray) -> tuple[int, int]:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image dtype must be uint8, got {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    h, w = image.shape[:2]
    if h <= 0 or w <= 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return w, h


def roi_transform(
    image_size: tuple[int, int],
    roi: Sequence[float],
    rotation: float,
    out_size: tuple[int, int],
    keep_aspect: bool = False,
) -> RoiTransform:
    """The transform image_to_tensor uses, without sampling (for projecting landmarks)."""
    img_w, img_h = image_size
    try:
        xc, yc, rw, rh = roi
    except (TypeError, ValueError):
        raise ValueError(f"roi must be (x_center, y_center, width, height), got {roi!r}") from None
    xc, yc = _finite("roi x_center", xc), _finite("roi y_center", yc)
    rw, rh = _finite("roi width", rw), _finite("roi height", rh)
    rotation = _finite("rotation", rotation)
    if rw <= 0 or rh <= 0:
        raise ValueError(f"roi width and height must be positive, got {rw} x {rh}")
    if max(abs(xc), abs(yc), rw, rh) > _MAX_NORM:
        raise ValueError(f"roi {roi!r} is absurdly far or large (limit {_MAX_NORM:g} images)")
    ow, oh = _size(out_size)
    cx, cy, w, h = xc * img_w, yc * img_h, rw * img_w, rh * img_h
    padding = (0.0, 0.0, 0.0, 0.0)
    if keep_aspect:
        # MediaPipe's PadRoi: grow one side so the ROI has the tensor's aspect ratio
        tensor_aspect, roi_aspect = oh / ow, h / w
        if tensor_aspect > roi_aspect:
            new_w, new_h = w, w * tensor_aspect
            pad = (1.0 - h / new_h) / 2.0
            padding = (0.0, pad, 0.0, pad)
        else:
            new_w, new_h = h / tensor_aspect, h
            pad = (1.0 - w / new_w) / 2.0
            padding = (pad, 0.0, pad, 0.0)
        w, h = new_w, new_h
    c, s = math.cos(rotation), math.sin(rotation)
    # Image y points down, so this rotation turns the ROI clockwise on screen (MediaPipe sign).
    ux, uy = c * w / ow, s * w / ow
    vx, vy = -s * h / oh, c * h / oh
    tx = cx - ux * ow / 2.0 - vx * oh / 2.0
    ty = cy - uy * ow / 2.0 - vy * oh / 2.0
    m = np.array([[ux, vx, tx], [uy, vy, ty], [0.0, 0.0, 1.0]])
    return RoiTransform(m, (ow, oh), (img_w, img_h), (cx, cy, w, h), rotation, padding)


def image_to_tensor(
    image: np.ndarray,
    roi: Sequence[float],
    rotation: float = 0.0,
    out_size: tuple[int, int] = (256, 256),
    keep_aspect: bool = False,
    border: str = "replicate",
    value_range: tuple[float, float] = (0.0, 1.0),
    layout: str = "nhwc",
    interp: str = "bilinear",
    pixel_centers: bool = False,
    out_channels: int | None = None,
) -> tuple[np.ndarray, RoiTransform]:
    """Crop a rotated ROI of a uint8 image into a float32 model tensor in one pass.

    image: HxW, HxWx1, HxWx3 or HxWx4 uint8 with packed rows (row stride may be larger, so crop
      views work; channel-reversed views raise ValueError: pass np.ascontiguousarray).
    roi: (x_center, y_center, width, height) normalised to the image; rotation in radians,
      clockwise-positive like MediaPipe's NormalizedRect.rotation.
    out_size: (out_w, out_h), each 1..16384, at most 2**28 output elements.
    border: "zero" (taps outside the image are black; an ROI wholly outside gives a tensor of
      value_range[0]) or "replicate" (edge pixels extend outwards; an ROI wholly outside gives
      the nearest edge pixel's colour, stretched).
    value_range: 0..255 maps linearly to (lo, hi).  layout: "nhwc" -> [1,H,W,C], "nchw" ->
      [1,C,H,W].  interp: "bilinear" or "cubic" (OpenCV's a=-0.75 kernel, clamped to 0..255).
    pixel_centers: False = MediaPipe's corner-to-corner sampling; True samples at the tensor
      pixel centres (cv2.resize convention). The returned transform is the same for both.
    out_channels: None = as the image; 3 from RGBA drops alpha; 3 from gray repeats it.
    Returns (tensor, RoiTransform).
    """
    img_w, img_h = _image(image)
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
    if interp not in _INTERPS:
        raise ValueError(f"interp must be one of {_INTERPS}, got {interp!r}")
    try:
        lo, hi = value_range
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be (lo, hi), got {value_range!r}") from None
    lo, hi = _finite("value_range lo", lo), _finite("value_range hi", hi)
    oc = 0 if out_channels is None else int(out_channels)
    tf = roi_transform((img_w, img_h), roi, rotation, out_size, keep_aspect)
    (a, b, tx), (c, d, ty) = tf.matrix[:2].tolist()
    if pixel_centers:
        # sample tensor pixel centre (x + 0.5) at image pixel centre convention (index - 0.5)
        tx += 0.5 * a + 0.5 * b - 0.5
        ty += 0.5 * c + 0.5 * d - 0.5
    matrix6 = (a, b, tx, c, d, ty)
    tensor = _kernels.warp_to_tensor(
        image,
        matrix6,
        tf.out_size[0],
        tf.out_size[1],
        border == "replicate",
        lo,
        hi,
        layout == "nchw",
        interp == "cubic",
        oc,
    )
    return tensor, tf


def letterbox(
    image: np.ndarray,
    out_size: tuple[int, int],
    value_range: tuple[float, float] = (0.0, 1.0),
    layout: str = "nhwc",
    out_channels: int | None = None,
) -> tuple[np.ndarray, LetterboxTransform]:
    """Whole image scaled into out_size keeping its aspect ratio, zero bars (detector input).

    Equals MediaPipe's ImageToTensor with keep_aspect_ratio and border zero on the full frame;
    bars hold value_range[0]. Returns (tensor, LetterboxTransform).
    """
    tensor, tf = image_to_tensor(
        image,
        (0.5, 0.5, 1.0, 1.0),
        0.0,
        out_size,
        keep_aspect=True,
        border="zero",
        value_range=value_range,
        layout=layout,
        out_channels=out_channels,
    )
    return tensor, LetterboxTransform(tf)


# ------------------------------------------------------------------------------------------------
# encoded images from outside: the size they decode to, read from the header before decoding

MAX_DECODED_PIXELS = 4096 * 4096  # 4K camera frames are 8.3 Mpx; a 334-byte JPEG may claim 256 Mpx
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class ImageRefused(ValueError):
    """An encoded image that is not a JPEG/PNG, has no readable size, or would decode too large."""


def encoded_image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's first SOF marker or a PNG's IHDR, without decoding any pixels."""
    if data[:8] == _PNG_MAGIC:
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageRefused("PNG without an IHDR header")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        raise ImageRefused(f"not a JPEG or PNG (starts with {bytes(data[:4])!r})")
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ImageRefused(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        seg = int.from_bytes(data[i + 2 : i + 4], "big")
        if seg < 2:
            raise ImageRefused(f"JPEG segment length {seg} at byte {i}")
        if marker in _JPEG_SOF:
            if i + 9 > n:
                break
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        i += 2 + seg
    raise ImageRefused("JPEG without a frame header (SOF)")


def check_encoded_image(data: bytes, max_pixels: int = MAX_DECODED_PIXELS) -> tuple[int, int]:
    """The header's (width, height), or ImageRefused when it would decode to more than `max_pixels`."""
    w, h = encoded_image_size(data)
    if w <= 0 or h <= 0:
        raise ImageRefused(f"image header claims {w}x{h} pixels")
    if w * h > max_pixels:
        raise ImageRefused(
            f"image header claims {w}x{h} = {w * h / 1e6:.0f} Mpx; at most {max_pixels / 1e6:.1f} Mpx are decoded"
        )
    return w, h
