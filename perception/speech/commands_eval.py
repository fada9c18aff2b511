"""`cuekit eval commands`: command words on the Speech Commands layout (one folder per word; the clips in
`_unknown_` and `_silence_` must be rejected), through the shipped speech path (Silero VAD, the grammar
endpointer, PocketSphinx constrained to the word list, phone-loop rejection).

    cuekit eval commands --data ../shared/data/speech/commands [--noise WAV --snr 12 6] [--json]

Every clip is padded with 0.5 s of silence either side (the VAD needs a start and an end; the clips are
cut tightly) and decoded once with rejection off, keeping the most confident reading; accepting means
confidence >= the threshold, so one pass gives the whole accept/reject curve.

Split by speaker: Speech Commands names files `<speaker hash>_nohash_<n>.wav`; a speaker goes to half A
when the hash's first 8 hex digits are even, else B (silence clips: by file number). Half A is the only
data any threshold is chosen on (`--pick-threshold`); both halves are reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import re
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("cuekit.speech.commands")

UNKNOWN, SILENCE = "_unknown_", "_silence_"
REJECTED = "(rejected)"
PAD_S = 0.5
_R = None
_NOISE = None
_HASH = re.compile(r"([0-9a-f]{8})_nohash_\d+")


def speaker_half(path: Path) -> str:
    """'A' or 'B' by speaker (the hash in the file name), by file number for clips without one."""
    m = _HASH.search(path.name)
    if m:
        return "A" if int(m.group(1), 16) % 2 == 0 else "B"
    digits = re.sub(r"\D", "", path.stem)
    return "A" if digits and int(digits) % 2 == 0 else "B"


def list_clips(data: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(command words, [(clip path, label)]); labels are a word, _unknown_ or _silence_."""
    if not data.is_dir():
        raise SystemExit(f"cuekit eval commands: {data} is not a folder")
    words = sorted(p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise SystemExit(f"cuekit eval commands: {data} has no word folders (Speech Commands layout)")
    clips = [(str(f), d.name) for d in sorted(data.iterdir()) if d.is_dir() for f in sorted(d.glob("*.wav"))]
    return words, clips


def _init(words: list[str], noise: str | None) -> None:
    global _R, _NOISE
    logging.getLogger().setLevel(logging.WARNING)
    from perception.speech.audio import read_wav, resample
    from perception.speech.context import Context
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

    _R = SpeechRecognizer(Context({w: [w] for w in words}, name="commands"), SpeechOptions(min_confidence=0.0))
    if noise:
        y, sr = read_wav(noise)
        _NOISE = resample(y, sr, 16000)


def _clip(job: tuple[str, str, float | None]) -> dict:
    from perception.speech.audio import mix_at_snr, read_wav, resample, seed_for

    path, label, snr = job
    row = {
        "file": f"{label}/{Path(path).name}",
        "label": label,
        "snr": snr,
        "half": speaker_half(Path(path)),
        "intent": None,
        "confidence": 0.0,
        "error": None,
    }
    try:
        x, sr = read_wav(path)
        x = resample(x, sr, 16000)
        pad = np.zeros(int(PAD_S * 16000), np.float32)
        x = np.concatenate([pad, x, pad])
        if snr is not None:
            x = mix_at_snr(x, _NOISE, snr, np.random.default_rng(seed_for(row["file"], snr)))
        t = time.perf_counter()
        results = [r for r in _R.recognize(x) if r.intent]
        row["proc_s"] = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001 - a bad clip is counted and reported, the run goes on
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    if results:
        best = max(results, key=lambda r: r.confidence)
        row["intent"], row["confidence"] = best.intent, float(best.confidence)
    return row


def summarise(rows: list[dict], words: list[str], threshold: float) -> dict:
    """Accuracy/wrong/rejected on command clips; rejection of unknown words and of silence."""

    def accepted(r: dict) -> str | None:
        return r["intent"] if r["intent"] is not None and r["confidence"] >= threshold else None

    cmd = [r for r in rows if r["label"] in words]
    unk = [r for r in rows if r["label"] == UNKNOWN]
    sil = [r for r in rows if r["label"] == SILENCE]
    pct = lambda k, n: round(100.0 * k / n, 2) if n else None
    out = {
        "threshold": threshold,
        "command_clips": len(cmd),
        "unknown_clips": len(unk),
        "silence_clips": len(sil),
        "accuracy": pct(sum(accepted(r) == r["label"] for r in cmd), len(cmd)),
        "wrong_word_rate": pct(sum(accepted(r) not in (None, r["label"]) for r in cmd), len(cmd)),
        "rejection_rate_commands": pct(sum(accepted(r) is None for r in cmd), len(cmd)),
        "unknown_rejected": pct(sum(accepted(r) is None for r in unk), len(unk)),
        "silence_rejected": pct(sum(accepted(r) is None for r in sil), len(sil)),
        "errors": sum(r["error"] is not None for r in rows),
    }
    per_word = {}
    for w in words:
        rs = [r for r in cmd if r["label"] == w]
        per_word[w] = pct(sum(accepted(r) == w for r in rs), len(rs))
    out["per_word_accuracy"] = per_word
    out["weakest_words"] = sorted(per_word, key=lambda w: per_word[w] if per_word[w] is not None else 0)[:3]
    return out


def confusion(rows: list[dict], words: list[str], threshold: float) -> tuple[list[str], list[str], np.ndarray]:
    truth = words + [UNKNOWN, SILENCE]
    pred = words + [REJECTED]
    m = np.zeros((len(truth), len(pred)), int)
    for r in rows:
        if r["label"] not in truth:
            continue
        a = r["intent"] if r["intent"] is not None and r["confidence"] >= threshold else REJECTED
        m[truth.index(r["label"]), pred.index(a)] += 1
    return truth, pred, m


def pick_threshold(rows: list[dict], words: list[str]) -> float:
    """On half A only: the threshold maximising correct minus wrong words minus unknown/silence accepted
    (a wrong command costs as much as a missed one here)."""
    best, best_t = -1e9, 0.5
    for t in np.round(np.arange(0.05, 1.0, 0.05), 2):
        s = summarise(rows, words, float(t))
        n_cmd, n_neg = max(1, s["command_clips"]), max(1, s["unknown_clips"] + s["silence_clips"])
        neg_acc = (
            (100 - (s["unknown_rejected"] or 0)) * s["unknown_clips"]
            + (100 - (s["silence_rejected"] or 0)) * s["silence_clips"]
        ) / n_neg
        v = (s["accuracy"] - s["wrong_word_rate"]) * n_cmd / (n_cmd + n_neg) - neg_acc * n_neg / (n_cmd + n_neg)
        if v > best:
            best, best_t = v, float(t)
    return best_t


def plot_confusion(path: Path, panels: list[tuple[str, list[str], list[str], np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False)
    for ax, (title, truth, pred, m) in zip(axes[0], panels):
        frac = m / np.maximum(1, m.sum(axis=1, keepdims=True))
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(pred)), pred, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(truth)), truth, fontsize=8)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if frac[i, j] > 0.5 else "black",
                    )
        ax.set_xlabel("recognised")
        ax.set_ylabel("spoken")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(
    data: Path, noise: str | None, snrs: list[float], workers: int = 2, limit: int | None = None, progress: bool = True
) -> tuple[dict, list[dict], list[str]]:
    words, clips = list_clips(data)
    if limit:
        by_label: dict[str, list] = {}
        for c in clips:
            by_label.setdefault(c[1], []).append(c)
        clips = [c for cs in by_label.values() for c in cs[:limit]]
    conds: list[float | None] = [None] + list(snrs)
    jobs = [(p, lab, c) for c in conds for p, lab in clips]
    rows: list[dict] = []
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init, initargs=(words, noise)) as pool:
        for i, r in enumerate(pool.imap(_clip, jobs, chunksize=8)):
            rows.append(r)
            if progress and (i + 1) % 200 == 0:
                print(f"eval commands: {i + 1}/{len(jobs)} clips", file=sys.stderr)
    return {"words": words, "conditions": ["clean" if c is None else f"{c:g} dB" for c in conds]}, rows, words


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cuekit eval commands", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="Speech Commands layout: one folder per word, _unknown_, _silence_")
    p.add_argument("--noise", help="noise WAV mixed in for the --snr conditions")
    p.add_argument("--snr", type=float, nargs="*", default=[])
    p.add_argument(
        "--threshold", type=float, default=None, help="confidence threshold (default: the recogniser's shipped 0.5)"
    )
    p.add_argument(
        "--pick-threshold",
        action="store_true",
        help="also choose a threshold on speaker half A (clean) and report it on half B",
    )
    p.add_argument("--limit", type=int, default=None, help="clips per folder (quick runs)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--plot", default=None, help="confusion matrix PNG (clean, and the last SNR)")
    p.add_argument("--rows-out", default=None, help="write every clip's result as JSON lines")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.snr and not a.noise:
        p.error("--snr needs --noise")
    if a.noise and not Path(a.noise).is_file():
        p.error(f"noise file {a.noise} does not exist")
    from perception.speech.recognizer import SpeechOptions

    threshold = SpeechOptions().min_confidence if a.threshold is None else a.threshold
    meta, rows, words = run(Path(a.data), a.noise, a.snr, a.workers, a.limit, progress=True)
    out: dict = {
        "data": str(a.data),
        "noise": a.noise,
        **meta,
        "split": "by speaker: hash in the file name, first 8 hex digits even -> A, odd -> B "
        "(silence clips by file number)",
        "clips_per_half": {h: sum(1 for r in rows if r["half"] == h and r["snr"] is None) for h in "AB"},
        "results": {},
    }
    for cond, snr in zip(meta["conditions"], [None] + list(a.snr)):
        rs = [r for r in rows if r["snr"] == snr]
        out["results"][cond] = {
            "all": summarise(rs, words, threshold),
            **{f"half_{h}": summarise([r for r in rs if r["half"] == h], words, threshold) for h in "AB"},
        }
    if a.pick_threshold:
        dev = [r for r in rows if r["snr"] is None and r["half"] == "A"]
        t = pick_threshold(dev, words)
        out["picked_threshold"] = {
            "threshold": t,
            "chosen_on": "half A, clean",
            "results": {
                cond: summarise([r for r in rows if r["snr"] == snr and r["half"] == "B"], words, t)
                for cond, snr in zip(meta["conditions"], [None] + list(a.snr))
            },
        }
    if a.plot:
        panels = []
        for cond, snr in list(zip(meta["conditions"], [None] + list(a.snr)))[:: max(1, len(meta["conditions"]) - 1)]:
            truth, pred, m = confusion([r for r in rows if r["snr"] == snr], words, threshold)
            panels.append((f"{cond} (threshold {threshold:g})", truth, pred, m))
        plot_confusion(Path(a.plot), panels)
        out["plot"] = a.plot
    if a.rows_out:
        with open(a.rows_out, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    if a.json:
        print(json.dumps(out))
    else:
        for cond, res in out["results"].items():
            s = res["all"]
            print(
                f"{cond:>8}: accuracy {s['accuracy']}%  wrong {s['wrong_word_rate']}%  rejected "
                f"{s['rejection_rate_commands']}%  unknown rejected {s['unknown_rejected']}%  silence rejected "
                f"{s['silence_rejected']}%"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
