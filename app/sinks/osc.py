"""Sends intents (and optionally observations) as Open Sound Control messages over UDP.

Addresses, so that a Max/MSP, TouchDesigner or Unity OSC receiver can route on the intent name:

    /cuekit/intent            name, confidence, slots JSON, intent id, latency ms
    /cuekit/intent/<name>     confidence, slots JSON
    /cuekit/observation/<modality>/<kind>   confidence, payload JSON
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pythonosc.udp_client import SimpleUDPClient

from app.plugins.base import SinkPlugin
from perception.stream import IntentEvent, Observation

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")  # OSC address parts may not contain space # * , / ? [ ] { }


def _part(s: str) -> str:
    return _UNSAFE.sub("_", s) or "_"


class OscSink(SinkPlugin):
    """Intents (and optionally observations) as OSC messages to host:port over UDP."""

    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "host": {"type": "string", "default": "127.0.0.1"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 9000},
            "prefix": {"type": "string", "pattern": "^/[A-Za-z0-9_/]*$", "default": "/cuekit"},
            "observations": {"type": "boolean"},
        },
    }

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        super().__init__(config, name or "osc")
        self.consumes = (IntentEvent, Observation) if self.config.get("observations") else (IntentEvent,)
        self.prefix = self.config.get("prefix", "/cuekit").rstrip("/")
        self._client: SimpleUDPClient | None = None
        self.sent = 0

    def setup(self) -> None:
        self._client = SimpleUDPClient(self.config.get("host", "127.0.0.1"), int(self.config.get("port", 9000)))

    def process(self, item: Any, emit) -> None:
        if self._client is None:
            self.setup()
        assert self._client is not None
        if isinstance(item, IntentEvent):
            slots = json.dumps(item.slots, separators=(",", ":"), default=str)
            self._client.send_message(
                f"{self.prefix}/intent", [item.name, float(item.confidence), slots, item.id, float(item.latency_ms)]
            )
            self._client.send_message(f"{self.prefix}/intent/{_part(item.name)}", [float(item.confidence), slots])
            self.sent += 2
        elif isinstance(item, Observation):
            payload = json.dumps(item.payload, separators=(",", ":"), default=str)
            self._client.send_message(
                f"{self.prefix}/observation/{_part(item.modality)}/{_part(item.kind)}",
                [float(item.confidence), payload],
            )
            self.sent += 1
