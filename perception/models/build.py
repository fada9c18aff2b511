"""The model build and its cache: wheel -> tflite -> ONNX (verified, rewritten) -> int8, with a manifest.

Layout of the cache (see `source.cache_dir`):
    wheels/<pinned mediapipe wheel>
    models/manifest.json       provenance, hashes, parity, int8 drift, per model and variant
    models/<name>.onnx         fp32, rewritten (what `ensure_model(name)` returns)
    models/<name>.int8.onnx    static int8 QDQ, only where accuracy holds
    models/LICENSE, NOTICE     the licence of the source and the notice for the derived files
Every cached file is checked against its sha256 on use; a mismatch rebuilds that model.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from . import cache, quantize, registry, rewrites, source, verify
from . import inputs as model_inputs
from .progress import Progress
from .registry import UnknownModelError
from .tflite_to_onnx import CONVERTER_VERSION, OPSET, convert
from .tflite_to_onnx import Options as ConvertOptions

MANIFEST_FORMAT = cache.MANIFEST_FORMAT

NOTICE = """CueKit model files derived from MediaPipe
===========================================

The ONNX files in this directory were converted by CueKit's own converter
(perception/models/tflite_to_onnx.py) from TFLite models shipped in the PyPI wheel
{wheel} (sha256 {sha256}), part of MediaPipe:

    MediaPipe, Copyright The MediaPipe Authors.
    Licensed under the Apache License, Version 2.0 (see LICENSE beside this file).

Changes made: the TFLite graphs were translated to ONNX (NCHW activations, fp16 weights stored as
fp32, PRelu rewritten as Relu(x) + (-a)*Relu(-x)); the files named *.int8.onnx are additionally
statically quantized to int8. Per-file hashes and the source file hashes are in manifest.json.
"""


class Int8NotOffered(UnknownModelError):
    """The int8 variant of a model is not built because it does not hold accuracy (reason given)."""


@dataclass
class Options:
    cache_dir: Path | None = None  # default: source.cache_dir()
    models: tuple[str, ...] = registry.MODEL_NAMES
    int8: bool = True
    force: bool = False  # rebuild even when cached and valid
    progress: bool = True
    verify_per_image: int = 2  # inputs per photo for the LiteRT comparison
    int8_max_mean_drift_px: float = 2.5


@dataclass
class Result:
    cache_dir: Path
    manifest_path: Path
    built: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ModelStore:
    """One cache directory of built models. Safe to use from several processes (file lock)."""

    def __init__(self, cache_dir: Path | str | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else source.cache_dir()
        self.root = self.cache_dir / "models"
        self.wheel_dir = self.cache_dir / "wheels"
        self.manifest_path = self.root / "manifest.json"

    # ---- manifest ------------------------------------------------------------------------------
    def manifest(self) -> dict:
        return cache.read_manifest(self.root)

    def _save_manifest(self, data: dict) -> None:
        _atomic_write(self.manifest_path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def check(self, name: str, variant: str = "fp32", manifest: dict | None = None) -> tuple[Path | None, str]:
        """(path, "ok") when the variant is built by this converter version and its hash matches,
        else (None, why not)."""
        return cache.check(self.root, name, variant, manifest)

    @contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # ---- public --------------------------------------------------------------------------------
    def ensure(self, name: str, variant: str = "fp32", progress: bool = True) -> Path:
        """Path of a verified model file, building it (and fetching the wheel) on first use."""
        spec = registry.spec(name)
        if variant not in registry.VARIANTS:
            raise UnknownModelError(
                f"unknown variant {variant!r} for {name}; choose from {', '.join(registry.VARIANTS)}"
            )
        path, why = self.check(name, variant)
        if path is not None:
            return path
        with self._locked():
            manifest = self.manifest()
            path, why = self.check(name, variant, manifest)  # another process may have built it
            if path is not None:
                return path
            entry = manifest["models"].get(name)
            if variant == "int8" and entry and entry.get("converter_version") == CONVERTER_VERSION:
                status = entry.get("int8", {})
                if status.get("status") in ("rejected", "not attempted"):
                    raise Int8NotOffered(f"no int8 variant of {name}: {status.get('reason')}; use fp32")
            Progress(progress).say(f"{name} ({variant}): {why}; building")
            self._build_locked(
                Options(
                    cache_dir=self.cache_dir,
                    models=(spec.name,),
                    force=True,
                    progress=progress,
                    int8=variant == "int8" or spec.int8_candidate,
                )
            )
            path, why = self.check(name, variant)
            if path is None:
                entry = self.manifest()["models"].get(name, {})
                reason = entry.get("int8", {}).get("reason", why)
                if variant == "int8":
                    raise Int8NotOffered(f"no int8 variant of {name}: {reason}; use fp32")
                raise RuntimeError(f"building {name} ({variant}) did not produce a valid file: {why}")
            return path

    def tflite(self, name: str, progress: bool = False) -> bytes:
        """The original .tflite of `name`, read from the cached pinned wheel (fetched if absent)."""
        spec = registry.spec(name)
        with self._locked():
            wheel = source.fetch_wheel(self.wheel_dir, Progress(progress))
        return source.read_member(wheel, spec.wheel_path)

    def build(self, options: Options | None = None) -> Result:
        opt = options or Options(cache_dir=self.cache_dir)
        for n in opt.models:
            registry.spec(n)
        with self._locked():
            return self._build_locked(opt)

    # ---- building ------------------------------------------------------------------------------
    def _build_locked(self, opt: Options) -> Result:
        t0 = time.monotonic()
        prog = Progress(opt.progress)
        manifest = self.manifest()
        result = Result(cache_dir=self.cache_dir, manifest_path=self.manifest_path)
        todo = []
        for name in opt.models:
            ok = all(self.check(name, v, manifest)[0] is not None for v in self._expected_variants(name, manifest, opt))
            if ok and not opt.force:
                result.cached.append(name)
                prog.say(f"{name}: cached and verified by hash")
            else:
                todo.append(name)
        if todo:
            wheel = source.fetch_wheel(self.wheel_dir, prog)
            manifest["source"] = {
                "requirement": registry.WHEEL_REQUIREMENT,
                "wheel": wheel.name,
                "sha256": registry.WHEEL_SHA256,
                "index": "PyPI",
                "licence": registry.LICENCE,
            }
            manifest["converter"] = {"name": "cuekit.tflite_to_onnx", "version": CONVERTER_VERSION, "opset": OPSET}
            self._write_licence(wheel)
            images = None
            for i, name in enumerate(todo, 1):
                if images is None:
                    images = model_inputs.load_images()
                    prog.say(f"verification inputs: {images.source}")
                prog.say(f"[{i}/{len(todo)}] {name}")
                manifest["models"][name] = self._build_one(registry.spec(name), wheel, images, opt, prog)
                self._save_manifest(manifest)
                result.built.append(name)
        result.seconds = time.monotonic() - t0
        result.manifest = manifest
        prog.say(f"done in {result.seconds:.1f}s: built {len(result.built)}, cached {len(result.cached)}")
        return result

    def _expected_variants(self, name: str, manifest: dict, opt: Options) -> list[str]:
        entry = manifest["models"].get(name, {})
        int8_known = entry.get("int8", {}).get("status") in ("rejected", "not attempted", "built")
        if opt.int8 and registry.spec(name).int8_candidate and not int8_known:
            return ["fp32", "int8"]
        return ["fp32"] + (["int8"] if entry.get("int8", {}).get("status") == "built" else [])

    def _write_licence(self, wheel: Path) -> None:
        text = source.licence_text(wheel)
        if text:
            _atomic_write(self.root / "LICENSE", text.encode())
        _atomic_write(self.root / "NOTICE", NOTICE.format(wheel=wheel.name, sha256=registry.WHEEL_SHA256).encode())

    def _save_model(self, model: onnx.ModelProto, filename: str) -> dict:
        data = model.SerializeToString()
        _atomic_write(self.root / filename, data)
        return {"file": filename, "sha256": source.sha256_bytes(data), "bytes": len(data)}

    def _build_one(
        self, spec: registry.ModelSpec, wheel: Path, images: model_inputs.ImageSet, opt: Options, prog: Progress
    ) -> dict:
        t0 = time.monotonic()
        data = source.read_member(wheel, spec.wheel_path)
        conv = convert(
            data,
            ConvertOptions(
                input_names=[registry.INPUT_NAME],
                output_names=list(spec.output_names),
                graph_name=spec.name,
                doc_string=f"{spec.summary}; from {spec.wheel_path} in {wheel.name}, Apache-2.0",
            ),
        )
        fast, stats = rewrites.optimise(conv.model)
        prog.say(f"  converted: {sum(conv.op_counts.values())} TFLite ops {conv.op_counts}; rewrites {stats}")

        tensors = model_inputs.model_inputs(spec, images, per_image=opt.verify_per_image)
        _, runtime = verify.litert_runtime()
        parity: dict = {"runtime": runtime, "inputs": len(tensors), "input_source": images.source}
        if runtime.startswith("unavailable"):
            prog.say(f"  WARNING: not verified against LiteRT ({runtime})")
        else:
            ref = verify.run_litert(data, tensors)
            raw = verify.compare(data, conv.model, tensors, ref)
            rewritten = verify.compare(data, fast, tensors, ref)
            parity["max_abs_diff"] = rewritten.max_abs_diff
            parity["max_abs_ref"] = rewritten.max_abs_ref
            parity["faithful_max_abs_diff"] = raw.max_abs_diff
            parity["rewrite_identical"] = _identical(conv.model, fast, tensors)
            parity["tolerance"] = {
                "atol": {n: registry.parity_atol(n) for n in spec.output_names},
                "rtol": registry.PARITY_RTOL,
            }
            parity["tolerance_ratio"] = rewritten.tolerance_ratio
            over = {n: r for n, r in rewritten.tolerance_ratio.items() if r > 1.0}
            prog.say(
                f"  parity vs {runtime} on {len(tensors)} inputs: max abs diff (worst diff/tolerance) "
                + ", ".join(
                    f"{k} {v:.2e} ({rewritten.tolerance_ratio[k]:.2f})" for k, v in rewritten.max_abs_diff.items()
                )
                + f"; rewrite output-identical: {parity['rewrite_identical']}"
            )
            if over or not parity["rewrite_identical"]:
                raise verify.ParityError(
                    f"{spec.name}: outputs over tolerance vs LiteRT (diff/tolerance): "
                    + ", ".join(f"{n} {r:.3g}" for n, r in over.items())
                    + f"; rewrite output-identical: {parity['rewrite_identical']}"
                )
        entry = {
            "converter_version": CONVERTER_VERSION,
            "summary": spec.summary,
            "licence": registry.LICENCE,
            "source": {
                "wheel": wheel.name,
                "wheel_sha256": registry.WHEEL_SHA256,
                "member": spec.wheel_path,
                "tflite_sha256": source.sha256_bytes(data),
                "tflite_bytes": len(data),
            },
            "input": {
                "name": registry.INPUT_NAME,
                "shape": conv.input_shapes[registry.INPUT_NAME],
                "dtype": "float32",
                "layout": "NHWC, RGB",
                "range": list(spec.input_range),
            },
            "outputs": [
                {"name": n, "shape": conv.output_shapes[n], "doc": d}
                for n, d in zip(spec.output_names, spec.output_doc)
            ],
            "tflite_ops": conv.op_counts,
            "rewrites": stats,
            "parity": parity,
            "variants": {"fp32": self._save_model(fast, f"{spec.name}.onnx")},
            "int8": {"status": "not attempted", "reason": spec.int8_note},
        }
        if spec.int8_candidate and opt.int8:
            entry["int8"], int8_model = self._int8(spec, fast, images, opt, prog)
            if int8_model is not None:
                entry["variants"]["int8"] = self._save_model(int8_model, f"{spec.name}.int8.onnx")
        elif spec.int8_candidate:
            entry["int8"] = {"status": "skipped", "reason": "build ran without int8"}
        entry["built_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        entry["build_seconds"] = round(time.monotonic() - t0, 2)
        return entry

    def _int8(self, spec, fast, images, opt: Options, prog: Progress):
        sess = quantize.session(fast)
        i_presence = list(spec.output_names).index("presence")
        i_landmarks = list(spec.output_names).index("landmarks")

        def run(x: np.ndarray) -> tuple[float, np.ndarray]:
            outs = sess.run(None, {registry.INPUT_NAME: x})
            return float(outs[i_presence].ravel()[0]), outs[i_landmarks].reshape(21, 3)

        crops = model_inputs.hand_crops(run, spec, images)
        # two folds split by photo, so every crop is checked by a model calibrated without its hand;
        # the shipped model is then calibrated on all crops
        folds = [([x for k, x in crops if k % 2 == f], [x for k, x in crops if k % 2 != f]) for f in (0, 1)]
        if min(len(c) for c, _ in folds) < 3:
            return {
                "status": "rejected",
                "reason": f"too few hand crops ({len(crops)}) to calibrate and check on separate photos",
            }, None
        prog.say(
            f"  int8: {len(crops)} upright hand crops from {len({k for k, _ in crops})} photos; "
            "2-fold drift check by photo, then calibrating on all"
        )
        checks = [(quantize.session(quantize.quantize(fast, calib).model), held) for calib, held in folds]
        drift = quantize.pooled_landmark_drift(sess, checks)
        q = quantize.quantize(fast, [x for _, x in crops])
        ok = drift["mean_px"] <= opt.int8_max_mean_drift_px
        prog.say(
            f"  int8 landmark drift at 224 px: mean {drift['mean_px']:.2f}, p95 {drift['p95_px']:.2f}, "
            f"max {drift['max_px']:.2f} -> {'kept' if ok else 'rejected'}"
        )
        status = {
            "status": "built" if ok else "rejected",
            "drift": drift,
            "calibration": {
                "crops": len(crops),
                "source": images.source,
                "crops_from": "upright ROI from fp32 landmarks of the best window "
                "per photo, + scale 1.15 and +12 degree variants",
                "drift_check": "2-fold by photo (even/odd); shipped model calibrated on all",
                "method": "static QDQ, MinMax, per-channel int8 weights, uint8 activations",
                "float_nodes": q.excluded_nodes,
            },
            "limit_mean_px": opt.int8_max_mean_drift_px,
        }
        if not ok:
            status["reason"] = f"mean landmark drift {drift['mean_px']:.2f} px exceeds {opt.int8_max_mean_drift_px} px"
        return status, (q.model if ok else None)


def _identical(a: onnx.ModelProto, b: onnx.ModelProto, tensors: list[np.ndarray]) -> bool:
    sa, sb = quantize.session(a), quantize.session(b)
    name = sa.get_inputs()[0].name
    return all(np.array_equal(p, q) for x in tensors for p, q in zip(sa.run(None, {name: x}), sb.run(None, {name: x})))


def ensure_model(name: str, variant: str = "fp32") -> Path:
    """Path to the ONNX file of `name` ("fp32" or "int8"), built into the user cache on first use.

    Raises UnknownModelError for an unknown name or variant, Int8NotOffered when the int8 variant
    of that model does not hold accuracy.
    """
    return ModelStore().ensure(name, variant)


def tflite_model(name: str) -> bytes:
    """The source .tflite of `name` from the pinned wheel in the user cache (for LiteRT baselines)."""
    return ModelStore().tflite(name)
