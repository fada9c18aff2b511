"""Writing a session to MCAP: `McapWriter` (any thread, one at a time) and `McapRecorder`, the pipeline
sink that records everything it is fed. log_time = capture time on the wall clock: the pipeline time plus
`wall_offset_ns` (wall - monotonic, taken when the file is opened and stored in the `cuekit` metadata, so
the reader gives the pipeline times back exactly); publish_time the same; channels and schemas created
on first use. The scene the session was recorded in (`scene=` targets) goes into the file as /scene, so
a recording needs nothing beside it."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from mcap.writer import CompressionType, Writer

from app.recording import schemas
from perception.stream.clock import ReplayClock
from perception.stream.stage import Emit, Sink

log = logging.getLogger("cuekit.recording")

PROFILE = "cuekit"


@dataclass(slots=True)
class RecorderOptions:
    jpeg_quality: int = 90
    # foxglove.RawAudio pcm-s16: Foxglove plays it, exact for 16-bit sources; "pcm_f32le" exact for any
    audio_encoding: str = "pcm_s16le"
    chunk_size: int = 64 * 1024  # a chunk is all-or-nothing when damaged: small ones lose less
    compression: str = "lz4"  # "lz4" | "none"
    scene_file: str = ""  # JSON scene ({"targets": [...]} or a list of targets) to record as /scene


def load_scene_file(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Targets from a scene file (a session manifest or a scene: {"targets": [...]}, or a bare list)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"scene file {p}: {exc}") from exc
    targets = doc.get("targets") if isinstance(doc, dict) else doc
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise ValueError(f'scene file {p}: expected {{"targets": [...]}} or a list of target objects')
    return targets


class McapWriter:
    def __init__(
        self,
        path: str | os.PathLike,
        options: RecorderOptions | None = None,
        metadata: dict[str, str] | None = None,
        scene: list[dict[str, Any]] | None = None,
        wall_offset_ns: int | str | None = None,
    ) -> None:
        """`wall_offset_ns`: None (default) for items on the live monotonic clock; "first_item" for items on
        another time base (a replay clock from 0, a generated session): the first item is then logged at
        the wall-clock time it is written; or an explicit offset."""
        self.path = Path(path)
        self.options = options or RecorderOptions()
        if scene is None and self.options.scene_file:
            scene = load_scene_file(self.options.scene_file)
        if wall_offset_ns == "first_item":
            self.wall_offset_ns: int | None = None  # known at the first write
        elif wall_offset_ns is None:
            self.wall_offset_ns = time.time_ns() - time.monotonic_ns()
        else:
            self.wall_offset_ns = int(wall_offset_ns)
        comp = {"lz4": CompressionType.LZ4, "none": CompressionType.NONE}.get(self.options.compression)
        if comp is None:
            raise ValueError(f"unknown MCAP compression {self.options.compression!r}; use lz4 or none")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - open for the writer's life, closed by close()
        self._writer = Writer(self._file, chunk_size=self.options.chunk_size, compression=comp)
        self._writer.start(profile=PROFILE, library="cuekit")
        clock = "recorded_ns" if wall_offset_ns == "first_item" else "monotonic_ns"
        self._metadata = {
            "clock": clock,
            "audio_encoding": self.options.audio_encoding,
            "jpeg_quality": str(self.options.jpeg_quality),
            **(metadata or {}),
        }
        self._metadata_written = False
        if self.wall_offset_ns is not None:
            self._write_metadata()
        self._schema_ids: dict[str, int] = {}
        self._channel_ids: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.closed = False
        self._scene = scene
        self._started = False
        self._tf_written = False

    def _write_metadata(self) -> None:
        # before the first message: the reader needs the offset to give pipeline times back
        self._writer.add_metadata("cuekit", {**self._metadata, "wall_offset_ns": str(self.wall_offset_ns or 0)})
        self._metadata_written = True

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

    def _add(self, enc: schemas.Encoded) -> None:
        if enc.schema == "foxglove.SceneUpdate" and not self._tf_written:
            # the frame the 3-D panel shows targets and rays in, before the first of them
            self._tf_written = True
            self._add(schemas.frame_transforms(enc.log_time_ns - self.wall_offset_ns, self.wall_offset_ns))
        cid = self._channel(enc.topic, enc.schema)
        self._writer.add_message(
            cid,
            log_time=enc.log_time_ns,
            data=enc.data,
            publish_time=enc.log_time_ns,
            sequence=enc.sequence & 0xFFFFFFFF,
        )
        self.counts[enc.topic] = self.counts.get(enc.topic, 0) + 1

    def write(self, item: Any) -> list[schemas.Encoded]:
        """Record one item (its messages: an IMU batch is one per sample). Returns what was written."""
        if self.closed:
            raise RuntimeError(f"{self.path}: writer is closed")
        if self.wall_offset_ns is None:  # "first_item": this item is logged now, on the wall clock
            t = schemas.encode(item, self.options.jpeg_quality, self.options.audio_encoding)[0].log_time_ns
            self.wall_offset_ns = time.time_ns() - t
            self._write_metadata()
        encs = schemas.encode(item, self.options.jpeg_quality, self.options.audio_encoding, self.wall_offset_ns)
        if not self._started:  # the scene, at the time of the first item
            self._started = True
            if self._scene is not None:
                self.write_scene(self._scene, encs[0].log_time_ns - self.wall_offset_ns)
        for enc in encs:
            self._add(enc)
        return encs

    def write_scene(self, targets: list[dict[str, Any]], t_ns: int) -> None:
        """The scene (targets) at pipeline time `t_ns`: /scene, replayed as a context/scene observation,
        and its pictures for Foxglove (boxes over the camera image, spheres in 3-D)."""
        self._started = True
        if self.wall_offset_ns is None:
            self.wall_offset_ns = time.time_ns() - int(t_ns)
            self._write_metadata()
        for enc in schemas.scene_messages(targets, t_ns, self.wall_offset_ns):
            self._add(enc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self._metadata_written:
            self._write_metadata()
        try:
            self._writer.finish()
        finally:
            self._file.close()

    def __enter__(self) -> Self:
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
        scene: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.options = options or RecorderOptions()
        self.metadata = metadata
        self.scene = scene
        self.writer: McapWriter | None = None

    def setup(self) -> None:
        # items on a replay clock (a file replayed, a --fast recording) are not on the live monotonic clock
        offset = "first_item" if isinstance(self.clock, ReplayClock) else None
        self.writer = McapWriter(self.path, self.options, self.metadata, scene=self.scene, wall_offset_ns=offset)

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
