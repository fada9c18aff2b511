"""The headless daemon: a pipeline built from plugins, fed by clients over the protocol, publishing
intents and observations to them.

Shutdown is graceful: new input is refused, sources end, every stage processes what it already has
and flushes (fusion emits in-flight intents, a recorder closes its file), the intents reach the
clients' queues, those queues are written, and only then are connections closed (1001).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.assembly import Assembly, ExtraStage
from app.daemon import thumbnails
from app.daemon.config import DaemonConfig
from app.daemon.ingest import NetworkInputs
from app.daemon.server import Hub
from app.plugins.registry import Registry
from perception.stream import CallbackSink, IntentEvent, Observation, Pipeline, Stage

log = logging.getLogger("cuekit.daemon")


@dataclass(slots=True)
class ShutdownResult:
    drained: bool
    flushed: bool
    stuck_stages: list[str]
    intents_published: int
    intents_delivered: int
    seconds: float


class Daemon:
    """The assembly's graph (app/assembly.py) plus the hub: clients' pushed streams are sources of the
    graph, and two taps publish observations and intents to subscribers."""

    def __init__(
        self,
        config: DaemonConfig,
        registry: Registry | None = None,
        replay: Path | None = None,
        extra_stages: list[tuple[str, Stage, tuple[type, ...], tuple[type, ...]]] | None = None,
    ) -> None:
        self.config = config
        self.replay = replay
        # (section, stage, consumes, produces): tests and benchmarks bring their own stages
        extra = [
            ExtraStage(stage, consumes, produces, section) for section, stage, consumes, produces in extra_stages or []
        ]
        self.assembly = Assembly(config, registry, replay=replay, extra=extra)
        self.registry = self.assembly.registry
        self.pipeline = self.assembly.pipeline
        self.inputs = NetworkInputs(config.inputs)
        self.hub = Hub(config.server, self.inputs, pipeline_stats=self._stage_stats, describe_extra=self._describe)
        self.stop_event: asyncio.Event | None = None

    @property
    def skipped(self) -> list[dict[str, str]]:
        return self.assembly.skipped

    def build(self) -> Pipeline:
        """Create every stage and wire them by type. Raises PluginError/PluginDeclined for a required one."""
        if self.assembly._built:
            return self.pipeline
        self.config.server.check()  # refuse before building anything (token rule)
        for src in self.inputs.sources():
            self.assembly.add(src, (), src.produces, "inputs", "protocol")
        self.assembly.add(
            CallbackSink(self.hub.publish_observation, name="hub.observations"), (Observation,), (), "taps", "hub"
        )
        self.assembly.add(CallbackSink(self.hub.publish_intent, name="hub.intents"), (IntentEvent,), (), "taps", "hub")
        # camera thumbnails with hand landmarks for `frames` subscribers (the dashboard)
        self.assembly.add(thumbnails.frame_tap(self.hub.publish_media), thumbnails.FRAME_TYPES, (), "taps", "hub")
        pipeline = self.assembly.build()
        # what a client can expect (`info.intents`): every intent of the specs the fusion stages run
        self.hub.expected_intents = sorted(
            {
                name
                for node in self.assembly.graph.nodes.values()
                for name in getattr(getattr(node.stage, "spec", None), "intents", {})
            }
        )
        return pipeline

    def graph(self) -> list[dict[str, Any]]:
        return self.assembly.describe()

    def _stage_stats(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.pipeline.stats()]

    def _describe(self) -> dict[str, Any]:
        return {"stages": [{"name": d["name"], "section": d["section"], "plugin": d["plugin"]} for d in self.graph()]}

    # running ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.build()
        await self.hub.start()  # binds first: a taken port fails before any device opens
        self.pipeline.start()
        log.info(
            "daemon listening on ws://%s:%d/ with %d stages",
            self.config.server.host,
            self.hub.port,
            len(self.assembly.graph.nodes),
            extra={"port": self.hub.port, "graph": self.graph()},
        )

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
        self.pipeline.wait_for(self.assembly.source_names)

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
        result = ShutdownResult(
            drained,
            flushed,
            stuck,
            self.hub.intents_published,
            self.hub.intents_delivered,
            round(time.monotonic() - t0, 3),
        )
        await self.hub.close()
        log.info(
            "stopped: %d intents published, %d delivered; drained=%s flushed=%s",
            result.intents_published,
            result.intents_delivered,
            drained,
            flushed,
            extra={"drained": drained, "flushed": flushed, "stuck": stuck},
        )
        return result
