"""Few-shot custom static gestures: enroll a pose from a handful of examples, match it, save and reload.

Embedding: the landmark features with translation, scale, in-plane rotation and mirror normalised out
(`landmarks.distance_features`: all joint-to-joint 3-D distances over the palm size; optionally the
image orientation too, for poses that differ only by where they point). Each gesture keeps its
prototype (the mean embedding) and a distance threshold set from the spread of its own
examples, so a loose pose gets a wider acceptance radius than a crisp one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.hands.landmarks import N_DISTANCE_FEATURES, N_SHAPE_FEATURES, distance_features, features
from perception.hands.rules import GESTURES

FORMAT = "cuekit.custom_gestures/1"
ORIENTATION_WEIGHT = 2.0  # so that turning the pose upside down moves it ~0.3 RMS among 210 distances
MIN_EXAMPLES = 5


@dataclass(slots=True)
class CustomGestureOptions:
    min_examples: int = MIN_EXAMPLES
    threshold_scale: float = 1.2  # acceptance radius = scale x (mean + 2 sd) of the examples' distances
    min_threshold: float = 0.10  # RMS feature units; a floor so five near-identical examples still match
    max_threshold: float = 0.35  # a ceiling so sloppy examples cannot swallow every pose


@dataclass(slots=True)
class CustomGesture:
    name: str
    prototype: np.ndarray
    threshold: float
    n_examples: int
    use_orientation: bool = False
    examples: list[list[float]] = field(default_factory=list)  # embeddings, to add examples later


@dataclass(slots=True)
class CustomMatch:
    name: str  # "none" when no enrolled gesture is within its threshold
    confidence: float
    distance: float
    distances: dict[str, float] = field(default_factory=dict)


def _embed(lm: np.ndarray, use_orientation: bool) -> np.ndarray:
    d = distance_features(lm).astype(np.float64)
    if not use_orientation:
        return d
    o = features(lm)[..., N_SHAPE_FEATURES:].astype(np.float64)  # hand axis + thumb direction in the image
    return np.concatenate([d, ORIENTATION_WEIGHT * o], axis=-1)


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS difference: comparable across the full and the shape-only embedding."""
    return np.sqrt(np.mean((a - b) ** 2, axis=-1))


class CustomGestureSet:
    def __init__(self, options: CustomGestureOptions | None = None) -> None:
        self.options = options or CustomGestureOptions()
        self.gestures: dict[str, CustomGesture] = {}
        # a GUI thread enrolls while the hand stage's thread matches
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.gestures)

    def __contains__(self, name: str) -> bool:
        return name in self.gestures

    def enroll(
        self, name: str, examples: list[np.ndarray] | np.ndarray, use_orientation: bool = False, replace: bool = False
    ) -> CustomGesture:
        """Add a gesture from >= min_examples landmark sets (each (21,3) pixels)."""
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"custom gesture name must be a non-empty string without outer spaces, got {name!r}")
        if name in GESTURES:
            raise ValueError(f"{name!r} is a built-in gesture; choose another name for a custom gesture")
        if name in self.gestures and not replace:
            raise ValueError(f"custom gesture {name!r} already enrolled (pass replace=True to redo it)")
        arr = np.asarray(examples, dtype=np.float64)
        if arr.ndim != 3 or arr.shape[1] != 21 or arr.shape[2] not in (2, 3):
            raise ValueError(f"examples must be a list of (21, 3) landmark arrays, got shape {arr.shape}")
        if arr.shape[0] < self.options.min_examples:
            raise ValueError(
                f"custom gesture {name!r} needs at least {self.options.min_examples} examples, got {arr.shape[0]}"
            )
        if arr.shape[2] == 2:
            arr = np.concatenate([arr, np.zeros(arr.shape[:2] + (1,))], axis=2)
        emb = _embed(arr, use_orientation)
        proto = emb.mean(axis=0)
        d = _dist(emb, proto)
        o = self.options
        thr = float(np.clip(o.threshold_scale * (d.mean() + 2 * d.std()), o.min_threshold, o.max_threshold))
        g = CustomGesture(
            name, proto, thr, int(arr.shape[0]), use_orientation, [[round(float(v), 5) for v in e] for e in emb]
        )
        with self._lock:
            self.gestures = {**self.gestures, name: g}
        return g

    def remove(self, name: str) -> None:
        if name not in self.gestures:
            raise KeyError(f"no custom gesture named {name!r}")
        with self._lock:
            self.gestures = {k: v for k, v in self.gestures.items() if k != name}

    def match(self, landmarks: np.ndarray) -> CustomMatch:
        """Nearest enrolled gesture (relative to its own threshold), or "none"."""
        gestures = self.gestures  # replaced, never mutated: a stable snapshot without holding the lock
        if not gestures:
            return CustomMatch("none", 0.0, float("inf"))
        shape_only = _embed(landmarks, False)
        full = None
        dists: dict[str, float] = {}
        best, best_ratio = "none", float("inf")
        for g in gestures.values():
            if g.use_orientation:
                full = _embed(landmarks, True) if full is None else full
            e = full if g.use_orientation else shape_only
            d = float(_dist(e, g.prototype))
            dists[g.name] = d
            if d / g.threshold < best_ratio:
                best, best_ratio = g.name, d / g.threshold
        if best_ratio > 1.0:
            return CustomMatch("none", 0.0, dists[best], dists)
        return CustomMatch(best, float(1.0 - 0.5 * best_ratio), dists[best], dists)

    # ---- persistence ----
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "n_distance_features": N_DISTANCE_FEATURES,
            "gestures": [
                {
                    "name": g.name,
                    "threshold": g.threshold,
                    "n_examples": g.n_examples,
                    "use_orientation": g.use_orientation,
                    "prototype": [float(v) for v in g.prototype],
                    "examples": g.examples,
                }
                for g in self.gestures.values()
            ],
        }

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(p)  # a crash mid-write never leaves a half file behind

    @classmethod
    def load(cls, path: str | Path, options: CustomGestureOptions | None = None) -> CustomGestureSet:
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: not valid JSON ({exc})") from exc
        if d.get("format") != FORMAT:
            raise ValueError(f"{p}: format {d.get('format')!r} is not {FORMAT!r}")
        if d.get("n_distance_features") != N_DISTANCE_FEATURES:
            raise ValueError(f"{p}: saved with a different feature layout; enroll the gestures again")
        s = cls(options)
        for g in d.get("gestures", []):
            dim = N_DISTANCE_FEATURES + (4 if g["use_orientation"] else 0)
            proto = np.asarray(g["prototype"], dtype=np.float64)
            if proto.shape != (dim,):
                raise ValueError(f"{p}: gesture {g.get('name')!r} prototype has {proto.shape} values, expected {dim}")
            s.gestures[g["name"]] = CustomGesture(
                g["name"],
                proto,
                float(g["threshold"]),
                int(g["n_examples"]),
                bool(g["use_orientation"]),
                list(g.get("examples", [])),
            )
        return s
