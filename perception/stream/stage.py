"""Stages: the units of work the pipeline runs, each in its own worker thread.

A `Stage` takes items from its inputs and emits results; a `Source` produces items from a device or
a file until it is exhausted or stopped; a `Sink` only consumes. A stage declares which queue policy
its input wants (video stages LATEST, audio/IMU BLOCK), so the policy lives with the stream's consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from perception.stream.channel import QueuePolicy
from perception.stream.clock import Clock, MonotonicClock

Emit = Callable[[Any], None]


class Stage:
    """Override `process`; `setup` and `close` are optional hooks."""

    name: str = "stage"
    input_policy: QueuePolicy = QueuePolicy.BLOCK
    input_capacity: int = 64
    # the item types it takes and emits: the graph wires stages by these (perception.stream.graph)
    consumes: ClassVar[tuple[type, ...]] = ()
    produces: ClassVar[tuple[type, ...]] = ()

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.clock: Clock = MonotonicClock()

    def setup(self) -> None:
        """Called in the worker thread before the first item (open models, devices)."""

    def companion_sources(self) -> list[Stage]:
        """Sources this stage brings along that feed it alone (fusion's clock ticker)."""
        return []

    @property
    def counters(self) -> dict[str, int]:
        """Named event counts of this stage (malformed lines, device overflows...), shown in the stats.

        Kept in the instance dict so subclasses that skip `Stage.__init__` still have them."""
        return self.__dict__.setdefault("_counters", {})

    def count(self, what: str, n: int = 1) -> int:
        """Add `n` to counter `what`; returns the new total. Thread-safe (device callbacks count too)."""
        c = self.counters
        d = self.__dict__
        lock = d.get("_counters_lock") or d.setdefault("_counters_lock", threading.Lock())
        with lock:
            c[what] = c.get(what, 0) + n
            return c[what]

    def process(self, item: Any, emit: Emit) -> None:
        raise NotImplementedError

    def close(self, emit: Emit) -> None:
        """Called once after the last input item: flush what is pending (open segments, gestures)."""


class Source(Stage):
    """Produces items. `run` returns when the source is exhausted or `stop` is set."""

    name = "source"

    def run(self, emit: Emit, stop: threading.Event) -> None:
        raise NotImplementedError

    def process(self, item: Any, emit: Emit) -> None:  # sources have no inputs
        raise TypeError(f"{self.name} is a source and takes no input")


class Sink(Stage):
    """Consumes items; emits nothing."""

    name = "sink"


class CallbackSink(Sink):
    """Hands every item to a function (a GUI signal, a network broadcaster, a list in a test)."""

    def __init__(
        self, fn: Callable[[Any], None], name: str = "callback", policy: QueuePolicy = QueuePolicy.BLOCK
    ) -> None:
        super().__init__(name)
        self.fn = fn
        self.input_policy = policy

    def process(self, item: Any, emit: Emit) -> None:
        self.fn(item)


class FunctionStage(Stage):
    """A stage from a plain function item -> result (None means nothing to emit)."""

    def __init__(self, fn: Callable[[Any], Any], name: str, policy: QueuePolicy = QueuePolicy.BLOCK) -> None:
        super().__init__(name)
        self.fn = fn
        self.input_policy = policy

    def process(self, item: Any, emit: Emit) -> None:
        out = self.fn(item)
        if out is not None:
            emit(out)
