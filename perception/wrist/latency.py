"""End of motion -> observation, per wrist gesture family, through the streaming recogniser.

A wrist observation is useful to fusion only if it arrives within the spec's wrist lateness bound
(default_ar: 300 ms after its evidence ends), and issue-level goal is an intent < 40 ms after the act for
the instant gestures. Here the stream is fed one sample per batch (100 Hz: 10 ms resolution) and the
latency of an observation is the data time of the sample that released it minus the time the motion
really ended: known analytically for the simulated rule gestures, and for real learned gestures (FBK
clips of a user the model never saw, placed between rests) the end of the clip as the dataset cut it.
`lateness_ms` is the part fusion checks against its bound: release time minus the observation's own
`t_end_ns`.
"""

from __future__ import annotations

import numpy as np

from perception.stream.types import ImuBatch
from perception.wrist.recognizer import WristGestures, WristOptions
from perception.wrist.synthetic import Scene, SimEvent, render
from perception.wrist.units import G

RULE_FAMILIES: dict[str, tuple[str, ...]] = {
    "tap": ("tap",),
    "double_tap": ("double_tap",),
    "flick": ("flick_left", "flick_right", "flick_up", "flick_down"),
    "twist": ("twist_cw", "twist_ccw"),
    "shake": ("shake",),
    "raise": ("raise",),
}


def _release_times(batch: ImuBatch, options: WristOptions, step: int = 1) -> list[tuple[object, int]]:
    """(observation, data time of the sample whose batch released it)."""
    rec = WristGestures(options)
    out = []
    for i in range(0, len(batch), step):
        b = ImuBatch(
            t_ns=batch.t_ns[i : i + step],
            accel=batch.accel[i : i + step],
            gyro=None if batch.gyro is None else batch.gyro[i : i + step],
        )
        for o in rec.push(b):
            out.append((o, int(b.t_ns[-1])))
    return out


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs)
    return {
        "n": len(xs),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def rule_latency(options: WristOptions | None = None, repeats: int = 6, seed: int = 0) -> dict:
    """Each rule gesture alone in a 100 Hz accel+gyro stream, at several strengths and onsets."""
    o = options or WristOptions()
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for fam, kinds in RULE_FAMILIES.items():
        lat, late, missed = [], [], 0
        for k in range(repeats):
            kind = kinds[k % len(kinds)]
            t_on = 1.5 + float(rng.uniform(0, 0.05))
            ev = SimEvent(kind, t_on, amplitude=float(rng.uniform(0.9, 1.3)))
            sc = Scene(t_on + ev.motion_s + 2.0, [ev], start_hanging=kind == "raise", seed=int(rng.integers(1 << 30)))
            batch = render(sc, 100.0)
            got = [(ob, t) for ob, t in _release_times(batch, o) if ob.kind == kind]
            if not got:
                missed += 1
                continue
            ob, t_rel = got[0]
            end_ns = int(batch.t_ns[0]) + round((t_on + ev.motion_s) * 1e9)
            lat.append((t_rel - end_ns) / 1e6)
            late.append((t_rel - ob.t_end_ns) / 1e6)
        out[fam] = {**_stats(lat), "lateness_ms": _stats(late), "missed": missed}
    return out


def learned_latency(
    model_path, clips: list[tuple[np.ndarray, np.ndarray, str]], custom_path=None, kinds: tuple[str, ...] | None = None
) -> dict:
    """Real clips [(t_ns, accel_g, label)] each between 1.5 s rests, upsampled to 100 Hz (the watch rate of
    a live source) so release times have 10 ms resolution."""
    o = WristOptions(model_path=model_path, custom_path=custom_path, emit_kinds=kinds)
    rng = np.random.default_rng(0)
    lat, late, hits, n = [], [], 0, 0
    for t, a, label in clips:
        t = np.asarray(t, np.int64)
        tt = np.arange(int(t[0]), int(t[-1]), 10_000_000, dtype=np.int64)
        if len(tt) < 4:
            continue
        aa = np.stack([np.interp(tt, t, a[:, c]) for c in range(3)], axis=1)
        pad = 150
        rest0 = np.repeat(aa[:1], pad, 0) + rng.normal(0, 0.005, (pad, 3))
        rest1 = np.repeat(aa[-1:], pad, 0) + rng.normal(0, 0.005, (pad, 3))
        acc = np.concatenate([rest0, aa, rest1])
        ts = int(tt[0]) - pad * 10_000_000 + np.arange(len(acc), dtype=np.int64) * 10_000_000 + 10**9
        end_ns = int(ts[pad + len(aa) - 1])
        n += 1
        got = [(ob, tr) for ob, tr in _release_times(ImuBatch(t_ns=ts, accel=acc * G), o) if ob.kind == label]
        if got:
            hits += 1
            ob, tr = got[0]
            lat.append((tr - end_ns) / 1e6)
            late.append((tr - ob.t_end_ns) / 1e6)
    return {**_stats(lat), "lateness_ms": _stats(late), "detected": hits, "clips": n}


def hold_tradeoff(
    everyday_root, holds: tuple[float, ...] = (0.04, 0.05, 0.06, 0.07, 0.1), developer: tuple[str, ...] | None = None
) -> list[dict]:
    """How long the segmenter waits in quiet before deciding (`SegmenterOptions.hold_s`) against false
    activations of the rule gestures on everyday motion (developer and held-out halves) and latency."""
    from dataclasses import replace

    from perception.wrist.negatives import DEVELOPER_SUBJECTS, everyday_false_activations
    from perception.wrist.segmenter import SegmenterOptions

    out = []
    for h in holds:
        o = WristOptions(segmenter=replace(SegmenterOptions(), hold_s=h))
        fa = everyday_false_activations(everyday_root, [], developer or DEVELOPER_SUBJECTS, o, progress=False)
        lat = rule_latency(o, repeats=4)
        segment_families = ("double_tap", "flick", "twist", "shake")
        out.append(
            {
                "hold_s": h,
                "developer_false_activations": fa["developer"]["false_activations"],
                "held_out_false_activations": fa["held_out"]["false_activations"],
                "developer_hours": fa["developer"]["hours"],
                "held_out_hours": fa["held_out"]["hours"],
                "by_gesture_held_out": {k: v["n"] for k, v in fa["held_out"]["by_gesture"].items() if v["n"]},
                "latency_p95_ms": {f: lat[f].get("p95_ms") for f in segment_families},
            }
        )
    return out


def plot_latency(rules: dict, learned: dict, path, bound_ms: float = 300.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rules) + list(learned)
    vals = {**rules, **learned}
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [vals[n].get("p50_ms", 0) for n in names], 0.4, label="p50")
    ax.bar(xs + 0.2, [vals[n].get("p95_ms", 0) for n in names], 0.4, label="p95")
    ax.axhline(bound_ms, color="red", ls="--", lw=1, label="default_ar wrist lateness bound")
    ax.axhline(40, color="gray", ls=":", lw=1, label="issue #16 goal (40 ms)")
    ax.set_xticks(xs, names, rotation=30, fontsize=8)
    ax.set_ylabel("end of motion -> observation (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tradeoff(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.0))
    hs = [1000 * r["hold_s"] for r in rows]
    p95 = [max(v for v in r["latency_p95_ms"].values() if v is not None) for r in rows]
    ax.plot(hs, p95, "o-", label="worst family p95 latency (ms)")
    ax.set_xlabel("quiet before a segment closes (ms)")
    ax.set_ylabel("latency (ms)")
    ax2 = ax.twinx()
    ax2.plot(hs, [r["developer_false_activations"] for r in rows], "s--", color="C1", label="FA developer half")
    ax2.plot(hs, [r["held_out_false_activations"] for r in rows], "^--", color="C2", label="FA held-out half")
    ax2.set_ylabel("false activations (rule gestures)")
    fig.legend(fontsize=7, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
