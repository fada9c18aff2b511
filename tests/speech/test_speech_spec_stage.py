"""The speech stage built from the intent spec: a TOML spec through the plugin works (no traceback per
chunk), scene target names pushed at run time become slot values without a restart, the observation
carries its parse once and fusion uses it, and a stage that cannot start says so once."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from app.plugins.builtins import speech, speech_grammar_source
from fusion.engine import FusionEngine
from fusion.spec import load_spec, speech_grammar
from perception.speech.observation import speech_parse
from perception.speech.stage import SpeechStage, SpeechStageOptions, speech_stage_from_spec
from perception.stream.types import AudioChunk, Observation

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package espeak-ng) speaks the target names"
)
TARGETS = [
    {"id": "win", "label": "window", "box": [0, 0, 10, 10]},
    {"id": "mw", "label": "microwave", "box": [20, 0, 30, 10]},
]


def _say(text: str) -> np.ndarray:
    from perception.speech.wake_eval import espeak

    w = espeak(text, "en-us", 150)
    return np.concatenate([np.zeros(8000, np.float32), 0.5 * w / np.abs(w).max(), np.zeros(16000, np.float32)]).astype(
        np.float32
    )


def _feed(stage, x, t0=0):
    out = []
    for i in range(0, len(x), 512):
        stage.process(AudioChunk(x[i : i + 512], 16000, t0 + i * 1_000_000_000 // 16000, source_id="mic"), out.append)
    return [o for o in out if o.kind in ("intent", "utterance")]


@needs_espeak
def test_scene_names_become_slot_values_at_run_time():
    spec = load_spec("default_ar")
    stage = speech_stage_from_spec(lambda scene: speech_grammar(spec, scene))
    stage.setup()
    x = _say("open microwave")
    before = _feed(stage, x)
    assert not any(o.payload["slots"].get("target") == "microwave" for o in before)
    # a scene update arrives as an Observation (as fusion gets it) and the grammar follows
    stage.process(Observation("context", "scene", 1.0, 0, 0, {"op": "replace", "targets": TARGETS}), lambda o: None)
    after = _feed(stage, x, t0=10 * 1_000_000_000)
    assert [(o.kind, o.payload["intent"], o.payload["slots"]) for o in after] == [
        ("intent", "open", {"target": "microwave"})
    ]
    assert stage.counts["grammar_updates"] == 1
    # the parse is carried once: fusion takes intent, slots and the slot's word times from it
    p = speech_parse(after[0])
    assert p.intent == "open" and p.slots == {"target": "microwave"}
    t0, t1 = p.slot_times["target"]
    assert after[0].t_start_ns < t0 < t1 <= after[0].t_end_ns


def test_fusion_uses_the_recognisers_parse_not_its_text():
    """The text says 'close', the recogniser's parse says open(target=door): fusion follows the parse."""
    spec = load_spec("default_ar")
    eng = FusionEngine(spec)
    eng.push(
        Observation(
            "context",
            "scene",
            1.0,
            0,
            0,
            {"op": "replace", "targets": [{"id": "door", "label": "door", "box": [0, 0, 10, 10]}]},
        ),
        now_ns=0,
    )
    s = 10**9
    obs = Observation(
        "speech",
        "intent",
        0.95,
        s,
        s + 6 * 10**8,
        {
            "intent": "open",
            "slots": {"target": "door"},
            "slot_times": {"target": [s + 3 * 10**8, s + 6 * 10**8]},
            "text": "close the door",
            "words": [],
        },
    )
    events = eng.push(obs, now_ns=s + 7 * 10**8) + eng.flush(now_ns=s + 5 * 10**9)
    assert [(e.name, e.slots.get("target")) for e in events] == [("open", "door")]


def test_toml_spec_through_the_plugin_has_no_traceback_per_chunk(caplog):
    plugin = speech()
    assert plugin.validate({"context": "assets/specs/default_ar.toml"}).ok
    stage = plugin.create({"context": "assets/specs/default_ar.toml"}, "speech")
    assert isinstance(stage, SpeechStage) and "open" in stage.grammar.context.expressions
    stage.setup()
    with caplog.at_level(logging.WARNING):
        for i in range(20):
            stage.process(AudioChunk(np.zeros(512, np.float32), 16000, i * 32_000_000), lambda o: None)
    assert not caplog.records and stage.counts["chunks"] == 20
    # by default (no context) the plugin builds the grammar from the default spec
    assert "take_photo" in plugin.create({}, "speech").grammar.context.expressions
    assert callable(speech_grammar_source("default_ar"))


def test_bad_grammar_fails_where_the_stage_is_built():
    with pytest.raises(ValueError, match="Rhino context YAML"):
        SpeechStage(SpeechStageOptions(context="assets/specs/default_ar.toml"))
    with pytest.raises(Exception, match="unclosed"):
        speech_stage_from_spec({"context": {"expressions": {"x": ["turn [on, off"]}}})


def test_stage_that_cannot_start_says_so_once(caplog, monkeypatch):
    stage = speech_stage_from_spec({"context": {"expressions": {"stop": ["stop"]}}})
    monkeypatch.setattr(stage.options.speech, "backend", "no_such_backend")
    with caplog.at_level(logging.ERROR), pytest.raises(ValueError):
        stage.setup()
    for i in range(10):
        stage.process(AudioChunk(np.zeros(512, np.float32), 16000, i * 32_000_000), lambda o: None)
    assert len([r for r in caplog.records if "cannot start" in r.message]) == 1
    assert stage.counts["dropped_not_started"] == 10
