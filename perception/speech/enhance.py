"""Noise suppression before decoding: a decision-directed Wiener filter (Ephraim & Malah's a-priori
SNR estimate) on a 32 ms STFT. The noise spectrum comes from the audio just before the segment (the
VAD's pre-speech history, which the recogniser keeps anyway), falling back to the quietest frames of
the segment itself. A gain floor keeps the residual noise natural: deep gains create "musical noise"
that hurts the recogniser's cepstral features more than the noise did.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

N_FFT = 512
HOP = 256


@dataclass(slots=True)
class WienerOptions:
    alpha: float = 0.98  # decision-directed smoothing
    gain_floor: float = 0.15  # about -16 dB
    over_subtraction: float = 1.0
    min_ref_s: float = 0.25  # shorter noise references fall back to the segment's quiet frames
    quiet_fraction: float = 0.2


def _stft(x: np.ndarray) -> np.ndarray:
    win = np.sqrt(np.hanning(N_FFT + 1)[:-1]).astype(np.float32)
    pad = np.concatenate([np.zeros(N_FFT - HOP, np.float32), x, np.zeros(N_FFT, np.float32)])
    n = 1 + (len(pad) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    return np.fft.rfft(pad[idx] * win, axis=1)


def _istft(spec: np.ndarray, n_out: int) -> np.ndarray:
    win = np.sqrt(np.hanning(N_FFT + 1)[:-1]).astype(np.float32)
    frames = np.fft.irfft(spec, N_FFT, axis=1) * win
    out = np.zeros(HOP * (len(frames) - 1) + N_FFT, np.float32)
    for i, f in enumerate(frames):
        out[i * HOP:i * HOP + N_FFT] += f
    return out[N_FFT - HOP:N_FFT - HOP + n_out]


def wiener(x: np.ndarray, noise_ref: np.ndarray | None = None, options: WienerOptions | None = None) -> np.ndarray:
    o = options or WienerOptions()
    if len(x) < N_FFT:
        return x
    X = _stft(x.astype(np.float32))
    P = np.abs(X) ** 2
    if noise_ref is not None and len(noise_ref) >= o.min_ref_s * 16000:
        noise = np.mean(np.abs(_stft(noise_ref.astype(np.float32))) ** 2, axis=0)
    else:
        e = P.sum(axis=1)
        k = max(1, int(len(e) * o.quiet_fraction))
        noise = np.mean(P[np.argsort(e)[:k]], axis=0)
    noise = o.over_subtraction * np.maximum(noise, 1e-12)
    gains = np.empty_like(P)
    prev = np.ones(P.shape[1])
    for t in range(len(P)):
        post = P[t] / noise
        prio = o.alpha * prev + (1 - o.alpha) * np.maximum(post - 1.0, 0.0)
        g = np.maximum(prio / (1.0 + prio), o.gain_floor)
        gains[t] = g
        prev = (g ** 2) * post
    return _istft(X * gains, len(x))


def make_enhancer(name: str) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    if name == "wiener":
        return lambda x, ref: wiener(x, ref)
    raise ValueError(f"unknown enhancer {name!r}; known: wiener")
