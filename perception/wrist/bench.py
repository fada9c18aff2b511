"""Wrist recogniser cost: how much faster than real time the streaming path runs, per stage, against
the conditioner alone as the baseline measured in the same run.

    python -m perception.wrist.bench [--json]      (proposed target: `cuekit bench wrist`)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import assets
from perception.wrist.conditioning import Conditioner
from perception.wrist.recognizer import WristGestures, WristOptions
from perception.wrist.synthetic import Scene, SimEvent, render, split

REPO = Path(__file__).resolve().parents[2]


def _time(make, batches) -> float:
    best = float("inf")
    for _ in range(3):
        obj = make()
        t0 = time.perf_counter()
        for b in batches:
            obj.push(b)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perception.wrist.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    kinds = ["tap", "double_tap", "flick_left", "twist_cw", "shake"] * int(args.seconds // 10 + 1)
    events = [SimEvent(k, 1.0 + 2.0 * i) for i, k in enumerate(kinds) if 1 + 2 * i < args.seconds - 2]
    scene = Scene(args.seconds, events)
    model = assets.path("wrist", "wand_cnn.onnx")
    out: dict = {"stream_seconds": args.seconds}
    for rate in (100, 1000):
        batches = split(render(scene, rate), max(1, rate // 50))  # a batch every 20 ms, as a live source
        base = _time(Conditioner, batches)
        rules = _time(WristGestures, batches)
        row = {
            "conditioner_x_realtime": args.seconds / base,
            "rules_x_realtime": args.seconds / rules,
            "rules_vs_conditioner": rules / base,
        }
        if model.is_file():
            learned = _time(lambda: WristGestures(WristOptions(model_path=model)), batches)
            row.update(
                {"rules_and_cnn_x_realtime": args.seconds / learned, "rules_and_cnn_vs_conditioner": learned / base}
            )
        out[f"{rate}hz"] = {k: round(v, 2) for k, v in row.items()}
        print(f"[bench wrist] {rate} Hz: {out[f'{rate}hz']}", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(k, v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
