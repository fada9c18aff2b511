"""One assembly: the pipeline graph for the GUI, the headless demo, `eval session`, `record` and the daemon,
built from one config (the daemon's TOML schema, `app/daemon/config.py`).

Stages come from plugins and are wired by type in the runtime (`perception.stream.graph`), so the order
of the config does not matter. Two rules make a config mean what a user expects:
- hand gestures are recognised in one place: the `hand_skeleton` recogniser, on every HandLandmarks
  (the camera tracker's or a headset's own). With a camera tracker (`hands`) in the graph, the tracker
  only tracks, and a `hand_skeleton` stage is added when the config has none.
- a `speech` recogniser with neither `context` nor `spec` is built from the fusion stage's intent spec,
  with the scene's target names as slot values.
The daemon is this graph plus its network hub (`app/daemon/daemon.py`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from app.daemon.config import DaemonConfig, StageConfig
from app.plugins.base import PluginDeclined
from app.plugins.registry import PluginError, Registry
from perception.stream import Clock, Graph, Pipeline, QueuePolicy, ReplayClock, Role, Source, Stage
from perception.stream.graph import GraphNode

log = logging.getLogger("cuekit.assembly")

DEFAULT_SPEC = "default_ar"
_ROLES = {
    "sources": Role.SOURCE,
    "inputs": Role.SOURCE,
    "context": Role.STAGE,
    "recognizers": Role.STAGE,
    "fusion": Role.STAGE,
    "sinks": Role.SINK,
    "taps": Role.SINK,
}


@dataclass(slots=True)
class SourceChoice:
    """What the user picked as input: a recorded session, or live devices."""

    kind: str  # "session" (a recorded MCAP file) | "live"
    path: Path | None = None  # recording for kind == "session"
    camera: int | str | None = 0
    microphone: bool = True
    imu_udp_port: int | None = None
    imu_serial: str | None = None
    realtime: bool = True
    label: str = ""


@dataclass(slots=True)
class ExtraStage:
    """A stage the caller brings (the GUI sink, a test collector), wired by type like the others."""

    stage: Stage
    consumes: tuple[type, ...] = ()
    produces: tuple[type, ...] = ()
    section: str = "sinks"


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


def session_targets(path: Path | None) -> list[dict]:
    """Scene targets of a recording (its /scene channel, or an older recording's manifest): the speech
    grammar needs their names before the replay starts."""
    if path is None or not Path(path).is_file():
        return []
    from app.recording.mcap_reader import read_scene

    return list(read_scene(path) or [])


def fusion_spec_of(stages: list[StageConfig]) -> str | None:
    for sc in stages:
        if sc.section == "fusion" or sc.plugin == "fusion":
            return str(sc.config.get("spec", DEFAULT_SPEC))
    return None


def complete(stages: list[StageConfig], targets: list[dict] | None = None) -> list[StageConfig]:
    """The config's stages with the assembly's two rules applied (see the module docstring)."""
    out = [replace(sc, config=dict(sc.config)) for sc in stages]
    plugins = {sc.plugin for sc in out}
    if "hands" in plugins:
        for sc in out:
            if sc.plugin == "hands":
                sc.config.setdefault("emit_gestures", False)
        if "hand_skeleton" not in plugins:
            out.append(StageConfig("recognizers", "hand_skeleton"))
    spec = fusion_spec_of(out)
    for sc in out:
        if sc.plugin == "speech" and "context" not in sc.config and "spec" not in sc.config:
            if spec is None:
                raise PluginError("speech: no 'context' or 'spec' given and no fusion stage to take the spec from")
            sc.config["spec"] = spec
            if targets:
                sc.config.setdefault("targets", list(targets))
    return out


class Assembly:
    """Builds (not starts) the pipeline of a config. `sources` and `extra` are stages the caller adds
    (the daemon's network inputs, the GUI sink); `replay` adds a replay of that recording as the source."""

    def __init__(
        self,
        config: DaemonConfig,
        registry: Registry | None = None,
        replay: Path | None = None,
        extra: list[ExtraStage] | None = None,
        targets: list[dict] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or Registry()
        self.replay = replay
        self.extra = list(extra or [])
        self.targets = targets if targets is not None else session_targets(replay)
        if clock is None and replay is not None:
            clock = ReplayClock(realtime=config.replay_realtime, speed=config.replay_speed)
        self.pipeline = Pipeline(clock=clock, name="cuekit")
        self.graph = Graph()
        self.skipped: list[dict[str, str]] = []
        self._built = False

    def stage_configs(self) -> list[StageConfig]:
        stages = list(self.config.stages)
        if self.replay is not None:
            stages.insert(0, StageConfig("sources", "replay", "replay", {"path": str(self.replay)}))
        return complete(stages, self.targets)

    def add(
        self, stage: Stage, consumes: tuple[type, ...], produces: tuple[type, ...], section: str, plugin: str = ""
    ) -> GraphNode:
        role = _ROLES.get(section, Role.STAGE if produces else Role.SINK)
        node = self.graph.add(stage, consumes, produces, role, group=section, origin=plugin or section)
        for src in stage.companion_sources():
            if self.replay is not None:
                if not self.config.replay_realtime:
                    # a free-running ticker would itself push a fast replay clock ahead of the data
                    log.info("fast replay: %s runs without %s", stage.name, src.name)
                    continue
                src = AfterFirstSample(cast(Source, src))
            self.graph.add(src, role=Role.SOURCE, group="companion", feeds=stage, origin=plugin or section)
        return node

    def build(self) -> Pipeline:
        """Create every stage and wire them by type. Raises PluginError/PluginDeclined for a required one."""
        if self._built:
            return self.pipeline
        stages = self.stage_configs()
        spec_ref = fusion_spec_of(stages)
        if spec_ref is not None:
            from fusion.spec import load_spec

            load_spec(spec_ref)  # a bad spec is the user's one problem (SpecError, file:line), not each stage's
        for sc in stages:
            try:
                stage, spec = self.registry.create(sc.group, sc.plugin, sc.config, sc.name)
            except (PluginError, PluginDeclined) as exc:
                if sc.optional:
                    log.warning("skipping optional %s plugin %s: %s", sc.section, sc.plugin, exc)
                    self.skipped.append({"plugin": sc.plugin, "section": sc.section, "reason": str(exc)})
                    continue
                raise
            if self.replay is not None and not self.config.replay_realtime and stage.input_policy is QueuePolicy.LATEST:
                # a fast replay waits for every stage: dropping stale frames is for live input only
                stage.input_policy = QueuePolicy.BLOCK
            consumes = tuple(getattr(stage, "consumes", None) or spec.consumes)
            produces = tuple(getattr(stage, "produces", None) or spec.produces)
            self.add(stage, consumes, produces, sc.section, sc.plugin)
        for ex in self.extra:
            self.add(ex.stage, ex.consumes, ex.produces, ex.section, "extra")
        self.graph.build(self.pipeline)
        self._built = True
        return self.pipeline

    @property
    def source_names(self) -> list[str]:
        """The configured sources (a replay, devices): the run is over when these have ended."""
        return [n.name for n in self.graph.nodes.values() if n.group == "sources"]

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": d["name"],
                "section": d["group"],
                "plugin": d["origin"],
                "inputs": d["inputs"],
                "consumes": d["consumes"],
                "produces": d["produces"],
            }
            for d in self.graph.describe()
        ]


# the recognisers of the default graph (demo, eval session, `cuekit serve` without a config); each one
# idles when nothing produces its input; the optional ones are skipped, with one line, without their extra
DEFAULT_RECOGNIZERS: tuple[dict[str, Any], ...] = (
    {"plugin": "wrist"},
    {"plugin": "hand_skeleton"},
    {"plugin": "hands", "optional": True},  # camera frames: live, a session's camera track, pushed video
    {"plugin": "speech", "optional": True},
)


def demo_config(choice: SourceChoice, spec: str | Path, record_to: Path | None = None) -> DaemonConfig:
    """The config of the demo (GUI or headless) and `eval session` for a source choice."""
    sources: list[dict[str, Any]] = []
    recognizers = [dict(r) for r in DEFAULT_RECOGNIZERS]
    if choice.kind == "live":
        if choice.camera is not None:
            sources.append({"plugin": "camera", "config": {"device": choice.camera}, "optional": True})
        if choice.microphone:
            sources.append({"plugin": "microphone", "optional": True})
        if choice.imu_udp_port is not None:
            sources.append({"plugin": "imu_udp", "config": {"port": choice.imu_udp_port}})
        if choice.imu_serial is not None:
            sources.append({"plugin": "imu_serial", "config": {"port": choice.imu_serial}})
    raw: dict[str, Any] = {
        "server": {"inputs": []},
        "sources": sources,
        "recognizers": recognizers,
        "fusion": {"plugin": "fusion", "config": {"spec": str(spec)}},
        "logging": {"format": "text"},
        "replay": {"realtime": choice.realtime},
    }
    if record_to is not None:
        raw["sinks"] = [{"plugin": "recorder", "config": {"path": str(record_to)}}]
    return DaemonConfig.from_dict(raw)


def assemble(
    choice: SourceChoice, spec: str | Path, extra: list[ExtraStage] | None = None, record_to: Path | None = None
) -> Assembly:
    """The built (not started) pipeline for a source choice: the demo, the GUI and `eval session`."""
    replay = choice.path if choice.kind == "session" else None
    assembly = Assembly(demo_config(choice, spec, record_to), replay=replay, extra=extra)
    assembly.build()
    return assembly


def run_to_end(
    assembly: Assembly, stop: threading.Event | None = None, drain_timeout_s: float | None = None
) -> list[str]:
    """Start the pipeline and run it until its recording has played (live: until `stop` or Ctrl-C),
    then drain it so that in-flight intents are emitted. Returns stages that did not end in time."""
    pipeline = assembly.pipeline
    sources = assembly.source_names
    pipeline.start()
    try:
        while not (stop is not None and stop.is_set()):
            if assembly.replay is not None and pipeline.wait_for(sources, timeout=0.2):
                break
            if assembly.replay is None and stop is None:
                threading.Event().wait(0.2)
    except KeyboardInterrupt:
        pass
    return pipeline.drain(timeout=drain_timeout_s or assembly.config.drain_timeout_s)
