"""`cuekit eval hands --data DIR` on a folder of HaGRID hand crops (../shared/data/hands_hagrid).

Every crop goes through CueKit's palm detector + landmark model (ROI recipe in perception/hands/hagrid.py)
and the gesture classifier; its label is the HaGRID -> CueKit mapping of its folder (hagrid.HAGRID_TO_CUEKIT:
mute, three and two_up must come out as `none`). Scored separately on the developer half and the
held-out half (hagrid.split_of). With a MediaPipe 0.10.14 interpreter the same canvases go through
MediaPipe's solutions.hands (its own palm detector and landmarks) and then our classifier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from perception.hands import hagrid
from perception.hands.classifier import GestureClassifier, GestureClassifierOptions
from perception.hands.vocabulary import STATIC_GESTURES

SPLITS = ("dev", "heldout")


def _log(msg: str) -> None:
    print(f"[eval hands] {msg}", file=sys.stderr, flush=True)


def _classify(methods: dict[str, GestureClassifier], lms: dict[str, np.ndarray | None]) -> dict[str, dict]:
    """{method: {path: predicted CueKit gesture}} (no hand -> none), batched."""
    keys = [p for p, lm in lms.items() if lm is not None]
    out: dict[str, dict] = {}
    for m, clf in methods.items():
        pred = dict.fromkeys(lms, "none")
        if keys:
            res = clf.classify_batch(np.stack([lms[p] for p in keys]))
            pred.update({p: r.gesture for p, r in zip(keys, res, strict=True)})
        out[m] = pred
    return out


def summarise(folders: dict[str, str], found: dict[str, bool], preds: dict[str, dict[str, str]], split: str) -> dict:
    """Per-folder and overall accuracy of one split; `goal` = the 12 mapped folders + none."""
    paths = [p for p in folders if hagrid.split_of(p) == split]
    present = sorted({folders[p] for p in paths})
    out: dict = {
        "images": len(paths),
        "with_hand": int(sum(found[p] for p in paths)),
        "per_folder": {},
        "confusion": {},
    }
    goal_folders = [f for f in present if f not in hagrid.UNMAPPED]
    for m, pred in preds.items():
        for f in present:
            fp = [p for p in paths if folders[p] == f]
            row = out["per_folder"].setdefault(
                f, {"label": hagrid.cuekit_label(f), "images": len(fp), "with_hand": int(sum(found[p] for p in fp))}
            )
            row[f"{m}_accuracy"] = float(np.mean([pred[p] == hagrid.cuekit_label(f) for p in fp]))
            out["confusion"].setdefault(m, {})[f] = {g: sum(pred[p] == g for p in fp) for g in STATIC_GESTURES}
        gp = [p for p in paths if folders[p] in goal_folders]
        up = [p for p in paths if folders[p] in hagrid.UNMAPPED]
        acc = [pred[p] == hagrid.cuekit_label(folders[p]) for p in gp]
        out[f"{m}_accuracy_goal"] = float(np.mean(acc)) if acc else 0.0
        acc_found = [pred[p] == hagrid.cuekit_label(folders[p]) for p in gp if found[p]]
        out[f"{m}_accuracy_goal_found"] = float(np.mean(acc_found)) if acc_found else 0.0
        per = {f: out["per_folder"][f][f"{m}_accuracy"] for f in goal_folders}
        out[f"{m}_lowest_goal_folder"] = [min(per, key=per.get), min(per.values())] if per else None
        out[f"{m}_unmapped_as_none"] = float(np.mean([pred[p] == "none" for p in up])) if up else None
        out[f"{m}_accuracy_all"] = float(np.mean([pred[p] == hagrid.cuekit_label(folders[p]) for p in paths]))
    return out


def _mediapipe(py: Path, table: dict[str, dict]) -> dict[str, np.ndarray | None] | None:
    """MediaPipe's landmarks (crop pixels) for each crop: its own palm detection on the same canvas, the
    hand nearest the crop's centre whose palm lies inside the crop."""
    import cv2

    script = Path(__file__).with_name("mediapipe_reference.py")
    with tempfile.TemporaryDirectory(prefix="cuekit_mp_crops_") as tmp:
        names, geo = {}, {}
        for i, p in enumerate(table):
            img = cv2.imread(p)
            canvas, ox, oy = hagrid.canvas_for(img)
            name = str(Path(tmp) / f"{i:05d}.png")
            cv2.imwrite(name, canvas)
            names[name], geo[name] = p, (ox, oy, img.shape[1], img.shape[0])
        _log(f"running MediaPipe solutions.hands with {py} on {len(names)} canvases")
        try:
            out = subprocess.run(
                [str(py), str(script), "images", tmp], capture_output=True, text=True, timeout=1800, check=True
            )
            mp = json.loads(out.stdout)
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
            _log(f"MediaPipe comparison skipped: {exc}")
            return None
    res: dict[str, np.ndarray | None] = {}
    for name, p in names.items():
        ox, oy, w, h = geo[name]
        best, bd = None, float("inf")
        for hand in mp["images"].get(name, {"hands": []})["hands"]:
            lm = np.asarray(hand["landmarks"], dtype=np.float64)
            c = lm[[0, 5, 9, 13, 17], :2].mean(0) - (ox, oy)
            d = float(np.hypot(c[0] - w / 2, c[1] - h / 2))
            if -0.1 * w <= c[0] <= 1.1 * w and -0.1 * h <= c[1] <= 1.1 * h and d < bd:
                best, bd = lm - (ox, oy, 0.0), d
        res[p] = best
    res["__version__"] = mp.get("mediapipe")  # type: ignore[assignment]
    return res


def evaluate_crops(
    data: Path,
    landmark_model: str = "hand_landmark_full",
    landmark_variant: str = "fp32",
    mp_python: Path | None = None,
    model_path: Path | None = None,
) -> dict:
    table = hagrid.landmark_table(data, landmark_model, landmark_variant, progress=_log)
    clf_opts = GestureClassifierOptions() if model_path is None else GestureClassifierOptions(model_path=model_path)
    methods = {
        "model": GestureClassifier(clf_opts),
        "rules": GestureClassifier(GestureClassifierOptions(method="rules")),
    }
    folders = {p: r["folder"] for p, r in table.items()}
    lms = {p: r["landmarks"] for p, r in table.items()}
    found = {p: lm is not None for p, lm in lms.items()}
    preds = _classify(methods, lms)
    sources = {s: sum(r["roi_source"] == s for r in table.values()) for s in ("palm", "crop_box", "none")}
    result = {
        "data": str(data),
        "input": "crops",
        "roi": hagrid.__doc__.split("ROI from a crop:")[1].strip(),
        "mapping": hagrid.HAGRID_TO_CUEKIT,
        "unmapped_as_none": list(hagrid.UNMAPPED),
        "split": "held-out when the first byte of sha1(file name) is odd (perception/hands/hagrid.py)",
        "landmark_model": f"{landmark_model}/{landmark_variant}",
        "classifier": str(methods["model"].options.model_path),
        "roi_sources": sources,
        "cuekit": {s: summarise(folders, found, preds, s) for s in SPLITS},
    }
    mp = _mediapipe(mp_python, table) if mp_python is not None else None
    if mp is None:
        result["mediapipe"] = {"status": "skipped" if mp_python is None else "failed"}
    else:
        version = mp.pop("__version__")
        mfound = {p: mp.get(p) is not None for p in table}
        mpreds = _classify(methods, {p: mp.get(p) for p in table})
        d224 = []
        for p in table:
            if lms[p] is not None and mp.get(p) is not None:
                d = np.linalg.norm(lms[p][:, :2] - mp[p][:, :2], axis=1).mean()
                d224.append(float(d * 224.0 / max(table[p]["roi_w"], 1e-6)))
        result["mediapipe"] = {
            "status": "ok",
            "version": version,
            "input": "the same grey canvases; MediaPipe runs its own palm detector (static_image_mode)",
            "with_our_classifiers": {s: summarise(folders, mfound, mpreds, s) for s in SPLITS},
            "landmark_mean_px_at_224": float(np.mean(d224)) if d224 else None,
            "landmark_median_px_at_224": float(np.median(d224)) if d224 else None,
            "hands_both": len(d224),
        }
    return result


def plot_confusion(result: dict, path: Path) -> None:
    """Rows = HaGRID folders, columns = predicted CueKit gesture, row-normalised; dev and held-out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = list(STATIC_GESTURES)
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5))
    for ax, s in zip(axes, SPLITS, strict=True):
        summ = result["cuekit"][s]
        conf = summ["confusion"]["model"]
        rows = list(conf)
        m = np.array([[conf[f][g] for g in cols] for f in rows], dtype=float)
        m /= np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [f"{f} -> {hagrid.cuekit_label(f)}" for f in rows], fontsize=8)
        for i in range(len(rows)):
            for j in range(len(cols)):
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
        lo = summ["model_lowest_goal_folder"]
        ax.set_title(
            f"{s} half: {summ['images']} crops, 12 mapped + none {summ['model_accuracy_goal']:.3f} "
            f"(lowest {lo[0]} {lo[1]:.2f})",
            fontsize=9,
        )
        ax.set_xlabel("predicted CueKit gesture")
    fig.suptitle(f"HaGRID crops through CueKit's palm detector + landmarks + classifier ({Path(result['data']).name})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table_text(result: dict) -> str:
    lines = [f"hands eval on {result['data']} (crops, {result['landmark_model']}; split: {result['split']})", ""]
    mp = result["mediapipe"]
    head = (
        "| HaGRID folder | CueKit label | "
        + " | ".join(
            f"{s} n / found / classifier / rules" + (" / MediaPipe lm + classifier" if mp.get("status") == "ok" else "")
            for s in SPLITS
        )
        + " |"
    )
    lines += [head, "|" + "---|" * (2 + len(SPLITS))]
    dev = result["cuekit"]["dev"]["per_folder"]
    for f in dev:
        cells = []
        for s in SPLITS:
            r = result["cuekit"][s]["per_folder"].get(f)
            if r is None:
                cells.append("-")
                continue
            c = f"{r['images']} / {r['with_hand']} / {r['model_accuracy']:.2f} / {r['rules_accuracy']:.2f}"
            if mp.get("status") == "ok":
                c += f" / {mp['with_our_classifiers'][s]['per_folder'][f]['model_accuracy']:.2f}"
            cells.append(c)
        lines.append(f"| {f} | {hagrid.cuekit_label(f)} | " + " | ".join(cells) + " |")
    for s in SPLITS:
        x = result["cuekit"][s]
        line = (
            f"{s}: 12 mapped + none: classifier {x['model_accuracy_goal']:.3f} (lowest "
            f"{x['model_lowest_goal_folder'][0]} {x['model_lowest_goal_folder'][1]:.2f}), rules "
            f"{x['rules_accuracy_goal']:.3f}; mute/three/two_up rejected as none {x['model_unmapped_as_none']:.2f}"
        )
        if mp.get("status") == "ok":
            y = mp["with_our_classifiers"][s]
            line += (
                f"; MediaPipe found {y['with_hand']}/{y['images']} (ours {x['with_hand']}), its landmarks + "
                f"our classifier {y['model_accuracy_goal']:.3f} ({y['model_accuracy_goal_found']:.3f} on crops "
                f"where it found a hand; ours {x['model_accuracy_goal_found']:.3f})"
            )
        lines.append(line)
    return "\n".join(lines)
