"""`cuekit models bench`: median latency per model, 1 thread, on real inputs.

Columns: LiteRT on the original .tflite; onnxruntime on the faithful conversion; onnxruntime on the
rewritten model (what ships as fp32); onnxruntime on a static int8 QDQ model. For models whose int8
is not shipped, the int8 model is quantized here only to be timed and its accuracy cost reported.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from . import inputs as model_inputs
from . import quantize, registry, rewrites
from .build import ModelStore
from .progress import Progress
from .tflite_to_onnx import Options as ConvertOptions
from .tflite_to_onnx import convert
from .verify import litert_runtime


def _runner(sess):
    return lambda t: sess.run(None, {"image": t})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


def _int8_cost(spec: registry.ModelSpec, fp32, int8, tensors: list[np.ndarray]) -> dict:
    """How far the int8 model's outputs move from fp32 (scores as probabilities)."""
    out: dict[str, float] = {}
    flips = 0
    for x in tensors:
        a, b = fp32.run(None, {"image": x}), int8.run(None, {"image": x})
        for n, p, q in zip(spec.output_names, a, b):
            if "logit" in n:
                p, q = _sigmoid(p), _sigmoid(q)
                flips += int(np.sum((p > 0.5) != (q > 0.5)))
                n = n.replace("_logits", "").replace("_logit", "") + "_probability"
            out[n] = max(out.get(n, 0.0), float(np.abs(p - q).max()))
    if any("logit" in n for n in spec.output_names):
        out["decisions_flipped_at_0.5"] = flips
    return out


def _interleaved_ms(runners: dict, x: np.ndarray, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """(median, minimum) ms per runner, alternating runners each round so load changes hit them
    alike. On a shared machine the minimum is the better estimate of the uncontended time."""
    for fn in runners.values():
        for _ in range(5):
            fn(x)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(runs):
        for k, fn in runners.items():
            t = time.perf_counter()
            fn(x)
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}, {k: min(v) for k, v in times.items()}


def measure(store: ModelStore, names: list[str], runs: int, prog: Progress) -> dict:
    Interpreter, runtime = litert_runtime()
    images = model_inputs.load_images()
    rows = {}
    for name in names:
        spec = registry.spec(name)
        prog.say(f"timing {name}")
        fast_path = store.ensure(name)
        data = store.tflite(name)
        faithful = convert(
            data, ConvertOptions(input_names=[registry.INPUT_NAME], output_names=list(spec.output_names))
        ).model
        tensors = model_inputs.model_inputs(spec, images, per_image=2)
        runners = {}
        if Interpreter is not None:
            it = Interpreter(model_content=data, num_threads=1)
            it.allocate_tensors()
            idx = it.get_input_details()[0]["index"]

            def lite(t, it=it, idx=idx):
                it.set_tensor(idx, t)
                it.invoke()

            runners["litert"] = lite
        runners["ort_fp32"] = _runner(quantize.session(faithful))
        s_fast = quantize.session(fast_path)
        runners["ort_rewritten"] = _runner(s_fast)
        if any(n.op_type == "PRelu" for n in faithful.graph.node):
            runners["ort_rewritten_neg_form"] = _runner(quantize.session(rewrites.optimise(faithful, "neg")[0]))
        entry = store.manifest()["models"][name]
        row: dict = {}
        if entry.get("int8", {}).get("status") == "built":
            s_int8 = quantize.session(store.ensure(name, "int8"))
            row["int8_shipped"] = True
        else:
            # quantized here only to be timed and to show what int8 would cost in accuracy
            q = quantize.quantize(onnx_load(fast_path), tensors[0::2])
            s_int8 = quantize.session(q.model)
            row["int8_shipped"] = False
        runners["ort_int8"] = _runner(s_int8)
        med, best = _interleaved_ms(runners, tensors[0], runs)
        row.update(med)
        row["min_ms"] = best
        if "presence" in spec.output_names:
            # landmarks only mean something on crops with a hand: the build's drift measurement
            row["int8_accuracy"] = dict(entry["int8"].get("drift", {}))
        else:
            row["int8_accuracy"] = _int8_cost(spec, s_fast, s_int8, tensors[1::2])
        rows[name] = row
        prog.say(
            "  median "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in med.items())
            + "; min "
            + ", ".join(f"{k} {v:.2f}" for k, v in best.items())
        )
    return {
        "runtime": runtime,
        "threads": 1,
        "runs": runs,
        "input_source": images.source,
        "ms": rows,
        "ratios": {
            n: {
                "rewritten_vs_fp32": r["ort_fp32"] / r["ort_rewritten"],
                "int8_vs_rewritten": r["ort_rewritten"] / r["ort_int8"],
                **(
                    {
                        "litert_vs_shipped_ort": min(r["ort_rewritten"], r["ort_int8"] if r["int8_shipped"] else np.inf)
                        / r["litert"]
                    }
                    if "litert" in r
                    else {}
                ),
            }
            for n, r in rows.items()
        },
    }


def onnx_load(path: Path):
    import onnx

    return onnx.load(path)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["ms"])
    cols = [
        ("litert", "LiteRT (tflite)"),
        ("ort_fp32", "ORT fp32, faithful"),
        ("ort_rewritten", "ORT fp32, rewritten"),
        ("ort_int8", "ORT int8 QDQ"),
    ]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    w = 0.2
    for i, (key, label) in enumerate(cols):
        vals = [result["ms"][n].get(key, np.nan) for n in names]
        xs = np.arange(len(names)) + (i - 1.5) * w
        bars = ax.bar(xs, vals, w, label=label)
        ax.scatter(
            xs,
            [result["ms"][n].get("min_ms", {}).get(key, np.nan) for n in names],
            marker="_",
            color="black",
            s=60,
            zorder=3,
            label="minimum (uncontended)" if i == 0 else None,
        )
        if key == "ort_int8":
            for b, n in zip(bars, names):
                if not result["ms"][n]["int8_shipped"]:
                    b.set_hatch("//")
                    b.set_alpha(0.5)
    ax.set_xticks(np.arange(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
    ax.set_ylabel("ms per inference, 1 thread (bar: median)")
    ax.set_title(
        f"Model latency, {result['runs']} interleaved runs (hatched int8: measured only, not shipped)", fontsize=10
    )
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_bench(store: ModelStore, args) -> int:
    prog = Progress(True, "cuekit models bench")
    names = list(args.models) or list(registry.MODEL_NAMES)
    for n in names:
        registry.spec(n)
    result = measure(store, names, args.runs, prog)
    if args.plot:
        plot(result, args.plot)
        prog.say(f"plot saved to {args.plot}")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'model':<27} {'LiteRT':>8} {'ORT fp32':>9} {'rewritten':>10} {'int8':>8}")
        for n, r in result["ms"].items():
            lite = f"{r['litert']:.2f}" if "litert" in r else "-"
            star = "" if r["int8_shipped"] else "*"
            print(f"{n:<27} {lite:>8} {r['ort_fp32']:>9.2f} {r['ort_rewritten']:>10.2f} {r['ort_int8']:>7.2f}{star}")
        print("* int8 measured only, not shipped", file=sys.stderr)
    return 0
