"""End of motion -> observation, per wrist gesture family, through the streaming recogniser.

A wrist observation is useful to fusion only if it arrives within the spec's wrist lateness bound
(default_ar: 300 ms after its evidence ends), and issue-level goal is an intent < 40 ms after the act for
the instant gestures. Here the stream is fed one sample per batch (100 Hz: 10 ms resolution) and the
latency of an observation is the data time of the sample that released it minus the time the motion
really ended: known analytically for the simulated rule gestures, and for real learned gestures (FBK
clips of a user the model never saw, placed between rests) the end of the clip as the dataset cut it. `lateness_ms` is the part fusion checks against its
bound: release time minus the observation's own `t_end_ns`.
"""
from __future__ import annotations

import numpy as np

from perception.stream.types import ImuBatch
from perception.wrist.recognizer import WristGestures, WristOptions
from perception.wrist.synthetic import Scene, SimEvent, render
from perception.wrist.units import G

RULE_FAMILIES: dict[str, tuple[str, ...]] = {
    "tap": ("tap",), "double_tap": ("double_tap",),
    "flick": ("flick_left", "flick_right", "flick_up", "flick_down"),
    "twist": ("twist_cw", "twist_ccw"), "shake": ("shake",), "raise": ("raise",),
}


def _release_times(batch: ImuBatch, options: WristOptions, step: int = 1) -> list[tuple[object, int]]:
    """(observation, data time of the sample whose batch released it)."""
    rec = WristGestures(options)
    out = []
    for i in range(0, len(batch), step):
        b = ImuBatch(t_ns=batch.t_ns[i:i + step], accel=batch.accel[i:i + step],
                     gyro=None if batch.gyro is None else batch.gyro[i:i + step])
        for o in rec.push(b):
            out.append((o, int(b.t_ns[-1])))
    return out


def _stats(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs)
    return {"n": len(xs), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "max_ms": round(float(a.max()), 1)}


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


def learned_latency(model_path, clips: list[tuple[np.ndarray, np.ndarray, str]], custom_path=None,
                    kinds: tuple[str, ...] | None = None) -> dict:
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
