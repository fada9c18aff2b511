"""Wake-phrase evaluation: false accepts per hour on non-wake speech (the barista utterances, played
back to back as one stream) and miss rate on synthetic wake utterances (espeak-ng voices saying the
phrase, followed by a real barista command), for a sweep of kws thresholds.

    python -m perception.speech.wake_eval --data ../shared/data/speech/barista [--json]

Needs the `espeak-ng` program (Debian package espeak-ng) for the positives.
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

VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd"]
VARIANTS = ["", "+f2", "+m3", "+f4"]
SPEEDS = [140, 175]


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                         check=True).stdout
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


def _run(job):
    from perception.speech.wake import WakeOptions, WakePhraseSpotter
    phrase, thr, kind, payload = job
    # verify_margin=-inf: every detection is verified (margin recorded) and kept; the sweep is offline
    sp = WakePhraseSpotter(WakeOptions(phrase=phrase, threshold=thr, verify_margin=-1e18))
    if kind == "neg":
        margins = []
        sp.reset()
        for f in payload:
            x, sr = read_wav(f)
            margins += [d.margin for d in sp.push(resample(x, sr, 16000))]
        return thr, kind, margins
    best = []  # per positive: the best margin of a detection in time, or None
    for a, s, e in payload:
        ms = [d.margin for d in sp.detect(a) if d.end >= s and d.start <= e + 8000]
        best.append(max(ms) if ms else None)
    return thr, kind, best


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m perception.speech.wake_eval")
    p.add_argument("--data", required=True)
    p.add_argument("--phrase", default="hey cue")
    p.add_argument("--thresholds", type=float, nargs="*", default=[1e-10, 1e-15, 1e-20, 1e-25, 1e-30])
    p.add_argument("--verify-margins", type=float, nargs="*", default=[-1e18, -0.1, -0.05, 0.0, 0.05, 0.1])
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    files = sorted(str(f) for f in (Path(a.data) / "clean").glob("*.wav"))
    hours = sum(len(read_wav(f)[0]) for f in files) / 16000 / 3600
    cmds = [read_wav(f)[0] for f in files[:64]]
    pos = positives(a.phrase, cmds)
    halves = [files[0::2], files[1::2]]
    jobs = [(a.phrase, t, "neg", h) for t in a.thresholds for h in halves]
    jobs += [(a.phrase, t, "pos", pos[k::2]) for t in a.thresholds for k in range(2)]
    with mp.get_context("fork").Pool(2) as pool:
        res = pool.map(_run, jobs)
    table = []
    for t in a.thresholds:
        neg = [m for tt, k, ms in res if tt == t and k == "neg" for m in ms]
        pos_m = [m for tt, k, ms in res if tt == t and k == "pos" for m in ms]
        for vm in a.verify_margins:
            fa = sum(m >= vm for m in neg)
            hit = sum(m is not None and m >= vm for m in pos_m)
            table.append({"threshold": t, "verify_margin": vm, "false_accepts": fa,
                          "false_accepts_per_hour": round(fa / hours, 2),
                          "miss_rate": round(100.0 * (1 - hit / len(pos)), 2), "positives": len(pos)})
            print(f"threshold {t:g} verify {vm:g}: FA/h {fa / hours:.2f}  miss {100 * (1 - hit / len(pos)):.1f}%",
                  file=sys.stderr)
    out = {"phrase": a.phrase, "negative_hours": round(hours, 3), "positives": len(pos), "table": table}
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
