"""Run MediaPipe's own `solutions.hands` (mediapipe==0.10.14) on images or synthetic video frames, for
comparison. Runs in a SEPARATE interpreter that has mediapipe (it pulls jax and ~1 GB), never in the
project's environment; it imports nothing from CueKit, so it can be run by that interpreter as a file:

    /work/mpbench_venv/bin/python perception/hands/mediapipe_reference.py images DIR...   -> JSON on stdout
    /work/mpbench_venv/bin/python perception/hands/mediapipe_reference.py bench-video N

`images`: per image file, static_image_mode=True (palm detection on every image, as our IMAGE mode):
landmarks in pixels, handedness, time. `bench-video`: N frames of 640x480 with a moving hand photo
pasted in, static_image_mode=False (MediaPipe tracks), median ms per frame.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _hands(static: bool, max_hands: int = 2):
    import mediapipe as mp

    return mp.solutions.hands.Hands(
        static_image_mode=static,
        max_num_hands=max_hands,
        model_complexity=1,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def _parse(res, w: int, h: int) -> list[dict]:
    out = []
    if not res.multi_hand_landmarks:
        return out
    for lms, hd in zip(res.multi_hand_landmarks, res.multi_handedness, strict=True):
        pts = [[p.x * w, p.y * h, p.z * w] for p in lms.landmark]
        c = hd.classification[0]
        out.append({"landmarks": pts, "label": c.label, "score": c.score})
    return out


def images(paths: list[str]) -> dict:
    import cv2

    files = []
    for p in paths:
        q = Path(p)
        files += sorted(q.rglob("*.jpg")) + sorted(q.rglob("*.png")) if q.is_dir() else [q]
    results = {}
    with _hands(True) as hands:
        for f in files:
            img = cv2.imread(str(f))
            if img is None:
                continue
            h, w = img.shape[:2]
            t = time.perf_counter()
            res = hands.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            ms = (time.perf_counter() - t) * 1e3
            results[str(f)] = {"hands": _parse(res, w, h), "ms": ms}
    return {"mediapipe": __import__("mediapipe").__version__, "images": results}


def bench_video(n: int, photo: str) -> dict:
    import cv2
    import numpy as np

    src = cv2.imread(photo)
    if src is None:
        raise SystemExit(f"cannot read {photo}")
    frames = synthetic_video(src, n)
    times, cpu = [], []
    found = 0
    landmarks = []
    with _hands(False, 1) as hands:
        for f in frames:
            rgb = cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
            t, c = time.perf_counter(), time.process_time()
            res = hands.process(rgb)
            times.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)  # all threads: tells whether it ran on >1 core
            found += bool(res.multi_hand_landmarks)
            hs = _parse(res, 640, 480)
            landmarks.append(hs[0]["landmarks"] if hs else None)
    warm = times[5:] if len(times) > 10 else times
    warm_cpu = cpu[5:] if len(cpu) > 10 else cpu
    return {
        "mediapipe": __import__("mediapipe").__version__,
        "frames": n,
        "frames_with_hand": found,
        "median_ms": float(np.median(warm)),
        "mean_ms": float(np.mean(warm)),
        "cpu_median_ms": float(np.median(warm_cpu)),
        "landmarks": landmarks,
    }


def synthetic_video(src, n: int):
    """640x480 frames: the photo scaled to fit, sliding slowly sideways (so a tracker must follow it).
    The same function (same frames) is used by `cuekit bench hands`."""
    import cv2
    import numpy as np

    h, w = src.shape[:2]
    s = min(440 / h, 560 / w)
    img = cv2.resize(src, (int(w * s), int(h * s)))
    ih, iw = img.shape[:2]
    frames = []
    for i in range(n):
        canvas = np.full((480, 640, 3), 90, np.uint8)
        dx = int((640 - iw) / 2 + 30 * np.sin(i / 15.0))
        dy = (480 - ih) // 2
        x0, x1 = max(dx, 0), min(dx + iw, 640)
        canvas[dy : dy + ih, x0:x1] = img[:, x0 - dx : x1 - dx]
        frames.append(canvas)
    return frames


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "images":
        json.dump(images(argv[1:]), sys.stdout)
    elif len(argv) == 3 and argv[0] == "bench-video":
        json.dump(bench_video(int(argv[1]), argv[2]), sys.stdout)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
