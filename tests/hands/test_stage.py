"""HandStage in a real pipeline: VideoFrames in, HandLandmarks and gesture Observations out."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from perception.hands.mediapipe_reference import synthetic_video
from perception.hands.stage import HandStage
from perception.stream import CallbackSink, Pipeline, QueuePolicy, Source
from perception.stream.types import HandLandmarks, Observation, VideoFrame
from tests.conftest import shared_path

T0 = 5_000_000_000
DT = 40_000_000


class _Frames(Source):
    name = "camera"

    def __init__(self, items):
        super().__init__()
        self.items = items

    def run(self, emit, stop):
        for it in self.items:
            if stop.is_set():
                return
            emit(it)


def _run(items, policy=QueuePolicy.BLOCK):
    out = []
    p = Pipeline()
    src = p.add(_Frames(items))
    stage = p.add(HandStage(), inputs=[src], policy=policy)
    p.add(CallbackSink(out.append), inputs=[stage])
    p.start()
    assert p.wait(120)
    p.stop()
    return out, stage


def test_stage_emits_landmarks_with_capture_times_and_a_gesture():
    photo = min(shared_path("data", "hagrid_sample", "four").glob("*.jpg"))
    frames = [VideoFrame(f, T0 + i * DT, i) for i, f in enumerate(synthetic_video(cv2.imread(str(photo)), 15))]
    out, stage = _run(frames)
    hands = [o for o in out if isinstance(o, HandLandmarks)]
    obs = [o for o in out if isinstance(o, Observation)]
    assert [h.t_capture_ns for h in hands] == [f.t_capture_ns for f in frames]
    assert [h.frame_seq for h in hands] == list(range(15))
    assert {h.track_id for h in hands} == {1}
    static = [o for o in obs if o.payload.get("static")]
    assert [o.kind for o in static] == ["four"]
    assert static[0].modality == "hand" and static[0].t_start_ns == T0
    # committed once the evidence is stable: at least two confident frames (perception/hands/gestures.py)
    assert static[0].t_end_ns >= T0 + DT and len(static[0].payload["landmarks"]) == 21
    assert stage.frames == 15 and stage.malformed == 0


def test_stage_skips_malformed_items_and_keeps_running():
    photo = min(shared_path("data", "hagrid_sample", "four").glob("*.jpg"))
    video = synthetic_video(cv2.imread(str(photo)), 4)
    items = [
        VideoFrame(video[0], T0, 0),
        "not a frame",
        VideoFrame(video[1], T0, 1),  # repeated time
        VideoFrame(np.zeros((3, 3, 3), np.uint8), T0 + DT, 2),
        VideoFrame(video[2], T0 + 2 * DT, 3),
    ]
    out, stage = _run(items)
    hands = [o for o in out if isinstance(o, HandLandmarks)]
    assert [h.frame_seq for h in hands] == [0, 3]
    assert stage.malformed == 3 and stage.frames == 2
