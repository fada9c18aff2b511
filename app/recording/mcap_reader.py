"""Reading a recorded session back: typed items in file order (= the order the recorder received them),
and `McapReplaySource`, which replays them on a `ReplayClock` with their recorded times.

Damage handling: the file is read sequentially with CRC checks (never trusting the summary at its end).
Everything up to the first damaged record is delivered; then `McapDamagedError` reports the byte offset
where the damage starts. A file that is not MCAP at all is refused at offset 0 before anything is read.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.exceptions import EndOfFile, RecordLengthLimitExceeded
from mcap.reader import make_reader
from mcap.records import Channel, Chunk, Message, Metadata, Schema
from mcap.stream_reader import CRCValidationError, StreamReader, breakup_chunk

from app.recording import schemas
from perception.stream.clock import ReplayClock
from perception.stream.stage import Emit, Source
from perception.stream.types import STREAM_TYPES

log = logging.getLogger("cuekit.recording")

MAGIC = b"\x89MCAP0\r\n"
# the recorder writes 64 KB chunks (one large frame makes a bigger one); anything near this is a bomb
MAX_CHUNK_BYTES = 32 * 1024 * 1024


class McapDamagedError(ValueError):
    """The file is truncated or corrupt from `offset` on; `items_read` items came before the damage."""

    expected_failure = True  # the pipeline reports the message without a traceback

    def __init__(self, path: Path, offset: int, reason: str, items_read: int, file_size: int) -> None:
        self.path, self.offset, self.reason, self.items_read, self.file_size = (
            path,
            offset,
            reason,
            items_read,
            file_size,
        )
        super().__init__(
            f"{path}: damaged at byte offset {offset} of {file_size} ({reason}); "
            f"{items_read} messages before the damage were read"
        )


@dataclass(slots=True)
class RecordedItem:
    topic: str
    schema: str
    log_time_ns: int
    item: Any


def check_magic(path: str | os.PathLike) -> int:
    """The file's size if it starts like an MCAP file; McapDamagedError (offset 0) if empty or not MCAP,
    IsADirectoryError / FileNotFoundError as the OS says. Cheap: run it before starting a pipeline."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(21, "is a directory, expected an MCAP file", str(p))
    return _check_magic(p)


def replay_problem(stages: list[Any]) -> str | None:
    """After a replay: why it did not play a whole readable recording (damage, nothing decodable), if so."""
    for src in stages:
        if not isinstance(src, McapReplaySource):
            continue
        if src.damage is not None:
            return str(src.damage)
        undecodable = src.counters.get("undecodable", 0)
        if not src.replayed:
            return (
                f"{src.path}: none of its {undecodable} messages could be decoded"
                if undecodable
                else f"{src.path}: the recording holds no messages"
            )
    return None


def _check_magic(path: Path) -> int:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        what = "file is empty" if size == 0 else f"not an MCAP file (starts with {head[:8]!r})"
        raise McapDamagedError(path, 0, what, 0, size)
    return size


def read_items(
    path: str | os.PathLike, topics: set[str] | None = None, on_undecodable: Any = None
) -> Iterator[RecordedItem]:
    """Yield the recorded items in file order; raises McapDamagedError after the last readable one.

    A message whose record is intact but whose payload cannot be decoded is passed to
    `on_undecodable(topic, exc)` (if given) and skipped."""
    p = Path(path)
    size = _check_magic(p)
    schemas_by_id: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    n = 0
    offset = 0  # wall - monotonic at recording (metadata written before any message); 0 in older files
    imu = schemas.ImuAssembler()
    with open(p, "rb") as f:
        # chunks come out whole and are opened here, with a bound on what they decompress to
        reader = StreamReader(f, validate_crcs=True, record_size_limit=size, emit_chunks=True)
        records = reader.records
        good_end = 0
        pending: list[Any] = []
        while True:
            if pending:
                rec = pending.pop()
            else:
                try:
                    rec = next(records)
                    if isinstance(rec, Chunk):
                        pending = open_chunk(rec)[::-1]
                        continue
                except StopIteration:
                    return
                except Exception as exc:  # any parse failure is damage at this offset
                    raise McapDamagedError(
                        p, max(good_end, len(MAGIC)), _reason(exc, size - good_end), n, size
                    ) from exc
                good_end = f.tell()
            if isinstance(rec, Metadata) and rec.name == "cuekit":
                try:  # metadata is input too: a bad offset means "none", not a crash
                    offset = int(rec.metadata.get("wall_offset_ns", "0") or 0)
                except (TypeError, ValueError):
                    offset = 0
            elif isinstance(rec, Schema):
                schemas_by_id[rec.id] = rec
            elif isinstance(rec, Channel):
                channels[rec.id] = rec
            elif isinstance(rec, Message):
                ch = channels.get(rec.channel_id)
                if ch is None:
                    continue
                if topics is not None and ch.topic not in topics:
                    continue
                sch = schemas_by_id.get(ch.schema_id)
                try:
                    item = schemas.decode(sch.name if sch else "", rec.data, rec.sequence, offset, rec.log_time)
                    if isinstance(item, schemas.ImuSamplePart):
                        item = imu.add(item)  # the batch, once its last sample is read
                except Exception as exc:  # noqa: BLE001 - one bad payload is skipped, not fatal
                    if on_undecodable is not None:
                        on_undecodable(ch.topic, exc)
                    continue
                if item is None:  # a channel for viewing only, or a batch still being assembled
                    continue
                n += 1
                yield RecordedItem(ch.topic, sch.name if sch else "", int(rec.log_time) - offset, item)


class ChunkTooLarge(ValueError):
    """A chunk that claims (or turns out) to decompress to more than the reader allows."""


def open_chunk(chunk: Chunk, limit: int = MAX_CHUNK_BYTES) -> list[Any]:
    """The records of one chunk, decompressed to at most `limit` bytes (a 32 KB zstd chunk can claim
    gigabytes: the claim is checked first, then the output is capped while decompressing)."""
    if chunk.uncompressed_size > limit:
        raise ChunkTooLarge(
            f"a chunk claims {chunk.uncompressed_size:,} bytes decompressed; at most {limit:,} are read"
        )
    if chunk.compression == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(chunk.data))
        parts, got = [], 0
        while got <= limit:
            part = reader.read(min(1 << 20, limit + 1 - got))
            if not part:
                break
            parts.append(part)
            got += len(part)
        data = b"".join(parts)
    elif chunk.compression == "lz4":
        import lz4.frame

        data = lz4.frame.LZ4FrameDecompressor().decompress(chunk.data, max_length=limit + 1)
    elif chunk.compression == "":
        data = chunk.data
    else:
        raise ValueError(f"unknown chunk compression {chunk.compression!r}")
    if len(data) > limit:
        raise ChunkTooLarge(f"a chunk decompresses to more than {limit:,} bytes")
    if len(data) != chunk.uncompressed_size:
        raise ValueError(f"a chunk decompresses to {len(data):,} bytes, its header says {chunk.uncompressed_size:,}")
    return breakup_chunk(dataclasses.replace(chunk, compression="", data=data), validate_crc=True)


def _reason(exc: Exception, remaining: int) -> str:
    if isinstance(exc, RecordLengthLimitExceeded):
        return (
            f"a record there claims more bytes than the {remaining} that remain ({exc}): truncated "
            "file or corrupt record length"
        )
    if isinstance(exc, EndOfFile):
        return "the file ends in the middle of a record (truncated)"
    if isinstance(exc, CRCValidationError):
        return f"checksum mismatch ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def read_scene(path: str | os.PathLike) -> list[dict[str, Any]] | None:
    """The scene targets a session was recorded in: its first /scene message, else (older recordings)
    the `<name>.json` manifest beside it; None when there is neither."""
    p = Path(path)
    try:
        for rec in read_items(p, topics={"/scene"}):
            return list(rec.item.payload["targets"])
    except McapDamagedError:
        pass
    manifest = p.with_suffix(".json")
    if manifest.is_file():
        from app.recording.mcap_writer import load_scene_file

        return load_scene_file(manifest)
    return None


@dataclass(slots=True)
class ChannelInfo:
    topic: str
    schema: str
    messages: int


@dataclass(slots=True)
class McapInfo:
    path: Path
    size: int
    channels: list[ChannelInfo] = field(default_factory=list)
    start_ns: int | None = None
    end_ns: int | None = None
    summary_ok: bool = True

    @property
    def duration_s(self) -> float:
        return 0.0 if self.start_ns is None or self.end_ns is None else (self.end_ns - self.start_ns) / 1e9


def read_info(path: str | os.PathLike) -> McapInfo:
    """Channels and message counts from the file's summary; `summary_ok=False` when it is unreadable
    (e.g. truncated: the summary sits at the end), in which case read_items still replays the rest."""
    p = Path(path)
    size = _check_magic(p)
    info = McapInfo(p, size)
    try:
        with open(p, "rb") as f:
            summary = make_reader(f).get_summary()
    except Exception:  # noqa: BLE001 - a damaged tail is reported by read_items with its offset
        summary = None
    if summary is None or summary.statistics is None:
        info.summary_ok = False
        return info
    st = summary.statistics
    for cid, ch in sorted(summary.channels.items()):
        sch = summary.schemas.get(ch.schema_id)
        info.channels.append(ChannelInfo(ch.topic, sch.name if sch else "", st.channel_message_counts.get(cid, 0)))
    if st.message_count:
        info.start_ns, info.end_ns = st.message_start_time, st.message_end_time
    return info


@dataclass(slots=True)
class ReplayOptions:
    topics: list[str] | None = None  # None: every topic
    kinds: list[type] | None = None  # keep only items of these types (e.g. [VideoFrame])


class McapReplaySource(Source):
    """Replays a recording: the original typed items with their recorded times, paced by the pipeline's
    ReplayClock (as fast as possible, or at recorded speed when the clock is realtime). On a damaged
    file it replays what precedes the damage, then fails with the byte offset (`self.damage`)."""

    name = "replay"

    def __init__(self, path: str | os.PathLike, options: ReplayOptions | None = None, name: str = "replay") -> None:
        super().__init__(name)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"recording not found: {self.path}")
        self.options = options or ReplayOptions()
        self.produces = tuple(self.options.kinds) if self.options.kinds else STREAM_TYPES
        self.damage: McapDamagedError | None = None
        self.replayed: dict[str, int] = {}

    def setup(self) -> None:
        if not isinstance(self.clock, ReplayClock):
            raise TypeError(
                f"{self.name}: replaying recorded times needs a ReplayClock pipeline clock, "
                f"got {type(self.clock).__name__}"
            )

    def _undecodable(self, topic: str, exc: Exception) -> None:
        if self.count("undecodable") == 1:
            log.warning("%s: skipped an undecodable message on %s: %s", self.name, topic, exc)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        topics = set(self.options.topics) if self.options.topics else None
        kinds = tuple(self.options.kinds) if self.options.kinds else None
        try:
            for rec in read_items(self.path, topics, self._undecodable):
                if stop.is_set():
                    return
                if kinds is not None and not isinstance(rec.item, kinds):
                    continue
                self.clock.sleep_until_ns(rec.log_time_ns, stop)
                if stop.is_set():
                    return
                emit(rec.item)
                self.replayed[rec.topic] = self.replayed.get(rec.topic, 0) + 1
        except McapDamagedError as exc:
            self.damage = exc
            self.count("damaged")
            raise
