"""`cuekit eval hands --data DIR [--json]`: hands found and gesture accuracy on labelled photos.

DIR holds one folder per class (e.g. ../shared/data/hagrid_sample: call, four, none, rock). Every image
goes through the landmarker in IMAGE mode (palm detection on each photo). An image's gesture is the
most confident hand whose label is one of the class set (the folder names other than "none");
otherwise "none". So "none" is correct when no named gesture of the class set is reported. Both the
trained classifier and the rule baseline are scored, on all images and on images where a hand was found.

With a separate interpreter that has mediapipe==0.10.14 (--mediapipe-python, default
/work/mpbench_venv/bin/python when present), MediaPipe's own solutions.hands runs on the same images:
images with a hand, landmark agreement in pixels (image and 224-crop scale), and both classifiers on
MediaPipe's landmarks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from perception.hands.classifier import GestureClassifier, GestureClassifierOptions
from perception.hands.rules import GESTURES

DEFAULT_MP_PYTHON = Path("/work/mpbench_venv/bin/python")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


def _log(msg: str) -> None:
    print(f"[eval hands] {msg}", file=sys.stderr, flush=True)


def _load_dataset(data: Path) -> dict[str, list[Path]]:
    if not data.is_dir():
        raise SystemExit(f"cuekit eval hands: --data {data} is not a directory")
    classes = {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXT)
        for d in sorted(data.iterdir())
        if d.is_dir()
    }
    classes = {k: v for k, v in classes.items() if v}
    if not classes:
        raise SystemExit(f"cuekit eval hands: {data} has no class folders with images")
    unknown = [c for c in classes if c not in GESTURES]
    if unknown:
        _log(f"folders not in the gesture set ({', '.join(unknown)}): they can never be predicted")
    return classes


def image_label(labels: list[tuple[str, float]], class_set: set[str]) -> str:
    """The image's gesture: the most confident hand reporting a gesture of the class set, else none."""
    named = [(c, g) for g, c in labels if g in class_set]
    return max(named)[1] if named else "none"


def _mediapipe(py: Path, data: Path) -> dict | None:
    script = Path(__file__).with_name("mediapipe_reference.py")
    _log(f"running MediaPipe solutions.hands with {py}")
    try:
        out = subprocess.run(
            [str(py), str(script), "images", str(data)], capture_output=True, text=True, timeout=600, check=True
        )
        return json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        _log(f"MediaPipe comparison skipped: {exc}")
        return None


def _match(ours: list[np.ndarray], theirs: list[np.ndarray]) -> list[tuple[int, int]]:
    """Greedy pairing of hands by wrist + MCP centroid distance."""
    pairs, used = [], set()
    for i, a in enumerate(ours):
        best, bd = None, float("inf")
        for j, b in enumerate(theirs):
            d = float(np.linalg.norm(a[[0, 5, 9, 13, 17], :2].mean(0) - b[[0, 5, 9, 13, 17], :2].mean(0)))
            if j not in used and d < bd:
                best, bd = j, d
        if best is not None:
            used.add(best)
            pairs.append((i, best))
    return pairs


def evaluate(
    data: Path,
    landmark_model: str = "hand_landmark_full",
    landmark_variant: str = "fp32",
    mp_python: Path | None = None,
) -> dict:
    import cv2

    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode

    classes = _load_dataset(data)
    class_set = {c for c in classes if c != "none"}
    lmk = HandLandmarker(
        HandLandmarkerOptions(
            running_mode=RunningMode.IMAGE,
            num_hands=2,
            landmark_model=landmark_model,
            landmark_variant=landmark_variant,
        )
    )
    methods = {"model": GestureClassifier(), "rules": GestureClassifier(GestureClassifierOptions(method="rules"))}
    per_image: dict[str, dict] = {}
    times = []
    n_total = sum(len(v) for v in classes.values())
    k = 0
    for cls, files in classes.items():
        for f in files:
            k += 1
            img = cv2.imread(str(f))
            if img is None:
                _log(f"skipping unreadable image {f}")
                continue
            t = time.perf_counter()
            res = lmk.detect(img, bgr=True)
            times.append((time.perf_counter() - t) * 1e3)
            rec = {
                "class": cls,
                "hands": len(res.hands),
                "landmarks": [h.image_xyz for h in res.hands],
                "handedness": [h.handedness for h in res.hands],
                "roi_w": [r.w for r in res.rois],
                "pred": {},
                "hand_labels": {},
            }
            for m, clf in methods.items():
                labs = [(r.gesture, r.confidence) for r in (clf.classify(h.image_xyz) for h in res.hands)]
                rec["hand_labels"][m] = [g for g, _ in labs]
                rec["pred"][m] = image_label(labs, class_set)
            per_image[str(f)] = rec
            _log(
                f"[{k}/{n_total}] {cls}/{f.name}: {len(res.hands)} hand(s), model {rec['pred']['model']}, "
                f"rules {rec['pred']['rules']}"
            )

    def summarise(recs: dict[str, dict], key: str) -> dict:
        out: dict = {"per_class": {}}
        for cls in classes:
            rs = [r for r in recs.values() if r["class"] == cls]
            found = [r for r in rs if r["hands"] > 0]
            row = {"images": len(rs), "with_hand": len(found)}
            for m in methods:
                row[f"{m}_accuracy"] = float(np.mean([r[key][m] == cls for r in rs])) if rs else 0.0
                row[f"{m}_accuracy_found"] = float(np.mean([r[key][m] == cls for r in found])) if found else 0.0
            out["per_class"][cls] = row
        allr = list(recs.values())
        out["images"] = len(allr)
        out["with_hand"] = sum(r["hands"] > 0 for r in allr)
        for m in methods:
            out[f"{m}_accuracy"] = float(np.mean([r[key][m] == r["class"] for r in allr]))
            fr = [r for r in allr if r["hands"] > 0]
            out[f"{m}_accuracy_found"] = float(np.mean([r[key][m] == r["class"] for r in fr])) if fr else 0.0
        return out

    result = {
        "data": str(data),
        "classes": list(classes),
        "class_set": sorted(class_set),
        "landmark_model": f"{landmark_model}/{landmark_variant}",
        "cuekit": summarise(per_image, "pred"),
        "ms_per_image_median": float(np.median(times)) if times else None,
    }

    mp = _mediapipe(mp_python, data) if mp_python is not None else None
    if mp is None:
        result["mediapipe"] = {"status": "skipped" if mp_python is None else "failed"}
    else:
        mp_recs, dists, dists224, same_count, same_hand, pairs = {}, [], [], 0, 0, 0
        for f, rec in per_image.items():
            mh = mp["images"].get(f, {"hands": [], "ms": None})
            theirs = [np.asarray(h["landmarks"]) for h in mh["hands"]]
            same_count += len(theirs) == rec["hands"]
            for i, j in _match(rec["landmarks"], theirs):
                d = np.linalg.norm(rec["landmarks"][i][:, :2] - theirs[j][:, :2], axis=1).mean()
                dists.append(float(d))
                dists224.append(float(d * 224.0 / rec["roi_w"][i]))
                pairs += 1
                same_hand += rec["handedness"][i] == mh["hands"][j]["label"].lower()
            labs = {
                m: [(r.gesture, r.confidence) for r in (clf.classify(t) for t in theirs)] for m, clf in methods.items()
            }
            mp_recs[f] = {
                "class": rec["class"],
                "hands": len(theirs),
                "pred": {m: image_label(labs[m], class_set) for m in methods},
            }
        ms = [v["ms"] for v in mp["images"].values() if v.get("ms") is not None]
        result["mediapipe"] = {
            "status": "ok",
            "version": mp.get("mediapipe"),
            "summary_with_our_classifiers": summarise(mp_recs, "pred"),
            "images_with_same_hand_count": same_count,
            "handedness_agreement": f"{same_hand}/{pairs}",
            "landmark_mean_px": float(np.mean(dists)) if dists else None,
            "landmark_max_px": float(np.max(dists)) if dists else None,
            "landmark_mean_px_at_224": float(np.mean(dists224)) if dists224 else None,
            "landmark_max_px_at_224": float(np.max(dists224)) if dists224 else None,
            "ms_per_image_median": float(np.median(ms)) if ms else None,
        }
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = result["classes"]
    ours = result["cuekit"]["per_class"]
    x = np.arange(len(classes))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.bar(x - 0.2, [ours[c]["with_hand"] / ours[c]["images"] for c in classes], 0.4, label="CueKit ONNX")
    mp = result.get("mediapipe", {})
    if mp.get("status") == "ok":
        theirs = mp["summary_with_our_classifiers"]["per_class"]
        ax.bar(x + 0.2, [theirs[c]["with_hand"] / theirs[c]["images"] for c in classes], 0.4, label="MediaPipe 0.10.14")
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.05)
    ax.set_title("images with a hand found")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1]
    ax.bar(x - 0.2, [ours[c]["model_accuracy"] for c in classes], 0.4, label="trained classifier (ONNX)")
    ax.bar(x + 0.2, [ours[c]["rules_accuracy"] for c in classes], 0.4, label="rule baseline")
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.05)
    ax.set_title("gesture accuracy (all images)")
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"cuekit eval hands on {Path(result['data']).name}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(result: dict) -> str:
    lines = [
        f"hands eval on {result['data']} ({result['landmark_model']})",
        "",
        "| class | images | hands found | classifier acc | rules acc |",
        "|---|---|---|---|---|",
    ]
    pc = result["cuekit"]["per_class"]
    for c, r in pc.items():
        lines.append(
            f"| {c} | {r['images']} | {r['with_hand']} | {r['model_accuracy']:.2f} | {r['rules_accuracy']:.2f} |"
        )
    s = result["cuekit"]
    lines.append(f"| all | {s['images']} | {s['with_hand']} | {s['model_accuracy']:.2f} | {s['rules_accuracy']:.2f} |")
    mp = result["mediapipe"]
    if mp.get("status") == "ok":
        m = mp["summary_with_our_classifiers"]
        lines += [
            "",
            (
                f"MediaPipe {mp['version']}: hands found in {m['with_hand']}/{m['images']} images; same hand "
                f"count on {mp['images_with_same_hand_count']}/{m['images']}; landmark agreement mean "
                f"{mp['landmark_mean_px']:.2f} px (max {mp['landmark_max_px']:.2f}), at 224 crop scale mean "
                f"{mp['landmark_mean_px_at_224']:.2f} px (max {mp['landmark_max_px_at_224']:.2f}); classifier "
                f"on MediaPipe landmarks {m['model_accuracy']:.2f}, rules {m['rules_accuracy']:.2f}"
            ),
        ]
    else:
        lines += ["", f"MediaPipe comparison: {mp.get('status')}"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="cuekit eval hands", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--data",
        type=Path,
        help="folder with one sub-folder of images per class (photos, or HaGRID hand crops: see --input)",
    )
    src.add_argument("--scenes", type=Path, help="folder of scene photos with labels.csv (hand boxes, fingers)")
    src.add_argument("--point-history", type=Path, help="Kazuhito00 point_history.csv: swipes on real fingertip tracks")
    ap.add_argument(
        "--input",
        choices=["auto", "crops", "photos"],
        default="auto",
        help="crops: tight hand crops (perception/hands/hagrid.py ROI recipe); photos: palm "
        "detection on whole photos; auto: crops when the median long side is under 300 px",
    )
    ap.add_argument("--model", type=Path, default=None, help="gesture classifier ONNX (default: the shipped one)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument(
        "--landmark-model", default="hand_landmark_full", choices=["hand_landmark_full", "hand_landmark_lite"]
    )
    ap.add_argument("--variant", default="fp32", choices=["fp32", "int8"])
    ap.add_argument(
        "--mediapipe-python",
        type=Path,
        default=DEFAULT_MP_PYTHON if DEFAULT_MP_PYTHON.exists() else None,
        help="interpreter with mediapipe==0.10.14 for the comparison (default: %(default)s)",
    )
    ap.add_argument("--no-mediapipe", action="store_true", help="skip the MediaPipe comparison")
    ap.add_argument("--plot", type=Path, default=None, help="save a bar chart (PNG) here")
    args = ap.parse_args(argv)
    mp_python = None if args.no_mediapipe else args.mediapipe_python
    if args.point_history is not None:
        from perception.hands import eval_dynamic

        result = eval_dynamic.evaluate_point_history(args.point_history)
        print(json.dumps(result) if args.json else eval_dynamic.table_text(result))
        return 0
    if args.scenes is not None:
        from perception.hands import eval_scenes

        if not args.scenes.is_dir():
            raise SystemExit(f"cuekit eval hands: --scenes {args.scenes} is not a directory")
        result = eval_scenes.evaluate_scenes(args.scenes, args.landmark_model, args.variant, mp_python)
        if args.plot is not None:
            eval_scenes.plot(result, args.plot)
        print(json.dumps(result) if args.json else eval_scenes.table_text(result))
        return 0
    if not args.data.is_dir():
        raise SystemExit(f"cuekit eval hands: --data {args.data} is not a directory")
    if _input_kind(args.data) if args.input == "auto" else args.input == "crops":
        from perception.hands import eval_crops

        try:
            result = eval_crops.evaluate_crops(args.data, args.landmark_model, args.variant, mp_python, args.model)
        except ValueError as exc:
            raise SystemExit(f"cuekit eval hands: {exc}") from None
        if args.plot is not None:
            eval_crops.plot_confusion(result, args.plot)
            _log(f"plot saved to {args.plot}")
        print(json.dumps(result) if args.json else eval_crops.table_text(result))
        return 0
    result = evaluate(args.data, args.landmark_model, args.variant, mp_python)
    if args.plot is not None:
        plot(result, args.plot)
        _log(f"plot saved to {args.plot}")
    if args.json:
        print(json.dumps(result))
    else:
        print(_table(result))
    return 0


def _input_kind(data: Path) -> bool:
    """True (crops) when the median long side of up to 40 images is under 300 px."""
    import cv2

    files = sorted(p for d in data.iterdir() if d.is_dir() for p in d.iterdir() if p.suffix.lower() in IMAGE_EXT)
    sides = [
        max(im.shape[:2])
        for im in (cv2.imread(str(p)) for p in files[:: max(1, len(files) // 40)][:40])
        if im is not None
    ]
    return bool(sides) and float(np.median(sides)) < 300
