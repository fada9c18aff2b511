"""Train the static gesture classifier on synthetic poses and export it as ONNX.

    python -m perception.hands.train_gestures [--seed 7] [--per-class 1500] [--out assets/hands]

Data: `perception.hands.synth` (kinematic hand model: per-class joint-angle distributions, random 3-D
rotation, size, perspective and landmark noise), turned into `landmarks.features`. Model: a small MLP
(features -> 128 -> 64 -> classes, ReLU, softmax) trained with Adam in numpy; the feature
standardisation is folded into the ONNX graph, built with `onnx.helper`. The same seed gives the same
weights and the same file. Writes gesture_classifier.onnx and gesture_classifier.json (class names,
feature version, provenance, held-out accuracy).
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

import assets
from perception.hands import synth
from perception.hands.landmarks import N_FEATURES, features

ASSETS = assets.path("hands")
FEATURE_VERSION = "perception.hands.landmarks.features/1"


def _log(msg: str) -> None:
    print(f"[train_gestures] {msg}", file=sys.stderr, flush=True)


def _init(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.normal(0, np.sqrt(2.0 / a), (a, b)), np.zeros(b)) for a, b in itertools.pairwise(sizes)]


def _forward(params, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    acts = [x]
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = np.maximum(h, 0.0)
        acts.append(h)
    z = h - h.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True), acts


def train_mlp(X: np.ndarray, y: np.ndarray, n_classes: int, seed: int, hidden=(128, 64), epochs: int = 40,
              batch: int = 256, lr: float = 3e-3, weight_decay: float = 1e-4,
              X_val: np.ndarray | None = None, y_val: np.ndarray | None = None):
    """Adam on softmax cross-entropy; lr halves over the last third. Returns the weight list."""
    rng = np.random.default_rng(seed)
    params = _init(rng, [X.shape[1], *hidden, n_classes])
    m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    b1, b2, eps, step = 0.9, 0.999, 1e-8, 0
    Y = np.eye(n_classes)[y]
    for ep in range(epochs):
        rate = lr * (0.5 if ep >= 2 * epochs // 3 else 1.0) * (0.5 if ep >= 5 * epochs // 6 else 1.0)
        order = rng.permutation(len(X))
        loss = 0.0
        for s in range(0, len(X), batch):
            idx = order[s:s + batch]
            p, acts = _forward(params, X[idx])
            loss += -np.sum(np.log(p[np.arange(len(idx)), y[idx]] + 1e-12))
            g = (p - Y[idx]) / len(idx)
            step += 1
            for i in range(len(params) - 1, -1, -1):
                W, b = params[i]
                gW = acts[i].T @ g + weight_decay * W
                gb = g.sum(axis=0)
                if i > 0:
                    g = (g @ W.T) * (acts[i] > 0)
                for j, (grad, mm, vv) in enumerate(((gW, m[i][0], v[i][0]), (gb, m[i][1], v[i][1]))):
                    mm *= b1
                    mm += (1 - b1) * grad
                    vv *= b2
                    vv += (1 - b2) * grad * grad
                    upd = rate * (mm / (1 - b1 ** step)) / (np.sqrt(vv / (1 - b2 ** step)) + eps)
                    if j == 0:
                        W -= upd
                    else:
                        b -= upd
        msg = f"epoch {ep + 1}/{epochs} loss {loss / len(X):.4f}"
        if X_val is not None and (ep % 5 == 4 or ep == epochs - 1):
            acc = float(np.mean(_forward(params, X_val)[0].argmax(1) == y_val))
            msg += f" val acc {acc:.4f}"
        _log(msg)
    return params


def to_onnx(params, mean: np.ndarray, std: np.ndarray, classes: list[str]):
    """features [N,F] -> probabilities [N,C]; standardisation folded in as Sub/Div."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(mean.astype(np.float32), "feat_mean"),
             numpy_helper.from_array(std.astype(np.float32), "feat_std")]
    nodes = [helper.make_node("Sub", ["features", "feat_mean"], ["centered"], name="standardise_sub"),
             helper.make_node("Div", ["centered", "feat_std"], ["h0"], name="standardise_div")]
    cur = "h0"
    for i, (W, b) in enumerate(params):
        inits += [numpy_helper.from_array(W.astype(np.float32), f"W{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        out = f"z{i + 1}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"b{i}"], [out], name=f"dense{i}"))
        if i < len(params) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"], name=f"relu{i}"))
            cur = f"h{i + 1}"
        else:
            cur = out
    nodes.append(helper.make_node("Softmax", [cur], ["probabilities"], axis=1, name="softmax"))
    graph = helper.make_graph(
        nodes, "gesture_classifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", int(mean.shape[0])])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(classes)])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="cuekit.train_gestures")
    model.ir_version = 8
    model.doc_string = "CueKit static hand gesture classifier; classes: " + ",".join(classes)
    onnx.checker.check_model(model)
    return model


def plot_confusion(path: Path, model_path: Path | None = None, seed: int = 424242,
                   per_class: int = 120) -> dict[str, float]:
    """Confusion matrices of a classifier (default: the shipped one) and the rule baseline on held-out
    synthetic poses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perception.hands import rules
    from perception.hands.classifier import DEFAULT_MODEL, GestureClassifier, GestureClassifierOptions

    classes = list(synth.CLASSES)
    P, y = synth.dataset(per_class, seed)
    clf = GestureClassifier(GestureClassifierOptions(model_path=model_path or DEFAULT_MODEL))
    preds = {"trained classifier (ONNX)": [classes.index(r.gesture) for r in clf.classify_batch(P)],
             "rule baseline": [classes.index(rules.classify(p).gesture) for p in P]}
    fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    acc = {}
    for ax, (name, pr) in zip(axes, preds.items(), strict=True):
        m = np.zeros((len(classes), len(classes)))
        for t, q in zip(y, pr, strict=True):
            m[t, q] += 1
        m /= m.sum(axis=1, keepdims=True)
        acc[name] = float(np.mean(np.array(pr) == y))
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        for i in range(len(classes)):
            for j in range(len(classes)):
                if m[i, j] >= 0.01:
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] > 0.5 else "black")
        ax.set_title(f"{name}: accuracy {acc[name]:.3f}", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.suptitle(f"held-out synthetic poses (seed {seed}, {per_class} per class)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perception.hands.train_gestures", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-class", type=int, default=1500, help="training poses per class")
    ap.add_argument("--val-per-class", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument("--out", type=Path, default=ASSETS)
    ap.add_argument("--plot", type=Path, default=None,
                    help="after training, save confusion matrices (shipped model vs rules) here")
    ap.add_argument("--plot-only", action="store_true", help="only make the --plot, do not train")
    args = ap.parse_args(argv)
    if args.plot_only:
        if args.plot is None:
            ap.error("--plot-only needs --plot PATH")
        _log(f"confusion plot: {plot_confusion(args.plot, args.out / 'gesture_classifier.onnx')}")
        return 0
    t0 = time.monotonic()
    classes = list(synth.CLASSES)
    opt = synth.SynthOptions()
    _log(f"generating {args.per_class} poses x {len(classes)} classes (seed {args.seed})")
    P, y = synth.dataset(args.per_class, args.seed, opt)
    Pv, yv = synth.dataset(args.val_per_class, args.seed + 1000, opt)
    X, Xv = features(P).astype(np.float64), features(Pv).astype(np.float64)
    assert X.shape[1] == N_FEATURES
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
    params = train_mlp((X - mean) / std, y, len(classes), args.seed, epochs=args.epochs,
                       weight_decay=args.weight_decay,
                       X_val=(Xv - mean) / std, y_val=yv)
    model = to_onnx(params, mean, std, classes)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "gesture_classifier.onnx"
    data = model.SerializeToString()
    onnx_path.write_bytes(data)

    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pv = sess.run(None, {"features": Xv.astype(np.float32)})[0].argmax(1)
    per_class = {c: round(float(np.mean(pv[yv == k] == k)), 4) for k, c in enumerate(classes)}
    acc = float(np.mean(pv == yv))
    meta = {
        "classes": classes,
        "feature_version": FEATURE_VERSION,
        "n_features": N_FEATURES,
        "input": "features", "output": "probabilities",
        "provenance": {
            "trainer": "perception/hands/train_gestures.py",
            "data": "synthetic poses from perception/hands/synth.py (kinematic hand model); no real images",
            "seed": args.seed, "per_class": args.per_class, "epochs": args.epochs,
            "weight_decay": args.weight_decay,
            "architecture": f"MLP {N_FEATURES}-128-64-{len(classes)} ReLU softmax, Adam, numpy",
            "synth_options": asdict(opt),
            "onnx_sha256": hashlib.sha256(data).hexdigest(),
        },
        "heldout": {"seed": args.seed + 1000, "per_class": args.val_per_class, "accuracy": round(acc, 4),
                    "per_class_accuracy": per_class},
    }
    (args.out / "gesture_classifier.json").write_text(json.dumps(meta, indent=2) + "\n")
    _log(f"held-out accuracy {acc:.4f}; wrote {onnx_path} ({len(data)} bytes) in {time.monotonic() - t0:.0f}s")
    if args.plot is not None:
        _log(f"confusion plot: {plot_confusion(args.plot, onnx_path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
