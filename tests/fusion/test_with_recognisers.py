"""The engine driven by a real recogniser's output: the wrist gesture recogniser on a simulated IMU."""

from __future__ import annotations

from fusion.engine import FusionEngine
from fusion.schemas import validate
from fusion.spec import load_spec
from perception.wrist.recognizer import WristGestures
from perception.wrist.synthetic import Scene, SimEvent, render, split


def test_wrist_recogniser_stream_to_intents():
    sim = Scene(
        9.0,
        [SimEvent("double_tap", 1.0), SimEvent("flick_right", 3.0), SimEvent("twist_cw", 5.0), SimEvent("shake", 6.5)],
    )
    rec = WristGestures()
    eng = FusionEngine(load_spec("default_ar"))
    seen, out = [], []
    for batch in split(render(sim, 100.0), 10):  # 100 ms blocks, as a BLE watch would deliver them
        now = int(batch.t_ns[-1])
        for o in rec.push(batch):
            seen.append(o)
            validate("observation", o.to_json())
            out += eng.push(o, now_ns=now)
        out += eng.advance(now)
    for o in rec.flush():
        seen.append(o)
        out += eng.push(o)
    out += eng.flush()
    assert eng.stats.late_dropped == 0  # the recogniser's reporting delay is inside the wrist bound
    assert [e.name for e in out] == ["select", "next", "volume_up", "dismiss"]
    for e, o in zip(out, seen, strict=True):
        assert e.derived_from == [o.id] and e.modalities == ["wrist"]
        validate("intent_event", e.to_json())
        # fusion adds nothing to a lone wrist gesture: emitted on the block that reported it
        assert e.t_emitted_ns - o.t_end_ns <= 200_000_000
