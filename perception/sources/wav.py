"""The one WAV codec (and PCM -> float conversion) of the project: the WAV source, the speech evaluation,
the recorder's `--wav` and the tests all read and write through here, so every reader accepts what any
writer produced.

Reading takes RIFF/WAVE with PCM 8/16/24/32-bit (any bit depth in its byte container, e.g. 12-bit in
16), IEEE float 16/32/64-bit and WAVE_FORMAT_EXTENSIBLE. Samples come out float32 in [-1, 1]: float
samples beyond full scale are clipped and NaN/inf become 0, as a sound card would, so one burst at 4.0
cannot dominate the VAD and the recogniser's normalisation. Every problem is a `WavError` naming the
file and what is wrong with it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
MAX_CHANNELS = 64
MAX_RATE = 768_000


class WavError(ValueError):
    """A file that cannot be read as WAV audio; the message names the file and the problem."""


@dataclass(slots=True)
class WavInfo:
    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample in the file (the container: 12-bit samples sit in 2)
    is_float: bool
    data_offset: int
    n_frames: int
    bits: int = 0  # significant bits as the header states them

    @property
    def dtype(self) -> np.dtype:
        if self.is_float:
            return np.dtype({2: "<f2", 4: "<f4", 8: "<f8"}[self.sample_width])
        return np.dtype({1: "u1", 2: "<i2", 3: "V3", 4: "<i4"}[self.sample_width])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate


def read_wav_info(path: str | os.PathLike) -> WavInfo:
    """Parse the RIFF/WAVE header (chunks in any order before 'data'); raises WavError."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise WavError(f"{p}: not a WAV file (no RIFF/WAVE header at byte 0)")
        fmt = None
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                raise WavError(f"{p}: no 'data' chunk before end of file at byte {f.tell()}")
            cid, n = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"fmt ":
                if not 16 <= n <= 1024:
                    raise WavError(f"{p}: 'fmt ' chunk of {n} bytes (16..1024 expected)")
                body = f.read(n + (n & 1))
                if len(body) < 16:
                    raise WavError(f"{p}: file ends inside the 'fmt ' chunk")
                fmt = _parse_fmt(p, body)
            elif cid == b"data":
                if fmt is None:
                    raise WavError(f"{p}: 'data' chunk before 'fmt ' chunk at byte {f.tell() - 8}")
                tag, channels, rate, width, bits = fmt
                offset = f.tell()
                avail = max(0, size - offset)
                n_bytes = min(n, avail) if n != 0xFFFFFFFF else avail
                return WavInfo(rate, channels, width, tag == IEEE_FLOAT, offset, n_bytes // (width * channels), bits)
            else:
                if f.tell() + n > size + 1:
                    raise WavError(f"{p}: chunk {cid!r} at byte {f.tell() - 8} runs past the end of the file")
                f.seek(n + (n & 1), 1)


def _parse_fmt(p: Path, body: bytes) -> tuple[int, int, int, int, int]:
    tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == EXTENSIBLE:
        if len(body) < 26:
            raise WavError(f"{p}: WAVE_FORMAT_EXTENSIBLE header too short")
        tag = struct.unpack("<H", body[24:26])[0]
    if tag not in (PCM, IEEE_FLOAT):
        raise WavError(f"{p}: WAV format tag {tag} not supported (PCM or IEEE float only)")
    if not 1 <= channels <= MAX_CHANNELS or not 1 <= rate <= MAX_RATE:
        raise WavError(f"{p}: unsupported WAV layout ({channels} channels, {rate} Hz)")
    # the container size: block_align / channels, which for 12- or 20-bit audio is larger than bits / 8
    width = block_align // channels if block_align and block_align % channels == 0 else (bits + 7) // 8
    if bits > 8 * width:
        raise WavError(f"{p}: {bits}-bit samples do not fit the {width}-byte block of the header")
    ok = (2, 4, 8) if tag == IEEE_FLOAT else (1, 2, 3, 4)
    if width not in ok or bits == 0:
        kind = "float" if tag == IEEE_FLOAT else "PCM"
        raise WavError(f"{p}: {bits}-bit {kind} in {width}-byte samples is not supported")
    return tag, channels, rate, width, bits


def decode_frames(raw: bytes, info: WavInfo) -> np.ndarray:
    """Raw frames -> float32 (N, channels) in [-1, 1]."""
    if info.sample_width == 3 and not info.is_float:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        v = b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        a = v.astype(np.float32) / 8388608.0
    else:
        a = to_float(np.frombuffer(raw, info.dtype))
    return a.reshape(-1, info.channels)


def to_float(a: np.ndarray) -> np.ndarray:
    """PCM of any integer type (scaled by its full range) or float (clipped to [-1, 1], NaN -> 0)."""
    if a.dtype == np.uint8:
        return (a.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) / float(2 ** (8 * a.dtype.itemsize - 1))
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(f, -1.0, 1.0, out=f)


def to_float_mono(block: np.ndarray) -> np.ndarray:
    """Any PCM block (N,) or (N, C), int8/16/32 or float -> float32 mono in [-1, 1]."""
    f = to_float(np.asarray(block))
    if f.ndim == 2:
        f = f.mean(axis=1, dtype=np.float32) if f.shape[1] > 1 else f[:, 0]
    return np.ascontiguousarray(f, dtype=np.float32)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The whole file as mono float32 in [-1, 1], and its sample rate. Raises WavError."""
    info = read_wav_info(path)
    frame = info.sample_width * info.channels
    with open(path, "rb") as f:
        f.seek(info.data_offset)
        raw = f.read(info.n_frames * frame)
    raw = raw[: (len(raw) // frame) * frame]
    return to_float_mono(decode_frames(raw, info)), info.sample_rate


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = 16_000) -> None:
    """Write PCM as a WAV file: int16 arrays as 16-bit PCM, float arrays as 32-bit IEEE float
    (exact, so a chunk saved from the pipeline reads back bit for bit). (N,) mono or (N, C)."""
    a = np.asarray(samples)
    channels = 1 if a.ndim == 1 else a.shape[1]
    if a.dtype == np.int16:
        tag, width, raw = PCM, 2, a.astype("<i2").tobytes()
    elif np.issubdtype(a.dtype, np.floating):
        tag, width, raw = IEEE_FLOAT, 4, a.astype("<f4").tobytes()
    else:
        raise ValueError(f"write_wav takes int16 or float samples, got {a.dtype}")
    fmt = struct.pack(
        "<HHIIHH", tag, channels, int(sample_rate), int(sample_rate) * channels * width, channels * width, width * 8
    )
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(raw)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", len(raw)) + raw)
