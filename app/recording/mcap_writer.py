"""Writing a session to MCAP: `McapWriter` (any thread, one at a time) and `McapRecorder`, the pipeline
sink that records everything it is fed. log_time = capture time on the pipeline clock (ns), publish_time
the same (so a file is a pure function of the items), channels and schemas created on first use."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer

from app.recording import schemas
from perception.stream.stage import Emit, Sink

log = logging.getLogger("cuekit.recording")

PROFILE = "cuekit"


@dataclass(slots=True)
class RecorderOptions:
    jpeg_quality: int = 90
    audio_encoding: str = "pcm_f32le"  # exact; "pcm_s16le" halves the size
    chunk_size: int = 64 * 1024  # a chunk is all-or-nothing when damaged: small ones lose less
    compression: str = "lz4"  # "lz4" | "none"


class McapWriter:
    def __init__(
        self,
        path: str | os.PathLike,
        options: RecorderOptions | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options or RecorderOptions()
        comp = {"lz4": CompressionType.LZ4, "none": CompressionType.NONE}.get(self.options.compression)
        if comp is None:
            raise ValueError(f"unknown MCAP compression {self.options.compression!r}; use lz4 or none")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file, chunk_size=self.options.chunk_size, compression=comp)
        self._writer.start(profile=PROFILE, library="cuekit")
        self._writer.add_metadata(
            "cuekit",
            {
                "clock": "monotonic_ns",
                "audio_encoding": self.options.audio_encoding,
                "jpeg_quality": str(self.options.jpeg_quality),
                **(metadata or {}),
            },
        )
        self._schema_ids: dict[str, int] = {}
        self._channel_ids: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def _channel(self, topic: str, schema: str) -> int:
        cid = self._channel_ids.get(topic)
        if cid is None:
            sid = self._schema_ids.get(schema)
            if sid is None:
                sid = self._writer.register_schema(schema, "jsonschema", schemas.schema_bytes(schema))
                self._schema_ids[schema] = sid
            cid = self._writer.register_channel(topic, "json", sid)
            self._channel_ids[topic] = cid
        return cid

    def write(self, item: Any) -> schemas.Encoded:
        if self.closed:
            raise RuntimeError(f"{self.path}: writer is closed")
        enc = schemas.encode(item, self.options.jpeg_quality, self.options.audio_encoding)
        cid = self._channel(enc.topic, enc.schema)
        self._writer.add_message(
            cid,
            log_time=enc.log_time_ns,
            data=enc.data,
            publish_time=enc.log_time_ns,
            sequence=enc.sequence & 0xFFFFFFFF,
        )
        self.counts[enc.topic] = self.counts.get(enc.topic, 0) + 1
        return enc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.finish()
        finally:
            self._file.close()

    def __enter__(self) -> McapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class McapRecorder(Sink):
    """Records every item it receives (BLOCK input: a recording loses nothing). Items of a type that
    has no channel are counted as `unrecordable` and skipped."""

    name = "recorder"
    input_capacity = 256

    def __init__(
        self,
        path: str | os.PathLike,
        options: RecorderOptions | None = None,
        name: str = "recorder",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.options = options or RecorderOptions()
        self.metadata = metadata
        self.writer: McapWriter | None = None

    def setup(self) -> None:
        self.writer = McapWriter(self.path, self.options, self.metadata)

    def process(self, item: Any, emit: Emit) -> None:
        assert self.writer is not None
        try:
            self.writer.write(item)
        except TypeError as exc:
            if self.count("unrecordable") == 1:
                log.warning("%s: %s", self.name, exc)

    def close(self, emit: Emit) -> None:
        if self.writer is not None:
            self.writer.close()
            log.info(
                "%s: wrote %s (%s)",
                self.name,
                self.path,
                ", ".join(f"{t}: {n}" for t, n in sorted(self.writer.counts.items())) or "no messages",
            )
