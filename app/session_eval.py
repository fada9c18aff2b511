"""`cuekit eval session`: a recorded session end to end through the real recognisers and fusion.

Compares the intents with the session's scripted ones (the manifest beside the recording) and reports,
per intent and per kind of last evidence, latency from first evidence to emission and from the end of
the user's act to emission, p50/p95. The act ends where the user has done their part: the release of a
pinch, the end of a swipe or wrist gesture, the end of speech, and for a static pose (thumbs up, fist)
the first frame that showed it, so the pose's confirmation counts. Run in real time (the default) the
latencies include every stage's own delay (VAD hangover, a gesture's confirmation, queueing); with
--fast they are in recorded time and measure only the reporting delays. `fusion_wait` is what fusion
itself held each intent back, and for which stream (its watermark statistics).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from app.assembly import DEFAULT_SPEC, ExtraStage, SourceChoice, assemble, run_to_end
from app.demo_session import DEFAULT_SESSION
from perception.stream import CallbackSink, IntentEvent, Observation

POINTING_KINDS = ("point", "point_hold")
# the last evidence's modality decides what "beyond the evidence" means: the end of speech for speech
GOALS_MS = {"gesture": 40.0, "speech": 250.0}


def run_session(
    session: Path, spec: str, realtime: bool, fusion_stats: dict | None = None
) -> tuple[list[IntentEvent], dict[int, Observation]]:
    """Replay `session` through the demo's pipeline; intents and observations seen. `fusion_stats`, when
    given, receives the fusion engine's statistics (waits per intent and stream, suppressions)."""
    lock = threading.Lock()
    intents: list[IntentEvent] = []
    observations: dict[int, Observation] = {}

    def keep(item: Any) -> None:
        with lock:
            if isinstance(item, IntentEvent):
                intents.append(item)
            elif isinstance(item, Observation):
                observations[item.id] = item

    choice = SourceChoice("session", session, realtime=realtime, label=session.name)
    assembly = assemble(choice, spec, [ExtraStage(CallbackSink(keep, name="collector"), (Observation, IntentEvent))])
    run_to_end(assembly)
    if fusion_stats is not None:
        from fusion.stage import FusionStage

        for node in assembly.graph.nodes.values():
            if isinstance(node.stage, FusionStage) and node.stage.engine is not None:
                eng = node.stage.engine
                fusion_stats.update(eng.stats.to_json())
                fusion_stats["streams"] = eng.marks.to_json(eng.now_ns)
    return intents, observations


def _pct(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs)
    return {"n": len(xs), "p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1)}


def act_end_ns(o: Observation) -> int:
    """When the user's act ended: a static pose is done when first shown; anything else at its end."""
    return o.t_start_ns if o.modality == "hand" and o.payload.get("static") is True else o.t_end_ns


def score(intents: list[IntentEvent], observations: dict[int, Observation], expected: list[dict]) -> dict:
    got = [{"name": e.name, "slots": e.slots} for e in intents]
    matched = 0
    rest = list(got)
    for want in expected:
        for i, g in enumerate(rest):
            if g["name"] == want["name"] and all(g["slots"].get(k) == v for k, v in want["slots"].items()):
                matched += 1
                del rest[i]
                break
    by_intent: dict[str, list[float]] = {}
    by_kind: dict[str, list[float]] = {"gesture": [], "speech": []}
    first: dict[str, list[float]] = {}
    by_modality: dict[str, list[float]] = {}  # the recogniser that reported the end of the act
    rows = []
    for e in intents:
        # the user's act (gesture or speech) ends the evidence; gaze and pointing are context that may
        # continue after it
        ev = [
            observations[i]
            for i in e.derived_from
            if i in observations and observations[i].modality in ("hand", "wrist", "speech")
        ]
        # pointing that deixis used is context too, unless it is all the evidence there is
        acts = [o for o in ev if not (o.modality == "hand" and o.kind in POINTING_KINDS)]
        ev = acts or ev
        last = max(ev, key=act_end_ns) if ev else None
        beyond = (e.t_emitted_ns - act_end_ns(last)) / 1e6 if last is not None else None
        kind = "speech" if last is not None and last.modality == "speech" else "gesture"
        first.setdefault(e.name, []).append(e.latency_ms)
        if beyond is not None:
            by_intent.setdefault(e.name, []).append(beyond)
            by_kind[kind].append(beyond)
            by_modality.setdefault(last.modality, []).append(beyond)
        rows.append(
            {
                "name": e.name,
                "slots": e.slots,
                "modalities": e.modalities,
                "kind": kind,
                "via": None if last is None else f"{last.modality}:{last.kind}",
                "first_evidence_to_emit_ms": round(e.latency_ms, 1),
                "evidence_end_to_emit_ms": None if beyond is None else round(beyond, 1),
                "observation_end_to_emit_ms": None
                if last is None
                else round((e.t_emitted_ns - last.t_end_ns) / 1e6, 1),
            }
        )
    kinds = {k: {**_pct(v), "goal_p95_ms": GOALS_MS[k]} for k, v in by_kind.items()}
    return {
        "expected": len(expected),
        "emitted": len(intents),
        "matched": matched,
        "missed": [w["name"] for w in expected if w["name"] not in [g["name"] for g in got]],
        "unexpected": [g["name"] for g in rest],
        "latency_after_evidence_by_kind": kinds,
        "latency_after_act_by_recogniser": {k: _pct(v) for k, v in sorted(by_modality.items())},
        "latency_after_evidence_by_intent": {k: _pct(v) for k, v in by_intent.items()},
        "latency_first_evidence_by_intent": {k: _pct(v) for k, v in first.items()},
        "intents": rows,
    }


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["intents"] if r["evidence_end_to_emit_ms"] is not None]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    colors = {"speech": "tab:blue", "gesture": "tab:orange"}
    for i, r in enumerate(rows):
        ax.barh(i, r["evidence_end_to_emit_ms"], color=colors[r["kind"]])
    ax.set_yticks(range(len(rows)), [f"{r['name']} ({'+'.join(r['modalities'])})" for r in rows], fontsize=8)
    ax.invert_yaxis()
    for kind, goal in GOALS_MS.items():
        ax.axvline(goal, color=colors[kind], ls="--", lw=1, label=f"{kind} goal p95 {goal:.0f} ms")
    ax.set_xlabel("end of the user's act -> intent emitted (ms)")
    ax.set_title(f"End-to-end on the bundled session: {result['matched']}/{result['expected']} scripted intents")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="cuekit eval session", description=__doc__.split("\n")[0])
    ap.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    ap.add_argument("--spec", default=DEFAULT_SPEC)
    ap.add_argument("--fast", action="store_true", help="as fast as possible (latencies in recorded time)")
    ap.add_argument("--plot", type=Path, help="write a latency bar chart here")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    manifest = a.session.with_suffix(".json")
    if not a.session.is_file() or not manifest.is_file():
        print(f"cuekit eval session: need {a.session} and its manifest {manifest.name}", file=sys.stderr)
        return 2
    expected = json.loads(manifest.read_text())["expected_intents"]
    fusion_stats: dict = {}
    intents, observations = run_session(a.session, a.spec, realtime=not a.fast, fusion_stats=fusion_stats)
    result = {
        "session": str(a.session),
        "realtime": not a.fast,
        **score(intents, observations, expected),
        "fusion": fusion_stats,
    }
    if a.plot:
        plot(result, a.plot)
    if a.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['matched']}/{result['expected']} scripted intents, {result['emitted']} emitted; "
        f"missed {result['missed']}, unexpected {result['unexpected']}"
    )
    for k, v in result["latency_after_evidence_by_kind"].items():
        print(
            f"  {k:<8} end of the act -> emitted: p50 {v.get('p50', '-')} ms, p95 {v.get('p95', '-')} ms "
            f"(goal p95 < {v['goal_p95_ms']:.0f} ms)"
        )
    for k, v in result["latency_after_act_by_recogniser"].items():
        print(f"    by {k:<6} p50 {v.get('p50', '-')} ms, p95 {v.get('p95', '-')} ms (n={v['n']})")
    for r in result["intents"]:
        print(
            f"  {r['name']:<12} {'+'.join(r['modalities']):<12} first evidence {r['first_evidence_to_emit_ms']:>7} ms"
            f"   after the act {r['evidence_end_to_emit_ms']} ms"
        )
    return 0
