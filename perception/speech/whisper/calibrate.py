"""Fit the whisper backend's confidence (a logistic model over its decoding features) on DEVELOPER
data only, and print the weights for `WhisperOptions.confidence_weights`.

    python -m perception.speech.whisper.calibrate --rows dev_rows.jsonl \
        --negatives ../shared/data/speech/commands ../shared/data/speech/wake \
        --reversed ../shared/data/speech/barista --context ../shared/data/speech/barista/coffee_maker.yaml

Positives/negatives from `--rows`: the per-file rows of `cuekit eval speech --split dev --rows-out` run
with developer noises (label = the top in-grammar reading was right). Out-of-grammar speech (every WAV
under --negatives, and time-reversed dev-half barista files) is decoded here and labelled wrong.
The threshold: the lowest whose 2-fold (by file) cross-validated wrong-intent rate is <= --max-wrong in
every developer condition; the bias is shifted so that this threshold is confidence 0.5, the
recogniser's default `min_confidence`.
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
        files += [(p, True) for p in sorted(clean.glob("*.wav")) if split_of(p.name) == "dev"][: limit_per_dir * 2]
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
    p.add_argument("--max-wrong", type=float, default=1.5, help="%% wrong intents allowed per dev condition")
    p.add_argument("--fit-negatives", action="store_true", help="also fit on the out-of-grammar negatives")
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
    n_rows = len(feats)
    feats += [(n["features"], False) for n in neg]
    x = np.array([[f[k] for k in CONFIDENCE_FEATURES] for f, _ in feats], dtype=np.float64)
    y = np.array([c for _, c in feats], dtype=np.float64)
    # group for cross-validation: barista rows by file (all its conditions together), negatives alone
    groups = [r["file"] for r in rows if r.get("features")] + [n["file"] for n in neg]
    files = sorted(set(groups))
    fold = np.array([files.index(g) % 2 for g in groups])
    cv = np.zeros(len(y))
    X1 = np.hstack([np.ones((len(x), 1)), x])
    # fitted on the barista readings (right vs wrong in-grammar reading: the errors that matter);
    # out-of-grammar speech is far apart on every feature and only checked, else it dominates the fit
    fit = np.arange(len(y)) < n_rows if not a.fit_negatives else np.ones(len(y), bool)
    for k in (0, 1):
        w_k = fit_logistic(x[(fold != k) & fit], y[(fold != k) & fit])
        cv[fold == k] = 1.0 / (1.0 + np.exp(-(X1[fold == k] @ w_k)))
    w = fit_logistic(x[fit], y[fit])
    conds = [r["snr"] for r in rows if r.get("features")]
    n_per = {c: sum(1 for r in rows if r["snr"] == c) for c in {r["snr"] for r in rows}}
    chosen, table = None, []
    for t in [i / 100 for i in range(5, 100)]:
        worst = 0.0
        per = {}
        for c, n in n_per.items():
            idx = [i for i, cc in enumerate(conds) if cc == c]
            wrong = sum(1 for i in idx if cv[i] >= t and not y[i])
            right = sum(1 for i in idx if cv[i] >= t and y[i])
            per["clean" if c is None else f"{c:g} dB"] = {
                "correct": round(100 * right / n, 1),
                "wrong": round(100 * wrong / n, 1),
            }
            worst = max(worst, 100 * wrong / n)
        oog = int(sum(1 for i in range(len(conds), len(y)) if cv[i] >= t))
        table.append({"threshold": t, "conditions": per, "out_of_grammar_accepted": oog})
        if chosen is None and worst <= a.max_wrong:
            chosen = table[-1]
    t = chosen["threshold"] if chosen else 0.5
    shifted = w.copy()
    shifted[0] -= float(np.log(t / (1 - t)))
    print(
        json.dumps(
            {
                "features": ["bias", *CONFIDENCE_FEATURES],
                "weights_raw": [round(float(v), 4) for v in w],
                "threshold_raw": t,
                "weights": [round(float(v), 4) for v in shifted],
                "chosen": chosen,
                "max_wrong": a.max_wrong,
                "n_positive": int(y.sum()),
                "n_negative": int(len(y) - y.sum()),
                "n_out_of_grammar": len(neg),
                "cv_table": table,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
