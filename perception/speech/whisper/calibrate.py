"""Fit the whisper backend's confidence (a logistic model over its decoding features) on DEVELOPER
data only, and print the weights for `WhisperOptions.confidence_weights`.

    python -m perception.speech.whisper.calibrate --rows dev_rows.jsonl \
        --negatives ../shared/data/speech/commands ../shared/data/speech/wake \
        --reversed ../shared/data/speech/barista --context ../shared/data/speech/barista/coffee_maker.yaml

Positives/negatives from `--rows`: the per-file rows of `cuekit eval speech --split dev --rows-out` run
with developer noises (label = the top in-grammar reading was right). Out-of-grammar speech (every WAV
under --negatives, and time-reversed dev-half barista files) is decoded here and labelled wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from perception.speech.whisper.backend import CONFIDENCE_FEATURES


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Newton's method on the L2-regularised log-loss; returns (bias, weights...)."""
    X = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(X.shape[1])
    reg = l2 * np.eye(X.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -50, 50)))
        g = X.T @ (p - y) + reg @ w
        h = X.T @ (X * (p * (1 - p))[:, None]) + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _negative_features(context: str, dirs: list[str], reversed_data: str | None, limit_per_dir: int) -> list[dict]:
    from perception.speech.audio import read_wav, resample
    from perception.speech.evaluate import split_of
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer
    rec = SpeechRecognizer(context, SpeechOptions(backend="whisper", min_confidence=0.0))
    files: list[tuple[Path, bool]] = []
    for d in dirs:
        for sub in sorted({p.parent for p in Path(d).rglob("*.wav")}):
            files += [(p, False) for p in sorted(sub.glob("*.wav"))[:limit_per_dir]]
    if reversed_data:
        clean = Path(reversed_data) / "clean"
        files += [(p, True) for p in sorted(clean.glob("*.wav")) if split_of(p.name) == "dev"][:limit_per_dir * 2]
    out = []
    for i, (p, rev) in enumerate(files):
        x, sr = read_wav(p)
        x = resample(x, sr, 16000)
        if rev:
            x = x[::-1].copy()
        rs = [r for r in rec.recognize(x) if r.n_best and r.n_best[0]["intent"]]
        if rs:
            out.append({"file": str(p), "reversed": rev, "features": rs[-1].features})
        if (i + 1) % 50 == 0:
            print(f"  negatives {i + 1}/{len(files)}", file=sys.stderr, flush=True)
    print(f"  negatives: {len(files)} files, {len(out)} produced an in-grammar reading", file=sys.stderr)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m perception.speech.whisper.calibrate")
    p.add_argument("--rows", nargs="+", required=True)
    p.add_argument("--context", required=True)
    p.add_argument("--negatives", nargs="*", default=[])
    p.add_argument("--reversed", help="barista folder: its dev-half files, reversed, as negatives")
    p.add_argument("--limit-per-dir", type=int, default=20)
    p.add_argument("--negatives-cache", help="JSON-lines file of negative features (read if present, else written)")
    a = p.parse_args(argv)
    rows = [json.loads(line) for f in a.rows for line in Path(f).read_text().splitlines() if line.strip()]
    if any(r.get("split", "dev") != "dev" for r in rows):
        raise SystemExit("calibration rows must come from the dev split")
    feats = [(r["features"], bool(r["top_correct"])) for r in rows if r.get("features")]
    cache = Path(a.negatives_cache) if a.negatives_cache else None
    if cache and cache.is_file():
        neg = [json.loads(line) for line in cache.open()]
    else:
        neg = _negative_features(a.context, a.negatives, a.reversed, a.limit_per_dir)
        if cache:
            cache.write_text("".join(json.dumps(n) + "\n" for n in neg))
    feats += [(n["features"], False) for n in neg]
    x = np.array([[f[k] for k in CONFIDENCE_FEATURES] for f, _ in feats], dtype=np.float64)
    y = np.array([c for _, c in feats], dtype=np.float64)
    w = fit_logistic(x, y)
    print(json.dumps({"features": ["bias", *CONFIDENCE_FEATURES], "weights": [round(float(v), 4) for v in w],
                      "n_positive": int(y.sum()), "n_negative": int(len(y) - y.sum()),
                      "n_out_of_grammar": len(neg)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
