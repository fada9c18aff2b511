"""Foxglove-native recordings: opened with the `mcap` reader alone, every stream has a Foxglove schema
where one exists, log times are capture times on the wall clock, IMU is one message per sample, and
the scene travels inside the file; replay still gives the pipeline's items and times back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from app.recording.mcap_reader import McapReplaySource, read_items, read_scene
from app.recording.mcap_writer import McapWriter
from perception.stream import (
    AudioChunk,
    CallbackSink,
    ImuBatch,
    Observation,
    Pipeline,
    ReplayClock,
    VideoFrame,
)

REPO = Path(__file__).resolve().parents[2]
TARGETS = [
    {"id": "lamp", "label": "lamp", "box": [40, 60, 170, 250]},
    {"id": "tv", "label": "tv", "aliases": ["television"], "position": [0.5, 0.0, 2.0], "radius": 0.3},
]
FOXGLOVE_WHERE_ONE_EXISTS = {
    "/video/cam": "foxglove.CompressedImage",
    "/audio/mic": "foxglove.RawAudio",
    "/scene/annotations": "foxglove.ImageAnnotations",
    "/scene/entities": "foxglove.SceneUpdate",
    "/rays/gaze": "foxglove.SceneUpdate",
    "/tf": "foxglove.FrameTransforms",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Two seconds of items stamped on the live monotonic clock, as a running pipeline stamps them."""
    path = tmp_path_factory.mktemp("fox") / "live.mcap"
    rng = np.random.default_rng(1)
    t0 = time.monotonic_ns()
    wall0 = time.time_ns()
    items = []
    for i in range(10):
        t = t0 + i * 200_000_000
        items.append(VideoFrame(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), t, i, source_id="cam"))
        pcm = rng.integers(-20000, 20000, 3200).astype(np.float32) / 32768.0  # 16-bit audio, as a mic gives
        items.append(AudioChunk(pcm, 16000, t, seq=i, source_id="mic"))
        ts = t + np.arange(10, dtype=np.int64) * 20_000_000
        items.append(ImuBatch(ts, rng.normal(0, 1, (10, 3)), rng.normal(0, 1, (10, 3)), None, seq=i, source_id="wrist"))
        items.append(
            Observation(
                "gaze", "ray", 0.8, t, t, {"origin": [0, 0, 0], "direction": [0.24, 0, 0.97]}, source_id="glasses"
            )
        )
    with McapWriter(path, scene=TARGETS) as w:
        for it in items:
            w.write(it)
    return path, items, wall0


def _messages(path):
    with open(path, "rb") as f:
        r = make_reader(f)
        meta = {m.name: m.metadata for m in r.iter_metadata()}
        f.seek(0)
        msgs = [(s.name, c.topic, m) for s, c, m in make_reader(f).iter_messages(log_time_order=False)]
    return meta, msgs


def test_streams_use_foxglove_schemas_and_wall_clock_log_times(live):
    path, items, wall0 = live
    meta, msgs = _messages(path)
    by_topic = {}
    for schema, topic, _ in msgs:
        by_topic.setdefault(topic, set()).add(schema)
    for topic, schema in FOXGLOVE_WHERE_ONE_EXISTS.items():
        assert by_topic[topic] == {schema}, topic
    # custom schemas only where Foxglove has none
    assert {s for ss in by_topic.values() for s in ss if s.startswith("cuekit.")} <= {
        "cuekit.ImuSample",
        "cuekit.Observation",
        "cuekit.Scene",
    }
    # log time is the capture time on the wall clock: this run's date, not January 1970
    offset = int(meta["cuekit"]["wall_offset_ns"])
    log_times = [m.log_time for _, _, m in msgs]
    assert min(log_times) >= wall0 - 1_000_000_000 and max(log_times) <= time.time_ns() + 5_000_000_000
    assert time.gmtime(min(log_times) / 1e9).tm_year >= 2024
    # every message's own timestamp agrees with its log time (the panels sync on either)
    t_video = {m.log_time - offset for s, _, m in msgs if s == "foxglove.CompressedImage"}
    assert t_video == {it.t_capture_ns for it in items if isinstance(it, VideoFrame)}
    for s, _, m in msgs:
        d = json.loads(m.data)
        if s in ("foxglove.CompressedImage", "foxglove.RawAudio", "cuekit.ImuSample"):
            ts = d["timestamp"]["sec"] * 1_000_000_000 + d["timestamp"]["nsec"]
            assert ts == m.log_time if s != "foxglove.RawAudio" else ts <= m.log_time  # audio: logged at its end


def test_imu_is_one_message_per_sample_and_audio_is_playable_pcm(live):
    path, _, _ = live
    _, msgs = _messages(path)
    imu = [(json.loads(m.data), m.log_time) for s, _, m in msgs if s == "cuekit.ImuSample"]
    assert len(imu) == 100  # 10 batches of 10
    times = [t for _, t in imu]
    assert times == sorted(times) and len(set(times)) == 100  # one series, one point per sample
    assert set(imu[0][0]["accel"]) == {"x", "y", "z"}
    audio = [json.loads(m.data) for s, _, m in msgs if s == "foxglove.RawAudio"]
    assert {a["format"] for a in audio} == {"pcm-s16"} and {a["number_of_channels"] for a in audio} == {1}


def test_the_scene_and_rays_travel_inside_the_recording(live):
    path, _, _ = live
    assert not path.with_suffix(".json").exists()
    assert read_scene(path) == TARGETS
    _, msgs = _messages(path)
    ann = next(json.loads(m.data) for s, _, m in msgs if s == "foxglove.ImageAnnotations")
    assert [t["text"] for t in ann["texts"]] == ["lamp"]
    assert [p["x"] for p in ann["points"][0]["points"]] == [40, 170, 170, 40]
    ents = next(json.loads(m.data) for s, t, m in msgs if t == "/scene/entities")["entities"]
    assert [e["id"] for e in ents] == ["target-tv"] and ents[0]["spheres"][0]["size"]["x"] == pytest.approx(0.6)
    ray = next(json.loads(m.data) for s, t, m in msgs if t == "/rays/gaze")["entities"][0]["arrows"][0]
    q = ray["pose"]["orientation"]
    # the arrow's +x axis rotated by q points along the gaze direction
    x_axis = np.array(
        [
            1 - 2 * (q["y"] ** 2 + q["z"] ** 2),
            2 * (q["x"] * q["y"] + q["w"] * q["z"]),
            2 * (q["x"] * q["z"] - q["w"] * q["y"]),
        ]
    )
    np.testing.assert_allclose(x_axis, np.array([0.24, 0, 0.97]) / np.linalg.norm([0.24, 0, 0.97]), atol=1e-9)


def test_replay_gives_the_items_and_pipeline_times_back_with_the_scene_first(live):
    path, items, _ = live
    out = []
    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(McapReplaySource(path))
    pipe.add(CallbackSink(out.append, name="sink"), inputs=[src])
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    scene = out[0]
    assert isinstance(scene, Observation) and (scene.modality, scene.kind) == ("context", "scene")
    assert scene.payload == {"op": "replace", "targets": TARGETS} and scene.t_end_ns == items[0].t_capture_ns
    rest = out[1:]
    assert [type(x) for x in rest] == [type(x) for x in items]
    for a, b in zip(items, rest, strict=True):
        if isinstance(a, ImuBatch):
            assert a.t_ns.tobytes() == b.t_ns.tobytes() and a.accel.tobytes() == b.accel.tobytes()
            assert a.gyro.tobytes() == b.gyro.tobytes() and b.mag is None and a.seq == b.seq
        elif isinstance(a, AudioChunk):
            assert a.t_first_ns == b.t_first_ns and a.samples.tobytes() == b.samples.tobytes()
        elif isinstance(a, VideoFrame):
            assert a.t_capture_ns == b.t_capture_ns and a.seq == b.seq
        else:
            assert a.to_json() == b.to_json()


def test_an_imu_batch_with_a_missing_sample_is_skipped_and_reported(tmp_path):
    """Hostile input: a file whose batch lacks a sample is not patched into a shorter batch."""
    from app.recording import schemas

    path = tmp_path / "gap.mcap"
    batch = ImuBatch(np.arange(3, dtype=np.int64) * 1000 + 10, np.ones((3, 3)), seq=4, source_id="w")
    with McapWriter(path, wall_offset_ns=0) as w:
        encs = schemas.encode(batch)
        for e in (encs[0], encs[2]):  # sample 1 lost
            w._add(e)
        w.write(ImuBatch(np.array([5000], dtype=np.int64), np.zeros((1, 3)), seq=5, source_id="w"))
    bad = []
    got = [r.item for r in read_items(path, on_undecodable=lambda topic, exc: bad.append(str(exc)))]
    assert [b.seq for b in got] == [5]
    assert len(bad) == 1 and "sample 2 of 3 arrived after 1" in bad[0]


def test_older_recordings_still_replay():
    """The bundled session was written before these channels (cuekit.AudioChunk, batched IMU)."""
    demo = REPO / "assets" / "sessions" / "demo.mcap"
    kinds = {}
    for r in read_items(demo):
        kinds[type(r.item).__name__] = kinds.get(type(r.item).__name__, 0) + 1
    assert kinds["AudioChunk"] > 1000 and kinds["ImuBatch"] > 100 and kinds["VideoFrame"] > 100
    assert read_scene(demo) is not None  # from the manifest beside it, for such files


def test_items_on_a_replay_clock_are_logged_from_the_time_of_writing(tmp_path):
    """A --fast recording (replay clock from 0) or a generated session: the first item is logged at the
    wall-clock time it was written, not at the machine's boot time; replay still gives times from 0."""
    path = tmp_path / "fast.mcap"
    before = time.time_ns()
    with McapWriter(path, wall_offset_ns="first_item", scene=TARGETS) as w:
        for i in range(3):
            w.write(ImuBatch(np.array([i * 10_000_000]), np.zeros((1, 3)), seq=i, source_id="w"))
    meta, msgs = _messages(path)
    assert meta["cuekit"]["clock"] == "recorded_ns"
    first = min(m.log_time for _, _, m in msgs)
    assert before <= first <= time.time_ns()
    got = list(read_items(path))
    assert [r.log_time_ns for r in got] == [0, 0, 10_000_000, 20_000_000]  # the scene, then the samples
    assert [int(r.item.t_ns[0]) for r in got[1:]] == [0, 10_000_000, 20_000_000]


def test_hands_and_gaze_are_drawn_over_the_image(tmp_path):
    from perception.hands import synth
    from perception.stream import HandLandmarks

    path = tmp_path / "hands.mcap"
    hand = synth.sample("point", np.random.default_rng(0)) * 2 + np.array([100, 80, 0])
    with McapWriter(path) as w:
        w.write(HandLandmarks(hand, 1_000, "right", source_id="cam"))
        w.write(Observation("gaze", "point", 0.9, 1_000, 2_000, {"point": [320, 240], "plane": "image"}))
        w.write(Observation("gaze", "point", 0.9, 1_000, 2_000, {"point": [5, 5], "plane": "screen"}))
    _, msgs = _messages(path)
    drawn = {t: json.loads(m.data) for s, t, m in msgs if s == "foxglove.ImageAnnotations"}
    assert set(drawn) == {"/hands/cam/image", "/gaze/image"}  # the screen-plane point is not on the image
    bones, joints = drawn["/hands/cam/image"]["points"]
    assert (bones["type"], len(bones["points"]), joints["type"], len(joints["points"])) == (4, 42, 1, 21)
    assert joints["points"][8] == {"x": hand[8, 0], "y": hand[8, 1]}  # the index tip where it was tracked
    assert drawn["/gaze/image"]["circles"][0]["position"] == {"x": 320.0, "y": 240.0}
    assert [type(r.item).__name__ for r in read_items(path)] == ["HandLandmarks", "Observation", "Observation"]
