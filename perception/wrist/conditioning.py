"""Input conditioning: any wrist IMU stream -> uniform samples at the working rate with gravity split off.

Steps per batch (state carries across batches, so a stream cut into any batch sizes gives the same output):
  1. units -> g and rad/s (`units.py`), declared or guessed once from the first batch;
  2. anti-alias low-pass (native Biquad) when the input is faster than ~2x the working rate;
  3. resampling of the irregular timestamps onto a uniform grid at `rate_hz` (native resample_irregular),
     continuing the grid across batches and restarting it after a gap;
  4. orientation from the native Madgwick AHRS when a gyroscope is present; gravity is then the AHRS's
     estimate of "up" in the sensor frame. Accelerometer-only: gravity is a 0.6 Hz low-pass of the accel;
  5. linear acceleration = accel - gravity; twist angle = roll about the forearm (hand) axis from gravity
     (AHRS), or accelerometer-only from the accel direction low-passed at 4 Hz.

Axes are the device's (Android / watch convention: x to 3 o'clock, y to 12 o'clock, z out of the face).
The forearm axis points from the elbow to the hand: +x for a watch on the left wrist, -x on the right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from native import imu as native_imu
from perception.stream.types import ImuBatch
from perception.wrist.units import G, accel_scale_to_g, guess_accel_unit, guess_gyro_unit, gyro_scale_to_rad_s


@dataclass
class ConditionerOptions:
    rate_hz: float = 50.0
    accel_unit: str = "m/s^2"  # "g" | "mg" | "m/s^2" | "auto"
    gyro_unit: str = "rad/s"  # "rad/s" | "deg/s" | "auto"
    wrist: str = "left"  # which wrist the device is on; sets the sign of the forearm axis
    forearm_axis: int = 0  # device axis along the forearm (0=x)
    ahrs_beta: float = 0.1
    gravity_lowpass_hz: float = 0.6  # accel-only gravity estimate
    tilt_lowpass_hz: float = 4.0  # accel-only twist: accel direction, fast enough to follow a twist
    max_gap_s: float = 0.5  # a longer gap restarts the grid (and does not interpolate across it)

    def __post_init__(self) -> None:
        if not 5.0 <= self.rate_hz <= 1000.0:
            raise ValueError(f"rate_hz must be within 5..1000 Hz, got {self.rate_hz}")
        if self.wrist not in ("left", "right"):
            raise ValueError(f"wrist must be 'left' or 'right', got {self.wrist!r}")
        if self.forearm_axis not in (0, 1, 2):
            raise ValueError(f"forearm_axis must be 0, 1 or 2, got {self.forearm_axis}")
        if self.accel_unit != "auto":
            accel_scale_to_g(self.accel_unit)
        if self.gyro_unit != "auto":
            gyro_scale_to_rad_s(self.gyro_unit)


@dataclass
class ConditionedBlock:
    """Uniform samples at `rate_hz`: accel/linear/gravity in g (N,3), gyro rad/s (N,3) or None,
    quat (N,4) w,x,y,z or None, twist (N,) radians about the forearm axis (unwrapped, continuous)."""

    t_ns: np.ndarray
    accel: np.ndarray
    linear: np.ndarray
    gravity: np.ndarray
    gyro: np.ndarray | None
    quat: np.ndarray | None
    twist: np.ndarray
    rate_hz: float

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])


def validate_batch(batch: ImuBatch) -> None:
    """Raise ValueError naming what is wrong with a batch (shapes, NaNs, time order)."""
    t = np.asarray(batch.t_ns)
    if t.ndim != 1:
        raise ValueError(f"ImuBatch.t_ns must be 1-D, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"ImuBatch.t_ns must be integer nanoseconds, got dtype {t.dtype}")
    a = np.asarray(batch.accel)
    if a.shape != (t.shape[0], 3):
        raise ValueError(f"ImuBatch.accel must be ({t.shape[0]},3) to match t_ns, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("ImuBatch.accel contains NaN or inf")
    if batch.gyro is not None:
        g = np.asarray(batch.gyro)
        if g.shape != (t.shape[0], 3):
            raise ValueError(f"ImuBatch.gyro must be ({t.shape[0]},3) to match t_ns, got {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("ImuBatch.gyro contains NaN or inf")
    if t.shape[0] > 1:
        dt = np.diff(t)
        if np.any(dt <= 0):
            raise ValueError("ImuBatch.t_ns must be strictly increasing")
        if t.shape[0] > 2 and np.median(dt) < 50_000:
            raise ValueError(
                f"ImuBatch.t_ns spacing of {int(np.median(dt))} ns means > 20 kHz: timestamps are not nanoseconds"
            )


def _off_one_g(v: np.ndarray, tol: float) -> np.ndarray:
    return np.abs(np.linalg.norm(v, axis=1) - 1.0) > tol


def _hold_where(v: np.ndarray, bad: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace rows flagged bad by the last good row (`prev` before the first); returns (rows, last)."""
    if bad.any():
        idx = np.maximum.accumulate(np.where(~bad, np.arange(len(v)), -1))
        v = np.where((idx >= 0)[:, None], v[np.maximum(idx, 0)], prev[None, :])
    return v, v[-1].copy()


class Conditioner:
    """Streaming conditioner; `push(batch)` returns the new uniform samples (possibly none)."""

    def __init__(self, options: ConditionerOptions | None = None) -> None:
        self.options = options or ConditionerOptions()
        self.reset()

    def reset(self) -> None:
        self._accel_scale: float | None = (
            None if self.options.accel_unit == "auto" else accel_scale_to_g(self.options.accel_unit)
        )
        self._gyro_unit = self.options.gyro_unit
        self._last_t: int | None = None  # last input time
        self._last_v: np.ndarray | None = None  # last (filtered) input sample, to bridge batches
        self._resampler: native_imu.IrregularResampler | None = None
        self._in_rate: float | None = None
        self._dts = np.zeros(0, np.int64)
        self._aa: object | None = None  # anti-alias biquad (native) at the input rate
        self._has_gyro: bool | None = None
        self._ahrs: object | None = None
        self._grav_lp: object | None = None
        self._tilt_lp: object | None = None
        self._tilt_hold: np.ndarray | None = None
        self._grav_hold: np.ndarray | None = None
        self._twist_prev: float | None = None
        self.gaps = 0  # grid restarts after gaps

    @property
    def hand_axis(self) -> np.ndarray:
        """Unit vector from elbow to hand in the device frame."""
        v = np.zeros(3)
        v[self.options.forearm_axis] = 1.0 if self.options.wrist == "left" else -1.0
        return v

    # -- steps ---------------------------------------------------------------------------------------
    def _scale(self, batch: ImuBatch) -> tuple[np.ndarray, np.ndarray | None]:
        accel = np.asarray(batch.accel, dtype=np.float64)
        if self._accel_scale is None:
            self._accel_scale = accel_scale_to_g(guess_accel_unit(accel))
        gyro = None
        if batch.gyro is not None:
            gyro = np.asarray(batch.gyro, dtype=np.float64)
            accel_unit = "m/s^2" if abs(self._accel_scale - 1.0 / G) <= 1e-12 else "g"  # g or mg alike
            if self._gyro_unit == "auto" and guess_gyro_unit(gyro, accel_unit) == "deg/s":
                # stays: rest periods cannot tell, fast motion can (the source's detector)
                self._gyro_unit = "deg/s"
            unit = "rad/s" if self._gyro_unit == "auto" else self._gyro_unit
            gyro = gyro * gyro_scale_to_rad_s(unit)
        return accel * self._accel_scale, gyro

    def _anti_alias(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        # input rate from the recent sample spacing (across batches: tiny batches say little alone)
        dts = np.diff(t if self._last_t is None else np.concatenate([[self._last_t], t]))
        self._dts = np.concatenate([self._dts, dts])[-64:]
        if len(self._dts):
            rate = 1e9 / float(np.median(self._dts))
            if self._in_rate is None or abs(rate - self._in_rate) > 0.2 * self._in_rate:
                self._in_rate = rate
                cutoff = 0.4 * self.options.rate_hz
                # a filter at the input rate only when the grid would otherwise alias
                self._aa = (
                    native_imu.Biquad.lowpass(cutoff, rate, 0.7071) if rate > 2.2 * self.options.rate_hz else None
                )
                if self._aa is not None:
                    self._prime(self._aa, self._last_v if self._last_v is not None else v[0], cutoff, rate)
        if self._aa is None:
            return v
        return np.asarray(self._aa.process(np.ascontiguousarray(v)), dtype=np.float64)

    @staticmethod
    def _prime(filt: object, value: np.ndarray, fc: float, fs: float) -> None:
        """Settle a low-pass on a constant so the stream does not start with a step from zero
        (about eight time constants of the cut-off)."""
        n = int(min(20_000, max(50, 8 * fs / fc)))
        filt.process(np.ascontiguousarray(np.repeat(value[None, :], n, axis=0)))

    def _resample(self, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._last_t is not None and t[0] - self._last_t > self.options.max_gap_s * 1e9:
            self.gaps += 1  # do not interpolate across a dropout: start a new grid after it
            self._resampler = None
        if self._resampler is None:
            self._resampler = native_imu.IrregularResampler(float(self.options.rate_hz))
        self._last_t = int(t[-1])
        self._last_v = v[-1].copy()
        t_out, v_out = self._resampler.push(
            np.ascontiguousarray(t, dtype=np.int64), np.ascontiguousarray(v, dtype=np.float64)
        )
        return np.asarray(t_out, dtype=np.int64), np.asarray(v_out, dtype=np.float64)

    def _orientation(self, accel: np.ndarray, gyro: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        if gyro is not None:
            if self._ahrs is None:
                # starts level from the first accelerometer reading
                self._ahrs = native_imu.Madgwick(float(self.options.rate_hz), float(self.options.ahrs_beta))
            q = np.asarray(self._ahrs.update(np.ascontiguousarray(accel), np.ascontiguousarray(gyro)), dtype=np.float64)
            return native_imu.gravity_in_sensor(q), q  # unit vector = 1 g
        if self._grav_lp is None:
            self._grav_lp = native_imu.Biquad.lowpass(
                self.options.gravity_lowpass_hz, float(self.options.rate_hz), 0.7071
            )
            self._prime(self._grav_lp, accel[0], self.options.gravity_lowpass_hz, self.options.rate_hz)
            self._grav_hold = accel[0].copy()
        # only near-1 g readings say where gravity is; a tap or a flick would drag the low-pass along
        gated, self._grav_hold = _hold_where(accel, _off_one_g(accel, 0.25), self._grav_hold)
        return np.asarray(self._grav_lp.process(np.ascontiguousarray(gated)), dtype=np.float64), None

    def _twist(self, gravity: np.ndarray) -> np.ndarray:
        ax = self.options.forearm_axis
        sign = 1.0 if self.options.wrist == "left" else -1.0
        j, k = [(1, 2), (2, 0), (0, 1)][ax]
        # roll about the hand axis: angle of gravity in the plane perpendicular to it
        ang = np.arctan2(gravity[:, j], gravity[:, k]) * sign
        if self._twist_prev is not None:
            ang = np.concatenate([[self._twist_prev], ang])
            ang = np.unwrap(ang)[1:]
        else:
            ang = np.unwrap(ang)
        if len(ang):
            self._twist_prev = float(ang[-1])
        return ang

    # -- public ----------------------------------------------------------------------------------------
    def push(self, batch: ImuBatch) -> ConditionedBlock:
        validate_batch(batch)
        has_gyro = batch.gyro is not None
        if self._has_gyro is not None and has_gyro != self._has_gyro:
            raise ValueError("ImuBatch.gyro presence changed mid-stream; use one Conditioner per stream kind")
        self._has_gyro = has_gyro
        if len(batch) == 0:
            return self._empty()
        t = np.asarray(batch.t_ns, dtype=np.int64)
        if self._last_t is not None and t[0] <= self._last_t:
            raise ValueError(f"ImuBatch starts at {int(t[0])} ns, not after the previous batch ({self._last_t} ns)")
        accel, gyro = self._scale(batch)
        v = accel if gyro is None else np.concatenate([accel, gyro], axis=1)
        v = self._anti_alias(t, v)
        t_out, v_out = self._resample(t, v)
        if len(t_out) == 0:
            return self._empty()
        accel_u = v_out[:, :3]
        gyro_u = v_out[:, 3:6] if has_gyro else None
        gravity, quat = self._orientation(accel_u, gyro_u)
        if quat is None:
            # the slow gravity estimate lags a 0.5 s twist; the accel direction itself follows it, and
            # a twist about the forearm barely accelerates the wrist, so it is a fair tilt there
            if self._tilt_lp is None:
                self._tilt_lp = native_imu.Biquad.lowpass(
                    self.options.tilt_lowpass_hz, float(self.options.rate_hz), 0.7071
                )
                self._prime(self._tilt_lp, accel_u[0], self.options.tilt_lowpass_hz, self.options.rate_hz)
            tilt = np.asarray(self._tilt_lp.process(np.ascontiguousarray(accel_u)), dtype=np.float64)
            # while the wrist accelerates hard the accel is no tilt reading (a downward flick even
            # flips it): hold the last trustworthy direction there
            prev = self._tilt_hold if self._tilt_hold is not None else gravity[0]
            tilt, self._tilt_hold = _hold_where(tilt, _off_one_g(tilt, 0.3), prev)
        else:
            tilt = gravity
        return ConditionedBlock(
            t_ns=t_out,
            accel=accel_u,
            linear=accel_u - gravity,
            gravity=gravity,
            gyro=gyro_u,
            quat=quat,
            twist=self._twist(tilt),
            rate_hz=float(self.options.rate_hz),
        )

    def _empty(self) -> ConditionedBlock:
        z3 = np.zeros((0, 3))
        return ConditionedBlock(
            t_ns=np.zeros(0, np.int64),
            accel=z3,
            linear=z3,
            gravity=z3,
            gyro=z3 if self._has_gyro else None,
            quat=np.zeros((0, 4)) if self._has_gyro else None,
            twist=np.zeros(0),
            rate_hz=float(self.options.rate_hz),
        )


def condition(batch: ImuBatch, options: ConditionerOptions | None = None) -> ConditionedBlock:
    """Condition one whole recording (a fresh Conditioner)."""
    return Conditioner(options).push(batch)
