"""Streaming sample-rate conversion for the audio sources.

`make_resampler` uses the native Kaiser-windowed-sinc `native.audio.Resampler` when the C extension
has it (output sample m estimates the input at m / out_rate, no phase shift, so chunk times computed
from the sample count stay exact; it holds back its filter look-ahead until `flush()`), and
otherwise `LinearResampler`: exact rational positions (no drift over hours), linear interpolation,
no anti-alias filter, so content above the output Nyquist aliases. That is tolerable for 16 kHz
speech from a 44.1/48 kHz microphone and is why the native resampler replaces it when present.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

log = logging.getLogger("cuekit.sources.audio")


class Resampler(Protocol):
    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


class LinearResampler:
    """Output sample k is the input interpolated at position k * in_rate / out_rate (exact integers)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self._n_in = 0  # input samples consumed so far
        self._n_out = 0  # output samples produced so far
        self._prev: np.ndarray | None = None  # the last input sample, needed to interpolate across pushes

    def push(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return np.zeros(0, np.float32)
        if self.in_rate == self.out_rate:
            return x.copy()
        if self._prev is None:
            buf, base = x, self._n_in
        else:
            buf, base = np.concatenate([self._prev, x]), self._n_in - 1
        self._n_in += x.size
        last_k = ((self._n_in - 1) * self.out_rate) // self.in_rate  # positions up to the newest sample
        ks = np.arange(self._n_out, last_k + 1, dtype=np.int64)
        self._n_out = last_k + 1
        self._prev = x[-1:].copy()
        if ks.size == 0:
            return np.zeros(0, np.float32)
        num = ks * self.in_rate
        i0 = num // self.out_rate - base
        frac = ((num % self.out_rate) / self.out_rate).astype(np.float32)
        i1 = np.minimum(i0 + 1, buf.size - 1)
        return (buf[i0] * (1.0 - frac) + buf[i1] * frac).astype(np.float32)

    def flush(self) -> np.ndarray:
        """End of stream: nothing is held back (no look-ahead)."""
        return np.zeros(0, np.float32)


def make_resampler(in_rate: int, out_rate: int) -> Resampler:
    try:
        from native.audio import Resampler as NativeResampler  # type: ignore[import-not-found]
    except ImportError:
        return LinearResampler(in_rate, out_rate)
    if in_rate == out_rate:
        return LinearResampler(in_rate, out_rate)
    return NativeResampler(in_rate, out_rate)
