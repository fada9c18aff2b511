"""The bundled session's generator, camera mode: real hand photos on the camera track, no skeletons."""

from __future__ import annotations

import shutil

import pytest

from perception.stream.types import HandLandmarks, VideoFrame


@pytest.fixture(scope="module")
def built():
    from app import demo_session
    from tests.conftest import shared_path

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (it voices the demo session)")
    return demo_session.build_items(7, "camera", shared_path("data", "hands_scenes"))


def test_camera_session_has_real_hands_and_no_skeletons(built):
    from app.demo_session import SCRIPT_CAMERA

    items, expected = built
    assert len(expected) == len(SCRIPT_CAMERA) == 17
    assert not any(isinstance(i, HandLandmarks) for i in items)
    frames = [i for i in items if isinstance(i, VideoFrame)]
    assert all(f.image.shape == (480, 640, 3) for f in frames)
    times = [f.t_capture_ns for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    # room at 2 fps for ~40 s + hand spans at 10-15 fps: small enough for a committed session
    assert 100 < len(frames) < 200, len(frames)


def test_our_models_see_the_scripted_poses_on_the_camera(built):
    from perception.hands.classifier import GestureClassifier
    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions

    items, _ = built
    frames = {round((f.t_capture_ns - 1_000_000_000) / 1e9, 2): f.image for f in items if isinstance(f, VideoFrame)}
    lmk, clf = HandLandmarker(HandLandmarkerOptions(num_hands=1)), GestureClassifier()

    def seen(t: float) -> str:
        t0 = min(frames, key=lambda k: abs(k - t))
        res = lmk.detect(frames[t0], bgr=True)  # VideoFrame images are BGR
        return clf.classify(res.hands[0].image_xyz).gesture if res.hands else "no hand"

    # fist at 36.5 s (close), pointing during "move that there" at 27.5 s, the room alone at 20 s
    assert seen(36.8) == "fist"
    assert seen(27.5) == "point"
    assert seen(20.0) == "no hand"
