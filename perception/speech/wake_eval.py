"""`cuekit eval wake`: wake-word miss rate against false accepts per hour, as Picovoice's wake-word
benchmark reports it (miss rate at 1 false accept per 10 hours, interpolated along the sweep).

    cuekit eval wake --keyword computer --positives ../shared/data/speech/wake/computer \
        --negatives ../shared/data/speech/commands ../shared/data/speech/noise \
                    ../shared/data/speech/barista/clean ../shared/data/speech/wake/jarvis --json

Detector: PocketSphinx keyphrase search (kws) at a permissive threshold, each detection scored by the
verification margin (the spotted span re-decoded with the phrase as a grammar against the phone loop,
ln-score per second); sweeping the margin gives the curve in one decoding pass. Negatives (any folders
or files of WAVs, read recursively, played back to back as one stream) give false accepts per hour;
positives (one utterance of the phrase per clip) give the miss rate. `--positives synthetic` makes them
with espeak-ng voices (for phrases without recordings, such as "hey cue").

Split: positives by speaker (the shared wake sets have one speaker per clip; clips sorted by name,
even index -> A, odd -> B); both halves are reported and nothing is tuned on either.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from perception.speech.audio import read_wav, resample

VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = ["", "+f2", "+m3", "+f4"]
SPEEDS = [140, 175]
# margins swept (ln-score per second, phrase grammar minus phone loop); -inf: every kws detection
MARGINS = [-1e18, -0.3, -0.2, -0.15, -0.1, -0.075, -0.05, -0.025, 0.0, 0.025, 0.05, 0.1, 0.15, 0.2]
TARGET_FA_PER_HOUR = 0.1  # 1 false accept per 10 hours


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(wav)
        f.flush()
        x, sr = read_wav(f.name)
    return resample(x, sr, 16000)


def positives(phrase: str, commands: list[np.ndarray]) -> list[tuple[np.ndarray, int, int]]:
    """(audio, wake start, wake end) samples: silence, the phrase, 0.3 s, a real command."""
    out = []
    i = 0
    for v in VOICES:
        for var in VARIANTS:
            for sp in SPEEDS:
                w = espeak(phrase, v + var, sp)
                cmd = commands[i % len(commands)]
                i += 1
                w = w * (0.8 * np.max(np.abs(cmd)) / max(1e-6, np.max(np.abs(w))))
                a = np.concatenate([np.zeros(8000, np.float32), w, np.zeros(4800, np.float32), cmd])
                out.append((a.astype(np.float32), 8000, 8000 + len(w)))
    return out


def _load(path: str) -> np.ndarray:
    x, sr = read_wav(path)
    return resample(x, sr, 16000)


def _negatives(job) -> list[float]:
    """Margins of every detection on the negatives stream (one spotter over all files, no resets)."""
    from perception.speech.wake import WakeOptions, WakePhraseSpotter

    phrase, kws_threshold, files = job
    sp = WakePhraseSpotter(WakeOptions(phrase=phrase, threshold=kws_threshold, verify_margin=-1e18))
    sp.reset()
    margins: list[float] = []
    for f in files:
        try:
            margins += [d.margin for d in sp.push(_load(f))]
        except (OSError, ValueError) as exc:
            print(f"eval wake: skipped {f}: {exc}", file=sys.stderr)
    return margins


def _positives(job) -> list[float | None]:
    """Per positive clip: the best margin of a detection inside it, or None (not spotted)."""
    from perception.speech.wake import WakeOptions, WakePhraseSpotter

    phrase, kws_threshold, clips = job
    sp = WakePhraseSpotter(WakeOptions(phrase=phrase, threshold=kws_threshold, verify_margin=-1e18))
    best: list[float | None] = []
    for clip in clips:
        a = _load(clip) if isinstance(clip, str) else clip
        # 0.5 s of silence either side: the spotter needs the phrase's end inside the stream
        a = np.concatenate([np.zeros(8000, np.float32), a, np.zeros(8000, np.float32)])
        ms = [d.margin for d in sp.detect(a)]
        best.append(max(ms) if ms else None)
    return best


def _duration_s(path: str) -> float:
    try:
        x, sr = read_wav(path)
    except (OSError, ValueError):
        return 0.0
    return len(x) / sr


def wav_files(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(str(f) for f in p.rglob("*.wav"))
        elif p.is_file():
            out.append(str(p))
        else:
            raise SystemExit(f"cuekit eval wake: {p} does not exist")
    return out


def curve(neg_margins: list[float], pos_best: list[float | None], hours: float) -> list[dict]:
    pts = []
    for m in MARGINS:
        fa = sum(x >= m for x in neg_margins)
        hit = sum(x is not None and x >= m for x in pos_best)
        pts.append(
            {
                "margin": m,
                "false_accepts": fa,
                "false_accepts_per_hour": round(fa / hours, 3),
                "miss_rate": round(100.0 * (1 - hit / max(1, len(pos_best))), 2),
            }
        )
    return pts


def miss_at(points: list[dict], fa_per_hour: float) -> dict:
    """Miss rate at `fa_per_hour`, linearly interpolated between the two sweep points around it."""
    pts = sorted(points, key=lambda p: (p["false_accepts_per_hour"], -p["miss_rate"]))
    lo = [p for p in pts if p["false_accepts_per_hour"] <= fa_per_hour]
    hi = [p for p in pts if p["false_accepts_per_hour"] > fa_per_hour]
    if not lo:
        return {
            "miss_rate": None,
            "note": f"the sweep never gets down to {fa_per_hour} FA/h; lowest "
            f"{pts[0]['false_accepts_per_hour']} FA/h at {pts[0]['miss_rate']}% miss",
        }
    a = min(lo, key=lambda p: p["miss_rate"])
    if not hi:
        return {"miss_rate": a["miss_rate"], "note": "every sweep point is at or below the target"}
    b = min(hi, key=lambda p: p["false_accepts_per_hour"])
    fa_a, fa_b = a["false_accepts_per_hour"], b["false_accepts_per_hour"]
    w = (fa_per_hour - fa_a) / (fa_b - fa_a) if fa_b > fa_a else 0.0
    return {
        "miss_rate": round(a["miss_rate"] + w * (b["miss_rate"] - a["miss_rate"]), 2),
        "between": [
            {"false_accepts_per_hour": fa_a, "miss_rate": a["miss_rate"]},
            {"false_accepts_per_hour": fa_b, "miss_rate": b["miss_rate"]},
        ],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cuekit eval wake", description=__doc__.split("\n\n")[0])
    p.add_argument("--keyword", required=True, help='wake word or phrase, e.g. computer, jarvis, "hey cue"')
    p.add_argument("--positives", required=True, help="folder of clips of the phrase, or 'synthetic' (espeak-ng)")
    p.add_argument("--negatives", nargs="+", required=True, help="folders/files of non-wake speech and noise")
    p.add_argument(
        "--kws-threshold",
        type=float,
        default=1e-30,
        help="PocketSphinx kws threshold of the first stage (permissive; the margin sweeps)",
    )
    p.add_argument("--plot", default=None, help="write the miss rate / FA-per-hour curve as a PNG")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    phrase = " ".join(a.keyword.lower().split())
    neg_files = wav_files(a.negatives)
    if not neg_files:
        p.error("no negative WAV files found")
    if a.positives == "synthetic":
        cmds = [_load(f) for f in neg_files[:64]]
        pos_clips: list = [x[: end + 4800] for x, _start, end in positives(phrase, cmds)]
        pos_names = [f"espeak-{i}" for i in range(len(pos_clips))]
    else:
        pos_clips = wav_files([a.positives])
        pos_names = pos_clips
    if not pos_clips:
        p.error("no positive clips")
    hours = sum(_duration_s(f) for f in neg_files) / 3600
    halves = [neg_files[0::2], neg_files[1::2]]
    jobs_neg = [(phrase, a.kws_threshold, h) for h in halves]
    pos_halves = {"A": pos_clips[0::2], "B": pos_clips[1::2]}
    with mp.get_context("fork").Pool(2) as pool:
        neg_parts = pool.map_async(_negatives, jobs_neg)
        pos_parts = pool.map(_positives, [(phrase, a.kws_threshold, pos_halves[h]) for h in "AB"])
        neg = [m for part in neg_parts.get() for m in part]
    pos = {"A": pos_parts[0], "B": pos_parts[1]}
    out: dict = {
        "keyword": phrase,
        "detector": f"pocketsphinx kws {a.kws_threshold:g} + margin verification",
        "negative_files": len(neg_files),
        "negative_hours": round(hours, 3),
        "negatives": [str(x) for x in a.negatives],
        "positives": a.positives,
        "positive_clips": len(pos_names),
        "split": "positives by speaker: one speaker per clip, sorted by name, even index A, odd B",
        "target_false_accepts_per_hour": TARGET_FA_PER_HOUR,
        "halves": {},
    }
    for h in ("A", "B", "all"):
        best = pos["A"] + pos["B"] if h == "all" else pos[h]
        pts = curve(neg, best, hours)
        out["halves"][h] = {
            "positives": len(best),
            "miss_at_1_fa_per_10h": miss_at(pts, TARGET_FA_PER_HOUR),
            "miss_at_1_fa_per_hour": miss_at(pts, 1.0),
            "curve": pts,
        }
    out["resolution_note"] = (
        f"{hours:.2f} h of negatives: one false accept is {1 / hours:.2f} FA/h, so 0.1 FA/h "
        "lies between the sweep point with 0 false accepts and the next one"
    )
    if a.plot:
        _plot(Path(a.plot), out)
        out["plot"] = a.plot
    if a.json:
        print(json.dumps(out))
    else:
        for h, r in out["halves"].items():
            print(
                f"{phrase} half {h}: miss at 1 FA/10h {r['miss_at_1_fa_per_10h']['miss_rate']}%, "
                f"at 1 FA/h {r['miss_at_1_fa_per_hour']['miss_rate']}% ({hours:.2f} h negatives)"
            )
    return 0


def _plot(path: Path, res: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for h, style in (("A", "o-"), ("B", "s--")):
        pts = sorted(res["halves"][h]["curve"], key=lambda p: p["false_accepts_per_hour"])
        ax.plot(
            [max(p["false_accepts_per_hour"], 0.01) for p in pts],
            [p["miss_rate"] for p in pts],
            style,
            label=f"half {h}",
        )
    ax.axvline(TARGET_FA_PER_HOUR, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour ({res['negative_hours']:.2f} h of negatives; 0 drawn at 0.01)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(f"wake word '{res['keyword']}'")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
