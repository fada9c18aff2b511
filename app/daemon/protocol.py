"""The CueKit wire protocol: Wyoming-style events carried over WebSocket.

An event is a JSON header `{"type": ..., "data": {...}, "data_length": n, "payload_length": m}`
followed by `n` bytes of extra JSON data (merged into `data`) and `m` bytes of binary payload, as in
Rhasspy's Wyoming. Over WebSocket one event is one message:

- header only: a *text* message holding the header JSON (no `payload_length`), or a binary message
  holding the header JSON and nothing after it;
- with a payload: a *binary* message `header JSON + b"\\n" + extra data + payload`.

Every event type has a JSON Schema in `app/daemon/schemas/<type>.json` whose `$id` carries the
protocol version. `decode()` checks size limits, JSON, schema and payload lengths and raises
`ProtocolError` (with a stable `code`) for anything wrong; it never raises anything else, which the
fuzz tests hold it to.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from perception.stream import schemas as type_schemas

PROTOCOL_VERSION = "1"
SCHEMA_DIR = Path(__file__).with_name("schemas")

# client -> server events that carry sensor or context data into the pipeline
INPUT_TYPES = ("audio-chunk", "imu-batch", "video-frame", "hand-joints", "gaze-ray", "scene-targets", "observation")
CONTROL_TYPES = ("describe", "subscribe", "unsubscribe", "ping", "pong")
CLIENT_TYPES = CONTROL_TYPES + INPUT_TYPES
SERVER_TYPES = ("info", "subscribed", "ping", "pong", "intent", "observation", "stats", "dropped", "error", "thumbnail")
STREAMS = ("intents", "observations", "stats", "frames")


@dataclass(slots=True)
class Limits:
    """Size limits enforced before anything is parsed (the WebSocket layer enforces max_message too)."""

    max_message_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_payload_bytes: dict[str, int] = field(
        default_factory=lambda: {
            "audio-chunk": 512 * 1024,  # > 8 s of 16 kHz int16 mono
            "imu-batch": 256 * 1024,
            "video-frame": 3 * 1024 * 1024,
            "thumbnail": 512 * 1024,  # server -> client only
        }
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "max_message_bytes": self.max_message_bytes,
            "max_header_bytes": self.max_header_bytes,
            "max_payload_bytes": dict(self.max_payload_bytes),
        }


class ProtocolError(Exception):
    """A rejected message. `code` is one of the codes in schemas/error.json."""

    def __init__(self, code: str, message: str, ref_type: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.ref_type = ref_type


@dataclass(slots=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


@cache
def schema(type_: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{type_}.json").read_text())


@cache
def _validator(type_: str) -> jsonschema.protocols.Validator:
    s = schema(type_)
    cls = jsonschema.validators.validator_for(s)
    cls.check_schema(s)
    return cls(s, registry=type_schemas.registry())  # intent, observation and scene data $ref the type schemas


def schema_types() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; Python's parser accepts them unless told otherwise
    raise ValueError(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):  # 1e999 parses to inf
        raise ValueError(f"number {text[:32]} is out of range")
    return v


def _loads(raw: bytes | str, what: str, ref_type: str | None = None) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ProtocolError("bad-json", f"{what} is nested too deeply", ref_type) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad-json", f"{what} is not valid JSON: {exc}", ref_type) from None


def _header_and_rest(frame: bytes | str, limits: Limits) -> tuple[Any, bytes]:
    if isinstance(frame, str):
        if len(frame) > limits.max_header_bytes:
            raise ProtocolError(
                "too-large",
                f"text message of {len(frame)} chars exceeds the header limit of {limits.max_header_bytes} bytes",
            )
        return _loads(frame, "header"), b""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError("bad-frame", f"a message must be text or bytes, not {type(frame).__name__}")
    frame = bytes(frame)
    if len(frame) > limits.max_message_bytes:
        raise ProtocolError("too-large", f"message of {len(frame)} bytes exceeds {limits.max_message_bytes}")
    nl = frame.find(b"\n", 0, limits.max_header_bytes + 1)
    if nl < 0:
        if len(frame) > limits.max_header_bytes:
            raise ProtocolError("too-large", f"no header line within the first {limits.max_header_bytes} bytes")
        head, rest = frame, b""
    else:
        head, rest = frame[:nl], frame[nl + 1 :]
    return _loads(head, "header"), rest


def decode(
    frame: bytes | str, limits: Limits | None = None, allowed: tuple[str, ...] = CLIENT_TYPES, validate: bool = True
) -> Event:
    """Parse and validate one WebSocket message into an Event, or raise ProtocolError.
    `validate=False` skips the JSON Schema check (a client trusting its daemon's messages)."""
    limits = limits or Limits()
    header, rest = _header_and_rest(frame, limits)
    if not isinstance(header, dict):
        raise ProtocolError("bad-frame", f"header must be a JSON object, got {type(header).__name__}")
    type_ = header.get("type")
    if not isinstance(type_, str):
        raise ProtocolError("bad-frame", "header has no string 'type'")
    if type_ not in allowed:
        raise ProtocolError(
            "unknown-type",
            f"unknown or unexpected message type {type_[:64]!r}; expected one of {', '.join(allowed)}",
            type_[:64],
        )
    version = header.get("version")
    if version is not None and (not isinstance(version, str) or version.split(".")[0] != PROTOCOL_VERSION):
        raise ProtocolError(
            "version", f"protocol version {version!r} is not supported (this is {PROTOCOL_VERSION})", type_
        )
    if "data" not in header:
        header["data"] = {}
    data_length = header.get("data_length", 0)
    payload_length = header.get("payload_length", 0)
    for name, n in (("data_length", data_length), ("payload_length", payload_length)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ProtocolError("bad-frame", f"{name} must be a non-negative integer", type_)
    if data_length + payload_length != len(rest):
        raise ProtocolError(
            "payload",
            f"data_length {data_length} + payload_length {payload_length} != {len(rest)} bytes after the header",
            type_,
        )
    max_payload = limits.max_payload_bytes.get(type_, 0)
    if payload_length > max_payload:
        raise ProtocolError("too-large", f"{type_} payload of {payload_length} bytes exceeds {max_payload}", type_)
    if data_length:
        extra = _loads(rest[:data_length], "extra data", type_)
        if not isinstance(extra, dict) or not isinstance(header["data"], dict):
            raise ProtocolError("bad-frame", "data and extra data must be JSON objects", type_)
        header["data"] = {**header["data"], **extra}
    if not validate:
        return Event(type_, header["data"], rest[data_length:])
    try:
        err = next(_validator(type_).iter_errors(header), None)
    except RecursionError:
        raise ProtocolError("bad-json", "message is nested too deeply", type_) from None
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(message)"
        raise ProtocolError("schema", f"{type_} at {where}: {err.message[:200]}", type_)
    payload = rest[data_length:]
    _check_payload(type_, header["data"], payload)
    return Event(type_, header["data"], payload)


def _check_payload(type_: str, data: dict[str, Any], payload: bytes) -> None:
    """Structural checks the schema cannot express (sizes that depend on other fields)."""
    if type_ == "audio-chunk":
        frame = data["width"] * data["channels"]
        if len(payload) % frame:
            raise ProtocolError(
                "payload", f"audio payload of {len(payload)} bytes is not a whole number of {frame}-byte frames", type_
            )
    elif type_ == "imu-batch":
        n = data["count"]
        expect = n * 8 + n * 12 * (1 + bool(data.get("gyro")) + bool(data.get("mag")))
        if len(payload) != expect:
            raise ProtocolError(
                "payload",
                f"imu payload of {len(payload)} bytes; {n} samples with gyro="
                f"{bool(data.get('gyro'))} mag={bool(data.get('mag'))} need {expect}",
                type_,
            )
    elif type_ == "video-frame":
        if not (payload.startswith(b"\xff\xd8") and payload.rstrip(b"\x00").endswith(b"\xff\xd9")):
            raise ProtocolError("payload", "video-frame payload is not a JPEG (missing SOI/EOI markers)", type_)
    elif type_ == "hand-joints":
        want = 21 if data["layout"] == "mediapipe21" else 26
        if len(data["joints"]) != want:
            raise ProtocolError(
                "schema", f"layout {data['layout']} needs {want} joints, got {len(data['joints'])}", type_
            )
    elif type_ == "scene-targets":
        op = data.get("op", "replace")
        if op == "upsert" and len(data.get("targets", [])) != 1:
            raise ProtocolError("schema", "scene-targets op=upsert takes exactly one target", type_)
        if op == "remove" and "id" not in data:
            raise ProtocolError("schema", "scene-targets op=remove needs data.id", type_)
    elif type_ == "observation" and data["t_end_ns"] < data["t_start_ns"]:
        raise ProtocolError("schema", "observation t_end_ns is before t_start_ns", type_)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays in a recogniser's payload become JSON numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def encode(type_: str, data: dict[str, Any] | None = None, payload: bytes = b"") -> str | bytes:
    """One WebSocket message: text when there is no payload, else header + newline + payload bytes."""
    header: dict[str, Any] = {"type": type_, "data": data or {}}
    if payload:
        header["payload_length"] = len(payload)
    try:
        text = json.dumps(header, separators=(",", ":"), allow_nan=False, default=_plain)
    except ValueError:  # NaN in a recogniser's payload: send null rather than invalid JSON
        text = json.dumps(_finite(json.loads(json.dumps(header, default=_plain))), separators=(",", ":"))
    return text.encode() + b"\n" + bytes(payload) if payload else text


_CLIENT_LIMITS = Limits(max_message_bytes=64 * 1024 * 1024, max_header_bytes=64 * 1024 * 1024)


def decode_server(frame: bytes | str, limits: Limits | None = None, validate: bool = True) -> Event:
    """Client side: parse a server message (same framing and schemas)."""
    return decode(frame, limits or _CLIENT_LIMITS, allowed=SERVER_TYPES, validate=validate)
