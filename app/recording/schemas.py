"""MCAP channels: a Foxglove schema wherever Foxglove has one, the type's own schema otherwise, and one
codec per stream type, so a recording opens in Foxglove as video, audio, plots and a 3-D scene, and
replays into the same typed items.

| item / content       | topic                     | schema                    | one message per            |
|----------------------|---------------------------|---------------------------|----------------------------|
| VideoFrame           | /video/<source_id>        | foxglove.CompressedImage  | frame                      |
| AudioChunk           | /audio/<source_id>        | foxglove.RawAudio         | chunk                      |
| ImuBatch             | /imu/<source_id>          | cuekit.ImuSample          | sample (a batch = N msgs)  |
| HandLandmarks        | /hands/<source_id>        | cuekit.HandLandmarks      | hand in a frame            |
| the hand, drawn      | /hands/<source_id>/image  | foxglove.ImageAnnotations | hand (bones + joints)      |
| Observation          | /observations             | cuekit.Observation        | observation                |
| IntentEvent          | /intents                  | cuekit.IntentEvent        | intent                     |
| the scene (targets)  | /scene                    | cuekit.Scene              | change (replays as context/scene) |
| image-plane targets  | /scene/annotations        | foxglove.ImageAnnotations | change (boxes over /video) |
| 3-D targets          | /scene/entities           | foxglove.SceneUpdate      | change (spheres + labels)  |
| gaze / pointing rays | /rays/<modality>          | foxglove.SceneUpdate      | 3-D ray observation        |
| gaze on the image    | /gaze/image               | foxglove.ImageAnnotations | gaze/point observation     |
| the glasses' frame   | /tf                       | foxglove.FrameTransforms  | once, at the start         |

Times: log_time (and every message's `timestamp`) is the capture time on the **wall clock**: the
pipeline time plus the offset `wall - monotonic` measured when the file was started, which is stored in
the `cuekit` metadata record (`wall_offset_ns`); the reader subtracts it, so replay gives the pipeline
times exactly. Files without it (older recordings) have offset 0. The visual channels (/scene/*, /rays,
/tf, /hands/*/image, /gaze/image) are derived from the others and are not replayed.

Video is JPEG (lossy: replay gives the decoded JPEG, exactly); the frame's `seq` is the MCAP sequence.
Audio is `pcm-s16` (Foxglove's Audio panel plays it; exact for audio that came from 16-bit PCM, as from
every microphone and WAV source) or `pcm-f32` (CueKit's: exact for any float audio; the panel does not
play it). IMU samples carry their batch's `seq` and their `index`/`count` in it, so replay rebuilds the
batches as they were. Arrays are JSON numbers (Python's float repr round-trips float64); NaN is null.
Older recordings (cuekit.AudioChunk, cuekit.ImuBatch batches) still replay.
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
from perception.hands.landmarks import CONNECTIONS
from perception.stream import schemas as type_schemas
from perception.stream.types import AudioChunk, HandLandmarks, ImuBatch, IntentEvent, Observation, VideoFrame

_TIME = {
    "type": "object",
    "title": "time",
    "properties": {
        "sec": {"type": "integer", "minimum": 0},
        "nsec": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
    },
}
_DURATION = {
    "type": "object",
    "title": "duration",
    "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer", "minimum": 0}},
}
_XYZ = {"type": "object", "properties": {k: {"type": "number"} for k in "xyz"}}
_XY = {"type": "object", "properties": {k: {"type": "number"} for k in "xy"}}
_QUAT = {"type": "object", "properties": {k: {"type": "number"} for k in "xyzw"}}
_COLOR = {"type": "object", "properties": {k: {"type": "number", "minimum": 0, "maximum": 1} for k in "rgba"}}
_POSE = {"type": "object", "properties": {"position": _XYZ, "orientation": _QUAT}}
_VEC3_LIST = {
    "type": "array",
    "items": {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 3, "maxItems": 3},
}
_VEC3_OR_NULL = {
    "oneOf": [{"type": "array", "items": {"type": ["number", "null"]}, "minItems": 3, "maxItems": 3}, {"type": "null"}]
}
_ENTITY = {
    "type": "object",
    "properties": {
        "timestamp": _TIME,
        "frame_id": {"type": "string"},
        "id": {"type": "string"},
        "lifetime": _DURATION,
        "frame_locked": {"type": "boolean"},
        "metadata": {
            "type": "array",
            "items": {"type": "object", "properties": {"key": {"type": "string"}, "value": {"type": "string"}}},
        },
        "arrows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pose": _POSE,
                    "shaft_length": {"type": "number"},
                    "shaft_diameter": {"type": "number"},
                    "head_length": {"type": "number"},
                    "head_diameter": {"type": "number"},
                    "color": _COLOR,
                },
            },
        },
        "spheres": {
            "type": "array",
            "items": {"type": "object", "properties": {"pose": _POSE, "size": _XYZ, "color": _COLOR}},
        },
        "texts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "pose": _POSE,
                    "billboard": {"type": "boolean"},
                    "font_size": {"type": "number"},
                    "scale_invariant": {"type": "boolean"},
                    "color": _COLOR,
                    "text": {"type": "string"},
                },
            },
        },
    },
}

# Foxglove's schemas, as far as CueKit writes them (the names are what Foxglove recognises)
SCHEMAS: dict[str, dict[str, Any]] = {
    "foxglove.CompressedImage": {
        "title": "foxglove.CompressedImage",
        "description": "A compressed image (JPEG); timestamp is the capture time on the wall clock",
        "type": "object",
        "properties": {
            "timestamp": _TIME,
            "frame_id": {"type": "string", "description": "CueKit source_id"},
            "data": {"type": "string", "contentEncoding": "base64"},
            "format": {"type": "string", "description": "jpeg"},
        },
        "required": ["timestamp", "frame_id", "data", "format"],
    },
    "foxglove.RawAudio": {
        "title": "foxglove.RawAudio",
        "description": "A block of mono PCM; timestamp is the capture time of its first sample (wall clock). "
        "CueKit adds seq and source_id.",
        "type": "object",
        "properties": {
            "timestamp": _TIME,
            "data": {"type": "string", "contentEncoding": "base64", "description": "little-endian samples"},
            "format": {"type": "string", "enum": ["pcm-s16", "pcm-f32"]},
            "sample_rate": {"type": "integer", "minimum": 1},
            "number_of_channels": {"type": "integer", "minimum": 1},
            "seq": {"type": "integer"},
            "source_id": {"type": "string"},
        },
        "required": ["timestamp", "data", "format", "sample_rate", "number_of_channels"],
    },
    "cuekit.ImuSample": {
        "title": "cuekit.ImuSample",
        "type": "object",
        "description": "One wrist-IMU sample (Foxglove has no IMU schema): accel m/s^2 incl. gravity, gyro "
        "rad/s, mag uT; sample `index` of `count` in batch `seq`",
        "properties": {
            "timestamp": _TIME,
            "accel": _XYZ,
            "gyro": {"oneOf": [_XYZ, {"type": "null"}]},
            "mag": {"oneOf": [_XYZ, {"type": "null"}]},
            "seq": {"type": "integer"},
            "index": {"type": "integer", "minimum": 0},
            "count": {"type": "integer", "minimum": 1},
            "source_id": {"type": "string"},
        },
        "required": ["timestamp", "accel", "seq", "index", "count", "source_id"],
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
    "cuekit.Scene": type_schemas.load("scene"),
    "foxglove.ImageAnnotations": {
        "title": "foxglove.ImageAnnotations",
        "description": "Drawn over the camera image: the scene's targets (boxes, labels), hand skeletons, gaze",
        "type": "object",
        "properties": {
            "circles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "timestamp": _TIME,
                        "position": _XY,
                        "diameter": {"type": "number"},
                        "thickness": {"type": "number"},
                        "fill_color": _COLOR,
                        "outline_color": _COLOR,
                    },
                },
            },
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "timestamp": _TIME,
                        "type": {"type": "integer", "description": "1 POINTS, 2 LINE_LOOP, 3 LINE_STRIP, 4 LINE_LIST"},
                        "points": {"type": "array", "items": _XY},
                        "outline_color": _COLOR,
                        "outline_colors": {"type": "array"},
                        "fill_color": _COLOR,
                        "thickness": {"type": "number"},
                    },
                },
            },
            "texts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "timestamp": _TIME,
                        "position": _XY,
                        "text": {"type": "string"},
                        "font_size": {"type": "number"},
                        "text_color": _COLOR,
                        "background_color": _COLOR,
                    },
                },
            },
        },
    },
    "foxglove.SceneUpdate": {
        "title": "foxglove.SceneUpdate",
        "description": "3-D targets (spheres with labels) and gaze / pointing rays (arrows) in frame `glasses`",
        "type": "object",
        "properties": {
            "deletions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"timestamp": _TIME, "type": {"type": "integer"}, "id": {"type": "string"}},
                },
            },
            "entities": {"type": "array", "items": _ENTITY},
        },
    },
    "foxglove.FrameTransforms": {
        "title": "foxglove.FrameTransforms",
        "type": "object",
        "properties": {
            "transforms": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "timestamp": _TIME,
                        "parent_frame_id": {"type": "string"},
                        "child_frame_id": {"type": "string"},
                        "translation": _XYZ,
                        "rotation": _QUAT,
                    },
                },
            }
        },
    },
}

# channels derived from the others for viewing: not replayed
VISUAL_SCHEMAS = frozenset({"foxglove.ImageAnnotations", "foxglove.SceneUpdate", "foxglove.FrameTransforms"})
GLASSES_FRAME = "glasses"
RAY_LIFETIME_NS = 200_000_000


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


def _xyz(row: list[float | None] | None) -> dict[str, float | None] | None:
    return None if row is None else {"x": row[0], "y": row[1], "z": row[2]}


def _unxyz(d: dict[str, Any] | None) -> list[float] | None:
    return None if d is None else [np.nan if d.get(k) is None else d[k] for k in "xyz"]


def _sec_nsec(t_ns: int) -> dict[str, int]:
    t = max(0, int(t_ns))
    return {"sec": t // 1_000_000_000, "nsec": t % 1_000_000_000}


def _ns(ts: dict[str, int]) -> int:
    return int(ts["sec"]) * 1_000_000_000 + int(ts["nsec"])


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


_AUDIO_FORMATS = {"pcm_s16le": "pcm-s16", "pcm_f32le": "pcm-f32"}


def encode(
    item: Any, jpeg_quality: int = 90, audio_encoding: str = "pcm_s16le", wall_offset_ns: int = 0
) -> list[Encoded]:
    """A typed item -> its MCAP messages (an IMU batch: one per sample; a 3-D ray observation: also an
    arrow). Times are written as pipeline time + `wall_offset_ns`."""
    topic = topic_for(item)
    off = int(wall_offset_ns)
    if isinstance(item, VideoFrame):
        jpeg = encode_jpeg(item.image, jpeg_quality)
        msg = {
            "timestamp": _sec_nsec(item.t_capture_ns + off),
            "frame_id": item.source_id,
            "data": base64.b64encode(jpeg).decode("ascii"),
            "format": "jpeg",
        }
        return [Encoded(topic, "foxglove.CompressedImage", _dumps(msg), int(item.t_capture_ns) + off, int(item.seq))]
    if isinstance(item, AudioChunk):
        s = np.asarray(item.samples, dtype=np.float32)
        if audio_encoding == "pcm_f32le":
            raw = s.astype("<f4").tobytes()
        elif audio_encoding == "pcm_s16le":  # the scale every source reads 16-bit PCM with: exact for those
            raw = np.clip(np.round(s * 32768.0), -32768, 32767).astype("<i2").tobytes()
        else:
            raise ValueError(f"unknown audio encoding {audio_encoding!r}; use pcm_f32le or pcm_s16le")
        msg = {
            "timestamp": _sec_nsec(item.t_first_ns + off),
            "data": base64.b64encode(raw).decode("ascii"),
            "format": _AUDIO_FORMATS[audio_encoding],
            "sample_rate": int(item.sample_rate),
            "number_of_channels": 1,
            "seq": int(item.seq),
            "source_id": item.source_id,
        }
        # logged when the chunk is complete, i.e. at its last sample (as the pipeline measures latency)
        return [Encoded(topic, "foxglove.RawAudio", _dumps(msg), int(item.t_end_ns) + off, int(item.seq))]
    if isinstance(item, ImuBatch):
        n = len(item)
        if n == 0:
            raise ValueError("cannot record an empty ImuBatch")
        acc, gyr, mag = _rows(item.accel), _rows(item.gyro), _rows(item.mag)
        out = []
        for i, t in enumerate(int(x) for x in item.t_ns):
            msg = {
                "timestamp": _sec_nsec(t + off),
                "accel": _xyz(acc[i]),
                "gyro": _xyz(gyr[i]) if gyr else None,
                "mag": _xyz(mag[i]) if mag else None,
                "seq": int(item.seq),
                "index": i,
                "count": n,
                "source_id": item.source_id,
            }
            out.append(Encoded(topic, "cuekit.ImuSample", _dumps(msg), t + off, int(item.seq)))
        return out
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
        out = [Encoded(topic, "cuekit.HandLandmarks", _dumps(msg), int(item.t_capture_ns) + off, int(item.frame_seq))]
        drawn = _hand_annotations(item, off)
        return out + (
            [
                Encoded(
                    f"{topic}/image",
                    "foxglove.ImageAnnotations",
                    _dumps(drawn),
                    int(item.t_capture_ns) + off,
                    int(item.frame_seq),
                )
            ]
            if drawn
            else []
        )
    if isinstance(item, Observation):
        out = [Encoded(topic, "cuekit.Observation", _dumps(item.to_json()), int(item.t_end_ns) + off, int(item.id))]
        ray = _ray_of(item)
        if ray is not None:
            out.append(_ray_update(item, *ray, off))
        gaze = _gaze_annotation(item, off)
        if gaze is not None:
            out.append(
                Encoded(
                    "/gaze/image", "foxglove.ImageAnnotations", _dumps(gaze), int(item.t_end_ns) + off, int(item.id)
                )
            )
        if item.modality == "context" and item.kind == "scene" and item.payload.get("op", "replace") == "replace":
            # the observation itself replays; this only draws it
            out += scene_messages(item.payload.get("targets") or [], int(item.t_end_ns), off, data=False)
        return out
    if isinstance(item, IntentEvent):
        return [Encoded(topic, "cuekit.IntentEvent", _dumps(item.to_json()), int(item.t_emitted_ns) + off, 0)]
    raise TypeError(f"cannot record a {type(item).__name__}")


_NO_FILL = {"r": 0.0, "g": 0.0, "b": 0.0, "a": 0.0}


def _hand_annotations(hand: HandLandmarks, off: int) -> dict[str, Any] | None:
    """The hand skeleton over the camera image (Foxglove's Image panel draws it on /video)."""
    xy = np.asarray(hand.image_xyz, dtype=np.float64)
    if xy.shape != (21, 3) or not np.isfinite(xy[:, :2]).all():
        return None
    ts = _sec_nsec(int(hand.t_capture_ns) + off)
    pts = [{"x": float(x), "y": float(y)} for x, y in xy[:, :2]]
    colour = (
        {"r": 0.25, "g": 0.77, "b": 1.0, "a": 1.0}
        if hand.handedness == "left"
        else {"r": 1.0, "g": 0.25, "b": 0.5, "a": 1.0}
    )
    bones = {
        "timestamp": ts,
        "type": 4,
        "points": [pts[i] for ab in CONNECTIONS for i in ab],  # 4 = LINE_LIST
        "outline_color": colour,
        "outline_colors": [],
        "fill_color": _NO_FILL,
        "thickness": 2.0,
    }
    joints = {
        "timestamp": ts,
        "type": 1,
        "points": pts,
        "outline_color": {"r": 1, "g": 1, "b": 1, "a": 1},  # POINTS
        "outline_colors": [],
        "fill_color": _NO_FILL,
        "thickness": 4.0,
    }
    return {"circles": [], "points": [bones, joints], "texts": []}


def _gaze_annotation(obs: Observation, off: int) -> dict[str, Any] | None:
    """A gaze point on the camera image as a circle (screen-plane points are not on the image)."""
    if (obs.modality, obs.kind) != ("gaze", "point") or obs.payload.get("plane", "image") != "image":
        return None
    pt = obs.payload.get("point")
    if not isinstance(pt, (list, tuple)) or len(pt) < 2:
        return None
    try:
        x, y = float(pt[0]), float(pt[1])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    circle = {
        "timestamp": _sec_nsec(int(obs.t_end_ns) + off),
        "position": {"x": x, "y": y},
        "diameter": 24.0,
        "thickness": 2.0,
        "fill_color": _NO_FILL,
        "outline_color": {"r": 1.0, "g": 0.86, "b": 0.0, "a": 1.0},
    }
    return {"circles": [circle], "points": [], "texts": []}


def _ray_of(obs: Observation) -> tuple[list[float], list[float]] | None:
    """The 3-D ray an observation carries (gaze, or a pointing hand), if any."""
    p = obs.payload
    for o_key, d_key in (("origin", "direction"), ("ray_origin", "ray_dir")):
        o, d = p.get(o_key), p.get(d_key)
        if isinstance(o, (list, tuple)) and isinstance(d, (list, tuple)) and len(o) == 3 and len(d) == 3:
            try:
                o3, d3 = [float(v) for v in o], [float(v) for v in d]
            except (TypeError, ValueError):
                return None
            if all(map(math.isfinite, o3 + d3)) and any(d3):
                return o3, d3
    return None


def _quat_from_x(d: list[float]) -> dict[str, float]:
    """The rotation that turns +x (an arrow's axis in Foxglove) onto direction d."""
    v = np.asarray(d, dtype=np.float64)
    v /= np.linalg.norm(v)
    w, x, y, z = 1.0 + v[0], 0.0, -v[2], v[1]  # half-way quaternion between +x and v
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if n < 1e-9:  # v = -x: half a turn about z
        return {"x": 0.0, "y": 0.0, "z": 1.0, "w": 0.0}
    return {"x": x / n, "y": y / n, "z": z / n, "w": w / n}


_RAY_COLOUR = {"gaze": {"r": 1.0, "g": 0.75, "b": 0.0, "a": 0.9}, "hand": {"r": 0.9, "g": 0.1, "b": 0.5, "a": 0.9}}


def _ray_update(obs: Observation, origin: list[float], direction: list[float], off: int) -> Encoded:
    t = int(obs.t_end_ns) + off
    arrow = {
        "pose": {"position": dict(zip("xyz", origin, strict=True)), "orientation": _quat_from_x(direction)},
        "shaft_length": 2.0,
        "shaft_diameter": 0.01,
        "head_length": 0.08,
        "head_diameter": 0.04,
        "color": _RAY_COLOUR.get(obs.modality, {"r": 0.3, "g": 0.6, "b": 1.0, "a": 0.9}),
    }
    ent = {
        "timestamp": _sec_nsec(t),
        "frame_id": GLASSES_FRAME,
        "id": f"{obs.modality}-ray",
        "lifetime": {"sec": 0, "nsec": RAY_LIFETIME_NS},
        "frame_locked": False,
        "metadata": [{"key": "kind", "value": obs.kind}, {"key": "confidence", "value": f"{obs.confidence:.2f}"}],
        "arrows": [arrow],
        "spheres": [],
        "texts": [],
    }
    return Encoded(
        f"/rays/{obs.modality}", "foxglove.SceneUpdate", _dumps({"deletions": [], "entities": [ent]}), t, int(obs.id)
    )


def scene_messages(
    targets: list[dict[str, Any]], t_ns: int, wall_offset_ns: int = 0, data: bool = True
) -> list[Encoded]:
    """The scene as it travels inside a recording: its data (/scene, replayed as a context/scene
    observation; `data=False` when an observation on /observations already carries it) and its pictures
    (boxes over the image, spheres in 3-D)."""
    t = int(t_ns) + int(wall_offset_ns)
    ts = _sec_nsec(t)
    out = [Encoded("/scene", "cuekit.Scene", _dumps({"targets": list(targets)}), t, 0)] if data else []
    boxes = [tg for tg in targets if tg.get("box") is not None and tg.get("plane", "image") == "image"]
    if boxes:
        green = {"r": 0.2, "g": 0.9, "b": 0.3, "a": 1.0}
        ann = {"circles": [], "points": [], "texts": []}
        for tg in boxes:
            x0, y0, x1, y1 = (float(v) for v in tg["box"])
            ann["points"].append(
                {
                    "timestamp": ts,
                    "type": 2,
                    "points": [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}],
                    "outline_color": green,
                    "outline_colors": [],
                    "fill_color": {"r": 0, "g": 0, "b": 0, "a": 0},
                    "thickness": 2.0,
                }
            )
            ann["texts"].append(
                {
                    "timestamp": ts,
                    "position": {"x": x0 + 3, "y": y0 + 14},
                    "text": tg.get("label") or tg["id"],
                    "font_size": 14.0,
                    "text_color": green,
                    "background_color": {"r": 0, "g": 0, "b": 0, "a": 0.6},
                }
            )
        out.append(Encoded("/scene/annotations", "foxglove.ImageAnnotations", _dumps(ann), t, 0))
    points = [tg for tg in targets if tg.get("position") is not None]
    if points:
        ents = []
        for tg in points:
            pos = dict(zip("xyz", (float(v) for v in tg["position"]), strict=True))
            r = float(tg.get("radius", 0.1))
            ident = {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}
            ents.append(
                {
                    "timestamp": ts,
                    "frame_id": GLASSES_FRAME,
                    "id": f"target-{tg['id']}",
                    "lifetime": {"sec": 0, "nsec": 0},
                    "frame_locked": False,
                    "metadata": [],
                    "arrows": [],
                    "spheres": [
                        {
                            "pose": {"position": pos, "orientation": ident},
                            "size": {"x": 2 * r, "y": 2 * r, "z": 2 * r},
                            "color": {"r": 0.2, "g": 0.9, "b": 0.3, "a": 0.35},
                        }
                    ],
                    "texts": [
                        {
                            "pose": {"position": {**pos, "z": pos["z"] + r}, "orientation": ident},
                            "billboard": True,
                            "font_size": 14.0,
                            "scale_invariant": True,
                            "color": {"r": 1, "g": 1, "b": 1, "a": 1},
                            "text": tg.get("label") or tg["id"],
                        }
                    ],
                }
            )
        out.append(
            Encoded(
                "/scene/entities",
                "foxglove.SceneUpdate",
                _dumps({"deletions": [{"timestamp": ts, "type": 1, "id": ""}], "entities": ents}),
                t,
                0,
            )
        )
    return out


def frame_transforms(t_ns: int, wall_offset_ns: int = 0) -> Encoded:
    """The glasses' frame, fixed in the world: what the 3-D panel displays targets and rays in."""
    t = int(t_ns) + int(wall_offset_ns)
    tf = {
        "timestamp": _sec_nsec(t),
        "parent_frame_id": "world",
        "child_frame_id": GLASSES_FRAME,
        "translation": {"x": 0.0, "y": 0.0, "z": 0.0},
        "rotation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
    }
    return Encoded("/tf", "foxglove.FrameTransforms", _dumps({"transforms": [tf]}), t, 0)


@dataclass(slots=True)
class ImuSamplePart:
    """One sample of a recorded batch; `ImuAssembler` puts the batch back together."""

    t_ns: int
    accel: list[float]
    gyro: list[float] | None
    mag: list[float] | None
    seq: int
    index: int
    count: int
    source_id: str


class ImuAssembler:
    """Rebuilds ImuBatch items from their per-sample messages (written consecutively). A batch whose
    samples do not arrive in order is refused (ValueError), not patched."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], list[ImuSamplePart]] = {}

    def add(self, p: ImuSamplePart) -> ImuBatch | None:
        key = (p.source_id, p.seq)
        parts = self._parts.setdefault(key, [])
        if p.index != len(parts) or (parts and parts[0].count != p.count):
            self._parts.pop(key, None)
            raise ValueError(
                f"IMU batch {p.seq} of {p.source_id}: sample {p.index} of {p.count} arrived after "
                f"{len(parts)} (batch skipped)"
            )
        parts.append(p)
        if len(parts) < p.count:
            return None
        del self._parts[key]
        rows = lambda name: (
            None
            if getattr(parts[0], name) is None
            else np.array([getattr(x, name) for x in parts], dtype=np.float64).reshape(-1, 3)
        )
        return ImuBatch(
            t_ns=np.array([x.t_ns for x in parts], dtype=np.int64),
            accel=rows("accel"),
            gyro=rows("gyro"),
            mag=rows("mag"),
            seq=p.seq,
            source_id=p.source_id,
        )


def decode(schema: str, data: bytes, sequence: int, wall_offset_ns: int = 0, log_time_ns: int = 0) -> Any:
    """One MCAP message -> the typed item it was recorded from (an ImuSamplePart for one IMU sample;
    None for a channel that is only for viewing)."""
    if schema in VISUAL_SCHEMAS:
        return None
    d = json.loads(data)
    off = int(wall_offset_ns)
    if schema == "foxglove.CompressedImage":
        if d.get("format", "jpeg") not in ("jpeg", "jpg", "png"):
            raise ValueError(f"unsupported image format {d.get('format')!r}")
        img = decode_jpeg(base64.b64decode(d["data"]))
        return VideoFrame(
            image=img, t_capture_ns=_ns(d["timestamp"]) - off, seq=int(sequence), source_id=d.get("frame_id", "camera")
        )
    if schema == "foxglove.RawAudio":
        raw = base64.b64decode(d["data"])
        if d["format"] == "pcm-s16":
            s = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        elif d["format"] == "pcm-f32":
            s = np.frombuffer(raw, "<f4").astype(np.float32)
        else:
            raise ValueError(f"unknown audio format {d['format']!r}")
        ch = int(d.get("number_of_channels", 1))
        if ch > 1:  # a foreign recording: the pipeline takes mono
            s = s[: len(s) // ch * ch].reshape(-1, ch).mean(axis=1).astype(np.float32)
        return AudioChunk(
            samples=s,
            sample_rate=int(d["sample_rate"]),
            t_first_ns=_ns(d["timestamp"]) - off,
            seq=int(d.get("seq", sequence)),
            source_id=d.get("source_id", "microphone"),
        )
    if schema == "cuekit.ImuSample":
        return ImuSamplePart(
            t_ns=_ns(d["timestamp"]) - off,
            accel=_unxyz(d["accel"]),
            gyro=_unxyz(d.get("gyro")),
            mag=_unxyz(d.get("mag")),
            seq=int(d["seq"]),
            index=int(d["index"]),
            count=int(d["count"]),
            source_id=d["source_id"],
        )
    if schema == "cuekit.Scene":
        # the scene the recording was made in: the pipeline gets it as the context feed delivers one
        t = int(log_time_ns) - off
        return Observation(
            "context", "scene", 1.0, t, t, {"op": "replace", "targets": list(d["targets"])}, source_id="recording"
        )
    if schema == "cuekit.AudioChunk":  # recordings before foxglove.RawAudio
        raw = base64.b64decode(d["data"])
        if d["encoding"] == "pcm_f32le":
            s = np.frombuffer(raw, "<f4").astype(np.float32)
        elif d["encoding"] == "pcm_s16le":
            s = np.frombuffer(raw, "<i2").astype(np.float32) / 32767.0  # how those were written
        else:
            raise ValueError(f"unknown audio encoding {d['encoding']!r}")
        return AudioChunk(
            samples=s,
            sample_rate=int(d["sample_rate"]),
            t_first_ns=int(d["t_first_ns"]) - off,
            seq=int(d["seq"]),
            source_id=d["source_id"],
        )
    if schema == "cuekit.ImuBatch":  # recordings before per-sample IMU messages
        return ImuBatch(
            t_ns=np.array(d["t_ns"], dtype=np.int64) - off,
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
