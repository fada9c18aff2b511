"""Motion segmenter: finds candidate gesture windows in a conditioned wrist stream.

Motion energy is |linear acceleration| (g) plus a weighted |angular rate| (rad/s), so a twist (mostly
rotation) and a tap (mostly acceleration) both register. Hysteresis: a segment opens when energy rises
above `on_g` and closes after it stays below `off_g` for `hold_s`; a segment that runs past `max_s` is
cut there. Each segment carries `pre_s` of history before its onset (the pose before the gesture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.wrist.conditioning import ConditionedBlock


@dataclass
class SegmenterOptions:
    on_g: float = 0.35
    off_g: float = 0.15
    hold_s: float = 0.06
    max_s: float = 2.5
    min_s: float = 0.0
    pre_s: float = 0.4
    gyro_weight: float = 0.15  # g per rad/s in the energy


@dataclass
class Segment:
    """Samples from `pre_s` before onset to the end of motion. `onset` indexes the first active sample."""

    t_ns: np.ndarray
    accel: np.ndarray
    linear: np.ndarray
    gravity: np.ndarray
    gyro: np.ndarray | None
    twist: np.ndarray
    energy: np.ndarray
    onset: int
    rate_hz: float
    truncated: bool = False

    @property
    def t_start_ns(self) -> int:
        return int(self.t_ns[self.onset])

    @property
    def t_end_ns(self) -> int:
        return int(self.t_ns[-1])

    @property
    def duration_s(self) -> float:
        return (self.t_end_ns - self.t_start_ns) / 1e9


_FIELDS = ("t_ns", "accel", "linear", "gravity", "gyro", "twist", "energy")


class MotionSegmenter:
    """Streaming: `push(block)` returns the segments that closed in it."""

    def __init__(self, options: SegmenterOptions | None = None) -> None:
        self.options = options or SegmenterOptions()
        self._buf: dict[str, np.ndarray | None] = {}
        self._active = False
        self._onset_idx = 0  # index in the buffer
        self._quiet = 0
        self.rate_hz: float | None = None

    @property
    def active_onset_ns(self) -> int | None:
        """Onset time of the segment still open, if any."""
        if not self._active or not self._buf:
            return None
        return int(self._buf["t_ns"][self._onset_idx])

    def energy(self, block: ConditionedBlock) -> np.ndarray:
        e = np.linalg.norm(block.linear, axis=1)
        if block.gyro is not None:
            e = e + self.options.gyro_weight * np.linalg.norm(block.gyro, axis=1)
        return e

    def _append(self, block: ConditionedBlock, e: np.ndarray) -> None:
        new = {
            "t_ns": block.t_ns,
            "accel": block.accel,
            "linear": block.linear,
            "gravity": block.gravity,
            "gyro": block.gyro,
            "twist": block.twist,
            "energy": e,
        }
        if not self._buf:
            self._buf = {k: (None if v is None else v.copy()) for k, v in new.items()}
            return
        for k, v in new.items():
            old = self._buf[k]
            self._buf[k] = None if v is None or old is None else np.concatenate([old, v])

    def _trim(self, keep_from: int) -> None:
        if keep_from <= 0:
            return
        for k, v in self._buf.items():
            if v is not None:
                self._buf[k] = v[keep_from:]
        self._onset_idx -= keep_from

    def _cut(self, start: int, end: int, truncated: bool) -> Segment:
        b = self._buf
        return Segment(
            **{k: (None if b[k] is None else b[k][start:end].copy()) for k in _FIELDS},
            onset=self._onset_idx - start,
            rate_hz=float(self.rate_hz),
            truncated=truncated,
        )

    def push(self, block: ConditionedBlock) -> list[Segment]:
        if len(block) == 0:
            return []
        o = self.options
        self.rate_hz = block.rate_hz
        pre = round(o.pre_s * block.rate_hz)
        hold = max(1, round(o.hold_s * block.rate_hz))
        max_n = round(o.max_s * block.rate_hz)
        e_new = self.energy(block)
        n_old = 0 if not self._buf else len(self._buf["t_ns"])
        self._append(block, e_new)
        e = self._buf["energy"]
        out: list[Segment] = []
        i = n_old
        while i < len(e):
            if not self._active:
                if e[i] > o.on_g:
                    # onset: walk back to where the motion began (energy near the resting floor)
                    j = i
                    while j > 0 and e[j - 1] > o.off_g * 0.5 and i - j < pre:
                        j -= 1
                    self._active, self._onset_idx, self._quiet = True, j, 0
            else:
                self._quiet = self._quiet + 1 if e[i] < o.off_g else 0
                too_long = i - self._onset_idx + 1 >= max_n
                if self._quiet >= hold or too_long:
                    end = i + 1 - (self._quiet if not too_long else 0)
                    end = max(end, self._onset_idx + 1)
                    if (end - self._onset_idx) / block.rate_hz >= o.min_s:
                        out.append(self._cut(max(0, self._onset_idx - pre), end, too_long))
                    self._active = False
                    self._quiet = 0
            i += 1
        # keep history for the next onset's pre-roll (and the open segment)
        keep_from = (self._onset_idx - pre) if self._active else len(e) - pre
        self._trim(max(0, keep_from))
        return out

    def flush(self) -> list[Segment]:
        """Close an open segment at the end of the stream."""
        if not self._active or not self._buf:
            return []
        pre = round(self.options.pre_s * (self.rate_hz or 50.0))
        seg = self._cut(max(0, self._onset_idx - pre), len(self._buf["t_ns"]), True)
        self._active = False
        return [seg]
