"""Framing, schemas and the parser's behaviour on bad input (incl. hypothesis fuzzing)."""

from __future__ import annotations

import json
import os

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.client import encoders
from app.daemon import protocol
from app.daemon.ingest import Pushed, to_item
from app.daemon.protocol import Limits, ProtocolError, decode, decode_server, encode
from perception.stream import AudioChunk, HandLandmarks, ImuBatch, IntentEvent, Observation, VideoFrame


def _jpeg() -> bytes:
    import cv2

    img = np.zeros((48, 64, 3), np.uint8)
    img[10:30, 20:40] = (0, 128, 255)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def valid_frames() -> dict[str, str | bytes]:
    t = 1_000_000_000
    return {
        "describe": encode("describe", {"client": {"name": "t"}, "protocol": "1", "clock": "own"}),
        "subscribe": encode(
            "subscribe",
            {
                "intents": {"names": ["select"], "min_confidence": 0.5},
                "observations": {"modalities": ["hand"]},
                "stats": {"interval_s": 1},
            },
        ),
        "unsubscribe": encode("unsubscribe", {"streams": ["stats"]}),
        "ping": encode("ping", {"seq": 3}),
        "pong": encode("pong", {"seq": 3}),
        "audio-chunk": encoders.audio_chunk(np.arange(320, dtype=np.int16), 16000, t_ns=t),
        "imu-batch": encoders.imu_batch(np.arange(5) + t, np.ones((5, 3)), np.zeros((5, 3))),
        "video-frame": encoders.video_frame(_jpeg(), t_ns=t, seq=1),
        "hand-joints": encoders.hand_joints(np.zeros((26, 3)), layout="openxr26", space="world", t_ns=t),
        "gaze-ray": encoders.gaze_ray([0, 0, 0], [0, 0, 2], t_ns=t),
        "scene-targets": encoders.scene_targets([{"id": "lamp", "label": "lamp", "position": [1, 0, 2]}], t_ns=t),
        "observation": encoders.observation(Observation("hand", "pinch", 0.9, t, t + 5, {"x": 1})),
    }


def test_every_message_type_has_a_versioned_valid_schema():
    types = protocol.schema_types()
    assert set(protocol.CLIENT_TYPES) | set(protocol.SERVER_TYPES) == set(types)
    for t in types:
        s = protocol.schema(t)
        jsonschema.Draft202012Validator.check_schema(s)
        assert s["$id"].endswith(f"/v{protocol.PROTOCOL_VERSION}/{t}.json")
        assert s["properties"]["type"] == {"const": t}


def test_valid_client_frames_decode_and_convert():
    frames = valid_frames()
    assert set(frames) == set(protocol.CLIENT_TYPES)
    kinds = {
        "audio-chunk": AudioChunk,
        "imu-batch": ImuBatch,
        "video-frame": VideoFrame,
        "hand-joints": HandLandmarks,
        "gaze-ray": Observation,
        "scene-targets": Observation,
        "observation": Observation,
    }
    for t, frame in frames.items():
        ev = decode(frame)
        assert ev.type == t
        if t in kinds:
            item = to_item(Pushed(ev, 5_000, 7, "src", "c1"))
            assert isinstance(item, kinds[t]), t
    audio = to_item(Pushed(decode(frames["audio-chunk"]), 5_000, 0, "s", "c"))
    assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32
    assert audio.samples[1] == pytest.approx(1 / 32768)
    imu = to_item(Pushed(decode(frames["imu-batch"]), 0, 7, "s", "c"))
    assert imu.t_ns.tolist() == [1_000_000_007 + i for i in range(5)]  # per-sample times shifted by the offset
    assert imu.accel.shape == (5, 3) and imu.gyro is not None and imu.mag is None
    frame = to_item(Pushed(decode(frames["video-frame"]), 9, 0, "s", "c"))
    assert frame.image.shape == (48, 64, 3) and frame.t_capture_ns == 9
    hand = to_item(Pushed(decode(frames["hand-joints"]), 9, 0, "s", "c"))
    assert hand.world_xyz.shape == (21, 3)
    gaze = to_item(Pushed(decode(frames["gaze-ray"]), 9, 0, "s", "c"))
    assert (gaze.modality, gaze.kind) == ("gaze", "ray")
    assert gaze.payload["direction"] == [0.0, 0.0, 1.0]
    scene = to_item(Pushed(decode(frames["scene-targets"]), 9, 0, "s", "c"))
    assert (scene.modality, scene.kind, scene.payload["op"]) == ("context", "scene", "replace")
    obs = to_item(Pushed(decode(frames["observation"]), 100, 0, "s", "c"))
    assert (obs.t_start_ns, obs.t_end_ns) == (95, 100)  # span kept, end moved onto the daemon clock


def test_server_messages_round_trip_through_their_schemas():
    ev = IntentEvent("i1", "select", {"target": "lamp"}, 0.8, ["hand"], [1], 10, 20)
    for t, data in [
        ("intent", ev.to_json()),
        ("observation", Observation("hand", "pinch", 1.0, 1, 2).to_json()),
        ("dropped", {"count": 3, "total": 9, "direction": "out", "by_type": {"intent": 3}}),
        ("error", {"code": "schema", "message": "x", "ref_type": "ping", "malformed_total": 1}),
        ("stats", {"t_ns": 1, "stages": [], "daemon": {}}),
        ("subscribed", {"streams": {}}),
    ]:
        assert decode_server(encode(t, data)).data == json.loads(json.dumps(data))


def test_wyoming_extra_data_is_merged():
    extra = json.dumps({"seq": 4}).encode()
    frame = json.dumps({"type": "ping", "data": {}, "data_length": len(extra)}).encode() + b"\n" + extra
    assert decode(frame).data == {"seq": 4}


@pytest.mark.parametrize(
    "frame, code",
    [
        (b"", "bad-json"),
        ("not json", "bad-json"),
        ("[1, 2]", "bad-frame"),
        ('{"data": {}}', "bad-frame"),
        ('{"type": "launch-missiles", "data": {}}', "unknown-type"),
        ('{"type": "intent", "data": {}}', "unknown-type"),  # a server message sent by a client
        ('{"type": "ping", "version": "2", "data": {}}', "version"),
        ('{"type": "ping", "data": {"seq": -1}}', "schema"),
        ('{"type": "ping", "data": {"seq": 1, "extra": true}}', "schema"),
        ('{"type": "ping", "data": {"t_ns": 1e999}}', "bad-json"),
        ('{"type": "ping", "data": {"t_ns": NaN}}', "bad-json"),
        ('{"type": "ping", "data": {}, "payload_length": 4}', "payload"),
        (b'{"type": "ping", "data": {}, "payload_length": 2}\nab', "too-large"),  # pings carry no payload
        (
            b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, "payload_length": 3}\nabc',
            "payload",
        ),
        (b'{"type": "imu-batch", "data": {"count": 2}, "payload_length": 20}\n' + bytes(20), "payload"),
        (b'{"type": "video-frame", "data": {"format": "jpeg"}, "payload_length": 4}\nGIF8', "payload"),
        (
            '{"type": "hand-joints", "data": {"layout": "mediapipe21", "space": "image", "joints": '
            + json.dumps([[0, 0, 0]] * 26)
            + "}}",
            "schema",
        ),
        (
            (
                '{"type": "observation", "data": {"modality": "hand", "kind": "x", "confidence": 2, '
                '"t_start_ns": 0, "t_end_ns": 1}}'
            ),
            "schema",
        ),
        (
            (
                '{"type": "observation", "data": {"modality": "hand", "kind": "x", "confidence": 1, '
                '"t_start_ns": 5, "t_end_ns": 1}}'
            ),
            "schema",
        ),
        ('{"type": "scene-targets", "data": {"op": "remove"}}', "schema"),
        ("[" * 100_000 + "]" * 100_000, "too-large"),
        ('{"type": "ping", "data": ' + "[" * 5000 + "]" * 5000 + "}", "bad-json"),
    ],
)
def test_malformed_frames_are_rejected_with_a_code(frame, code):
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.code == code, info.value


def test_size_limits():
    limits = Limits(max_message_bytes=1000, max_header_bytes=100)
    with pytest.raises(ProtocolError, match="exceeds 1000") as e:
        decode(b"x" * 1001, limits)
    assert e.value.code == "too-large"
    with pytest.raises(ProtocolError, match="header line") as e:
        decode(b"y" * 500, limits)
    big = encoders.audio_chunk(np.zeros(300_000, np.int16), 16000)  # 600 kB > 512 kB audio limit
    with pytest.raises(ProtocolError, match="audio-chunk payload") as e:
        decode(big)
    assert e.value.code == "too-large"


FUZZ_RUNS = {"random": 0, "mutated": 0}
# CUEKIT_FUZZ_EXAMPLES=50000 for a long run (docs/daemon.md quotes one); CI runs 1500 of each
FUZZ_EXAMPLES = int(os.environ.get("CUEKIT_FUZZ_EXAMPLES", "1500"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=2048), st.text(max_size=512)))
def test_fuzz_random_input_only_raises_protocol_error(frame):
    FUZZ_RUNS["random"] += 1
    try:
        decode(frame)
    except ProtocolError:
        pass


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(valid_frames().items())), st.data())
def test_fuzz_mutated_valid_frames(item, data):
    """Structure-aware fuzzing: valid frames with fields replaced, bytes flipped, or cut short."""
    FUZZ_RUNS["mutated"] += 1
    _type, frame = item
    raw = frame.encode() if isinstance(frame, str) else frame
    head, sep, payload = raw.partition(b"\n")
    how = data.draw(st.sampled_from(["field", "flip", "truncate", "payload"]))
    if how == "field":
        header = json.loads(head)
        target = header if data.draw(st.booleans()) else header.setdefault("data", {})
        key = data.draw(st.sampled_from(sorted(target) + ["payload_length", "count", "width", "joints", "op"]))
        target[key] = data.draw(_json_values)
        raw = json.dumps(header).encode() + sep + payload
    elif how == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        raw = head + b"\n" + data.draw(st.binary(max_size=256))
    try:
        ev = decode(raw)
    except ProtocolError:
        return
    # whatever the parser accepts must also convert cleanly or be refused with a ProtocolError
    if ev.type in protocol.INPUT_TYPES:
        try:
            to_item(Pushed(ev, 1, 0, "s", "c"))
        except ProtocolError:
            pass


def test_fuzz_ran():
    # runs after the two fuzz tests in file order; the docs quote these counts
    print(f"fuzzed inputs without a crash: {FUZZ_RUNS}")
    assert min(FUZZ_RUNS.values()) >= min(FUZZ_EXAMPLES, 1000), FUZZ_RUNS


def test_encode_copes_with_numpy_and_nan_in_payloads():
    obs = Observation(
        "wrist", "tap", 0.9, 1, 2, {"peak": np.float32(2.5), "axis": np.arange(3), "bad": float("nan"), "tags": {"a"}}
    )
    ev = decode_server(encode("observation", obs.to_json()))
    assert ev.data["payload"] == {"peak": 2.5, "axis": [0, 1, 2], "bad": None, "tags": ["a"]}


def test_docs_describe_every_message_type():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "daemon.md").read_text()
    missing = [t for t in protocol.schema_types() if f"`{t}`" not in doc]
    assert not missing, f"docs/daemon.md does not describe {missing}"
