"""Fuzz targets: one per parser that reads outside input. Each takes bytes and must either accept them or
refuse them with its own documented error type; any other exception is a crash, running past the
per-input time limit a hang.

    protocol   a WebSocket message: app.daemon.protocol.decode, then ingest's conversion to an item
    spec_toml  an intent spec: fusion.spec load (text decoding, TOML, validation, cycles, expansion)
    spec_yaml  a Rhino context YAML: fusion.spec_rhino.load_rhino_context
    mcap       a recording: app.recording.mcap_reader.read_items over the whole file
    imu_line   wrist-IMU text lines: perception.sources.imu_format.ImuLineParser, line by line
    wav        a WAV file: perception.sources.wav.read_wav, then resampled to 16 kHz
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "hostile" / "corpus"


@dataclass(slots=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    tokens: tuple[bytes, ...] = ()
    max_len: int = 1 << 16
    description: str = ""
    _tmp: list[str] = field(default_factory=list)

    def corpus(self) -> list[bytes]:
        """The built-in seeds plus every file under tests/hostile/corpus/<name>/ (when present)."""
        out = list(self.seeds())
        d = CORPUS / self.name
        if d.is_dir():
            out += [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file() and p.stat().st_size <= 1 << 20]
        return out


_scratch: dict[str, str] = {}


def _scratch_file(suffix: str, data: bytes) -> str:
    """One reused temporary file per suffix (parsers that only take paths)."""
    path = _scratch.get(suffix)
    if path is None:
        fd, path = tempfile.mkstemp(prefix="cuekit-fuzz-", suffix=suffix)
        os.close(fd)
        _scratch[suffix] = path
    with open(path, "wb") as f:
        f.write(data)
    return path


def cleanup() -> None:
    for p in _scratch.values():
        try:
            os.unlink(p)
        except OSError:
            pass
    _scratch.clear()


# protocol -----------------------------------------------------------------------------------------------
def _protocol_seeds() -> list[bytes]:
    import cv2

    from app.client import encoders
    from perception.stream import Observation

    _, jpeg = cv2.imencode(".jpg", np.full((16, 24, 3), 100, np.uint8))
    t = 1_000_000_000
    msgs = [
        encoders.audio_chunk(np.zeros(160, np.int16), 16000, t_ns=t, seq=1),
        encoders.audio_chunk(np.zeros((80, 2), np.float32), 48000, t_ns=t),
        encoders.imu_batch(np.arange(4) * 10_000_000 + t, np.zeros((4, 3)), np.ones((4, 3)), seq=2),
        encoders.video_frame(jpeg.tobytes(), t_ns=t, seq=3),
        encoders.hand_joints(np.zeros((21, 3)), t_ns=t),
        encoders.hand_joints(np.zeros((26, 3)), layout="openxr26", space="world", t_ns=t),
        encoders.gaze_ray([0, 0, 0], [0, 0, 1], t_ns=t),
        encoders.scene_targets([{"id": "lamp", "names": ["lamp"], "position": [1, 0, 2], "radius": 0.3}]),
        encoders.observation(Observation("wrist", "shake", 0.9, t - 30_000_000, t)),
        '{"type":"describe","data":{"client":{"name":"fuzz"},"clock":"shared"}}',
        '{"type":"subscribe","data":{"intents":{"names":["select"]},"observations":{}}}',
        '{"type":"ping","data":{"seq":1}}',
    ]
    return [m.encode() if isinstance(m, str) else m for m in msgs]


def _protocol_run(data: bytes) -> None:
    from app.daemon import ingest, protocol

    frame: bytes | str = data
    if data[:1] == b"{":
        try:
            frame = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
    ev = protocol.decode(frame)
    if ev.type not in ingest.KIND_OF_TYPE:
        return
    clock = ingest.ClockMap()
    arrival = 5_000_000_000
    t_local = clock.to_local(ingest.event_time(ev), arrival)
    ingest.to_item(ingest.Pushed(ev, t_local, 0, "fuzz/src", "fuzz"))


def _protocol_expected() -> tuple[type[BaseException], ...]:
    from app.daemon.protocol import ProtocolError

    return (ProtocolError,)


# spec ---------------------------------------------------------------------------------------------------
def _spec_seeds() -> list[bytes]:
    from fusion.spec import SPECS_DIR

    out = [p.read_bytes() for p in sorted(SPECS_DIR.glob("*.toml"))]
    out.append(b'[macros]\nverb = ["turn on", "switch on"]\n[intents.on]\ntrigger = "speech:@verb the light"\n')
    out.append(
        b'[intents.sel.trigger]\nall = ["hand:pinch", "context:gaze_on(target)"]\nwithin_ms = 800\n'
        b'[intents.sel.slots]\ntarget = "target"\n'
    )
    return out


def _spec_run(data: bytes) -> None:
    from fusion.spec import loads_spec
    from fusion.spec_locate import decode_text

    loads_spec(decode_text(Path("fuzz.toml"), data), name="fuzz.toml")


def _rhino_seeds() -> list[bytes]:
    out = [
        (
            b'context:\n  expressions:\n    order:\n      - "[make, brew] (me) a $size:size @drink"\n'
            b'      - "cancel (that)"\n  slots:\n    size: [small, large]\n  macros:\n'
            b'    drink: ["coffee", "(cup of) tea"]\n'
        )
    ]
    shared = Path(os.environ.get("CUEKIT_SHARED", REPO.parent / "shared")) / "data" / "speech"
    if shared.is_dir():
        out += [p.read_bytes() for p in sorted(shared.rglob("*.yaml"))[:4] if p.stat().st_size < 1 << 16]
    return out


def _rhino_run(data: bytes) -> None:
    from fusion.spec_rhino import load_rhino_context

    load_rhino_context(_scratch_file(".yaml", data))


def _spec_expected() -> tuple[type[BaseException], ...]:
    from fusion.spec import SpecError

    return (SpecError,)


# mcap ---------------------------------------------------------------------------------------------------
def _mcap_seeds() -> list[bytes]:
    from app.recording.mcap_writer import McapWriter, RecorderOptions
    from perception.stream import AudioChunk, HandLandmarks, ImuBatch, Observation, VideoFrame

    t = 1_000_000_000
    items = [
        VideoFrame(image=np.full((8, 12, 3), 50, np.uint8), t_capture_ns=t, seq=0, source_id="camera"),
        AudioChunk(samples=np.zeros(64, np.float32), sample_rate=16000, t_first_ns=t, seq=0, source_id="mic"),
        ImuBatch(
            t_ns=np.arange(3, dtype=np.int64) + t,
            accel=np.zeros((3, 3)),
            gyro=np.zeros((3, 3)),
            mag=None,
            seq=0,
            source_id="imu",
        ),
        HandLandmarks(
            image_xyz=np.zeros((21, 3)),
            world_xyz=None,
            t_capture_ns=t,
            handedness="left",
            score=1.0,
            track_id=0,
            frame_seq=0,
            source_id="camera",
        ),
        Observation("speech", "intent", 0.8, t, t + 1000, payload={"intent": "select", "text": "select that"}),
    ]
    out = []
    for comp, chunk in (("lz4", 256), ("none", 1 << 16)):
        path = Path(_scratch_file(f".{comp}.mcap", b""))
        w = McapWriter(path, RecorderOptions(compression=comp, chunk_size=chunk))
        for it in items:
            w.write(it)
        w.close()
        out.append(path.read_bytes())
    return out


def _mcap_run(data: bytes) -> None:
    from app.recording.mcap_reader import read_items

    for _ in read_items(_scratch_file(".mcap", data), on_undecodable=lambda topic, exc: None):
        pass


def _mcap_expected() -> tuple[type[BaseException], ...]:
    from app.recording.mcap_reader import McapDamagedError

    return (McapDamagedError,)


# IMU lines ----------------------------------------------------------------------------------------------
def _imu_seeds() -> list[bytes]:
    return [
        b"t,ax,ay,az,gx,gy,gz\n0,0.01,0.02,1.0,0.1,0.2,0.3\n10,0.02,0.01,0.99,0.1,0.2,0.3\n",
        b"timestamp_ms,accX(g),accY(g),accZ(g)\n1000,0,0,1\n1010,0,0.1,1\n",
        b"123456789, 3, 0.1, 0.2, 9.8, 4, 0.01, 0.02, 0.03\n123456799, 3, 0.1, 0.2, 9.7\n",
        b'{"accelerometer":[0.1,0.2,9.8],"gyroscope":[0,0,0],"timestamp":1700000000000}\n',
        b"ax=0.1 ay=0.2 az=9.81 gx=0 gy=0 gz=0\n",
        b"1.0 acc 0.1 0.2 9.8\n1.0 gyr 0 0 0\n",
        b"0.01,0.02,1.0\n0.02,0.01,1.0\n",
    ]


def _imu_run(data: bytes) -> None:
    from perception.sources.imu_format import ImuLineParser, MalformedImuLine

    parser = ImuLineParser()
    for line in data.split(b"\n"):
        try:
            parser.feed(line)
        except MalformedImuLine:
            pass  # a live source counts it and goes on: so does the fuzzer, with the next line
    parser.flush()


def _imu_expected() -> tuple[type[BaseException], ...]:
    from perception.sources.imu_format import MalformedImuLine

    return (MalformedImuLine,)


# WAV ----------------------------------------------------------------------------------------------------
def _wav_seeds() -> list[bytes]:
    from perception.sources.wav import write_wav

    out = []
    for samples, rate in (
        (np.zeros(200, np.int16), 16000),
        (np.linspace(-1, 1, 300, dtype=np.float32), 48000),
        (np.zeros((100, 2), np.int16), 44100),
    ):
        p = _scratch_file(".seed.wav", b"")
        write_wav(p, samples, rate)
        out.append(Path(p).read_bytes())
    return out


def _wav_run(data: bytes) -> None:
    from perception.sources.resample import resample
    from perception.sources.wav import read_wav

    x, rate = read_wav(_scratch_file(".wav", data))
    if len(x) <= 1 << 20:
        resample(x, rate, 16000)


def _wav_expected() -> tuple[type[BaseException], ...]:
    # ValueError: read_wav's WavError, and the resampler refusing a rate pair it cannot do (named)
    return (ValueError,)


def all_targets() -> dict[str, Target]:
    spec_tokens = (
        b"[",
        b"]",
        b"[[",
        b"{",
        b"}",
        b'"',
        b"'",
        b"=",
        b"\n",
        b"@",
        b"$target:t",
        b"(",
        b")",
        b",",
        b"within_ms",
        b"speech:",
        b"hand:pinch",
        b"any",
        b"all",
        b"sequence",
        b"[macros]",
        b"@a",
        b"\xe9",
    )
    ts = [
        Target(
            "protocol",
            _protocol_run,
            _protocol_expected(),
            _protocol_seeds,
            (b'"t_ns":', b'"type":', b'"data":', b'"count":', b"\n", b"{", b"}", b"[", b"]", b'"', b","),
            1 << 16,
            "WebSocket messages: decode + conversion to pipeline items",
        ),
        Target(
            "spec_toml",
            _spec_run,
            _spec_expected(),
            _spec_seeds,
            spec_tokens,
            1 << 15,
            "intent spec TOML: load and validate",
        ),
        Target(
            "spec_yaml",
            _rhino_run,
            _spec_expected(),
            _rhino_seeds,
            (b"- ", b": ", b"\n  ", b"[", b"]", b"@drink", b"$size:s", b"&a", b"*a", b"!!python/object", b"{"),
            1 << 14,
            "Rhino context YAML",
        ),
        Target(
            "mcap",
            _mcap_run,
            _mcap_expected(),
            _mcap_seeds,
            (b"\x89MCAP0\r\n", b"zstd", b"lz4", b"\x06", b"\x05"),
            1 << 17,
            "MCAP recordings: sequential read with CRCs, chunk decompression, payload decoding",
        ),
        Target(
            "imu_line",
            _imu_run,
            _imu_expected(),
            _imu_seeds,
            (b",", b" ", b"\n", b"ax", b"ay", b"az", b"gx", b"t", b"acc", b"gyr", b"{", b":", b"="),
            1 << 14,
            "wrist-IMU text lines (CSV with header, tagged, JSON, key=value)",
        ),
        Target(
            "wav",
            _wav_run,
            _wav_expected(),
            _wav_seeds,
            (b"RIFF", b"WAVE", b"fmt ", b"data", b"\xff\xff\xff\xff", b"\x03\x00", b"\xfe\xff"),
            1 << 16,
            "WAV files: header, PCM/float decoding, resampling",
        ),
    ]
    return {t.name: t for t in ts}
