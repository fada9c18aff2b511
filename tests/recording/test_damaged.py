"""Truncated and corrupt recordings: refused with the byte offset of the damage, and what was readable
before it is still replayed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.records import Chunk, Message
from mcap.stream_reader import StreamReader, breakup_chunk

from app.recording import replay_cli
from app.recording.mcap_reader import McapDamagedError, McapReplaySource, read_items
from app.recording.mcap_writer import McapWriter, RecorderOptions
from perception.stream import AudioChunk, CallbackSink, Pipeline, ReplayClock, VideoFrame


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("dmg") / "good.mcap"
    rng = np.random.default_rng(0)
    with McapWriter(path, RecorderOptions(chunk_size=32 * 1024)) as w:
        for i in range(40):
            w.write(
                VideoFrame(
                    image=rng.integers(0, 255, (96, 128, 3), dtype=np.uint8),
                    t_capture_ns=i * 33_000_000,
                    seq=i,
                )
            )
            w.write(
                AudioChunk(
                    samples=rng.normal(0, 0.1, 512).astype(np.float32),
                    sample_rate=16000,
                    t_first_ns=i * 32_000_000,
                    seq=i,
                )
            )
    all_items = [r.item for r in read_items(path)]
    with open(path, "rb") as f:
        chunks = sorted(make_reader(f).get_summary().chunk_indexes, key=lambda c: c.chunk_start_offset)
    assert len(chunks) >= 5
    return path, all_items, chunks


def messages_in_first_chunks(path, k: int) -> int:
    """Messages stored in the first k chunks of an intact file."""
    with open(path, "rb") as f:
        chunk_records = [r for r in StreamReader(f, emit_chunks=True).records if isinstance(r, Chunk)]
    return sum(isinstance(r, Message) for c in chunk_records[:k] for r in breakup_chunk(c))


def replay(path):
    out = []
    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(McapReplaySource(path))
    pipe.add(CallbackSink(out.append, name="sink"), inputs=[src])
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    return out, src, pipe


def same(a, b):
    if isinstance(a, VideoFrame):
        return a.seq == b.seq and a.t_capture_ns == b.t_capture_ns and np.array_equal(a.image, b.image)
    return a.seq == b.seq and a.t_first_ns == b.t_first_ns and a.samples.tobytes() == b.samples.tobytes()


def test_truncated_file_replays_its_complete_chunks_then_reports_the_offset(good, tmp_path):
    path, all_items, chunks = good
    data = path.read_bytes()
    cut = chunks[3].chunk_start_offset + chunks[3].chunk_length // 2  # in the middle of the 4th chunk
    bad = tmp_path / "truncated.mcap"
    bad.write_bytes(data[:cut])
    out, src, pipe = replay(bad)
    assert src.damage is not None
    assert src.damage.offset == chunks[3].chunk_start_offset  # the chunk cut in half starts here
    assert f"byte offset {chunks[3].chunk_start_offset} of {cut}" in str(src.damage)
    assert len(out) == messages_in_first_chunks(path, 3)
    assert all(same(a, b) for a, b in zip(out, all_items))  # the readable prefix, exactly
    st = {s.name: s for s in pipe.stats()}["replay"]
    assert st.errors == 1 and "damaged at byte offset" in st.last_error


def test_flipped_byte_is_caught_by_the_chunk_checksum(good, tmp_path):
    path, all_items, chunks = good
    data = bytearray(path.read_bytes())
    target = chunks[2]
    data[target.chunk_start_offset + target.chunk_length - 100] ^= 0x5A
    bad = tmp_path / "flipped.mcap"
    bad.write_bytes(bytes(data))
    out, src, _ = replay(bad)
    assert src.damage is not None
    assert src.damage.offset == target.chunk_start_offset
    assert "checksum" in src.damage.reason
    assert len(out) == messages_in_first_chunks(path, 2)
    assert all(same(a, b) for a, b in zip(out, all_items))


def test_not_an_mcap_file_is_refused_at_offset_zero(tmp_path, capsys):
    p = tmp_path / "notes.mcap"
    p.write_bytes(b"hello, this is a text file\n")
    with pytest.raises(McapDamagedError, match="byte offset 0") as ei:
        list(read_items(p))
    assert "not an MCAP file" in str(ei.value)
    assert replay_cli.main([str(p)]) == 2  # not a recording at all: an input error (issue #18)
    assert "byte offset 0" in capsys.readouterr().err
    e = tmp_path / "empty.mcap"
    e.write_bytes(b"")
    with pytest.raises(McapDamagedError, match="file is empty"):
        list(read_items(e))


def test_replay_command_on_a_truncated_file(good, tmp_path, capsys):
    path, all_items, chunks = good
    bad = tmp_path / "cut.mcap"
    bad.write_bytes(path.read_bytes()[: chunks[-1].chunk_start_offset + 10])
    code = replay_cli.main([str(bad), "--json"])
    cap = capsys.readouterr()
    res = json.loads(cap.out)
    assert code == 1
    assert res["damaged_at"] == chunks[-1].chunk_start_offset
    assert 0 < sum(res["replayed"].values()) < len(all_items)
    assert f"damaged at byte offset {chunks[-1].chunk_start_offset}" in cap.err
