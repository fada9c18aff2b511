"""Writes each intent (and, if asked, each observation) as one JSON object per line.

Lines are flushed one by one so a downstream `jq` or a shell pipe sees each event as it happens.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, ClassVar

from app.plugins.base import SinkPlugin
from perception.stream import IntentEvent, Observation


class JsonLinesSink(SinkPlugin):
    """Intents (and optionally observations) as JSON lines on stdout, stderr or a file."""

    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "path": {"type": "string", "description": "'-' or absent: stdout; 'stderr'; else a file to append to"},
            "observations": {"type": "boolean", "description": "also write observations"},
        },
    }

    def __init__(
        self, config: dict[str, Any] | None = None, name: str | None = None, stream: IO[str] | None = None
    ) -> None:
        super().__init__(config, name or "jsonl")
        self.consumes = (IntentEvent, Observation) if self.config.get("observations") else (IntentEvent,)
        self._stream = stream
        self._owned: IO[str] | None = None
        self.lines = 0

    def setup(self) -> None:
        if self._stream is not None:
            return
        path = self.config.get("path", "-")
        if path == "-":
            self._stream = sys.stdout
        elif path == "stderr":
            self._stream = sys.stderr
        else:
            self._owned = self._stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def process(self, item: Any, emit) -> None:
        if isinstance(item, IntentEvent):
            rec = {"type": "intent", **item.to_json()}
        elif isinstance(item, Observation):
            rec = {"type": "observation", **item.to_json()}
        else:
            return
        assert self._stream is not None
        self._stream.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
        self._stream.flush()
        self.lines += 1

    def close(self, emit) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None
