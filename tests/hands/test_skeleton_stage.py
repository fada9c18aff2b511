"""HandSkeletonStage recognises a frame as soon as it is complete (every hand of the previous frame has
reported), not when the next frame's first skeleton arrives."""

import numpy as np

from perception.hands import synth
from perception.hands.skeleton_stage import HandSkeletonStage
from perception.stream.types import HandLandmarks

DT = 33_333_333


def _stage():
    st = HandSkeletonStage()
    st.setup()
    return st


def test_a_single_hand_pose_is_reported_on_the_frame_that_commits_it():
    st = _stage()
    fist = synth.sample("fist", np.random.default_rng(3))
    out: list = []
    for i in range(2):  # two sure frames commit a static pose
        st.process(HandLandmarks(fist.astype(np.float32), i * DT, "right", track_id=1), out.append)
    assert [o.kind for o in out] == ["fist"] and out[0].t_end_ns == DT  # before any third frame arrived


def test_two_hands_wait_for_each_other_and_a_joining_hand_starts_next_frame():
    st = _stage()
    rng = np.random.default_rng(4)
    fist, palm = synth.sample("fist", rng), synth.sample("open_palm", rng)
    out: list = []
    for i in range(4):
        st.process(HandLandmarks(fist.astype(np.float32), i * DT, "right", track_id=1), out.append)
        st.process(HandLandmarks(palm.astype(np.float32), i * DT, "left", track_id=2), out.append)
    kinds = sorted((o.payload["track_id"], o.kind) for o in out)
    assert kinds == [(1, "fist"), (2, "open_palm")]
    assert st.late_members == 1  # hand 2 joined frame 0 after it was recognised with hand 1 alone
    palm_obs = next(o for o in out if o.kind == "open_palm")
    assert palm_obs.t_start_ns == DT and palm_obs.t_end_ns == 2 * DT
