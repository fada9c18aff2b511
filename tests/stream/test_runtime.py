"""Stream runtime: queue policies under a slow consumer, clean shutdown, failing stages, drain, stats."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from perception.stream import (
    AudioChunk,
    CallbackSink,
    Channel,
    FunctionStage,
    Pipeline,
    QueuePolicy,
    ReplayClock,
    Source,
    VideoFrame,
)


class FrameSource(Source):
    """Emits `n` tiny frames as fast as it can."""

    def __init__(self, n: int, name: str = "frames") -> None:
        super().__init__(name)
        self.n = n

    def run(self, emit, stop):
        img = np.zeros((2, 2, 3), np.uint8)
        for i in range(self.n):
            if stop.is_set():
                return
            emit(VideoFrame(image=img, t_capture_ns=i * 1000, seq=i))


class ChunkSource(Source):
    def __init__(self, n: int, size: int = 160, name: str = "chunks") -> None:
        super().__init__(name)
        self.n, self.size = n, size

    def run(self, emit, stop):
        for i in range(self.n):
            if stop.is_set():
                return
            samples = np.arange(i * self.size, (i + 1) * self.size, dtype=np.float32)
            emit(AudioChunk(samples=samples, sample_rate=16000, t_first_ns=i * 10_000_000, seq=i))


class Endless(Source):
    """Never ends by itself; checks `stop` like a device source."""

    def run(self, emit, stop):
        i = 0
        while not stop.is_set():
            emit(VideoFrame(image=np.zeros((1, 1), np.uint8), t_capture_ns=i, seq=i))
            i += 1
            stop.wait(0.001)


def test_video_latest_drops_stale_frames_and_counts_them():
    seen: list[int] = []

    def slow(frame):
        time.sleep(0.01)
        seen.append(frame.seq)

    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(FrameSource(300))
    pipe.add(CallbackSink(slow, name="slow", policy=QueuePolicy.LATEST), inputs=[src], capacity=2)
    pipe.start()
    assert pipe.wait(10)
    pipe.stop()
    stats = {s.name: s for s in pipe.stats()}
    assert stats["frames"].items_out == 300
    assert stats["slow"].drops > 0
    assert stats["slow"].drops + len(seen) == 300  # every frame either processed or counted as dropped
    assert seen == sorted(seen)  # order kept
    assert seen[-1] == 299  # the newest frame is never the one dropped


def test_audio_block_loses_no_sample_under_a_slow_consumer():
    got: list[np.ndarray] = []

    def slow(chunk):
        time.sleep(0.002)
        got.append(chunk.samples)

    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(ChunkSource(200))
    pipe.add(CallbackSink(slow, name="slow"), inputs=[src], capacity=2)
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    allsamples = np.concatenate(got)
    np.testing.assert_array_equal(allsamples, np.arange(200 * 160, dtype=np.float32))
    assert {s.name: s for s in pipe.stats()}["slow"].drops == 0


def test_overflow_channel_refuses_and_counts():
    ch = Channel("dev->x", 3, QueuePolicy.OVERFLOW)
    results = [ch.put(i) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert ch.dropped == 2
    assert [ch.get(0.01) for _ in range(3)] == [0, 1, 2]


def test_stop_returns_within_one_second_with_endless_sources_and_blocked_consumer():
    block = threading.Event()
    pipe = Pipeline()
    src = pipe.add(Endless(name="endless"))
    pipe.add(CallbackSink(lambda f: block.wait(0.2), name="stuckish"), inputs=[src], capacity=1)
    pipe.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    stuck = pipe.stop(timeout=1.0)
    assert time.monotonic() - t0 < 1.0
    assert stuck == []


def test_exception_in_a_stage_is_reported_by_name_and_the_rest_keeps_running(caplog):
    out: list[int] = []

    def flaky(frame):
        if frame.seq % 10 == 3:
            raise RuntimeError(f"bad frame {frame.seq}")
        return frame

    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(FrameSource(50))
    mid = pipe.add(FunctionStage(flaky, name="flaky"), inputs=[src])
    pipe.add(CallbackSink(lambda f: out.append(f.seq), name="sink"), inputs=[mid])
    side = []
    pipe.add(CallbackSink(lambda f: side.append(f.seq), name="side"), inputs=[src])
    with caplog.at_level("ERROR"):
        pipe.start()
        assert pipe.wait(10)
        pipe.stop()
    st = {s.name: s for s in pipe.stats()}
    assert st["flaky"].errors == 5
    assert "bad frame 43" in st["flaky"].last_error
    assert len(out) == 45 and len(side) == 50
    assert any("'flaky'" in r.getMessage() for r in caplog.records)
    assert "flaky" in pipe.stats_table() and "last error" in pipe.stats_table()


def test_failing_source_setup_is_reported_and_pipeline_finishes():
    class Broken(Source):
        def setup(self):
            raise OSError("device gone")

        def run(self, emit, stop):  # pragma: no cover - never reached
            raise AssertionError

    pipe = Pipeline(clock=ReplayClock())
    pipe.add(Broken(name="broken"))
    ok = pipe.add(FrameSource(5, name="ok"))
    got = []
    pipe.add(CallbackSink(got.append, name="sink"), inputs=["broken", ok])
    pipe.start()
    assert pipe.wait(5)
    pipe.stop()
    st = {s.name: s for s in pipe.stats()}
    assert st["broken"].errors == 1 and "device gone" in st["broken"].last_error
    assert len(got) == 5


def test_drain_lets_consumers_finish_what_is_queued():
    got = []
    pipe = Pipeline()
    src = pipe.add(Endless(name="endless"))
    pipe.add(CallbackSink(lambda f: (time.sleep(0.001), got.append(f.seq)), name="sink"), inputs=[src], capacity=64)
    pipe.start()
    time.sleep(0.2)
    assert pipe.drain(timeout=5.0) == []
    st = {s.name: s for s in pipe.stats()}
    assert st["sink"].items_in == st["endless"].items_out == len(got)
    assert got == list(range(len(got)))


def test_stage_counters_appear_in_stats():
    class Counting(Source):
        def run(self, emit, stop):
            self.count("malformed", 3)
            self.count("malformed")

    pipe = Pipeline(clock=ReplayClock())
    pipe.add(Counting(name="c"))
    pipe.start()
    pipe.wait(2)
    pipe.stop()
    snap = pipe.stats()[0]
    assert snap.counters == {"malformed": 4}
    assert snap.to_json()["counters"] == {"malformed": 4}
    assert "malformed=4" in pipe.stats_table()


def test_duplicate_and_unknown_stage_names_are_refused():
    pipe = Pipeline()
    pipe.add(FrameSource(1, name="a"))
    with pytest.raises(ValueError, match="already"):
        pipe.add(FrameSource(1, name="a"))
    with pytest.raises(ValueError, match="unknown input 'nope'"):
        pipe.add(CallbackSink(print), inputs=["nope"])


class Idle(Source):
    """Alive but silent (a UDP source nobody sends to) until stopped."""

    def run(self, emit, stop):
        stop.wait()


def test_multi_input_stage_takes_from_every_input_and_ends_when_all_end():
    got = []
    pipe = Pipeline(clock=ReplayClock())
    a = pipe.add(FrameSource(400, name="a"))
    b = pipe.add(ChunkSource(150, name="b"))
    pipe.add(CallbackSink(got.append, name="sink"), inputs=[a, b], capacity=4)
    pipe.start()
    assert pipe.wait(10)
    pipe.stop()
    assert [x.seq for x in got if isinstance(x, VideoFrame)] == list(range(400))
    assert [x.seq for x in got if isinstance(x, AudioChunk)] == list(range(150))


def test_idle_input_does_not_hold_back_a_busy_one():
    got = []
    pipe = Pipeline(clock=ReplayClock())
    busy = pipe.add(FrameSource(3000, name="busy"))
    idle = pipe.add(Idle(name="idle"))
    pipe.add(CallbackSink(got.append, name="sink"), inputs=[idle, busy])
    pipe.start()
    deadline = time.monotonic() + 10
    while len(got) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipe.stop() == []
    assert len(got) == 3000
    assert [f.seq for f in got] == list(range(3000))


class PacedFrames(Source):
    """A file-twin-like source: waits for each frame's recorded time on the pipeline clock."""

    def __init__(self, n: int, period_ns: int, name: str) -> None:
        super().__init__(name)
        self.n, self.period_ns = n, period_ns

    def run(self, emit, stop):
        for i in range(self.n):
            t = i * self.period_ns
            self.clock.sleep_until_ns(t, stop)
            emit(VideoFrame(image=np.zeros((1, 1), np.uint8), t_capture_ns=t, seq=i, source_id=self.name))


def test_fast_replay_stamps_in_stages_are_deterministic():
    """A stage stamping with clock.now_ns() gets the capture time of its item, however far the
    sources have raced ahead (here a second, faster source pushes the shared replay time far on)."""

    def run_once():
        stamps = []

        class Stamper(FunctionStage):
            def process(self, item, emit):
                time.sleep(0.0005)  # let the sources run ahead
                stamps.append((item.seq, self.clock.now_ns()))

        pipe = Pipeline(clock=ReplayClock())
        slow = pipe.add(PacedFrames(100, 33_000_000, name="slow"))
        pipe.add(PacedFrames(2000, 1_000_000_000, name="racer"))
        pipe.add(Stamper(None, name="stamper"), inputs=[slow])
        pipe.add(CallbackSink(lambda x: None, name="drain"), inputs=["racer"])
        pipe.start()
        assert pipe.wait(20)
        pipe.stop()
        return stamps, {s.name: s for s in pipe.stats()}

    a, stats = run_once()
    b, _ = run_once()
    assert a == b == [(i, i * 33_000_000) for i in range(100)]
    assert stats["slow"].latency_ms_p95 == 0.0  # measured in recorded time: no queueing in it
