"""Audio helpers for the speech path: int16 conversion and noise mixing at a peak-frame-energy SNR exactly
as Picovoice's speech-to-intent benchmark mixes it. WAV I/O and resampling are the project's one codec
(`perception.sources.wav`) and one resampler (`perception.sources.resample`), re-exported here."""

from __future__ import annotations

import zlib

import numpy as np

from perception.sources.resample import resample
from perception.sources.wav import read_wav, write_wav

SNR_FRAME = 2048  # the benchmark measures signal and noise power on frames of this many samples


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype("<i2")


def peak_frame_power(x: np.ndarray, frame: int = SNR_FRAME) -> float:
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x.astype(np.float64) ** 2))
    frames = x[: n * frame].astype(np.float64).reshape(n, frame)
    return float(np.max(np.mean(frames**2, axis=1)))


def seed_for(name: str, snr_db: float) -> int:
    """A fixed seed per (file, SNR) so mixed conditions are repeatable across runs and processes."""
    return zlib.crc32(f"{name}|{snr_db:g}".encode())


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Noise from a random offset (looped if short), scaled so that peak frame energy of speech over
    peak frame energy of the noise is `snr_db`; the mix is peak-normalised to 0.5, as the benchmark."""
    n = len(speech)
    if len(noise) < n:
        noise = np.tile(noise, n // len(noise) + 1)
    off = int(rng.integers(0, len(noise) - n + 1))
    seg = noise[off : off + n].astype(np.float64)
    ps, pn = peak_frame_power(speech), peak_frame_power(seg)
    if pn <= 0:
        raise ValueError("noise segment is silent: cannot mix at an SNR")
    scale = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    mix = speech.astype(np.float64) + scale * seg
    peak = np.max(np.abs(mix))
    if peak > 0:
        mix = mix * (0.5 / peak)
    return mix.astype(np.float32)


__all__ = ["SNR_FRAME", "mix_at_snr", "peak_frame_power", "read_wav", "resample", "seed_for", "to_int16", "write_wav"]
