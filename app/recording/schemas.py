"""MCAP channels: one JSON schema and one codec per stream type, so a recording opens in Foxglove and
replays into the same typed items, bit for bit.

| type          | topic                  | schema                  | log_time            |
|---------------|------------------------|-------------------------|---------------------|
| VideoFrame    | /video/<source_id>     | foxglove.CompressedImage| t_capture_ns        |
| AudioChunk    | /audio/<source_id>     | cuekit.AudioChunk       | t_end_ns (last sample) |
| ImuBatch      | /imu/<source_id>       | cuekit.ImuBatch         | t_ns[-1] (last sample) |
| HandLandmarks | /hands/<source_id>     | cuekit.HandLandmarks    | t_capture_ns        |
| Observation   | /observations          | cuekit.Observation      | t_end_ns            |
| IntentEvent   | /intents               | cuekit.IntentEvent      | t_emitted_ns        |

Video is JPEG (lossy: replay gives the decoded JPEG, exactly); the frame's `seq` is the MCAP message
sequence number. Audio is base64 little-endian float32 (exact) or int16 PCM. IMU and landmark arrays
are JSON number lists (Python's float repr round-trips float64 exactly); NaN is written as null.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from native.image import check_encoded_image
from perception.stream import schemas as type_schemas
from perception.stream.types import AudioChunk, HandLandmarks, ImuBatch, IntentEvent, Observation, VideoFrame

_TIME = {
    "type": "object",
    "title": "time",
    "properties": {"sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0}},
}
_VEC3_LIST = {
    "type": "array",
    "items": {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 3, "maxItems": 3},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "foxglove.CompressedImage": {
        "title": "foxglove.CompressedImage",
        "description": "A compressed image (JPEG); timestamp is the capture time on the CueKit clock",
        "type": "object",
        "properties": {
            "timestamp": _TIME,
            "frame_id": {"type": "string", "description": "CueKit source_id"},
            "data": {"type": "string", "contentEncoding": "base64"},
            "format": {"type": "string", "description": "jpeg"},
        },
        "required": ["timestamp", "frame_id", "data", "format"],
    },
    "cuekit.AudioChunk": {
        "title": "cuekit.AudioChunk",
        "type": "object",
        "description": "Mono PCM; t_first_ns is the capture time of the first sample",
        "properties": {
            "t_first_ns": {"type": "integer"},
            "sample_rate": {"type": "integer", "minimum": 1},
            "encoding": {"type": "string", "enum": ["pcm_f32le", "pcm_s16le"]},
            "n_samples": {"type": "integer", "minimum": 0},
            "data": {"type": "string", "contentEncoding": "base64"},
            "seq": {"type": "integer"},
            "source_id": {"type": "string"},
        },
        "required": ["t_first_ns", "sample_rate", "encoding", "data", "seq", "source_id"],
    },
    "cuekit.ImuBatch": {
        "title": "cuekit.ImuBatch",
        "type": "object",
        "description": "Wrist IMU samples: accel m/s^2 incl. gravity, gyro rad/s, mag uT; t_ns per sample",
        "properties": {
            "t_ns": {"type": "array", "items": {"type": "integer"}},
            "accel": _VEC3_LIST,
            "gyro": {"oneOf": [_VEC3_LIST, {"type": "null"}]},
            "mag": {"oneOf": [_VEC3_LIST, {"type": "null"}]},
            "seq": {"type": "integer"},
            "source_id": {"type": "string"},
        },
        "required": ["t_ns", "accel", "seq", "source_id"],
    },
    "cuekit.HandLandmarks": {
        "title": "cuekit.HandLandmarks",
        "type": "object",
        "properties": {
            "t_capture_ns": {"type": "integer"},
            "image_xyz": _VEC3_LIST,
            "world_xyz": {"oneOf": [_VEC3_LIST, {"type": "null"}]},
            "dtype": {"type": "string"},
            "world_dtype": {"type": ["string", "null"]},
            "handedness": {"type": "string"},
            "score": {"type": "number"},
            "track_id": {"type": "integer"},
            "frame_seq": {"type": "integer"},
            "source_id": {"type": "string"},
        },
        "required": ["t_capture_ns", "image_xyz"],
    },
    # the one schema of each type, embedded: a viewer reads a channel's schema from the file alone
    "cuekit.Observation": type_schemas.load("observation"),
    "cuekit.IntentEvent": type_schemas.load("intent_event"),
}


@dataclass(slots=True)
class Encoded:
    topic: str
    schema: str
    data: bytes
    log_time_ns: int
    sequence: int


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_json_default).encode("utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _rows(a: np.ndarray | None) -> list[list[float | None]] | None:
    if a is None:
        return None
    return [[None if math.isnan(v) else v for v in row] for row in np.asarray(a, dtype=np.float64).tolist()]


def _array(rows: list | None, dtype: str = "float64") -> np.ndarray | None:
    if rows is None:
        return None
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=dtype).reshape(-1, 3)


def _sec_nsec(t_ns: int) -> dict[str, int]:
    return {"sec": int(t_ns) // 1_000_000_000, "nsec": int(t_ns) % 1_000_000_000}


def topic_for(item: Any) -> str:
    if isinstance(item, VideoFrame):
        return f"/video/{item.source_id}"
    if isinstance(item, AudioChunk):
        return f"/audio/{item.source_id}"
    if isinstance(item, ImuBatch):
        return f"/imu/{item.source_id}"
    if isinstance(item, HandLandmarks):
        return f"/hands/{item.source_id}"
    if isinstance(item, Observation):
        return "/observations"
    if isinstance(item, IntentEvent):
        return "/intents"
    raise TypeError(f"cannot record a {type(item).__name__}: no MCAP channel for it")


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape} {image.dtype}")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    check_encoded_image(data)  # a recorded frame is outside input too: refuse a decompression bomb
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"undecodable JPEG ({len(data)} bytes)")
    return img


def encode(item: Any, jpeg_quality: int = 90, audio_encoding: str = "pcm_f32le") -> Encoded:
    """A typed item -> one MCAP message (topic, schema name, JSON bytes, log time, sequence)."""
    topic = topic_for(item)
    if isinstance(item, VideoFrame):
        jpeg = encode_jpeg(item.image, jpeg_quality)
        msg = {
            "timestamp": _sec_nsec(item.t_capture_ns),
            "frame_id": item.source_id,
            "data": base64.b64encode(jpeg).decode("ascii"),
            "format": "jpeg",
        }
        return Encoded(topic, "foxglove.CompressedImage", _dumps(msg), int(item.t_capture_ns), int(item.seq))
    if isinstance(item, AudioChunk):
        s = np.asarray(item.samples, dtype=np.float32)
        if audio_encoding == "pcm_f32le":
            raw = s.astype("<f4").tobytes()
        elif audio_encoding == "pcm_s16le":
            raw = np.clip(np.round(s * 32767.0), -32768, 32767).astype("<i2").tobytes()
        else:
            raise ValueError(f"unknown audio encoding {audio_encoding!r}; use pcm_f32le or pcm_s16le")
        msg = {
            "t_first_ns": int(item.t_first_ns),
            "sample_rate": int(item.sample_rate),
            "encoding": audio_encoding,
            "n_samples": int(s.size),
            "data": base64.b64encode(raw).decode("ascii"),
            "seq": int(item.seq),
            "source_id": item.source_id,
        }
        # logged when the chunk is complete, i.e. at its last sample (as the pipeline measures latency)
        return Encoded(topic, "cuekit.AudioChunk", _dumps(msg), int(item.t_end_ns), int(item.seq))
    if isinstance(item, ImuBatch):
        if len(item) == 0:
            raise ValueError("cannot record an empty ImuBatch")
        msg = {
            "t_ns": [int(t) for t in item.t_ns],
            "accel": _rows(item.accel),
            "gyro": _rows(item.gyro),
            "mag": _rows(item.mag),
            "seq": int(item.seq),
            "source_id": item.source_id,
        }
        return Encoded(topic, "cuekit.ImuBatch", _dumps(msg), int(item.t_ns[-1]), int(item.seq))
    if isinstance(item, HandLandmarks):
        msg = {
            "t_capture_ns": int(item.t_capture_ns),
            "image_xyz": _rows(item.image_xyz),
            "world_xyz": _rows(item.world_xyz),
            "dtype": str(np.asarray(item.image_xyz).dtype),
            "world_dtype": None if item.world_xyz is None else str(np.asarray(item.world_xyz).dtype),
            "handedness": item.handedness,
            "score": float(item.score),
            "track_id": int(item.track_id),
            "frame_seq": int(item.frame_seq),
            "source_id": item.source_id,
        }
        return Encoded(
            topic, "cuekit.HandLandmarks", _dumps(msg), int(item.t_capture_ns), int(item.frame_seq)
        )
    if isinstance(item, Observation):
        return Encoded(topic, "cuekit.Observation", _dumps(item.to_json()), int(item.t_end_ns), int(item.id))
    if isinstance(item, IntentEvent):
        return Encoded(topic, "cuekit.IntentEvent", _dumps(item.to_json()), int(item.t_emitted_ns), 0)
    raise TypeError(f"cannot record a {type(item).__name__}")


def decode(schema: str, data: bytes, sequence: int) -> Any:
    """One MCAP message -> the typed item it was recorded from."""
    d = json.loads(data)
    if schema == "foxglove.CompressedImage":
        if d.get("format", "jpeg") not in ("jpeg", "jpg", "png"):
            raise ValueError(f"unsupported image format {d.get('format')!r}")
        img = decode_jpeg(base64.b64decode(d["data"]))
        ts = d["timestamp"]
        return VideoFrame(
            image=img,
            t_capture_ns=int(ts["sec"]) * 1_000_000_000 + int(ts["nsec"]),
            seq=int(sequence),
            source_id=d.get("frame_id", "camera"),
        )
    if schema == "cuekit.AudioChunk":
        raw = base64.b64decode(d["data"])
        if d["encoding"] == "pcm_f32le":
            s = np.frombuffer(raw, "<f4").astype(np.float32)
        elif d["encoding"] == "pcm_s16le":
            s = np.frombuffer(raw, "<i2").astype(np.float32) / 32767.0
        else:
            raise ValueError(f"unknown audio encoding {d['encoding']!r}")
        return AudioChunk(
            samples=s,
            sample_rate=int(d["sample_rate"]),
            t_first_ns=int(d["t_first_ns"]),
            seq=int(d["seq"]),
            source_id=d["source_id"],
        )
    if schema == "cuekit.ImuBatch":
        return ImuBatch(
            t_ns=np.array(d["t_ns"], dtype=np.int64),
            accel=_array(d["accel"]),
            gyro=_array(d.get("gyro")),
            mag=_array(d.get("mag")),
            seq=int(d["seq"]),
            source_id=d["source_id"],
        )
    if schema == "cuekit.HandLandmarks":
        dt = d.get("dtype", "float64")
        return HandLandmarks(
            image_xyz=_array(d["image_xyz"], dt),
            t_capture_ns=int(d["t_capture_ns"]),
            handedness=d.get("handedness", "unknown"),
            score=float(d.get("score", 1.0)),
            world_xyz=_array(d.get("world_xyz"), d.get("world_dtype") or dt),
            track_id=int(d.get("track_id", 0)),
            frame_seq=int(d.get("frame_seq", 0)),
            source_id=d.get("source_id", "camera"),
        )
    if schema == "cuekit.Observation":
        return Observation.from_json(d)
    if schema == "cuekit.IntentEvent":
        return IntentEvent.from_json(d)
    raise ValueError(f"no decoder for MCAP schema {schema!r}")


def schema_bytes(name: str) -> bytes:
    return json.dumps(SCHEMAS[name], separators=(",", ":")).encode("utf-8")
