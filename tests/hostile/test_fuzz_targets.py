"""The fuzz targets run briefly in the suite (each corpus input, then a few seconds of mutations); at length
by `cuekit fuzz TARGET --seconds N` (docs/hostile.md has the 10-minute run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_helpers import run_cli

from app.fuzz.cli import fuzz
from app.fuzz.targets import CORPUS, all_targets

TARGETS = sorted(all_targets())


def test_every_target_has_a_corpus_directory():
    for name in TARGETS:
        assert any((CORPUS / name).iterdir()), f"no corpus inputs for {name}"


@pytest.mark.parametrize("name", TARGETS)
def test_corpus_inputs_are_accepted_or_refused_never_crash(name):
    t = all_targets()[name]
    for p in sorted((CORPUS / name).iterdir()):
        try:
            t.run(p.read_bytes())
        except t.expected:
            pass


@pytest.mark.parametrize("name", TARGETS)
def test_a_short_fuzz_run_finds_no_crash(name, tmp_path):
    r = fuzz(name, seconds=2.0, seed=1, timeout_s=5.0, crash_dir=tmp_path)
    assert r["inputs"] > 20 and r["crashes"] == 0 and r["hangs"] == 0, r["distinct_failures"]
    # (peak RSS is asserted on a fresh process below: this one carries whatever earlier tests loaded)


def test_the_fuzz_command_reports_one_json_object(tmp_path):
    import json

    r = run_cli("fuzz", "imu_line", "--seconds", "1", "--json", "--crash-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["target"] == "imu_line" and d["inputs"] > 100 and d["crashes"] == 0 and 0 < d["peak_rss_mb"] < 500


def test_a_crash_is_counted_and_its_input_saved(tmp_path, monkeypatch):
    """The harness itself can fail: a target whose parser raises something unexpected is reported."""
    from app.fuzz import targets

    real = targets.all_targets

    def broken():
        ts = real()
        t = ts["imu_line"]

        def run(data: bytes) -> None:
            if b"," in data:
                raise KeyError("a parser bug")
            t.run(data)

        t.run = run
        return ts

    monkeypatch.setattr(targets, "all_targets", broken)
    r = fuzz("imu_line", seconds=0.5, seed=2, crash_dir=tmp_path)
    assert r["crashes"] > 0 and r["distinct_failures"][0]["error"].startswith("KeyError")
    assert Path(r["distinct_failures"][0]["input"]).is_file()
