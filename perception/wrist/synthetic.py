"""A small kinematic simulator of a wrist IMU, for tests, docs and the self-check of the rule recogniser.

The wrist has an orientation R(t) (sensor -> world) and a linear acceleration a(t) (world). The simulator
samples, at any rate and with optional timestamp jitter, what the IMU would read:
  accel = R(t)^T (a(t) + up) in g (an accelerometer reads +1 g "up" at rest), gyro = angular velocity in
  the sensor frame (rad/s). World frame: z up, x = where the hand axis points in the rest pose (watch face
up, forearm horizontal), so flick left/right are along -x/+x and up/down along +z/-z.

Events are analytic (half-sine pulses, raised-cosine angle profiles), so the same scene rendered at
25 Hz, 100 Hz or 400 Hz describes the same motion, which is what the rate-invariance tests rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.stream.types import ImuBatch
from perception.wrist.units import G

_VIEW_HAND_UP = np.deg2rad(10.0)  # the raise ends with the hand a little above the elbow ...
_VIEW_TILT = np.deg2rad(20.0)  # ... and the watch face tilted towards the wearer's eyes
FLICK_DIRECTIONS = {"flick_right": (1, 0, 0), "flick_left": (-1, 0, 0), "flick_up": (0, 0, 1), "flick_down": (0, 0, -1)}


@dataclass
class SimEvent:
    kind: str  # tap | double_tap | flick_* | twist_cw | twist_ccw | raise | shake
    t_s: float  # onset, seconds from the scene start
    amplitude: float = 1.0  # scales the default strength
    one_way: bool = False  # twists: turn by 90 deg in 0.4 s and hold, instead of 80 deg out and back

    @property
    def duration_s(self) -> float:
        if self.one_way:
            return 0.4
        return {"tap": 0.07, "double_tap": 0.32, "raise": 0.8, "shake": 1.0, "twist_cw": 0.6, "twist_ccw": 0.6}.get(
            self.kind, 0.36
        )

    @property
    def motion_s(self) -> float:
        """From onset to the end of all motion (a tap's rebound, a flick's stop), as rendered below."""
        return {"tap": 0.12, "double_tap": 0.37}.get(self.kind, self.duration_s)


@dataclass
class Scene:
    duration_s: float
    events: list[SimEvent] = field(default_factory=list)
    start_hanging: bool = False  # arm down before the first raise
    noise_g: float = 0.01
    gyro_noise: float = 0.01
    seed: int = 0


def _half_sine(t: np.ndarray, t0: float, width: float) -> np.ndarray:
    u = (t - t0) / width
    return np.where((u >= 0) & (u <= 1), np.sin(np.pi * np.clip(u, 0, 1)), 0.0)


def _bump(t: np.ndarray, t0: float, dur: float) -> tuple[np.ndarray, np.ndarray]:
    """0 -> 1 -> 0 raised-cosine angle profile and its time derivative."""
    u = np.clip((t - t0) / dur, 0, 1)
    inside = (t >= t0) & (t <= t0 + dur)
    return 0.5 - 0.5 * np.cos(2 * np.pi * u), np.where(inside, np.pi * np.sin(2 * np.pi * u) / dur, 0.0)


def _ramp(t: np.ndarray, t0: float, dur: float) -> tuple[np.ndarray, np.ndarray]:
    """0 -> 1 smooth step and its derivative."""
    u = np.clip((t - t0) / dur, 0, 1)
    inside = (t >= t0) & (t <= t0 + dur)
    return 0.5 - 0.5 * np.cos(np.pi * u), np.where(inside, 0.5 * np.pi * np.sin(np.pi * u) / dur, 0.0)


def _rot(axis: int, ang: np.ndarray) -> np.ndarray:
    """(N,3,3) rotations about a sensor axis."""
    c, s = np.cos(ang), np.sin(ang)
    n = len(ang)
    r = np.zeros((n, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[:, axis, axis] = 1
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def render(
    scene: Scene, rate_hz: float, jitter: float = 0.0, with_gyro: bool = True, t0_ns: int = 1_000_000_000
) -> ImuBatch:
    """Sample the scene at `rate_hz` (jitter = std of timestamp noise as a fraction of the period).
    Returns an ImuBatch in m/s^2 and rad/s, as the type documents."""
    rng = np.random.default_rng(scene.seed)
    n = int(scene.duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    if jitter:
        t = t + rng.normal(0, jitter / rate_hz, n)
        t = np.maximum.accumulate(t)
        t[1:] = np.maximum(t[1:], t[:-1] + 1e-6)
    lin_s = np.zeros((n, 3))  # sensor-frame extra acceleration (taps act on the device itself)
    lin_w = np.zeros((n, 3))
    omega = np.zeros((n, 3))
    base = _rot(1, np.full(n, np.pi / 2 if scene.start_hanging else 0.0))
    extra_axis, extra_ang = 0, np.zeros(n)
    for ev in scene.events:
        a = ev.amplitude
        if ev.kind in ("tap", "double_tap"):
            for dt in [0.0] if ev.kind == "tap" else [0.0, 0.25]:
                lin_s[:, 2] -= 1.5 * a * _half_sine(t, ev.t_s + dt, 0.07)
                lin_s[:, 2] += 0.4 * a * _half_sine(t, ev.t_s + dt + 0.07, 0.05)
        elif ev.kind in FLICK_DIRECTIONS:
            d = np.array(FLICK_DIRECTIONS[ev.kind], dtype=float)
            prof = 1.6 * a * (_half_sine(t, ev.t_s, 0.15) - 0.8 * _half_sine(t, ev.t_s + 0.15, 0.21))
            lin_w += prof[:, None] * d[None, :]
        elif ev.kind in ("twist_cw", "twist_ccw"):
            sgn = 1.0 if ev.kind == "twist_cw" else -1.0
            if ev.one_way:
                prof, dprof = _ramp(t, ev.t_s, ev.duration_s)
                turn = np.deg2rad(90)
            else:
                prof, dprof = _bump(t, ev.t_s, ev.duration_s)
                turn = np.deg2rad(80)
            extra_axis = 0
            extra_ang = extra_ang + sgn * turn * a * prof
            omega[:, 0] += sgn * turn * a * dprof
        elif ev.kind == "raise":
            prof, dprof = _ramp(t, ev.t_s, ev.duration_s)
            # hanging (hand axis down) -> the viewing pose: about sensor y from 90 deg to the hand 10 deg
            # above the elbow, and about the forearm by 20 deg so the face tilts towards the eyes
            after = t >= ev.t_s
            pitch = np.pi / 2 - (np.pi / 2 + _VIEW_HAND_UP) * prof
            roll = _VIEW_TILT * prof
            base[after] = _rot(1, pitch[after]) @ _rot(0, roll[after])
            # sensor-frame rate of R = Ry(pitch) Rx(roll): Rx(roll)^T (0, pitch', 0) + (roll', 0, 0)
            dpitch, droll = -(np.pi / 2 + _VIEW_HAND_UP) * dprof, _VIEW_TILT * dprof
            omega[:, 0] += np.where(after, droll, 0.0)
            omega[:, 1] += np.where(after, np.cos(roll) * dpitch, 0.0)
            omega[:, 2] += np.where(after, -np.sin(roll) * dpitch, 0.0)
            # the wrist rises and stops: up, then braking
            half = ev.duration_s / 2
            lin_w[:, 2] += 0.3 * (_half_sine(t, ev.t_s, half) - _half_sine(t, ev.t_s + half, half))
        elif ev.kind == "shake":
            u = (t >= ev.t_s) & (t <= ev.t_s + ev.duration_s)
            lin_w[:, 0] += np.where(u, 2.0 * a * np.sin(2 * np.pi * 5.0 * (t - ev.t_s)), 0.0)
        else:
            raise ValueError(f"unknown simulated event kind {ev.kind!r}")
    rot = base @ _rot(extra_axis, extra_ang)  # sensor -> world
    up = np.array([0.0, 0.0, 1.0])
    acc = np.einsum("nji,nj->ni", rot, lin_w + up[None, :]) + lin_s
    acc += rng.normal(0, scene.noise_g, acc.shape)
    gyro = omega + rng.normal(0, scene.gyro_noise, omega.shape)
    t_ns = t0_ns + np.round(t * 1e9).astype(np.int64)
    return ImuBatch(t_ns=t_ns, accel=acc * G, gyro=gyro if with_gyro else None)


def split(batch: ImuBatch, size: int) -> list[ImuBatch]:
    """Cut a recording into consecutive batches of `size` samples (as a live source would deliver)."""
    out = []
    for i in range(0, len(batch), size):
        out.append(
            ImuBatch(
                t_ns=batch.t_ns[i : i + size],
                accel=batch.accel[i : i + size],
                gyro=None if batch.gyro is None else batch.gyro[i : i + size],
                seq=len(out),
                source_id=batch.source_id,
            )
        )
    return out
