"""Per-stage statistics: rate, processing time, queue depth, drops, capture-to-output latency."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


def capture_time_ns(item: Any) -> int | None:
    """The capture time an item carries (latest sample it depends on), or None."""
    for attr in ("t_capture_ns", "t_end_ns", "t_first_evidence_ns"):
        t = getattr(item, attr, None)
        if t is not None:
            return int(t)
    t = getattr(item, "t_ns", None)
    if t is not None and len(t):
        return int(t[-1])
    return None


@dataclass(slots=True)
class StageSnapshot:
    name: str
    items_in: int
    items_out: int
    rate_hz: float
    proc_ms_mean: float
    proc_ms_p95: float
    queue_depth: int
    drops: int
    errors: int
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    last_error: str | None
    counters: dict[str, int] | None = None  # the stage's own event counts (e.g. malformed lines)

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["counters"] = dict(self.counters or {})
        return d


class StageStats:
    WINDOW = 512

    def __init__(self, name: str) -> None:
        self.name = name
        self.items_in = 0
        self.items_out = 0
        self.errors = 0
        self.last_error: str | None = None
        self._proc_s: collections.deque[float] = collections.deque(maxlen=self.WINDOW)
        self._out_wall: collections.deque[float] = collections.deque(maxlen=self.WINDOW)
        self._lat_ms: collections.deque[float] = collections.deque(maxlen=self.WINDOW)
        self._lock = threading.Lock()

    def record_processing(self, seconds: float) -> None:
        with self._lock:
            self.items_in += 1
            self._proc_s.append(seconds)

    def record_output(self, wall_s: float, latency_ms: float | None) -> None:
        with self._lock:
            self.items_out += 1
            self._out_wall.append(wall_s)
            if latency_ms is not None:
                self._lat_ms.append(latency_ms)

    def record_error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message

    def snapshot(self, queue_depth: int, drops: int, counters: dict[str, int] | None = None) -> StageSnapshot:
        with self._lock:
            proc = np.array(self._proc_s) * 1e3
            outs = list(self._out_wall)
            lat = np.array(self._lat_ms)
            rate = (len(outs) - 1) / (outs[-1] - outs[0]) if len(outs) > 1 and outs[-1] > outs[0] else 0.0
            return StageSnapshot(
                name=self.name,
                items_in=self.items_in,
                items_out=self.items_out,
                rate_hz=float(rate),
                proc_ms_mean=float(proc.mean()) if proc.size else 0.0,
                proc_ms_p95=float(np.percentile(proc, 95)) if proc.size else 0.0,
                queue_depth=queue_depth,
                drops=drops,
                errors=self.errors,
                latency_ms_p50=float(np.percentile(lat, 50)) if lat.size else None,
                latency_ms_p95=float(np.percentile(lat, 95)) if lat.size else None,
                last_error=self.last_error,
                counters=dict(counters) if counters else {},
            )


def format_table(snapshots: list[StageSnapshot]) -> str:
    head = (
        f"{'stage':<22}{'in':>8}{'out':>8}{'rate/s':>9}{'proc ms':>9}{'p95 ms':>8}{'queue':>7}"
        f"{'drops':>7}{'errors':>7}{'lat p50':>9}{'lat p95':>9}  notes"
    )
    rows = [head]
    for s in snapshots:
        lat50 = f"{s.latency_ms_p50:.1f}" if s.latency_ms_p50 is not None else "-"
        lat95 = f"{s.latency_ms_p95:.1f}" if s.latency_ms_p95 is not None else "-"
        rows.append(
            f"{s.name:<22}{s.items_in:>8}{s.items_out:>8}{s.rate_hz:>9.1f}{s.proc_ms_mean:>9.2f}"
            f"{s.proc_ms_p95:>8.2f}{s.queue_depth:>7}{s.drops:>7}{s.errors:>7}{lat50:>9}{lat95:>9}"
            f"  {_notes(s)}".rstrip()
        )
    return "\n".join(rows)


def _notes(s: StageSnapshot) -> str:
    parts = [f"{k}={v}" for k, v in sorted((s.counters or {}).items())]
    if s.last_error:
        parts.append(f"last error: {s.last_error}")
    return " ".join(parts)
