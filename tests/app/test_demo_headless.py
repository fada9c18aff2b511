"""`cuekit demo --headless` on the bundled session prints every scripted intent as JSON lines."""

from __future__ import annotations

import json

from app.cli import main
from app.demo_session import DEFAULT_SESSION


def test_headless_demo_prints_the_scripted_intents(capsys, monkeypatch):
    monkeypatch.setenv("CUEKIT_NO_DEVICES", "1")
    assert main(["demo", "--headless", "--fast", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    expected = json.loads(DEFAULT_SESSION.with_suffix(".json").read_text())["expected_intents"]
    # a fast replay runs every stage at its own speed, so emission order across modalities is not the
    # order of the acts; the order of first evidence is
    lines.sort(key=lambda x: x["t_first_evidence_ns"])
    assert [x["name"] for x in lines] == [x["name"] for x in expected]
    for got, want in zip(lines, expected):
        assert got["latency_ms"] >= 0 and got["derived_from"]
        for k, v in want["slots"].items():
            assert got["slots"].get(k) == v
