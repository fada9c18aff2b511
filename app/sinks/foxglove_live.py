"""A live Foxglove view of the pipeline: the same channels, schemas and messages as a recording
(`app/recording/schemas.py`), served over Foxglove's WebSocket protocol by `foxglove-sdk` (the
`foxglove` extra). Open Foxglove, "Open connection", `ws://127.0.0.1:8766`.

    [[sinks]]
    plugin = "foxglove"
    config = { port = 8766 }

Loopback only: the Foxglove protocol has no authentication, so any other address is declined.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from typing import Any, ClassVar

from app.plugins.base import SinkPlugin, Validation
from app.recording import schemas
from perception.stream import AudioChunk, HandLandmarks, ImuBatch, IntentEvent, Observation, VideoFrame
from perception.stream.channel import QueuePolicy
from perception.stream.stage import Emit

log = logging.getLogger("cuekit.sinks.foxglove")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class FoxgloveLiveSink(SinkPlugin):
    """Every stream, observation and intent, live to Foxglove. It never holds the pipeline back: when
    it falls behind, items are dropped and counted (a live view may skip)."""

    description = "live view in Foxglove over its WebSocket protocol (foxglove-sdk)"
    consumes = (VideoFrame, AudioChunk, ImuBatch, HandLandmarks, Observation, IntentEvent)
    input_policy = QueuePolicy.OVERFLOW
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "host": {"type": "string", "description": "loopback only (default 127.0.0.1)"},
            "port": {"type": "integer", "minimum": 0, "maximum": 65535, "description": "default 8766; 0: any"},
            "jpeg_quality": {"type": "integer", "minimum": 10, "maximum": 100},
            "audio_encoding": {"enum": ["pcm_s16le", "pcm_f32le"]},
        },
    }

    @classmethod
    def validate(cls, config: dict[str, Any]) -> Validation:
        if importlib.util.find_spec("foxglove") is None:
            return Validation.decline("foxglove-sdk is not installed: pip install 'cuekit[foxglove]'")
        host = config.get("host", "127.0.0.1")
        if host not in _LOOPBACK:
            return Validation.decline(
                f"the Foxglove view listens on loopback only (its protocol has no authentication), not on {host!r}"
            )
        return Validation(True)

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        super().__init__(config, name or "foxglove")
        self.server: Any = None
        self.port = 0
        self._channels: dict[str, Any] = {}
        self._wall_offset_ns = 0
        self.messages = 0

    def setup(self) -> None:
        v = self.validate(self.config)
        if not v.ok:
            raise RuntimeError(v.reason)
        import foxglove

        self._foxglove = foxglove
        self._context = foxglove.Context()  # its own: other code using foxglove-sdk does not see ours
        self.server = foxglove.start_server(
            name="cuekit",
            host=self.config.get("host", "127.0.0.1"),
            port=int(self.config.get("port", 8766)),
            context=self._context,
        )
        self.port = self.server.port
        self._wall_offset_ns = time.time_ns() - time.monotonic_ns()
        log.info("%s: Foxglove live view on ws://%s:%d", self.name, self.config.get("host", "127.0.0.1"), self.port)

    def _channel(self, enc: schemas.Encoded) -> Any:
        ch = self._channels.get(enc.topic)
        if ch is None:
            fx = self._foxglove
            schema = fx.Schema(name=enc.schema, encoding="jsonschema", data=schemas.schema_bytes(enc.schema))
            ch = fx.Channel(enc.topic, schema=schema, message_encoding="json", context=self._context)
            self._channels[enc.topic] = ch
        return ch

    def process(self, item: Any, emit: Emit) -> None:
        try:
            encs = schemas.encode(
                item,
                int(self.config.get("jpeg_quality", 80)),
                self.config.get("audio_encoding", "pcm_s16le"),
                self._wall_offset_ns,
            )
        except (TypeError, ValueError) as exc:
            if self.count("unencodable") == 1:
                log.warning("%s: %s", self.name, exc)
            return
        for enc in encs:
            self._channel(enc).log(enc.data, log_time=enc.log_time_ns)
            self.messages += 1

    def close(self, emit: Emit) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
