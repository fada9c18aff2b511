"""Event-time completeness: per-stream watermarks, the wait per intent, exclusive groups across emission,
degenerate slots, and timestamps far from the engine's time."""

import logging
from pathlib import Path

import pytest

from fusion.engine import FusionEngine
from fusion.scenario import load_scenario, resolve_spec, run_scenario
from fusion.spec import load_spec
from perception.context import Scene, Target
from perception.stream.types import Observation

MS = 1_000_000
SCENARIOS = Path(__file__).resolve().parents[2] / "assets" / "scenarios"


def ob(mod, kind, t0, t1, conf=0.9, source_id="s", **payload):
    return Observation(mod, kind, conf, t0 * MS, t1 * MS, payload, source_id=source_id)


def scene():
    return Scene([Target("cup", "cup", (100, 100, 200, 200)), Target("lamp", "lamp", (300, 400, 400, 500))])


def test_select_waits_for_the_gaze_stream_to_pass_the_pinch_and_reports_the_wait():
    e = FusionEngine("default_ar", scene())
    for t in range(500, 1000, 50):  # the eye tracker: empty floor, 130 ms behind
        assert e.push(ob("gaze", "point", t, t, point=[600, 450], plane="image"), now_ns=(t + 130) * MS) == []
    assert e.push(ob("hand", "pinch_tap", 1000, 1080), now_ns=1110 * MS) == []  # gaze is still at 950
    assert e.pending() == ["select"]
    [ev] = e.push(ob("gaze", "point", 1000, 1000, point=[350, 450], plane="image"), now_ns=1130 * MS)
    assert ev.name == "select" and ev.slots == {"target": "lamp"} and ev.t_emitted_ns == 1130 * MS
    w = e.stats.waits["select"]
    assert w["waited"] == 1 and w["max_ms"] == pytest.approx(20.0) and w["for"] == {"gaze": 1}


def test_a_silent_gaze_stream_costs_nothing():
    e = FusionEngine("default_ar", scene())
    e.push(ob("gaze", "point", 100, 100, point=[350, 450], plane="image"), now_ns=150 * MS)
    [ev] = e.push(ob("hand", "pinch_tap", 2000, 2080), now_ns=2100 * MS)  # gaze idle for 2 s: no wait
    assert ev.name == "select" and e.stats.waits["select"]["waited"] == 0


def test_an_explicit_watermark_releases_a_prefix_before_its_bound():
    demo = load_spec("conflicts_demo")  # fist = close, fist + twist_ccw within 500 ms = sleep (priority 5)
    e = FusionEngine(demo, scene())
    assert e.push(ob("hand", "fist", 1000, 1100, source_id="hands"), now_ns=1120 * MS) == []
    # the wrist recogniser has processed its IMU up to 1700 ms without a twist: sleep can no longer complete
    [ev] = e.watermark("wrist", 1700 * MS, source_id="wrist", now_ns=1710 * MS)
    assert ev.name == "close" and ev.t_emitted_ns == 1710 * MS
    assert e.stats.waits["close"]["for"] == {"wrist": 1}


def test_speech_results_of_announced_utterances_are_never_late():
    e = FusionEngine("default_ar", scene())
    e.push(ob("speech", "vad_start", 1050, 1050, source_id="mic"), now_ns=1060 * MS)
    e.push(ob("speech", "vad_end", 1700, 1700, source_id="mic"), now_ns=1710 * MS)
    [ev] = e.push(ob("speech", "utterance", 1000, 1400, source_id="mic", text="next"), now_ns=3500 * MS)
    assert ev.name == "next" and e.stats.late_dropped == 0
    # not announced: 2.1 s behind a 1.5 s bound is late
    assert e.push(ob("speech", "utterance", 4000, 4400, source_id="mic", text="go back"), now_ns=6500 * MS) == []
    assert e.stats.late_dropped == 1


def test_a_later_member_of_an_exclusive_group_is_suppressed_and_counted():
    e = FusionEngine("default_ar", scene())
    [ev] = e.push(ob("hand", "thumbs_up", 1000, 1100), now_ns=1120 * MS)
    assert ev.name == "confirm"
    assert e.push(ob("speech", "utterance", 1250, 1450, text="no"), now_ns=1900 * MS) == []
    assert e.stats.group_suppressed == 1
    # outside the group's window (500 ms) a new answer is a new answer
    [ev2] = e.push(ob("speech", "utterance", 3000, 3300, text="no"), now_ns=3700 * MS)
    assert ev2.name == "cancel"


def test_move_with_both_moments_on_one_target_is_refused_with_a_reason():
    sc = load_scenario(SCENARIOS / "47_move_same_target_refused.toml")
    res = run_scenario(sc, resolve_spec(sc))
    assert res.passed and not res.events and res.stats["degenerate_refused"] == 1


def test_refusal_reason_names_the_slots_and_target():
    e = FusionEngine("default_ar", scene())
    e.push(ob("hand", "point_hold", 1100, 1500, index_tip=[150, 400], index_dir=[0, -1]), now_ns=1530 * MS)
    e.push(ob("hand", "point_hold", 1800, 2300, index_tip=[140, 420], index_dir=[0.02, -1]), now_ns=2330 * MS)
    ws = [
        {"word": w, "t_start_ns": a * MS, "t_end_ns": b * MS}
        for w, a, b in (("move", 1000, 1250), ("that", 1300, 1500), ("there", 1900, 2200))
    ]
    assert e.push(ob("speech", "utterance", 1000, 2200, text="move that there", words=ws), now_ns=2450 * MS) == []
    assert e.flush(4000 * MS) == []
    assert e.refusals == ["move: object and destination are both 'cup'; refused"]


@pytest.mark.parametrize("data_time", [False, True])
def test_a_timestamp_of_2_63_does_not_poison_the_stream(data_time, caplog):
    e = FusionEngine("default_ar", scene())
    now = (lambda t: None) if data_time else (lambda t: t)
    e.push(ob("hand", "pinch_tap", 100, 150), now_ns=now(160 * MS))
    with caplog.at_level(logging.WARNING, logger="cuekit.fusion"):
        for _ in range(3):
            bad = Observation("wrist", "flick_right", 0.9, 2**63 - 2, 2**63 - 1, {}, source_id="client")
            assert e.push(bad, now_ns=now(200 * MS)) == []
    assert e.stats.implausible_time == 3
    assert sum("refusing" in r.getMessage() for r in caplog.records) == 1  # logged once per stream
    names = []
    for k in range(6):
        t = 1000 + 1000 * k
        names += [
            ev.name
            for ev in e.push(ob("wrist", "flick_right", t, t + 100, source_id="client"), now_ns=now((t + 120) * MS))
        ]
    assert names == ["next"] * 6 and e.stats.late_dropped == 0


def test_a_wrist_select_does_not_wait_for_a_sparse_hand_stream():
    e = FusionEngine("default_ar", scene())
    e.push(ob("hand", "open_palm", 900, 1000, source_id="hands"), now_ns=1010 * MS)  # hands in view
    [ev] = e.push(ob("wrist", "double_tap", 1100, 1300, source_id="wrist"), now_ns=1320 * MS)
    assert ev.name == "select" and ev.t_emitted_ns == 1320 * MS


def test_a_higher_priority_group_member_is_waited_for_on_its_streams():
    from fusion.spec import loads_spec

    sp = loads_spec("""
[intents.confirm]
group = "answer"
trigger = { any = ["hand:thumbs_up"] }
[intents.cancel]
group = "answer"
priority = 5
trigger = { any = ["speech:[no, cancel]"] }
""")
    e = FusionEngine(sp, scene())
    e.push(ob("speech", "vad_start", 100, 100, source_id="mic"), now_ns=110 * MS)
    e.push(ob("speech", "vad_end", 400, 400, source_id="mic"), now_ns=410 * MS)
    e.push(ob("speech", "utterance", 100, 300, source_id="mic", text="cancel"), now_ns=700 * MS)
    # the user is quiet; speech has delivered up to now - 250 ms: the thumbs-up waits until that passes it
    assert e.push(ob("hand", "thumbs_up", 1000, 1100, source_id="hands"), now_ns=1120 * MS) == []
    assert e.advance(1340 * MS) == []
    [ev] = e.advance(1350 * MS)
    assert ev.name == "confirm" and e.stats.waits["confirm"]["for"] == {"speech": 1}
    # an announced utterance that overlaps the thumbs-up wins the conflict: one answer, the stronger one
    e.push(ob("speech", "vad_start", 3000, 3000, source_id="mic"), now_ns=3010 * MS)
    assert e.push(ob("hand", "thumbs_up", 3050, 3150, source_id="hands"), now_ns=3170 * MS) == []
    e.push(ob("speech", "vad_end", 3400, 3400, source_id="mic"), now_ns=3410 * MS)
    [ev2] = e.push(ob("speech", "utterance", 3000, 3300, source_id="mic", text="no"), now_ns=3700 * MS)
    assert ev2.name == "cancel" and [n["name"] for n in ev2.n_best] == ["cancel", "confirm"]
    assert e.flush(5000 * MS) == []


def test_stream_bookkeeping_is_bounded_against_many_source_ids():
    e = FusionEngine("default_ar", scene())
    for k in range(2000):
        e.push(ob("gaze", "point", k, k, source_id=f"client-{k}", point=[1, 1], plane="image"), now_ns=(k + 1) * MS)
        e.push(ob("speech", "vad_start", k, k, source_id="mic"), now_ns=(k + 1) * MS)
    assert len(e.marks.streams) <= 256 and len(e.marks.streams[("speech", "mic")].segments) <= 32
