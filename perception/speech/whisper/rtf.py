"""Real-time factor of each shipped recogniser path on the same speech segments, interleaved so that
machine load falls on all of them alike (the project's rule: ratios against a baseline in one run).

    python -m perception.speech.whisper.rtf --context ../shared/data/speech/barista/coffee_maker.yaml \
        --data ../shared/data/speech/barista --n 20 --json

Decode RTF = decode wall time / segment audio time, over VAD segments of the first N files (sorted).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

BACKENDS = ("pocketsphinx", "whisper", "whisper-base")


def run(context: str, data: str, n: int, backends: tuple[str, ...] = BACKENDS) -> dict:
    from perception.speech.audio import read_wav, resample
    from perception.speech.backend import create_backend
    from perception.speech.context import Context
    from perception.speech.grammar import compile_grammar
    from perception.speech.vad import SileroVad, detect_segments

    g = compile_grammar(Context.from_rhino_yaml(context))
    made = {}
    for b in backends:
        try:
            made[b] = create_backend(b, g)
        except (FileNotFoundError, ValueError) as exc:
            print(f"  {b}: not measured ({exc})", file=sys.stderr)
    vad = SileroVad()
    files = sorted((Path(data) / "clean").glob("*.wav"))[:n]
    t_audio = 0.0
    t_dec = {b: [] for b in made}
    for i, f in enumerate(files):
        x, sr = read_wav(f)
        x = resample(x, sr, 16000)
        for s in detect_segments(x, model=vad):
            seg = x[max(0, s.start - 1600) : s.end + 1600]
            t_audio += len(seg) / 16000
            for b, be in made.items():
                t = time.perf_counter()
                be.decode(seg, 16000)
                t_dec[b].append(time.perf_counter() - t)
        print(f"  {i + 1}/{len(files)} files", file=sys.stderr, flush=True)
    base = sum(t_dec.get("pocketsphinx", [])) or None
    return {
        "files": len(files),
        "segments": len(next(iter(t_dec.values()), [])),
        "audio_s": round(t_audio, 2),
        "paths": {
            b: {
                "decode_rtf": round(sum(v) / t_audio, 4),
                "median_decode_s": round(float(np.median(v)), 3),
                "p95_decode_s": round(float(np.percentile(v, 95)), 3),
                "vs_pocketsphinx": round(sum(v) / base, 2) if base else None,
            }
            for b, v in t_dec.items()
        },
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m perception.speech.whisper.rtf")
    p.add_argument("--context", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--backends", nargs="+", default=list(BACKENDS))
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = run(a.context, a.data, a.n, tuple(a.backends))
    print(json.dumps(res) if a.json else json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
