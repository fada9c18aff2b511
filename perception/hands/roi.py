"""Rotated hand regions: from a palm detection, and from the previous frame's landmarks.

Both follow MediaPipe's hand graphs (parameters in ../shared/docs/hand-models.md):
- palm -> ROI: rotation pi/2 - atan2(-(y2 - y0), x2 - x0) from keypoint 0 (wrist) to keypoint 2 (middle
  MCP); shift y by -0.5 box heights in the rotated frame; square on the long side; scale 2.6.
- landmarks -> ROI: rotation from the wrist to a mix of index/middle/ring MCPs; the box of wrist, thumb
  and MCP/PIP joints measured in the rotated frame; shift y by -0.1; square on the long side; scale 2.0.
All geometry is in image pixels so rotations are not skewed by the image's aspect ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True, frozen=True)
class Rect:
    """A rotated rectangle in image pixels; rotation in radians, clockwise-positive (MediaPipe)."""

    xc: float
    yc: float
    w: float
    h: float
    rotation: float = 0.0

    def normalized(self, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
        iw, ih = image_size
        return (self.xc / iw, self.yc / ih, self.w / iw, self.h / ih)

    def corners(self) -> np.ndarray:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        hw, hh = self.w / 2, self.h / 2
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        R = np.array([[c, -s], [s, c]])
        return pts @ R.T + np.array([self.xc, self.yc])

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned box (xmin, ymin, xmax, ymax) around the rotated rect."""
        c = self.corners()
        return float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())


def normalize_radians(a: float) -> float:
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def _rotation(x0: float, y0: float, x1: float, y1: float) -> float:
    return normalize_radians(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))


def transform_rect(r: Rect, scale: float, shift_x: float = 0.0, shift_y: float = 0.0, square_long: bool = True) -> Rect:
    """MediaPipe's RectTransformationCalculator on a pixel rect."""
    c, s = math.cos(r.rotation), math.sin(r.rotation)
    xc = r.xc + r.w * shift_x * c - r.h * shift_y * s
    yc = r.yc + r.w * shift_x * s + r.h * shift_y * c
    w, h = r.w, r.h
    if square_long:
        w = h = max(w, h)
    return Rect(xc, yc, w * scale, h * scale, r.rotation)


def palm_to_rect(
    box_px: tuple[float, float, float, float], keypoints_px: np.ndarray, scale: float = 2.6, shift_y: float = -0.5
) -> Rect:
    """Palm detection (axis-aligned box xmin, ymin, xmax, ymax and 7 keypoints, image pixels) -> hand ROI."""
    xmin, ymin, xmax, ymax = box_px
    kp = np.asarray(keypoints_px, dtype=np.float64)
    rot = _rotation(kp[0, 0], kp[0, 1], kp[2, 0], kp[2, 1])
    r = Rect((xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin, rot)
    return transform_rect(r, scale, 0.0, shift_y, True)


# wrist, thumb CMC/MCP/IP, and MCP + PIP of each finger: the joints that move least with the pose
_ROI_JOINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)


def landmarks_to_rect(lm_px: np.ndarray, scale: float = 2.0, shift_y: float = -0.1) -> Rect:
    """(21, 2|3) landmarks in image pixels -> next frame's hand ROI."""
    lm = np.asarray(lm_px, dtype=np.float64)[:, :2]
    x0, y0 = lm[0]
    x1, y1 = ((lm[5] + lm[13]) / 2 + lm[9]) / 2
    rot = _rotation(x0, y0, x1, y1)
    pts = lm[list(_ROI_JOINTS)]
    c, s = math.cos(rot), math.sin(rot)
    # express the joints in the ROI's own axes, take their box there, and map its centre back
    R_inv = np.array([[c, s], [-s, c]])
    q = pts @ R_inv.T
    lo, hi = q.min(axis=0), q.max(axis=0)
    centre = ((lo + hi) / 2) @ np.array([[c, -s], [s, c]]).T
    r = Rect(float(centre[0]), float(centre[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]), rot)
    return transform_rect(r, scale, 0.0, shift_y, True)


def rect_iou(a: Rect, b: Rect) -> float:
    """IoU of the axis-aligned bounds: enough to tell "the same hand" from "another hand"."""
    ax0, ay0, ax1, ay1 = a.bounds()
    bx0, by0, bx1, by1 = b.bounds()
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0
