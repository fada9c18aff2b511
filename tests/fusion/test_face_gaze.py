"""Approximate gaze from the face mesh + iris models on real photos (../shared/data/hagrid_sample)."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fusion.context import ContextTracker
from perception.context import Scene, Target
from perception.context.face_gaze import (
    L_IN,
    L_OUT,
    R_IN,
    R_OUT,
    FaceGazeEstimator,
    FaceGazeStage,
    ScreenCalibration,
)
from perception.stream.types import VideoFrame


@pytest.fixture(scope="module")
def estimator():
    return FaceGazeEstimator()


def test_faces_head_direction_and_irises_on_real_photos(shared, estimator):
    files = sorted(shared("data", "hagrid_sample").glob("*/*.jpg"))
    found, flips, flip_ok = 0, 0, 0
    for f in files:
        im = cv2.imread(str(f))
        r = estimator.estimate(im)
        if r is None:
            continue
        found += 1
        # the people in these photos face the camera
        assert r.head_forward[2] < -0.85, (f.name, r.head_forward)
        assert abs(np.linalg.norm(r.gaze) - 1) < 1e-9 and r.gaze[2] < -0.5
        x0, y0, x1, y1 = r.face_box
        for iris, (a, b) in zip(r.irises, ((R_OUT, R_IN), (L_IN, L_OUT)), strict=True):
            lo, hi = sorted((r.landmarks[a, 0], r.landmarks[b, 0]))
            assert lo <= iris[0] <= hi, f.name  # each iris lies between its eye corners
            assert x0 - 5 <= iris[0] <= x1 + 5 and y0 - 5 <= iris[1] <= y1 + 5
        assert 0.2 < r.origin_m[2] < 5.0  # depth from the inter-pupil distance is plausible
        # mirrored photo: irises land in mirrored places; a turned head turns the other way
        m = estimator.estimate(np.ascontiguousarray(im[:, ::-1]))
        assert m is not None
        w = im.shape[1]
        assert np.abs((w - m.irises[::-1, 0]) - r.irises[:, 0]).max() < 5.0
        if abs(r.head_forward[0]) > 0.03:
            flips += 1
            flip_ok += np.sign(m.head_forward[0]) == -np.sign(r.head_forward[0])
    assert found >= 8  # measured: 10 of 20 (small, distant faces are missed by the short-range model)
    assert flips >= 5 and flip_ok >= flips - 1, (flips, flip_ok)


def test_stage_gaze_ray_designates_a_3d_target(shared, estimator):
    f = min(shared("data", "hagrid_sample", "rock").glob("*.jpg"))
    im = cv2.imread(str(f))
    st = FaceGazeStage()
    st.estimator = estimator
    out = []
    st.process(VideoFrame(im, 1_000_000_000, 0), out.append)
    [obs] = out
    assert obs.modality == "gaze" and obs.kind == "ray"
    o, d = np.array(obs.payload["origin"]), np.array(obs.payload["direction"])
    scene = Scene(
        [
            Target("looked", "looked", position=tuple(o + 0.8 * d), radius=0.05),
            Target("behind_user", "other", position=tuple(o - 0.8 * d), radius=0.05),
        ]
    )
    tr = ContextTracker(scene)
    tr.observe(obs)
    assert tr.at("gaze", 0, 2_000_000_000).target_id == "looked"


def test_screen_calibration_fit_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    A = np.array([[25.0, 1.0, 640.0], [-0.5, 22.0, 360.0]])
    yp = rng.uniform(-20, 20, size=(9, 2))
    xy = np.hstack([yp, np.ones((9, 1))]) @ A.T + rng.normal(0, 0.5, size=(9, 2))
    cal = ScreenCalibration.fit(yp, xy)
    assert np.allclose(cal.A, A, atol=0.5)
    x, y = cal.to_screen(0.0, 0.0)
    assert abs(x - 640) < 1.5 and abs(y - 360) < 1.5
    with pytest.raises(ValueError):
        ScreenCalibration.fit(yp[:2], xy[:2])
