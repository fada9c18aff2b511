"""Accuracy-vs-SNR plot for docs/speech.md: CueKit's measured figures beside the PocketSphinx probe
baseline and the published anchors (Picovoice's speech-to-intent benchmark, kitchen noise).

    python -m perception.speech.report eval.json [more.json ...] --out docs/img/speech_accuracy_vs_snr.png
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
        ax.plot(xs, [pts[x] for x in xs], ":", marker=".", color="grey" if "Rhino" not in name else "tab:purple",
                alpha=0.8 if "Rhino" in name else 0.5, label=name)
    for name, pts in BASELINE.items():
        xs = sorted(k for k in pts if k != "clean")
        ax.plot(xs + [clean_x], [pts[x] for x in xs] + [pts["clean"]], "--", marker="s", ms=4,
                color="tab:orange" if "default" in name else "tab:red", alpha=0.7, label=name)
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


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m perception.speech.report")
    p.add_argument("results", nargs="+", help="`cuekit eval speech --json` outputs, as LABEL=FILE or FILE")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    res = []
    for r in a.results:
        label, _, path = r.rpartition("=")
        with open(path) as f:
            res.append((label or "CueKit", json.load(f)))
    plot(res, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
