"""One clock for every sample: `time.monotonic_ns()` live, recorded times on replay.

Stages never call time functions directly; they ask the pipeline's clock, so a replay run that
follows recorded times is deterministic.
"""

from __future__ import annotations

import threading
import time


def now_ns() -> int:
    """The live monotonic clock in nanoseconds."""
    return time.monotonic_ns()


class Clock:
    """Interface: `now_ns()` and `sleep_until_ns(t)`."""

    def now_ns(self) -> int:
        raise NotImplementedError

    def sleep_until_ns(self, t_ns: int, stop: threading.Event | None = None) -> None:
        raise NotImplementedError


class MonotonicClock(Clock):
    def now_ns(self) -> int:
        return time.monotonic_ns()

    def sleep_until_ns(self, t_ns: int, stop: threading.Event | None = None) -> None:
        delay = (t_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)


class ReplayClock(Clock):
    """Follows recorded capture times.

    `realtime=False`: time jumps to each recorded sample as it is replayed (as fast as possible,
    deterministic). `realtime=True`: recorded time advances with wall time from the first sample,
    scaled by `speed`, and sources sleep until each sample's due time.

    As fast as possible, sources run ahead of the stages that consume them, so "the newest replayed
    time" would depend on thread scheduling. Each worker thread therefore has its own time: a source's
    is the last sample it replayed, a stage's the capture time of the newest item it has taken
    (`enter_item`, called by the pipeline). A stage stamping with `now_ns()` gets the same value on
    every run, and latency is measured in recorded time (the algorithm's delay, not queueing).
    """

    def __init__(self, realtime: bool = False, speed: float = 1.0) -> None:
        self.realtime = realtime
        self.speed = speed
        self._lock = threading.Lock()
        self._t_ns: int | None = None
        self._anchor: tuple[int, int] | None = None  # (recorded t0, wall t0)
        self._thread = threading.local()  # per-worker time when not realtime

    def enter_item(self, t_ns: int) -> None:
        """The calling worker now works at recorded time `t_ns` (never going back). No-op in realtime."""
        if self.realtime:
            return
        cur = getattr(self._thread, "t_ns", None)
        if cur is None or t_ns > cur:
            self._thread.t_ns = int(t_ns)

    def advance_to(self, t_ns: int) -> None:
        """Sources call this with each replayed sample's recorded time."""
        with self._lock:
            if self._anchor is None:
                self._anchor = (t_ns, time.monotonic_ns())
            if self._t_ns is None or t_ns > self._t_ns:
                self._t_ns = t_ns

    def now_ns(self) -> int:
        if not self.realtime:
            t = getattr(self._thread, "t_ns", None)
            if t is not None:
                return t
        with self._lock:
            if self.realtime and self._anchor is not None:
                rec0, wall0 = self._anchor
                return rec0 + int((time.monotonic_ns() - wall0) * self.speed)
            return self._t_ns if self._t_ns is not None else 0

    def sleep_until_ns(self, t_ns: int, stop: threading.Event | None = None) -> None:
        if not self.realtime:
            self.advance_to(t_ns)
            self.enter_item(t_ns)
            return
        with self._lock:
            if self._anchor is None:
                self._anchor = (t_ns, time.monotonic_ns())
            rec0, wall0 = self._anchor
        wall_due = wall0 + int((t_ns - rec0) / self.speed)
        delay = (wall_due - time.monotonic_ns()) / 1e9
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
        self.advance_to(t_ns)
