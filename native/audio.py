"""Audio front-end kernels: streaming log-mel / MFCC features and a streaming rational resampler.

LogMel frames the stream (win_length samples every hop, no centre padding: the first frame
starts at the first sample), windows each frame (periodic Hann by default; Povey, Hamming or
rectangular), zero-pads to n_fft, takes the power spectrum |rfft|^2, applies n_mels triangular
filters evenly spaced on the HTK mel scale (1127 ln(1 + f/700)) between fmin and fmax, and
returns ln(max(energy, log_floor)). MFCC adds an orthonormal DCT-II over the mel axis. Optional
Kaldi-style per-frame DC removal and pre-emphasis. Matches native._reference.log_mel (numpy) to
1e-4.

Resampler is a polyphase Kaiser-windowed-sinc filter for any integer rate pair with a small
reduced ratio (48k, 44.1k, 32k, 22.05k, 8k <-> 16k ...). Defaults: passband to 0.4375 x the lower
rate (7 kHz for 16 kHz out), stopband from 0.5 x (8 kHz), 80 dB design attenuation; measured
ripple and attenuation are in docs/native.md and asserted in tests/native/test_audio.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from native import _kernels

_WINDOWS = ("hann", "povey", "hamming", "rect")


def _samples(x: np.ndarray) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"samples must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"samples must be floating point (float32 in [-1, 1]), got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"samples must be mono 1-D, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    # checked on arrival: a NaN kept in a stream buffer would poison every later push
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or inf")
    return x


def _window(kind: str, n: int) -> np.ndarray:
    i = np.arange(n)
    if kind == "hann":  # periodic: the right window for spectral analysis
        return 0.5 - 0.5 * np.cos(2 * np.pi * i / n)
    if kind == "povey":  # Kaldi's default
        return (0.5 - 0.5 * np.cos(2 * np.pi * i / max(n - 1, 1))) ** 0.85
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * i / max(n - 1, 1))
    return np.ones(n)


def _fft_tables(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Tables of the C real FFT (n_fft = 2m via an m-point complex FFT): per-stage twiddles
    (re | im, stage of size s at s/2 - 1), unpack twiddles exp(-2 pi i k / n_fft) (re | im),
    and the bit-reversal permutation of m."""
    m = n_fft // 2
    stage = np.zeros(m, np.complex128)
    half = 1
    while half < m:
        stage[half - 1 : 2 * half - 1] = np.exp(-2j * np.pi * np.arange(half) / (2 * half))
        half *= 2
    unpack = np.exp(-2j * np.pi * np.arange(m) / n_fft)
    table = np.concatenate([stage.real, stage.imag, unpack.real, unpack.imag])
    bits = max(m.bit_length() - 1, 0)
    idx = np.arange(m)
    rev = np.zeros(m, np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return np.ascontiguousarray(table), rev.astype(np.int32)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the HTK mel scale (peak 1, no area norm)."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    mel = 1127.0 * np.log1p(freqs / 700.0)
    edges = np.linspace(1127.0 * math.log1p(fmin / 700.0), 1127.0 * math.log1p(fmax / 700.0), n_mels + 2)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((mel - lower) / (centre - lower), (upper - mel) / (upper - centre)))


def dct_ii(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (n_out, n_in)."""
    k = np.arange(n_out)[:, None]
    m = np.cos(np.pi / n_in * (np.arange(n_in)[None, :] + 0.5) * k) * math.sqrt(2.0 / n_in)
    m[0] /= math.sqrt(2.0)
    return m


@dataclass(frozen=True)
class LogMelOptions:
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop: int = 160
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float | None = None  # None: sample_rate / 2
    window: str = "hann"
    log_floor: float = 1e-10
    preemphasis: float = 0.0
    remove_dc: bool = False


class LogMel:
    """Streaming log-mel features: push(samples float32) -> (n_frames, n_mels) float32.

    Samples not yet making a whole frame are kept for the next push, so any chunking of a
    stream gives the same frames as the whole stream. Frame i covers samples
    [i * hop, i * hop + win_length) of the stream; `frames_done` counts frames emitted.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop: int = 160,
        n_mels: int = 40,
        fmin: float = 20.0,
        fmax: float | None = None,
        window: str = "hann",
        log_floor: float = 1e-10,
        preemphasis: float = 0.0,
        remove_dc: bool = False,
        _n_dct: int | None = None,
    ) -> None:
        fmax = sample_rate / 2 if fmax is None else fmax
        self.options = LogMelOptions(
            sample_rate, n_fft, win_length, hop, n_mels, fmin, fmax, window, log_floor, preemphasis, remove_dc
        )
        for name, v in (
            ("sample_rate", sample_rate),
            ("n_fft", n_fft),
            ("win_length", win_length),
            ("hop", hop),
            ("n_mels", n_mels),
        ):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if n_fft & (n_fft - 1) or not 4 <= n_fft <= 65536:
            raise ValueError(f"n_fft must be a power of two in 4..65536, got {n_fft}")
        if win_length > n_fft:
            raise ValueError(f"win_length {win_length} exceeds n_fft {n_fft}")
        if window not in _WINDOWS:
            raise ValueError(f"window must be one of {_WINDOWS}, got {window!r}")
        if not (math.isfinite(fmin) and math.isfinite(fmax) and 0 <= fmin < fmax <= sample_rate / 2):
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got {fmin}, {fmax}")
        if not (log_floor > 0 and math.isfinite(log_floor)):
            raise ValueError(f"log_floor must be positive, got {log_floor}")
        if not math.isfinite(preemphasis):
            raise ValueError(f"preemphasis must be finite, got {preemphasis}")
        self._window = _window(window, win_length)
        self._fft_table, self._bitrev = _fft_tables(n_fft)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
        if np.any(fb.sum(axis=1) == 0):
            raise ValueError(f"{n_mels} mel bands are too many for n_fft {n_fft}: some are empty")
        rows, cols = np.nonzero(fb)
        self._offsets = np.searchsorted(rows, np.arange(n_mels + 1)).astype(np.int64)
        self._bins = cols.astype(np.int64)
        self._weights = fb[rows, cols].astype(np.float64)
        self._dct = None if _n_dct is None else np.ascontiguousarray(dct_ii(_n_dct, n_mels))
        self._buf = np.zeros(0, np.float32)
        self.frames_done = 0

    def reset(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self.frames_done = 0

    def _run(self, x: np.ndarray) -> np.ndarray:
        o = self.options
        if x.size < o.win_length:
            return np.zeros((0, o.n_mels if self._dct is None else self._dct.shape[0]), np.float32)
        return _kernels.logmel_frames(
            x,
            self._window,
            self._fft_table,
            self._bitrev,
            o.hop,
            self._offsets,
            self._bins,
            self._weights,
            float(o.log_floor),
            float(o.preemphasis),
            bool(o.remove_dc),
            self._dct,
        )

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; return the features of every frame completed by them."""
        x = _samples(samples)
        buf = np.concatenate([self._buf, x]) if self._buf.size else x
        out = self._run(buf)
        n = out.shape[0]
        self._buf = buf[n * self.options.hop :].copy()
        self.frames_done += n
        return out

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Features of a whole clip (stateless; ignores and keeps the stream state)."""
        return self._run(_samples(samples))


class MFCC(LogMel):
    """Streaming MFCC: the log-mel frames times an orthonormal DCT-II, first n_mfcc rows
    (c0 included, no liftering). Same arguments as LogMel plus n_mfcc."""

    def __init__(self, n_mfcc: int = 13, **logmel_kwargs) -> None:
        n_mels = logmel_kwargs.get("n_mels", 40)
        if isinstance(n_mfcc, bool) or not isinstance(n_mfcc, (int, np.integer)) or not 0 < n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels ({n_mels}), got {n_mfcc!r}")
        super().__init__(_n_dct=int(n_mfcc), **logmel_kwargs)
        self.n_mfcc = int(n_mfcc)


def log_mel(samples: np.ndarray, **options) -> np.ndarray:
    """One-shot log-mel of a clip: LogMel(**options).compute(samples)."""
    return LogMel(**options).compute(samples)


def mfcc(samples: np.ndarray, n_mfcc: int = 13, **options) -> np.ndarray:
    """One-shot MFCC of a clip: MFCC(n_mfcc, **options).compute(samples)."""
    return MFCC(n_mfcc, **options).compute(samples)


def kaiser_sinc_table(
    in_rate: int, out_rate: int, passband: float = 0.4375, stopband: float = 0.5, attenuation_db: float = 80.0
) -> tuple[np.ndarray, int, int, int]:
    """Polyphase table (L, K) of the Kaiser-windowed-sinc prototype for in_rate -> out_rate,
    with L, M (reduced ratio) and the centre D in upsampled samples. Band edges are fractions
    of the lower rate; Kaiser's formulas give beta and the length for attenuation_db."""
    g = math.gcd(in_rate, out_rate)
    L, M = out_rate // g, in_rate // g
    low = min(in_rate, out_rate)
    up_rate = in_rate * L
    cutoff = 0.5 * (passband + stopband) * low / up_rate  # cycles per upsampled sample
    dw = 2 * math.pi * (stopband - passband) * low / up_rate
    a = attenuation_db
    beta = 0.1102 * (a - 8.7) if a > 50 else (0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21) if a > 21 else 0.0)
    n_taps = math.ceil((a - 7.95) / (2.285 * dw)) + 1
    K = math.ceil(n_taps / L)
    K += K % 2  # even taps per phase: the centre falls on an input sample, delay K/2 exactly
    D = L * K // 2
    i = np.arange(L * K) - D
    h = 2 * cutoff * np.sinc(2 * cutoff * i) * np.kaiser(2 * D + 1, beta)[: L * K]
    h *= L / h.sum()  # unity DC gain after zero-stuffing by L
    table = np.ascontiguousarray(h.reshape(K, L).T)  # table[p][j] = h[j * L + p]
    return table, L, M, D


class Resampler:
    """Streaming rational resampler (Kaiser-windowed sinc, polyphase).

    push(samples) returns every output sample whose inputs have arrived; the filter looks
    `delay_s` ahead, so output lags input by that much until flush() (end of stream) feeds
    zeros to emit the tail. Output sample m estimates the input at time m / out_rate (no phase
    shift): concatenating push() outputs and flush() equals resample() of the whole signal.
    """

    def __init__(
        self, in_rate: int, out_rate: int, passband: float = 0.4375, stopband: float = 0.5, attenuation_db: float = 80.0
    ) -> None:
        for name, v in (("in_rate", in_rate), ("out_rate", out_rate)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 < v <= 1_000_000:
                raise ValueError(f"{name} must be an int rate in 1..1e6 Hz, got {v!r}")
        if not (0 < passband < stopband <= 0.5 + 1e-9) or not (20 <= attenuation_db <= 200):
            raise ValueError("need 0 < passband < stopband <= 0.5 and 20 <= attenuation_db <= 200")
        g = math.gcd(int(in_rate), int(out_rate))
        if out_rate // g > 4096:
            raise ValueError(
                f"{in_rate} -> {out_rate} Hz reduces to {out_rate // g}/{in_rate // g}: "
                "too many polyphase phases (limit 4096)"
            )
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.table, self.L, self.M, self.D = kaiser_sinc_table(
            self.in_rate, self.out_rate, passband, stopband, attenuation_db
        )
        self.K = self.table.shape[1]
        # the C loop runs forward dot products in float32: each phase reversed
        self._ctable = np.ascontiguousarray(self.table[:, ::-1], dtype=np.float32)
        self.reset()

    @property
    def delay_s(self) -> float:
        """Look-ahead of the filter in seconds (K/2 input samples)."""
        return self.D / self.L / self.in_rate

    def reset(self) -> None:
        # the stream is preceded by K zeros so the first outputs have their history
        self._buf = np.zeros(self.K, np.float32)
        self._buf_start = -self.K
        self._n_in = 0
        self._m = 0

    def _emit(self, m_end: int) -> np.ndarray:
        out = _kernels.polyphase(self._buf, self._buf_start, self._ctable, self.M, self.D, self._m, m_end)
        self._m = m_end
        # keep only what the next output still needs
        keep_from = (self._m * self.M + self.D) // self.L - (self.K - 1)
        drop = max(0, min(keep_from - self._buf_start, self._buf.size))
        if drop:
            self._buf = self._buf[drop:].copy()
            self._buf_start += drop
        return out

    def push(self, samples: np.ndarray) -> np.ndarray:
        x = _samples(samples)
        if x.size:
            self._buf = np.concatenate([self._buf, x])
            self._n_in += x.size
        last = self._buf_start + self._buf.size - 1  # last available input index
        # outputs m with (m*M + D) // L <= last
        m_end = max(self._m, ((last + 1) * self.L - self.D + self.M - 1) // self.M)
        return self._emit(m_end)

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs (up to ceil(n_in * out / in)), then reset."""
        total = -(-self._n_in * self.L // self.M)
        need_last = ((total - 1) * self.M + self.D) // self.L if total > self._m else -1
        pad = max(0, need_last - (self._buf_start + self._buf.size - 1))
        if pad:
            self._buf = np.concatenate([self._buf, np.zeros(pad, np.float32)])
        out = self._emit(max(total, self._m))
        self.reset()
        return out

    def frequency_response(self, freqs_hz: np.ndarray) -> np.ndarray:
        """|H(f)| of the filter as run (float32 taps) at input-side frequencies (Hz), unity =
        passband."""
        h = self._ctable[:, ::-1].astype(np.float64).T.reshape(-1)  # prototype order h[j * L + p]
        f = np.asarray(freqs_hz, np.float64) / (self.in_rate * self.L)
        n = np.arange(h.size)
        return np.abs(np.exp(-2j * np.pi * np.outer(f, n)) @ h) / self.L


def resample(x: np.ndarray, in_rate: int, out_rate: int, **options) -> np.ndarray:
    """Whole-signal resampling: ceil(len(x) * out_rate / in_rate) float32 samples, no delay."""
    r = Resampler(in_rate, out_rate, **options)
    y = r.push(x)
    return np.concatenate([y, r.flush()])
