"""Train CueKit's wrist-gesture CNN (numpy, hand-written backprop) and export it to ONNX.

    python -m perception.wrist.train --data ../shared/data/imu/fbk_smartwatch --users U01,U02,U03 \
        --out assets/wrist/fbk_cnn.onnx

Augmentation makes one user's gestures look like another's: time stretch and a smooth non-linear time
warp (people gesture at different speeds, and not evenly), rotation of the device frame (the watch sits
differently on each wrist), overall and per-axis gain (magnitude), noise, and shifts inside the window.
With `align_gravity` every window is first rotated so its mean acceleration points one way (the
training set's mean direction, kept in the model), at training and at run time alike. An optional
"negative" class is drawn from non-gesture streams, so the model can say "nothing" when it runs over a
continuous stream.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from perception.wrist import cnn
from perception.wrist.blas import single_thread_blas
from perception.wrist.datasets import (
    Recording,
    detect_layout,
    load_fbk,
    load_wand,
    load_wand_negative_streams,
)
from perception.wrist.windows import N_CHANNELS, align_gravity, features, place, resample

log = logging.getLogger("cuekit.wrist.train")

NEGATIVE = "negative"


@dataclass
class TrainOptions:
    rate_hz: float = 25.0
    window_s: float = 3.2
    epochs: int = 40
    batch: int = 32
    lr: float = 3e-3
    dropout: float = 0.3
    seed: int = 0
    stretch: tuple[float, float] = (0.8, 1.25)
    # defaults = TRANSFER_CONFIGS["augment+align"], the configuration nested leave-one-user-out chose
    rotate_deg: float = 30.0
    gain: tuple[float, float] = (0.9, 1.1)
    axis_gain: float = 0.1  # per-axis magnitude scaling, 1 +- this
    time_warp: float = 0.25  # strength of a smooth random speed profile (0: uniform stretch only)
    align_gravity: bool = True
    noise_g: float = 0.02
    max_shift_s: float = 0.4
    negatives_per_epoch: int = 0  # random crops of the negative streams added each epoch
    label_smoothing: float = 0.05

    @property
    def window(self) -> int:
        return round(self.window_s * self.rate_hz / 4.0) * 4  # two 2x pools


# augmentation/normalisation candidates for cross-user transfer (`cuekit eval imu --louo` chooses among them
# per held-out user by leave-one-user-out over the other users only)
TRANSFER_CONFIGS: dict[str, dict] = {
    "base": {"rotate_deg": 15.0, "time_warp": 0.0, "axis_gain": 0.0, "align_gravity": False},
    "augment": {"rotate_deg": 30.0, "time_warp": 0.25, "axis_gain": 0.1, "align_gravity": False},
    "augment+align": {"rotate_deg": 30.0, "time_warp": 0.25, "axis_gain": 0.1, "align_gravity": True},
}


@dataclass
class TrainResult:
    params: cnn.CnnParams
    labels: list[str]
    options: TrainOptions
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    embedding_mean: np.ndarray | None = None
    gravity_towards: np.ndarray | None = None

    def metadata(self, **extra) -> dict:
        o = self.options
        return {
            "gravity_towards": None
            if self.gravity_towards is None
            else [round(float(v), 6) for v in self.gravity_towards],
            "labels": self.labels,
            "rate_hz": o.rate_hz,
            "window": o.window,
            "channels": N_CHANNELS,
            "features": "accel_g+diff_g_per_0.1s",
            "trained_by": "perception/wrist/train.py",
            "train_options": {k: v for k, v in asdict(o).items()},
            "embedding_dim": self.params.embedding_dim,
            "embedding_mean": None
            if self.embedding_mean is None
            else [round(float(v), 6) for v in self.embedding_mean],
            **extra,
        }

    def to_onnx(self, path: Path, **extra) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cnn.to_onnx(self.params, N_CHANNELS, self.options.window, self.metadata(**extra)))


def _rotation(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = np.deg2rad(rng.uniform(-max_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * (k @ k)


def _warp_positions(n_src: int, n: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """n sample positions over [0, n_src-1]: uniform, or with a smooth random speed profile."""
    if strength <= 0:
        return np.linspace(0, n_src - 1, n)
    knots = np.exp(rng.normal(0.0, strength, 4))  # relative speed at 4 knots
    speed = np.interp(np.linspace(0, 3, n), np.arange(4), knots)
    pos = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    return pos / max(pos[-1], 1e-9) * (n_src - 1)


def augment(x: np.ndarray, o: TrainOptions, rng: np.random.Generator) -> np.ndarray:
    """One random variant of a resampled gesture (n,3) placed in the window (T,3)."""
    s = rng.uniform(*o.stretch)
    n = max(4, round(len(x) * s))
    src = _warp_positions(len(x), n, o.time_warp, rng)
    y = np.stack([np.interp(src, np.arange(len(x)), x[:, c]) for c in range(3)], axis=1)
    y = y @ _rotation(rng, o.rotate_deg).T * rng.uniform(*o.gain)
    if o.axis_gain > 0:
        y = y * rng.uniform(1 - o.axis_gain, 1 + o.axis_gain, 3)
    shift = int(rng.integers(-int(o.max_shift_s * o.rate_hz), int(o.max_shift_s * o.rate_hz) + 1))
    w = place(y, o.window, shift)
    return w + rng.normal(0, o.noise_g, w.shape)


def negative_crop(streams: list[np.ndarray], o: TrainOptions, rng: np.random.Generator) -> np.ndarray:
    s = streams[int(rng.integers(len(streams)))]
    if len(s) <= o.window:
        w = place(s, o.window)
    else:
        i = int(rng.integers(0, len(s) - o.window + 1))
        w = s[i : i + o.window]
    w = w @ _rotation(rng, o.rotate_deg).T
    return w + rng.normal(0, o.noise_g, w.shape)


def prepare(recs: list[Recording], rate_hz: float) -> list[np.ndarray]:
    return [resample(r.t_ns, r.accel, rate_hz) for r in recs]


def train_model(
    recs: list[Recording],
    options: TrainOptions | None = None,
    negatives: list[Recording] | None = None,
    labels: list[str] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train on labelled recordings (and optional non-gesture streams as a 'negative' class)."""
    o = options or TrainOptions()
    if not recs:
        raise ValueError("no training recordings")
    with single_thread_blas():
        return _train(recs, o, negatives, labels, progress)


def _train(
    recs: list[Recording], o: TrainOptions, negatives: list[Recording] | None, labels: list[str] | None, progress: bool
) -> TrainResult:
    rng = np.random.default_rng(o.seed)
    t0 = time.perf_counter()
    labels = labels or sorted({r.label for r in recs})
    neg_streams = prepare(negatives, o.rate_hz) if negatives else []
    if neg_streams and NEGATIVE not in labels:
        labels = labels + [NEGATIVE]
    lab_idx = {lab: i for i, lab in enumerate(labels)}
    xs = prepare(recs, o.rate_hz)
    ys = np.array([lab_idx[r.label] for r in recs])
    n_neg = o.negatives_per_epoch if neg_streams else 0
    towards = None
    if o.align_gravity:
        towards = np.mean([x.mean(axis=0) for x in xs], axis=0)
        towards = towards / max(float(np.linalg.norm(towards)), 1e-9)
    params = cnn.CnnParams.init(N_CHANNELS, len(labels), rng)
    opt = cnn.Adam(params.arrays(), lr=o.lr)
    history = []
    k = len(labels)
    for epoch in range(o.epochs):
        wins = [augment(x, o, rng) for x in xs] + [negative_crop(neg_streams, o, rng) for _ in range(n_neg)]
        y_all = np.concatenate([ys, np.full(n_neg, lab_idx.get(NEGATIVE, 0))]).astype(int)
        wins_arr = np.stack(wins)
        feats = features(wins_arr if towards is None else align_gravity(wins_arr, towards), o.rate_hz)
        order = rng.permutation(len(y_all))
        lr = o.lr * 0.5 * (1 + np.cos(np.pi * epoch / o.epochs))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), o.batch):
            idx = order[i : i + o.batch]
            logits, _, cache = cnn.forward(params, feats[idx], train=True, dropout=o.dropout, rng=rng)
            p = cnn.softmax(logits)
            target = np.full((len(idx), k), o.label_smoothing / k, dtype=np.float32)
            target[np.arange(len(idx)), y_all[idx]] += 1.0 - o.label_smoothing
            loss_sum += float(-(target * np.log(p + 1e-12)).sum())
            correct += int((p.argmax(1) == y_all[idx]).sum())
            grads = cnn.backward(params, cache, (p - target) / len(idx))
            opt.step(params.arrays(), grads, lr=lr)
        history.append({"epoch": epoch + 1, "loss": loss_sum / len(order), "train_acc": correct / len(order)})
        if progress:
            print(
                f"[wrist train] epoch {epoch + 1}/{o.epochs} loss {loss_sum / len(order):.3f} "
                f"train acc {correct / len(order):.3f} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
    # centre of the training embeddings: few-shot prototypes are compared after removing it
    fixed = np.stack([place(x, o.window) for x in xs])
    _, emb = predict_numpy(params, fixed, o.rate_hz, towards)
    return TrainResult(
        params=params,
        labels=labels,
        options=o,
        history=history,
        seconds=time.perf_counter() - t0,
        embedding_mean=emb.mean(axis=0),
        gravity_towards=towards,
    )


def predict_numpy(
    params: cnn.CnnParams, windows: np.ndarray, rate_hz: float, gravity_towards: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(probs, embeddings) with the numpy forward pass (training-side checks; products use ONNX)."""
    if gravity_towards is not None:
        windows = align_gravity(windows, gravity_towards)
    logits, emb, _ = cnn.forward(params, features(windows, rate_hz))
    return cnn.softmax(logits), emb


def fixed_windows(recs: list[Recording], rate_hz: float, window: int) -> np.ndarray:
    return np.stack([place(x, window) for x in prepare(recs, rate_hz)]) if recs else np.zeros((0, window, 3))


def load_training_data(
    data: Path, users: list[str] | None, negatives: list[str] | None, negatives_dir: Path | None = None
) -> tuple[list[Recording], list[Recording], str]:
    layout = detect_layout(data)
    neg_root = negatives_dir or data
    negs = load_wand_negative_streams(neg_root, negatives) if negatives is not None else []
    if negatives is not None and not negs:
        raise SystemExit(f"no negative streams {negatives} under {neg_root}")
    recs = load_fbk([data], users) if layout == "fbk" else load_wand(data, users)
    return recs, negs, layout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perception.wrist.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="FBK root/user dir or magic-wand root")
    ap.add_argument("--users", default=None, help="comma-separated users/persons to train on (default all)")
    ap.add_argument(
        "--negatives",
        default=None,
        help="magic wand: comma-separated negative stream names (e.g. 1,2,3,ccw_1) for a negative class",
    )
    ap.add_argument(
        "--negatives-dir",
        type=Path,
        default=None,
        help="where the negative streams are (default: the magic-wand --data root)",
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=TrainOptions.epochs)
    ap.add_argument("--window-s", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--transfer",
        choices=sorted(TRANSFER_CONFIGS),
        default="augment+align",
        help="augmentation/normalisation configuration (base: the models shipped before it)",
    )
    args = ap.parse_args(argv)
    users = args.users.split(",") if args.users else None
    negs = args.negatives.split(",") if args.negatives else None
    recs, neg, layout = load_training_data(args.data, users, negs, args.negatives_dir)
    window_s = args.window_s or (3.2 if layout == "fbk" else 4.0)
    o = TrainOptions(
        epochs=args.epochs,
        window_s=window_s,
        seed=args.seed,
        negatives_per_epoch=len(recs) // 3 if neg else 0,
        **TRANSFER_CONFIGS[args.transfer],
    )
    res = train_model(recs, o, negatives=neg)
    res.to_onnx(
        args.out,
        dataset=layout,
        train_users=sorted({r.user for r in recs}),
        negative_streams=negs or [],
        n_train=len(recs),
        transfer=args.transfer,
    )
    print(
        json.dumps(
            {"out": str(args.out), "labels": res.labels, "seconds": round(res.seconds, 1), "final": res.history[-1]}
        )
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(main())
