"""Hostile inputs of issue #18, built small (each a few hundred bytes to tens of KB), for the resource-bound
tests and the fuzz corpus (`python tests/hostile/bombs.py` rewrites tests/hostile/corpus/)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus"


def jpeg_claiming(width: int = 16000, height: int = 16000) -> bytes:
    """A real 8x8 JPEG whose frame header claims width x height (what a 334-byte bomb does)."""
    import cv2

    _, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    b = bytearray(buf.tobytes())
    i = b.index(b"\xff\xc0")
    b[i + 5 : i + 7] = height.to_bytes(2, "big")
    b[i + 7 : i + 9] = width.to_bytes(2, "big")
    return bytes(b)


def grammar_bomb_spec() -> str:
    """~330 bytes: one expression of 12 groups of 8 alternatives = 8^12 phrasings."""
    return '[intents.go]\ntrigger = "speech:' + "[a, b, c, d, e, f, g, h] " * 12 + '"\n'


def macro_cycle_spec() -> str:
    return '[macros]\na = ["hello @b"]\nb = ["hi @a"]\n\n[intents.greet]\ntrigger = "speech:@a there"\n'


def _record(opcode: int, body: bytes) -> bytes:
    return bytes([opcode]) + struct.pack("<Q", len(body)) + body


def _string(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode()


def mcap_zstd_bomb(claimed: int = 1 << 30, actual: int = 1 << 30) -> bytes:
    """An MCAP file with one zstd chunk of `actual` zero bytes (a few tens of KB compressed) whose header
    says it decompresses to `claimed` bytes."""
    import zstandard

    c = zstandard.ZstdCompressor(level=19).compressobj()
    zero = bytes(1 << 20)
    parts = [c.compress(zero) for _ in range(actual >> 20)] + [c.flush()]
    data = b"".join(parts)
    magic = b"\x89MCAP0\r\n"
    header = _record(0x01, _string("cuekit") + _string("bomb"))
    chunk = _record(
        0x06, struct.pack("<QQQI", 0, 0, claimed, 0) + _string("zstd") + struct.pack("<Q", len(data)) + data
    )
    footer = _record(0x02, struct.pack("<QQI", 0, 0, 0))
    return magic + header + chunk + footer + magic


def wav_bytes(samples: bytes, rate: int, channels: int, bits: int, tag: int, block_align: int) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(samples))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )


def write_corpus() -> None:
    from app.client import encoders

    files = {
        "protocol/jpeg_bomb.bin": encoders.video_frame(jpeg_claiming(), t_ns=1000),
        "protocol/future_stamp.json": b'{"type":"observation","data":{"modality":"wrist","kind":"shake",'
        b'"confidence":0.9,"t_start_ns":9223372036854775000,"t_end_ns":9223372036854775807}}',
        "protocol/gaze_1e308.json": b'{"type":"gaze-ray","data":{"origin":[0,0,0],"direction":[1e308,1e308,1e308]}}',
        "spec_toml/grammar_bomb.toml": grammar_bomb_spec().encode(),
        "spec_toml/macro_cycle.toml": macro_cycle_spec().encode(),
        "spec_toml/latin1.toml": '[spec]\nname = "caf\xe9"\n'.encode("latin-1"),
        "spec_toml/inf_nan.toml": b"[defaults]\nrefractory_ms = inf\nhold_ms = nan\n"
        b'[intents.g]\ntrigger = "hand:pinch"\n',
        "spec_toml/deep.toml": b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n",
        "spec_yaml/macro_cycle.yaml": b'context:\n  expressions:\n    go:\n      - "@a"\n  macros:\n    a: ["x @b"]\n'
        b'    b: ["y @a"]\n',
        "mcap/zstd_bomb_64mb.mcap": mcap_zstd_bomb(64 << 20, 64 << 20),
        "imu_line/stray_header.csv": b"t,ax,ay,az\n0,0,0,1\n10,0,0,1\nt,ax,ax,ax,ax\n20,0,0,1\n30,0,0,1\n",
        "wav/float16.wav": wav_bytes(np.array([0.5, -0.25, 4.0], "<f2").tobytes(), 16000, 1, 16, 3, 2),
        "wav/pcm12_in16.wav": wav_bytes(
            (np.array([1024, -2048], "<i2") << 4).astype("<i2").tobytes(), 8000, 1, 12, 1, 2
        ),
    }
    for rel, data in files.items():
        p = CORPUS / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


if __name__ == "__main__":
    write_corpus()
