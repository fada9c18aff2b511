"""`cuekit replay FILE`: replay a recording through the pipeline and print the statistics.

As fast as possible by default (deterministic: every item keeps its recorded time), or at recorded
speed with `--realtime`. A damaged file replays up to the damage, then the error names the byte offset
and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from typing import Any

from app.recording.mcap_reader import (
    McapDamagedError,
    McapReplaySource,
    ReplayOptions,
    check_magic,
    read_info,
    replay_problem,
)
from perception.stream.clock import ReplayClock
from perception.stream.pipeline import Pipeline
from perception.stream.stage import CallbackSink

log = logging.getLogger("cuekit.replay")


def describe(item: Any) -> str:
    """One line per replayed item, for --print."""
    n = type(item).__name__
    if n == "VideoFrame":
        return f"{item.t_capture_ns:>16} video  {item.source_id} #{item.seq} {item.size[0]}x{item.size[1]}"
    if n == "AudioChunk":
        k = len(item.samples)
        return f"{item.t_first_ns:>16} audio  {item.source_id} #{item.seq} {k} samples @ {item.sample_rate}Hz"
    if n == "ImuBatch":
        return f"{int(item.t_ns[0]):>16} imu    {item.source_id} #{item.seq} {len(item)} samples"
    if n == "Observation":
        return f"{item.t_end_ns:>16} obs    {item.modality}/{item.kind} {item.confidence:.2f}"
    if n == "IntentEvent":
        return f"{item.t_emitted_ns:>16} intent {item.name} {item.confidence:.2f} {item.slots}"
    if n == "HandLandmarks":
        return f"{item.t_capture_ns:>16} hand   {item.handedness} track {item.track_id}"
    return f"{'':>16} {n}"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cuekit replay", description="Replay an MCAP recording.")
    ap.add_argument("file", help="MCAP file written by `cuekit record`")
    ap.add_argument("--realtime", action="store_true", help="replay at recorded speed (default: as fast as possible)")
    ap.add_argument("--speed", type=float, default=1.0, help="with --realtime: speed factor")
    ap.add_argument("--topics", nargs="*", help="only these topics (e.g. /video/camera /imu/imu)")
    ap.add_argument("--print", action="store_true", dest="print_items", help="print one line per replayed item")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return ap


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_magic(args.file)
        info = read_info(args.file)
    except FileNotFoundError:
        print(f"cuekit replay: no such file: {args.file}", file=sys.stderr)
        return 2
    except IsADirectoryError:
        print(f"cuekit replay: {args.file} is a directory, expected an MCAP file", file=sys.stderr)
        return 2
    except McapDamagedError as exc:
        print(f"cuekit replay: refused: {exc}", file=sys.stderr)
        return 2 if exc.offset == 0 else 1
    out = sys.stderr if args.json else sys.stdout
    pace = f"realtime x{args.speed:g}" if args.realtime else "as fast as possible"
    print(
        f"replaying {info.path} ({info.size} bytes, {pace})",
        file=out,
    )
    if info.summary_ok:
        print(f"  {info.duration_s:.2f} s recorded", file=out)
        for ch in info.channels:
            print(f"  {ch.topic:<24} {ch.schema:<26} {ch.messages:>7} messages", file=out)
    else:
        print("  no readable summary at the end of the file (truncated?): reading it sequentially", file=out)

    pipe = Pipeline(clock=ReplayClock(realtime=args.realtime, speed=args.speed), name="replay")
    src = pipe.add(McapReplaySource(args.file, ReplayOptions(topics=args.topics)))
    kinds: Counter[str] = Counter()

    def consume(item: Any) -> None:
        kinds[type(item).__name__] += 1
        if args.print_items:
            try:
                line = describe(item)
            except Exception as exc:  # noqa: BLE001 - a decodable but odd item still gets its line
                line = f"{'':>16} {type(item).__name__} (cannot describe: {type(exc).__name__}: {exc})"
            print(line, file=out)

    pipe.add(CallbackSink(consume, name="consumer"), inputs=[src])
    pipe.start()
    try:
        pipe.wait()
    except KeyboardInterrupt:
        pass
    pipe.stop()
    damage: McapDamagedError | None = src.damage
    stats = pipe.stats()
    if args.json:
        print(
            json.dumps(
                {
                    "file": str(args.file),
                    "replayed": dict(src.replayed),
                    "items": dict(kinds),
                    "damaged_at": None if damage is None else damage.offset,
                    "error": None if damage is None else str(damage),
                    "stages": [s.to_json() for s in stats],
                }
            )
        )
    else:
        print(pipe.stats_table())
        print("replayed " + (", ".join(f"{t} {n}" for t, n in sorted(src.replayed.items())) or "nothing"))
    problem = replay_problem([src])
    if problem is not None:
        print(f"cuekit replay: {problem}", file=sys.stderr)
        return 1
    undecodable = src.counters.get("undecodable", 0)
    if undecodable:
        print(f"cuekit replay: skipped {undecodable} undecodable messages", file=sys.stderr)
    return 0
