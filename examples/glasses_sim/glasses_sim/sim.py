"""Deterministic signals of a glasses prototype: a head IMU with nods, a microphone, a scene, gaze.

Everything is a function of time (seconds since start) and a seed, so a streamed session and an
in-process one produce the same data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G = 9.80665


@dataclass(slots=True)
class SimOptions:
    seed: int = 0
    imu_rate_hz: int = 200
    audio_rate_hz: int = 16000
    nod_every_s: float = 2.0  # a head nod starts every this many seconds (0: never)
    nod_offset_s: float = 0.5
    nod_duration_s: float = 0.5  # one down-up cycle
    nod_peak_rad_s: float = 2.5
    gaze_dwell_s: float = 1.5  # the wearer looks at each target in turn for this long


TARGETS = [
    {"id": "lamp", "label": "lamp", "position": [0.8, 0.3, 2.0], "radius": 0.25, "aliases": ["light"]},
    {"id": "door", "label": "door", "position": [-1.2, 0.0, 3.0], "radius": 0.5},
    {"id": "tv", "label": "television", "position": [0.0, 0.2, 3.5], "radius": 0.6, "aliases": ["screen"]},
]


class GlassesSim:
    def __init__(self, options: SimOptions | None = None) -> None:
        self.o = options or SimOptions()
        self.rng = np.random.default_rng(self.o.seed)

    def nod_times(self, t0: float, t1: float) -> list[float]:
        """Start times of the nods in [t0, t1)."""
        o = self.o
        if o.nod_every_s <= 0:
            return []
        k0 = max(0, int(np.ceil((t0 - o.nod_offset_s) / o.nod_every_s)))
        out = []
        k = k0
        while (s := o.nod_offset_s + k * o.nod_every_s) < t1:
            if s >= t0:
                out.append(s)
            k += 1
        return out

    def pitch_rate(self, t: np.ndarray) -> np.ndarray:
        """Pitch angular velocity (rad/s): one full sine cycle per nod (down, then back up)."""
        o = self.o
        w = np.zeros_like(t)
        if o.nod_every_s <= 0:
            return w
        phase = (t - o.nod_offset_s) % o.nod_every_s
        inside = (t >= o.nod_offset_s) & (phase < o.nod_duration_s)
        w[inside] = o.nod_peak_rad_s * np.sin(2 * np.pi * phase[inside] / o.nod_duration_s)
        return w

    def imu(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """accel (N,3) m/s^2 with gravity, gyro (N,3) rad/s, at times t_s (seconds since start)."""
        n = len(t_s)
        gyro = self.rng.normal(0.0, 0.02, (n, 3))
        gyro[:, 0] += self.pitch_rate(t_s)
        accel = self.rng.normal(0.0, 0.05, (n, 3))
        accel[:, 1] += G
        return accel, gyro

    def audio(self, t0_s: float, n: int) -> np.ndarray:
        """int16 microphone samples: room noise with a 440 Hz tone burst during each nod."""
        o = self.o
        t = t0_s + np.arange(n) / o.audio_rate_hz
        x = self.rng.normal(0.0, 0.01, n)
        x += 0.2 * (np.abs(self.pitch_rate(t)) > 0) * np.sin(2 * np.pi * 440.0 * t)
        return (np.clip(x, -1, 1) * 32767).astype(np.int16)

    def gaze(self, t_s: float) -> tuple[list[float], list[float], str]:
        """Origin, unit direction and the id of the target looked at, at time t_s."""
        target = TARGETS[int(t_s // self.o.gaze_dwell_s) % len(TARGETS)]
        d = np.asarray(target["position"], float)
        d += self.rng.normal(0.0, 0.005, 3)
        d /= np.linalg.norm(d)
        return [0.0, 0.0, 0.0], d.tolist(), target["id"]
