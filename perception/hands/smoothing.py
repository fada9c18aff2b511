"""One-Euro filter (Casiez et al., CHI 2012) for landmark tracks in video and live-stream modes.

Adaptive low-pass: at rest the cutoff is `min_cutoff` Hz (jitter removed), and it rises with speed
(`beta`), so fast motion is not lagged. Speed is measured in hand sizes per second, so one setting
works for a hand near the camera and one far away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class OneEuroOptions:
    min_cutoff: float = 0.5  # Hz
    beta: float = 2.0  # cutoff gain per (hand size / s)
    d_cutoff: float = 1.0  # Hz, for the speed estimate


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters an array of any shape (e.g. (21,3) landmarks) sample by sample."""

    def __init__(self, options: OneEuroOptions | None = None) -> None:
        self.options = options or OneEuroOptions()
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: int | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t_ns: int, scale: float = 1.0) -> np.ndarray:
        """`scale` (e.g. the palm size in pixels) makes speeds relative; returns the filtered array."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t_ns <= self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t_ns
            return x.copy()
        o = self.options
        dt = (t_ns - self._t) / 1e9
        self._t = t_ns
        dx = (x - self._x) / dt
        a_d = _alpha(o.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        speed = float(np.linalg.norm(self._dx, axis=-1).mean()) / max(scale, 1e-9)
        a = _alpha(o.min_cutoff + o.beta * speed, dt)
        self._x = a * x + (1 - a) * self._x
        return self._x.copy()
