"""Soak test (not CI): `python -m app.daemon.soak --minutes 30` runs `cuekit serve` under the bench's
producer load with a few subscribers, samples the daemon's RSS, and reports growth after warm-up
(goal: under 5 %), with a plot.

    python -m app.daemon.soak --minutes 30 --json --plot docs/img/daemon_soak_rss.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.daemon.bench import DaemonProcess, Options, _producer_process, _subscriber


@dataclass
class Result:
    minutes: float
    subscribers: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, RSS MB)
    rss_mb_after_warmup: float = 0.0
    rss_mb_end: float = 0.0
    rss_mb_max: float = 0.0
    growth_percent: float = 0.0
    intents_published: int = 0
    intents_received_min: int = 0
    dropped_out: int = 0
    dropped_in: int = 0
    cpu_percent_of_one_core: float = 0.0


async def _soak(minutes: float, subscribers: int, every_s: float, warmup_s: float) -> Result:
    d = DaemonProcess()
    res = Result(minutes=minutes, subscribers=subscribers)
    try:
        stop = asyncio.Event()
        subs = [{} for _ in range(subscribers)]
        tasks = [asyncio.create_task(_subscriber(d.url, stop, s)) for s in subs]
        await asyncio.sleep(1.0)
        seconds = minutes * 60
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        prod = ctx.Process(target=_producer_process, args=(d.url, Options(seconds=seconds), q))
        t0 = time.monotonic()
        cpu0 = d.cpu_seconds()
        prod.start()
        next_print = t0
        while prod.is_alive():
            t = time.monotonic() - t0
            res.samples.append((round(t, 1), round(d.rss_mb(), 2)))
            if time.monotonic() >= next_print:
                next_print += 60
                print(f"soak: {t / 60:.1f}/{minutes:.0f} min, RSS {res.samples[-1][1]:.1f} MB", file=sys.stderr)
            await asyncio.sleep(every_s)
        q.get(timeout=10)
        res.cpu_percent_of_one_core = round(100 * (d.cpu_seconds() - cpu0) / (time.monotonic() - t0), 1)
        await asyncio.sleep(1.0)
        m = d.metrics()
        stop.set()
        await asyncio.gather(*tasks)
        res.intents_published = m["intents"]["published"]
        res.intents_received_min = min(len(s["ids"]) for s in subs) if subs else 0
        res.dropped_out, res.dropped_in = m["dropped"]["out"], m["dropped"]["in"]
    finally:
        d.stop()
    after = [r for t, r in res.samples if t >= warmup_s] or [r for _, r in res.samples]
    res.rss_mb_after_warmup = after[0]
    res.rss_mb_end = after[-1]
    res.rss_mb_max = max(after)
    res.growth_percent = round(100 * (res.rss_mb_end - res.rss_mb_after_warmup) / res.rss_mb_after_warmup, 2)
    return res


def plot(res: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] / 60 for s in res.samples]
    r = [s[1] for s in res.samples]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(t, r, lw=1.2)
    ax.axhline(res.rss_mb_after_warmup * 1.05, color="r", ls="--", lw=0.8, label="+5 % of post-warm-up RSS")
    ax.set_xlabel("minutes")
    ax.set_ylabel("daemon RSS (MB)")
    ax.set_title(
        f"cuekit serve soak: {res.minutes:g} min, 30 fps video + 16 kHz audio + 200 Hz IMU, "
        f"{res.subscribers} subscribers",
        fontsize=8,
    )
    ax.set_ylim(0, max(r) * 1.2)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m app.daemon.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--subscribers", type=int, default=10)
    p.add_argument("--every", type=float, default=2.0, help="RSS sampling period, seconds")
    p.add_argument("--warmup", type=float, default=60.0, help="seconds before the RSS baseline is taken")
    p.add_argument("--plot", type=Path, help="save an RSS plot (PNG)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    res = asyncio.run(_soak(args.minutes, args.subscribers, args.every, args.warmup))
    if args.plot:
        plot(res, args.plot)
    summary = {k: v for k, v in asdict(res).items() if k != "samples"}
    print(json.dumps(summary) if args.json else summary)
    return 0 if res.growth_percent < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
