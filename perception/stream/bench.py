"""`cuekit bench pipeline`: throughput of the stream runtime against a plain loop, in the same run.

A 3-stage pipeline (source -> stage -> stage -> sink, each in its own thread, bounded BLOCK queues)
moves N audio-sized items; the baseline calls the same functions in one plain Python loop. The ratio
(pipeline items/s / loop items/s) is the runtime's cost: with no work per item it is pure queue and
thread hand-over overhead; with realistic per-item work (`--work`, a 512-sample numpy filter) it shows
how much of that overhead remains once stages do something; `fan_in_idle` adds two silent live
inputs to the first stage (as a fusion stage has), which must not slow the busy one.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import numpy as np

from perception.stream.clock import ReplayClock
from perception.stream.pipeline import Pipeline
from perception.stream.stage import CallbackSink, FunctionStage, Source


class _Items(Source):
    def __init__(self, items: list[np.ndarray]) -> None:
        super().__init__("source")
        self.items = items

    def run(self, emit, stop) -> None:
        for it in self.items:
            if stop.is_set():
                return
            emit(it)


def _work(reps: int):
    kernel = np.array([0.25, 0.5, 0.25], np.float32)

    def f(x: np.ndarray) -> np.ndarray:
        for _ in range(reps):
            x = np.convolve(x, kernel, mode="same")
        return x

    return f


def run_pipeline(items: list[np.ndarray], reps: int) -> float:
    f = _work(reps)
    count = [0]
    pipe = Pipeline(clock=ReplayClock(), name="bench")
    src = pipe.add(_Items(items))
    a = pipe.add(FunctionStage(f, name="stage1"), inputs=[src])
    b = pipe.add(FunctionStage(f, name="stage2"), inputs=[a])
    pipe.add(CallbackSink(lambda x: count.__setitem__(0, count[0] + 1), name="sink"), inputs=[b])
    t0 = time.perf_counter()
    pipe.start()
    pipe.wait()
    dt = time.perf_counter() - t0
    pipe.stop()
    if count[0] != len(items):
        raise RuntimeError(f"pipeline delivered {count[0]} of {len(items)} items")
    return len(items) / dt


class _Idle(Source):
    """A live input with nothing to say (a UDP port nobody sends to)."""

    def run(self, emit, stop) -> None:
        stop.wait()


def run_fan_in(items: list[np.ndarray], reps: int) -> float:
    """One busy and two idle inputs into one stage: idle inputs must not slow the busy one."""
    f = _work(reps)
    count = [0]
    done = threading.Event()

    def sink(x) -> None:
        count[0] += 1
        if count[0] == len(items):
            done.set()

    pipe = Pipeline(clock=ReplayClock(), name="bench-fan-in")
    src = pipe.add(_Items(items))
    idle = [pipe.add(_Idle(f"idle{i}")) for i in range(2)]
    a = pipe.add(FunctionStage(f, name="stage1"), inputs=[src, *idle])
    b = pipe.add(FunctionStage(f, name="stage2"), inputs=[a])
    pipe.add(CallbackSink(sink, name="sink"), inputs=[b])
    t0 = time.perf_counter()
    pipe.start()
    done.wait(120)
    dt = time.perf_counter() - t0
    pipe.stop()
    if count[0] != len(items):
        raise RuntimeError(f"fan-in pipeline delivered {count[0]} of {len(items)} items")
    return len(items) / dt


def run_loop(items: list[np.ndarray], reps: int) -> float:
    f = _work(reps)
    count = 0
    t0 = time.perf_counter()
    for it in items:
        f(f(it))
        count += 1
    return len(items) / (time.perf_counter() - t0)


def _plot(result: dict, labels: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(labels))
    pipe = [result[k]["pipeline_items_per_s"] for k in labels]
    loop = [result[k]["loop_items_per_s"] for k in labels]
    ax.bar(x - 0.2, loop, 0.4, label="plain loop")
    ax.bar(x + 0.2, pipe, 0.4, label="3-stage pipeline")
    for i, k in enumerate(labels):
        ax.annotate(
            f"x{result[k]['ratio_pipeline_vs_loop']:.2f}", (x[i] + 0.2, pipe[i]), ha="center", va="bottom", fontsize=8
        )
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_ylabel("items / s")
    ax.set_title("stream runtime throughput vs a plain loop (same run)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}", file=sys.stderr)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cuekit bench pipeline", description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--work", type=int, default=20, help="numpy filter passes per item and stage (realistic case)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs each")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plot", metavar="PNG", help="also save a bar chart of the three cases")
    args = ap.parse_args(argv)
    items = [np.random.default_rng(i).normal(size=512).astype(np.float32) for i in range(args.items)]
    result: dict[str, Any] = {"items": args.items, "stages": 3}
    cases = (
        ("overhead", run_pipeline, 0, args.items),
        ("with_work", run_pipeline, args.work, args.items // 10),
        ("fan_in_idle", run_fan_in, 0, args.items),
    )
    for label, runner, reps, n in cases:
        sub = items[: max(1, n)]
        pipe = max(runner(sub, reps) for _ in range(args.repeat))
        loop = max(run_loop(sub, reps) for _ in range(args.repeat))
        result[label] = {
            "items": n,
            "work_passes": reps,
            "pipeline_items_per_s": round(pipe, 1),
            "loop_items_per_s": round(loop, 1),
            "ratio_pipeline_vs_loop": round(pipe / loop, 4),
            "overhead_us_per_item": round((1 / pipe - 1 / loop) * 1e6, 2),
        }
        print(
            f"{label}: pipeline {pipe:,.0f} items/s, plain loop {loop:,.0f} items/s, ratio {pipe / loop:.3f}",
            file=sys.stderr,
        )
    if args.plot:
        _plot(result, [c[0] for c in cases], args.plot)
    if args.json:
        print(json.dumps(result))
    else:
        for label, *_ in cases:
            r = result[label]
            print(
                f"{label:<10} pipeline {r['pipeline_items_per_s']:>12,.0f}/s  "
                f"loop {r['loop_items_per_s']:>12,.0f}/s  "
                f"ratio {r['ratio_pipeline_vs_loop']:.3f}  (+{r['overhead_us_per_item']} us/item)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
