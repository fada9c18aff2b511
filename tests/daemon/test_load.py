"""A short loopback load run (the full one is `cuekit bench daemon`): no subscriber that keeps up
loses an intent while video, audio and IMU stream in."""

from __future__ import annotations

from app.daemon.bench import Options, run_bench


def test_load_smoke_no_lost_intents():
    res = run_bench(Options(seconds=4, subscribers=10, baseline_seconds=1))
    assert res.daemon["exit_code"] == 0
    assert res.sent["video-frame"] >= 100 and res.sent["audio-chunk"] >= 150 and res.sent["imu-batch"] >= 60
    assert res.daemon["messages_in"]["video-frame"] == res.sent["video-frame"]
    assert res.daemon["stages"]["net.video"]["items_out"] + res.daemon["stages"]["net.video"]["drops"] >= 1
    # every pushed gesture is a distinct single-modality intent in the default spec, unless fusion found
    # it later than its lateness bound (150 ms) on an overloaded machine: that is fusion's call, not loss
    assert res.sent["observation"] >= 30
    assert res.sent["observation"] // 4 <= res.intents_published <= res.sent["observation"]
    assert res.subscribers_keeping_up == 10
    assert res.lost_intents_keeping_up == 0
    assert res.latency_ms["n"] == 10 * res.intents_published
    assert res.daemon["malformed"] == 0
