"""`cuekit bench hands --json` prints one JSON object with the timings and ratios (speed itself is not tested)."""

from __future__ import annotations

import json

import pytest

from perception.hands import bench


@pytest.mark.slow
def test_bench_json_contract(shared, capsys):
    photo = min(shared("data", "hagrid_sample", "four").glob("*.jpg"))
    assert bench.main(["--json", "--frames", "12", "--no-mediapipe", "--photo", str(photo)]) == 0
    d = json.loads(capsys.readouterr().out.strip())
    assert d["frame_size"] == [640, 480]
    assert d["video_fp32"]["detection_frames"] == 1 and d["video_fp32"]["frames_with_hand"] == 12
    for key in (
        "detection_frame_fp32",
        "tracking_frame_fp32",
        "palm_detection_full_ort_fp32",
        "hand_landmark_full_ort_fp32",
    ):
        assert d["ms"][key] > 0
    assert d["ratios"]["detection_over_tracking_fp32"] > 1.0  # a tracking frame skips the palm detector
    assert any("MediaPipe comparison skipped" in n for n in d["notes"])
