"""Rays against scene targets: which target does a pointing finger or a gaze ray designate?

2-D: a ray on the image (or screen) plane from the fingertip along the finger, against target boxes.
3-D: a ray in the world frame against spheres (position, radius); `pointing_ray_3d` makes the ray of
a pointing index finger from a world-space hand skeleton (a headset's hand tracking). A target counts when the ray hits
it or misses by less than `max_angle_deg`; the smallest angular miss wins and, among hits, the
nearest along the ray (what is in front occludes what is behind).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from perception.context.scene import Target


@dataclass(slots=True)
class RayHit:
    target: Target
    angle_deg: float  # 0 when the ray passes through the target
    distance: float  # along the ray to the target (px for 2-D, m for 3-D)

    @property
    def score(self) -> float:
        return 1.0 / (1.0 + self.angle_deg / 5.0)


def _ray_box_entry(o: np.ndarray, d: np.ndarray, box: Sequence[float]) -> float | None:
    """Slab test: distance along the unit ray `d` where it enters `box`, None if it misses."""
    lo = np.array(box[:2], float)
    hi = np.array(box[2:], float)
    tmin, tmax = 0.0, math.inf
    for k in range(2):
        if abs(d[k]) < 1e-12:
            if o[k] < lo[k] or o[k] > hi[k]:
                return None
            continue
        t1 = (lo[k] - o[k]) / d[k]
        t2 = (hi[k] - o[k]) / d[k]
        if t1 > t2:
            t1, t2 = t2, t1
        tmin, tmax = max(tmin, t1), min(tmax, t2)
        if tmin > tmax:
            return None
    return tmin


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    nv = float(np.linalg.norm(v))
    if nv < 1e-9:
        return 0.0
    c = float(np.clip(np.dot(u, v) / nv, -1.0, 1.0))
    return math.degrees(math.acos(c))


def _unit_ray(origin: Sequence[float], direction: Sequence[float], dims: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin, unit direction) in `dims` dimensions, or None for a non-finite or zero-length ray."""
    o = np.asarray(origin, float)[:dims]
    d = np.asarray(direction, float)[:dims]
    n = float(np.linalg.norm(d))
    if not np.all(np.isfinite(o)) or not np.isfinite(n) or n < 1e-9:
        return None
    return o, d / n


def cast_ray_2d(
    origin: Sequence[float],
    direction: Sequence[float],
    targets: Iterable[Target],
    plane: str = "image",
    max_angle_deg: float = 12.0,
) -> RayHit | None:
    ray = _unit_ray(origin, direction, 2)
    if ray is None:
        return None
    o, d = ray
    best: RayHit | None = None
    for t in targets:
        if t.box is None or t.plane != plane:
            continue
        entry = _ray_box_entry(o, d, t.box)
        if entry is not None:
            hit = RayHit(t, 0.0, entry)
        else:
            x0, y0, x1, y1 = t.box
            pts = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1], [(x0 + x1) / 2, (y0 + y1) / 2]])
            angles = [_angle(d, p - o) for p in pts]
            k = int(np.argmin(angles))
            along = float(np.dot(pts[k] - o, d))
            if along <= 0:
                continue  # behind the fingertip
            hit = RayHit(t, angles[k], along)
        if hit.angle_deg > max_angle_deg:
            continue
        if best is None or (hit.angle_deg, hit.distance) < (best.angle_deg, best.distance):
            best = hit
    return best


def hit_point_2d(
    point: Sequence[float], targets: Iterable[Target], plane: str = "screen", margin_px: float = 24.0
) -> RayHit | None:
    """A 2-D gaze point against boxes: inside wins; otherwise the nearest box within `margin_px`."""
    p = np.asarray(point, float)[:2]
    best: RayHit | None = None
    for t in targets:
        if t.box is None or t.plane != plane:
            continue
        x0, y0, x1, y1 = t.box
        dx = max(x0 - p[0], 0.0, p[0] - x1)
        dy = max(y0 - p[1], 0.0, p[1] - y1)
        dist = math.hypot(dx, dy)
        if dist > margin_px:
            continue
        # distance expressed as an angle-like miss so scores compare with ray hits
        hit = RayHit(t, 0.0 if dist == 0 else 5.0 * dist / margin_px, dist)
        if (
            best is None
            or hit.distance < best.distance
            or (hit.distance == best.distance == 0 and _area(t) < _area(best.target))
        ):
            best = hit
    return best


def _area(t: Target) -> float:
    x0, y0, x1, y1 = t.box  # type: ignore[misc]
    return (x1 - x0) * (y1 - y0)


def cast_ray_3d(
    origin: Sequence[float], direction: Sequence[float], targets: Iterable[Target], max_angle_deg: float = 6.0
) -> RayHit | None:
    ray = _unit_ray(origin, direction, 3)
    if ray is None:
        return None
    o, d = ray
    best: RayHit | None = None
    for t in targets:
        if t.position is None:
            continue
        c = np.asarray(t.position, float) - o
        along = float(np.dot(c, d))
        if along <= 0:
            continue
        dist_c = float(np.linalg.norm(c))
        ang_centre = _angle(d, c)
        # angular radius of the sphere seen from the origin
        ang_radius = math.degrees(math.asin(min(1.0, t.radius / max(dist_c, 1e-9))))
        miss = max(0.0, ang_centre - ang_radius)
        if miss > max_angle_deg:
            continue
        hit = RayHit(t, miss, along)
        if best is None or (hit.angle_deg, hit.distance) < (best.angle_deg, best.distance):
            best = hit
    return best


# MediaPipe hand layout: index finger MCP, PIP, DIP, tip
_INDEX = (5, 6, 7, 8)


def pointing_ray_3d(
    joints: Sequence[Sequence[float]], min_length_m: float = 0.02, max_bend_deg: float = 35.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ray of a pointing index finger from a world-space skeleton (21 joints, MediaPipe order, metres):
    origin at the fingertip, direction the principal axis of the four index joints, oriented knuckle to
    tip. None when the joints are not finite, the finger is shorter than `min_length_m` (a fist) or bent
    by more than `max_bend_deg` between its first and last segment (it is not pointing)."""
    j = np.asarray(joints, float)
    if j.shape != (21, 3) or not np.all(np.isfinite(j)):
        return None
    pts = j[list(_INDEX)]
    along = pts[-1] - pts[0]
    length = float(np.linalg.norm(along))
    if length < min_length_m:
        return None
    first = pts[1] - pts[0]
    if _angle(first / max(float(np.linalg.norm(first)), 1e-9), pts[3] - pts[2]) > max_bend_deg:
        return None
    centred = pts - pts.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    if float(np.dot(axis, along)) < 0:
        axis = -axis
    return pts[-1].copy(), axis / float(np.linalg.norm(axis))
