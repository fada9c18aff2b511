"""`cuekit eval commands` and `cuekit eval wake` on small real subsets: the speaker split, the metrics
and the interpolation at 1 false accept per 10 hours, end to end through the CLI (one JSON object)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from perception.speech.commands_eval import SILENCE, UNKNOWN, confusion, speaker_half, summarise
from perception.speech.wake_eval import miss_at

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_speaker_split_keeps_a_speaker_in_one_half():
    assert speaker_half(Path("yes/0c40e715_nohash_0.wav")) == speaker_half(Path("no/0c40e715_nohash_3.wav"))
    assert speaker_half(Path("_unknown_/backward_0c540988_nohash_0.wav.wav")) == "A"  # 0x0c540988 is even
    assert speaker_half(Path("_silence_/1037.wav")) == "B"


def test_metrics_count_wrong_words_and_rejections():
    rows = [
        {"label": "yes", "intent": "yes", "confidence": 0.9},
        {"label": "yes", "intent": "no", "confidence": 0.8},
        {"label": "no", "intent": "no", "confidence": 0.3},
        {"label": UNKNOWN, "intent": "no", "confidence": 0.7},
        {"label": UNKNOWN, "intent": None, "confidence": 0.0},
        {"label": SILENCE, "intent": None, "confidence": 0},
    ]
    for r in rows:
        r["error"] = None
    s = summarise(rows, ["no", "yes"], 0.5)
    assert (s["accuracy"], s["wrong_word_rate"], s["rejection_rate_commands"]) == (33.33, 33.33, 33.33)
    assert (s["unknown_rejected"], s["silence_rejected"]) == (50.0, 100.0)
    truth, pred, m = confusion(rows, ["no", "yes"], 0.5)
    assert m[truth.index("yes"), pred.index("no")] == 1 and m[truth.index(UNKNOWN), pred.index("no")] == 1


def test_miss_rate_interpolated_at_one_false_accept_per_ten_hours():
    pts = [
        {"false_accepts_per_hour": 0.0, "miss_rate": 30.0},
        {"false_accepts_per_hour": 0.5, "miss_rate": 10.0},
        {"false_accepts_per_hour": 4.0, "miss_rate": 2.0},
    ]
    assert miss_at(pts, 0.1)["miss_rate"] == 26.0
    assert miss_at(pts[1:], 0.1)["miss_rate"] is None  # the sweep never got that low: said, not invented


def test_eval_commands_cli_on_a_few_clips(shared):
    data = shared("data", "speech", "commands")
    out = _cli("eval", "commands", "--data", str(data), "--limit", "3", "--workers", "1", "--json")
    s = out["results"]["clean"]["all"]
    assert s["command_clips"] == 30 and s["unknown_clips"] == 3 and s["silence_clips"] == 3
    # measured on these clips (first 3 per folder): 19/30 right; silence never accepted
    assert s["accuracy"] >= 50.0 and s["silence_rejected"] == 100.0
    assert abs(s["accuracy"] + s["wrong_word_rate"] + s["rejection_rate_commands"] - 100.0) < 0.1
    assert set(out["results"]["clean"]) == {"all", "half_A", "half_B"} and "speaker" in out["split"]


def test_eval_wake_cli_on_a_few_clips(shared, tmp_path):
    wake = shared("data", "speech", "wake")
    pos = tmp_path / "pos"
    pos.mkdir()
    for f in sorted((wake / "computer").glob("*.wav"))[:6]:
        (pos / f.name).symlink_to(f)
    noise = shared("data", "speech", "noise", "pink_noise.wav")
    neg = tmp_path / "neg"
    neg.mkdir()
    for f in sorted((wake / "jarvis").glob("*.wav"))[:20]:
        (neg / f.name).symlink_to(f)
    out = _cli(
        "eval", "wake", "--keyword", "computer", "--positives", str(pos), "--negatives", str(neg), str(noise), "--json"
    )
    assert out["positive_clips"] == 6 and 0.01 < out["negative_hours"] < 0.05
    full = out["halves"]["all"]["curve"]
    # more permissive margins never miss more nor accept fewer
    assert all(
        a["miss_rate"] <= b["miss_rate"] and a["false_accepts"] >= b["false_accepts"]
        for a, b in itertools.pairwise(full)
    )
    assert full[0]["miss_rate"] <= 50.0  # measured: 1 of 6 "computer" clips missed at the kws stage
