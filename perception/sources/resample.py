"""The one resampling path for audio: `make_resampler` for streams and `resample` for whole signals, both
the native polyphase Kaiser-windowed-sinc `native.audio.Resampler` (output sample m estimates the input
at m / out_rate, no phase shift, so chunk times computed from the sample count stay exact; it holds back
its filter look-ahead until `flush()`). Equal rates pass samples through unchanged.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from native import audio as native_audio

MAX_PHASES = 1024  # 11.025 kHz -> 16 kHz needs 640


class Resampler(Protocol):
    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


class PassThrough:
    """in_rate == out_rate: a copy of every block, nothing held back."""

    def __init__(self, rate: int) -> None:
        self.in_rate = self.out_rate = int(rate)

    def push(self, samples: np.ndarray) -> np.ndarray:
        return np.asarray(samples, dtype=np.float32).reshape(-1).copy()

    def flush(self) -> np.ndarray:
        return np.zeros(0, np.float32)


def make_resampler(in_rate: int, out_rate: int) -> Resampler:
    """A streaming resampler; ValueError naming the rates when the pair is not supported."""
    if in_rate == out_rate:
        if isinstance(in_rate, bool) or not isinstance(in_rate, (int, np.integer)) or in_rate <= 0:
            raise ValueError(f"sample rates must be positive integers, got {in_rate!r}")
        return PassThrough(in_rate)
    g = math.gcd(int(in_rate), int(out_rate))
    if int(out_rate) // g > MAX_PHASES:
        # the filter table grows with the phases (and the taps with the down-sampling factor): a header
        # claiming 437316 Hz would take seconds and hundreds of MB to design for a few samples
        raise ValueError(
            f"sample rate {in_rate} Hz -> {out_rate} Hz reduces to {out_rate // g}/{in_rate // g}; "
            f"rates whose ratio needs more than {MAX_PHASES} filter phases are not supported "
            "(8, 11.025, 16, 22.05, 32, 44.1, 48, 96 kHz ... are)"
        )
    return native_audio.Resampler(int(in_rate), int(out_rate))


def resample(samples: np.ndarray, in_rate: int, out_rate: int = 16_000) -> np.ndarray:
    """A whole signal at another rate (the streaming resampler run over it, flushed)."""
    x = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    r = make_resampler(in_rate, out_rate)
    return np.concatenate([r.push(x), r.flush()]).astype(np.float32, copy=False)
