"""`cuekit eval fusion --scenarios DIR [--json] [--plot PNG]`: run every scenario through the engine.

Reports pass/fail per scenario (with the reasons), latency per intent kind (p50/p95 of first evidence
-> emitted, and of last evidence -> emitted), engine counters summed over scenarios, and which
scenario tags (combinators, deixis, duplicates, ...) were covered.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

import assets
from fusion.scenario import ScenarioResult, load_scenario, resolve_spec, run_scenario, scenario_files
from fusion.schemas import validate
from fusion.spec import SpecError

log = logging.getLogger("cuekit.fusion.eval")
DEFAULT_DIR = assets.path("scenarios")


@dataclass(slots=True)
class EvalOptions:
    scenarios: Path = DEFAULT_DIR
    only: str | None = None  # substring of scenario names


@dataclass(slots=True)
class EvalResult:
    results: list[ScenarioResult]
    errors: list[str] = field(default_factory=list)  # scenarios that could not be loaded

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    def latency_table(self) -> dict[str, dict[str, float]]:
        """Per intent name and per kind (gesture/speech): p50/p95 latencies in ms."""
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.results:
            for lat in r.latencies:
                by[lat["name"]].append(lat)
                by[f"kind:{lat['kind']}"].append(lat)
        out = {}
        for k, lst in sorted(by.items()):
            a = np.array([x["latency_ms"] for x in lst])
            b = np.array([x["after_last_evidence_ms"] for x in lst])
            c = np.array([x["decision_ms"] for x in lst])
            out[k] = {
                "n": len(lst),
                "p50_ms": float(np.percentile(a, 50)),
                "p95_ms": float(np.percentile(a, 95)),
                "after_end_p50_ms": float(np.percentile(b, 50)),
                "after_end_p95_ms": float(np.percentile(b, 95)),
                "decision_p50_ms": float(np.percentile(c, 50)),
                "decision_p95_ms": float(np.percentile(c, 95)),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        stats: dict[str, Any] = defaultdict(int)
        waits: dict[str, dict[str, Any]] = {}
        tags: dict[str, int] = defaultdict(int)
        for r in self.results:
            for k, v in r.stats.items():
                if k == "waits":
                    for name, w in v.items():
                        _merge_wait(
                            waits.setdefault(name, {"n": 0, "waited": 0, "total_ms": 0.0, "max_ms": 0.0, "for": {}}), w
                        )
                else:
                    stats[k] += v
            for t in r.tags:
                tags[t] += 1
        stats["waits"] = waits
        return {
            "target": "fusion",
            "n_scenarios": len(self.results) + len(self.errors),
            "passed": self.passed,
            "failed": len(self.results) - self.passed + len(self.errors),
            "scenarios": [
                {
                    "name": r.name,
                    "path": r.path,
                    "passed": r.passed,
                    "problems": r.problems,
                    "tags": r.tags,
                    "intents": [e.name for e in r.events],
                }
                for r in self.results
            ],
            "load_errors": self.errors,
            "latency": self.latency_table(),
            "engine_stats": dict(stats),
            "push_ms": _pcts([x for r in self.results for x in r.push_ms]),
            "tags": dict(tags),
        }


def _merge_wait(into: dict[str, Any], w: dict[str, Any]) -> None:
    into["n"] += w["n"]
    into["waited"] += w["waited"]
    into["total_ms"] = round(into["total_ms"] + w["total_ms"], 1)
    into["max_ms"] = max(into["max_ms"], w["max_ms"])
    for k, n in w["for"].items():
        into["for"][k] = into["for"].get(k, 0) + n


def _pcts(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    a = np.array(xs)
    return {"n": len(xs), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "max": float(a.max())}


def evaluate(options: EvalOptions) -> EvalResult:
    files = scenario_files(options.scenarios)
    results: list[ScenarioResult] = []
    errors: list[str] = []
    cache: dict = {}
    for i, f in enumerate(files):
        try:
            sc = load_scenario(f)
            if options.only and options.only not in sc.name:
                continue
            spec = resolve_spec(sc, cache)
        except SpecError as exc:
            errors.append(str(exc))
            print(f"[{i + 1}/{len(files)}] {f.name}: LOAD ERROR {exc}", file=sys.stderr)
            continue
        r = run_scenario(sc, spec)
        for ev in r.events:  # what the engine emits must match the published schema
            try:
                validate("intent_event", ev.to_json())
            except jsonschema.ValidationError as exc:
                r.passed = False
                r.problems.append(f"{ev.name} violates intent_event schema: {exc.message}")
        results.append(r)
        print(
            f"[{i + 1}/{len(files)}] {'PASS' if r.passed else 'FAIL'} {sc.name}"
            + ("" if r.passed else ": " + "; ".join(r.problems)),
            file=sys.stderr,
        )
    return EvalResult(results, errors)


def plot_latency(res: EvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = {k: v for k, v in res.latency_table().items() if not k.startswith("kind:")}
    names = list(table)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(names))
    w = 0.27
    ax.bar(
        x - w,
        [table[n]["after_end_p95_ms"] for n in names],
        w,
        label="p95 end of last evidence -> emitted (incl. simulated recogniser delay)",
    )
    ax.bar(x, [table[n]["decision_p50_ms"] for n in names], w, label="p50 arrival of last evidence -> emitted")
    ax.bar(x + w, [table[n]["decision_p95_ms"] for n in names], w, label="p95 arrival of last evidence -> emitted")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("ms")
    ax.set_title(f"fusion scenarios: {res.passed}/{len(res.results)} pass; latency per intent")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_timeline(res: ScenarioResult, sc_path: Path, path: Path) -> None:
    """One scenario on a time axis: evidence spans per modality, arrivals, spoken words, intents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fusion.scenario import load_scenario

    sc = load_scenario(sc_path)
    rows = ["speech", "hand", "wrist", "gaze", "context"]
    used = [r for r in rows if any(t.obs.modality == r for t in sc.observations)]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.8 * (len(used) + 1)))
    y = {r: i for i, r in enumerate(used)}
    for t in sc.observations:
        o = t.obs
        yy = y.get(o.modality, 0)
        t0, t1 = o.t_start_ns / 1e6, o.t_end_ns / 1e6
        ax.barh(yy, max(t1 - t0, 8), left=t0, height=0.5, alpha=0.6)
        ax.plot([t.arrive_ns / 1e6], [yy], marker="v", color="k", ms=5)
        ax.text(t0, yy + 0.3, f"{t.label}: {o.kind}", fontsize=7)
        for w in o.payload.get("words") or []:
            ax.text(w["t_start_ns"] / 1e6, yy - 0.45, w["word"], fontsize=8, color="navy")
    top = len(used)
    for ev in res.events:
        te = ev.t_emitted_ns / 1e6
        ax.axvline(te, color="crimson", lw=1)
        ax.text(te, top - 0.2, f" {ev.name}{ev.slots}", fontsize=8, color="crimson")
    right = max([t.arrive_ns / 1e6 for t in sc.observations] + [e.t_emitted_ns / 1e6 for e in res.events])
    ax.set_xlim(min(t.obs.t_start_ns / 1e6 for t in sc.observations) - 100, right + 900)
    ax.set_yticks(range(len(used)), used)
    ax.set_ylim(-0.8, top + 0.3)
    ax.set_xlabel("ms (bars: evidence spans; triangles: arrival at fusion; red: intent emitted)")
    ax.set_title(f"scenario {sc.name}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def trace_watermarks(sc_path: Path) -> dict[str, Any]:
    """Replay one scenario tick by tick, recording each modality's watermark against the engine's time."""
    from fusion.engine import FusionEngine
    from fusion.scenario import load_scenario, resolve_spec
    from perception.context.scene import Scene

    sc = load_scenario(sc_path)
    engine = FusionEngine(resolve_spec(sc), Scene.from_json({"targets": sc.scene}))
    arrivals = sorted(sc.observations, key=lambda t: (t.arrive_ns, t.obs.t_end_ns))
    mods = sorted({t.obs.modality for t in arrivals})
    t, end = 0, max(t.arrive_ns for t in arrivals) + 300 * 1_000_000
    trace: dict[str, list[tuple[float, float]]] = {m: [] for m in mods}
    events, i = [], 0
    while t <= end:
        while i < len(arrivals) and arrivals[i].arrive_ns <= t:
            events += engine.push(arrivals[i].obs, now_ns=arrivals[i].arrive_ns)
            i += 1
        events += engine.advance(t)
        for m in mods:
            w = engine.marks.watermark(m, t)
            trace[m].append((t / 1e6, min(w, t) / 1e6))
        t += 5 * 1_000_000
    return {"scenario": sc, "trace": trace, "events": events, "stats": engine.stats}


def plot_watermarks(sc_paths: list[Path], path: Path) -> None:
    """Evidence time against the engine's time, one panel per scenario: each stream's watermark, the
    observations (a vertical span at their arrival), and each intent at the moment it was decided."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "hand": "tab:orange",
        "gaze": "tab:green",
        "speech": "tab:blue",
        "wrist": "tab:purple",
        "context": "tab:gray",
    }
    fig, axes = plt.subplots(1, len(sc_paths), figsize=(6.2 * len(sc_paths), 5.2), squeeze=False)
    for ax, scp in zip(axes[0], sc_paths, strict=True):
        tr = trace_watermarks(scp)
        sc = tr["scenario"]
        lo = min(t.obs.t_start_ns for t in sc.observations) / 1e6 - 150
        hi = max(x for pts in tr["trace"].values() for x, _ in pts)
        for m, pts in tr["trace"].items():
            xs = [x for x, _ in pts if x >= lo]
            ys = [max(y, lo) for x, y in pts if x >= lo]
            ax.step(xs, ys, where="post", color=colours.get(m, "k"), lw=1.6, label=f"{m} watermark")
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6, ls=":", label="now (evidence = arrival)")
        for t in sc.observations:
            o = t.obs
            if o.modality == "gaze" and o.kind == "point":
                ax.plot([t.arrive_ns / 1e6], [o.t_end_ns / 1e6], ".", color=colours["gaze"], ms=4)
                continue
            x = t.arrive_ns / 1e6
            ax.plot(
                [x, x],
                [o.t_start_ns / 1e6, o.t_end_ns / 1e6],
                color=colours.get(o.modality, "k"),
                lw=5,
                alpha=0.5,
                solid_capstyle="butt",
            )
            ax.text(x, o.t_end_ns / 1e6 + 15, f" {t.label}: {o.kind}", fontsize=7, rotation=0)
        for ev in tr["events"]:
            te = ev.t_emitted_ns / 1e6
            ax.axvline(te, color="crimson", lw=1)
            ax.text(te, lo + 40, f" {ev.name} {ev.slots or ''}", fontsize=8, color="crimson", rotation=90, va="bottom")
        waits = {k: v for k, v in tr["stats"].waits.items() if v["waited"]}
        note = "; ".join(f"{k} waited {v['max_ms']:.0f} ms for {', '.join(v['for'])}" for k, v in waits.items())
        st = tr["stats"]
        extra = [
            f"{n} {what}"
            for n, what in (
                (st.group_suppressed, "suppressed (exclusive group)"),
                (st.degenerate_refused, "refused (degenerate slots)"),
                (st.late_dropped, "dropped late"),
            )
            if n
        ]
        ax.set_title(f"{sc.name}\n{'; '.join([note or 'no intent waited'] + extra)}", fontsize=9)
        ax.set_xlabel("engine time: arrival at fusion (ms)")
        ax.set_ylabel("evidence time (ms)")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cuekit eval fusion", description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=Path, default=DEFAULT_DIR, help="folder of scenario files")
    ap.add_argument("--only", help="run scenarios whose name contains this")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--plot", type=Path, help="save a latency plot (PNG)")
    ap.add_argument(
        "--timeline", nargs=2, metavar=("SCENARIO", "PNG"), help="save a timeline plot of the scenario with this name"
    )
    ap.add_argument(
        "--watermarks",
        nargs="+",
        metavar="ARG",
        help="SCENARIO [SCENARIO ...] PNG: plot the streams' watermarks of these scenarios",
    )
    args = ap.parse_args(argv)
    if not args.scenarios.is_dir():
        print(f"cuekit eval fusion: no such folder: {args.scenarios}", file=sys.stderr)
        return 2
    logging.getLogger("cuekit.fusion").setLevel(logging.WARNING)
    res = evaluate(EvalOptions(args.scenarios, args.only))
    if args.plot:
        plot_latency(res, args.plot)
    if args.timeline:
        match = [r for r in res.results if r.name == args.timeline[0]]
        if not match:
            print(f"cuekit eval fusion: no scenario named {args.timeline[0]!r}", file=sys.stderr)
            return 2
        plot_timeline(match[0], Path(match[0].path), Path(args.timeline[1]))
    if args.watermarks:
        *names, png = args.watermarks
        by_name = {r.name: Path(r.path) for r in res.results}
        missing = [n for n in names if n not in by_name]
        if not names or missing:
            print(
                f"cuekit eval fusion: --watermarks needs scenario names then a PNG (unknown: {missing})",
                file=sys.stderr,
            )
            return 2
        plot_watermarks([by_name[n] for n in names], Path(png))
    out = res.to_json()
    if args.json:
        print(json.dumps(out))
    else:
        for s in out["scenarios"]:
            print(f"{'PASS' if s['passed'] else 'FAIL'}  {s['name']:<40} {', '.join(s['intents'])}")
            for p in s["problems"]:
                print(f"      - {p}")
        for e in out["load_errors"]:
            print(f"ERROR {e}")
        print(
            f"\n{out['passed']}/{out['n_scenarios']} scenarios pass; engine.push wall time "
            f"p50 {out['push_ms'].get('p50', 0):.2f} ms, p95 {out['push_ms'].get('p95', 0):.2f} ms"
        )
        print(
            f"{'intent':<22}{'n':>4}{'p50':>9}{'p95':>9}{'end p50':>10}{'end p95':>10}"
            f"{'dec p50':>10}{'dec p95':>10}  (ms)"
        )
        for k, v in out["latency"].items():
            print(
                f"{k:<22}{v['n']:>4}{v['p50_ms']:>9.0f}{v['p95_ms']:>9.0f}{v['after_end_p50_ms']:>10.0f}"
                f"{v['after_end_p95_ms']:>10.0f}{v['decision_p50_ms']:>10.0f}{v['decision_p95_ms']:>10.0f}"
            )
    return 0 if out["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
