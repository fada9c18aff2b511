"""Context over time (fusion side of deixis): what was pointed at, what was looked at, what was last selected or named.

Fusion asks "what was the user pointing at while saying 'that' (between t0 and t1)?", so pointing
and gaze are kept as a short, time-indexed history of resolved targets rather than a single
"current" value. Inputs are Observations:

- hand observations (kind `point`, `point_hold`, or any with payload `"pointing": true`) carrying
  `index_tip` [x, y] and `index_dir` [dx, dy] in image pixels, a 3-D `ray_origin`/`ray_dir`, or
  `joints_world` (21 x [x, y, z] metres in the scene's world frame: a headset's hand skeleton), whose
  index finger makes the 3-D ray;
- gaze observations (modality `gaze`): kind `ray` with payload `origin`, `direction` (3-D, from a
  glasses prototype or the face/iris estimator) or kind `point` with payload `point` [x, y] and
  `plane` ("screen" | "image").

Gaze that stays on one target for a configured dwell time yields a synthetic `gaze`/`dwell`
observation, so "look at it for 600 ms" can be a trigger.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fusion.rays import RayHit, cast_ray_2d, cast_ray_3d, hit_point_2d, pointing_ray_3d
from perception.context.scene import Scene
from perception.stream.types import Observation

POINTING_KINDS = frozenset({"point", "point_hold"})


@dataclass(slots=True)
class ContextOptions:
    pointing_max_angle_deg: float = 12.0
    gaze_max_angle_deg: float = 6.0
    gaze_margin_px: float = 24.0
    history_s: float = 20.0
    dwell_gap_ms: float = 150.0  # gaze samples further apart than this break a dwell
    dwell_ms: tuple[int, ...] = ()  # dwell times that produce `dwell` observations


@dataclass(slots=True)
class ContextRecord:
    source: str  # "pointing" | "gaze"
    t_start_ns: int
    t_end_ns: int
    target_id: str | None
    score: float
    obs_id: int
    modality: str
    point: tuple[float, ...] | None = None  # fingertip / gaze point when nothing was hit

    def distance_to(self, t_ns: int) -> int:
        if t_ns < self.t_start_ns:
            return self.t_start_ns - t_ns
        if t_ns > self.t_end_ns:
            return t_ns - self.t_end_ns
        return 0


@dataclass(slots=True)
class _Dwell:
    target_id: str
    t_start_ns: int
    t_last_ns: int
    obs_ids: list[int] = field(default_factory=list)
    fired: set[int] = field(default_factory=set)


class ContextTracker:
    def __init__(self, scene: Scene, options: ContextOptions | None = None) -> None:
        self.scene = scene
        self.options = options or ContextOptions()
        self._records: deque[ContextRecord] = deque()
        self._dwell: _Dwell | None = None
        self.last_selected: tuple[str, int] | None = None  # (target id, t_ns)
        self.last_mentioned: tuple[str, int] | None = None

    # feeding --------------------------------------------------------------------------------
    def observe(self, obs: Observation) -> list[Observation]:
        """Record what `obs` designates; returns synthetic dwell observations it completed."""
        p = obs.payload
        if obs.modality == "hand" and (obs.kind in POINTING_KINDS or p.get("pointing") is True):
            hit, point = self._resolve_pointing(p)
            if hit is not None or point is not None:
                self._add(
                    ContextRecord(
                        "pointing",
                        obs.t_start_ns,
                        obs.t_end_ns,
                        hit.target.id if hit else None,
                        hit.score if hit else 0.0,
                        obs.id,
                        obs.modality,
                        point,
                    )
                )
            return []
        if obs.modality == "gaze" and obs.kind in ("ray", "point"):
            hit, point = self._resolve_gaze(obs)
            self._add(
                ContextRecord(
                    "gaze",
                    obs.t_start_ns,
                    obs.t_end_ns,
                    hit.target.id if hit else None,
                    hit.score if hit else 0.0,
                    obs.id,
                    obs.modality,
                    point,
                )
            )
            return self._update_dwell(obs, hit)
        return []

    def _resolve_pointing(self, p: dict[str, Any]) -> tuple[RayHit | None, tuple[float, ...] | None]:
        o = self.options
        if "ray_origin" in p and "ray_dir" in p:
            return cast_ray_3d(p["ray_origin"], p["ray_dir"], self.scene.targets(), o.pointing_max_angle_deg), None
        if "joints_world" in p:  # a world-space skeleton (headset hand tracking) against 3-D targets
            ray = pointing_ray_3d(p["joints_world"]) if _joints(p["joints_world"]) else None
            hit = cast_ray_3d(ray[0], ray[1], self.scene.targets(), o.pointing_max_angle_deg) if ray else None
            if hit is not None or not ("index_tip" in p and "index_dir" in p):
                return hit, None
        tip, d = p.get("index_tip"), p.get("index_dir")
        if not (_vec(tip, 2) and _vec(d, 2)):
            return None, None
        hit = cast_ray_2d(tip, d, self.scene.targets(), "image", o.pointing_max_angle_deg)
        return hit, (float(tip[0]), float(tip[1]))

    def _resolve_gaze(self, obs: Observation) -> tuple[RayHit | None, tuple[float, ...] | None]:
        p, o = obs.payload, self.options
        tid = p.get("target_id")
        if isinstance(tid, str) and (t := self.scene.get(tid)) is not None:
            return RayHit(t, 0.0, 0.0), None  # the glasses resolved it themselves (their scene, their ray)
        if obs.kind == "ray" and _vec(p.get("origin"), 3) and _vec(p.get("direction"), 3):
            return cast_ray_3d(p["origin"], p["direction"], self.scene.targets(), o.gaze_max_angle_deg), None
        if obs.kind == "ray" and _vec(p.get("origin"), 2) and _vec(p.get("direction"), 2):
            return cast_ray_2d(
                p["origin"], p["direction"], self.scene.targets(), p.get("plane", "image"), o.gaze_max_angle_deg
            ), None
        if obs.kind == "point" and _vec(p.get("point"), 2):
            pt = (float(p["point"][0]), float(p["point"][1]))
            return hit_point_2d(pt, self.scene.targets(), p.get("plane", "screen"), o.gaze_margin_px), pt
        return None, None

    def _update_dwell(self, obs: Observation, hit: RayHit | None) -> list[Observation]:
        gap = int(self.options.dwell_gap_ms * 1e6)
        d = self._dwell
        if hit is None:
            self._dwell = None
            return []
        if d is None or d.target_id != hit.target.id or obs.t_start_ns - d.t_last_ns > gap:
            d = self._dwell = _Dwell(hit.target.id, obs.t_start_ns, obs.t_end_ns)
        d.t_last_ns = max(d.t_last_ns, obs.t_end_ns)
        d.obs_ids.append(obs.id)
        out = []
        for dwell_ms in self.options.dwell_ms:
            if dwell_ms not in d.fired and d.t_last_ns - d.t_start_ns >= dwell_ms * 1_000_000:
                d.fired.add(dwell_ms)
                out.append(
                    Observation(
                        "gaze",
                        "dwell",
                        1.0,
                        d.t_start_ns,
                        d.t_last_ns,
                        {"target": d.target_id, "dwell_ms": dwell_ms, "gaze_obs": list(d.obs_ids)},
                        source_id="context",
                    )
                )
        return out

    def _add(self, rec: ContextRecord) -> None:
        self._records.append(rec)
        horizon = rec.t_end_ns - int(self.options.history_s * 1e9)
        while self._records and self._records[0].t_end_ns < horizon:
            self._records.popleft()

    # querying -------------------------------------------------------------------------------
    def at(
        self,
        source: str,
        t0_ns: int,
        t1_ns: int,
        ref_ns: int | None = None,
        want_target: bool = True,
        target_id: str | None = None,
        exclude: set[int] | frozenset[int] = frozenset(),
    ) -> ContextRecord | None:
        """The record of `source` overlapping [t0, t1] closest in time to `ref_ns` (the window's
        middle by default); with `want_target`, only records that hit a target (`target_id` if
        given); records whose observation id is in `exclude` are skipped."""
        ref = (t0_ns + t1_ns) // 2 if ref_ns is None else ref_ns
        best, best_key = None, None
        for r in self._records:
            if r.source != source or r.t_end_ns < t0_ns or r.t_start_ns > t1_ns or r.obs_id in exclude:
                continue
            if target_id is not None and r.target_id != target_id:
                continue
            if want_target and r.target_id is None:
                continue
            if not want_target and r.target_id is None and r.point is None:
                continue
            key = (r.distance_to(ref), -r.score)
            if best_key is None or key < best_key:
                best, best_key = r, key
        return best

    def mark_selected(self, target_id: str, t_ns: int) -> None:
        self.last_selected = (target_id, t_ns)

    def mark_mentioned(self, target_id: str, t_ns: int) -> None:
        self.last_mentioned = (target_id, t_ns)

    def last(self, before_ns: int | None = None) -> str | None:
        """The most recent of last selected / last mentioned (before `before_ns` if given)."""
        cands = [
            c
            for c in (self.last_selected, self.last_mentioned)
            if c is not None and (before_ns is None or c[1] <= before_ns)
        ]
        if not cands:
            return None
        return max(cands, key=lambda c: c[1])[0]


def _vec(v: Any, n: int) -> bool:
    return (
        isinstance(v, (list, tuple))
        and len(v) == n
        and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)
    )


def _joints(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 21 and all(_vec(j, 3) for j in v)
