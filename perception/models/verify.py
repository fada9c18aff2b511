"""Parity of a converted model with the reference runtime (ai-edge-litert) on the same inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from .quantize import session
from .registry import PARITY_RTOL, parity_atol


class ParityError(AssertionError):
    """A converted model's outputs differ from LiteRT's by more than the tolerance."""


@dataclass
class Result:
    runtime: str  # "ai-edge-litert X.Y" or "unavailable: <why>"
    inputs: int = 0
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # per output name
    max_abs_ref: dict[str, float] = field(default_factory=dict)  # output magnitude, for scale
    # max over elements of |diff| / (atol + rtol * |ref|): <= 1 means within tolerance everywhere
    tolerance_ratio: dict[str, float] = field(default_factory=dict)

    def within(self) -> bool:
        return all(r <= 1.0 for r in self.tolerance_ratio.values())

    @property
    def verified(self) -> bool:
        return self.inputs > 0


def litert_runtime() -> tuple[object | None, str]:
    try:
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, f"ai-edge-litert {version('ai-edge-litert')}"
    except (ImportError, OSError) as exc:  # optional dependency (pyproject extra "train")
        return None, f"unavailable: {exc}"


def run_litert(tflite_bytes: bytes, tensors: list[np.ndarray]) -> list[list[np.ndarray]]:
    Interpreter, why = litert_runtime()
    if Interpreter is None:
        raise RuntimeError(f"ai-edge-litert is {why}")
    it = Interpreter(model_content=tflite_bytes, num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    outs = [d["index"] for d in it.get_output_details()]
    results = []
    for x in tensors:
        it.set_tensor(inp, x)
        it.invoke()
        results.append([it.get_tensor(i).copy() for i in outs])
    return results


def compare(
    tflite_bytes: bytes,
    model: onnx.ModelProto,
    tensors: list[np.ndarray],
    reference: list[list[np.ndarray]] | None = None,
    rtol: float = PARITY_RTOL,
) -> Result:
    """Max abs difference per output between LiteRT and onnxruntime over `tensors`, and how it
    compares with the tolerance (registry.parity_atol per output, `rtol` relative)."""
    _, runtime = litert_runtime()
    if reference is None:
        if runtime.startswith("unavailable"):
            return Result(runtime=runtime)
        reference = run_litert(tflite_bytes, tensors)
    sess = session(model)
    in_name = sess.get_inputs()[0].name
    out_names = [o.name for o in sess.get_outputs()]
    diff = {n: 0.0 for n in out_names}
    mag = {n: 0.0 for n in out_names}
    ratio = {n: 0.0 for n in out_names}
    for x, ref in zip(tensors, reference):
        got = sess.run(None, {in_name: x})
        for n, r, g in zip(out_names, ref, got):
            if r.shape != g.shape:
                raise ParityError(f"output {n}: LiteRT shape {r.shape} != ONNX shape {g.shape}")
            diff[n] = max(diff[n], float(np.abs(r - g).max()))
            mag[n] = max(mag[n], float(np.abs(r).max()))
            tol = parity_atol(n) + rtol * np.abs(r)
            ratio[n] = max(ratio[n], float((np.abs(r - g) / tol).max()))
    return Result(runtime=runtime, inputs=len(tensors), max_abs_diff=diff, max_abs_ref=mag, tolerance_ratio=ratio)
