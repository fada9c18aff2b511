"""Plots for docs/speech.md: accuracy vs SNR (CueKit's measured figures beside the PocketSphinx probe
baseline and the published anchors of Picovoice's speech-to-intent benchmark, kitchen noise), and the
accept/reject curve over the confidence threshold, per SNR.

    python -m perception.speech.report LABEL=eval.json [more] --out docs/img/speech_accuracy_vs_snr.png
    python -m perception.speech.report --curve rows.jsonl --threshold 0.5 --out docs/img/speech_rejection.png

The curve is computed from per-file rows (`cuekit eval speech --min-confidence 0 --rows-out F`): at
threshold t a file is accepted when its top in-grammar reading has confidence >= t.
"""

from __future__ import annotations

import argparse
import json
import sys

# Published by Picovoice (plot.py of the benchmark), kitchen noise at 6/12/18/24 dB
ANCHORS = {
    "Rhino (Picovoice)": {6: 96, 12: 98, 18: 99, 24: 99},
    "Microsoft LUIS": {6: 86, 12: 90, 18: 92, 24: 93},
    "IBM Watson": {6: 72, 12: 89, 18: 95, 24: 96},
    "Amazon Lex": {6: 80, 12: 85, 18: 87, 24: 88},
    "Google Dialogflow": {6: 70, 12: 78, 18: 81, 24: 83},
}
# The probe on this machine kind (docs/speech-notes.md), all 619 utterances, VAD-trimmed
BASELINE = {
    "PocketSphinx probe, default": {6: 53.0, 12: 75.3, 18: 88.0, 24: 90.1, "clean": 93.1},
    "PocketSphinx probe, bestpath=false": {6: 68.8, 12: 88.7, 18: 94.7, 24: 95.6, "clean": 97.3},
}


def series(res: dict) -> dict:
    return {("clean" if c["snr_db"] is None else c["snr_db"]): c["accuracy"] for c in res["conditions"]}


def plot(results: list[tuple[str, dict]], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    clean_x = 30
    for name, pts in ANCHORS.items():
        xs = sorted(pts)
        ax.plot(
            xs,
            [pts[x] for x in xs],
            ":",
            marker=".",
            color="grey" if "Rhino" not in name else "tab:purple",
            alpha=0.8 if "Rhino" in name else 0.5,
            label=name,
        )
    for name, pts in BASELINE.items():
        xs = sorted(k for k in pts if k != "clean")
        ax.plot(
            xs + [clean_x],
            [pts[x] for x in xs] + [pts["clean"]],
            "--",
            marker="s",
            ms=4,
            color="tab:orange" if "default" in name else "tab:red",
            alpha=0.7,
            label=name,
        )
    colors = ["tab:blue", "tab:green", "tab:cyan", "black"]
    for i, (label, res) in enumerate(results):
        s = series(res)
        xs = sorted(k for k in s if k != "clean")
        ys = [s[x] for x in xs]
        if "clean" in s:
            xs, ys = xs + [clean_x], ys + [s["clean"]]
        ax.plot(xs, ys, "-", marker="o", lw=2, color=colors[i % len(colors)], label=label)
    ax.set_xticks([0, 6, 12, 18, 24, clean_x], ["0", "6", "12", "18", "24", "clean"])
    ax.set_xlabel("kitchen noise SNR (dB, peak frame energy)")
    ax.set_ylabel("exact intent + slots accuracy (%)")
    ax.set_ylim(40, 100)
    ax.grid(alpha=0.3)
    ax.set_title("Speech-to-intent, barista utterances (real speakers)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


THRESHOLDS = [i / 100 for i in range(100)] + [0.995, 0.999]


def rejection_curve(rows: list[dict], thresholds: list[float] = THRESHOLDS) -> dict:
    """Per condition: for each threshold, % correct accepted, % wrong accepted, % rejected."""
    out: dict = {}
    for cond in sorted({r["snr"] for r in rows}, key=lambda c: 99 if c is None else -c):
        rs = [r for r in rows if r["snr"] == cond]
        pts = []
        for t in thresholds:
            acc = [r for r in rs if r["top_confidence"] >= t and r.get("features")]
            right = sum(r["top_correct"] for r in acc)
            pts.append(
                {
                    "threshold": t,
                    "correct": round(100 * right / len(rs), 2),
                    "wrong": round(100 * (len(acc) - right) / len(rs), 2),
                    "rejected": round(100 * (len(rs) - len(acc)) / len(rs), 2),
                }
            )
        out["clean" if cond is None else f"{cond:g} dB"] = pts
    return out


def plot_curve(curves: dict[str, dict], out: str, threshold: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6.5 * len(curves), 4.6), squeeze=False)
    for ax, (title, curve) in zip(axes[0], curves.items(), strict=True):
        for i, (cond, pts) in enumerate(curve.items()):
            ax.plot([p["wrong"] for p in pts], [p["correct"] for p in pts], "-", color=f"C{i}", label=cond)
            if threshold is not None:
                p = min(pts, key=lambda q: abs(q["threshold"] - threshold))
                ax.plot([p["wrong"]], [p["correct"]], "o", color=f"C{i}")
        ax.axvline(2.0, color="grey", ls=":", lw=1)
        ax.set_xlabel("wrong intent accepted (% of utterances)")
        ax.set_ylabel("correct intent accepted (%)")
        ax.set_title(title + (f" (dot: threshold {threshold:g})" if threshold is not None else ""), fontsize=9)
        ax.set_xlim(left=-0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m perception.speech.report")
    p.add_argument("results", nargs="*", help="`cuekit eval speech --json` outputs, as LABEL=FILE or FILE")
    p.add_argument("--curve", nargs="*", default=[], help="per-file rows (JSON lines), as LABEL=FILE or FILE")
    p.add_argument("--threshold", type=float, help="the default confidence threshold, marked on the curve")
    p.add_argument(
        "--rescore-whisper",
        action="store_true",
        help="recompute whisper confidences from the rows' features with the shipped weights "
        "(rows recorded before the calibration)",
    )
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.curve:
        curves = {}
        for r in a.curve:
            label, _, path = r.rpartition("=")
            with open(path) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            if a.rescore_whisper:
                from perception.speech.whisper.backend import WhisperOptions, confidence

                for row in rows:
                    if "mean_logprob" in (row.get("features") or {}):  # a whisper row
                        row["top_confidence"] = confidence(row["features"], WhisperOptions())
            curves[label or path] = rejection_curve(rows)
        plot_curve(curves, a.out, a.threshold)
        print(json.dumps(curves))
        return 0
    res = []
    for r in a.results:
        label, _, path = r.rpartition("=")
        with open(path) as f:
            res.append((label or "CueKit", json.load(f)))
    plot(res, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
