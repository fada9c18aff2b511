"""Sensor and context data pushed by clients, turned into pipeline items.

The event loop only parses and queues (`NetworkInputs.push`); decoding (JPEG, PCM conversion) runs in
the `NetworkSource` worker threads so a burst of frames cannot stall other connections. Each input
kind has its own bounded queue that never blocks the event loop: video keeps the newest frames
(LATEST), the others refuse new items when full (OVERFLOW); both count what they dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.daemon.protocol import Event, ProtocolError
from native.image import ImageRefused, check_encoded_image
from perception.stream import (
    AudioChunk,
    Channel,
    HandLandmarks,
    ImuBatch,
    Observation,
    QueuePolicy,
    Source,
    VideoFrame,
)

log = logging.getLogger("cuekit.daemon.ingest")

# input kind -> (message types it carries, item type it emits, queue policy, capacity)
KINDS: dict[str, tuple[tuple[str, ...], type, QueuePolicy, int]] = {
    "audio": (("audio-chunk",), AudioChunk, QueuePolicy.OVERFLOW, 512),
    "imu": (("imu-batch",), ImuBatch, QueuePolicy.OVERFLOW, 512),
    "video": (("video-frame",), VideoFrame, QueuePolicy.LATEST, 4),
    "hands": (("hand-joints",), HandLandmarks, QueuePolicy.OVERFLOW, 256),
    "context": (("gaze-ray", "scene-targets", "observation"), Observation, QueuePolicy.OVERFLOW, 512),
}
KIND_OF_TYPE = {t: kind for kind, (types, *_rest) in KINDS.items() for t in types}

# OpenXR XR_EXT_hand_tracking joint index for each MediaPipe landmark (palm and metacarpals dropped)
OPENXR26_TO_MEDIAPIPE21 = [1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 20, 22, 23, 24, 25]


class ClockMap:
    """Maps a client's capture times onto the daemon clock.

    `shared`: the client runs on this host and stamps with CLOCK_MONOTONIC, so times pass through.
    Otherwise the offset is the smallest (arrival - client time) seen so far: the least-delayed message
    gives the best estimate, and mapped times are never later than their arrival.

    Sanity bounds keep one bad stamp from poisoning the client: a stamp that would put its data more
    than `max_skew_ns` in the future of what the estimate allows (2^63-1, a clock jump ahead) is refused
    (`TimestampRefused`) and the estimate kept; when stamps keep mapping more than `max_skew_ns` into the
    past, the estimate was wrong (an earlier bad first stamp, a clock jump back) and is re-synced.
    """

    def __init__(self, shared: bool = False, max_skew_ns: int = 10_000_000_000) -> None:
        self.shared = shared
        self.max_skew_ns = max_skew_ns
        self.offset_ns: int | None = None
        self.refused = 0
        self.resyncs = 0

    def to_local(self, t_client_ns: int | None, arrival_ns: int) -> int:
        if t_client_ns is None:
            return arrival_ns
        t = int(t_client_ns)
        if not 0 <= t < MAX_CLIENT_NS:
            self.refused += 1
            raise TimestampRefused(f"capture time {t} ns is outside [0, 2^62)")
        if self.shared:
            if abs(t - arrival_ns) > self.max_skew_ns:
                self.refused += 1
                raise TimestampRefused(
                    f"capture time {t} ns is {(t - arrival_ns) / 1e9:+.1f} s from the "
                    "daemon's clock, but the client said it shares it"
                )
            return t
        d = arrival_ns - t
        if self.offset_ns is None:
            self.offset_ns = d
        elif d < self.offset_ns - self.max_skew_ns:
            self.refused += 1
            raise TimestampRefused(
                f"capture time {t} ns jumps {(self.offset_ns - d) / 1e9:.1f} s ahead of this client's clock"
            )
        elif d > self.offset_ns + self.max_skew_ns:
            self.resyncs += 1
            self.offset_ns = d
        elif d < self.offset_ns:
            self.offset_ns = d
        return t + self.offset_ns


MAX_CLIENT_NS = 1 << 62  # nanosecond stamps of any real clock; far from int64 overflow when offsets are added


class TimestampRefused(ProtocolError):
    """A client capture time outside the sanity bounds of its clock mapping."""

    def __init__(self, message: str) -> None:
        super().__init__("timestamp", message)


@dataclass(slots=True)
class Pushed:
    """A validated input event with what is needed to convert it later."""

    event: Event
    t_ns: int  # capture time already on the daemon clock (of the first sample for batches)
    offset_ns: int  # added to per-sample client times (IMU)
    source_id: str
    client_id: str
    stamped: bool = True  # False: the client gave no capture time and t_ns is the arrival time


def to_item(p: Pushed) -> Any:
    """Convert a pushed event into the stream item recognisers consume. Raises ProtocolError."""
    ev, d = p.event, p.event.data
    if ev.type == "audio-chunk":
        dtype = "<i2" if d["width"] == 2 else "<f4"
        pcm = np.frombuffer(ev.payload, dtype=dtype)
        if d["width"] == 2:
            pcm = pcm.astype(np.float32) / 32768.0
        if d["channels"] > 1:
            pcm = pcm.reshape(-1, d["channels"]).mean(axis=1)
        samples = np.clip(np.nan_to_num(pcm.astype(np.float32, copy=False)), -1.0, 1.0)
        t_first = p.t_ns
        if not p.stamped:  # arrival is when the last sample was captured, at the earliest
            t_first -= len(samples) * 1_000_000_000 // int(d["rate"])
        return AudioChunk(
            samples=samples, sample_rate=int(d["rate"]), t_first_ns=t_first, seq=d.get("seq", 0), source_id=p.source_id
        )
    if ev.type == "imu-batch":
        n = d["count"]
        t_client = np.frombuffer(ev.payload, dtype="<i8", count=n).astype(np.int64)
        if n and (int(t_client.min()) < 0 or int(t_client.max()) - int(t_client.min()) > 3_600_000_000_000):
            raise ProtocolError("payload", "imu-batch sample times are negative or span more than an hour", ev.type)
        t = t_client + p.offset_ns
        floats = np.frombuffer(ev.payload, dtype="<f4", offset=8 * n).astype(np.float64).reshape(-1, n, 3)
        if not np.isfinite(floats).all():
            raise ProtocolError("payload", "imu-batch holds non-finite values", ev.type)
        i = 1
        gyro = floats[i] if d.get("gyro") else None
        i += bool(d.get("gyro"))
        mag = floats[i] if d.get("mag") else None
        return ImuBatch(t_ns=t, accel=floats[0], gyro=gyro, mag=mag, seq=d.get("seq", 0), source_id=p.source_id)
    if ev.type == "video-frame":
        import cv2  # only needed when frames arrive

        try:
            check_encoded_image(ev.payload)
        except ImageRefused as exc:
            raise ProtocolError("payload", f"video-frame refused: {exc}", ev.type) from None
        img = cv2.imdecode(np.frombuffer(ev.payload, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ProtocolError("payload", "video-frame payload could not be decoded as JPEG", ev.type)
        return VideoFrame(image=img, t_capture_ns=p.t_ns, seq=d.get("seq", 0), source_id=p.source_id)
    if ev.type == "hand-joints":
        joints = np.asarray(d["joints"], dtype=np.float64)
        if d["layout"] == "openxr26":
            joints = joints[OPENXR26_TO_MEDIAPIPE21]
        world = image = None
        if d["space"] == "world":
            world = joints - joints.mean(axis=0)  # HandLandmarks.world_xyz is centred on the hand
            # no camera to project with: an orthographic view (image y points down); shape-based gesture
            # features are normalised by hand size, so metres serve as well as pixels
            image = world * np.array([1.0, -1.0, -1.0])
        else:
            image = joints
        return HandLandmarks(
            image_xyz=image,
            world_xyz=world,
            t_capture_ns=p.t_ns,
            handedness=d.get("handedness", "unknown"),
            score=float(d.get("score", 1.0)),
            track_id=int(d.get("track_id", 0)),
            frame_seq=int(d.get("seq", 0)),
            source_id=p.source_id,
        )
    if ev.type == "gaze-ray":
        direction = np.asarray(d["direction"], dtype=np.float64)
        if direction.shape != (3,) or not np.isfinite(direction).all():
            raise ProtocolError("payload", "gaze-ray direction must be 3 finite numbers", ev.type)
        scale = float(np.abs(direction).max())
        if scale == 0.0:
            raise ProtocolError("payload", "gaze-ray direction is the zero vector", ev.type)
        direction = direction / scale  # first to <= 1: the norm of [1e308]*3 overflows to inf
        direction /= float(np.linalg.norm(direction))
        payload = {"origin": list(map(float, d["origin"])), "direction": direction.tolist()}
        if "target_id" in d:
            payload["target_id"] = d["target_id"]
        # the form fusion.context resolves against the scene (gaze dwell, deixis)
        return Observation(
            modality="gaze",
            kind="ray",
            confidence=float(d.get("confidence", 1.0)),
            t_start_ns=p.t_ns,
            t_end_ns=p.t_ns,
            payload=payload,
            source_id=p.source_id,
        )
    if ev.type == "scene-targets":
        # the payload is a perception.context.scene `Scene.apply` message
        msg: dict[str, Any] = {"op": d.get("op", "replace")}
        if msg["op"] in ("replace", "upsert"):
            targets = d.get("targets", [])
            if msg["op"] == "upsert":
                if len(targets) != 1:
                    raise ProtocolError("schema", "scene-targets op=upsert takes exactly one target", ev.type)
                msg["target"] = targets[0]
            else:
                msg["targets"] = targets
        elif msg["op"] == "remove":
            if "id" not in d:
                raise ProtocolError("schema", "scene-targets op=remove needs data.id", ev.type)
            msg["id"] = d["id"]
        return Observation(
            modality="context",
            kind="scene",
            confidence=1.0,
            t_start_ns=p.t_ns,
            t_end_ns=p.t_ns,
            payload=msg,
            source_id=p.source_id,
        )
    if ev.type == "observation":
        span = d["t_end_ns"] - d["t_start_ns"]
        if not 0 <= span <= 3_600_000_000_000:
            raise ProtocolError(
                "payload", f"observation spans {span} ns; it must end after it starts, within an hour", ev.type
            )
        # ids are the daemon's (clients' ids could collide); times move onto the daemon clock
        return Observation(
            modality=d["modality"],
            kind=d["kind"],
            confidence=float(d["confidence"]),
            t_start_ns=p.t_ns - span,
            t_end_ns=p.t_ns,
            payload=dict(d.get("payload", {})),
            source_id=p.source_id,
        )
    raise ProtocolError("unknown-type", f"{ev.type} is not an input type", ev.type)


def event_time(ev: Event) -> int | None:
    """The client capture time an input event carries (the end of an observation), if any."""
    if ev.type == "observation":
        return int(ev.data["t_end_ns"])
    if ev.type == "imu-batch":
        return int(np.frombuffer(ev.payload, dtype="<i8", count=1)[0])
    t = ev.data.get("t_ns")
    return None if t is None else int(t)


ErrorReport = Callable[[str, ProtocolError], None]  # (client_id, error)


class NetworkInputs:
    """The queues between connections (event loop) and the network sources (worker threads)."""

    def __init__(self, kinds: list[str] | None = None) -> None:
        kinds = list(KINDS) if kinds is None else kinds
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown network input kind(s) {sorted(unknown)}; choose from {list(KINDS)}")
        self.channels = {k: Channel(f"net.{k}", KINDS[k][3], KINDS[k][2]) for k in kinds}
        self.draining = threading.Event()
        self.on_error: ErrorReport | None = None
        self.converted = {k: 0 for k in kinds}
        self.failed = {k: 0 for k in kinds}

    def accepts(self) -> list[str]:
        return [t for k in self.channels for t in KINDS[k][0]]

    def push(self, item: Pushed) -> bool:
        """Queue from the event loop; never blocks. False when the item was dropped."""
        kind = KIND_OF_TYPE[item.event.type]
        ch = self.channels.get(kind)
        if ch is None or self.draining.is_set():
            return False
        before = ch.dropped
        ok = ch.put(item)
        return ok and ch.dropped == before

    def dropped(self) -> dict[str, int]:
        return {k: ch.dropped for k, ch in self.channels.items()}

    def sources(self) -> list[NetworkSource]:
        return [NetworkSource(k, self) for k in self.channels]


class NetworkSource(Source):
    """Emits the items clients push for one input kind (`net.audio`, `net.video`, ...)."""

    def __init__(self, kind: str, inputs: NetworkInputs) -> None:
        super().__init__(f"net.{kind}")
        self.kind = kind
        self.inputs = inputs
        self.produces = (KINDS[kind][1],)

    def run(self, emit, stop: threading.Event) -> None:
        ch = self.inputs.channels[self.kind]
        while True:
            p = ch.get(0.05)
            if p is None:
                if stop.is_set() or self.inputs.draining.is_set():
                    return  # queue empty and asked to end: END goes downstream so recognisers flush
                continue
            try:
                item = to_item(p)
            except ProtocolError as exc:
                self.inputs.failed[self.kind] += 1
                if self.inputs.on_error is not None:
                    self.inputs.on_error(p.client_id, exc)
                continue
            except Exception as exc:  # a conversion bug must not end the stream
                self.inputs.failed[self.kind] += 1
                log.exception("converting %s from %s failed", p.event.type, p.client_id)
                if self.inputs.on_error is not None:
                    self.inputs.on_error(p.client_id, ProtocolError("internal", str(exc), p.event.type))
                continue
            self.inputs.converted[self.kind] += 1
            emit(item)
