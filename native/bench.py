"""`cuekit bench kernels`: each C kernel against its best Python-side alternative, same run.

Runs are interleaved (kernel, baseline, kernel, ...) so both see the same machine load; each
figure is the median over rounds of the mean per-call CPU time (time.process_time), with OpenCV
limited to one thread like the kernels (--cv-threads 0 lets OpenCV use its default pool; then
the process CPU time counts all its threads). Goals (issue 3): the fused crop at
least 1.5x faster than OpenCV warpAffine + numpy normalise/transpose, the other kernels at least
10x faster than numpy. Rows without a goal are informational.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Row:
    name: str
    kernel_us: float
    baseline: str
    baseline_us: float
    ratio: float
    goal: float | None
    meets_goal: bool | None


def _time(fn: Callable[[], object], n: int) -> float:
    # CPU time of this process: other processes sharing the cores (the other helpers' jobs, a
    # live pipeline) do not inflate it. Kernel and baseline both run on one thread here.
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e6


def _compare(
    name: str,
    kernel: Callable,
    baseline_name: str,
    baseline: Callable,
    goal: float | None,
    rounds: int,
    budget_s: float,
) -> Row:
    kernel()
    baseline()
    # calls per round so that one round of both stays near the budget
    t1 = _time(kernel, 1) + _time(baseline, 1)
    n = max(1, int(budget_s / rounds / max(t1 * 1e-6, 1e-7)))
    ks, bs = [], []
    for _ in range(rounds):
        ks.append(_time(kernel, n))
        bs.append(_time(baseline, n))
    k, b = float(np.median(ks)), float(np.median(bs))
    ratio = b / k
    row = Row(
        name, round(k, 2), baseline_name, round(b, 2), round(ratio, 2), goal, None if goal is None else ratio >= goal
    )
    print(f"[bench kernels] {name}: {k:.1f} us vs {b:.1f} us ({ratio:.1f}x)", file=sys.stderr)
    return row


def _image_rows(rounds: int, budget: float) -> list[Row]:
    import cv2

    from native.image import image_to_tensor, letterbox, roi_transform

    frame: np.ndarray = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 3)  # image-like smoothness, same cost either way
    rows = []
    for label, roi, rot, size, vr, layout in (
        (
            "image_to_tensor 256x256 NHWC [0,1] (rotated hand ROI)",
            (0.55, 0.5, 0.3, 0.5),
            0.3,
            (256, 256),
            (0.0, 1.0),
            "nhwc",
        ),
        (
            "image_to_tensor 224x224 NCHW [-1,1] (rotated ROI)",
            (0.4, 0.5, 0.25, 0.4),
            -0.7,
            (224, 224),
            (-1.0, 1.0),
            "nchw",
        ),
    ):
        scale, lo = np.float32((vr[1] - vr[0]) / 255.0), np.float32(vr[0])

        def kernel(roi=roi, rot=rot, size=size, vr=vr, layout=layout):
            return image_to_tensor(frame, roi, rot, size, value_range=vr, layout=layout)

        def baseline(roi=roi, rot=rot, size=size, scale=scale, lo=lo, layout=layout):
            # same transform (both sides need it for the landmarks), then OpenCV + numpy
            tf = roi_transform((frame.shape[1], frame.shape[0]), roi, rot, size)
            crop = cv2.warpAffine(
                frame,
                tf.matrix[:2],
                size,
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            t = np.multiply(crop, scale, dtype=np.float32)  # one pass uint8 -> float32
            if lo:
                t += lo
            if layout == "nchw":
                t = np.ascontiguousarray(t.transpose(2, 0, 1))
            return t[None], tf

        rows.append(_compare(label, kernel, "cv2.warpAffine + numpy", baseline, 1.5, rounds, budget))

    def lb_kernel():
        return letterbox(frame, (192, 192))

    def lb_baseline():
        h, w = frame.shape[:2]
        s = min(192 / w, 192 / h)
        nw, nh = round(w * s), round(h * s)
        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((192, 192, 3), np.float32)
        top, left = (192 - nh) // 2, (192 - nw) // 2
        np.multiply(small, np.float32(1 / 255.0), out=out[top : top + nh, left : left + nw], dtype=np.float32)
        return out[None], s

    # informational: an axis-aligned downscale is memory-bound and cv2.resize's separable path
    # is as good as it gets there; the goal is about the rotated crop
    rows.append(
        _compare(
            "letterbox 1280x720 -> 192x192 (palm detector)",
            lb_kernel,
            "cv2.resize + numpy pad",
            lb_baseline,
            None,
            rounds,
            budget,
        )
    )
    return rows


def _palm_outputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Palm-detector-like raw outputs: two hands, each seen by a few dozen anchors."""
    from native.detection import ssd_anchors

    rng = np.random.default_rng(seed)
    anchors = ssd_anchors()
    raw_boxes = rng.normal(0, 2, (2016, 18)).astype(np.float32)
    raw_boxes[:, 2:4] = 10.0
    raw_scores = rng.normal(-6, 1.5, 2016).astype(np.float32)
    for cx, cy in ((0.3, 0.4), (0.7, 0.6)):
        d = np.hypot(anchors[:, 0] - cx, anchors[:, 1] - cy)
        near = np.flatnonzero(d < 0.12)
        raw_boxes[near, 0] = (cx - anchors[near, 0]) * 192 + rng.normal(0, 2, near.size)
        raw_boxes[near, 1] = (cy - anchors[near, 1]) * 192 + rng.normal(0, 2, near.size)
        raw_boxes[near, 2:4] = 50.0 + rng.normal(0, 3, (near.size, 2))
        raw_scores[near] = rng.normal(2.0, 1.0, near.size)
    return raw_boxes, raw_scores


def _detection_rows(rounds: int, budget: float) -> list[Row]:
    from native import _reference as ref
    from native.detection import (
        decode_boxes,
        decode_detections_arrays,
        sigmoid_scores,
        ssd_anchors,
        weighted_nms_arrays,
    )

    anchors = ssd_anchors()
    raw_boxes, raw_scores = _palm_outputs()
    boxes = decode_boxes(raw_boxes, anchors)
    scores = sigmoid_scores(raw_scores)
    n_cand = int((scores >= 0.5).sum())
    rows = [
        _compare(
            f"weighted NMS ({n_cand} candidates of 2016)",
            lambda: weighted_nms_arrays(boxes, scores, 0.3, 0.5),
            "numpy",
            lambda: ref.weighted_nms(boxes, scores, 0.3, 0.5),
            10.0,
            rounds,
            budget,
        )
    ]

    def kernel():
        return decode_detections_arrays(raw_boxes, raw_scores, anchors)

    def baseline():
        # the same pre-filter on logits, then the numpy decode, sigmoid and NMS
        keep = np.flatnonzero(raw_scores >= -1e-3)
        s = 1.0 / (1.0 + np.exp(-np.clip(raw_scores[keep], -100, 100)))
        return ref.weighted_nms(ref.decode_boxes(raw_boxes[keep], anchors[keep]), s.astype(np.float32))

    rows.append(
        _compare("palm post-processing (decode + sigmoid + NMS)", kernel, "numpy", baseline, 10.0, rounds, budget)
    )
    return rows


def _audio_rows(rounds: int, budget: float) -> list[Row]:
    from native import _reference as ref
    from native.audio import LogMel, Resampler

    rng = np.random.default_rng(0)
    x = (0.1 * rng.normal(size=32000)).astype(np.float32)
    chunks = np.split(x, np.arange(160, x.size, 160))  # 10 ms pushes, as a live microphone

    def kernel():
        lm = LogMel(n_mels=80)
        return [lm.push(c) for c in chunks]

    # numpy at its best for a stream: tables built once, each push framed, FFT'd and projected
    # in vectorised calls
    fb = np.ascontiguousarray(ref.mel_filterbank(16000, 512, 80, 20.0, 8000.0).T)
    win = ref.window("hann", 400)
    offs = np.arange(400)

    def baseline():
        buf = np.zeros(0, np.float32)
        out = []
        for c in chunks:
            buf = np.concatenate([buf, c])
            n = 0 if buf.size < 400 else 1 + (buf.size - 400) // 160
            if n:
                frames = buf[offs[None, :] + 160 * np.arange(n)[:, None]] * win
                power = np.abs(np.fft.rfft(frames, n=512, axis=1)) ** 2
                out.append(np.log(np.maximum(power @ fb, 1e-10)).astype(np.float32))
                buf = buf[n * 160 :]
        return out

    rows = [
        _compare("log-mel streaming, 2 s in 10 ms pushes (80 mels)", kernel, "numpy", baseline, 10.0, rounds, budget)
    ]
    long = (0.1 * rng.normal(size=160000)).astype(np.float32)
    lm = LogMel(n_mels=80)

    def batch_baseline():
        frames = long[offs[None, :] + 160 * np.arange(1 + (long.size - 400) // 160)[:, None]] * win
        power = np.abs(np.fft.rfft(frames, n=512, axis=1)) ** 2
        return np.log(np.maximum(power @ fb, 1e-10)).astype(np.float32)

    rows.append(
        _compare(
            "log-mel batch, 10 s clip (80 mels)",
            lambda: lm.compute(long),
            "numpy (vectorised rfft + matmul)",
            batch_baseline,
            10.0,
            rounds,
            budget,
        )
    )
    a48 = (0.1 * rng.normal(size=48000)).astype(np.float32)
    r = Resampler(48000, 16000)
    h = r.table[0]

    def rs_kernel():
        rr = Resampler.__new__(Resampler)
        rr.__dict__.update(r.__dict__)
        rr.reset()
        return rr.push(a48)

    rows.append(
        _compare(
            "resample 48 kHz -> 16 kHz, 1 s",
            rs_kernel,
            "numpy convolve + decimate",
            lambda: np.convolve(a48, h)[::3],
            None,
            rounds,
            budget,
        )
    )
    return rows


def _imu_rows(rounds: int, budget: float) -> list[Row]:
    from native import _reference as ref
    from native.imu import Madgwick, quat_from_accel

    rng = np.random.default_rng(0)
    n = 1000
    accel = np.array([0.3, -0.5, 9.7]) + rng.normal(0, 0.4, (n, 3))
    gyro = rng.normal(0, 0.5, (n, 3))
    dt = np.full(n, 0.01)
    q0 = quat_from_accel(accel[0])
    return [
        _compare(
            "Madgwick AHRS, 1000 samples",
            lambda: Madgwick(100, 0.1, q0).update(accel, gyro),
            "numpy",
            lambda: ref.madgwick(q0, accel, gyro, dt, 0.1),
            10.0,
            rounds,
            budget,
        )
    ]


def _single_thread_blas() -> bool:
    """Pin numpy's OpenBLAS to one thread, like the kernels. Its idle worker threads otherwise
    spin after each matmul and their CPU time lands on whatever is measured next."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return False
    for lib in libs:
        try:
            dll = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
            fn = getattr(dll, name, None)
            if fn is not None:
                fn(ctypes.c_int(1))
                return True
    return False


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.5))
    names = [r.name for r in rows][::-1]
    ratios = [r.ratio for r in rows][::-1]
    colors = ["tab:gray" if r.goal is None else ("tab:green" if r.meets_goal else "tab:red") for r in rows][::-1]
    ax.barh(names, ratios, color=colors)
    for r, y in zip(rows[::-1], range(len(rows))):
        if r.goal:
            ax.plot([r.goal, r.goal], [y - 0.4, y + 0.4], color="black", lw=1.5)
        ax.text(r.ratio * 1.05, y, f"{r.ratio:.1f}x", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(ratios) / 1.5), max(ratios) * 3)
    ax.axvline(1.0, color="black", lw=0.5)
    ax.set_xlabel("speed-up over baseline (log scale; black tick = goal, grey = no goal)")
    ax.set_title("CueKit C kernels vs their Python-side baselines (same run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="cuekit bench kernels", description="C kernels vs OpenCV/numpy baselines, measured in the same run"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quick", action="store_true", help="few short rounds (smoke test, noisy)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--budget", type=float, default=1.5, help="seconds per kernel (both sides)")
    p.add_argument(
        "--cv-threads",
        type=int,
        default=1,
        help="OpenCV threads for the baseline (the kernels are single-threaded); 0 = OpenCV default",
    )
    p.add_argument("--only", choices=["image", "detection", "audio", "imu"], action="append")
    p.add_argument("--plot", metavar="PNG", help="save a bar plot of the ratios")
    args = p.parse_args(argv)
    rounds, budget = (3, 0.15) if args.quick else (max(1, args.rounds), max(0.05, args.budget))
    import cv2

    if args.cv_threads > 0:
        cv2.setNumThreads(args.cv_threads)
    blas_pinned = _single_thread_blas()
    groups = {"image": _image_rows, "detection": _detection_rows, "audio": _audio_rows, "imu": _imu_rows}
    rows: list[Row] = []
    for name in args.only or list(groups):
        rows.extend(groups[name](rounds, budget))
    goals = [r for r in rows if r.goal is not None]
    result = {
        "bench": "kernels",
        "rows": [asdict(r) for r in rows],
        "all_goals_met": all(r.meets_goal for r in goals),
        "cv2_threads": cv2.getNumThreads(),
        "blas_single_thread": blas_pinned,
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "rounds": rounds,
    }
    if args.plot:
        plot(rows, args.plot)
        print(f"[bench kernels] plot saved to {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        w = max(len(r.name) for r in rows)
        print(f"{'kernel':<{w}}  {'C (us)':>10}  {'baseline (us)':>13}  {'ratio':>7}  goal")
        for r in rows:
            goal = "-" if r.goal is None else f">={r.goal:g}x {'ok' if r.meets_goal else 'MISSED'}"
            print(f"{r.name:<{w}}  {r.kernel_us:>10.1f}  {r.baseline_us:>13.1f}  {r.ratio:>6.1f}x  {goal}")
        print(f"(baselines: {', '.join(sorted({r.baseline for r in rows}))}; OpenCV threads {cv2.getNumThreads()})")
    return 0 if math.isfinite(sum(r.ratio for r in rows)) else 1
