"""HaGRID hand crops: the gesture mapping to CueKit, the fixed developer / held-out split, and landmarks
from a crop through CueKit's own palm detector + landmark models.

Mapping (HaGRID folder -> CueKit static gesture): dislike = thumbs_down, like = thumbs_up, one = point,
palm / stop / stop_inverted = open_palm, peace = victory, call, rock, fist, ok, four = the same names,
none = none. HaGRID gestures CueKit has no gesture for (mute = index on the lips, three, two_up = index
and middle up together) must come out as `none`: reporting them as a CueKit gesture would be a false
command. So the 16 folders give 10 CueKit gestures + none; the "12 mapped gestures" are the 12 folders
with a CueKit gesture.

Split: by image, fixed: an image is in the held-out half when the first byte of sha1(file name) is odd,
else in the developer half. Only the developer half is used to train or tune anything.

ROI from a crop: the crop is a hand box with almost no margin, often 50-130 px. It is used the way a
detector box is: the crop is pasted into the middle of a square grey canvas three times its long side
(so the hand sits in a scene at the scale the palm detector was trained for), the palm detector runs on
the canvas and the palm nearest the crop's centre gives the rotated ROI exactly as in live tracking
(roi.palm_to_rect). When the palm detector finds no palm there, the crop box itself becomes the ROI
(upright, square on the long side, x1.5). Then one refinement: the ROI from those landmarks
(roi.landmarks_to_rect, as the next video frame would use) and the landmark model once more; the
refined landmarks are kept when their presence is not lower.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.hands.roi import Rect, landmarks_to_rect

HAGRID_TO_CUEKIT: dict[str, str] = {
    "call": "call",
    "dislike": "thumbs_down",
    "fist": "fist",
    "four": "four",
    "like": "thumbs_up",
    "ok": "ok",
    "one": "point",
    "palm": "open_palm",
    "peace": "victory",
    "rock": "rock",
    "stop": "open_palm",
    "stop_inverted": "open_palm",
    "none": "none",
    "mute": "none",
    "three": "none",
    "two_up": "none",
}
# folders whose CueKit label is `none` although the hand shows a (HaGRID) gesture
UNMAPPED = ("mute", "three", "two_up")

CANVAS_FACTOR = 3.0  # canvas side / crop long side
CANVAS_GREY = 114
FALLBACK_SCALE = 1.5
ROI_METHOD = "perception.hands.hagrid.crop_landmarks/2"  # bump when the ROI recipe changes (caches)


def split_of(path: str | Path) -> str:
    """'heldout' or 'dev' from the image's file name alone (stable across machines and copies)."""
    return "heldout" if hashlib.sha1(Path(path).name.encode()).digest()[0] & 1 else "dev"


def cuekit_label(folder: str) -> str:
    try:
        return HAGRID_TO_CUEKIT[folder]
    except KeyError:
        raise ValueError(f"{folder!r} is not a HaGRID gesture folder ({', '.join(HAGRID_TO_CUEKIT)})") from None


@dataclass(slots=True)
class CropHand:
    landmarks: np.ndarray | None  # (21,3) in crop pixels, None when the landmark model found no hand
    presence: float
    handedness: str
    roi_source: str  # "palm" | "crop_box" | "none"
    roi_w: float


def canvas_for(crop_rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Square grey canvas with the crop in the middle -> (canvas, x offset, y offset)."""
    h, w = crop_rgb.shape[:2]
    side = round(CANVAS_FACTOR * max(h, w))
    canvas = np.full((side, side, 3), CANVAS_GREY, np.uint8)
    ox, oy = (side - w) // 2, (side - h) // 2
    canvas[oy : oy + h, ox : ox + w] = crop_rgb
    return canvas, ox, oy


def crop_landmarks(landmarker, crop_rgb: np.ndarray) -> CropHand:
    """Landmarks of the hand in a tight crop (RGB uint8), with CueKit's palm detector + landmark model
    (`landmarker`: a perception.hands.landmarker.HandLandmarker)."""
    canvas, ox, oy = canvas_for(crop_rgb)
    h, w = crop_rgb.shape[:2]
    cx, cy = ox + w / 2, oy + h / 2
    palms = landmarker.detect_palms(canvas)
    inside = [(r, s) for r, s in palms if ox <= r.xc <= ox + w and oy <= r.yc <= oy + h]
    best = (-1.0, None, 0.0, None, "none")  # presence, landmarks, P(right), rect, source
    if inside:
        rect = min(inside, key=lambda rs: (rs[0].xc - cx) ** 2 + (rs[0].yc - cy) ** 2)[0]
        best = max(best, (*_refined(landmarker, canvas, rect), "palm"), key=lambda b: b[0])
    if best[0] < landmarker.options.min_hand_presence_confidence:
        # a box of unknown orientation: the four upright rotations, the landmark model's presence picks
        side = FALLBACK_SCALE * max(w, h)
        for rot in (0.0, math.pi / 2, math.pi, -math.pi / 2):
            cand = (*_refined(landmarker, canvas, Rect(cx, cy, side, side, rot)), "crop_box")
            best = max(best, cand, key=lambda b: b[0])
    presence, lm, right, rect, source = best
    if presence < landmarker.options.min_hand_presence_confidence:
        return CropHand(None, presence, "", "none", rect.w)
    lm = lm.copy()
    lm[:, 0] -= ox
    lm[:, 1] -= oy
    # not mirrored (HaGRID photos are not selfie-flipped): the model's label is swapped, as in live use
    return CropHand(lm, presence, "left" if right > 0.5 else "right", source, rect.w)


def _refined(landmarker, canvas: np.ndarray, rect: Rect) -> tuple[float, np.ndarray, float, Rect]:
    """Landmarks in `rect`, then once more in the ROI those landmarks give (as the next video frame would
    use); the pass with the higher presence wins -> (presence, landmarks, P(right), rect)."""
    lm, presence, right, _ = landmarker.landmarks_in(canvas, rect)
    refined = landmarks_to_rect(lm)
    lm2, presence2, right2, _ = landmarker.landmarks_in(canvas, refined)
    if presence2 >= presence:
        return presence2, lm2, right2, refined
    return presence, lm, right, rect


def list_crops(data: Path) -> list[tuple[str, Path]]:
    """(HaGRID folder, image path) for every image under data/<folder>/, sorted; unknown folders raise."""
    out = []
    for d in sorted(p for p in data.iterdir() if p.is_dir()):
        label = cuekit_label(d.name)  # raises for a folder that is no HaGRID gesture
        del label
        out += [(d.name, f) for f in sorted(d.iterdir()) if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return out


CACHE_DIR = Path.home() / ".cache" / "cuekit" / "hands"
MAX_CROP_BYTES = 8 * 1024 * 1024
MAX_CROP_SIDE = 4096


def _file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def landmark_table(
    data: Path,
    landmark_model: str = "hand_landmark_full",
    landmark_variant: str = "fp32",
    progress=None,
    use_cache: bool = True,
) -> dict[str, dict]:
    """Our landmarks for every crop under `data`: {path: {"folder", "split", "landmarks" (21,3) | None,
    "presence", "handedness", "roi_source", "roi_w"}}.

    Cached in ~/.cache/cuekit/hands under a key of the ROI recipe, both model files' hashes and the
    list of files, so training and evaluation reuse one extraction (about 20 ms a crop)."""
    import cv2

    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode

    items = list_crops(data)
    lmk = HandLandmarker(
        HandLandmarkerOptions(
            running_mode=RunningMode.IMAGE,
            num_hands=4,
            landmark_model=landmark_model,
            landmark_variant=landmark_variant,
        )
    )
    key = hashlib.sha256(
        "\n".join(
            [
                ROI_METHOD,
                _file_sha(lmk.palm.path),
                _file_sha(lmk.landmark.path),
                str(CANVAS_FACTOR),
                *(f"{f}/{p.name}" for f, p in items),
            ]
        ).encode()
    )
    cache = CACHE_DIR / f"hagrid_landmarks_{key.hexdigest()[:20]}.npz"
    if use_cache and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        table = {}
        for i, p in enumerate(z["paths"]):
            lm = z["landmarks"][i]
            table[str(p)] = {
                "folder": str(z["folders"][i]),
                "split": split_of(p),
                "landmarks": None if np.isnan(lm).any() else lm,
                "presence": float(z["presence"][i]),
                "handedness": str(z["handedness"][i]),
                "roi_source": str(z["roi_source"][i]),
                "roi_w": float(z["roi_w"][i]),
            }
        if progress:
            progress(f"landmarks of {len(table)} crops from cache {cache}")
        return table
    if not items:
        raise ValueError(f"{data} has no HaGRID class folders with images")
    table = {}
    skipped = 0
    for k, (folder, p) in enumerate(items):
        # a crop is a hand box: anything far larger is no crop (and is not decoded)
        img = cv2.imread(str(p)) if p.stat().st_size <= MAX_CROP_BYTES else None
        if img is None or min(img.shape[:2]) < 8 or max(img.shape[:2]) > MAX_CROP_SIDE:
            skipped += 1
            continue
        r = crop_landmarks(lmk, np.ascontiguousarray(img[:, :, ::-1]))
        table[str(p)] = {
            "folder": folder,
            "split": split_of(p),
            "landmarks": r.landmarks,
            "presence": r.presence,
            "handedness": r.handedness,
            "roi_source": r.roi_source,
            "roi_w": r.roi_w,
        }
        if progress and (k + 1) % 200 == 0:
            progress(f"landmarks: {k + 1}/{len(items)} crops")
    if progress and skipped:
        progress(f"skipped {skipped} unreadable, tiny (< 8 px) or oversized images")
    if not table:
        raise ValueError(f"{data}: none of the {len(items)} images could be read as a hand crop")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    paths = list(table)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        paths=np.array(paths),
        folders=np.array([table[p]["folder"] for p in paths]),
        landmarks=np.stack(
            [table[p]["landmarks"] if table[p]["landmarks"] is not None else np.full((21, 3), np.nan) for p in paths]
        ),
        presence=np.array([table[p]["presence"] for p in paths]),
        handedness=np.array([table[p]["handedness"] for p in paths]),
        roi_source=np.array([table[p]["roi_source"] for p in paths]),
        roi_w=np.array([table[p]["roi_w"] for p in paths]),
    )
    tmp.replace(cache)
    return table
