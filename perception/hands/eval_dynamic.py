"""`cuekit eval hands --point-history CSV`: CueKit's swipe detector against real fingertip tracks.

Kazuhito00's point_history.csv (Apache-2.0): label (0 Stop, 1 Clockwise, 2 Counter Clockwise, 3 Move)
+ 16 (x, y) index-fingertip positions of consecutive webcam frames, relative to the first and divided
by the image width / height. Consecutive rows overlap by 15 frames, so every 16th row of a run of one
label is taken: non-overlapping 16-frame tracks. CueKit has no circle gesture; what matters is that a
finger held still or circling does not fire a swipe, and how often free motion ("Move") does.

The file has no frame rate, image size or hand size, so they are assumptions, stated in the output:
30 fps, a 960x540 image (the recorder's default), and a hand whose palm is `palm_px` wide, swept over
several sizes. A point pose of the kinematic hand model is translated so its index tip follows the
track, and fed frame by frame to perception.hands.dynamic.DynamicGestureRecognizer (its thresholds are
not changed here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = {0: "stop", 1: "clockwise", 2: "counter_clockwise", 3: "move"}
FPS = 30.0
IMAGE = (960.0, 540.0)
PALM_PX = (60.0, 90.0, 130.0)
MAX_ROWS = 1_000_000


def load_tracks(path: Path) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Non-overlapping (label, (16,2) pixel track) and the count of malformed rows skipped."""
    if not path.is_file():
        raise SystemExit(f"cuekit eval hands: {path} not found")
    rows, bad = [], 0
    for i, line in enumerate(path.read_text().splitlines()):
        if i >= MAX_ROWS:
            raise SystemExit(f"cuekit eval hands: {path} has more than {MAX_ROWS} rows")
        try:
            parts = [float(v) for v in line.strip().split(",")]
        except ValueError:
            bad += 1
            continue
        if len(parts) != 33 or int(parts[0]) not in LABELS or not np.all(np.isfinite(parts)):
            bad += 1
            continue
        rows.append((int(parts[0]), np.array(parts[1:]).reshape(16, 2) * IMAGE))
    tracks, run_start = [], 0
    for i, (lab, tr) in enumerate(rows):
        if i > 0 and lab != rows[i - 1][0]:
            run_start = i
        if (i - run_start) % 16 == 0:
            tracks.append((lab, tr))
    return tracks, bad


def _pose(palm_px: float) -> np.ndarray:
    from perception.hands.landmarks import palm_size
    from perception.hands.synth import SynthOptions, sample

    opt = SynthOptions(
        hand_px=(100.0, 100.0),
        angle_jitter=0.0,
        bone_jitter=0.0,
        landmark_noise=0.0,
        yaw_max=0.0,
        pitch_max=0.0,
        back_view_prob=0.0,
        left_prob=0.0,
    )
    lm = sample("point", np.random.default_rng(0), opt)
    lm = (lm - lm[8]) * (palm_px / palm_size(lm))
    return lm


def evaluate_point_history(path: Path) -> dict:
    from perception.hands.dynamic import DynamicGestureRecognizer
    from perception.stream.types import HandLandmarks

    tracks, bad = load_tracks(path)
    out: dict = {
        "file": str(path),
        "tracks": len(tracks),
        "malformed_rows": bad,
        "assumed": {"fps": FPS, "image_px": list(IMAGE), "palm_px": list(PALM_PX)},
        "by_palm_px": {},
    }
    for palm in PALM_PX:
        pose = _pose(palm)
        per: dict[str, dict] = {}
        for lab, tr in tracks:
            rec = DynamicGestureRecognizer()
            kinds = []
            start = np.array([IMAGE[0] / 2, IMAGE[1] / 2])
            t = 0
            for k in range(16):
                t = int(k * 1e9 / FPS)
                lm = pose.copy()
                lm[:, :2] += start + tr[k]
                kinds += [o.kind for o in rec.update(t, [HandLandmarks(lm, t, "right", 0.99, None, 1)], ["point"])]
            kinds += [o.kind for o in rec.flush(t + int(0.2e9))]
            swipes = [k for k in kinds if k.startswith("swipe_")]
            row = per.setdefault(LABELS[lab], {"tracks": 0, "with_swipe": 0, "travel_palms": []})
            row["tracks"] += 1
            row["with_swipe"] += bool(swipes)
            row["travel_palms"].append(float(np.linalg.norm(np.ptp(tr, axis=0)) / palm))
        out["by_palm_px"][str(int(palm))] = {
            k: {
                "tracks": v["tracks"],
                "with_swipe": v["with_swipe"],
                "swipe_rate": round(v["with_swipe"] / v["tracks"], 4),
                "median_extent_palms": round(float(np.median(v["travel_palms"])), 3),
            }
            for k, v in per.items()
        }
    return out


def table_text(r: dict) -> str:
    w, h = r["assumed"]["image_px"]
    lines = [
        (
            f"swipes on real fingertip tracks ({r['file']}, {r['tracks']} tracks of 16 frames; assumed "
            f"{r['assumed']['fps']:.0f} fps, {w:.0f}x{h:.0f})"
        ),
        "",
        "| palm px | " + " | ".join(LABELS.values()) + " |",
        "|---|" + "---|" * len(LABELS),
    ]
    for palm, per in r["by_palm_px"].items():
        cells = [
            f"{per[k]['with_swipe']}/{per[k]['tracks']} (extent {per[k]['median_extent_palms']:.2f})"
            if k in per
            else "-"
            for k in LABELS.values()
        ]
        lines.append(f"| {palm} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("cells: tracks with a swipe / tracks (median bounding-box diagonal of the track in palm sizes)")
    return "\n".join(lines)
