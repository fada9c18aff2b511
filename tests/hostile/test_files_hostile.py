"""Items 8, 9, 10, 11, 12 (IMU header) and 14 (record --fast) of issue #18: stages that cannot start,
damaged recordings, odd WAVs, stray IMU lines, and time order of a fast recording."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from bombs import wav_bytes
from hostile_helpers import run_cli

from app.recording.mcap_reader import read_items
from perception.sources.imu_format import ImuLineParser, MalformedImuLine
from perception.sources.wav import WavError, read_wav, read_wav_info, write_wav
from perception.stream import AudioChunk, CallbackSink, FunctionStage, Pipeline, Source, Stage

REPO = Path(__file__).resolve().parents[2]
SESSION = REPO / "assets" / "sessions" / "demo.mcap"


class _Numbers(Source):
    def run(self, emit, stop):
        for i in range(200):
            emit(i)


class _BrokenSetup(Stage):
    def setup(self):
        raise ValueError("words not in the pronunciation dictionary: ['cuekitzz']")

    def process(self, item, emit):  # pragma: no cover - must never run
        raise AssertionError("process after a failed setup")


def test_a_stage_that_fails_setup_is_marked_failed_once_and_the_rest_runs(caplog):
    pipe = Pipeline()
    src = pipe.add(_Numbers("numbers"))
    broken = pipe.add(_BrokenSetup("speech"), inputs=[src])
    got = []
    pipe.add(CallbackSink(got.append), inputs=[src])
    with caplog.at_level(logging.ERROR):
        pipe.start()
        assert pipe.wait(10)
        pipe.stop()
    assert got == list(range(200))
    assert pipe.failed_stages() == {"speech": "ValueError: words not in the pronunciation dictionary: ['cuekitzz']"}
    st = {s.name: s for s in pipe.stats()}["speech"]
    assert st.errors == 1 and broken.counters["skipped (setup failed)"] == 200
    assert len([r for r in caplog.records if "speech" in r.getMessage()]) == 1


def test_the_speech_stage_with_an_unpronounceable_word_fails_once():
    pytest.importorskip("pocketsphinx")
    from perception.speech.context import Context
    from perception.speech.stage import SpeechStage, SpeechStageOptions

    class Audio(Source):
        def run(self, emit, stop):
            for i in range(50):
                emit(AudioChunk(np.zeros(512, np.float32), 16000, i * 32_000_000, seq=i))

    pipe = Pipeline()
    a = pipe.add(Audio("mic"))
    sp = pipe.add(SpeechStage(SpeechStageOptions(context=Context({"x": ["open cuekitzz"]}))), inputs=[a])
    n = []
    pipe.add(FunctionStage(lambda c: n.append(c), "other"), inputs=[a])
    pipe.start()
    assert pipe.wait(60)
    pipe.stop()
    assert len(n) == 50
    assert {s.name: s.errors for s in pipe.stats()}["speech"] == 1  # not 50 tracebacks
    assert "cuekitzz" in pipe.failed_stages()["speech"] and sp.counters["skipped (setup failed)"] == 50


def test_wav_float16_pcm12_and_clipping(tmp_path):
    f16 = tmp_path / "f16.wav"
    f16.write_bytes(wav_bytes(np.array([0.5, -0.25, 4.0, np.nan], "<f2").tobytes(), 16000, 1, 16, 3, 2))
    x, sr = read_wav(f16)
    assert sr == 16000 and x.tolist() == [0.5, -0.25, 1.0, 0.0]  # 16-bit float, clipped, NaN silenced
    p12 = tmp_path / "p12.wav"
    p12.write_bytes(wav_bytes((np.array([1024, -2048], "<i2") << 4).astype("<i2").tobytes(), 8000, 1, 12, 1, 2))
    info = read_wav_info(p12)
    assert (info.sample_width, info.bits) == (2, 12)
    x, _ = read_wav(p12)
    np.testing.assert_allclose(x, [0.5, -1.0])  # 12 bits left-justified in 16, not read as 8-bit
    f32 = tmp_path / "f32.wav"
    write_wav(f32, np.array([0.1, 3.0, -7.0], np.float32), 16000)
    assert read_wav(f32)[0].tolist() == pytest.approx([0.1, 1.0, -1.0])


def test_the_wav_source_and_the_speech_path_read_each_others_files(tmp_path):
    from perception.sources.audio import write_wav as source_write
    from perception.speech.audio import read_wav as speech_read
    from perception.speech.audio import write_wav as speech_write

    x = np.sin(np.linspace(0, 20, 1600)).astype(np.float32) * 0.5
    source_write(tmp_path / "a.wav", x, 16000)
    np.testing.assert_array_equal(speech_read(tmp_path / "a.wav")[0], x)  # float WAV from the source side
    speech_write(tmp_path / "b.wav", x)
    np.testing.assert_array_equal(read_wav(tmp_path / "b.wav")[0], x)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF",
        b"RIFF\x00\x00\x00\x00WAVE",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        wav_bytes(b"\x00" * 10, 16000, 1, 40, 1, 5),
        wav_bytes(b"\x00" * 8, 16000, 0, 16, 1, 2),
        wav_bytes(b"\x00" * 8, 16000, 1, 24, 3, 3),
    ],
)
def test_unreadable_wavs_are_wav_errors(tmp_path, data):
    p = tmp_path / "bad.wav"
    p.write_bytes(data)
    with pytest.raises(WavError, match="bad.wav"):
        read_wav(p)


def test_eval_speech_counts_and_skips_an_unreadable_wav(tmp_path, shared):
    barista = shared("data", "speech", "barista")
    labels = json.loads((barista / "label.json").read_text())
    good = sorted(labels)[:2]
    d = tmp_path / "data"
    d.mkdir()
    for n in good:
        (d / n).write_bytes((barista / "clean" / n).read_bytes())
    (d / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    (d / "label.json").write_text(json.dumps({**{n: labels[n] for n in good}, "broken.wav": labels[good[0]]}))
    from perception.speech.evaluate import EvalOptions, run

    res = run(EvalOptions(context=str(barista / "coffee_maker.yaml"), data=str(d), workers=1), progress=False)
    assert res["unreadable"] == 1 and res["unreadable_files"] == ["broken.wav"]
    assert res["files"] == 2 and res["conditions"][0]["n"] == 2


def test_a_stray_imu_line_does_not_replace_the_header():
    p = ImuLineParser()
    p.feed("t,ax,ay,az")
    out = []
    for i in range(3):
        out += p.feed(f"{i * 10},0,0,1")
    with pytest.raises(MalformedImuLine, match="twice"):
        p.feed("t,ax,ax,ax,ax")
    for i in range(3, 40):
        out += p.feed(f"{i * 10},0,0,1")
    out += p.flush()
    assert len(out) == 40  # every valid line after the stray one still counts


def test_record_fast_interleaves_file_sources_by_time(tmp_path):
    """--fast used to write all IMU, then all audio: the replay then delivered speech seconds late."""
    sr = 16000
    write_wav(tmp_path / "s.wav", (0.1 * np.sin(np.arange(3 * sr) / 5)).astype(np.float32), sr)
    with open(tmp_path / "imu.csv", "w") as f:
        f.write("t_ms,ax,ay,az\n")
        f.writelines(f"{i * 10},0,0,1\n" for i in range(300))
    out = tmp_path / "o.mcap"
    r = run_cli(
        "record",
        "--fast",
        "--wav",
        str(tmp_path / "s.wav"),
        "--imu-csv",
        str(tmp_path / "imu.csv"),
        "--out",
        str(out),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    recs = list(read_items(out))
    kinds = [type(x.item).__name__ for x in recs]
    assert {"AudioChunk", "ImuBatch"} <= set(kinds)
    t = [x.log_time_ns for x in recs]
    # in time order up to one item of each stream (each source's own batching)
    lag = max(max(t[: i + 1]) - t[i] for i in range(len(t)))
    assert lag <= 100_000_000, f"an item is {lag / 1e6:.0f} ms older than one written before it"
    first_audio = kinds.index("AudioChunk")
    assert first_audio < len(kinds) // 4  # not after all the IMU


BAD_MCAPS = {
    "empty.mcap": b"",
    "random.mcap": bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)),
}


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (["demo", "--headless", "--no-live", "--fast", "--session"], 2),
        (["serve", "--port", "0", "--fast", "--exit-after-replay", "--replay"], 2),
        (["replay"], 2),
    ],
)
@pytest.mark.parametrize("name", sorted(BAD_MCAPS))
def test_empty_or_random_recordings_are_refused(tmp_path, cmd, code, name):
    p = tmp_path / name
    p.write_bytes(BAD_MCAPS[name])
    r = run_cli(*cmd, str(p))
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and "offset 0" in r.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "cmd",
    [
        ["demo", "--headless", "--no-live", "--fast", "--session"],
        ["serve", "--port", "0", "--fast", "--exit-after-replay", "--replay"],
        ["replay"],
    ],
)
def test_a_truncated_recording_is_not_a_success(tmp_path, cmd):
    p = tmp_path / "trunc.mcap"
    p.write_bytes(SESSION.read_bytes()[: SESSION.stat().st_size // 3])
    r = run_cli(*cmd, str(p), timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "damaged at byte offset" in r.stderr.strip().splitlines()[-1]


def test_replay_of_only_undecodable_messages_exits_1(tmp_path):
    from mcap.writer import Writer

    p = tmp_path / "undecodable.mcap"
    with open(p, "wb") as f:
        w = Writer(f)
        w.start(profile="cuekit", library="test")
        sid = w.register_schema("cuekit.ImuBatch", "jsonschema", b"{}")
        cid = w.register_channel("/imu/imu", "json", sid)
        for i in range(5):
            w.add_message(cid, log_time=i, publish_time=i, data=b"{not json")
        w.finish()
    r = run_cli("replay", str(p))
    assert r.returncode == 1
    assert "none of its 5 messages could be decoded" in r.stderr.strip().splitlines()[-1]


def test_a_magnetometer_column_with_a_unit_in_its_name_is_a_column_not_a_crash():
    """Found by the fuzz run: 'mY(g)' made the header parser look up a magnetometer unit table (KeyError)."""
    p = ImuLineParser()
    p.feed("t,ax,ay,az,magX(uT),magY(uT),magZ(uT)")
    out = p.feed("0,0,0,1,20,30,40") + p.feed("10,0,0,1,20,30,41") + p.flush()
    assert len(out) == 2 and out[1].mag is not None and tuple(out[1].mag) == (20.0, 30.0, 41.0)
