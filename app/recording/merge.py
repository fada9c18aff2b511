"""`TimeOrderedMerge`: several file sources as one, their items interleaved by capture time.

`cuekit record --fast` runs file sources on a replay clock as fast as they go; each in its own thread,
an IMU CSV finishes before the first audio chunk is read, and the recording holds all IMU then all audio.
A replay follows file order, so speech then arrives seconds late and fusion discards it. The merge runs
each source into a small bounded queue and emits the earliest head among them once every unfinished
source has one, so the file comes out in time order while memory stays at `depth` items per source.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from perception.stream.stage import Emit, Source
from perception.stream.stats import capture_time_ns

_DONE = object()


def item_time_ns(item: Any) -> int:
    t = capture_time_ns(item)
    if t is None:
        t = getattr(item, "t_first_ns", None)
    return int(t) if t is not None else 0


class TimeOrderedMerge(Source):
    """Emits the items of `sources` in capture-time order (each source's own order is kept)."""

    def __init__(self, sources: list[Source], name: str = "merge", depth: int = 16) -> None:
        super().__init__(name)
        self.sources = sources
        self.produces = tuple(dict.fromkeys(t for s in sources for t in s.produces))
        self.depth = depth
        self.errors: list[tuple[str, BaseException]] = []

    def setup(self) -> None:
        for s in self.sources:
            s.clock = self.clock
            s.setup()

    def run(self, emit: Emit, stop: threading.Event) -> None:
        queues: list[queue.Queue] = [queue.Queue(self.depth) for _ in self.sources]
        threads = []
        for s, q in zip(self.sources, queues, strict=True):
            t = threading.Thread(target=self._pump, args=(s, q, stop), name=f"cuekit:{self.name}:{s.name}", daemon=True)
            t.start()
            threads.append(t)
        heads: list[Any] = [None] * len(queues)
        live = set(range(len(queues)))
        while live and not stop.is_set():
            for i in list(live):
                while heads[i] is None and not stop.is_set():
                    try:
                        got = queues[i].get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if got is _DONE:
                        live.discard(i)
                        break
                    heads[i] = got
            ready = [i for i in live if heads[i] is not None]
            if not ready:
                continue
            i = min(ready, key=lambda j: item_time_ns(heads[j]))
            emit(heads[i])
            heads[i] = None
        for t in threads:
            t.join(1.0)
        if self.errors:
            name, exc = self.errors[0]
            raise RuntimeError(f"source {name!r} failed: {type(exc).__name__}: {exc}") from exc

    def _pump(self, source: Source, q: queue.Queue, stop: threading.Event) -> None:
        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return
                except queue.Full:
                    continue

        try:
            source.run(put, stop)
            source.close(put)
        except Exception as exc:  # noqa: BLE001 - reported by run() once the other sources are merged
            self.errors.append((source.name, exc))
        finally:
            put(_DONE)
