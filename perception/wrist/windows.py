"""Model windows: recordings resampled to the model rate (native kernel), placed in a fixed-length window,
turned into the CNN's input channels. Training, evaluation, the streaming classifier and few-shot
enrollment all go through these functions, so a model always sees what it was trained on.
"""

from __future__ import annotations

import numpy as np

from native import imu as native_imu

N_CHANNELS = 6


def resample(t_ns: np.ndarray, accel_g: np.ndarray, rate_hz: float) -> np.ndarray:
    """(N,3) g at irregular times -> (M,3) g on a uniform grid at rate_hz from the first sample."""
    t = np.ascontiguousarray(np.asarray(t_ns, dtype=np.int64))
    if len(t) < 2:
        return np.asarray(accel_g, dtype=np.float64).reshape(-1, 3).copy()
    _, v = native_imu.resample_irregular(t, np.ascontiguousarray(accel_g, dtype=np.float64), float(rate_hz), int(t[0]))
    return np.asarray(v, dtype=np.float64)


def place(x: np.ndarray, window: int, shift: int = 0) -> np.ndarray:
    """Centre a gesture (n,3) in a window (edge values pad a short one: the pose before/after);
    crop a long one around its centre. `shift` moves it by samples."""
    n = len(x)
    if n >= window:
        start = int(np.clip((n - window) // 2 - shift, 0, n - window))
        return x[start : start + window]
    left = (window - n) // 2 + shift
    left = int(np.clip(left, 0, window - n))
    return np.pad(x, ((left, window - n - left), (0, 0)), mode="edge")


def features(windows: np.ndarray, rate_hz: float) -> np.ndarray:
    """(B,T,3) g -> (B,6,T) float32: acceleration in g, and its rate of change in g per 0.1 s
    (motion shape independent of how the device is held)."""
    w = np.asarray(windows, dtype=np.float64)
    d = np.diff(w, axis=1, prepend=w[:, :1]) * (rate_hz / 10.0)
    return np.concatenate([w, d], axis=2).transpose(0, 2, 1).astype(np.float32)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3,3) taking direction a onto direction b (Rodrigues)."""
    a = np.asarray(a, float) / max(float(np.linalg.norm(a)), 1e-9)
    b = np.asarray(b, float) / max(float(np.linalg.norm(b)), 1e-9)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -0.999999:  # opposite: half a turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + (k @ k) / (1.0 + c)


def align_gravity(windows: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Rotate each window (B,T,3) so that its mean acceleration (gravity, for a gesture between rests)
    points along `towards`: how the watch sits on this wrist stops mattering, the motion stays."""
    w = np.asarray(windows, dtype=np.float64)
    out = np.empty_like(w)
    for i in range(len(w)):
        out[i] = w[i] @ rotation_between(w[i].mean(axis=0), towards).T
    return out
