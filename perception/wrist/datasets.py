"""Readers for the two wrist-gesture recording layouts CueKit evaluates on.

FBK SmartWatch Gestures: `<root>/U0x/<class 01..20>/<rep>.txt`, lines
  `currentTimeMillis nanoTime event.timestamp ax ay az` (m/s^2, ~9 Hz, wrist-worn watch).
TensorFlow Lite Micro "magic wand": `<root>/<gesture>/output_<gesture>_<person>.txt` (or flat), lines
  `x,y,z` in milli-g at 25 Hz, `-,-,-` before each repetition; terminal-capture junk is skipped.
  `negative/` holds non-gesture motion (continuous streams, sometimes split by separators).

Every reader returns `Recording`s in g with nanosecond timestamps, so the rest of the code is one path.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.wrist.units import accel_scale_to_g

log = logging.getLogger(__name__)

WAND_RATE_HZ = 25.0
_WAND_LINE = re.compile(r"^\s*(-?\d+(?:\.\d*)?),(-?\d+(?:\.\d*)?),(-?\d+(?:\.\d*)?)\s*$")
_WAND_FILE = re.compile(r"^output_(?P<gesture>.+)_(?P<person>[^_]+)\.txt$")


@dataclass
class Recording:
    user: str
    label: str
    t_ns: np.ndarray  # (N,) int64
    accel: np.ndarray  # (N,3) g
    source: str = ""

    @property
    def duration_s(self) -> float:
        return float(self.t_ns[-1] - self.t_ns[0]) / 1e9 if len(self.t_ns) > 1 else 0.0


# -- FBK --------------------------------------------------------------------------------------------------
# the 20 classes as drawn in the dataset's gestures.png (start dot -> arrow), in the watch wearer's view
FBK_NAMES = {
    "01": "swipe_right",
    "02": "swipe_left",
    "03": "swipe_up",
    "04": "swipe_down",
    "05": "circle_cw",
    "06": "circle_ccw",
    "07": "square_cw",
    "08": "square_ccw",
    "09": "corner_up_right",
    "10": "corner_up_left",
    "11": "corner_right_down",
    "12": "corner_left_down",
    "13": "v",
    "14": "v_mirrored",
    "15": "caret",
    "16": "caret_mirrored",
    "17": "s_top_right",
    "18": "s_top_left",
    "19": "s_bottom_left",
    "20": "s_bottom_right",
}


def is_fbk_user_dir(p: Path) -> bool:
    return p.is_dir() and any(c.is_dir() and c.name.isdigit() for c in p.iterdir())


def read_fbk_file(path: Path, user: str, label: str) -> Recording | None:
    try:
        a = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    if a.shape[0] < 3 or a.shape[1] < 6:
        log.warning("skipping %s: %d rows of %d columns (need >=3 x 6)", path, a.shape[0], a.shape[1])
        return None
    t = a[:, 2].astype(np.int64)
    keep = np.concatenate([[True], np.diff(t) > 0])  # duplicate sensor timestamps happen
    return Recording(
        user=user, label=label, t_ns=t[keep], accel=a[keep, 3:6] * accel_scale_to_g("m/s^2"), source=str(path)
    )


def load_fbk_user(user_dir: Path) -> list[Recording]:
    out = []
    for cls in sorted(c for c in user_dir.iterdir() if c.is_dir() and c.name.isdigit()):
        for f in sorted(cls.glob("*.txt")):
            r = read_fbk_file(f, user_dir.name, FBK_NAMES.get(cls.name, cls.name))
            if r is not None:
                out.append(r)
    return out


# -- magic wand -----------------------------------------------------------------------------------------
def read_wand_file(path: Path) -> list[np.ndarray]:
    """Segments (each (N,3) milli-g) between `-,-,-` separators; lines before the first separator belong
    to a segment only in files that have no separator at all."""
    segs: list[list[tuple[float, float, float]]] = []
    cur: list[tuple[float, float, float]] | None = None
    pre: list[tuple[float, float, float]] = []
    with open(path, errors="replace") as fh:
        for line in fh:
            if "-,-,-" in line:
                if cur:
                    segs.append(cur)
                cur = []
                continue
            m = _WAND_LINE.match(line)
            if m:
                (cur if cur is not None else pre).append(tuple(float(v) for v in m.groups()))
    if cur:
        segs.append(cur)
    if not segs and pre:
        segs.append(pre)
    return [np.asarray(s, dtype=np.float64) for s in segs]


def wand_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("output_*.txt"))


def is_wand_dir(p: Path) -> bool:
    return p.is_dir() and any(True for _ in p.rglob("output_*.txt"))


def load_wand(
    root: Path, persons: list[str] | None = None, include_negative: bool = False, min_len: int = 10
) -> list[Recording]:
    """Gesture repetitions (label = gesture, user = person) from a magic-wand tree."""
    out = []
    for f in wand_files(root):
        m = _WAND_FILE.match(f.name)
        if m is None:
            continue
        gesture, person = m.group("gesture"), m.group("person")
        negative = gesture.startswith("negative") or f.parent.name == "negative"
        if negative and not include_negative:
            continue
        if persons is not None and person not in persons:
            continue
        for k, seg in enumerate(read_wand_file(f)):
            if len(seg) < min_len:
                continue
            t = (np.arange(len(seg)) * (1e9 / WAND_RATE_HZ)).astype(np.int64)
            out.append(
                Recording(
                    user=person,
                    label="negative" if negative else gesture,
                    t_ns=t,
                    accel=seg * accel_scale_to_g("mg"),
                    source=f"{f}#{k}",
                )
            )
    return out


def load_wand_negative_streams(root: Path, names: list[str] | None = None) -> list[Recording]:
    """Continuous non-gesture streams from `negative/` (each separated stretch is its own stream)."""
    neg = root / "negative" if (root / "negative").is_dir() else root
    out = []
    for f in sorted(neg.glob("output_negative*.txt")):
        stem = f.stem.removeprefix("output_negative_")
        if names is not None and stem not in names:
            continue
        for k, seg in enumerate(read_wand_file(f)):
            if len(seg) < 10:
                continue
            t = (np.arange(len(seg)) * (1e9 / WAND_RATE_HZ)).astype(np.int64)
            out.append(
                Recording(user=stem, label="negative", t_ns=t, accel=seg * accel_scale_to_g("mg"), source=f"{f}#{k}")
            )
    return out


# -- layout detection --------------------------------------------------------------------------------------
def detect_layout(path: Path) -> str:
    """'fbk' for a FBK root or user dir, 'wand' for a magic-wand tree."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if is_fbk_user_dir(path) or any(is_fbk_user_dir(c) for c in path.iterdir() if c.is_dir()):
        return "fbk"
    if is_wand_dir(path):
        return "wand"
    raise ValueError(
        f"{path} is neither a FBK layout (U0x/<class>/<rep>.txt) nor a magic-wand layout "
        "(output_<gesture>_<person>.txt)"
    )


def load_fbk(paths: list[Path], users: list[str] | None = None) -> list[Recording]:
    """FBK recordings from user dirs and/or roots holding user dirs, optionally filtered by user name."""
    out = []
    for p in paths:
        dirs = [p] if is_fbk_user_dir(p) else sorted(c for c in p.iterdir() if is_fbk_user_dir(c))
        for d in dirs:
            if users is None or d.name in users:
                out.extend(load_fbk_user(d))
    return out


def wand_persons(root: Path) -> list[str]:
    ps = set()
    for f in wand_files(root):
        m = _WAND_FILE.match(f.name)
        if m and not m.group("gesture").startswith("negative") and f.parent.name != "negative":
            ps.add(m.group("person"))
    return sorted(ps)


# -- everyday smartwatch motion (negatives) -----------------------------------------------------------------
@dataclass
class ImuStream:
    """A continuous recording of accel (m/s^2) and gyro (rad/s), as ImuBatch documents its units."""

    subject: str
    name: str
    t_ns: np.ndarray  # (N,) int64
    accel: np.ndarray  # (N,3) m/s^2
    gyro: np.ndarray | None  # (N,3) rad/s
    labels: np.ndarray | None = None  # (N,) activity per sample, when the recording has them

    @property
    def duration_s(self) -> float:
        return float(self.t_ns[-1] - self.t_ns[0]) / 1e9 if len(self.t_ns) > 1 else 0.0


_EVERYDAY_FILE = re.compile(r"^(?P<subject>s\d+)_(?P<run>\d+)_sw\.csv$")


def read_everyday_file(path: Path) -> ImuStream | None:
    """One execution of the smartwatch activity dataset (Matey-Sanz et al. 2023): columns x_acc..z_acc
    (m/s^2), x_gyro..z_gyro (rad/s), timestamp (Unix ms), label (SEATED, WALKING, TURNING, ...)."""
    m = _EVERYDAY_FILE.match(path.name)
    try:
        rows = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    except ValueError as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    need = ("x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro", "timestamp")
    if rows.dtype.names is None or any(n not in rows.dtype.names for n in need) or rows.size < 3:
        log.warning("skipping %s: not the everyday smartwatch layout (%s)", path, rows.dtype.names)
        return None
    t = rows["timestamp"].astype(np.int64) * 1_000_000
    keep = np.concatenate([[True], np.diff(t) > 0])  # repeated millisecond stamps happen
    acc = np.stack([rows[n] for n in need[:3]], axis=1).astype(np.float64)[keep]
    gyr = np.stack([rows[n] for n in need[3:6]], axis=1).astype(np.float64)[keep]
    ok = np.all(np.isfinite(acc), axis=1) & np.all(np.isfinite(gyr), axis=1)
    labels = rows["label"][keep][ok] if "label" in rows.dtype.names else None
    return ImuStream(
        subject=m.group("subject") if m else path.stem,
        name=path.stem,
        t_ns=t[keep][ok],
        accel=acc[ok],
        gyro=gyr[ok],
        labels=labels,
    )


def load_everyday(root: Path, subjects: list[str] | None = None) -> list[ImuStream]:
    """Every `sXX_YY_sw.csv` under `root` (optionally only these subjects), in name order."""
    out = []
    for f in sorted(root.glob("*_sw.csv")):
        m = _EVERYDAY_FILE.match(f.name)
        if subjects is not None and (m is None or m.group("subject") not in subjects):
            continue
        s = read_everyday_file(f)
        if s is not None:
            out.append(s)
    return out
