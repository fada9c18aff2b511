"""`cuekit eval hands --scenes DIR`: hands found in real scene photos (../shared/data/hands_scenes).

DIR holds photos and labels.csv (`filename,width,height,class,xmin,ymin,xmax,ymax`, one row per hand;
class `N-hand` = N open fingers). Each photo goes through CueKit's landmarker in IMAGE mode (palm
detection on the whole photo, then landmarks); a found hand's box is the axis-aligned box of its 21
landmarks (no margin). A labelled hand is found when a box overlaps it at IoU >= 0.5 (greedy matching,
best IoU first); recall = found / labelled, precision = matched boxes / all boxes. The finger count of
each found hand (perception/hands/rules.count_extended_fingers) is scored against the label. With a
MediaPipe 0.10.14 interpreter, MediaPipe's solutions.hands (static mode) runs on the same photos and is
scored the same way, side by side.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from perception.hands.rules import count_extended_fingers

MAX_LABEL_ROWS = 100_000


def _log(msg: str) -> None:
    print(f"[eval hands] {msg}", file=sys.stderr, flush=True)


def load_labels(scenes: Path) -> dict[str, list[tuple[tuple[float, float, float, float], int]]]:
    """labels.csv -> {file name: [(box, open fingers)]}; malformed rows are counted and skipped."""
    path = scenes / "labels.csv"
    if not path.is_file():
        raise SystemExit(f"cuekit eval hands: {path} not found")
    out: dict[str, list] = {}
    bad = 0
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= MAX_LABEL_ROWS:
                raise SystemExit(f"cuekit eval hands: {path} has more than {MAX_LABEL_ROWS} rows")
            try:
                box = tuple(float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
                fingers = int(row["class"].split("-")[0])
                name = Path(row["filename"]).name
            except (KeyError, ValueError, AttributeError):
                bad += 1
                continue
            if box[2] <= box[0] or box[3] <= box[1] or not name:
                bad += 1
                continue
            out.setdefault(name, []).append((box, fingers))
    if bad:
        _log(f"skipped {bad} malformed label rows")
    return out


def box_iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def landmark_box(lm: np.ndarray) -> tuple[float, float, float, float]:
    a = np.asarray(lm)[:, :2]
    return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max())


def score(labels: dict, hands: dict[str, list[np.ndarray]], iou_min: float = 0.5) -> dict:
    """Recall / precision at `iou_min` and finger-count accuracy of the matched hands."""
    n_lab = n_det = tp = 0
    finger_ok, finger_n, finger_off = 0, 0, []
    per_count: dict[int, list[int]] = {}
    ious = []
    for name, labs in labels.items():
        dets = hands.get(name, [])
        n_lab += len(labs)
        n_det += len(dets)
        pairs = sorted(
            ((box_iou(lb[0], landmark_box(d)), i, j) for i, lb in enumerate(labs) for j, d in enumerate(dets)),
            reverse=True,
        )
        used_l, used_d = set(), set()
        for iou, i, j in pairs:
            if iou < iou_min or i in used_l or j in used_d:
                continue
            used_l.add(i)
            used_d.add(j)
            tp += 1
            ious.append(iou)
            got = count_extended_fingers(dets[j])
            want = labs[i][1]
            finger_n += 1
            finger_ok += got == want
            finger_off.append(abs(got - want))
            per_count.setdefault(want, [0, 0])
            per_count[want][0] += got == want
            per_count[want][1] += 1
    return {
        "labelled_hands": n_lab,
        "boxes": n_det,
        "matched": tp,
        "recall": tp / n_lab if n_lab else 0.0,
        "precision": tp / n_det if n_det else 0.0,
        "mean_iou_matched": float(np.mean(ious)) if ious else None,
        "finger_count_accuracy": finger_ok / finger_n if finger_n else None,
        "finger_count_within_1": float(np.mean([o <= 1 for o in finger_off])) if finger_off else None,
        "finger_count_per_label": {str(k): f"{v[0]}/{v[1]}" for k, v in sorted(per_count.items())},
    }


def evaluate_scenes(
    scenes: Path,
    landmark_model: str = "hand_landmark_full",
    landmark_variant: str = "fp32",
    mp_python: Path | None = None,
) -> dict:
    import cv2

    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode

    labels = load_labels(scenes)
    lmk = HandLandmarker(
        HandLandmarkerOptions(
            running_mode=RunningMode.IMAGE,
            num_hands=2,
            landmark_model=landmark_model,
            landmark_variant=landmark_variant,
        )
    )
    ours: dict[str, list[np.ndarray]] = {}
    missing = 0
    for k, name in enumerate(sorted(labels)):
        img = cv2.imread(str(scenes / name))
        if img is None:
            missing += 1
            continue
        ours[name] = [h.image_xyz for h in lmk.detect(img, bgr=True).hands]
        if (k + 1) % 20 == 0:
            _log(f"scenes: {k + 1}/{len(labels)} photos")
    if missing:
        _log(f"{missing} labelled photos missing or unreadable (their hands count as not found)")
    result = {
        "scenes": str(scenes),
        "photos": len(labels),
        "unreadable": missing,
        "iou": 0.5,
        "box": "axis-aligned box of the 21 landmarks, no margin",
        "landmark_model": f"{landmark_model}/{landmark_variant}",
        "cuekit": score(labels, ours),
    }
    if mp_python is None:
        result["mediapipe"] = {"status": "skipped"}
        return result
    script = Path(__file__).with_name("mediapipe_reference.py")
    _log(f"running MediaPipe solutions.hands with {mp_python}")
    try:
        out = subprocess.run(
            [str(mp_python), str(script), "images", *[str(scenes / n) for n in sorted(labels)]],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        mp = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        _log(f"MediaPipe comparison skipped: {exc}")
        result["mediapipe"] = {"status": "failed"}
        return result
    theirs = {Path(f).name: [np.asarray(h["landmarks"]) for h in v["hands"]] for f, v in mp["images"].items()}
    result["mediapipe"] = {"status": "ok", "version": mp.get("mediapipe"), **score(labels, theirs)}
    return result


def table_text(r: dict) -> str:
    c, m = r["cuekit"], r["mediapipe"]
    rows = [
        ("labelled hands", "labelled_hands"),
        ("boxes reported", "boxes"),
        ("matched at IoU 0.5", "matched"),
        ("recall", "recall"),
        ("precision", "precision"),
        ("mean IoU of matches", "mean_iou_matched"),
        ("finger count exact", "finger_count_accuracy"),
        ("finger count within 1", "finger_count_within_1"),
    ]
    lines = [
        f"hand boxes in {r['scenes']} ({r['photos']} photos; box = {r['box']})",
        "",
        "| | CueKit (ONNX) | MediaPipe |",
        "|---|---|---|",
    ]
    for label, k in rows:
        a, b = c.get(k), m.get(k, m.get("status"))
        fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
        lines.append(f"| {label} | {fmt(a)} | {fmt(b)} |")
    lines.append(
        f"| finger count per label (right/n) | {c['finger_count_per_label']} | {m.get('finger_count_per_label', '-')} |"
    )
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["recall", "precision", "finger_count_accuracy", "finger_count_within_1"]
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, [r["cuekit"][k] or 0 for k in keys], 0.4, label="CueKit ONNX")
    if r["mediapipe"].get("status") == "ok":
        ax.bar(x + 0.2, [r["mediapipe"][k] or 0 for k in keys], 0.4, label=f"MediaPipe {r['mediapipe']['version']}")
    ax.set_xticks(x, ["box recall\nIoU 0.5", "box precision\nIoU 0.5", "finger count\nexact", "finger count\nwithin 1"])
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(f"hands in {r['photos']} scene photos ({Path(r['scenes']).name})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
