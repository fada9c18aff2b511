"""`cuekit record` from a video file, a WAV file and a UDP IMU stream, then replay: every sample and
every time comes back exactly (video: the decoded JPEG that was written)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import numpy as np
import pytest
from mcap.reader import make_reader

from app.recording import cli, replay_cli
from app.recording.mcap_reader import McapReplaySource, read_info, read_items
from app.recording.mcap_writer import McapWriter
from app.recording.schemas import SCHEMAS, decode_jpeg
from perception.sources.audio import write_wav
from perception.sources.video import write_video
from perception.stream import (
    AudioChunk,
    CallbackSink,
    HandLandmarks,
    ImuBatch,
    IntentEvent,
    Observation,
    Pipeline,
    ReplayClock,
    VideoFrame,
)


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Record a session through the real `cuekit record` pipeline, keeping a copy of every item."""
    d = tmp_path_factory.mktemp("rec")
    frames = []
    for i in range(15):
        img = np.zeros((60, 80, 3), np.uint8)
        img[..., 2] = 15 * i
        img[10:30, 5 * i : 5 * i + 20] = (255, 255, 255)
        frames.append(img)
    write_video(d / "clip.avi", frames, fps=30.0)
    pcm = (np.sin(np.arange(12000) / 7.0) * 12000).astype(np.int16)
    write_wav(d / "speech.wav", pcm, 16000)
    port = free_udp_port()
    out = d / "session.mcap"
    args = cli.build_parser().parse_args(
        [
            "--video",
            str(d / "clip.avi"),
            "--wav",
            str(d / "speech.wav"),
            "--imu-udp",
            str(port),
            "--imu-host",
            "127.0.0.1",
            "--imu-accel-unit",
            "g",
            "--imu-gyro-unit",
            "deg/s",
            "--out",
            str(out),
        ]
    )
    tee: list = []
    rec = cli.build(args, extra_sinks=[CallbackSink(tee.append, name="tee")])
    imu = next(s for s in rec.sources if s.name == "imu")
    sent = []

    def sender():
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        time.sleep(0.1)
        for i in range(60):
            vals = (0.001 * i, -0.5 + 0.01 * i, 0.9 + 1e-7 * i, 1.5 * i, -2.25, 0.125 * i)
            sent.append(vals)
            tx.sendto((f"{100000 + 10 * i}," + ",".join(repr(v) for v in vals)).encode(), ("127.0.0.1", port))
            if i == 20:
                tx.sendto(b"BROKEN,,,", ("127.0.0.1", port))
            time.sleep(0.005)
        tx.close()

    th = threading.Thread(target=sender)
    th.start()
    code = cli.run(rec, duration=1.2)
    th.join()
    return {
        "dir": d,
        "out": out,
        "tee": tee,
        "sent": sent,
        "frames": frames,
        "pcm": pcm,
        "code": code,
        "rec": rec,
        "imu": imu,
    }


def replay_all(path, realtime=False):
    out = []
    pipe = Pipeline(clock=ReplayClock(realtime=realtime))
    src = pipe.add(McapReplaySource(path))
    pipe.add(CallbackSink(out.append, name="sink"), inputs=[src])
    pipe.start()
    assert pipe.wait(30)
    pipe.stop()
    assert src.damage is None
    return out


def by_type(items, cls):
    return [x for x in items if isinstance(x, cls)]


def test_recording_ran_clean(session):
    assert session["code"] == 0
    assert session["imu"].counters["malformed"] == 1
    info = read_info(session["out"])
    assert info.summary_ok
    topics = {c.topic: c for c in info.channels}
    assert topics["/video/camera"].schema == "foxglove.CompressedImage"
    assert topics["/video/camera"].messages == 15
    assert topics["/audio/microphone"].schema == "foxglove.RawAudio"
    assert topics["/imu/imu"].schema == "cuekit.ImuSample"


def test_replay_reproduces_audio_and_imu_bit_exact(session):
    tee, replayed = session["tee"], replay_all(session["out"])
    for cls in (AudioChunk, ImuBatch):
        a, b = by_type(tee, cls), by_type(replayed, cls)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            assert x.seq == y.seq and x.source_id == y.source_id
            if cls is AudioChunk:
                assert x.t_first_ns == y.t_first_ns and x.sample_rate == y.sample_rate
                assert x.samples.tobytes() == y.samples.tobytes()
            else:
                assert x.t_ns.tobytes() == y.t_ns.tobytes()
                assert x.accel.tobytes() == y.accel.tobytes()
                assert x.gyro.tobytes() == y.gyro.tobytes()
    # and the content is the input: WAV samples exactly, every UDP sample once in order
    audio = np.concatenate([c.samples for c in by_type(replayed, AudioChunk)])
    np.testing.assert_array_equal(audio, session["pcm"].astype(np.float32) / 32768.0)
    acc = np.concatenate([b.accel for b in by_type(replayed, ImuBatch)])
    sent = np.array(session["sent"])
    np.testing.assert_array_equal(acc, sent[:, :3] * 9.80665)
    gyr = np.concatenate([b.gyro for b in by_type(replayed, ImuBatch)])
    np.testing.assert_array_equal(gyr, sent[:, 3:] * (np.pi / 180.0))
    t = np.concatenate([b.t_ns for b in by_type(replayed, ImuBatch)])
    assert np.all(np.diff(t) > 0)


def test_replay_reproduces_video_as_the_jpeg_written(session):
    tee, replayed = session["tee"], replay_all(session["out"])
    a, b = by_type(tee, VideoFrame), by_type(replayed, VideoFrame)
    assert [f.seq for f in a] == [f.seq for f in b] == list(range(15))
    assert [f.t_capture_ns for f in a] == [f.t_capture_ns for f in b]
    # the frames as written: decode the JPEG payloads straight from the file
    with open(session["out"], "rb") as fh:
        written = [
            decode_jpeg(base64.b64decode(json.loads(m.data)["data"]))
            for _, ch, m in make_reader(fh).iter_messages(topics=["/video/camera"])
        ]
    for w, r, orig in zip(written, b, a, strict=True):
        np.testing.assert_array_equal(w, r.image)
        assert np.mean(np.abs(r.image.astype(int) - orig.image)) < 3  # JPEG q90 of the original frame
    # frame times follow the file's 30 fps from the start of the recording
    dt = np.diff([f.t_capture_ns for f in b])
    assert np.all(np.abs(dt - 1e9 / 30) <= 1)


def test_replay_is_deterministic_and_in_recorded_order(session):
    def key(x):
        t = getattr(x, "t_capture_ns", None) or getattr(x, "t_first_ns", None) or int(x.t_ns[0])
        return type(x).__name__, x.seq, t

    r1 = [key(x) for x in replay_all(session["out"])]
    r2 = [key(x) for x in replay_all(session["out"])]
    assert r1 == r2
    # per stream, the recorded order (the recorder and the tee interleave streams independently)
    tee = [key(x) for x in session["tee"]]
    for kind in ("VideoFrame", "AudioChunk", "ImuBatch"):
        assert [k for k in r1 if k[0] == kind] == [k for k in tee if k[0] == kind]


def test_realtime_replay_keeps_recorded_pace(session):
    info = read_info(session["out"])
    t0 = time.monotonic()
    out = replay_all(session["out"], realtime=True)
    wall = time.monotonic() - t0
    assert len(out) == len(session["tee"])
    assert wall >= 0.8 * info.duration_s


def test_observations_intents_and_landmarks_round_trip(tmp_path):
    obs = Observation(
        "hand", "pinch", 0.875, 1_000, 2_000, payload={"hand": "left", "xy": [0.25, 0.5]}, source_id="camera"
    )
    intent = IntentEvent(
        id="i-1",
        name="select",
        slots={"target": "lamp"},
        confidence=0.9,
        modalities=["hand", "speech"],
        derived_from=[obs.id],
        t_first_evidence_ns=1_000,
        t_emitted_ns=3_000,
        n_best=[{"name": "select", "confidence": 0.9}],
    )
    xyz = np.random.default_rng(0).normal(size=(21, 3)).astype(np.float32)
    hand = HandLandmarks(
        image_xyz=xyz,
        t_capture_ns=1_500,
        handedness="left",
        score=0.75,
        world_xyz=xyz.astype(np.float64) / 10,
        track_id=2,
        frame_seq=9,
    )
    imu = ImuBatch(
        t_ns=np.array([10, 20], np.int64),
        accel=np.array([[0.1, 0.2, 9.8], [0.3, np.nan, 9.7]]),
        gyro=None,
        mag=np.ones((2, 3)) * 30.5,
        seq=4,
        source_id="wrist",
    )
    with McapWriter(tmp_path / "x.mcap") as w:
        for item in (obs, hand, imu, intent):
            w.write(item)
    items = [r.item for r in read_items(tmp_path / "x.mcap")]
    o2, h2, i2, e2 = items
    assert o2 == obs
    assert e2 == intent
    assert h2.image_xyz.dtype == np.float32
    np.testing.assert_array_equal(h2.image_xyz, xyz)
    np.testing.assert_array_equal(h2.world_xyz, hand.world_xyz)
    assert (h2.handedness, h2.score, h2.track_id, h2.frame_seq, h2.t_capture_ns) == (
        "left",
        0.75,
        2,
        9,
        1_500,
    )
    np.testing.assert_array_equal(i2.accel, imu.accel)  # NaN survives (as JSON null)
    assert i2.gyro is None and i2.source_id == "wrist"
    np.testing.assert_array_equal(i2.mag, imu.mag)


def test_messages_validate_against_their_json_schemas(session):
    import jsonschema

    with open(session["out"], "rb") as fh:
        reader = make_reader(fh)
        seen = set()
        for schema, _, msg in reader.iter_messages():
            if schema.name in seen:
                continue
            jsonschema.validate(json.loads(msg.data), json.loads(schema.data))
            assert json.loads(schema.data) == SCHEMAS[schema.name]
            assert schema.encoding == "jsonschema"
            seen.add(schema.name)
    assert seen == {"foxglove.CompressedImage", "foxglove.RawAudio", "cuekit.ImuSample"}


def test_record_and_replay_commands(tmp_path, capsys):
    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(5)]
    write_video(tmp_path / "c.avi", frames, fps=25.0)
    write_wav(tmp_path / "s.wav", (np.arange(8000) % 200 - 100).astype(np.int16), 8000)
    out = tmp_path / "cmd.mcap"
    code = cli.main(
        [
            "--video",
            str(tmp_path / "c.avi"),
            "--wav",
            str(tmp_path / "s.wav"),
            "--imu-synthetic",
            "--duration",
            "0.5",
            "--fast",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "recorder" in text and "wrote" in text and "/video/camera 5" in text
    code = replay_cli.main([str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "foxglove.CompressedImage" in text and "replay" in text and "/audio/microphone 32" in text
    assert replay_cli.main([str(out), "--print", "--topics", "/video/camera"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " video " in ln]
    assert len(lines) == 5 and "camera #4 32x32" in lines[-1]
    code = replay_cli.main([str(out), "--json", "--topics", "/imu/imu"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["replayed"] == {"/imu/imu": 5} and res["damaged_at"] is None


def test_record_refuses_bad_combinations(tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path / "x.mcap")]) == 2
    assert "nothing to record" in capsys.readouterr().err
    assert cli.main(["--imu-udp", "0", "--fast", "--out", str(tmp_path / "x.mcap")]) == 2
    assert "--fast needs file sources only" in capsys.readouterr().err
    code = cli.main(["--camera", "57", "--out", str(tmp_path / "y.mcap"), "--duration", "3"])
    assert code == 1
    assert "camera 57" in capsys.readouterr().err


def test_one_replay_split_into_typed_streams(session):
    from perception.stream import Graph, QueuePolicy

    got: dict[str, list] = {"video": [], "audio": [], "imu": []}
    graph = Graph()
    graph.add(McapReplaySource(session["out"]), produces=(VideoFrame, AudioChunk, ImuBatch))
    for key, cls in (("video", VideoFrame), ("audio", AudioChunk), ("imu", ImuBatch)):
        graph.add(CallbackSink(got[key].append, name=key, policy=QueuePolicy.BLOCK), consumes=(cls,))
    pipe = graph.build(Pipeline(clock=ReplayClock()))
    pipe.start()
    assert pipe.wait(30)
    pipe.stop()
    for key, cls in (("video", VideoFrame), ("audio", AudioChunk), ("imu", ImuBatch)):
        assert got[key] and all(isinstance(x, cls) for x in got[key])
        assert [x.seq for x in got[key]] == [x.seq for x in by_type(session["tee"], cls)]


def test_record_synthetic_imu_with_events(tmp_path, capsys):
    out = tmp_path / "syn.mcap"
    assert (
        cli.main(
            [
                "--imu-synthetic",
                "--imu-events",
                "0.3:tap,0.6:flick",
                "--duration",
                "1",
                "--fast",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    batches = [r.item for r in read_items(out)]
    t = np.concatenate([b.t_ns for b in batches])
    a = np.concatenate([b.accel for b in batches])
    g = np.concatenate([b.gyro for b in batches])
    assert len(t) == 100
    assert a[(t >= 0.3e9) & (t < 0.45e9), 2].max() > 2 * 9.80665
    # a flick is a fast swing of the forearm: a strong horizontal acceleration (perception/sources/imu.py)
    assert np.abs(a[(t >= 0.6e9) & (t < 0.9e9), 0]).max() > 9.80665
    assert g.shape == a.shape
    assert cli.main(["--imu-synthetic", "--imu-events", "soon:tap", "--out", str(out)]) == 2
    assert "TIME:KIND" in capsys.readouterr().err
