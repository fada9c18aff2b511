"""`cuekit demo`: the GUI on live devices, or on the bundled demo session when there are none.

The demo's pipeline is the daemon's (same plugins, same type-driven wiring), with the GUI as one
more sink; `--headless` prints what is recognised instead of opening a window.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from app.daemon.config import DaemonConfig
from app.daemon.daemon import Daemon
from app.demo_session import DEFAULT_SESSION
from app.devices import probe_devices
from app.gui.main_window import PipelineRequest, SourceChoice
from perception.stream import CallbackSink, IntentEvent, Observation, Pipeline, Stage
from perception.stream.types import AudioChunk, HandLandmarks, ImuBatch, VideoFrame

log = logging.getLogger("cuekit.demo")

DEFAULT_SPEC = "default_ar"
ALL_TYPES = (VideoFrame, AudioChunk, ImuBatch, HandLandmarks, Observation, IntentEvent)


def session_manifest(path: Path) -> dict:
    """The manifest beside a recording (targets, expected intents, how its hands are given), or {}."""
    manifest = Path(path).with_suffix(".json")
    if manifest.is_file():
        return dict(json.loads(manifest.read_text()))
    return {}


def session_targets(path: Path) -> list[dict]:
    """Scene targets of a recording, from the manifest beside it (the speech grammar needs their names)."""
    return list(session_manifest(path).get("targets", []))


def _speech_stage(spec_path: str | Path, targets: list[dict]) -> Stage:
    from fusion.spec import load_spec, speech_grammar
    from perception.context.scene import Scene
    from perception.speech.context import Context
    from perception.speech.stage import SpeechStage, SpeechStageOptions

    scene = Scene()
    scene.apply({"op": "replace", "targets": targets})
    grammar = speech_grammar(load_spec(spec_path), scene)
    return SpeechStage(SpeechStageOptions(context=Context.from_spec(grammar)), name="speech")


def demo_config(choice: SourceChoice, spec: str | Path, record_to: Path | None) -> DaemonConfig:
    sources: list[dict[str, Any]] = []
    recognizers: list[dict[str, Any]] = [{"plugin": "wrist"}, {"plugin": "hand_skeleton"}]
    if _camera_hands(choice):
        # the recording's camera shows real hands and has no skeleton track: build_daemon adds the camera
        # hand stage (the skeleton recogniser would see that stage's landmarks a second time)
        recognizers = [{"plugin": "wrist"}]
    if choice.kind == "live":
        if choice.camera is not None:
            sources.append({"plugin": "camera", "config": {"device": choice.camera}, "optional": True})
            recognizers.append({"plugin": "hands", "optional": True})
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


def _camera_hands(choice: SourceChoice) -> bool:
    return bool(choice.kind == "session" and choice.path
                and session_manifest(choice.path).get("camera_hand_tracking"))


def _camera_hand_stage(realtime: bool) -> Stage:
    """CueKit's palm detector + landmarks + gestures on a recording's camera frames. In a fast replay
    the stage must not drop frames (live it keeps the newest): the replay then waits for it."""
    from perception.hands.stage import HandStage
    from perception.stream import QueuePolicy

    stage = HandStage(name="hands")
    if not realtime:
        stage.input_policy = QueuePolicy.BLOCK
    return stage


def build_daemon(choice: SourceChoice, spec: str | Path, sinks: list[tuple[Stage, tuple[type, ...]]],
                 record_to: Path | None = None) -> Daemon:
    """The demo's pipeline: the daemon's plugins wired by type, the speech grammar from the spec and the
    session's targets, and `sinks` (stage, types it consumes) at the end. Built, not started."""
    targets = session_targets(choice.path) if choice.kind == "session" and choice.path else []
    extra = [("recognizers", _speech_stage(spec, targets), (AudioChunk,), (Observation,))]
    if _camera_hands(choice):
        extra.append(("recognizers", _camera_hand_stage(choice.realtime), (VideoFrame,), (HandLandmarks, Observation)))
    extra += [("sinks", stage, consumes, ()) for stage, consumes in sinks]
    daemon = Daemon(demo_config(choice, spec, record_to),
                    replay=choice.path if choice.kind == "session" else None, extra_stages=extra)
    daemon.build()
    return daemon


def build_pipeline(request: PipelineRequest) -> tuple[Pipeline, dict]:
    """The GUI's PipelineFactory: a built (not started) pipeline and what the window should know."""
    choice = request.source
    spec = request.spec_path or DEFAULT_SPEC
    daemon = build_daemon(choice, spec, [(request.gui_sink, ALL_TYPES)], request.record_to)
    targets = session_targets(choice.path) if choice.kind == "session" and choice.path else []
    return daemon.pipeline, {"targets": targets, "frame_size": (640, 480), "daemon": daemon,
                             "enrollers": _enrollers()}


def run_to_end(daemon: Daemon, stop: threading.Event | None = None) -> list[str]:
    """Start the pipeline and run it until its recording has played (live: until `stop` or Ctrl-C),
    then drain it so that in-flight intents are emitted. Returns stages that did not end in time."""
    pipeline = daemon.pipeline
    sources = [n.stage.name for n in daemon.nodes if n.section == "sources"]
    pipeline.start()
    try:
        while not (stop is not None and stop.is_set()):
            if daemon.replay is not None and pipeline.wait_for(sources, timeout=0.2):
                break
            if daemon.replay is None and stop is None:
                threading.Event().wait(0.2)
    except KeyboardInterrupt:
        pass
    return pipeline.drain(timeout=daemon.config.drain_timeout_s)


def _enrollers() -> dict:
    from app.enrollment import available_enrollers

    return available_enrollers()


def source_choices(session: Path | None, live: bool) -> list[SourceChoice]:
    out = []
    inv = probe_devices()
    if live and inv.any:
        out.append(SourceChoice("live", camera=0 if inv.cameras else None, microphone=bool(inv.microphones),
                                label="Live devices"))
    else:
        for problem in inv.problems:
            log.info("no live device: %s", problem)
    path = session or DEFAULT_SESSION
    out.append(SourceChoice("session", path, label=f"Recorded session: {path.name}"))
    # a wristband or phone streaming to this machine (formats in docs/foundation.md)
    out.append(SourceChoice("live", camera=None, microphone=False, imu_udp_port=5555,
                            label="Wrist IMU over UDP :5555"))
    for port in inv.serial_ports:
        out.append(SourceChoice("live", camera=None, microphone=False, imu_serial=port,
                                label=f"Wrist IMU on {port}"))
    return out


def run_headless(choice: SourceChoice, spec: str | Path, as_json: bool) -> int:
    """Run the pipeline to the end of the session, printing recognised gestures, speech and intents."""
    lock = threading.Lock()
    intents: list[IntentEvent] = []

    def show(item: Any) -> None:
        with lock:
            if isinstance(item, IntentEvent):
                intents.append(item)
                if as_json:
                    print(json.dumps(item.to_json()), flush=True)
                else:
                    slots = ", ".join(f"{k}={v}" for k, v in item.slots.items())
                    print(f"  INTENT {item.name}({slots})  via {'+'.join(item.modalities)}  "
                          f"latency {item.latency_ms:.0f} ms", flush=True)
            elif isinstance(item, Observation) and not as_json and item.modality in ("hand", "wrist", "speech") \
                    and not item.kind.startswith("vad_"):
                extra = item.payload.get("text", "")
                print(f"  {item.modality:<6} {item.kind:<14} {item.confidence:.2f} {extra}", flush=True)

    sink = CallbackSink(show, name="printer")
    daemon = build_daemon(choice, spec, [(sink, (Observation, IntentEvent))])
    if not as_json:
        print(f"CueKit demo (headless) on {choice.label}", flush=True)
    run_to_end(daemon)
    pipeline = daemon.pipeline
    if not as_json:
        print(pipeline.stats_table())
        print(f"{len(intents)} intents")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cuekit demo", description=__doc__.split("\n")[0])
    ap.add_argument("--session", type=Path, help=f"recording to replay (default: {DEFAULT_SESSION.name})")
    ap.add_argument("--spec", default=DEFAULT_SPEC, help="intent spec name in assets/specs or a TOML path")
    ap.add_argument("--headless", action="store_true", help="print what is recognised instead of the GUI")
    ap.add_argument("--no-live", action="store_true", help="ignore live devices, replay the session")
    ap.add_argument("--fast", action="store_true", help="replay as fast as possible (headless)")
    ap.add_argument("--json", action="store_true", help="headless: one JSON intent per line")
    args = ap.parse_args(argv)
    choices = source_choices(args.session, live=not args.no_live)
    if args.session is not None and not args.session.is_file():
        print(f"cuekit demo: recording {args.session} does not exist", file=sys.stderr)
        return 2
    if not args.headless and not _have_display():
        print("cuekit demo: no display (DISPLAY/WAYLAND_DISPLAY unset), running headless; "
              "set QT_QPA_PLATFORM=offscreen to force the window anyway", file=sys.stderr)
        args.headless = True
    if args.headless:
        choice = choices[0]
        choice.realtime = not args.fast
        return run_headless(choice, args.spec, args.json)
    return run_gui(choices, args.spec)


def _have_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def run_gui(choices: list[SourceChoice], spec: str | Path) -> int:
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow
    from fusion.spec import load_spec

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(build_pipeline, choices, spec_path=Path(spec) if Path(spec).is_file() else None,
                     spec_validator=lambda p: load_spec(p))
    win.show()
    win.start_source(0)
    return app.exec()
