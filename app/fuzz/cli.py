"""`cuekit fuzz TARGET|all --seconds N`: feed mutated inputs to a parser and report inputs tried, crashes
(exceptions other than the parser's own refusal), hangs (one input over --timeout) and peak RSS.

    cuekit fuzz mcap --seconds 60
    nice -n 10 cuekit fuzz all --seconds 600 --json     # the time split evenly, one process per target

Crashing inputs are saved under --crash-dir (default ./fuzz-crashes/TARGET/) to reproduce. Exit status 1
when anything crashed or hung, else 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path


class Hang(Exception):
    """One input ran past the per-input time limit."""


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux: VmHWM of its own address space, because ru_maxrss carries the high
    water mark of the process it was exec'd from (a fuzz run started by a big test runner)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def fuzz(
    target_name: str,
    seconds: float,
    seed: int = 0,
    timeout_s: float = 5.0,
    crash_dir: Path | None = None,
    max_inputs: int | None = None,
    progress: bool = False,
) -> dict:
    """Run one target in this process; the report as a dict."""
    from app.fuzz import targets
    from app.fuzz.mutate import Mutator

    # parsers log what they detect and skip; a million inputs would log a million lines
    logging.getLogger().setLevel(logging.ERROR)
    t = targets.all_targets()[target_name]
    seeds = t.corpus()
    mut = Mutator(seeds, t.tokens, seed=seed, max_len=t.max_len)

    def on_alarm(signum, frame):
        raise Hang(f"one input ran over {timeout_s} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    tried = refused = 0
    crashes: dict[str, dict] = {}
    hangs = 0
    t0 = time.monotonic()
    slowest = 0.0
    next_report = t0 + 10
    try:
        i = 0
        while time.monotonic() - t0 < seconds and (max_inputs is None or tried < max_inputs):
            data = seeds[i] if i < len(seeds) else mut.next()  # every seed once, unmutated, first
            i += 1
            t1 = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                t.run(data)
            except t.expected:
                refused += 1
            except Hang as exc:
                hangs += 1
                _record(crashes, target_name, data, exc, crash_dir, "hang")
            except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - that is what we look for
                _record(crashes, target_name, data, exc, crash_dir, "crash")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.monotonic() - t1)
            tried += 1
            if progress and time.monotonic() > next_report:
                next_report += 10
                print(
                    f"  {target_name}: {tried} inputs, {len(crashes)} distinct failures, "
                    f"peak RSS {peak_rss_mb():.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        signal.signal(signal.SIGALRM, old)
        targets.cleanup()
    n_crash = sum(c["count"] for c in crashes.values() if c["kind"] == "crash")
    return {
        "target": target_name,
        "seconds": round(time.monotonic() - t0, 1),
        "inputs": tried,
        "refused": refused,
        "accepted": tried - refused - n_crash - hangs,
        "crashes": n_crash,
        "hangs": hangs,
        "distinct_failures": list(crashes.values())[:10],
        "slowest_input_s": round(slowest, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "seeds": len(seeds),
        "seed": seed,
    }


def _record(crashes: dict, target: str, data: bytes, exc: BaseException, crash_dir: Path | None, kind: str) -> None:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
    key = f"{type(exc).__name__}@{where}"
    c = crashes.setdefault(
        key,
        {"kind": kind, "error": f"{type(exc).__name__}: {str(exc)[:200]}", "where": where, "count": 0, "input": None},
    )
    c["count"] += 1
    if crash_dir is not None and c["input"] is None:
        d = crash_dir / target
        d.mkdir(parents=True, exist_ok=True)
        p = d / hashlib.sha1(data).hexdigest()[:16]
        p.write_bytes(data)
        c["input"] = str(p)


def _run_all(names: list[str], seconds: float, args: argparse.Namespace) -> list[dict]:
    """One subprocess per target, so each peak RSS is its own."""
    share = seconds / len(names)
    reports = []
    for name in names:
        cmd = [
            sys.executable,
            "-m",
            "app.fuzz.cli",
            name,
            "--seconds",
            f"{share:g}",
            "--seed",
            str(args.seed),
            "--timeout",
            str(args.timeout),
            "--crash-dir",
            str(args.crash_dir),
            "--json",
        ]
        if not args.json:
            print(f"fuzzing {name} for {share:.0f} s ...", file=sys.stderr, flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:1] + [os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=share + 120)
        try:
            reports.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            reports.append(
                {
                    "target": name,
                    "inputs": 0,
                    "crashes": 1,
                    "hangs": 0,
                    "peak_rss_mb": None,
                    "distinct_failures": [
                        {
                            "kind": "crash",
                            "error": f"fuzzer process exited {proc.returncode}: {proc.stderr.strip()[-300:]}",
                        }
                    ],
                }
            )
    return reports


def format_table(reports: list[dict]) -> str:
    lines = [
        "| target | seconds | inputs | refused | accepted | crashes | hangs | slowest input s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r['target']} | {r.get('seconds', '')} | {r['inputs']:,} | {r.get('refused', 0):,} | "
            f"{r.get('accepted', 0):,} | {r['crashes']} | {r['hangs']} | {r.get('slowest_input_s', '')} | "
            f"{r['peak_rss_mb']} |"
        )
    total = sum(r["inputs"] for r in reports)
    lines.append(
        f"| **all** | {sum(r.get('seconds', 0) for r in reports):.0f} | {total:,} | | | "
        f"{sum(r['crashes'] for r in reports)} | {sum(r['hangs'] for r in reports)} | | "
        f"{max((r['peak_rss_mb'] or 0) for r in reports)} |"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from app.fuzz.targets import all_targets

    names = list(all_targets())
    p = argparse.ArgumentParser(prog="cuekit fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=names + ["all"], help="parser to fuzz, or all of them")
    p.add_argument("--seconds", type=float, default=30.0, help="total time (split evenly for 'all')")
    p.add_argument("--seed", type=int, default=0, help="mutator seed (runs are reproducible)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds one input may take before it is a hang")
    p.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"), help="where failing inputs are saved")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if a.seconds <= 0:
        p.error("--seconds must be > 0")
    if a.target == "all":
        reports = _run_all(names, a.seconds, a)
    else:
        reports = [fuzz(a.target, a.seconds, a.seed, a.timeout, a.crash_dir, progress=not a.json)]
    if a.json:
        out = (
            reports[0]
            if a.target != "all"
            else {
                "targets": reports,
                "inputs": sum(r["inputs"] for r in reports),
                "crashes": sum(r["crashes"] for r in reports),
                "hangs": sum(r["hangs"] for r in reports),
                "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in reports),
            }
        )
        print(json.dumps(out))
    else:
        print(format_table(reports))
        for r in reports:
            for f in r.get("distinct_failures", []):
                print(
                    f"{r['target']}: {f['kind']} x{f.get('count', 1)}: {f['error']} at {f.get('where')} "
                    f"(input {f.get('input')})",
                    file=sys.stderr,
                )
    return 1 if any(r["crashes"] or r["hangs"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
