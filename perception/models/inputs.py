"""Inputs for verifying and calibrating the models: crops of real photos, or synthetic images.

Real photos come from ../shared/data/hagrid_sample (people showing hand gestures, so hands and faces
are in frame). Without it, deterministic synthetic images stand in and the manifest says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .registry import ModelSpec

_REPO = Path(__file__).resolve().parents[2]


def photo_dir() -> Path | None:
    root = Path(os.environ.get("CUEKIT_SHARED", _REPO.parent / "shared"))
    d = root / "data" / "hagrid_sample"
    return d if d.is_dir() else None


@dataclass
class ImageSet:
    images: list[np.ndarray]  # RGB uint8
    source: str  # "hagrid_sample (N photos)" or "synthetic (N images)"

    @property
    def real(self) -> bool:
        return self.source.startswith("hagrid")


def _synthetic(count: int, seed: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        h, w = 480, 640
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([(xx / w) * 255, (yy / h) * 255, ((xx + yy) / (h + w)) * 255], -1)
        for _ in range(6):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            colour = [int(v) for v in rng.integers(0, 256, 3)]
            cv2.circle(img, c, int(rng.integers(20, 120)), colour, -1)
        img += rng.normal(0, 8, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def load_images(limit: int | None = None) -> ImageSet:
    d = photo_dir()
    if d is not None:
        paths = sorted(d.glob("*/*.jpg"))[:limit]
        imgs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
        imgs = [i for i in imgs if i is not None]
        if imgs:
            return ImageSet(imgs, f"hagrid_sample ({len(imgs)} photos)")
    imgs = _synthetic(limit or 12)
    return ImageSet(imgs, f"synthetic ({len(imgs)} images)")


def to_tensor(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """RGB uint8 crop of the model's size -> float32 [1, H, W, 3] in the model's input range."""
    lo, hi = spec.input_range
    x = rgb.astype(np.float32) * ((hi - lo) / 255.0) + lo
    return x[None]


def square_crop(rgb: np.ndarray, cx: float, cy: float, side: float, size: tuple[int, int]) -> np.ndarray:
    """A square window (centre, side in pixels) resized to size=(h, w), border replicated."""
    h, w = size
    s = side / w
    m = np.array([[s, 0, cx - side / 2 + s / 2 - 0.5], [0, side / h, cy - side / 2 + side / h / 2 - 0.5]], np.float32)
    return cv2.warpAffine(
        rgb, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The whole image fitted into size with a zero border, as the detectors are fed."""
    h, w = size
    scale = min(h / rgb.shape[0], w / rgb.shape[1])
    nh, nw = round(rgb.shape[0] * scale), round(rgb.shape[1] * scale)
    out = np.zeros((h, w, 3), np.uint8)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def model_inputs(spec: ModelSpec, images: ImageSet, per_image: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs for one model: the letterboxed photo, then random square windows."""
    rng = np.random.default_rng(seed)
    out = []
    for img in images.images:
        out.append(to_tensor(letterbox(img, spec.input_size), spec))
        short = min(img.shape[:2])
        for _ in range(per_image - 1):
            side = float(rng.uniform(0.2, 0.7)) * short
            cx = float(rng.uniform(side / 2, img.shape[1] - side / 2))
            cy = float(rng.uniform(side / 2, img.shape[0] - side / 2))
            out.append(to_tensor(square_crop(img, cx, cy, side, spec.input_size), spec))
    return out


def rotated_crop(rgb: np.ndarray, centre: np.ndarray, up: np.ndarray, side: float, size: tuple[int, int]) -> np.ndarray:
    """A square ROI of `side` pixels around `centre`, rotated so the unit image vector `up` points
    up in the output, resized to size=(h, w), border replicated."""
    h, w = size
    ey = -up / np.linalg.norm(up)  # output +y (down) in image coordinates
    ex = np.array([-ey[1], ey[0]])  # output +x: ey turned 90 degrees counter-clockwise
    m = np.empty((2, 3), np.float64)
    m[:, 0] = ex * side / w
    m[:, 1] = ey * side / h
    m[:, 2] = centre + ex * side * (0.5 / w - 0.5) + ey * side * (0.5 / h - 0.5) - 0.5
    return cv2.warpAffine(
        rgb,
        m.astype(np.float32),
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _hand_roi(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, up, side) of an upright hand ROI from 21 landmarks in image pixels: wrist -> middle
    finger MCP points up, box of the landmarks in that frame, side 2x its longer edge, shifted 0.1
    of the side towards the fingers (MediaPipe's landmarks-to-ROI parameters)."""
    up = points[9] - points[0]
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    ey = -up
    ex = np.array([-ey[1], ey[0]])
    rel = points - points[0]
    u, v = rel @ ex, rel @ ey
    cu, cv_ = (u.min() + u.max()) / 2, (v.min() + v.max()) / 2
    side = 2.0 * max(u.max() - u.min(), v.max() - v.min())
    centre = points[0] + ex * cu + ey * cv_ - ey * 0.1 * side
    return centre, up, float(side)


def hand_crops(
    run, spec: ModelSpec, images: ImageSet, min_presence: float = 0.5, jitter: bool = True
) -> list[tuple[int, np.ndarray]]:
    """Upright hand crops of the photos, as the tracking pipeline feeds the landmark model:
    [(photo index, tensor)].

    `run(tensor) -> (presence, landmarks [21, 3] in crop pixels)` is the fp32 landmark model. A coarse
    multi-scale window scan finds the window where it sees a hand best (this stands in for the palm
    detector, so the model build does not depend on the tracking pipeline); its landmarks then give a
    rotated ROI, re-cropped from the photo. With `jitter`, two perturbed ROIs (scale 1.15, rotation
    +12 degrees) are added. Crops whose presence falls below `min_presence` are dropped.
    """
    h_out, w_out = spec.input_size
    out = []
    for k, img in enumerate(images.images):
        h, w = img.shape[:2]
        short = min(h, w)
        best = (-1.0, None, None)
        for frac in (0.35, 0.55):
            side = frac * short
            step = side / 2
            for cy in np.arange(side / 2, h - side / 2 + 1, step):
                for cx in np.arange(side / 2, w - side / 2 + 1, step):
                    x = to_tensor(square_crop(img, float(cx), float(cy), side, spec.input_size), spec)
                    p, lm = run(x)
                    if p > best[0]:
                        best = (p, lm, (float(cx), float(cy), side))
        p, lm, win = best
        if p < min_presence:
            continue
        cx, cy, side = win
        # landmarks: crop pixels -> photo pixels
        pts = np.stack([cx - side / 2 + lm[:, 0] * side / w_out, cy - side / 2 + lm[:, 1] * side / h_out], 1)
        centre, up, roi_side = _hand_roi(pts)
        variants = [(up, roi_side)]
        if jitter:
            a = np.deg2rad(12.0)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            variants += [(up, roi_side * 1.15), (rot @ up, roi_side)]
        for vec, sd in variants:
            x = to_tensor(rotated_crop(img, centre, vec, sd, spec.input_size), spec)
            if run(x)[0] >= min_presence:
                out.append((k, x))
    return out
