"""Built-in wrist gestures by rule: tap, flick left/right/up/down, twist cw/ccw, shake (per motion segment),
double tap (two taps, the smartwatch pattern), raise-to-wake (a pose change, not a motion burst).

Directions are anchored to gravity, so they hold in any wrist pose: up/down is along gravity; left/right
is along the horizontal part of the forearm (hand) axis, i.e. towards the hand = right for a watch on the
left wrist held in front of the body. Twist clockwise = positive rotation about the hand axis (clockwise
seen from the elbow looking to the hand).

Every rule yields a confidence: 0.5 exactly at its threshold, rising towards 1 as the evidence exceeds it
(`_conf`); the recogniser emits only candidates at or above `min_confidence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.wrist.segmenter import Segment
from perception.wrist.vocabulary import BUILTIN_GESTURES

BUILTIN_KINDS = BUILTIN_GESTURES


@dataclass
class RuleOptions:
    tap_min_g: float = 0.6
    tap_max_s: float = 0.16  # active (above half the peak) duration of a tap impulse
    impulse_max_s: float = 0.1  # width above 35% of the peak of each tap within one segment
    flick_min_g: float = 0.7
    flick_min_s: float = 0.14
    flick_max_s: float = 0.9
    flick_directionality: float = 0.6  # share of the peak along the chosen direction
    twist_min_deg: float = 45.0
    twist_return: float = 0.5  # the angle at the end is at most this share of the peak (out and back)
    twist_max_s: float = 1.2
    # a one-way twist (turn and hold) must turn further: everyday motion turns the wrist one way all the
    # time (looking at a watch, pouring), rarely out and back within a second
    twist_one_way_min_deg: float = 70.0
    twist_one_way_max_s: float = 0.6  # ... and quickly: the everyday one-way turns took ~1 s
    twist_max_tilt: float = 0.35  # accel-only: change of the forearm's tilt (unit-vector component)
    shake_min_g: float = 0.8
    shake_min_lobes: int = 6
    shake_min_lobes_per_s: float = 5.0  # a shake is fast (2.5 Hz and up); waving an arm about is not
    reorient_deg: float = 40.0  # net pose change that marks a segment as part of a raise/lower, not a flick
    hand_axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    face_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)


@dataclass
class Candidate:
    kind: str
    confidence: float
    t_start_ns: int
    t_end_ns: int
    payload: dict = field(default_factory=dict)


def _conf(value: float, threshold: float, spread: float = 0.5) -> float:
    """0.5 at the threshold; +spread*threshold above it -> ~0.88."""
    if threshold <= 0:
        return 1.0
    return float(0.5 + 0.5 * np.tanh((value / threshold - 1.0) / spread))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def _lobes(x: np.ndarray, min_abs: float) -> list[tuple[int, int, float]]:
    """Runs of one sign whose extreme reaches min_abs: (start, end, signed extreme)."""
    out = []
    s = np.sign(x)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and s[j + 1] == s[i]:
            j += 1
        seg = x[i : j + 1]
        k = int(np.argmax(np.abs(seg)))
        if abs(seg[k]) >= min_abs:
            out.append((i, j + 1, float(seg[k])))
        i = j + 1
    return out


def _impulses(mag: np.ndarray, rate: float, opts: RuleOptions) -> list[tuple[int, float, int]]:
    """Short isolated spikes (onset index, peak, end index) in |linear|: the signature of taps."""
    if not len(mag) or mag.max() < opts.tap_min_g * 0.5:
        return []
    on = mag >= 0.35 * mag.max()
    out, i = [], 0
    while i < len(on):
        if on[i]:
            j = i
            while j + 1 < len(on) and on[j + 1]:
                j += 1
            if (j - i + 1) / rate > opts.impulse_max_s:
                return []  # a sustained push is no tap
            if out and (i - out[-1][2]) / rate < 0.04:
                return []  # adjacent lobes (a push and its stop) are one movement, not two taps
            out.append((i, float(mag[i : j + 1].max()), j + 1))
            i = j + 1
        else:
            i += 1
    return out


def segment_features(seg: Segment, opts: RuleOptions) -> dict:
    """Numbers the rules decide on (also useful to log and to tune thresholds)."""
    rate = seg.rate_hz
    on = seg.onset
    pre = seg.gravity[max(0, on - int(0.2 * rate)) : on + 1].mean(axis=0)
    post = seg.gravity[-max(1, int(0.1 * rate)) :].mean(axis=0)
    up = _unit(pre)
    hand = np.asarray(opts.hand_axis, float)
    horiz = _unit(hand - np.dot(hand, up) * up)
    lin = seg.linear[on:]
    mag = np.linalg.norm(lin, axis=1)
    peak = float(mag.max()) if len(mag) else 0.0
    above_half = int(np.sum(mag >= 0.5 * peak)) if peak > 0 else 0
    vert = lin @ up
    lateral = lin @ horiz
    # twist: integrated rate about the hand axis when there is a gyro, else the roll excursion
    if seg.gyro is not None:
        ang = np.cumsum(seg.gyro[on:] @ hand) / rate
        rot_total = float(np.sum(np.linalg.norm(seg.gyro[on:], axis=1)))
        share = float(np.sum(np.abs(seg.gyro[on:] @ hand)) / rot_total) if rot_total > 1e-6 else 0.0
    else:
        ang = seg.twist[on:] - seg.twist[on]
        perp = np.linalg.norm(pre - np.dot(pre, hand) * hand)
        # a twist turns gravity about the forearm: its component along the forearm barely moves, while
        # waving the arm about tilts the forearm too; the roll is meaningless with the forearm vertical
        acc = seg.accel[on:]
        if len(acc) >= 3:
            acc = (acc[:-2] + acc[1:-1] + acc[2:]) / 3.0
        along = (acc / np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-9)) @ hand
        steady = float(along.max() - along.min()) <= opts.twist_max_tilt if len(along) else False
        share = 1.0 if perp > 0.5 and steady else 0.0
    k = int(np.argmax(np.abs(ang))) if len(ang) else 0
    twist_peak = float(np.degrees(ang[k])) if len(ang) else 0.0
    twist_end = float(np.degrees(ang[-1])) if len(ang) else 0.0
    # principal axis of the motion for shake lobes
    if len(lin) >= 3:
        _, _, vt = np.linalg.svd(lin - lin.mean(axis=0), full_matrices=False)
        principal = lin @ vt[0]
    else:
        principal = lin[:, 0] if len(lin) else np.zeros(0)
    cosang = float(np.clip(np.dot(_unit(pre), _unit(post)), -1, 1))
    return {
        "peak_g": peak,
        "active_s": above_half / rate,
        "duration_s": seg.duration_s,
        "vert": vert,
        "lateral": lateral,
        "mag": mag,
        "twist_deg": twist_peak,
        "twist_share": share,
        "twist_end_deg": twist_end,
        "shake_lobes": len(_lobes(principal, opts.shake_min_g)),
        "reorient_deg": float(np.degrees(np.arccos(cosang))),
        "face_up_pre": float(np.dot(_unit(pre), np.asarray(opts.face_axis, float))),
    }


def classify_segment(seg: Segment, opts: RuleOptions) -> Candidate | None:
    """Best built-in reading of one motion segment (None: nothing gesture-like)."""
    f = segment_features(seg, opts)
    t0, t1 = seg.t_start_ns, seg.t_end_ns
    base = {"peak_g": round(f["peak_g"], 3), "duration_s": round(f["duration_s"], 3)}
    cands: list[Candidate] = []
    # the watch twist turns out and back within about a second; a one-way twist turns and holds
    twist_ok = f["twist_share"] >= 0.6 and f["duration_s"] <= opts.twist_max_s
    back = abs(f["twist_end_deg"]) <= opts.twist_return * abs(f["twist_deg"])
    if twist_ok and back and abs(f["twist_deg"]) >= 0.5 * opts.twist_min_deg:
        kind = "twist_cw" if f["twist_deg"] > 0 else "twist_ccw"
        cands.append(
            Candidate(
                kind,
                _conf(abs(f["twist_deg"]), opts.twist_min_deg),
                t0,
                t1,
                {**base, "angle_deg": round(f["twist_deg"], 1), "one_way": False},
            )
        )
    elif (
        twist_ok
        and f["duration_s"] <= opts.twist_one_way_max_s
        and abs(f["twist_end_deg"]) >= 0.8 * abs(f["twist_deg"])
        and abs(f["twist_deg"]) >= 0.5 * opts.twist_one_way_min_deg
    ):
        kind = "twist_cw" if f["twist_deg"] > 0 else "twist_ccw"
        cands.append(
            Candidate(
                kind,
                _conf(abs(f["twist_deg"]), opts.twist_one_way_min_deg),
                t0,
                t1,
                {**base, "angle_deg": round(f["twist_deg"], 1), "one_way": True},
            )
        )
    if f["shake_lobes"] >= 2 and f["shake_lobes"] / max(f["duration_s"], 1e-3) >= opts.shake_min_lobes_per_s:
        conf = _conf(f["shake_lobes"], opts.shake_min_lobes, 0.3)
        cands.append(Candidate("shake", conf, t0, t1, {**base, "lobes": f["shake_lobes"]}))
    if f["reorient_deg"] < opts.reorient_deg and f["shake_lobes"] < opts.shake_min_lobes:
        imp = _impulses(f["mag"], seg.rate_hz, opts)
        if len(imp) == 2 and 0.08 <= (imp[1][0] - imp[0][0]) / seg.rate_hz <= 0.45:
            # two taps close enough that the motion never settled between them
            conf = _conf(min(imp[0][1], imp[1][1]), opts.tap_min_g)
            cands.append(
                Candidate(
                    "double_tap", conf, t0, t1, {**base, "gap_s": round((imp[1][0] - imp[0][0]) / seg.rate_hz, 3)}
                )
            )
        elif f["active_s"] <= opts.tap_max_s and f["duration_s"] < 2 * opts.flick_min_s + 0.2:
            conf = _conf(f["peak_g"], opts.tap_min_g) * (1.0 if abs(f["twist_deg"]) < 20 else 0.5)
            cands.append(Candidate("tap", conf, t0, t1, base))
        elif opts.flick_min_s <= f["duration_s"] <= opts.flick_max_s:
            v, h, mag = f["vert"], f["lateral"], f["mag"]
            # the first strong lobe is the push; the second is the stop
            first = int(np.argmax(mag >= 0.6 * f["peak_g"]))
            k = first + int(np.argmax(mag[first : first + max(1, int(0.15 * seg.rate_hz))]))
            comp = {"flick_up": v[k], "flick_down": -v[k], "flick_right": h[k], "flick_left": -h[k]}
            kind = max(comp, key=comp.get)
            along = comp[kind] / max(mag[k], 1e-9)
            conf = _conf(f["peak_g"], opts.flick_min_g) * (1.0 if along >= opts.flick_directionality else 0.4)
            cands.append(Candidate(kind, conf, t0, t1, {**base, "directionality": round(float(along), 3)}))
    if not cands:
        return None
    return max(cands, key=lambda c: c.confidence)
