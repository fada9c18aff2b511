"""`cuekit eval imu`: cross-user accuracy of the wrist CNN, false activations per hour on non-gesture
streams, and few-shot accuracy for gestures the model never saw, from users it never saw.

    cuekit eval imu                                   # everything on ../shared/data/imu, default splits
    cuekit eval imu --train DIR/U01 DIR/U02 DIR/U03 --test DIR/U04 --json
    cuekit eval imu --train ROOT --train-users U01,U02,U03 --test ROOT --test-users U04
    cuekit eval imu --train WAND --test WAND --train-users dengyl,hyw,jiangyh,lsj,pengxl --test-users shiyun,tangsy
    cuekit eval imu --few-shot 1 3 5
    cuekit eval imu --negatives ../shared/data/imu/everyday_smartwatch --json   # everyday motion only

Each run trains its own model with perception/wrist/train.py (the test users are never seen). Pre-cut
clips are classified among the gesture classes; false activations are counted with the model sliding
over whole non-gesture recordings exactly as it runs live (learned.StreamingClassifier).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from perception.wrist.datasets import (
    Recording,
    detect_layout,
    load_fbk,
    load_wand,
    load_wand_negative_streams,
    wand_persons,
)
from perception.wrist.fewshot import CustomGestures
from perception.wrist.learned import StreamingOptions, WristModel, count_activations
from perception.wrist.negatives import everyday_false_activations, is_everyday_dir
from perception.wrist.train import TRANSFER_CONFIGS, TrainOptions, train_model

log = logging.getLogger("cuekit.wrist.eval")

REPO = Path(__file__).resolve().parents[2]
ANCHOR = {
    "source": "Xu et al., CHI 2022 (accel+gyro, 500+ people)",
    "cross_user_accuracy": 0.957,
    "false_positives_per_hour": 0.6,
    "few_shot_accuracy": {"1": 0.55, "3": 0.83, "5": 0.87},
}
FBK_DEFAULT = (["U01", "U02", "U03"], ["U04"])
WAND_NEG_TRAIN = ["1", "2", "3", "ccw_1"]
WAND_NEG_TEST = ["4", "5", "ccw_2", "jiangyh"]


def shared_imu_root() -> Path:
    return Path(os.environ.get("CUEKIT_SHARED", REPO.parent / "shared")) / "data" / "imu"


def _progress(msg: str) -> None:
    print(f"[eval imu] {msg}", file=sys.stderr, flush=True)


def _clips(recs: list[Recording]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(r.t_ns, r.accel) for r in recs]


# -- loading -------------------------------------------------------------------------------------------------
def load_split(paths: list[Path], users: list[str] | None) -> tuple[str, list[Recording], Path]:
    layouts = {detect_layout(p) for p in paths}
    if len(layouts) != 1:
        raise ValueError(f"--train/--test mix layouts {sorted(layouts)}; give one kind of data per run")
    layout = layouts.pop()
    if layout == "fbk":
        return layout, load_fbk(paths, users), paths[0]
    recs = []
    for p in paths:
        recs += load_wand(p, users)
    return layout, recs, paths[0]


# -- metrics -------------------------------------------------------------------------------------------------
def confusion(y_true: list[str], y_pred: list[str], labels: list[str]) -> np.ndarray:
    idx = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        m[idx[t], idx[p]] += 1
    return m


def plot_confusion(m: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.42 * len(labels), 1.0 + 0.4 * len(labels)))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0)
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_few_shot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(int(k) for k in results)
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    for key, lab in (("novel_way", "CueKit: new gestures among new"), ("all_way", "CueKit: new among all")):
        ys = [results[str(k)][key] for k in ks]
        if all(y is not None for y in ys):
            ax.plot(ks, [100 * y for y in ys], "o-", label=lab)
    ak = [k for k in ks if str(k) in ANCHOR["few_shot_accuracy"]]
    ax.plot(
        ak, [100 * ANCHOR["few_shot_accuracy"][str(k)] for k in ak], "s--", color="gray", label="Xu et al. CHI 2022"
    )
    ax.set_xlabel("examples per new gesture (K)")
    ax.set_ylabel("accuracy on unseen users (%)")
    ax.set_xticks(ks)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- evaluations ---------------------------------------------------------------------------------------------
def cross_user(
    train: list[Recording],
    test: list[Recording],
    options: TrainOptions,
    layout: str,
    negatives: list[Recording] | None,
    model_path: Path,
    plot: Path | None,
) -> dict:
    _progress(f"{layout}: training on {len(train)} clips of users {sorted({r.user for r in train})}")
    res = train_model(train, options, negatives=negatives)
    res.to_onnx(model_path, dataset=layout, train_users=sorted({r.user for r in train}))
    model = WristModel(model_path)
    t0 = time.perf_counter()
    pred, _conf, _ = model.classify_clips(_clips(test))
    infer_ms = (time.perf_counter() - t0) * 1000 / max(1, len(test))
    truth = [r.label for r in test]
    labels = model.gesture_labels
    m = confusion(truth, pred, labels)
    acc = float(np.trace(m) / max(1, m.sum()))
    per_user = {}
    for u in sorted({r.user for r in test}):
        sel = [i for i, r in enumerate(test) if r.user == u]
        per_user[u] = float(np.mean([pred[i] == truth[i] for i in sel]))
    out = {
        "train_users": sorted({r.user for r in train}),
        "test_users": sorted({r.user for r in test}),
        "n_train": len(train),
        "n_test": len(test),
        "classes": labels,
        "accuracy": acc,
        "per_user": per_user,
        "per_class": {lab: float(m[i, i] / max(1, m[i].sum())) for i, lab in enumerate(labels)},
        "confusion": m.tolist(),
        "train_seconds": round(res.seconds, 1),
        "ms_per_clip": round(infer_ms, 3),
    }
    if plot is not None:
        plot_confusion(
            m,
            labels,
            f"wrist CNN, {layout}: train {','.join(out['train_users'])} -> test "
            f"{','.join(out['test_users'])}  acc {100 * acc:.1f}%",
            plot,
        )
        out["confusion_plot"] = str(plot)
    _progress(f"{layout}: cross-user accuracy {100 * acc:.1f}% on {len(test)} clips")
    return out


def false_activations(
    model_path: Path, negatives: list[Recording], test: list[Recording], options: StreamingOptions
) -> dict:
    model = WristModel(model_path)
    n, hours, _ = count_activations(model, _clips(negatives), options)
    # the same streaming path on the test users' gestures, each inside rest: does it fire, correctly?
    hit = 0
    rng = np.random.default_rng(0)
    for r in test:
        pad = int(1.5 * 25)
        # 1.5 s of a resting wrist on either side (the pose at the clip's ends plus sensor noise)
        rest = [np.repeat(r.accel[[i]], pad, 0) + rng.normal(0, 0.01, (pad, 3)) for i in (0, -1)]
        a = np.concatenate([rest[0], r.accel, rest[1]])
        dt = int(np.median(np.diff(r.t_ns))) if len(r.t_ns) > 1 else 40_000_000
        t = np.concatenate([r.t_ns[0] - dt * np.arange(pad, 0, -1), r.t_ns, r.t_ns[-1] + dt * np.arange(1, pad + 1)])
        _, _, c = count_activations(model, [(t, a)], options)
        hit += int(any(x.kind == r.label for x in c))
    fph = n / hours if hours > 0 else float("nan")
    _progress(
        f"false activations: {n} in {hours * 60:.1f} min of non-gesture motion = {fph:.1f}/h; "
        f"stream detection of test gestures {hit}/{len(test)}"
    )
    return {
        "false_activations": n,
        "negative_minutes": round(hours * 60, 2),
        "false_activations_per_hour": fph,
        "negative_streams": sorted({r.user for r in negatives}),
        "stream_detection_rate": hit / max(1, len(test)),
        "streaming": vars(options),
    }


def builtin_false_activations(streams: list[Recording]) -> dict:
    """The rule-based built-in gestures over real non-gesture motion (they are not trained on it)."""
    from perception.stream.types import ImuBatch
    from perception.wrist.recognizer import recognize
    from perception.wrist.units import G

    kinds: dict[str, int] = {}
    seconds = 0.0
    for r in streams:
        batches = [
            ImuBatch(t_ns=r.t_ns[i : i + 10] + 10**9, accel=r.accel[i : i + 10] * G) for i in range(0, len(r.t_ns), 10)
        ]
        for o in recognize(batches).observations:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        seconds += r.duration_s
    n = sum(kinds.values())
    _progress(f"built-in gestures on non-gesture motion: {n} in {seconds / 60:.1f} min {kinds}")
    return {
        "activations": n,
        "minutes": round(seconds / 60, 2),
        "per_hour": 3600.0 * n / seconds if seconds else 0.0,
        "by_kind": kinds,
    }


def few_shot(
    train: list[Recording],
    test: list[Recording],
    ks: list[int],
    options: TrainOptions,
    tmp: Path,
    n_folds: int = 4,
    episodes: int = 30,
    seed: int = 0,
) -> dict:
    """Hold out a fold of classes, train on the rest (train users), enroll K examples per class from each
    unseen test user, classify that user's other examples."""
    classes = sorted({r.label for r in train} | {r.label for r in test})
    n_folds = min(n_folds, len(classes))
    rng = np.random.default_rng(seed)
    acc = {k: {"novel_way": [], "all_way": []} for k in ks}
    for f in range(n_folds):
        novel = [c for i, c in enumerate(classes) if i % n_folds == f]
        base_train = [r for r in train if r.label not in novel]
        _progress(f"few-shot fold {f + 1}/{n_folds}: held-out classes {novel}; training on {len(base_train)} clips")
        res = train_model(base_train, options)
        path = tmp / f"fewshot_fold{f}.onnx"
        res.to_onnx(path, dataset="fewshot", held_out=novel)
        cg = CustomGestures(WristModel(path))
        for user in sorted({r.user for r in test}):
            urecs = [r for r in test if r.user == user]
            emb = cg.embed_clips(_clips(urecs))
            lab = np.array([r.label for r in urecs])
            for k in ks:
                for _ in range(episodes):
                    support: dict[str, np.ndarray] = {}
                    query = np.ones(len(urecs), bool)
                    for c in classes:
                        idx = np.flatnonzero(lab == c)
                        if len(idx) <= k:
                            continue
                        pick = rng.choice(idx, k, replace=False)
                        support[c] = pick
                        query[pick] = False
                    for key, pool in (("novel_way", novel), ("all_way", classes)):
                        pool = [c for c in pool if c in support]
                        if len(pool) < 2:
                            continue
                        protos = np.stack([emb[support[c]].mean(axis=0) for c in pool])
                        protos /= np.linalg.norm(protos, axis=1, keepdims=True)
                        q = np.flatnonzero(query & np.isin(lab, novel))  # queries: the new gestures
                        pred = np.array(pool)[(emb[q] @ protos.T).argmax(axis=1)]
                        acc[k][key].append(float(np.mean(pred == lab[q])))
    out = {str(k): {key: (float(np.mean(v)) if v else None) for key, v in acc[k].items()} for k in ks}
    for k in ks:
        _progress(f"few-shot K={k}: new-among-new {out[str(k)]['novel_way']}, new-among-all {out[str(k)]['all_way']}")
    return {
        "k": out,
        "folds": n_folds,
        "episodes_per_user_and_fold": episodes,
        "classes": classes,
        "protocol": "classes split into folds; per fold the CNN trains on the other classes of the train "
        "users; each test user enrolls K of their own examples per class; queries are that "
        "user's remaining examples of the held-out classes; novel_way = choose among the "
        "held-out classes, all_way = among prototypes of every class",
    }


def _accuracy(model_path: Path, test: list[Recording]) -> dict:
    model = WristModel(model_path)
    pred, _, _ = model.classify_clips(_clips(test))
    ok = np.array([p == r.label for p, r in zip(pred, test)])
    return {"accuracy": float(ok.mean()), "pred": pred}


def leave_one_user_out(
    recs: list[Recording],
    base: TrainOptions,
    negatives: list[Recording] | None,
    tmp: Path,
    configs: dict[str, dict] | None = None,
    plot: Path | None = None,
) -> dict:
    """Each user held out in turn; the transfer configuration for that fold is chosen by an inner
    leave-one-user-out over the remaining users (nested: the held-out user never picks anything)."""
    import dataclasses

    configs = configs or TRANSFER_CONFIGS
    users = sorted({r.user for r in recs})
    memo: dict[tuple[str, tuple[str, ...], str], float] = {}

    def score(cfg: str, train_users: list[str], test_user: str) -> float:
        key = (cfg, tuple(train_users), test_user)
        if key not in memo:
            opts = dataclasses.replace(base, **configs[cfg])
            tr = [r for r in recs if r.user in train_users]
            res = train_model(
                tr,
                dataclasses.replace(opts, negatives_per_epoch=len(tr) // 3 if negatives else 0),
                negatives=negatives,
                progress=False,
            )
            path = tmp / f"louo_{cfg}_{'_'.join(train_users)}.onnx"
            res.to_onnx(path, dataset="louo")
            memo[key] = _accuracy(path, [r for r in recs if r.user == test_user])["accuracy"]
        return memo[key]

    folds = {}
    for u in users:
        others = [v for v in users if v != u]
        inner = {c: float(np.mean([score(c, [w for w in others if w != v], v) for v in others])) for c in configs}
        chosen = max(inner, key=lambda c: (round(inner[c], 4), -list(configs).index(c)))
        outer = {c: score(c, others, u) for c in configs}
        folds[u] = {
            "chosen": chosen,
            "inner_mean_accuracy": inner,
            "accuracy": outer[chosen],
            "accuracy_by_config": outer,
        }
        _progress(
            f"LOUO {u}: chose {chosen} (inner {inner[chosen]:.3f}); held-out accuracy {outer[chosen]:.3f} "
            f"(all configs {', '.join(f'{c} {a:.3f}' for c, a in outer.items())})"
        )
    accs = [f["accuracy"] for f in folds.values()]
    out = {
        "users": users,
        "folds": folds,
        "mean_accuracy": float(np.mean(accs)),
        "min_accuracy": float(min(accs)),
        "configs": configs,
        "mean_accuracy_by_config": {
            c: float(np.mean([f["accuracy_by_config"][c] for f in folds.values()])) for c in configs
        },
        "protocol": "leave-one-user-out; per fold the configuration is chosen by leave-one-user-out among "
        "the other users only, then a model is trained on all of them and scored on the held-out "
        "user (accuracy_by_config is shown for transparency, not used to choose)",
    }
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.0))
        xs = np.arange(len(users))
        for k, c in enumerate(configs):
            ax.bar(xs + (k - 1) * 0.25, [100 * folds[u]["accuracy_by_config"][c] for u in users], 0.25, label=c)
        ax.plot(xs, [100 * folds[u]["accuracy"] for u in users], "k*", ms=10, label="nested choice")
        ax.axhline(95.7, color="gray", ls="--", lw=1, label="Xu et al. 95.7%")
        ax.set_xticks(xs, [f"{u} held out" for u in users], fontsize=8)
        ax.set_ylim(75, 100)
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=6, loc="lower right")
        ax.set_title(f"FBK leave-one-user-out: mean {100 * out['mean_accuracy']:.1f}%", fontsize=9)
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=110)
        plt.close(fig)
        out["plot"] = str(plot)
    return out


def _louo_main(args: argparse.Namespace, plots: Path | None) -> int:
    root = args.train[0] if args.train else shared_imu_root() / "fbk_smartwatch"
    recs = load_fbk([root], _users(args.train_users) or ["U01", "U02", "U03", "U04"])
    neg_dir = args.negatives or shared_imu_root() / "magic_wand" / "negative"
    negs = load_wand_negative_streams(neg_dir, _users(args.neg_train)) if neg_dir.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="cuekit_louo_") as td:
        res = leave_one_user_out(
            recs,
            TrainOptions(epochs=args.epochs, seed=args.seed),
            negs,
            Path(td),
            plot=plots / "wrist_louo_fbk.png" if plots else None,
        )
    out = {"anchor": ANCHOR, "fbk_leave_one_user_out": res}
    if args.json:
        print(json.dumps(out, default=float))
    else:
        for u, f in res["folds"].items():
            print(f"{u} held out: {100 * f['accuracy']:.1f}% ({f['chosen']})")
        print(f"mean {100 * res['mean_accuracy']:.1f}%, min {100 * res['min_accuracy']:.1f}%")
    return 0


def _latency_main(args: argparse.Namespace, plots: Path | None) -> int:
    from perception.wrist.latency import (
        hold_tradeoff,
        learned_latency,
        plot_latency,
        plot_tradeoff,
        rule_latency,
    )

    root = shared_imu_root()
    _progress("latency: rule gestures on simulated streams")
    rules = rule_latency()
    learned: dict = {}
    fbk = root / "fbk_smartwatch"
    model = REPO / "assets" / "wrist" / "fbk_cnn.onnx"
    if fbk.is_dir() and model.is_file():
        test_users = [u for u in ("U04",) if u not in WristModel(model).meta.get("train_users", [])]
        recs = load_fbk([fbk], test_users)
        _progress(f"latency: learned classes on {len(recs[::4])} clips of {test_users} (never trained on)")
        learned["learned (fbk_cnn)"] = learned_latency(model, [(r.t_ns, r.accel, r.label) for r in recs[::4]])
        # enrolled: 3 examples of each of 3 classes from the same user, the others streamed
        with tempfile.TemporaryDirectory(prefix="cuekit_enrolled_") as td:
            cg = CustomGestures(WristModel(model))
            names = ["circle_cw", "v", "s_top_right"]
            queries = []
            for n in names:
                rs = [r for r in recs if r.label == n]
                cg.enroll(f"my_{n}", _clips(rs[:3]))
                queries += [(r.t_ns, r.accel, f"my_{n}") for r in rs[3:]]
            store = Path(td) / "custom.json"
            cg.save(store)
            learned["enrolled (few-shot)"] = learned_latency(
                model, queries, custom_path=store, kinds=tuple(f"my_{n}" for n in names)
            )
    out: dict = {
        "rules": rules,
        "learned": learned,
        "protocol": "100 Hz stream pushed one sample per batch; latency = data time of the sample that "
        "released the observation - end of the motion (simulated: analytic; learned: the "
        "clip's end); lateness_ms = release - the observation's t_end_ns, what fusion "
        "checks against [lateness_ms] wrist (300 ms in default_ar)",
    }
    everyday = args.negatives or root / "everyday_smartwatch"
    if is_everyday_dir(everyday):
        _progress("latency: segmenter quiet time against false activations on everyday motion")
        out["hold_tradeoff"] = hold_tradeoff(everyday)
    if plots:
        plots.mkdir(parents=True, exist_ok=True)
        plot_latency(rules, learned, plots / "wrist_latency.png")
        out["plot"] = str(plots / "wrist_latency.png")
        if "hold_tradeoff" in out:
            plot_tradeoff(out["hold_tradeoff"], plots / "wrist_hold_tradeoff.png")
    if args.json:
        print(json.dumps(out, default=float))
    else:
        for fam, v in {**rules, **learned}.items():
            print(
                f"{fam}: p50 {v.get('p50_ms')} ms, p95 {v.get('p95_ms')} ms; lateness p95 "
                f"{v['lateness_ms'].get('p95_ms')} ms"
            )
    return 0


def plot_everyday(ev: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subs = sorted(ev["per_subject"])
    kinds = sorted({k for s in subs for k in ev["per_subject"][s]["false_activations"]})
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    xs = np.arange(len(subs))
    bottom = np.zeros(len(subs))
    for k in kinds:
        v = np.array([ev["per_subject"][s]["false_activations"].get(k, 0) for s in subs], float)
        ax.bar(xs, v, bottom=bottom, label=k)
        bottom += v
    dev = set(ev["developer"]["subjects"])
    ax.set_xticks(
        xs, [f"{s}{'*' if s in dev else ''}\n{60 * ev['per_subject'][s]['hours']:.0f} min" for s in subs], fontsize=7
    )
    ax.set_ylabel("false activations")
    ax.set_ylim(0, max(3.0, float(bottom.max()) + 1))
    ax.set_title(
        f"everyday smartwatch motion, {ev['hours']:.2f} h: {ev['overall']['false_activations']} false "
        f"activations (* developer half)",
        fontsize=8,
    )
    if kinds:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _everyday_main(args: argparse.Namespace) -> int:
    models = args.models if args.models is not None else sorted((REPO / "assets" / "wrist").glob("*.onnx"))
    out = {"anchor": ANCHOR, "everyday_negatives": everyday_false_activations(args.negatives, models)}
    if not args.no_plots:
        path = args.plots / "wrist_everyday_fa.png"
        plot_everyday(out["everyday_negatives"], path)
        out["everyday_negatives"]["plot"] = str(path)
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    ev = out["everyday_negatives"]
    for half in ("developer", "held_out", "overall"):
        b = ev[half]
        fired = {k: v["n"] for k, v in b["by_gesture"].items() if v["n"]}
        print(
            f"{half}: {b['false_activations']} false activations in {b['hours']:.3f} h "
            f"({b['per_hour']:.2f}/h; worst gesture {b['worst_gesture_per_hour']:.2f}/h) {fired} "
            f"subjects {','.join(b['subjects'])}"
        )
    print(ev["note"])
    return 0


# -- CLI -------------------------------------------------------------------------------------------------------
def _users(s: str | None) -> list[str] | None:
    return [u for u in s.split(",") if u] if s else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cuekit eval imu", description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--train", type=Path, nargs="+", help="user dirs or a root (FBK), or a magic-wand root")
    ap.add_argument("--test", type=Path, nargs="+")
    ap.add_argument("--train-users", help="comma-separated users/persons to train on (with a root)")
    ap.add_argument("--test-users", help="comma-separated users/persons to test on (with a root)")
    ap.add_argument(
        "--negatives",
        type=Path,
        help="non-gesture streams (magic-wand negative/) for a negative "
        "class and false activations; default: <wand root>/negative for magic-wand data, and the "
        "shared magic_wand/negative when run without --train",
    )
    ap.add_argument(
        "--models",
        type=Path,
        nargs="*",
        help="learned models scored on everyday --negatives (default: the shipped assets/wrist/*.onnx)",
    )
    ap.add_argument("--neg-train", default=",".join(WAND_NEG_TRAIN), help="negative streams used for training")
    ap.add_argument("--neg-test", default=",".join(WAND_NEG_TEST), help="negative streams for false activations")
    ap.add_argument("--no-swap", action="store_true", help="measure false activations on one negative fold only")
    ap.add_argument("--few-shot", type=int, nargs="*", metavar="K", help="few-shot accuracy for these K")
    ap.add_argument(
        "--louo",
        action="store_true",
        help="FBK leave-one-user-out with nested choice of the "
        "transfer augmentation (on ../shared/data/imu/fbk_smartwatch unless --train ROOT is given)",
    )
    ap.add_argument(
        "--latency",
        action="store_true",
        help="end of motion -> observation per gesture family, "
        "and the rule segmenter's latency / false-activation trade-off on everyday motion",
    )
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=StreamingOptions.threshold)
    ap.add_argument("--plots", type=Path, default=REPO / "docs" / "img", help="where plots go")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--save-model", type=Path, help="keep the trained model here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if (args.train is None) != (args.test is None):
        ap.error("--train and --test go together")
    t_start = time.perf_counter()
    plots = None if args.no_plots else args.plots
    if args.negatives is not None and not (
        is_everyday_dir(args.negatives) or load_wand_negative_streams(args.negatives)
    ):
        print(
            f"cuekit eval imu: --negatives {args.negatives} holds neither everyday smartwatch recordings "
            "(sXX_YY_sw.csv) nor magic-wand negative streams (output_negative_*.txt)",
            file=sys.stderr,
        )
        return 2
    if args.negatives is not None and args.train is None and is_everyday_dir(args.negatives):
        return _everyday_main(args)
    if args.louo:
        return _louo_main(args, plots)
    if args.latency:
        return _latency_main(args, plots)
    out: dict = {"anchor": ANCHOR}
    with tempfile.TemporaryDirectory(prefix="cuekit_wrist_") as td:
        tmp = Path(td)
        if args.train is None:
            root = shared_imu_root()
            if not root.is_dir():
                print(f"cuekit eval imu: no data given and {root} is absent; pass --train/--test", file=sys.stderr)
                return 2
            runs = [
                (
                    "fbk",
                    [root / "fbk_smartwatch"],
                    [root / "fbk_smartwatch"],
                    _users(args.train_users) or FBK_DEFAULT[0],
                    _users(args.test_users) or FBK_DEFAULT[1],
                ),
                ("wand", [root / "magic_wand"], [root / "magic_wand"], None, None),
            ]
            few_ks = args.few_shot if args.few_shot else [1, 3, 5]
        else:
            runs = [("given", args.train, args.test, _users(args.train_users), _users(args.test_users))]
            few_ks = args.few_shot or []
        for name, tr_paths, te_paths, tr_users, te_users in runs:
            layout = detect_layout(tr_paths[0])
            if layout == "wand" and tr_users is None and te_users is None:
                persons = wand_persons(tr_paths[0])
                tr_users, te_users = persons[:-2], persons[-2:]
            _, train, _ = load_split(tr_paths, tr_users)
            _, test, _ = load_split(te_paths, te_users)
            if not train or not test:
                raise SystemExit(
                    f"cuekit eval imu: no recordings found for {name} (train {len(train)}, "
                    f"test {len(test)}); check the paths and user names"
                )
            overlap = {r.user for r in train} & {r.user for r in test}
            if overlap:
                log.warning("users %s are in both train and test: this is not a cross-user figure", sorted(overlap))
            # non-gesture motion: the magic wand's negative/ streams, also for the watch data (a "nothing"
            # class for streaming; that they come from another device only makes them more varied)
            neg_dir = args.negatives or (
                tr_paths[0] / "negative"
                if layout == "wand"
                else shared_imu_root() / "magic_wand" / "negative"
                if args.train is None
                else None
            )
            negs_train = negs_test = None
            if neg_dir is not None and neg_dir.is_dir():
                negs_train = load_wand_negative_streams(neg_dir, _users(args.neg_train))
                negs_test = load_wand_negative_streams(neg_dir, _users(args.neg_test))
            opts = TrainOptions(
                epochs=args.epochs,
                seed=args.seed,
                window_s=3.2 if layout == "fbk" else 4.0,
                negatives_per_epoch=len(train) // 3 if negs_train else 0,
            )
            model_path = args.save_model if (args.save_model and len(runs) == 1) else tmp / f"{layout}.onnx"
            plot = plots / f"wrist_confusion_{layout}.png" if plots else None
            res = cross_user(train, test, opts, layout, negs_train, model_path, plot)
            res["layout"] = layout
            if negs_test:
                so = StreamingOptions(threshold=args.threshold)
                fa = false_activations(model_path, negs_test, test, so)
                folds = [fa]
                if not args.no_swap and negs_train:
                    # second fold: the negatives swap roles, so every non-gesture minute is measured once
                    _progress("false activations, fold 2: training with the other negative streams")
                    swapped = train_model(train, opts, negatives=negs_test, progress=False)
                    p2 = tmp / f"{layout}_swap.onnx"
                    swapped.to_onnx(p2, dataset=layout)
                    folds.append(false_activations(p2, negs_train, test, so))
                n = sum(f["false_activations"] for f in folds)
                minutes = sum(f["negative_minutes"] for f in folds)
                res.update(
                    {
                        "false_activations": n,
                        "negative_minutes": round(minutes, 2),
                        "false_activations_per_hour": 60.0 * n / minutes if minutes else float("nan"),
                        "stream_detection_rate": float(np.mean([f["stream_detection_rate"] for f in folds])),
                        "false_activation_folds": folds,
                        "streaming": fa["streaming"],
                    }
                )
                if "builtin_false_activations" not in out:
                    out["builtin_false_activations"] = builtin_false_activations(negs_train + negs_test)
                _progress(
                    f"false activations over both folds: {n} in {minutes:.1f} min = "
                    f"{res['false_activations_per_hour']:.1f}/h"
                )
            out[layout] = res
            if few_ks and (layout == "fbk" or args.train is not None):
                fs_opts = TrainOptions(epochs=max(10, int(args.epochs * 0.75)), seed=args.seed, window_s=opts.window_s)
                out["few_shot"] = few_shot(train, test, few_ks, fs_opts, tmp, seed=args.seed)
                out["few_shot"]["dataset"] = layout
                if plots:
                    plot_few_shot(out["few_shot"]["k"], plots / "wrist_fewshot.png")
                    out["few_shot"]["plot"] = str(plots / "wrist_fewshot.png")
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    if args.json:
        print(json.dumps(out, default=float))
    else:
        for key in ("fbk", "wand", "given"):
            if key in out:
                r = out[key]
                line = (
                    f"{key}: cross-user accuracy {100 * r['accuracy']:.1f}% ({r['n_test']} clips, users "
                    f"{','.join(r['test_users'])})"
                )
                if "false_activations_per_hour" in r:
                    line += (
                        f"; {r['false_activations_per_hour']:.1f} false activations/h "
                        f"over {r['negative_minutes']:.1f} min"
                    )
                print(line)
        if "builtin_false_activations" in out:
            b = out["builtin_false_activations"]
            print(
                f"built-in rule gestures on non-gesture motion: {b['activations']} in {b['minutes']:.1f} min "
                f"({b['per_hour']:.0f}/h) {b['by_kind']}"
            )
        if "few_shot" in out:
            for k, v in out["few_shot"]["k"].items():
                print(f"few-shot K={k}: new-among-new {v['novel_way']}, new-among-all {v['all_way']}")
        print(
            f"anchor ({ANCHOR['source']}): {100 * ANCHOR['cross_user_accuracy']:.1f}% cross-user, "
            f"{ANCHOR['false_positives_per_hour']} FP/h, few-shot {ANCHOR['few_shot_accuracy']}"
        )
        print(f"({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(main())
