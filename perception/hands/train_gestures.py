"""Train the static gesture classifier on real and synthetic hands and export it as ONNX.

    python -m perception.hands.train_gestures [--seed 7] [--per-class 1500] [--out assets/hands]
        [--hagrid ../shared/data/hands_hagrid] [--kazuhito ../shared/data/hand_landmarks/kazuhito00]
        [--cv 5] [--synthetic-only]

Data, turned into `landmarks.features`:
- real: the DEVELOPER half only (perception/hands/hagrid.split_of) of the HaGRID crops, through CueKit's
  own palm detector + landmark model (hagrid.landmark_table), labelled by hagrid.HAGRID_TO_CUEKIT
  (mute/three/two_up -> none); and Kazuhito00's real MediaPipe 2-D landmarks (Open -> open_palm,
  Close -> fist, Pointer -> point; z = 0), Apache-2.0. Each real hand is used `--real-copies` times with
  random mirror, in-plane rotation (+-25 degrees) and scale, and 1% landmark noise;
- synthetic: `perception.hands.synth` (kinematic hand model: per-class joint-angle distributions, random
  3-D rotation, size, perspective and landmark noise) for the classes real data lacks (pinch,
  i_love_you) and for variety.
`--cv K` first reports K-fold cross-validated accuracy on the HaGRID developer half, folds by image
(sha1 of the file name), each fold's model trained without that fold's images. Model: a small MLP
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
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
KAZUHITO_LABELS = {0: "open_palm", 1: "fist", 2: "point"}  # keypoint_classifier_label.csv: Open, Close, Pointer
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


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    seed: int,
    hidden=(128, 64),
    epochs: int = 40,
    batch: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
):
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
            idx = order[s : s + batch]
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
                    upd = rate * (mm / (1 - b1**step)) / (np.sqrt(vv / (1 - b2**step)) + eps)
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

    inits = [
        numpy_helper.from_array(mean.astype(np.float32), "feat_mean"),
        numpy_helper.from_array(std.astype(np.float32), "feat_std"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "feat_mean"], ["centered"], name="standardise_sub"),
        helper.make_node("Div", ["centered", "feat_std"], ["h0"], name="standardise_div"),
    ]
    cur = "h0"
    for i, (W, b) in enumerate(params):
        inits += [
            numpy_helper.from_array(W.astype(np.float32), f"W{i}"),
            numpy_helper.from_array(b.astype(np.float32), f"b{i}"),
        ]
        out = f"z{i + 1}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"b{i}"], [out], name=f"dense{i}"))
        if i < len(params) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"], name=f"relu{i}"))
            cur = f"h{i + 1}"
        else:
            cur = out
    nodes.append(helper.make_node("Softmax", [cur], ["probabilities"], axis=1, name="softmax"))
    graph = helper.make_graph(
        nodes,
        "gesture_classifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", int(mean.shape[0])])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(classes)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cuekit.train_gestures")
    model.ir_version = 8
    model.doc_string = "CueKit static hand gesture classifier; classes: " + ",".join(classes)
    onnx.checker.check_model(model)
    return model


def plot_confusion(
    path: Path, model_path: Path | None = None, seed: int = 424242, per_class: int = 120
) -> dict[str, float]:
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
    preds = {
        "trained classifier (ONNX)": [classes.index(r.gesture) for r in clf.classify_batch(P)],
        "rule baseline": [classes.index(rules.classify(p).gesture) for p in P],
    }
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
                    ax.text(
                        j,
                        i,
                        f"{m[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if m[i, j] > 0.5 else "black",
                    )
        ax.set_title(f"{name}: accuracy {acc[name]:.3f}", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.suptitle(f"held-out synthetic poses (seed {seed}, {per_class} per class)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return acc


def hagrid_developer_half(
    data: Path, classes: list[str]
) -> tuple[dict[str, np.ndarray | None], dict[str, int], dict[str, str]]:
    """HaGRID developer-half crops through our pipeline -> ({path: landmarks or None}, {path: class index},
    {path: folder})."""
    from perception.hands import hagrid

    table = hagrid.landmark_table(data, progress=_log)
    dev = {p: r for p, r in table.items() if r["split"] == "dev"}
    return (
        {p: r["landmarks"] for p, r in dev.items()},
        {p: classes.index(hagrid.cuekit_label(r["folder"])) for p, r in dev.items()},
        {p: r["folder"] for p, r in dev.items()},
    )


def kazuhito_landmarks(folder: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """keypoint.csv (label, 21 x (x, y) wrist-relative, max-abs normalised) -> (N,21,3) with z = 0, labels.
    Malformed rows are counted and skipped."""
    rows, labels, bad = [], [], 0
    for line in (folder / "keypoint.csv").read_text().splitlines():
        parts = line.strip().split(",")
        try:
            lab, vals = int(parts[0]), np.array([float(v) for v in parts[1:]])
        except ValueError:
            bad += 1
            continue
        if lab not in KAZUHITO_LABELS or vals.shape != (42,) or not np.all(np.isfinite(vals)):
            bad += 1
            continue
        rows.append(np.concatenate([vals.reshape(21, 2) * 100.0, np.zeros((21, 1))], axis=1))
        labels.append(classes.index(KAZUHITO_LABELS[lab]))
    if bad:
        _log(f"kazuhito: skipped {bad} malformed rows")
    return np.stack(rows), np.array(labels)


def augment(L: np.ndarray, rng: np.random.Generator, copies: int) -> np.ndarray:
    """`copies` variants of each hand: random mirror, in-plane rotation +-25 degrees about the wrist,
    1% (of the palm size) landmark noise. (N,21,3) -> (N*copies,21,3)."""
    out = np.repeat(L, copies, axis=0).copy()
    n = len(out)
    flip = rng.random(n) < 0.5
    out[flip, :, 0] = 2 * out[flip, :1, 0] - out[flip, :, 0]
    a = rng.uniform(-np.radians(25), np.radians(25), n)
    c, s = np.cos(a), np.sin(a)
    rel = out[:, :, :2] - out[:, :1, :2]
    out[:, :, 0] = out[:, :1, 0] + c[:, None] * rel[:, :, 0] - s[:, None] * rel[:, :, 1]
    out[:, :, 1] = out[:, :1, 1] + s[:, None] * rel[:, :, 0] + c[:, None] * rel[:, :, 1]
    size = np.linalg.norm(rel[:, 9], axis=1)
    out += rng.normal(0, 0.01, out.shape) * size[:, None, None]
    return out


def _predict(params, mean, std, X: np.ndarray, min_confidence: float = 0.5) -> np.ndarray:
    p = _forward(params, (X - mean) / std)[0]
    k = p.argmax(1)
    k[p.max(1) < min_confidence] = 0  # class 0 is "none"
    return k


def _fit(
    parts: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    epochs: int,
    weight_decay: float,
    hidden: tuple[int, ...] = (128, 64),
):
    X = np.concatenate([features(L).astype(np.float64) for L, _ in parts])
    y = np.concatenate([lab for _, lab in parts])
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
    params = train_mlp(
        (X - mean) / std, y, len(synth.CLASSES), seed, hidden=hidden, epochs=epochs, weight_decay=weight_decay
    )
    return params, mean, std, len(X)


def _score_hagrid(params, mean, std, lms: dict, labels: dict, folders: dict, classes: list[str]) -> dict:
    """Accuracy on HaGRID crops (a crop without a found hand predicts none), 12 mapped folders + none."""
    from perception.hands import hagrid

    keys = [p for p in lms if lms[p] is not None]
    pred = dict.fromkeys(lms, 0)
    if keys:
        pred.update(zip(keys, _predict(params, mean, std, features(np.stack([lms[p] for p in keys]))), strict=True))
    per = {}
    for f in sorted(set(folders.values())):
        ps = [p for p in lms if folders[p] == f]
        per[f] = round(float(np.mean([pred[p] == labels[p] for p in ps])), 4)
    goal = [p for p in lms if folders[p] not in hagrid.UNMAPPED]
    return {
        "accuracy_goal": round(float(np.mean([pred[p] == labels[p] for p in goal])), 4),
        "per_folder": per,
        "images": len(lms),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m perception.hands.train_gestures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-class", type=int, default=300, help="synthetic training poses per class")
    ap.add_argument("--val-per-class", type=int, default=400, help="held-out synthetic poses per class")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=1e-3)
    ap.add_argument(
        "--hagrid", type=Path, default=SHARED / "hands_hagrid", help="HaGRID crops (only the developer half is used)"
    )
    ap.add_argument("--kazuhito", type=Path, default=SHARED / "hand_landmarks" / "kazuhito00")
    ap.add_argument("--real-copies", type=int, default=8, help="augmented copies of each real hand")
    ap.add_argument("--hidden", default="128,64", help="hidden layer sizes")
    ap.add_argument("--synthetic-only", action="store_true", help="train on synthetic poses only (old model)")
    ap.add_argument("--cv", type=int, default=0, help="K-fold cross-validation on the HaGRID developer half first")
    ap.add_argument("--out", type=Path, default=ASSETS)
    ap.add_argument(
        "--plot", type=Path, default=None, help="after training, save confusion matrices (shipped model vs rules) here"
    )
    ap.add_argument("--plot-only", action="store_true", help="only make the --plot, do not train")
    args = ap.parse_args(argv)
    if args.plot_only:
        if args.plot is None:
            ap.error("--plot-only needs --plot PATH")
        _log(f"confusion plot: {plot_confusion(args.plot, args.out / 'gesture_classifier.onnx')}")
        return 0
    t0 = time.monotonic()
    hidden = tuple(int(v) for v in args.hidden.split(","))
    classes = list(synth.CLASSES)
    opt = synth.SynthOptions()
    rng = np.random.default_rng(args.seed)
    _log(f"generating {args.per_class} synthetic poses x {len(classes)} classes (seed {args.seed})")
    P, y = synth.dataset(args.per_class, args.seed, opt)
    Pv, yv = synth.dataset(args.val_per_class, args.seed + 1000, opt)
    parts = [(P, y)]
    cv_result = None
    if not args.synthetic_only:
        for path in (args.hagrid, args.kazuhito):
            if not path.is_dir():
                raise SystemExit(
                    f"train_gestures: {path} not found (real hands are needed; --synthetic-only trains without them)"
                )
        lms, labels, folders = hagrid_developer_half(args.hagrid, classes)
        K, yk = kazuhito_landmarks(args.kazuhito, classes)
        _log(
            f"real hands: {sum(v is not None for v in lms.values())} HaGRID developer-half crops with a hand "
            f"(of {len(lms)}), {len(K)} Kazuhito00 landmark rows"
        )
        kz = (augment(K, rng, 1), yk)

        def hagrid_part(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
            keys = [k for k in keys if lms[k] is not None]
            L = np.stack([lms[k] for k in keys])
            return augment(L, rng, args.real_copies), np.repeat([labels[k] for k in keys], args.real_copies)

        if args.cv > 1:
            fold = {p: hashlib.sha1(Path(p).name.encode()).digest()[1] % args.cv for p in lms}
            folds = []
            for k in range(args.cv):
                train_keys = [p for p in lms if fold[p] != k]
                test = [p for p in lms if fold[p] == k]
                params, mean, std, _ = _fit(
                    [*parts, kz, hagrid_part(train_keys)], args.seed, args.epochs, args.weight_decay, hidden
                )
                sc = _score_hagrid(params, mean, std, {p: lms[p] for p in test}, labels, folders, classes)
                _log(f"cv fold {k + 1}/{args.cv}: {sc['images']} crops, 12 mapped + none {sc['accuracy_goal']:.4f}")
                folds.append(sc)
            per = {f: round(float(np.mean([x["per_folder"][f] for x in folds])), 4) for f in folds[0]["per_folder"]}
            cv_result = {
                "folds": args.cv,
                "split": "HaGRID developer half, fold = sha1(file name)[1] % K",
                "accuracy_goal_per_fold": [x["accuracy_goal"] for x in folds],
                "accuracy_goal_mean": round(float(np.mean([x["accuracy_goal"] for x in folds])), 4),
                "per_folder_mean": per,
            }
            _log(f"cross-validated: {cv_result['accuracy_goal_mean']:.4f}; per folder {per}")
        parts += [kz, hagrid_part(list(lms))]
    params, mean, std, n_train = _fit(parts, args.seed, args.epochs, args.weight_decay, hidden)
    model = to_onnx(params, mean, std, classes)
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "gesture_classifier.onnx"
    data = model.SerializeToString()
    onnx_path.write_bytes(data)

    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    Xv = features(Pv)
    pv = sess.run(None, {"features": Xv.astype(np.float32)})[0].argmax(1)
    per_class = {c: round(float(np.mean(pv[yv == k] == k)), 4) for k, c in enumerate(classes)}
    acc = float(np.mean(pv == yv))
    meta = {
        "classes": classes,
        "feature_version": FEATURE_VERSION,
        "n_features": N_FEATURES,
        "input": "features",
        "output": "probabilities",
        "provenance": {
            "trainer": "perception/hands/train_gestures.py",
            "data": (
                "synthetic poses from perception/hands/synth.py only"
                if args.synthetic_only
                else "synthetic poses (perception/hands/synth.py) + HaGRID developer-half crops through CueKit's "
                "palm detector and landmark model (perception/hands/hagrid.py: split, mapping) + "
                "Kazuhito00 real MediaPipe 2-D landmarks (Apache-2.0)"
            ),
            "seed": args.seed,
            "synthetic_per_class": args.per_class,
            "epochs": args.epochs,
            "weight_decay": args.weight_decay,
            "real_copies": args.real_copies,
            "training_rows": n_train,
            "architecture": f"MLP {N_FEATURES}-{'-'.join(map(str, hidden))}-{len(classes)} ReLU softmax, Adam, numpy",
            "synth_options": asdict(opt),
            "onnx_sha256": hashlib.sha256(data).hexdigest(),
        },
        "heldout_synthetic": {
            "seed": args.seed + 1000,
            "per_class": args.val_per_class,
            "accuracy": round(acc, 4),
            "per_class_accuracy": per_class,
        },
        "cross_validation": cv_result,
    }
    (args.out / "gesture_classifier.json").write_text(json.dumps(meta, indent=2) + "\n")
    _log(
        f"synthetic held-out accuracy {acc:.4f}; wrote {onnx_path} ({len(data)} bytes) in {time.monotonic() - t0:.0f}s"
    )
    if args.plot is not None:
        _log(f"confusion plot: {plot_confusion(args.plot, onnx_path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
