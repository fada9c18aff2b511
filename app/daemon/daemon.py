"""The headless daemon: a pipeline built from plugins, fed by clients over the protocol, publishing
intents and observations to them.

Shutdown is graceful: new input is refused, sources end, every stage processes what it already has
and flushes (fusion emits in-flight intents, a recorder closes its file), the intents reach the
clients' queues, those queues are written, and only then are connections closed (1001).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.daemon.config import DaemonConfig, StageConfig
from app.daemon.ingest import NetworkInputs
from app.daemon.server import Hub
from app.plugins.base import PluginDeclined
from app.plugins.registry import PluginError, Registry
from perception.stream import CallbackSink, IntentEvent, Observation, Pipeline, ReplayClock, Source, Stage

log = logging.getLogger("cuekit.daemon")


class TypeGate(Stage):
    """Runs a stage on only the item types it consumes, so a mixed stream (a replayed recording) can
    feed it. Keeps the inner stage's name, queue policy and counters."""

    def __init__(self, inner: Stage, consumes: tuple[type, ...]) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.consumes = consumes
        self.input_policy = inner.input_policy
        self.input_capacity = inner.input_capacity
        self.skipped = 0

    @property
    def counters(self) -> dict[str, int]:
        return getattr(self.inner, "counters", {})

    def setup(self) -> None:
        self.inner.clock = self.clock
        self.inner.setup()

    def process(self, item: Any, emit) -> None:
        if isinstance(item, self.consumes):
            self.inner.process(item, emit)
        else:
            self.skipped += 1

    def close(self, emit) -> None:
        self.inner.close(emit)


class AfterFirstSample(Source):
    """Starts a clock-driven source (fusion's ticker) only once the replay has set the clock, so it does
    not anchor a realtime ReplayClock at 0 before the first recorded sample."""

    def __init__(self, inner: Source) -> None:
        super().__init__(inner.name)
        self.inner = inner

    def setup(self) -> None:
        self.inner.clock = self.clock
        self.inner.setup()

    def run(self, emit, stop: threading.Event) -> None:
        while not stop.is_set() and self.clock.now_ns() == 0:
            stop.wait(0.005)
        if not stop.is_set():
            self.inner.run(emit, stop)

    def close(self, emit) -> None:
        self.inner.close(emit)


@dataclass(slots=True)
class Node:
    stage: Stage
    section: str
    plugin: str
    consumes: tuple[type, ...]
    produces: tuple[type, ...]
    inputs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ShutdownResult:
    drained: bool
    flushed: bool
    stuck_stages: list[str]
    intents_published: int
    intents_delivered: int
    seconds: float


def _overlaps(produces: tuple[type, ...], consumes: tuple[type, ...]) -> bool:
    return any(issubclass(p, c) or issubclass(c, p) for p in produces for c in consumes)


class Daemon:
    def __init__(self, config: DaemonConfig, registry: Registry | None = None, replay: Path | None = None,
                 extra_stages: list[tuple[str, Stage, tuple[type, ...], tuple[type, ...]]] | None = None) -> None:
        self.config = config
        self.registry = registry or Registry()
        self.replay = replay
        # (section, stage, consumes, produces) added after the configured ones of that section (tests, bench)
        self.extra_stages = extra_stages or []
        clock = ReplayClock(realtime=config.replay_realtime, speed=config.replay_speed) if replay else None
        self.pipeline = Pipeline(clock=clock, name="daemon")
        self.inputs = NetworkInputs(config.inputs)
        self.hub = Hub(config.server, self.inputs, pipeline_stats=self._stage_stats, describe_extra=self._describe)
        self.nodes: list[Node] = []
        self.skipped: list[dict[str, str]] = []
        self._built = False
        self.stop_event: asyncio.Event | None = None

    # building -----------------------------------------------------------------------------------
    def _stage_configs(self) -> list[StageConfig]:
        stages = list(self.config.stages)
        if self.replay is not None:
            stages.insert(0, StageConfig("sources", "replay", "replay", {"path": str(self.replay)}))
        return stages

    def build(self) -> Pipeline:
        """Create every stage and wire them by type. Raises PluginError/PluginDeclined for a required one."""
        if self._built:
            return self.pipeline
        self.config.server.check()  # refuse before building anything (token rule)
        for src in self.inputs.sources():
            self._add(Node(src, "inputs", "protocol", (), src.produces))
        built: dict[str, list[Node]] = {s: [] for s in ("sources", "context", "recognizers", "fusion", "sinks")}
        for sc in self._stage_configs():
            try:
                stage, spec = self.registry.create(sc.group, sc.plugin, sc.config, sc.name)
            except (PluginError, PluginDeclined) as exc:
                if sc.optional:
                    log.warning("skipping optional %s plugin %s: %s", sc.section, sc.plugin, exc)
                    self.skipped.append({"plugin": sc.plugin, "section": sc.section, "reason": str(exc)})
                    continue
                raise
            consumes = tuple(getattr(stage, "consumes", None) or spec.consumes)
            produces = tuple(getattr(stage, "produces", None) or spec.produces)
            built[sc.section].append(Node(stage, sc.section, sc.plugin, consumes, produces))
        for section, stage, consumes, produces in self.extra_stages:
            built[section].append(Node(stage, section, "extra", consumes, produces))
        for section in ("sources", "context", "recognizers", "fusion"):
            for node in built[section]:
                self._add(node)
        obs_tap = CallbackSink(self.hub.publish_observation, name="hub.observations")
        self._add(Node(obs_tap, "taps", "hub", (Observation,), ()))
        intent_tap = CallbackSink(self.hub.publish_intent, name="hub.intents")
        self._add(Node(intent_tap, "taps", "hub", (IntentEvent,), ()))
        for node in built["sinks"]:
            self._add(node)
        self._built = True
        return self.pipeline

    def _add(self, node: Node) -> None:
        if isinstance(node.stage, Source):
            self.pipeline.add(node.stage)
        else:
            node.inputs = [n.stage.name for n in self.nodes if n.section not in ("taps", "sinks", "companion")
                           and _overlaps(n.produces, node.consumes)]
            # sources a stage brings along (fusion's clock ticker) feed that stage only
            companions = getattr(node.stage, "companion_sources", None)
            for src in companions() if callable(companions) else []:
                if self.replay is not None:
                    if not self.config.replay_realtime:
                        # a free-running ticker would itself push a fast replay clock ahead of the data
                        log.info("fast replay: %s runs without %s", node.stage.name, src.name)
                        continue
                    src = AfterFirstSample(src)
                self.pipeline.add(src)
                self.nodes.append(Node(src, "companion", node.plugin, (), ()))
                node.inputs.append(src.name)
            if not node.inputs and node.section != "taps":
                log.warning("%s %s consumes %s but nothing produces that; it will idle", node.section,
                            node.stage.name, [t.__name__ for t in node.consumes])
            stage = TypeGate(node.stage, node.consumes)
            self.pipeline.add(stage, inputs=node.inputs)
        self.nodes.append(node)

    def graph(self) -> list[dict[str, Any]]:
        return [{"name": n.stage.name, "section": n.section, "plugin": n.plugin, "inputs": n.inputs,
                 "consumes": [t.__name__ for t in n.consumes], "produces": [t.__name__ for t in n.produces]}
                for n in self.nodes]

    def _stage_stats(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.pipeline.stats()]

    def _describe(self) -> dict[str, Any]:
        return {"stages": [{"name": n.stage.name, "section": n.section, "plugin": n.plugin} for n in self.nodes]}

    # running ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.build()
        await self.hub.start()  # binds first: a taken port fails before any device opens
        self.pipeline.start()
        log.info("daemon listening on ws://%s:%d/ with %d stages", self.config.server.host, self.hub.port,
                 len(self.nodes), extra={"port": self.hub.port, "graph": self.graph()})

    async def run(self, stop: asyncio.Event | None = None, until_replay_done: bool = False) -> ShutdownResult:
        """Serve until `stop` is set (or, with a replay and `until_replay_done`, until it has played)."""
        self.stop_event = stop = stop or asyncio.Event()
        await self.start()
        if until_replay_done:
            waiter = asyncio.ensure_future(asyncio.to_thread(self._wait_sources))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        else:
            await stop.wait()
        return await self.shutdown()

    def _wait_sources(self) -> None:
        # the replay (the configured sources) has ended when their worker threads are done
        names = {n.stage.name for n in self.nodes if n.section == "sources"}
        for node in self.pipeline._nodes.values():
            if node.stage.name in names:
                node.finished.wait()

    async def shutdown(self) -> ShutdownResult:
        t0 = time.monotonic()
        log.info("shutting down: draining the pipeline")
        self.hub.closing = True
        self.inputs.draining.set()
        drain = getattr(self.pipeline, "drain", None)
        if drain is not None:
            stuck = await asyncio.to_thread(drain, self.config.drain_timeout_s)
        else:  # an older Pipeline without drain(): stages do not flush
            stuck = await asyncio.to_thread(self.pipeline.stop, self.config.drain_timeout_s)
        drained = not stuck
        await asyncio.sleep(0)  # run the fan-outs the last intents scheduled from the worker threads
        flushed = await self.hub.flush(timeout=self.config.drain_timeout_s)
        result = ShutdownResult(drained, flushed, stuck, self.hub.intents_published, self.hub.intents_delivered,
                                round(time.monotonic() - t0, 3))
        await self.hub.close()
        log.info("stopped: %d intents published, %d delivered; drained=%s flushed=%s", result.intents_published,
                 result.intents_delivered, drained, flushed,
                 extra={"drained": drained, "flushed": flushed, "stuck": stuck})
        return result
