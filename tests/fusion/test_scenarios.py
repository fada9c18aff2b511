import json
from pathlib import Path

import pytest

from fusion import evaluate
from fusion.scenario import ScenarioError, load_scenario, resolve_spec, run_scenario, scenario_files
from fusion.schemas import validate

DIR = Path(__file__).resolve().parents[2] / "assets" / "scenarios"
FILES = scenario_files(DIR)
_SPECS: dict = {}


def test_there_are_enough_scenarios_covering_every_behaviour():
    assert len(FILES) >= 30
    tags = set()
    for f in FILES:
        tags.update(load_scenario(f).tags)
    assert {
        "any",
        "all",
        "sequence",
        "deixis",
        "duplicates",
        "conflict",
        "late",
        "timeout",
        "noise",
        "refractory",
        "gaze",
        "pointing",
        "dwell",
        "rhino",
    } <= tags


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario_passes_and_everything_validates(path, shared):
    sc = load_scenario(path)
    if sc.spec_ref == "coffee":
        shared("data", "speech", "barista", "coffee_maker.yaml")
    spec = resolve_spec(sc, _SPECS)
    res = run_scenario(sc, spec)
    assert res.passed, "; ".join(res.problems)
    validate("scene", {"targets": sc.scene})
    for t in sc.observations:
        if t.label != "bad":  # the malformed-input scenario's bad observation must NOT validate
            validate("observation", t.obs.to_json())
    for ev in res.events:
        validate("intent_event", ev.to_json())
        assert ev.t_emitted_ns >= ev.t_first_evidence_ns


def test_malformed_observation_fails_its_schema():
    import jsonschema

    sc = load_scenario(DIR / "29_malformed_skipped.toml")
    bad = next(t for t in sc.observations if t.label == "bad")
    with pytest.raises(jsonschema.ValidationError):
        validate("observation", bad.obs.to_json())


def test_scenario_errors_name_file_line_and_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(
        'name = "x"\n\n[[obs]]\nmodality = "hand"\nkind = "fist"\nt_ms = 10\n\n'
        '[[obs]]\nmodality = "hand"\nkind = "fist"\nt_ms = "soon"\n'
    )
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert ei.value.line == 11 and ei.value.key == "obs[1].t_ms" and "milliseconds" in ei.value.message
    p.write_text('name = "x"\n[[expect]]\nname = "select"\nfrom = ["nope"]\n')
    with pytest.raises(ScenarioError) as ei:
        load_scenario(p)
    assert ei.value.key == "expect[0].from[0]" and ei.value.line == 4


def test_a_wrong_expectation_fails(tmp_path):
    src = (DIR / "15_deixis_move_that_there.toml").read_text()
    p = tmp_path / "wrong.toml"
    p.write_text(src.replace('destination = "shelf"', 'destination = "cup"'))
    sc = load_scenario(p)
    res = run_scenario(sc, resolve_spec(sc, _SPECS))
    assert not res.passed
    assert any("slot destination='shelf', wanted 'cup'" in pr for pr in res.problems)


def test_cli_prints_one_json_object(capsys, shared):
    shared("data", "speech", "barista", "coffee_maker.yaml")
    rc = evaluate.main(["--scenarios", str(DIR), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert rc == 0 and doc["failed"] == 0 and doc["passed"] == len(FILES)
    assert {"kind:gesture", "kind:speech", "move", "select"} <= set(doc["latency"])
    for v in doc["latency"].values():
        assert 0 <= v["p50_ms"] <= v["p95_ms"]
    assert doc["engine_stats"]["duplicates_suppressed"] >= 3
    assert doc["engine_stats"]["late_dropped"] >= 1 and doc["engine_stats"]["malformed"] >= 1
