"""Graph rewrites that make onnxruntime faster on the converted models without changing their outputs.

- `fold_constant_casts`: TFLite's DEQUANTIZE of fp16 weights becomes Cast(fp16 initializer); folding
  it stores fp32 initializers, so nothing is converted at load and the Cast nodes are gone.
- `prelu_to_relu`: onnxruntime runs PRelu as an unfused elementwise kernel (43% of palm time in the
  probe). Relu(x) + a * Min(x, 0) computes the same bits with kernels onnxruntime runs fast; the
  probe's Relu(x) + (-a) * Relu(-x) is kept as form "neg" (one op more; the same speed within noise).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def fold_constant_casts(model: onnx.ModelProto) -> int:
    """Replace Cast(initializer) nodes by initializers of the cast type, in place. Returns the count."""
    inits = _initializers(model)
    kept, folded = [], 0
    for node in model.graph.node:
        if node.op_type == "Cast" and node.input[0] in inits:
            to = next(a.i for a in node.attribute if a.name == "to")
            arr = numpy_helper.to_array(inits[node.input[0]])
            arr = arr.astype(helper.tensor_dtype_to_np_dtype(to))
            model.graph.initializer.append(numpy_helper.from_array(arr, node.output[0]))
            folded += 1
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    _drop_unused_initializers(model)
    return folded


def prelu_to_relu(model: onnx.ModelProto, form: str = "min") -> int:
    """Rewrite PRelu(x, a) with constant slopes a, in place. Returns the number rewritten.

    form "min": Relu(x) + a * Min(x, 0)  (4 elementwise ops; the default)
    form "neg": Relu(x) + (-a) * Relu(-x)  (5 ops; the form the probe measured; same speed here)
    Both are bit-identical to PRelu: for x > 0 the second term is a signed zero and x + (+-0) = x;
    for x < 0 the first term is 0 and the second is exactly a*x (negation is exact).
    Run after `fold_constant_casts` so the slopes are initializers.
    """
    if form not in ("min", "neg"):
        raise ValueError(f"unknown PRelu rewrite form {form!r}; choose 'min' or 'neg'")
    inits = _initializers(model)
    new_nodes, count = [], 0
    for node in model.graph.node:
        if node.op_type != "PRelu" or node.input[1] not in inits:
            new_nodes.append(node)
            continue
        x, slope, y = node.input[0], node.input[1], node.output[0]
        base = node.name or y
        pos = helper.make_node("Relu", [x], [f"{y}_pos"], name=f"{base}_pos")
        total = helper.make_node("Add", [f"{y}_pos", f"{y}_scaled"], [y], name=f"{base}_sum")
        if form == "min":
            if "prelu_zero" not in inits:
                zero = numpy_helper.from_array(np.array(0, np.float32), "prelu_zero")
                model.graph.initializer.append(zero)
                inits["prelu_zero"] = zero
            new_nodes += [
                pos,
                helper.make_node("Min", [x, "prelu_zero"], [f"{y}_negpart"], name=f"{base}_negpart"),
                helper.make_node("Mul", [f"{y}_negpart", slope], [f"{y}_scaled"], name=f"{base}_scaled"),
                total,
            ]
        else:
            neg_slope = f"{slope}_neg"
            if neg_slope not in inits:
                neg = numpy_helper.from_array(-numpy_helper.to_array(inits[slope]).astype(np.float32), neg_slope)
                model.graph.initializer.append(neg)
                inits[neg_slope] = neg
            new_nodes += [
                pos,
                helper.make_node("Neg", [x], [f"{y}_negx"], name=f"{base}_negx"),
                helper.make_node("Relu", [f"{y}_negx"], [f"{y}_negpart"], name=f"{base}_negpart"),
                helper.make_node("Mul", [f"{y}_negpart", neg_slope], [f"{y}_scaled"], name=f"{base}_scaled"),
                total,
            ]
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    _drop_unused_initializers(model)
    return count


def optimise(model: onnx.ModelProto, prelu_form: str = "min") -> tuple[onnx.ModelProto, dict[str, int]]:
    """A rewritten copy of the model and how many nodes each rewrite changed."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    stats = {"casts_folded": fold_constant_casts(out), "prelu_rewritten": prelu_to_relu(out, prelu_form)}
    onnx.checker.check_model(out)
    return out, stats


__all__ = ["fold_constant_casts", "optimise", "prelu_to_relu"]
