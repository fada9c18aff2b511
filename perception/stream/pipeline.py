"""A pipeline: stages in their own worker threads, joined by bounded channels.

    pipe = Pipeline(clock=ReplayClock())
    cam = pipe.add(VideoFileSource("a.mp4"))
    hands = pipe.add(HandTracker(), inputs=[cam])
    pipe.add(CallbackSink(print), inputs=[hands])
    pipe.start(); pipe.wait(); pipe.stop()

An exception in a stage is logged with the stage's name and counted; the stage keeps consuming and
the rest of the pipeline keeps running. `stop()` returns within its timeout (1 s by default).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any, cast

from perception.stream.channel import END, Channel, QueuePolicy
from perception.stream.clock import Clock, MonotonicClock
from perception.stream.stage import Source, Stage
from perception.stream.stats import StageSnapshot, StageStats, capture_time_ns, format_table

log = logging.getLogger("cuekit.pipeline")

_POLL_S = 0.02


class _Node:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.inputs: list[Channel] = []
        self.outputs: list[Channel] = []
        self.stats = StageStats(stage.name)
        self.thread: threading.Thread | None = None
        self.finished = threading.Event()
        self.failed: str | None = None  # why setup failed; the stage then runs no more


class Pipeline:
    def __init__(self, clock: Clock | None = None, name: str = "pipeline") -> None:
        self.name = name
        self.clock = clock or MonotonicClock()
        self._nodes: dict[str, _Node] = {}
        self._stop = threading.Event()
        # sources watch their own event so that `drain()` can end them while the rest finishes its queues
        self._stop_sources = threading.Event()
        self._started = False

    # building -----------------------------------------------------------------------------
    def add(
        self,
        stage: Stage,
        inputs: Iterable[Stage | str] = (),
        policy: QueuePolicy | None = None,
        capacity: int | None = None,
        accepts: tuple[type, ...] | None = None,
        unfiltered: Iterable[str] = (),
    ) -> Stage:
        """Add `stage` fed by `inputs` (stages or names). The queue policy defaults to the stage's own;
        with `accepts`, only items of those types reach it (typed edges; see perception.stream.graph),
        except from the inputs named in `unfiltered` (a companion clock ticker)."""
        unfiltered = set(unfiltered)
        if self._started:
            raise RuntimeError("cannot add stages to a running pipeline")
        if stage.name in self._nodes:
            raise ValueError(f"a stage named {stage.name!r} is already in the pipeline")
        node = _Node(stage)
        stage.clock = self.clock
        inputs = list(inputs)
        if isinstance(stage, Source) and inputs:
            raise ValueError(f"source {stage.name!r} takes no inputs")
        for upstream in inputs:
            up_name = upstream if isinstance(upstream, str) else upstream.name
            if up_name not in self._nodes:
                raise ValueError(f"stage {stage.name!r}: unknown input {up_name!r}")
            ch = Channel(
                f"{up_name}->{stage.name}",
                capacity or stage.input_capacity,
                policy or stage.input_policy,
                None if up_name in unfiltered else accepts,
            )
            self._nodes[up_name].outputs.append(ch)
            node.inputs.append(ch)
        self._nodes[stage.name] = node
        return stage

    @property
    def stages(self) -> list[Stage]:
        return [n.stage for n in self._nodes.values()]

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError("pipeline already started")
        self._started = True
        for node in self._nodes.values():
            target = self._run_source if isinstance(node.stage, Source) else self._run_stage
            node.thread = threading.Thread(target=target, args=(node,), name=f"cuekit:{node.stage.name}", daemon=True)
            node.thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every stage has finished (sources exhausted, queues drained). True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for node in self._nodes.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not node.finished.wait(left):
                return False
        return True

    def wait_for(self, names: Iterable[str], timeout: float | None = None) -> bool:
        """Wait until the named stages have finished (a replay reached its end while a clock ticker,
        which never ends by itself, keeps running). True if they did within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for name in names:
            node = self._nodes.get(name)
            if node is None:
                raise ValueError(f"no stage named {name!r} in the pipeline")
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not node.finished.wait(left):
                return False
        return True

    def drain(self, timeout: float = 5.0) -> list[str]:
        """End the sources, let every stage process what is already queued (a recorder writes it
        all), then stop. Returns the names of stages that did not end in time."""
        self._stop_sources.set()
        self.wait(timeout)
        return self.stop()

    def stop(self, timeout: float = 1.0) -> list[str]:
        """Stop every worker; returns the names of stages that did not end within `timeout`."""
        self._stop_sources.set()
        self._stop.set()
        deadline = time.monotonic() + timeout
        stuck = []
        for node in self._nodes.values():
            if node.thread is not None:
                node.thread.join(max(0.0, deadline - time.monotonic()))
                if node.thread.is_alive():
                    stuck.append(node.stage.name)
        if stuck:
            log.error("stages still running after %.1f s: %s", timeout, ", ".join(stuck))
        return stuck

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # statistics ---------------------------------------------------------------------------
    def stats(self) -> list[StageSnapshot]:
        out = []
        for node in self._nodes.values():
            depth = sum(len(ch) for ch in node.inputs)
            drops = sum(ch.dropped for ch in node.inputs)
            out.append(node.stats.snapshot(depth, drops, node.stage.counters))
        return out

    def failed_stages(self) -> dict[str, str]:
        """Stages whose setup failed, with the reason (they ran no further; the others did)."""
        return {name: n.failed for name, n in self._nodes.items() if n.failed is not None}

    def stats_table(self) -> str:
        return format_table(self.stats())

    # workers ------------------------------------------------------------------------------
    def _emitter(self, node: _Node):
        def emit(item: Any) -> None:
            t = capture_time_ns(item)
            lat = (self.clock.now_ns() - t) / 1e6 if t is not None else None
            node.stats.record_output(time.monotonic(), lat)
            for ch in node.outputs:
                ch.put(item, self._stop)

        return emit

    def _fail(self, node: _Node, where: str, exc: BaseException) -> None:
        msg = f"{type(exc).__name__}: {exc}"
        node.stats.record_error(msg)
        if getattr(exc, "expected_failure", False):
            # a device that is missing, a damaged file: the message says it all, no traceback
            log.error("stage %r failed in %s: %s", node.stage.name, where, msg)
            return
        log.error(
            "stage %r failed in %s: %s\n%s",
            node.stage.name,
            where,
            msg,
            "".join(traceback.format_exception(exc)).rstrip(),
        )

    def _finish(self, node: _Node) -> None:
        for ch in node.outputs:
            ch.put(END)
        node.finished.set()

    def _run_source(self, node: _Node) -> None:
        emit = self._emitter(node)
        where = "setup"
        try:
            node.stage.setup()
            where = "run"
            cast(Source, node.stage).run(emit, self._stop_sources)
        except Exception as exc:  # a failing device must not take the pipeline down
            self._fail(node, where, exc)
            if where == "setup":
                node.failed = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                node.stage.close(emit)
            except Exception as exc:
                self._fail(node, "close", exc)
            self._finish(node)

    def _process(self, node: _Node, item: Any, emit) -> None:
        if node.failed is not None:
            node.stage.count("skipped (setup failed)")
            return
        enter = getattr(self.clock, "enter_item", None)
        if enter is not None:  # a replay clock: this worker's time is the item's capture time
            t = capture_time_ns(item)
            if t is not None:
                enter(t)
        t0 = time.perf_counter()
        try:
            node.stage.process(item, emit)
        except Exception as exc:
            self._fail(node, "process", exc)
        node.stats.record_processing(time.perf_counter() - t0)

    def _run_stage(self, node: _Node) -> None:
        emit = self._emitter(node)
        try:
            node.stage.setup()
        except Exception as exc:
            # said once, with its reason; the stage never sees an item (that would retry the setup on
            # every one), its inputs are consumed and counted so upstream keeps flowing
            self._fail(node, "setup", exc)
            node.failed = f"{type(exc).__name__}: {exc}"
        open_inputs = list(node.inputs)
        if len(open_inputs) == 1:
            ch = open_inputs[0]
            while not self._stop.is_set():
                item = ch.get(_POLL_S)
                if item is None:
                    continue
                if item is END:
                    break
                self._process(node, item, emit)
        elif open_inputs:
            # several inputs: one wake-up event for all of them, so an idle input never delays a busy
            # one; each pass takes at most one item per input (round-robin: no stream starves another)
            wake = threading.Event()
            for ch in open_inputs:
                ch.add_listener(wake)
            while open_inputs and not self._stop.is_set():
                wake.clear()  # before polling: a put that lands after the poll re-sets it
                got = False
                for ch in list(open_inputs):
                    item = ch.get_nowait()
                    if item is None:
                        continue
                    got = True
                    if item is END:
                        open_inputs.remove(ch)
                    else:
                        self._process(node, item, emit)
                if not got:
                    wake.wait(_POLL_S)
        if node.failed is None:
            try:
                node.stage.close(emit)
            except Exception as exc:
                self._fail(node, "close", exc)
        self._finish(node)
