"""Context over the network: scene updates and gaze rays from a glasses prototype, as JSON over UDP.

One datagram = one JSON object (or several, one per line):

    {"type": "scene", "op": "upsert", "target": {"id": "cup", "label": "cup", "box": [..]}}
    {"type": "gaze", "origin": [0, 0, 0], "direction": [0.1, 0, 1], "confidence": 0.9, "t_ns": 123}
    {"type": "gaze", "point": [640, 360], "plane": "screen"}

Scene messages are applied to the `Scene` (if one is given) and also emitted as `context`/`scene`
Observations so the fusion stage sees them in order; gaze messages become `gaze`/`ray` or
`gaze`/`point` Observations stamped with the sender's `t_ns` when given, else the pipeline clock.
Malformed datagrams are counted and skipped.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from dataclasses import dataclass
from typing import Any

from perception.context.scene import Scene, SceneError
from perception.stream.stage import Emit, Source
from perception.stream.types import Observation

log = logging.getLogger("cuekit.context.feed")


@dataclass(slots=True)
class FeedOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (see `ContextUdpSource.address` after `setup`)
    gaze_duration_ms: float = 16.0  # evidence span given to one gaze sample
    max_datagram: int = 65507


class FeedError(ValueError):
    pass


def parse_message(msg: Any, now_ns: int, options: FeedOptions) -> Observation:
    """One decoded JSON message -> an Observation; raises FeedError naming the problem."""
    if not isinstance(msg, dict):
        raise FeedError(f"message must be an object, not {type(msg).__name__}")
    kind = msg.get("type")
    if kind == "scene":
        body = {k: v for k, v in msg.items() if k != "type"}
        return Observation("context", "scene", 1.0, now_ns, now_ns, body, source_id="udp")
    if kind == "gaze":
        t = msg.get("t_ns", now_ns)
        if isinstance(t, bool) or not isinstance(t, int):
            raise FeedError(f"gaze t_ns must be an integer, got {t!r}")
        conf = msg.get("confidence", 1.0)
        if not isinstance(conf, (int, float)) or not 0 <= conf <= 1:
            raise FeedError(f"gaze confidence must be in [0, 1], got {conf!r}")
        t0 = t - int(options.gaze_duration_ms * 1e6)
        if "point" in msg:
            pt = msg["point"]
            if not _vec(pt, (2,)):
                raise FeedError(f"gaze point must be [x, y], got {pt!r}")
            plane = msg.get("plane", "screen")
            if plane not in ("screen", "image"):
                raise FeedError(f"gaze plane must be 'screen' or 'image', got {plane!r}")
            return Observation(
                "gaze", "point", float(conf), t0, t, {"point": list(pt), "plane": plane}, source_id="udp"
            )
        o, d = msg.get("origin"), msg.get("direction")
        if not (_vec(o, (2, 3)) and _vec(d, (2, 3)) and len(o) == len(d)):
            raise FeedError("gaze ray needs 'origin' and 'direction' (both 3-D, or both 2-D with 'plane')")
        payload: dict[str, Any] = {"origin": list(o), "direction": list(d)}
        if len(o) == 2:
            payload["plane"] = msg.get("plane", "image")
        return Observation("gaze", "ray", float(conf), t0, t, payload, source_id="udp")
    raise FeedError(f"unknown message type {kind!r} (use 'scene' or 'gaze')")


def _vec(v: Any, sizes: tuple[int, ...]) -> bool:
    return (
        isinstance(v, list)
        and len(v) in sizes
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    )


class ContextUdpSource(Source):
    name = "context-udp"

    def __init__(self, scene: Scene | None = None, options: FeedOptions | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.scene = scene
        self.options = options or FeedOptions()
        self.malformed = 0
        self.received = 0
        self._sock: socket.socket | None = None

    def setup(self) -> None:
        if self._sock is None:  # bind early so a sender can learn the port before run()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((self.options.host, self.options.port))
            s.settimeout(0.05)
            self._sock = s

    @property
    def address(self) -> tuple[str, int]:
        self.setup()
        return self._sock.getsockname()  # type: ignore[union-attr]

    def run(self, emit: Emit, stop: threading.Event) -> None:
        self.setup()
        sock = self._sock
        assert sock is not None
        try:
            while not stop.is_set():
                try:
                    data, _ = sock.recvfrom(self.options.max_datagram)
                except TimeoutError:
                    continue
                except OSError:
                    break
                for line in data.decode("utf-8", "replace").splitlines():
                    if line.strip():
                        self._handle(line, emit)
        finally:
            sock.close()
            self._sock = None

    def _handle(self, line: str, emit: Emit) -> None:
        self.received += 1
        try:
            obs = parse_message(json.loads(line), self.clock.now_ns(), self.options)
            if obs.kind == "scene" and self.scene is not None:
                self.scene.apply(obs.payload)
        except (json.JSONDecodeError, FeedError, SceneError) as exc:
            self.malformed += 1
            log.warning("skipping context datagram: %s", exc)
            return
        emit(obs)
