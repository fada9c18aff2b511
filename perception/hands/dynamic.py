"""Dynamic hand gestures from landmark tracks: pinch-tap, pinch-hold, drag, swipes, point-and-hold.

Fed one frame at a time (`update(t_ns, hands, static_labels)`), keeping a small state machine per track:
- pinch: thumb-tip to index-tip distance over the palm size, with hysteresis (enter below `pinch_on`,
  leave above `pinch_off`). A short pinch that barely moved is a `pinch_tap`; one held still past
  `hold_ms` is a `pinch_hold` (emitted once, when it starts holding); one that moves more than `drag_min`
  palm sizes is a drag: `drag_start` when it starts moving, `drag` with the whole path on release.
- swipe: the palm centre travels at least `swipe_min` palm sizes within `swipe_window_ms`, mostly along one
  axis (image axes, y down; `mirror_x` for selfie views). One motion gives one swipe: the next needs the
  hand to rest first, and the opposite direction is held off a little longer so the hand's return stroke
  is not a second swipe.
- point_hold: the static label is "point" and the index tip stays within `point_tolerance` palm sizes for
  `point_hold_ms`; once per hold.
A track that disappears ends its pinch (a drag still reports its path).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from perception.hands.landmarks import palm_center, palm_size
from perception.stream.types import HandLandmarks, Observation

MS = 1_000_000


@dataclass(slots=True)
class DynamicGestureOptions:
    pinch_on: float = 0.30  # thumb-index tip distance / palm size to start a pinch
    pinch_off: float = 0.45  # ... and to end it
    tap_max_ms: float = 350.0
    hold_ms: float = 500.0
    drag_min: float = 0.5  # palm sizes of pinch movement that make it a drag
    swipe_min: float = 1.5  # palm sizes the palm centre must travel ...
    swipe_window_ms: float = 500.0  # ... within this time
    swipe_axis_ratio: float = 2.0  # main-axis travel over cross-axis travel
    swipe_cooldown_ms: float = 400.0  # at least this long between two swipes of one hand
    swipe_opposite_cooldown_ms: float = 900.0
    # one motion, one swipe: after a swipe the hand must come to rest (palm centre slower than
    # rest_speed palm sizes/s over rest_ms) before the next; max_lock_ms re-arms a hand that never rests
    swipe_rest_speed: float = 1.0
    swipe_rest_ms: float = 150.0
    swipe_max_lock_ms: float = 2000.0
    point_hold_ms: float = 800.0
    point_tolerance: float = 0.4  # palm sizes the index tip may wander during a point-hold
    point_grace_ms: float = 120.0  # a label flicker shorter than this does not break a point-hold
    mirror_x: bool = False  # True for a selfie view: report directions as the user sees them


@dataclass(slots=True)
class _Track:
    pinched: bool = False
    pinch_t0: int = 0
    pinch_p0: np.ndarray | None = None
    path: list[tuple[int, float, float]] = field(default_factory=list)
    dragging: bool = False
    hold_sent: bool = False
    centres: deque = field(default_factory=lambda: deque(maxlen=128))  # (t, x, y, palm)
    swipe_block_until: int = 0
    swipe_armed: bool = True
    last_swipe: str = ""
    last_swipe_t: int = 0
    point_t0: int | None = None
    point_anchor: np.ndarray | None = None
    point_sent: bool = False
    point_last_seen: int = 0
    last_hand: HandLandmarks | None = None
    last_t: int = 0


def _index_dir(lm: np.ndarray) -> list[float]:
    v = lm[8, :2] - lm[5, :2]
    v = v / max(float(np.linalg.norm(v)), 1e-9)
    return [float(v[0]), float(v[1])]


class DynamicGestureRecognizer:
    def __init__(self, options: DynamicGestureOptions | None = None, source_id: str = "hands") -> None:
        self.options = options or DynamicGestureOptions()
        self.source_id = source_id
        self._tracks: dict[int, _Track] = {}

    def reset(self) -> None:
        self._tracks.clear()

    def _obs(self, kind: str, conf: float, t0: int, t1: int, hand: HandLandmarks, **payload) -> Observation:
        p = {
            "handedness": hand.handedness,
            "track_id": hand.track_id,
            "landmarks": np.round(hand.image_xyz, 2).tolist(),
        }
        p.update(payload)
        return Observation("hand", kind, float(conf), int(t0), int(t1), p, self.source_id)

    def update(
        self, t_ns: int, hands: list[HandLandmarks], static_labels: list[str] | None = None
    ) -> list[Observation]:
        """One frame: every hand seen at `t_ns` (and its static label); returns the gestures completed."""
        if static_labels is not None and len(static_labels) != len(hands):
            raise ValueError(f"{len(static_labels)} static labels for {len(hands)} hands")
        out: list[Observation] = []
        seen = set()
        for i, hand in enumerate(hands):
            seen.add(hand.track_id)
            tr = self._tracks.setdefault(hand.track_id, _Track())
            label = static_labels[i] if static_labels is not None else "none"
            out += self._update_track(tr, t_ns, hand, label)
            tr.last_hand, tr.last_t = hand, t_ns
        for tid in [t for t in self._tracks if t not in seen]:
            out += self._end_track(self._tracks.pop(tid), t_ns)
        return out

    def flush(self, t_ns: int) -> list[Observation]:
        """End every track (end of stream)."""
        out: list[Observation] = []
        for tr in self._tracks.values():
            out += self._end_track(tr, t_ns)
        self._tracks.clear()
        return out

    # ---- per-track state machines ----
    def _update_track(self, tr: _Track, t: int, hand: HandLandmarks, label: str) -> list[Observation]:
        o = self.options
        lm = np.asarray(hand.image_xyz, dtype=np.float64)
        size = palm_size(lm)
        out: list[Observation] = []
        pinch_d = float(np.linalg.norm(lm[4] - lm[8]) / size)
        mid = 0.5 * (lm[4, :2] + lm[8, :2])
        if not tr.pinched and pinch_d < o.pinch_on:
            tr.pinched, tr.pinch_t0, tr.pinch_p0 = True, t, mid.copy()
            tr.path, tr.dragging, tr.hold_sent = [(t, float(mid[0]), float(mid[1]))], False, False
        elif tr.pinched and pinch_d > o.pinch_off:
            out += self._release(tr, t, hand)
        elif tr.pinched:
            tr.path.append((t, float(mid[0]), float(mid[1])))
            moved = float(np.linalg.norm(mid - tr.pinch_p0)) / size
            if not tr.dragging and moved > o.drag_min:
                tr.dragging = True
                out.append(
                    self._obs(
                        "drag_start",
                        0.9,
                        tr.pinch_t0,
                        t,
                        hand,
                        start=[float(tr.pinch_p0[0]), float(tr.pinch_p0[1])],
                        position=[float(mid[0]), float(mid[1])],
                    )
                )
            if not tr.dragging and not tr.hold_sent and t - tr.pinch_t0 >= o.hold_ms * MS:
                tr.hold_sent = True
                out.append(self._obs("pinch_hold", 0.9, tr.pinch_t0, t, hand, position=[float(mid[0]), float(mid[1])]))
        if not tr.pinched:
            out += self._swipe(tr, t, hand, lm, size)
        else:
            tr.centres.clear()
        out += self._point(tr, t, hand, lm, size, label)
        return out

    def _release(self, tr: _Track, t: int, hand: HandLandmarks) -> list[Observation]:
        o = self.options
        tr.pinched = False
        out = []
        if tr.dragging:
            out.append(
                self._obs(
                    "drag",
                    0.9,
                    tr.pinch_t0,
                    t,
                    hand,
                    path=[[tt, round(x, 1), round(y, 1)] for tt, x, y in tr.path],
                    start=list(tr.path[0][1:]),
                    end=list(tr.path[-1][1:]),
                )
            )
        elif not tr.hold_sent and t - tr.pinch_t0 <= o.tap_max_ms * MS:
            out.append(self._obs("pinch_tap", 0.9, tr.pinch_t0, t, hand, position=list(tr.path[-1][1:])))
        tr.path, tr.dragging, tr.hold_sent = [], False, False
        return out

    def _end_track(self, tr: _Track, t: int) -> list[Observation]:
        if tr.pinched and tr.dragging and tr.last_hand is not None:
            return self._release(tr, tr.last_t, tr.last_hand)
        return []

    def _swipe(self, tr: _Track, t: int, hand: HandLandmarks, lm: np.ndarray, size: float) -> list[Observation]:
        o = self.options
        c = palm_center(lm)
        tr.centres.append((t, float(c[0]), float(c[1]), size))
        if not tr.swipe_armed:
            recent = [x for x in tr.centres if t - x[0] <= o.swipe_rest_ms * MS]
            span = (t - recent[0][0]) / 1e9
            resting = span >= 0.5 * o.swipe_rest_ms / 1e3 and (
                np.hypot(c[0] - recent[0][1], c[1] - recent[0][2]) / size / span < o.swipe_rest_speed
            )
            if t >= tr.swipe_block_until and (resting or t - tr.last_swipe_t > o.swipe_max_lock_ms * MS):
                tr.swipe_armed = True
                tr.centres.clear()
                tr.centres.append((t, float(c[0]), float(c[1]), size))
            return []
        win = o.swipe_window_ms * MS
        while tr.centres and t - tr.centres[0][0] > win:
            tr.centres.popleft()
        if len(tr.centres) < 3:
            return []
        t0, x0, y0, _ = tr.centres[0]
        dx, dy = c[0] - x0, c[1] - y0
        mean_size = float(np.mean([s for *_, s in tr.centres]))
        if o.mirror_x:
            dx = -dx
        ax, ay = abs(dx), abs(dy)
        main, cross = (ax, ay) if ax >= ay else (ay, ax)
        if main / mean_size < o.swipe_min or main < o.swipe_axis_ratio * cross:
            return []
        kind = ("swipe_right" if dx > 0 else "swipe_left") if ax >= ay else ("swipe_down" if dy > 0 else "swipe_up")
        opposite = {
            "swipe_left": "swipe_right",
            "swipe_right": "swipe_left",
            "swipe_up": "swipe_down",
            "swipe_down": "swipe_up",
        }[kind]
        if tr.last_swipe == opposite and t - tr.last_swipe_t < o.swipe_opposite_cooldown_ms * MS:
            return []
        # the motion began at the last sample still at the start position (not at the window's edge)
        total = float(np.hypot(dx, dy))
        t0 = max(
            (tt for tt, x, y, _ in tr.centres if np.hypot(c[0] - x, c[1] - y) >= total - 0.15 * mean_size), default=t0
        )
        tr.last_swipe, tr.last_swipe_t = kind, t
        tr.swipe_block_until = t + int(o.swipe_cooldown_ms * MS)
        tr.swipe_armed = False
        conf = float(min(1.0, 0.5 + 0.25 * main / mean_size / o.swipe_min))
        speed = main / mean_size / max((t - t0) / 1e9, 1e-6)
        return [
            self._obs(
                kind,
                conf,
                t0,
                t,
                hand,
                distance_palms=round(main / mean_size, 2),
                speed_palms_per_s=round(speed, 2),
                start=[x0, y0],
                end=[float(c[0]), float(c[1])],
            )
        ]

    def _point(
        self, tr: _Track, t: int, hand: HandLandmarks, lm: np.ndarray, size: float, label: str
    ) -> list[Observation]:
        o = self.options
        tip = lm[8, :2]
        if label != "point":
            if tr.point_t0 is not None and t - tr.point_last_seen > o.point_grace_ms * MS:
                tr.point_t0, tr.point_anchor, tr.point_sent = None, None, False
            return []
        tr.point_last_seen = t
        if tr.point_t0 is None or np.linalg.norm(tip - tr.point_anchor) / size > o.point_tolerance:
            tr.point_t0, tr.point_anchor, tr.point_sent = t, tip.copy(), False
            return []
        if not tr.point_sent and t - tr.point_t0 >= o.point_hold_ms * MS:
            tr.point_sent = True
            return [
                self._obs(
                    "point_hold",
                    0.9,
                    tr.point_t0,
                    t,
                    hand,
                    index_tip=[float(tip[0]), float(tip[1])],
                    index_dir=_index_dir(lm),
                )
            ]
        return []
