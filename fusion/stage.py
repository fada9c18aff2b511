"""The engine as a pipeline stage: Observations (and scene updates, ticks) in, IntentEvents out.

    pipe.add(FusionStage(load_spec("default_ar"), scene), inputs=[hands, speech, wrist, ticker])

Emission times come from the stage's clock (the pipeline's: monotonic live, recorded on replay at
recorded speed). When replaying as fast as possible the engine runs on the observations' own times
(`time_base="auto"`), see `FusionStage.data_time`.
Timeouts need time to pass even when no observation arrives: add a `Ticker` source as one more input
(any non-Observation item advances the engine's clock).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

from fusion.engine import EngineOptions, FusionEngine
from fusion.spec import Spec, load_spec
from perception.context.scene import Scene, SceneError
from perception.stream.clock import ReplayClock
from perception.stream.stage import Emit, Source, Stage
from perception.stream.types import Observation


@dataclass(slots=True)
class Tick:
    t_capture_ns: int  # named like a sample's capture time so pipeline latency stats read it


class Ticker(Source):
    """Emits a `Tick` every `period_ms` on the pipeline clock, so the fusion stage can close windows."""

    name = "fusion-ticker"

    def __init__(self, period_ms: float = 10.0, name: str | None = None) -> None:
        super().__init__(name)
        self.period_ns = int(period_ms * 1e6)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        t = self.clock.now_ns()
        while not stop.is_set():
            t += self.period_ns
            self.clock.sleep_until_ns(t, stop)
            if stop.is_set():
                break
            emit(Tick(self.clock.now_ns()))


class FusionStage(Stage):
    name = "fusion"

    def __init__(
        self,
        spec: Spec | str,
        scene: Scene | None = None,
        options: EngineOptions | None = None,
        name: str | None = None,
        time_base: str = "auto",
    ) -> None:
        super().__init__(name)
        if time_base not in ("auto", "clock", "data"):
            raise ValueError(f"time_base must be 'auto', 'clock' or 'data', got {time_base!r}")
        self.spec = spec if isinstance(spec, Spec) else load_spec(spec)  # validated here, not in the worker
        self.scene = scene if scene is not None else Scene()
        self.options = options
        self.time_base = time_base
        self.engine: FusionEngine | None = None
        self.bad_items = 0

    @property
    def data_time(self) -> bool:
        """Run on the observations' own times instead of the clock. `auto` does so when replaying as
        fast as possible: there the clock races ahead of the recognisers (it follows the sources), so
        clock-based watermarks would drop every slower modality."""
        if self.time_base == "auto":
            return isinstance(self.clock, ReplayClock) and not self.clock.realtime
        return self.time_base == "data"

    def setup(self) -> None:
        opts = self.options or EngineOptions()
        if self.data_time:
            opts = dataclasses.replace(opts, drop_late=False)
        self.engine = FusionEngine(self.spec, self.scene, opts, now_fn=None if self.data_time else self.clock.now_ns)

    def _engine(self) -> FusionEngine:
        if self.engine is None:
            self.setup()
        return self.engine  # type: ignore[return-value]

    def process(self, item: Any, emit: Emit) -> None:
        eng = self._engine()
        now = None if self.data_time else self.clock.now_ns()
        if isinstance(item, Observation):
            events = eng.push(item, now_ns=now)
        elif isinstance(item, dict) and "op" in item:  # a scene update from the GUI/network
            try:
                self.scene.apply(item)
            except SceneError as exc:
                self.bad_items += 1
                logging.getLogger("cuekit.fusion").warning("bad scene update: %s", exc)
            events = eng.advance(now)
        else:  # a Tick (or anything else): time passes
            events = eng.advance(now)
        for ev in events:
            emit(ev)

    def close(self, emit: Emit) -> None:
        for ev in self._engine().flush(None if self.data_time else self.clock.now_ns()):
            emit(ev)
