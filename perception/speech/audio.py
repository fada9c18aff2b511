"""Audio helpers for the speech path: WAV reading, resampling to 16 kHz, and noise mixing at a
peak-frame-energy SNR exactly as Picovoice's speech-to-intent benchmark mixes it."""
from __future__ import annotations

import wave
import zlib
from pathlib import Path

import numpy as np

SNR_FRAME = 2048  # the benchmark measures signal and noise power on frames of this many samples


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 in [-1, 1] and the sample rate. Multi-channel files are averaged."""
    with wave.open(str(path), "rb") as w:
        sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise ValueError(f"{path}: unsupported sample width {width} bytes")
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, sr


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = 16_000) -> None:
    pcm = to_int16(audio)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype("<i2")


def resample(audio: np.ndarray, sr_in: int, sr_out: int = 16_000) -> np.ndarray:
    """Band-limited resampling by FFT (whole-array; enough for files and segments)."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    n_out = round(len(audio) * sr_out / sr_in)
    spec = np.fft.rfft(audio.astype(np.float64))
    n_keep = min(len(spec), n_out // 2 + 1)
    out = np.fft.irfft(spec[:n_keep], n_out) * (n_out / len(audio))
    return out.astype(np.float32)


def peak_frame_power(x: np.ndarray, frame: int = SNR_FRAME) -> float:
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x.astype(np.float64) ** 2))
    frames = x[: n * frame].astype(np.float64).reshape(n, frame)
    return float(np.max(np.mean(frames ** 2, axis=1)))


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
    seg = noise[off:off + n].astype(np.float64)
    ps, pn = peak_frame_power(speech), peak_frame_power(seg)
    if pn <= 0:
        raise ValueError("noise segment is silent: cannot mix at an SNR")
    scale = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    mix = speech.astype(np.float64) + scale * seg
    peak = np.max(np.abs(mix))
    if peak > 0:
        mix = mix * (0.5 / peak)
    return mix.astype(np.float32)
