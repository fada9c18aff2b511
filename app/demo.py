"""`cuekit demo`: the GUI on live devices, or on the bundled demo session when there are none.

The demo's pipeline is the one assembly's (app/assembly.py: same plugins, same type-driven wiring as the
daemon), with the GUI as one more sink; `--headless` prints what is recognised and never imports Qt.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from app.assembly import (
    DEFAULT_SPEC,
    Assembly,
    ExtraStage,
    SourceChoice,
    assemble,
    run_to_end,
    session_targets,
)
from app.demo_session import DEFAULT_SESSION
from app.devices import probe_devices
from perception.stream import CallbackSink, IntentEvent, Observation, Pipeline
from perception.stream.types import STREAM_TYPES

log = logging.getLogger("cuekit.demo")


def build_pipeline(request: Any) -> tuple[Pipeline, dict]:
    """The GUI's PipelineFactory (`app.gui.main_window.PipelineRequest` in): a built, not started
    pipeline and what the window should know."""
    choice = request.source
    spec = request.spec_path or DEFAULT_SPEC
    assembly = assemble(choice, spec, [ExtraStage(request.gui_sink, STREAM_TYPES)], request.record_to)
    targets = session_targets(choice.path) if choice.kind == "session" and choice.path else []
    return assembly.pipeline, {
        "targets": targets,
        "frame_size": (640, 480),
        "assembly": assembly,
        "enrollers": _enrollers(),
    }


def _enrollers() -> dict:
    from app.enrollment import available_enrollers

    return available_enrollers()


def source_choices(session: Path | None, live: bool) -> list[SourceChoice]:
    out = []
    inv = probe_devices()
    if live and inv.any:
        out.append(
            SourceChoice(
                "live", camera=0 if inv.cameras else None, microphone=bool(inv.microphones), label="Live devices"
            )
        )
    else:
        for problem in inv.problems:
            log.info("no live device: %s", problem)
    path = session or DEFAULT_SESSION
    out.append(SourceChoice("session", path, label=f"Recorded session: {path.name}"))
    # a wristband or phone streaming to this machine (formats in docs/foundation.md)
    out.append(SourceChoice("live", camera=None, microphone=False, imu_udp_port=5555, label="Wrist IMU over UDP :5555"))
    for port in inv.serial_ports:
        out.append(SourceChoice("live", camera=None, microphone=False, imu_serial=port, label=f"Wrist IMU on {port}"))
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
                    print(
                        f"  INTENT {item.name}({slots})  via {'+'.join(item.modalities)}  "
                        f"latency {item.latency_ms:.0f} ms",
                        flush=True,
                    )
            elif (
                isinstance(item, Observation)
                and not as_json
                and item.modality in ("hand", "wrist", "speech")
                and not item.kind.startswith("vad_")
            ):
                extra = item.payload.get("text", "")
                print(f"  {item.modality:<6} {item.kind:<14} {item.confidence:.2f} {extra}", flush=True)

    sink = CallbackSink(show, name="printer")
    assembly: Assembly = assemble(choice, spec, [ExtraStage(sink, (Observation, IntentEvent))])
    if not as_json:
        print(f"CueKit demo (headless) on {choice.label}", flush=True)
    run_to_end(assembly)
    pipeline = assembly.pipeline
    if not as_json:
        print(pipeline.stats_table())
        print(f"{len(intents)} intents")
    from app.recording.mcap_reader import replay_problem

    problem = replay_problem(pipeline.stages)
    if problem is not None:  # a truncated or unreadable session is not a successful demo
        print(f"cuekit demo: {problem}", file=sys.stderr)
        return 1
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
    if args.session is not None:
        from app.recording.mcap_reader import McapDamagedError, check_magic

        try:
            check_magic(args.session)
        except McapDamagedError as exc:
            print(f"cuekit demo: {exc}", file=sys.stderr)
            return 2
    if not args.headless and not _have_display():
        print(
            "cuekit demo: no display (DISPLAY/WAYLAND_DISPLAY unset), running headless; "
            "set QT_QPA_PLATFORM=offscreen to force the window anyway",
            file=sys.stderr,
        )
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
    from app.extras import missing

    absent = missing("gui")
    if absent:
        print(f"cuekit demo: the window needs the GUI: {absent}; running headless", file=sys.stderr)
        return run_headless(choices[0], spec, as_json=False)
    from app.gui.launch import run_window  # Qt is imported only here, on the GUI path

    return run_window(build_pipeline, choices, spec)
