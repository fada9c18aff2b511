"""`cuekit eval speech`: exact intent+slots accuracy on labelled WAVs, clean and with noise mixed at
peak-frame-energy SNRs as Picovoice's speech-to-intent benchmark does.

    cuekit eval speech --context ../shared/data/speech/barista/coffee_maker.yaml \
        --data ../shared/data/speech/barista --noise ../shared/data/speech/barista/kitchen.wav \
        --snr 24 18 12 6 --json

Scoring (as the benchmark): correct when the intent matches and every labelled slot is present and
equal after stripping spaces; extra slots are not penalised; no result counts as wrong. The last
accepted intent of a file is its result (a joined re-decode of a command split by a pause comes last).
Rejection rate = files with no accepted intent.
Latency = end of speech -> intent: the VAD hangover (stream time) plus the decode's wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from perception.speech.backend import resolve_backend_name

log = logging.getLogger("cuekit.speech.eval")

_R = None  # per-process recogniser
_NOISE = None
_BASELINE = False


@dataclass(slots=True)
class EvalOptions:
    context: str
    data: str
    noise: str | None = None
    snrs: tuple[float, ...] = ()
    limit: int | None = None
    workers: int = 2
    enhance: str | None = None
    min_confidence: float | None = None
    hangover_ms: float | None = None
    clean: bool = True
    rows_out: str | None = None
    baseline: bool = False
    backend: str = "auto"
    split: str = "all"  # all | dev | test: the file halves of `split_of`
    noises: tuple[str, ...] = ()  # several noise WAVs: each (file, SNR) mixes one, chosen by its seed


def split_of(name: str) -> str:
    """The fixed file split for developing (thresholds, enhancement gates): "dev" or "test" by a hash
    of the file name, about half each. Developer noises go with "dev"; the test noise is never tuned on."""
    return "dev" if zlib.crc32(name.encode()) % 2 == 0 else "test"


def _init(
    context: str,
    noise: str | tuple | None,
    enhance: str | None,
    min_conf: float | None,
    hangover: float | None,
    baseline: bool = False,
    backend_name: str = "auto",
) -> None:
    global _R, _NOISE, _BASELINE
    logging.getLogger().setLevel(logging.WARNING)
    from perception.speech.audio import read_wav, resample
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

    o = SpeechOptions(enhance=enhance, backend=backend_name)
    if min_conf is not None:
        o.min_confidence = min_conf
    if hangover is not None:
        o.vad.hangover_ms = hangover
    backend = None
    _BASELINE = baseline
    if baseline:
        # the probe of docs/speech-notes.md: PocketSphinx's default beams, bestpath off, no rejection pass,
        # one decode of the whole-file VAD span (first segment start - 0.3 s .. last end + 0.3 s)
        from perception.speech.context import Context
        from perception.speech.grammar import compile_grammar
        from perception.speech.pocketsphinx_backend import PocketSphinxGrammarBackend, PocketSphinxOptions

        g = compile_grammar(Context.from_rhino_yaml(context))
        backend = PocketSphinxGrammarBackend(g, PocketSphinxOptions(beam=None, wbeam=None, phone_loop=False))
        o.min_confidence = 0.0
        context = g
    _R = SpeechRecognizer(context, o, backend=backend)
    if noise:
        _NOISE = []
        for f in [noise] if isinstance(noise, str) else noise:
            n, sr = read_wav(f)
            _NOISE.append(resample(n, sr, 16000))


def score(label: dict, intent: str | None, slots: dict) -> bool:
    if intent is None or intent != label.get("intent"):
        return False
    return all(str(slots.get(k, "")).strip() == str(v).strip() for k, v in (label.get("slots") or {}).items())


def _eval_file(job: tuple[str, str, dict, float | None]) -> dict:
    from perception.speech.audio import mix_at_snr, read_wav, resample, seed_for

    path, name, label, snr = job
    try:
        x, sr = read_wav(path)
        x = resample(x, sr, 16000)
    except (OSError, ValueError) as exc:  # one unreadable file is counted and skipped, not the run's end
        return {"file": name, "snr": snr, "unreadable": str(exc)}
    if snr is not None:
        seed = seed_for(name, snr)
        x = mix_at_snr(x, _NOISE[seed % len(_NOISE)], snr, np.random.default_rng(seed))
    t = time.perf_counter()
    try:
        results = _baseline_decode(x) if _BASELINE else _R.recognize(x)
        error = None
    except Exception as exc:  # noqa: BLE001 - counted as wrong and reported; the run goes on
        results, error = [], f"{type(exc).__name__}: {exc}"
        log.error("%s: %s", name, error)
    proc = time.perf_counter() - t
    # the last accepted intent: a later result that joins a split command supersedes its first part
    chosen = next((r for r in reversed(results) if r.intent), None)
    best = chosen or (results[0] if results else None)
    feats = {"margin": best.features.get("margin_per_s") if best else None, "error": error}
    # what the top reading would score with rejection off: the input of the accept/reject curve
    cands = [r for r in results if r.n_best and r.n_best[0]["intent"]]
    top = cands[-1] if cands else None
    feats["top_correct"] = bool(top) and score(label, top.n_best[0]["intent"], top.n_best[0]["slots"])
    feats["top_confidence"] = float(top.confidence) if top else 0.0
    feats["features"] = {k: round(float(v), 4) for k, v in (top.features if top else {}).items()}
    return {
        "file": name,
        "snr": snr,
        "correct": score(label, chosen.intent if chosen else None, chosen.slots if chosen else {}),
        "accepted": chosen is not None,
        "segments": len(results),
        "audio_s": len(x) / 16000,
        "proc_s": proc,
        "text": best.text if best else "",
        "confidence": best.confidence if best else 0.0,
        "latency_s": ((chosen.segment.t_detected_ns - chosen.segment.t_end_ns) / 1e9 + chosen.decode_s)
        if chosen
        else None,
        "speech_s": sum((r.segment.end - r.segment.start) / 16000 for r in results),
        "in_grammar_text": bool(best) and best.n_best and best.n_best[0]["intent"] is not None,
        **feats,
    }


def _baseline_decode(x: np.ndarray) -> list:
    from perception.speech.vad import detect_segments

    segs = detect_segments(x, model=_R.vad.model)
    if not segs:
        return []
    a, b = max(0, segs[0].start - 4800), min(len(x), segs[-1].end + 4800)
    span = type(segs[0])(
        start=a, end=b, t_start_ns=_R.vad.t_ns(a), t_end_ns=segs[-1].t_end_ns, t_detected_ns=segs[-1].t_detected_ns
    )
    t = time.perf_counter()
    r = _R._interpret(span, _R.backend.decode(x[a:b], 16000), _R.vad.t_ns(a))
    if r is None:
        return []
    r.decode_s = time.perf_counter() - t
    return [r]


def run(opts: EvalOptions, progress=True) -> dict:
    data = Path(opts.data)
    labels = json.loads((data / "label.json").read_text())
    wav_dir = data / "clean" if (data / "clean").is_dir() else data
    names = sorted(n for n in labels if (wav_dir / n).is_file())
    missing = sorted(set(labels) - set(names))
    if missing:
        log.warning("%d labelled files are missing under %s (first: %s)", len(missing), wav_dir, missing[0])
    if opts.split != "all":
        names = [n for n in names if split_of(n) == opts.split]
    if opts.limit:
        names = names[: opts.limit]
    if not names:
        raise SystemExit(f"no labelled WAV files found in {wav_dir}")
    conds: list[float | None] = ([None] if opts.clean else []) + [float(s) for s in opts.snrs]
    noise = opts.noises or opts.noise
    if any(c is not None for c in conds) and not noise:
        raise SystemExit("--snr needs --noise WAV")
    jobs = [(str(wav_dir / n), n, labels[n], c) for c in conds for n in names]
    t0 = time.perf_counter()
    rows = []
    sink = open(opts.rows_out, "w") if opts.rows_out else None  # noqa: SIM115  # partial results survive an interrupted run
    init = (opts.context, noise, opts.enhance, opts.min_confidence, opts.hangover_ms, opts.baseline, opts.backend)
    if opts.workers > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(opts.workers, initializer=_init, initargs=init) as pool:
            for i, row in enumerate(pool.imap(_eval_file, jobs, chunksize=4)):
                rows.append(row)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                if progress and (i + 1) % 50 == 0:
                    print(f"  {i + 1}/{len(jobs)} utterances", file=sys.stderr, flush=True)
    else:
        _init(*init)
        for i, job in enumerate(jobs):
            rows.append(_eval_file(job))
            if sink:
                sink.write(json.dumps(rows[-1]) + "\n")
                sink.flush()
            if progress and (i + 1) % 50 == 0:
                print(f"  {i + 1}/{len(jobs)} utterances", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    if sink:
        sink.close()
    unreadable = sorted({r["file"]: r["unreadable"] for r in rows if "unreadable" in r}.items())
    for name, why in unreadable[:5]:
        log.warning("skipped unreadable %s: %s", name, why)
    rows = [r for r in rows if "unreadable" not in r]
    table = []
    for c in conds:
        rs = [r for r in rows if r["snr"] == c]
        if not rs:
            continue
        lat = [r["latency_s"] for r in rs if r["latency_s"] is not None]
        table.append(
            {
                "condition": "clean" if c is None else f"{_noise_label(opts)} {c:g} dB",
                "snr_db": c,
                "n": len(rs),
                "accuracy": round(100.0 * sum(r["correct"] for r in rs) / len(rs), 2),
                "rejection_rate": round(100.0 * sum(not r["accepted"] for r in rs) / len(rs), 2),
                "false_accept_rate": round(100.0 * sum(r["accepted"] and not r["correct"] for r in rs) / len(rs), 2),
                "multi_segment_files": sum(r["segments"] > 1 for r in rs),
                "errors": sum(r["error"] is not None for r in rs),
                "rtf": round(sum(r["proc_s"] for r in rs) / sum(r["audio_s"] for r in rs), 4),
                "rtf_speech": round(sum(r["proc_s"] for r in rs) / max(1e-9, sum(r["speech_s"] for r in rs)), 4),
                "latency_median_s": round(float(np.median(lat)), 3) if lat else None,
                "latency_p90_s": round(float(np.percentile(lat, 90)), 3) if lat else None,
            }
        )
    return {
        "context": opts.context,
        "data": str(data),
        "files": len(names) - len(unreadable),
        "unreadable": len(unreadable),
        "unreadable_files": [n for n, _ in unreadable],
        "workers": opts.workers,
        "system": "baseline (notes' probe)" if opts.baseline else "CueKit",
        "backend": "pocketsphinx" if opts.baseline else resolve_backend_name(opts.backend),
        "split": opts.split,
        "noise": _noise_label(opts),
        "enhance": opts.enhance,
        "wall_s": round(wall, 1),
        "conditions": table,
        "rows": rows,
    }


def _noise_label(opts: EvalOptions) -> str | None:
    files = opts.noises or ((opts.noise,) if opts.noise else ())
    return "+".join(Path(f).stem for f in files) or None


def format_table(res: dict) -> str:
    lines = [
        "| condition | n | accuracy % | rejected % | wrong % | RTF | latency median / p90 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in res["conditions"]:
        lines.append(
            f"| {c['condition']} | {c['n']} | {c['accuracy']:.1f} | {c['rejection_rate']:.1f} | "
            f"{c['false_accept_rate']:.1f} | {c['rtf']:.3f} | {c['latency_median_s']} / {c['latency_p90_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cuekit eval speech", description=__doc__.split("\n\n")[0])
    p.add_argument("--context", required=True, help="Rhino-style context YAML")
    p.add_argument("--data", required=True, help="folder with label.json and WAVs (or clean/ WAVs)")
    p.add_argument("--noise", nargs="+", help="noise WAV(s) to mix (several: one per file and SNR, by seed)")
    p.add_argument(
        "--backend",
        nargs="+",
        default=["auto"],
        help="whisper | whisper-base | pocketsphinx | auto (default: whisper if built); several: "
        "each is run on the same files and conditions in this one run, side by side",
    )
    p.add_argument(
        "--split",
        choices=["all", "dev", "test"],
        default="all",
        help="file half (fixed hash split; tune on dev with developer noise only)",
    )
    p.add_argument("--snr", type=float, nargs="*", default=[], help="SNRs in dB (peak frame energy)")
    p.add_argument("--no-clean", action="store_true", help="skip the clean condition")
    p.add_argument("--limit", type=int, help="first N files (sorted by name)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--enhance", choices=["wiener", "nsnet2"], help="noise suppression before decoding")
    p.add_argument("--min-confidence", type=float)
    p.add_argument("--hangover-ms", type=float)
    p.add_argument("--rows", action="store_true", help="include per-file rows in the JSON")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="the notes' probe instead of CueKit: default "
        "beams, no rejection, one decode of the whole-file VAD span +-0.3 s",
    )
    p.add_argument("--rows-out", help="also append each file's row to this JSON-lines file as it finishes")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    a = p.parse_args(argv)
    for f in [a.context, a.data] + (a.noise or []):
        if not Path(f).exists():
            p.error(f"{f} does not exist")
    results = []
    for backend in a.backend:
        rows_out = (
            a.rows_out
            if len(a.backend) == 1 or not a.rows_out
            else str(Path(a.rows_out).with_suffix(f".{backend}{Path(a.rows_out).suffix}"))
        )
        opts = EvalOptions(
            context=a.context,
            data=a.data,
            noise=a.noise[0] if a.noise and len(a.noise) == 1 else None,
            noises=tuple(a.noise) if a.noise and len(a.noise) > 1 else (),
            backend=backend,
            split=a.split,
            snrs=tuple(a.snr),
            limit=a.limit,
            workers=max(1, a.workers),
            enhance=a.enhance,
            min_confidence=a.min_confidence,
            hangover_ms=a.hangover_ms,
            clean=not a.no_clean,
            rows_out=rows_out,
            baseline=a.baseline,
        )
        print(f"cuekit eval speech: backend {backend}", file=sys.stderr, flush=True)
        res = run(opts)
        if not a.rows:
            res.pop("rows")
        results.append(res)
    out = results[0] if len(results) == 1 else {"runs": results, "backends": a.backend}
    if a.json:
        print(json.dumps(out))
    else:
        for res in results:
            print(f"backend {res['backend']}:")
            print(format_table(res))
    return 0


__all__ = ["EvalOptions", "asdict", "main", "run", "score"]
