"""Wrist-IMU kernels: Madgwick orientation filter, biquad filters, resampling onto a fixed rate.

All state (quaternion, filter memory, resampler carry) lives in these Python objects as small
numpy arrays the C kernels update in place, so feeding a stream in pieces gives the same result
as feeding it at once. Times are int64 nanoseconds (the project's one clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from native import _kernels


def _rows(name: str, a: np.ndarray, cols: int | None = None) -> np.ndarray:
    """As C-contiguous float64 2-D (N, cols); a clear error for anything else."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if a.ndim != 2 or (cols is not None and a.shape[1] != cols):
        want = f"(N, {cols})" if cols else "(N, C)"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _t_ns(name: str, t: np.ndarray) -> np.ndarray:
    if not isinstance(t, np.ndarray):
        raise TypeError(f"{name} must be a numpy int64 array, got {type(t).__name__}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer nanoseconds, got dtype {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {t.shape}")
    return np.ascontiguousarray(t, dtype=np.int64)


def quat_from_accel(accel: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) whose gravity direction matches one accelerometer reading (yaw 0).

    Used to start the filter level instead of waiting seconds for it to converge.
    """
    a = np.asarray(accel, np.float64).reshape(3)
    n = np.linalg.norm(a)
    if not np.isfinite(n) or n == 0:
        return np.array([1.0, 0.0, 0.0, 0.0])
    ax, ay, az = a / n
    # rotation taking sensor-frame gravity (ax, ay, az) to earth z, as the filter's convention
    roll = math.atan2(ay, az)
    pitch = math.atan2(-ax, math.hypot(ay, az))
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    return np.array([cr * cp, sr * cp, cr * sp, -sr * sp])


def gravity_in_sensor(quats: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions -> (N, 3) unit gravity direction in the sensor frame (what an
    accelerometer at rest reads, divided by g); subtract g * this for linear acceleration."""
    q = np.asarray(quats, np.float64).reshape(-1, 4)
    w, x, y, z = q.T
    return np.stack([2 * (x * z - w * y), 2 * (w * x + y * z), w * w - x * x - y * y + z * z], 1)


class Madgwick:
    """Madgwick's AHRS (gyro + accelerometer) with quaternion state (w, x, y, z).

    The quaternion maps earth-frame vectors into the sensor frame the way Madgwick's reference
    code does: gravity_in_sensor(q) is the accelerometer direction at rest.
    sample_rate: used for dt when neither dt nor timestamps are given, and for the first sample
      of a timestamped stream. beta: gradient step (rad/s); 0.033-0.1 typical.
    q0: initial quaternion; None starts level from the first accelerometer sample.
    Magnetometer fusion is not implemented (yaw drifts with the gyro bias).
    """

    def __init__(self, sample_rate: float = 100.0, beta: float = 0.1, q0: np.ndarray | None = None) -> None:
        if not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be finite and >= 0, got {beta}")
        self.sample_rate = float(sample_rate)
        self.beta = float(beta)
        self._q: np.ndarray | None = None if q0 is None else self._check_q(q0)
        self._last_t: int | None = None

    @staticmethod
    def _check_q(q0: np.ndarray) -> np.ndarray:
        q = np.array(q0, np.float64).reshape(-1)
        if q.shape != (4,) or not np.all(np.isfinite(q)) or np.linalg.norm(q) == 0:
            raise ValueError(f"q0 must be 4 finite numbers, not all zero, got {q0!r}")
        return q / np.linalg.norm(q)

    @property
    def quaternion(self) -> np.ndarray:
        """Current (w, x, y, z); identity before the first update."""
        return np.array([1.0, 0, 0, 0]) if self._q is None else self._q.copy()

    def reset(self, q0: np.ndarray | None = None) -> None:
        self._q = None if q0 is None else self._check_q(q0)
        self._last_t = None

    def update(
        self, accel: np.ndarray, gyro: np.ndarray, dt: float | np.ndarray | None = None, t_ns: np.ndarray | None = None
    ) -> np.ndarray:
        """accel (N, 3) any unit (only its direction is used), gyro (N, 3) rad/s ->
        (N, 4) float64 quaternions after each sample.

        dt: seconds per sample (scalar or (N,)); or t_ns: (N,) int64 stamps (dt from their
        differences, non-decreasing); neither: 1 / sample_rate.
        """
        a = _rows("accel", accel, 3)
        g = _rows("gyro", gyro, 3)
        n = a.shape[0]
        if g.shape[0] != n:
            raise ValueError(f"accel has {n} rows but gyro has {g.shape[0]}")
        if n == 0:
            return np.zeros((0, 4))
        if dt is not None and t_ns is not None:
            raise ValueError("give dt or t_ns, not both")
        if t_ns is not None:
            t = _t_ns("t_ns", t_ns)
            if t.shape[0] != n:
                raise ValueError(f"t_ns has {t.shape[0]} stamps for {n} samples")
            prev = self._last_t if self._last_t is not None else t[0] - round(1e9 / self.sample_rate)
            d = np.diff(t, prepend=np.int64(prev)).astype(np.float64) * 1e-9
            if np.any(d < 0):
                raise ValueError("t_ns must be non-decreasing (also across update calls)")
            self._last_t = int(t[-1])
        elif dt is not None:
            d = np.ascontiguousarray(np.broadcast_to(np.asarray(dt, np.float64), (n,)))
        else:
            d = np.full(n, 1.0 / self.sample_rate)
        if self._q is None:
            self._q = quat_from_accel(a[0])
        return _kernels.madgwick_update(self._q, a, g, d, self.beta)


@dataclass
class Biquad:
    """Second-order IIR section, transposed direct form II, state kept across process() calls.

    Coefficients normalised so a0 = 1: b = (b0, b1, b2), a = (a1, a2). Build with lowpass() or
    highpass() (RBJ Audio EQ Cookbook). Channels are fixed by the first process() call.
    """

    b: tuple[float, float, float]
    a: tuple[float, float]

    def __post_init__(self) -> None:
        self._coefs = np.array([*self.b, *self.a], np.float64)
        if self._coefs.shape != (5,) or not np.all(np.isfinite(self._coefs)):
            raise ValueError("biquad needs 3 finite b and 2 finite a coefficients")
        self._state: np.ndarray | None = None

    @staticmethod
    def _rbj(kind: str, fc: float, fs: float, q: float) -> tuple[tuple, tuple]:
        for name, v in (("fc", fc), ("fs", fs), ("q", q)):
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if fc >= fs / 2:
            raise ValueError(f"fc {fc} Hz must be below Nyquist ({fs / 2} Hz)")
        w0 = 2 * math.pi * fc / fs
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        if kind == "lowpass":
            b = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2)
        else:
            b = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2)
        a0 = 1 + alpha
        return tuple(v / a0 for v in b), (-2 * cw / a0, (1 - alpha) / a0)

    @classmethod
    def lowpass(cls, fc: float, fs: float, q: float = 1 / math.sqrt(2)) -> Biquad:
        """RBJ low-pass at fc Hz (-3 dB for the default Butterworth q) for sample rate fs."""
        return cls(*cls._rbj("lowpass", fc, fs, q))

    @classmethod
    def highpass(cls, fc: float, fs: float, q: float = 1 / math.sqrt(2)) -> Biquad:
        """RBJ high-pass at fc Hz (-3 dB for the default Butterworth q) for sample rate fs."""
        return cls(*cls._rbj("highpass", fc, fs, q))

    def reset(self) -> None:
        self._state = None

    def settle(self, value: float | np.ndarray) -> None:
        """Set the state a constant input `value` (scalar or (C,)) leaves after forever: the next
        process() starts without a step response from zero (e.g. gravity on a low-pass)."""
        v = np.atleast_1d(np.asarray(value, np.float64)).reshape(-1)
        if not np.all(np.isfinite(v)):
            raise ValueError("settle value must be finite")
        if self._state is not None and self._state.shape[0] != v.shape[0]:
            raise ValueError(f"this filter runs {self._state.shape[0]} channels, got {v.shape[0]}")
        b0, b1, b2, a1, a2 = self._coefs
        den = 1.0 + a1 + a2
        if abs(den) < 1e-15:
            raise ValueError("filter has a pole at DC; it cannot settle on a constant")
        y = v * (b0 + b1 + b2) / den
        # transposed direct form II at rest: y = b0 v + z1, z1 = b1 v - a1 y + z2, z2 = b2 v - a2 y
        z2 = b2 * v - a2 * y
        z1 = y - b0 * v
        self._state = np.ascontiguousarray(np.stack([z1, z2], axis=1))

    def response(self, freqs_hz: np.ndarray, fs: float) -> np.ndarray:
        """Complex frequency response at the given frequencies."""
        z = np.exp(-1j * 2 * np.pi * np.asarray(freqs_hz, np.float64) / fs)
        b0, b1, b2, a1, a2 = self._coefs
        return (b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z)

    def process(self, x: np.ndarray) -> np.ndarray:
        """x (N,) or (N, C) -> filtered, same shape, float64 (float32 in gives float32 out)."""
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be (N,) or (N, C), got shape {x.shape}")
        x2 = _rows("x", x.reshape(x.shape[0], -1) if x.ndim == 1 else x)
        c = x2.shape[1]
        if self._state is None:
            self._state = np.zeros((c, 2))
        elif self._state.shape[0] != c:
            raise ValueError(f"this filter runs {self._state.shape[0]} channels, got {c}")
        if x2.shape[0] == 0:
            return x.astype(np.float32 if x.dtype == np.float32 else np.float64)
        y = _kernels.biquad_process(x2, self._coefs, self._state).reshape(x.shape)
        return y.astype(np.float32) if x.dtype == np.float32 else y


def _grid(t0: int, t_end: int, rate_hz: float) -> np.ndarray:
    """Grid stamps t0 + round(k * 1e9 / rate) <= t_end (int64)."""
    if t_end < t0:
        return np.zeros(0, np.int64)
    period = 1e9 / rate_hz
    n = int((t_end - t0) // period) + 1
    if n > (1 << 26):
        raise ValueError(f"resampling would produce {n} samples; split the input")
    t = t0 + np.round(np.arange(n + 1) * period).astype(np.int64)
    return t[t <= t_end]


def _rate(rate_hz: float) -> float:
    if not (isinstance(rate_hz, (int, float, np.floating, np.integer)) and math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be a positive finite number, got {rate_hz!r}")
    if rate_hz > 1e6:
        raise ValueError(f"rate_hz {rate_hz} is above 1 MHz; not an IMU rate")
    return float(rate_hz)


def resample_irregular(
    t_ns: np.ndarray, values: np.ndarray, rate_hz: float, t0_ns: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Irregularly timed samples -> a fixed-rate grid by linear interpolation.

    t_ns: (N,) int64, non-decreasing (repeated stamps: the last sample wins); values: (N, C) or
    (N,). The grid is t0_ns + round(k * 1e9 / rate_hz) (t0_ns defaults to t_ns[0]) and covers
    only [t0_ns, t_ns[-1]]: no extrapolation. Returns (t_out int64 (M,), values_out float64
    (M, C) or (M,)).
    """
    t = _t_ns("t_ns", t_ns)
    squeeze = isinstance(values, np.ndarray) and values.ndim == 1
    v = _rows("values", values.reshape(-1, 1) if squeeze else values)
    if v.shape[0] != t.shape[0]:
        raise ValueError(f"values has {v.shape[0]} rows but t_ns has {t.shape[0]}")
    rate = _rate(rate_hz)
    if t.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros((0,) if squeeze else (0, v.shape[1]))
    start = int(t[0]) if t0_ns is None else int(t0_ns)
    grid = _grid(max(start, int(t[0])) if t0_ns is None else start, int(t[-1]), rate)
    grid = grid[grid >= t[0]]
    out = _kernels.interp_linear(t, v, grid)
    return grid, (out[:, 0] if squeeze else out)


class IrregularResampler:
    """Streaming resample_irregular: push batches of (t_ns, values), get the grid samples that
    are complete so far. The grid starts at t0_ns (default: the first stamp) and continues
    across batches; the last input sample is carried to bridge batch boundaries."""

    def __init__(self, rate_hz: float, t0_ns: int | None = None) -> None:
        self.rate_hz = _rate(rate_hz)
        self._t0 = t0_ns
        self._k = 0  # index of the next grid point to emit
        self._last_t: np.ndarray | None = None
        self._last_v: np.ndarray | None = None

    def push(self, t_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = _t_ns("t_ns", t_ns)
        v = _rows("values", values)
        if v.shape[0] != t.shape[0]:
            raise ValueError(f"values has {v.shape[0]} rows but t_ns has {t.shape[0]}")
        if self._last_v is not None and v.shape[1] != self._last_v.shape[1]:
            raise ValueError(f"expected {self._last_v.shape[1]} channels, got {v.shape[1]}")
        if t.shape[0] == 0:
            c = v.shape[1]
            return np.zeros(0, np.int64), np.zeros((0, c))
        if self._last_t is not None:
            if t[0] < self._last_t[0]:
                raise ValueError("t_ns went backwards across push() calls")
            t = np.concatenate([self._last_t, t])
            v = np.concatenate([self._last_v, v])
        if self._t0 is None:
            self._t0 = int(t[0])
        period = 1e9 / self.rate_hz
        first = self._t0 + round(self._k * period)
        n = 0 if t[-1] < first else int((int(t[-1]) - self._t0) // period) + 1 - self._k
        k = self._k + np.arange(max(n, 0) + 1)
        grid = self._t0 + np.round(k * period).astype(np.int64)
        done = grid <= t[-1]
        if np.any(done):
            self._k = int(k[done][-1]) + 1
        grid = grid[done & (grid >= t[0])]  # a t0_ns before the first stamp is not extrapolated
        out = _kernels.interp_linear(t, v, grid)
        self._last_t, self._last_v = t[-1:].copy(), v[-1:].copy()
        return grid, out
