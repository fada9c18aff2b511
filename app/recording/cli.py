"""`cuekit record`: record chosen sources to an MCAP file, then print the pipeline statistics.

    cuekit record --video clip.mp4 --wav speech.wav --imu-udp 5555 --out session.mcap --duration 10
    cuekit record --camera 0 --mic --imu-serial /dev/ttyACM0 --out live.mcap
    cuekit record --video clip.mp4 --imu-synthetic --fast --out test.mcap   # files only, no pacing

Device and file sources share the live clock (file twins play at recorded speed) so that all streams
line up; `--fast` uses a replay clock instead and is only allowed when every source is a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from app.assembly import Assembly, ExtraStage
from app.daemon.config import DaemonConfig
from app.recording.mcap_writer import McapRecorder, RecorderOptions, load_scene_file
from app.recording.merge import TimeOrderedMerge
from perception.sources.errors import DeviceError
from perception.sources.imu_format import ImuFormatOptions
from perception.stream.clock import MonotonicClock, ReplayClock
from perception.stream.pipeline import Pipeline
from perception.stream.stage import Source, Stage
from perception.stream.types import STREAM_TYPES

log = logging.getLogger("cuekit.record")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cuekit record", description="Record sources to an MCAP file.")
    v = ap.add_mutually_exclusive_group()
    v.add_argument("--video", metavar="FILE", help="video file (replay twin of a camera)")
    v.add_argument("--camera", metavar="N|URL", help="camera index or stream URL")
    a = ap.add_mutually_exclusive_group()
    a.add_argument("--wav", metavar="FILE", help="WAV file (any rate/channels -> 16 kHz mono)")
    a.add_argument("--mic", nargs="?", const="", metavar="DEVICE", help="microphone (default, index or name)")
    i = ap.add_mutually_exclusive_group()
    i.add_argument("--imu-udp", type=int, metavar="PORT", help="IMU lines on this UDP port")
    i.add_argument("--imu-tcp", type=int, metavar="PORT", help="IMU lines on this TCP port (HyperIMU JSON)")
    i.add_argument("--imu-serial", metavar="PORT", help="IMU CSV lines from a serial port (or pyserial URL)")
    i.add_argument("--imu-csv", metavar="FILE", help="IMU CSV file")
    i.add_argument("--imu-synthetic", action="store_true", help="seeded synthetic IMU")
    ap.add_argument(
        "--imu-host",
        default="127.0.0.1",
        help="address to listen on for --imu-udp/--imu-tcp "
        "(anything but loopback needs CUEKIT_TOKEN, and each datagram a first line token:<token>)",
    )
    ap.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    ap.add_argument("--imu-accel-unit", default="auto", help="g | mg | m/s^2 | auto (default)")
    ap.add_argument("--imu-gyro-unit", default="auto", help="deg/s | rad/s | auto (default)")
    ap.add_argument("--seed", type=int, default=0, help="synthetic IMU seed")
    ap.add_argument(
        "--imu-events",
        default="",
        metavar="T:KIND,...",
        help="synthetic IMU events, e.g. 1.0:tap,2.5:flick (kinds: tap, flick, shake, twist)",
    )
    ap.add_argument("--out", required=True, metavar="FILE.mcap", help="output MCAP file")
    ap.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (default: when the file sources end; live sources run until Ctrl-C)",
    )
    ap.add_argument("--fast", action="store_true", help="files only: record as fast as possible (replay clock)")
    ap.add_argument("--jpeg-quality", type=int, default=90)
    ap.add_argument(
        "--audio-encoding",
        choices=["pcm_s16le", "pcm_f32le"],
        default="pcm_s16le",
        help="pcm_s16le (default): Foxglove plays it, exact for 16-bit sources; pcm_f32le: exact for any",
    )
    ap.add_argument(
        "--scene", metavar="FILE.json", help='the scene\'s targets ({"targets": [...]}), recorded as /scene'
    )
    ap.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    return ap


def parse_events(text: str) -> list:
    """'1.0:tap,2.5:flick' -> [ImuEvent(1.0, 'tap'), ImuEvent(2.5, 'flick')]."""
    from perception.sources import ImuEvent

    events = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        t, _, kind = part.partition(":")
        try:
            events.append(ImuEvent(float(t), kind.strip()))
        except ValueError:
            raise ValueError(f"--imu-events: {part!r} is not TIME:KIND (e.g. 1.5:tap)") from None
    return events


@dataclass
class Recording:
    pipeline: Pipeline
    recorder: McapRecorder
    sources: list[Source] = field(default_factory=list)
    live: bool = True


def build(args: argparse.Namespace, extra_sinks: list[Stage] = ()) -> Recording:
    """The record pipeline for parsed arguments; `extra_sinks` also receive every source item."""
    from perception.sources import (
        AudioSourceOptions,
        CameraSource,
        ImuCsvSource,
        ImuSerialSource,
        ImuSourceOptions,
        ImuTcpSource,
        ImuUdpSource,
        MicrophoneSource,
        SyntheticImuOptions,
        SyntheticImuSource,
        VideoFileSource,
        WavFileSource,
    )

    imu_opts = ImuSourceOptions(format=ImuFormatOptions(accel_unit=args.imu_accel_unit, gyro_unit=args.imu_gyro_unit))
    sources: list[Source] = []
    devices = []
    token = os.environ.get("CUEKIT_TOKEN") or None
    if args.video:
        sources.append(VideoFileSource(args.video, name="video"))
    if args.camera is not None:
        devices.append("--camera")
        sources.append(CameraSource(args.camera, name="camera"))
    if args.wav:
        sources.append(WavFileSource(args.wav, name="audio"))
    if args.mic is not None:
        devices.append("--mic")
        sources.append(MicrophoneSource(args.mic or None, AudioSourceOptions(), name="audio"))
    if args.imu_udp is not None:
        devices.append("--imu-udp")
        udp = ImuUdpSource(args.imu_udp, host=args.imu_host, options=imu_opts, name="imu", token=token)
        sources.append(udp)
    if args.imu_tcp is not None:
        devices.append("--imu-tcp")
        tcp = ImuTcpSource(args.imu_tcp, host=args.imu_host, options=imu_opts, name="imu", token=token)
        tcp.setup()  # bind now: a port in use is refused before anything starts
        sources.append(tcp)
    if args.imu_serial:
        devices.append("--imu-serial")
        sources.append(ImuSerialSource(args.imu_serial, args.baud, options=imu_opts, name="imu"))
    if args.imu_csv:
        sources.append(ImuCsvSource(args.imu_csv, options=imu_opts, name="imu"))
    if args.imu_synthetic:
        dur = args.duration if args.duration else 10.0
        events = parse_events(args.imu_events)
        sources.append(
            SyntheticImuSource(SyntheticImuOptions(seed=args.seed, duration_s=dur, events=events), name="imu")
        )
    if not sources:
        raise ValueError("nothing to record: choose at least one of --video/--camera, --wav/--mic, --imu-*")
    if args.fast and devices:
        raise ValueError(f"--fast needs file sources only, but {', '.join(devices)} is a live device")
    if args.imu_udp is not None:
        udp.setup()  # bind now: a port in use is refused before anything starts
    if args.fast and len(sources) > 1:
        # unpaced sources race each other; the file must still be in time order for its replay
        sources = [TimeOrderedMerge(sources, name="files")]
    scene = load_scene_file(args.scene) if args.scene else None  # a bad file is refused before recording
    recorder = McapRecorder(
        args.out, RecorderOptions(jpeg_quality=args.jpeg_quality, audio_encoding=args.audio_encoding), scene=scene
    )
    # the one assembly, with the sources the arguments name and the recorder (plus extras) as sinks
    extra = [ExtraStage(s, (), s.produces, "sources") for s in sources]
    extra += [ExtraStage(sink, STREAM_TYPES) for sink in [recorder, *extra_sinks]]
    assembly = Assembly(DaemonConfig(), extra=extra, targets=[], clock=ReplayClock() if args.fast else MonotonicClock())
    pipe = assembly.build()
    return Recording(pipe, recorder, sources, live=not args.fast)


def run(rec: Recording, duration: float | None, interrupted: threading.Event | None = None) -> int:
    """Run until the sources end, `duration` passes, a source fails, or `interrupted` is set."""
    pipe = rec.pipeline
    interrupted = interrupted or threading.Event()
    pipe.start()
    from perception.sources import ImuTcpSource, ImuUdpSource

    for s in rec.sources:
        if isinstance(s, (ImuUdpSource, ImuTcpSource)):
            proto = "UDP" if isinstance(s, ImuUdpSource) else "TCP"
            print(f"listening for IMU lines on {proto} port {s.port}", file=sys.stderr)
    t_end = None if duration is None else time.monotonic() + duration
    failed = False
    names = {s.name for s in rec.sources}
    while not pipe.wait(0.05):
        if interrupted.is_set() or (t_end is not None and time.monotonic() >= t_end):
            break
        if any(st.errors for st in pipe.stats() if st.name in names):
            failed = True  # a device that cannot be opened makes the recording pointless
            break
    stuck = pipe.drain(timeout=5.0)
    if any(st.errors for st in pipe.stats() if st.name in names):
        failed = True
    return 1 if failed or stuck else 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        rec = build(args)
    except (ValueError, FileNotFoundError, DeviceError) as exc:
        print(f"cuekit record: {exc}", file=sys.stderr)
        return 2
    interrupted = threading.Event()
    old = (
        signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        if threading.current_thread() is threading.main_thread()
        else None
    )
    try:
        code = run(rec, args.duration, interrupted)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    stats = rec.pipeline.stats()
    counts = rec.recorder.writer.counts if rec.recorder.writer else {}
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "out": str(args.out),
                    "messages": counts,
                    "stages": [s.to_json() for s in stats],
                    "ok": code == 0,
                }
            )
        )
    else:
        print(rec.pipeline.stats_table())
        print(
            f"wrote {sum(counts.values())} messages to {args.out}: "
            + (", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "none")
        )
    for s in stats:
        if s.errors and s.last_error:
            print(f"cuekit record: stage {s.name!r} failed: {s.last_error}", file=sys.stderr)
    return code
