"""Dynamic gestures on synthetic landmark tracks: exact counts and timing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perception.hands import synth
from perception.hands.dynamic import DynamicGestureOptions, DynamicGestureRecognizer
from perception.hands.gestures import HandGestureOptions, HandGestureRecognizer
from perception.hands.landmarks import palm_size
from perception.stream.types import HandLandmarks

FPS = 25
DT = 1_000_000_000 // FPS  # 40 ms exactly, so the expected frame indices are exact
NOISELESS = synth.SynthOptions(
    landmark_noise=0.0, angle_jitter=0.05, bone_jitter=0.0, yaw_max=0.3, pitch_max=0.3, hand_px=(90.0, 90.0)
)


def _pose(cls: str, seed: int = 0) -> np.ndarray:
    """A pose of `cls` centred at (320, 240), upright enough that its checks are unambiguous."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        lm = synth.sample(cls, rng, NOISELESS)
        lm[:, :2] += np.array([320.0, 240.0]) - lm[:, :2].mean(axis=0)
        return lm
    raise AssertionError


OPEN = _pose("open_palm", 1)
PINCH = _pose("pinch", 2)
POINT = _pose("point", 3)
SIZE = palm_size(OPEN)
PSIZE = palm_size(PINCH)


def _feed(rec: DynamicGestureRecognizer, frames: list[tuple[np.ndarray, str]], t0: int = 0):
    out = []
    for i, (lm, label) in enumerate(frames):
        t = t0 + i * DT
        h = HandLandmarks(lm, t, "right", 1.0, None, track_id=1, frame_seq=i)
        for o in rec.update(t, [h], [label]):
            json.dumps(o.to_json())  # observations travel as JSON (daemon, recordings)
            out.append((i, o))
    return out


def _kinds(events):
    return [o.kind for _, o in events]


def test_pinch_distance_of_the_poses():
    assert np.linalg.norm(PINCH[4] - PINCH[8]) / palm_size(PINCH) < 0.3
    assert np.linalg.norm(OPEN[4] - OPEN[8]) / SIZE > 0.45


def test_pinch_tap_once_with_exact_span():
    frames = [(OPEN, "open_palm")] * 10 + [(PINCH, "pinch")] * 6 + [(OPEN, "open_palm")] * 10
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == ["pinch_tap"]
    i, o = ev[0]
    assert i == 16 and o.t_start_ns == 10 * DT and o.t_end_ns == 16 * DT
    assert o.payload["track_id"] == 1 and len(o.payload["landmarks"]) == 21


def test_long_still_pinch_is_a_hold_not_a_tap():
    frames = [(OPEN, "open_palm")] * 5 + [(PINCH, "pinch")] * 30 + [(OPEN, "open_palm")] * 5
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == ["pinch_hold"]
    i, o = ev[0]
    # first frame at least 500 ms after the pinch began at frame 5 (13 frames = 520 ms)
    assert i == 18 and o.t_start_ns == 5 * DT and o.t_end_ns == 18 * DT


def test_pinch_between_tap_and_hold_reports_nothing():
    frames = [(OPEN, "open_palm")] * 5 + [(PINCH, "pinch")] * 13 + [(OPEN, "open_palm")] * 5
    assert _kinds(_feed(DynamicGestureRecognizer(), frames)) == []


def test_drag_reports_start_and_path():
    frames = [(OPEN, "open_palm")] * 5 + [(PINCH, "pinch")] * 3
    for k in range(1, 21):  # move right 2.2 palm sizes over 20 frames
        lm = PINCH.copy()
        lm[:, 0] += 2.2 * PSIZE * k / 20
        frames.append((lm, "pinch"))
    last = frames[-1][0]
    frames += [(OPEN + (last[0] - PINCH[0]), "open_palm")] * 3
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == ["drag_start", "drag"]
    (i0, _), (i1, drag) = ev
    assert i0 == 5 + 3 + 4  # first frame beyond 0.5 palm sizes: k = 5 (0.55) at frame 12
    assert i1 == 28 and drag.t_start_ns == 5 * DT and drag.t_end_ns == 28 * DT
    path = np.array(drag.payload["path"])
    assert len(path) == 23  # every pinched frame
    assert path[-1, 1] - path[0, 1] == pytest.approx(2.2 * PSIZE, abs=0.2)


@pytest.mark.parametrize(
    "direction,vec", [("swipe_right", (1, 0)), ("swipe_left", (-1, 0)), ("swipe_down", (0, 1)), ("swipe_up", (0, -1))]
)
def test_swipes_in_four_directions(direction, vec):
    frames = [(OPEN, "open_palm")] * 5
    for k in range(1, 10):  # 2.9 palm sizes in 360 ms
        frames.append((OPEN + np.array([vec[0], vec[1], 0.0]) * 0.32 * SIZE * k, "open_palm"))
    end = frames[-1][0]
    frames += [(end, "open_palm")] * 10
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == [direction]
    i, o = ev[0]
    # 1.5 palm sizes are first covered at k = 5 (1.6, frame 9); the motion began after frame 4
    assert i == 9 and o.t_end_ns == 9 * DT and o.t_start_ns == 4 * DT


def test_return_stroke_is_not_a_second_swipe_but_a_later_swipe_counts():
    frames = [(OPEN, "open_palm")] * 5
    for k in range(1, 10):
        frames.append((OPEN + np.array([0.3 * SIZE * k, 0, 0]), "open_palm"))
    for k in range(1, 10):  # straight back, right away
        frames.append((OPEN + np.array([0.3 * SIZE * (9 - k), 0, 0]), "open_palm"))
    frames += [(OPEN, "open_palm")] * 30  # rest 1 s
    for k in range(1, 10):  # a deliberate swipe left
        frames.append((OPEN - np.array([0.3 * SIZE * k, 0, 0]), "open_palm"))
    assert _kinds(_feed(DynamicGestureRecognizer(), frames)) == ["swipe_right", "swipe_left"]


def test_slow_drift_is_not_a_swipe():
    frames = [(OPEN + np.array([0.05 * SIZE * k, 0, 0]), "open_palm") for k in range(90)]  # 1.5 palm/s
    assert _kinds(_feed(DynamicGestureRecognizer(), frames)) == []


def test_mirror_x_flips_horizontal_swipes():
    frames = [(OPEN + np.array([0.3 * SIZE * k, 0, 0]), "open_palm") for k in range(10)]
    ev = _feed(DynamicGestureRecognizer(DynamicGestureOptions(mirror_x=True)), frames)
    assert _kinds(ev) == ["swipe_left"]


def test_point_and_hold_once_with_tip_and_direction():
    frames = [(OPEN, "open_palm")] * 3 + [(POINT, "point")] * 40
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == ["point_hold"]
    i, o = ev[0]
    assert i == 3 + 20 and o.t_start_ns == 3 * DT  # 20 frames = 800 ms
    assert o.payload["index_tip"] == pytest.approx(POINT[8, :2].tolist())
    d = np.array(o.payload["index_dir"])
    assert np.linalg.norm(d) == pytest.approx(1.0)
    assert d @ (POINT[8, :2] - POINT[5, :2]) > 0


def test_moving_point_is_not_a_hold():
    # 0.05 palm sizes per frame: leaves the 0.4 tolerance every 9 frames, too slow for a swipe
    frames = [(POINT + np.array([0.05 * SIZE * k, 0, 0]), "point") for k in range(40)]
    assert _kinds(_feed(DynamicGestureRecognizer(), frames)) == []


def test_lost_track_ends_a_drag():
    rec = DynamicGestureRecognizer()
    frames = [(PINCH + np.array([0.2 * PSIZE * k, 0, 0]), "pinch") for k in range(8)]
    ev = _feed(rec, frames)
    assert _kinds(ev) == ["drag_start"]
    out = rec.update(8 * DT, [], [])
    assert [o.kind for o in out] == ["drag"] and out[0].t_end_ns == 7 * DT


def _static_run(seq, **options):
    rec = HandGestureRecognizer(HandGestureOptions(**options))
    emitted = []
    for i, lm in enumerate(seq):
        h = HandLandmarks(lm, i * DT, "left", 1.0, track_id=4)
        emitted += [(i, o) for o in rec.update(i * DT, [h]).observations if o.payload.get("static")]
    return emitted


def test_static_pose_commits_once_its_evidence_is_stable():
    # two frames the classifier is sure of commit the pose (33 ms at 30 Hz), not a fixed 100 ms
    emitted = _static_run([OPEN] * 6 + [POINT] * 6 + [OPEN] * 1 + [POINT] * 6)
    assert [(i, o.kind) for i, o in emitted] == [(1, "open_palm"), (7, "point")]  # the flicker: one frame
    (_, a), (_, b) = emitted
    assert a.t_start_ns == 0 and a.t_end_ns == DT and b.t_start_ns == 6 * DT and b.t_end_ns == 7 * DT
    assert min(a.confidence, b.confidence) >= 0.9
    # doubtful evidence (no frame counts as sure) waits the full min_static_ms
    slow = _static_run([OPEN] * 6 + [POINT] * 6, stable_confidence=1.01)
    assert [(i, o.kind) for i, o in slow] == [(3, "open_palm"), (9, "point")]


def test_static_observations_debounced_with_span():
    emitted = _static_run([OPEN] * 6 + [POINT] * 6 + [OPEN] * 1 + [POINT] * 6, stable_confidence=None)
    # the one-frame flicker back to open palm is shorter than 100 ms: no new observation
    assert [o.kind for _, o in emitted] == ["open_palm", "point"]
    (i0, a), (i1, b) = emitted
    assert i0 == 3 and a.t_start_ns == 0 and a.t_end_ns == 3 * DT  # first frame >= 100 ms
    assert i1 == 9 and b.t_start_ns == 6 * DT and b.t_end_ns == 9 * DT
    assert b.payload["index_tip"] == pytest.approx(POINT[8, :2].tolist())
    assert b.payload["handedness"] == "left" and b.payload["track_id"] == 4
    again = _static_run([OPEN] * 6 + [POINT] * 6 + [OPEN] * 4 + [POINT] * 6, stable_confidence=None)
    assert [(i, o.kind) for i, o in again] == [(3, "open_palm"), (9, "point"), (15, "open_palm"), (19, "point")]


def test_one_long_motion_is_one_swipe():
    frames = [(OPEN, "open_palm")] * 5
    for k in range(1, 31):  # 9 palm sizes over 1.2 s, never pausing
        frames.append((OPEN + np.array([0.3 * SIZE * k, 0, 0]), "open_palm"))
    frames += [(frames[-1][0], "open_palm")] * 10
    ev = _feed(DynamicGestureRecognizer(), frames)
    assert _kinds(ev) == ["swipe_right"]
