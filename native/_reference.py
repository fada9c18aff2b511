"""Plain-numpy versions of the kernels: the baseline of `cuekit bench kernels` and the oracle of
tests/native. Written for clarity and for numpy's strengths (vectorised where the algorithm
allows); the product never calls these.
"""

from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------- detection
def decode_boxes(raw: np.ndarray, anchors: np.ndarray, scale: float = 192.0, num_keypoints: int = 7) -> np.ndarray:
    raw = raw.astype(np.float64)
    a = anchors.astype(np.float64)
    xc = raw[:, 0] / scale * a[:, 2] + a[:, 0]
    yc = raw[:, 1] / scale * a[:, 3] + a[:, 1]
    w = raw[:, 2] / scale * a[:, 2]
    h = raw[:, 3] / scale * a[:, 3]
    out = [xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2]
    for k in range(num_keypoints):
        out.append(raw[:, 4 + 2 * k] / scale * a[:, 2] + a[:, 0])
        out.append(raw[:, 5 + 2 * k] / scale * a[:, 3] + a[:, 1])
    return np.stack(out, axis=1).astype(np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.where((ix1 > ix0) & (iy1 > iy0), (ix1 - ix0) * (iy1 - iy0), 0.0)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3, score_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    keep = np.flatnonzero(scores >= score_threshold)
    order = keep[np.lexsort((keep, -scores[keep]))]
    out_b, out_s = [], []
    while order.size:
        top = order[0]
        sim = _iou(boxes[top], boxes[order])
        member = sim > iou_threshold
        member[0] = True
        m = order[member]
        w = scores[m].astype(np.float64)
        out_b.append((boxes[m].astype(np.float64) * w[:, None]).sum(0) / w.sum())
        out_s.append(scores[top])
        order = order[~member]
    d = boxes.shape[1]
    return (np.array(out_b, np.float32).reshape(-1, d), np.array(out_s, np.float32))


# ---------------------------------------------------------------- audio
def hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles, evenly spaced on the HTK mel scale, evaluated at
    each FFT bin's frequency (Kaldi's construction, without its bin-0 quirk)."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    mels = hz_to_mel(freqs)
    edges = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (mels - lower) / (centre - lower)
    down = (upper - mels) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down))


def window(kind: str, n: int) -> np.ndarray:
    i = np.arange(n)
    if kind == "hann":  # periodic, as for spectral analysis
        return 0.5 - 0.5 * np.cos(2 * np.pi * i / n)
    if kind == "povey":
        return (0.5 - 0.5 * np.cos(2 * np.pi * i / (n - 1))) ** 0.85
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * i / (n - 1))
    if kind == "rect":
        return np.ones(n)
    raise ValueError(kind)


def log_mel(
    x: np.ndarray,
    sample_rate=16000,
    n_fft=512,
    win_length=400,
    hop=160,
    n_mels=40,
    fmin=20.0,
    fmax=None,
    window_kind="hann",
    log_floor=1e-10,
    preemphasis=0.0,
    remove_dc=False,
) -> np.ndarray:
    fmax = sample_rate / 2 if fmax is None else fmax
    x = np.asarray(x, np.float64)
    n_frames = 0 if x.size < win_length else 1 + (x.size - win_length) // hop
    if n_frames == 0:
        return np.zeros((0, n_mels), np.float32)
    idx = np.arange(win_length)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[idx]
    if remove_dc:
        frames = frames - frames.mean(axis=1, keepdims=True)
    if preemphasis:
        frames = np.concatenate(
            [frames[:, :1] * (1 - preemphasis), frames[:, 1:] - preemphasis * frames[:, :-1]], axis=1
        )
    frames = frames * window(window_kind, win_length)
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    mel = power @ mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax).T
    return np.log(np.maximum(mel, log_floor)).astype(np.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II rows."""
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    m = np.cos(np.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    m[0] /= math.sqrt(2.0)
    return m


# ---------------------------------------------------------------- IMU
def madgwick(q: np.ndarray, accel: np.ndarray, gyro: np.ndarray, dt: np.ndarray, beta: float) -> np.ndarray:
    """Madgwick's IMU (gyro + accel) update, one sample at a time (the algorithm is sequential)."""
    q = np.array(q, np.float64)
    out = np.empty((accel.shape[0], 4))
    for i in range(accel.shape[0]):
        w, x, y, z = q
        gx, gy, gz = gyro[i]
        qdot = 0.5 * np.array(
            [-x * gx - y * gy - z * gz, w * gx + y * gz - z * gy, w * gy - x * gz + z * gx, w * gz + x * gy - y * gx]
        )
        a = accel[i]
        na = np.linalg.norm(a)
        if na > 0:
            ax, ay, az = a / na
            f = np.array([2 * (x * z - w * y) - ax, 2 * (w * x + y * z) - ay, 2 * (0.5 - x * x - y * y) - az])
            jt = np.array([[-2 * y, 2 * x, 0], [2 * z, 2 * w, -4 * x], [-2 * w, 2 * z, -4 * y], [2 * x, 2 * y, 0]])
            step = jt @ f
            ns = np.linalg.norm(step)
            if ns > 0:
                qdot = qdot - beta * step / ns
        q = q + qdot * dt[i]
        q = q / np.linalg.norm(q)
        out[i] = q
    return out
