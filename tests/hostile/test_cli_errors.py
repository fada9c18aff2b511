"""Item 10 of issue #18 and the Done-when rule: every CLI entry point answers bad arguments and bad files
with one line naming the problem and exit 2 (usage/input) or 1 (runtime), never a traceback."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from hostile_helpers import run_cli

from app.cli import BENCH_TARGETS, COMMANDS, EVAL_TARGETS


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "adir").mkdir()
    (d / "random.bin").write_bytes(os.urandom(2000))
    (d / "latin1.toml").write_bytes('[spec]\nname = "caf\xe9"\n'.encode("latin-1"))
    (d / "short.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    (d / "odd.wav").write_bytes(
        b"RIFF\x2c\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x07\x00\x01\x00\x80>\x00\x00"
        b"\x80>\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00"
    )
    (d / "token.bin").write_bytes(b"\xff\xfe\x00binary")
    (d / "token.bin").chmod(0o600)
    (d / "wrongtype.toml").write_text('[server]\nport = "eighty"\n')
    (d / "notatable.toml").write_text("server = 5\n")
    (d / "spec_nan.toml").write_text('[defaults]\nhold_ms = nan\n[intents.g]\ntrigger = "hand:pinch"\n')
    return d


def _cases(d):
    cases = [(name, [name, "--definitely-not-an-option"], 2) for name in COMMANDS]
    cases += [(f"eval {t}", ["eval", t, "--definitely-not-an-option"], 2) for t in EVAL_TARGETS]
    cases += [(f"bench {t}", ["bench", t, "--definitely-not-an-option"], 2) for t in BENCH_TARGETS]
    cases += [
        ("unknown command", ["frobnicate"], 2),
        ("unknown eval target", ["eval", "nope"], 2),
        ("serve --port 99999", ["serve", "--port", "99999"], 2),
        ("serve --token-file dir", ["serve", "--token-file", str(d / "adir")], 2),
        ("serve --token-file binary", ["serve", "--token-file", str(d / "token.bin"), "--host", "0.0.0.0"], 2),
        ("serve --config wrong type", ["serve", "--config", str(d / "wrongtype.toml")], 2),
        ("serve --config not a table", ["serve", "--config", str(d / "notatable.toml")], 2),
        ("serve --config dir", ["serve", "--config", str(d / "adir")], 2),
        ("serve --config latin-1", ["serve", "--config", str(d / "latin1.toml")], 2),
        ("serve public bind no token", ["serve", "--host", "0.0.0.0", "--port", "0"], 2),
        ("replay dir", ["replay", str(d / "adir")], 2),
        ("replay random", ["replay", str(d / "random.bin")], 2),
        ("replay missing", ["replay", str(d / "missing.mcap")], 2),
        ("record short wav", ["record", "--wav", str(d / "short.wav"), "--out", str(d / "o.mcap"), "--fast"], 2),
        ("record odd wav", ["record", "--wav", str(d / "odd.wav"), "--out", str(d / "o.mcap"), "--fast"], 2),
        ("record public udp", ["record", "--imu-udp", "0", "--imu-host", "0.0.0.0", "--out", str(d / "o.mcap")], 2),
        ("demo --spec latin-1", ["demo", "--headless", "--no-live", "--fast", "--spec", str(d / "latin1.toml")], 2),
        ("demo --spec nan", ["demo", "--headless", "--no-live", "--fast", "--spec", str(d / "spec_nan.toml")], 2),
        ("demo --spec dir", ["demo", "--headless", "--no-live", "--fast", "--spec", str(d / "adir")], 2),
        ("demo --session random", ["demo", "--headless", "--no-live", "--session", str(d / "random.bin")], 2),
        ("spec check random", ["spec", "check", str(d / "random.bin")], 2),
        ("fuzz unknown target", ["fuzz", "nope"], 2),
        ("fuzz negative time", ["fuzz", "wav", "--seconds", "-1"], 2),
        ("eval speech missing data", ["eval", "speech", "--context", str(d / "x.yaml"), "--data", str(d)], 2),
        # these exit through sys.exit("message"): the message must reach stderr
        ("eval commands missing data", ["eval", "commands", "--data", str(d / "missing")], 2),
        (
            "eval wake missing data",
            [
                "eval",
                "wake",
                "--keyword",
                "computer",
                "--positives",
                str(d / "missing"),
                "--negatives",
                str(d / "missing"),
            ],
            2,
        ),
        ("eval hands missing data", ["eval", "hands", "--data", str(d / "missing")], 2),
        ("eval hands missing scenes", ["eval", "hands", "--scenes", str(d / "missing")], 2),
        ("eval imu missing negatives", ["eval", "imu", "--negatives", str(d / "missing")], 2),
        ("enroll unknown argument", ["enroll", "wrist", "--nope"], 2),
    ]
    return cases


def test_every_entry_point_answers_bad_input_with_one_line_and_exit_2(bad_files):
    cases = _cases(bad_files)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: (c, run_cli(*c[1], timeout=180)), cases))
    problems = []
    for (what, _argv, code), r in results:
        # spec check's errors are its output (stdout); everything else reports on stderr
        err = (r.stdout if what.startswith("spec check") else r.stderr).strip().splitlines()
        if r.returncode != code:
            problems.append(f"{what}: exit {r.returncode}, expected {code}: {r.stderr[-300:]}")
        elif "Traceback" in r.stderr:
            problems.append(f"{what}: traceback: {r.stderr[-300:]}")
        elif not err or ": " not in err[-1]:
            problems.append(f"{what}: no one-line message naming the problem: {r.stderr[-300:]!r}")
        elif len(err) > 1 and what not in ("replay random",):
            problems.append(f"{what}: {len(err)} lines on stderr: {err}")
    assert not problems, "\n".join(problems)
