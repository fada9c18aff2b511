"""What committing a static pose early costs: latency against false activations, per commit rule.

    python -m perception.hands.static_commit_eval [--json] [--transitions 300] [--plot docs/img/x.png]

Sequences from the project's kinematic hand model (`synth.py`), 30 frames a second: a hand holds pose A,
morphs into pose B over 100-300 ms (or B appears from nothing, as when a hand enters the view), then
holds B. Every frame goes through the real `HandGestureRecognizer` (the trained ONNX classifier). A
commit of any label other than A or B is a false activation (a pose the user passed through); latency
is from the first frame at which B is fully formed to B's commit. B not committed at all is a miss.
The classifier was trained on other seeds of the same model (train_gestures.py), and the rule
parameters are not tuned on these sequences: they are reported for the candidate rules below.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from perception.hands import synth
from perception.hands.gestures import HandGestureOptions, HandGestureRecognizer
from perception.stream.types import HandLandmarks

HZ = 30.0
MS = 1_000_000
POSES = ("open_palm", "fist", "point", "thumbs_up", "thumbs_down", "victory")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    min_static_ms: float
    min_static_frames: int
    stable_confidence: float | None


RULES = (
    Rule("fixed 100 ms (before)", 100.0, 2, None),
    Rule("stable 2 frames >= 0.9 (default)", 100.0, 2, 0.9),
    Rule("stable 2 frames >= 0.8", 100.0, 2, 0.8),
    Rule("stable 3 frames >= 0.9", 100.0, 3, 0.9),
    Rule("first frame >= 0.9", 100.0, 1, 0.9),
)


def _pose_pair(a: str, b: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses a and b of one hand model and a random in-between shape (fingers moving at different
    speeds), placed identically (same camera view, same roll)."""
    opt = synth.SynthOptions()
    model = synth.HandModel(rng, opt.bone_jitter)
    la = synth._canonical(a, model, rng, opt.angle_jitter)
    lb = synth._canonical(b, model, rng, opt.angle_jitter)
    states = "".join(rng.choice(list("TFH"))) + "".join(rng.choice(list("ECH"), 4))
    lm_mid = synth._pose_from_states(model, rng, states, opt.angle_jitter)
    for _ in range(500):  # a view in which a thumbs pose really points up (or down), as synth.sample demands
        seed, roll = int(rng.integers(2**31)), float(rng.uniform(-np.pi, np.pi))
        pa = synth._place(la, np.random.default_rng(seed), opt, roll)
        pb = synth._place(lb, np.random.default_rng(seed), opt, roll)
        if _thumb_ok(a, pa) and _thumb_ok(b, pb):
            return pa, pb, synth._place(lm_mid, np.random.default_rng(seed), opt, roll)
    raise RuntimeError(f"no common view for {a} and {b}")  # pragma: no cover


def _thumb_ok(cls: str, lm: np.ndarray) -> bool:
    c = synth._thumb_vertical(lm)
    return {"thumbs_up": c >= 0.75, "thumbs_down": c <= -0.75}.get(cls, True)


def make_sequences(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a, b = rng.choice(len(POSES), 2, replace=False)
        while {POSES[a], POSES[b]} == {"thumbs_up", "thumbs_down"}:  # one shape: only a turn tells them apart
            a, b = rng.choice(len(POSES), 2, replace=False)
        pa, pb, mid = _pose_pair(POSES[a], POSES[b], rng)
        via_mid = bool(rng.random() < 0.5)
        morph_ms = float(rng.choice([0.0, 100.0, 200.0, 300.0])) if k % 4 else 0.0
        frames = []
        t = 0.0
        noise = 0.03 * float(np.linalg.norm(pa[9, :2] - pa[0, :2]))  # tracking noise: 3% of the palm

        def jitter(noise: float = noise) -> np.ndarray:
            return rng.normal(0, noise, (21, 3)) * np.array([1, 1, 0.3])

        if morph_ms > 0:
            for _ in range(int(0.3 * HZ)):
                frames.append((t, pa + jitter()))
                t += 1000 / HZ
        n_morph = round(morph_ms / 1000 * HZ)
        for i in range(n_morph):
            u = 0.5 - 0.5 * np.cos(np.pi * (i + 1) / (n_morph + 1))
            if via_mid:  # a -> in-between shape -> b
                lm = pa + (mid - pa) * (2 * u) if u < 0.5 else mid + (pb - mid) * (2 * u - 1)
            else:
                lm = pa + (pb - pa) * u
            frames.append((t, lm + jitter()))
            t += 1000 / HZ
        formed = t
        for _ in range(int(0.6 * HZ)):
            frames.append((t, pb + jitter()))
            t += 1000 / HZ
        out.append(
            {
                "a": POSES[a] if morph_ms > 0 else None,
                "b": POSES[b],
                "morph_ms": morph_ms,
                "formed_ms": formed,
                "frames": frames,
            }
        )
    return out


def run_rule(rule: Rule, seqs: list[dict]) -> dict:
    opts = HandGestureOptions(
        min_static_ms=rule.min_static_ms,
        min_static_frames=rule.min_static_frames,
        stable_confidence=rule.stable_confidence,
        emit_dynamic=False,
    )
    rec = HandGestureRecognizer(opts)
    lat, false_acts, missed = [], 0, 0
    for s in seqs:
        rec.flush(0)
        seen_b = None
        for t, lm in s["frames"]:
            hand = HandLandmarks(image_xyz=lm.astype(np.float32), t_capture_ns=int(t * MS), track_id=1)
            for o in rec.update(int(t * MS), [hand]).observations:
                if o.kind == s["b"] and seen_b is None and t >= s["formed_ms"] - 1e-6:
                    seen_b = t
                elif o.kind not in (s["a"], s["b"]):
                    false_acts += 1
                elif o.kind == s["b"] and seen_b is None:
                    seen_b = t  # committed on the way (the morph already looked like b)
        rec.update(s["frames"][-1][0] * MS + 500 * MS, [])
        if seen_b is None:
            missed += 1
        else:
            lat.append(seen_b - s["formed_ms"])
    a = np.asarray(lat) if lat else np.zeros(1)
    return {
        "rule": rule.name,
        "n": len(seqs),
        "latency_p50_ms": round(float(np.percentile(a, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(a, 95)), 1),
        "missed": missed,
        "false_activations": false_acts,
        "false_per_100_transitions": round(100.0 * false_acts / max(len(seqs), 1), 1),
    }


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        ax.scatter(r["latency_p95_ms"], r["false_per_100_transitions"], s=40)
        ax.annotate(
            r["rule"],
            (r["latency_p95_ms"], r["false_per_100_transitions"]),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("pose formed -> committed, p95 (ms, 30 Hz frames)")
    ax.set_ylabel("false activations per 100 transitions")
    ax.set_title("Static-pose commit rules on synthetic pose transitions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m perception.hands.static_commit_eval", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--transitions", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--plot")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.transitions < 1:
        print("static_commit_eval: --transitions must be >= 1", file=sys.stderr)
        return 2
    seqs = make_sequences(a.transitions, a.seed)
    rows = []
    for rule in RULES:
        rows.append(run_rule(rule, seqs))
        if not a.json:
            r = rows[-1]
            print(
                f"{r['rule']:<34} latency p50 {r['latency_p50_ms']:>6} p95 {r['latency_p95_ms']:>6} ms   "
                f"false {r['false_per_100_transitions']:>5} /100   missed {r['missed']}",
                flush=True,
            )
    if a.plot:
        plot(rows, a.plot)
    if a.json:
        print(json.dumps({"target": "static_commit", "seed": a.seed, "transitions": a.transitions, "rules": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
