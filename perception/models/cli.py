"""`cuekit models build|list|bench`: build the ONNX models, show what is built, time them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import registry
from .build import ModelStore, Options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cuekit models", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="fetch the pinned mediapipe wheel, convert, verify, quantize")
    b.add_argument("models", nargs="*", metavar="MODEL", help=f"default: all of {', '.join(registry.MODEL_NAMES)}")
    b.add_argument("--force", action="store_true", help="rebuild even when the cache is valid")
    b.add_argument("--no-int8", action="store_true", help="skip the int8 variants")
    b.add_argument("--cache-dir", type=Path, help="default: $CUEKIT_CACHE_DIR or ~/.cache/cuekit")
    b.add_argument("--json", action="store_true", help="print one JSON object (the manifest) on stdout")
    b.add_argument("--quiet", action="store_true", help="no progress on stderr")
    b.add_argument(
        "--speech",
        nargs="*",
        metavar="SPEECH_MODEL",
        help="build the speech recogniser models instead (default: whisper_tiny_en; "
        "also: whisper_base, nsnet2), see perception/speech/whisper/build.py",
    )
    ls = sub.add_parser("list", help="what is built, where, hashes, provenance")
    ls.add_argument("--cache-dir", type=Path)
    ls.add_argument("--json", action="store_true")
    bench = sub.add_parser("bench", help="median latency, 1 thread: ORT fp32 / rewritten / int8 vs LiteRT")
    bench.add_argument("models", nargs="*", metavar="MODEL")
    bench.add_argument("--runs", type=int, default=50)
    bench.add_argument("--cache-dir", type=Path)
    bench.add_argument("--plot", type=Path, help="save a latency plot (PNG) here")
    bench.add_argument("--json", action="store_true")
    return p


def _list(store: ModelStore, as_json: bool) -> int:
    manifest = store.manifest()
    rows = []
    for name in registry.MODEL_NAMES:
        entry = manifest["models"].get(name)
        for variant in registry.VARIANTS:
            path, status = store.check(name, variant, manifest)
            var = (entry or {}).get("variants", {}).get(variant)
            if var is None and variant == "int8":
                status = (entry or {}).get("int8", {}).get("reason", status)
            rows.append(
                {
                    "model": name,
                    "variant": variant,
                    "status": status,
                    "path": str(path) if path else None,
                    "sha256": var["sha256"] if var else None,
                    "tflite_sha256": entry["source"]["tflite_sha256"] if entry else None,
                }
            )
    from perception.speech.whisper import build as speech_build

    speech_rows = speech_build.list_rows(store.cache_dir)
    if as_json:
        print(
            json.dumps(
                {
                    "cache_dir": str(store.cache_dir),
                    "manifest": str(store.manifest_path),
                    "source": manifest.get("source"),
                    "models": rows,
                    "speech_models": speech_rows,
                }
            )
        )
        return 0
    src = manifest.get("source")
    print(f"cache: {store.root}")
    if src:
        print(f"source: {src['wheel']} (sha256 {src['sha256']}) from {src['index']}, licence {src['licence']}")
    for r in rows:
        where = r["path"] or f"- ({r['status']})"
        sha = (r["sha256"] or "")[:16]
        print(f"  {r['model']:<27} {r['variant']:<5} {sha:<16} {where}")
        if r["variant"] == "fp32" and r["tflite_sha256"]:
            print(f"  {'':<27} from tflite sha256 {r['tflite_sha256'][:16]}")
    print("speech (perception/speech/whisper/build.py):")
    for r in speech_rows:
        where = r["path"] or f"- ({r['status']})"
        print(f"  {r['model']:<27} {r['variant']:<5} {(r['sha256'] or '')[:16]:<16} {where}")
        if r["model"].endswith("/encoder") or r["model"] == "nsnet2":
            wheels = ", ".join(
                f"{w} (sha256 {h[:16]})" for w, h in zip(r["source_wheels"], r["source_sha256"], strict=True)
            )
            print(f"  {'':<27} from {wheels}, licence {r['licence']}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    store = ModelStore(args.cache_dir)
    if args.cmd == "list":
        return _list(store, args.json)
    if args.cmd == "bench":
        from .bench import run_bench

        return run_bench(store, args)
    if args.speech is not None:
        from perception.speech.whisper import build as speech_build

        try:
            built = [
                speech_build.build(m, cache_dir=store.cache_dir, force=args.force, progress=not args.quiet)
                for m in (args.speech or [speech_build.DEFAULT_MODEL])
            ]
        except (ValueError, OSError, RuntimeError) as exc:
            print(f"cuekit models build --speech: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps({"cache_dir": str(store.cache_dir), "speech_models": built}))
        else:
            _list(store, False)
        return 0
    try:
        result = store.build(
            Options(
                cache_dir=store.cache_dir,
                models=tuple(args.models) or registry.MODEL_NAMES,
                force=args.force,
                int8=not args.no_int8,
                progress=not args.quiet,
            )
        )
    except registry.UnknownModelError as exc:
        print(f"cuekit models build: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "cache_dir": str(result.cache_dir),
                    "built": result.built,
                    "cached": result.cached,
                    "seconds": round(result.seconds, 2),
                    "manifest": result.manifest,
                }
            )
        )
    else:
        _list(store, False)
    return 0
