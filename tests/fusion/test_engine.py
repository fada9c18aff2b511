import random
import time

import pytest

from fusion.engine import EngineOptions, FusionEngine
from fusion.schemas import validate
from fusion.spec import load_spec, loads_spec
from fusion.stage import FusionStage, Ticker
from perception.context import Scene, Target
from perception.stream.clock import MonotonicClock
from perception.stream.pipeline import Pipeline
from perception.stream.stage import CallbackSink, Source
from perception.stream.types import IntentEvent, Observation

MS = 1_000_000


@pytest.fixture(scope="module")
def spec():
    return load_spec("default_ar")


@pytest.fixture(scope="module")
def demo():
    return load_spec("conflicts_demo")  # a compound sharing a gesture with a simpler intent; held answers


def scene():
    return Scene([Target("cup", "cup", (100, 100, 200, 200)), Target("shelf", "shelf", (500, 100, 700, 300))])


def ob(mod, kind, t0, t1, conf=0.9, **payload):
    return Observation(mod, kind, conf, t0 * MS, t1 * MS, payload)


def words(*ws):
    return [{"word": w, "t_start_ns": a * MS, "t_end_ns": b * MS, "confidence": 1.0} for w, a, b in ws]


def test_push_returns_events_with_provenance_and_latency(spec):
    e = FusionEngine(spec, scene())
    p = ob("hand", "pinch_tap", 1000, 1100)
    [ev] = e.push(p, now_ns=1130 * MS)
    assert isinstance(ev, IntentEvent) and ev.name == "select"
    assert ev.derived_from == [p.id] and ev.modalities == ["hand"]
    assert ev.t_first_evidence_ns == 1000 * MS and ev.t_emitted_ns == 1130 * MS and ev.latency_ms == 130
    assert ev.n_best[0]["name"] == "select"
    validate("intent_event", ev.to_json())


def test_default_now_is_the_observation_end():
    e = FusionEngine("default_ar", scene())  # a spec name (or path) is loaded
    [ev] = e.push(ob("wrist", "flick_right", 500, 600))
    assert ev.name == "next" and ev.t_emitted_ns == 600 * MS


def test_move_that_there_binds_each_word_to_its_pointing_moment(spec):
    e = FusionEngine(spec, scene())
    a = ob("hand", "point_hold", 1000, 1400, index_tip=[150, 400], index_dir=[0, -1])
    b = ob("hand", "point_hold", 1800, 2200, index_tip=[600, 450], index_dir=[0, -1])
    s = ob(
        "speech",
        "utterance",
        1000,
        2150,
        intent=None,
        text="move that there",
        words=words(("move", 1000, 1200), ("that", 1250, 1450), ("there", 1900, 2150)),
    )
    out = e.push(a, now_ns=1430 * MS) + e.push(b, now_ns=2230 * MS) + e.push(s, now_ns=2400 * MS)
    [ev] = out
    assert ev.name == "move" and ev.slots == {"object": "cup", "destination": "shelf"}
    assert set(ev.derived_from) == {a.id, b.id, s.id} and ev.modalities == ["hand", "speech"]
    # the same words with the pointing moments swapped in time swap the slots
    e2 = FusionEngine(spec, scene())
    a2 = ob("hand", "point_hold", 1800, 2200, index_tip=[150, 400], index_dir=[0, -1])
    b2 = ob("hand", "point_hold", 1000, 1400, index_tip=[600, 450], index_dir=[0, -1])
    s2 = ob(
        "speech",
        "utterance",
        1000,
        2150,
        text="move that there",
        words=words(("move", 1000, 1200), ("that", 1250, 1450), ("there", 1900, 2150)),
    )
    [ev2] = e2.push(b2, now_ns=1430 * MS) + e2.push(a2, now_ns=2230 * MS) + e2.push(s2, now_ns=2400 * MS)
    assert ev2.slots == {"object": "shelf", "destination": "cup"}


def test_two_modalities_one_action_one_intent(spec):
    e = FusionEngine(spec, scene())
    out = e.push(ob("wrist", "double_tap", 1000, 1200), now_ns=1220 * MS)
    out += e.push(ob("hand", "pinch_tap", 1010, 1190), now_ns=1240 * MS)
    out += e.advance(3000 * MS) + e.flush()
    assert [x.name for x in out] == ["select"]
    assert e.stats.duplicates_suppressed == 1


def test_pending_duplicates_merge_into_one_event():
    # with hold_ms both sightings are pending together: one event citing both, noisy-OR confidence
    sp = loads_spec('[intents.select]\nhold_ms = 100\ntrigger = { any = ["wrist:double_tap", "hand:pinch_tap"] }\n')
    e = FusionEngine(sp)
    w, h = ob("wrist", "double_tap", 1000, 1200, 0.8), ob("hand", "pinch_tap", 1010, 1190, 0.7)
    out = e.push(w, now_ns=1220 * MS) + e.push(h, now_ns=1240 * MS) + e.advance(1319 * MS)
    assert out == []
    [ev] = e.advance(1320 * MS)
    assert set(ev.derived_from) == {w.id, h.id} and ev.modalities == ["hand", "wrist"]
    assert ev.confidence == pytest.approx(1 - 0.2 * 0.3)
    assert ev.t_emitted_ns == 1320 * MS
    assert e.stats.duplicates_merged == 1


def test_refractory_period(spec):
    e = FusionEngine(spec, scene())
    out = []
    for t in (1000, 1300, 2000):  # select refractory 500 ms: 1300 is a repeat, 2000 is new
        out += e.push(ob("hand", "pinch_tap", t, t + 80), now_ns=(t + 100) * MS)
    assert [x.name for x in out] == ["select", "select"]


def test_late_observation_beyond_bound_is_dropped_within_bound_fuses(spec):
    e = FusionEngine(spec, scene())
    assert e.push(ob("hand", "pinch_tap", 1000, 1100), now_ns=1400 * MS) == []
    assert e.stats.late_dropped == 1
    [ev] = e.push(ob("hand", "pinch_tap", 2000, 2100), now_ns=2240 * MS)
    assert ev.name == "select"


def test_compound_waits_for_slower_partner_then_prefix_fires_after_window(demo):
    e = FusionEngine(demo, scene())
    assert e.push(ob("hand", "fist", 1000, 1200), now_ns=1230 * MS) == []
    assert e.pending() == ["close"]
    assert e.advance(1790 * MS) == []  # sleep's window (500 ms from 1000) + wrist lateness (300) not yet past
    [ev] = e.advance(1800 * MS)
    assert ev.name == "close"


def test_malformed_observations_are_counted_and_skipped(spec):
    e = FusionEngine(spec, scene())
    assert e.push(ob("hand", "pinch_tap", 1000, 900)) == []
    assert e.push(Observation("hand", "pinch_tap", float("nan"), 0, 1)) == []
    assert e.push("not an observation") == []  # type: ignore[arg-type]
    assert e.stats.malformed == 3
    [ev] = e.push(ob("hand", "pinch_tap", 2000, 2100))
    assert ev.name == "select"


def test_arrival_order_does_not_matter_within_lateness(spec):
    # evidence times decide: shuffled arrivals (each within its bound) give the same intents
    rng = random.Random(7)
    base = [
        ob("wrist", "raise", 1000, 1300),
        ob("hand", "open_palm", 1100, 1400),
        ob("hand", "victory", 3000, 3300),
        ob("wrist", "tap", 3500, 3600),
        ob("hand", "swipe_up", 5000, 5200),
    ]
    expected = None
    for _ in range(20):
        e = FusionEngine(spec, scene())
        # each observation arrives 0-120 ms after it ended (bound: 150 ms), in arrival order
        arrivals = sorted((o.t_end_ns + rng.randrange(0, 120) * MS, k) for k, o in enumerate(base))
        out = []
        for now, k in arrivals:
            out += e.push(base[k], now_ns=now)
        out += e.flush(7000 * MS)
        names = [x.name for x in out]
        if expected is None:
            expected = names
        assert names == expected
        assert e.stats.late_dropped == 0
    assert expected == ["wake", "take_photo", "scroll"]


def test_events_validate_against_the_schema_with_n_best_losers(demo):
    e = FusionEngine(demo, scene())
    out = e.push(ob("hand", "thumbs_up", 1000, 1300, 0.7), now_ns=1330 * MS)
    out += e.push(ob("speech", "utterance", 1000, 1350, 0.95, text="cancel"), now_ns=1600 * MS)
    out += e.advance(3000 * MS)
    [ev] = out
    assert ev.name == "cancel" and [n["name"] for n in ev.n_best] == ["cancel", "confirm"]
    validate("intent_event", ev.to_json())


class _ListSource(Source):
    def __init__(self, items, gap_s=0.01):
        super().__init__("obs")
        self.items, self.gap_s = items, gap_s

    def run(self, emit, stop):
        for it in self.items:
            if stop.is_set():
                break
            now = self.clock.now_ns()
            # re-stamp to the live clock: the recognisers would stamp their evidence this way
            it.t_start_ns, it.t_end_ns = now - 100 * MS, now - 20 * MS
            emit(it)
            time.sleep(self.gap_s)


def test_stage_in_a_live_pipeline_stamps_emission_with_the_stage_clock(demo):
    got: list[IntentEvent] = []
    pipe = Pipeline(clock=MonotonicClock())
    src = pipe.add(_ListSource([ob("hand", "fist", 0, 0), ob("wrist", "double_tap", 0, 0)], gap_s=0.05))
    tick = pipe.add(Ticker(period_ms=10))
    fusion = pipe.add(FusionStage(demo, scene()), inputs=[src, tick])
    pipe.add(CallbackSink(got.append), inputs=[fusion])
    t0 = time.monotonic_ns()
    pipe.start()
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pipe.stop()
    names = sorted(x.name for x in got)
    assert names == ["close", "select"]  # close fired on a tick, after sleep's window closed
    for x in got:
        assert t0 <= x.t_emitted_ns <= time.monotonic_ns()
        validate("intent_event", x.to_json())
    close = next(x for x in got if x.name == "close")
    assert close.latency_ms >= 500 + 300 - 100  # waited for the window, measured on the stage clock


def test_stage_applies_scene_updates(spec):
    st = FusionStage(spec)
    out = []
    st.process({"op": "upsert", "target": {"id": "poster", "label": "poster", "box": [0, 0, 10, 10]}}, out.append)
    st.process({"op": "upsert", "target": {"id": "bad"}}, out.append)
    assert st.scene.get("poster") is not None and st.bad_items == 1
    now = st.clock.now_ns()
    st.process(Observation("speech", "utterance", 0.9, now - 10 * MS, now, {"text": "select the poster"}), out.append)
    st.close(out.append)
    assert [(x.name, x.slots) for x in out] == [("select", {"target": "poster"})]


def test_long_stream_keeps_memory_bounded_and_keeps_working(spec):
    e = FusionEngine(spec, scene())
    rng = random.Random(1)
    kinds = ["rock", "call", "four", "point", "pinch_tap"]
    n_sel, expected, last = 0, 0, -(10**9)
    for i in range(3000):  # ten minutes at 5 observations a second
        t = 1000 + i * 200
        k = rng.choice(kinds)
        if k == "pinch_tap" and t - (last + 100) >= 500:  # select's 500 ms refractory period
            expected, last = expected + 1, t
        o = ob("hand", k, t, t + 100, index_tip=[150, 400], index_dir=[0, -1])
        n_sel += sum(ev.name == "select" for ev in e.push(o, now_ns=(t + 120) * MS))
        e.advance((t + 190) * MS)
    assert len(e._buffer) < 100 and len(e.context._records) < 200
    assert n_sel == expected and expected > 400


def test_compound_found_among_many_old_parts(spec):
    # 60 unanswered victory signs, then one answered by a tap: the one valid sequence is found
    e = FusionEngine(spec, scene(), EngineOptions(max_matches_per_node=8))
    out = []
    for i in range(60):
        t = 1000 + i * 100
        out += e.push(ob("hand", "victory", t, t + 50), now_ns=(t + 60) * MS)
    out += e.push(ob("wrist", "tap", 7100, 7150), now_ns=7160 * MS)
    out += e.flush(9000 * MS)
    assert [x.name for x in out] == ["take_photo"]
    ev = out[0]
    assert len(ev.derived_from) == 2 and ev.confidence == pytest.approx(0.9)
    assert e._buffer[ev.derived_from[0]].t_start_ns == 6900 * MS  # the latest victory: the tightest reading


def test_random_streams_never_break_the_engine(spec):
    # arbitrary (also nonsensical) observations: the engine never raises and what it emits is valid
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    kinds = {
        "hand": ["pinch_tap", "fist", "point", "point_hold", "victory", "swipe_up", "thumbs_up"],
        "wrist": ["tap", "double_tap", "twist_ccw", "raise", "bogus"],
        "speech": ["utterance", "intent", "wake"],
        "gaze": ["point", "ray", "dwell"],
        "context": ["scene"],
    }
    payloads = st.sampled_from(
        [
            {},
            {"index_tip": [150, 400], "index_dir": [0, -1]},
            {"index_tip": [1, 2], "index_dir": [0, 0]},
            {"index_tip": "x"},
            {"text": "move that there"},
            {"text": "select the cup", "intent": "select"},
            {"text": "", "words": [{"word": "that"}]},
            {"intent": "move", "slots": {"object": "that"}},
            {"point": [150, 150], "plane": "image"},
            {"origin": [0, 0, 0], "direction": [0, 0, 1]},
            {"op": "upsert", "target": {"id": "t", "box": [0, 0, 5, 5]}},
            {"op": "nope"},
            {"phrase": "wake up"},
            {"n_best": [{"text": "cancel", "confidence": 2}]},
            {"intent": ["x"], "slots": [1], "text": 5},
            {"words": "that", "n_best": "x"},
            {"intent": "move", "slots": {"object": 3}, "text": "move"},
            {"point": [1, "a"], "plane": 7},
            {"origin": [0, 0, 0], "direction": [0, 0, 0]},
        ]
    )
    obs = st.tuples(
        st.sampled_from(sorted(kinds)),
        st.integers(0, 10),
        st.integers(0, 3000),
        st.integers(0, 900),
        st.floats(0, 1),
        payloads,
        st.integers(0, 400),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(obs, max_size=25))
    def check(items):
        e = FusionEngine(spec, scene())
        out = []
        for mod, k, t0, dur, conf, p, delay in sorted(items, key=lambda x: x[2] + x[3] + x[6]):
            kind = kinds[mod][k % len(kinds[mod])]
            o = Observation(mod, kind, conf, t0 * MS, (t0 + dur) * MS, dict(p))
            out += e.push(o, now_ns=max((t0 + dur + delay) * MS, e.now_ns))
            out += e.advance(e.now_ns + 5 * MS)
        out += e.flush()
        for ev in out:
            validate("intent_event", ev.to_json())

    check()


def test_every_single_gesture_intent_of_the_default_spec_fires_without_waiting(spec):
    # the latency goal for gestures: fusion adds no wait to a gesture that is an intent by itself
    from fusion.spec import Combo, Leaf

    singles = []
    for it in spec.intents.values():
        kids = it.trigger.children if isinstance(it.trigger, Combo) and it.trigger.op == "any" else [it.trigger]
        for lf in kids:
            if isinstance(lf, Leaf) and lf.modality in ("hand", "wrist"):
                singles += [(it.name, lf.modality, k) for k in sorted(lf.kinds)]
    assert len(singles) >= 15
    for name, mod, kind in singles:
        e = FusionEngine(spec, scene())
        o = ob(mod, kind, 1000, 1200)
        out = e.push(o, now_ns=1230 * MS)  # arrives 30 ms after the gesture ended
        assert [x.name for x in out] == [name], (mod, kind)
        assert out[0].t_emitted_ns - o.t_end_ns == 30 * MS


def test_stage_runs_on_data_time_when_replaying_as_fast_as_possible(spec):
    from perception.stream.clock import ReplayClock

    # the sources have raced 10 s ahead; the recognisers' observations are still from t = 1 s
    obs = [ob("wrist", "raise", 1000, 1300), ob("hand", "open_palm", 1100, 1400)]
    for base, expect in (("auto", ["wake"]), ("clock", [])):
        clock = ReplayClock(realtime=False)
        clock.advance_to(11_000 * MS)
        st = FusionStage(spec, scene(), time_base=base)
        st.clock = clock
        out = []
        for o in obs:
            st.process(o, out.append)
        st.close(out.append)
        assert [x.name for x in out] == expect, base
        if expect:
            assert out[0].t_emitted_ns == 1400 * MS  # data time: when the last part was seen
    # data time keeps an observation that arrives after a later one from a faster modality
    st = FusionStage(spec, scene(), time_base="data")
    out = []
    st.process(ob("hand", "swipe_left", 9000, 9200), out.append)
    st.process(ob("wrist", "flick_up", 1000, 1100), out.append)
    st.close(out.append)
    assert [x.name for x in out] == ["next", "scroll"] and st.engine.stats.late_dropped == 0
    with pytest.raises(ValueError):
        FusionStage(spec, time_base="wall")
