"""Static gesture classification: the trained ONNX classifier, with the rule baseline behind one interface.

`GestureClassifier` runs assets/hands/gesture_classifier.onnx (trained by train_gestures.py) with
onnxruntime on `landmarks.features`. A prediction below `min_confidence` is reported as "none".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import assets
from perception.hands import rules
from perception.hands.landmarks import N_FEATURES, features

ASSETS = assets.path("hands")
DEFAULT_MODEL = ASSETS / "gesture_classifier.onnx"


@dataclass(slots=True)
class GestureClassifierOptions:
    model_path: Path = DEFAULT_MODEL
    min_confidence: float = 0.5
    num_threads: int = 1
    # "model" = the trained ONNX MLP; "rules" = the geometric baseline (no model file needed)
    method: str = "model"


@dataclass(slots=True)
class GestureResult:
    gesture: str
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


class GestureClassifier:
    def __init__(self, options: GestureClassifierOptions | None = None) -> None:
        self.options = o = options or GestureClassifierOptions()
        if o.method not in ("model", "rules"):
            raise ValueError(f"GestureClassifierOptions.method must be 'model' or 'rules', got {o.method!r}")
        self._session = None
        if o.method == "rules":
            self.classes = list(rules.GESTURES)
            return
        path = Path(o.model_path)
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(
                f"gesture classifier {path} (and {meta_path.name}) not found; "
                "run `python -m perception.hands.train_gestures` to build it"
            )
        meta = json.loads(meta_path.read_text())
        if int(meta.get("n_features", -1)) != N_FEATURES:
            raise ValueError(
                f"{path} expects {meta.get('n_features')} features but this code makes "
                f"{N_FEATURES}; retrain with train_gestures.py"
            )
        self.classes = list(meta["classes"])
        self.meta = meta
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = o.num_threads
        so.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def predict_proba(self, landmarks: np.ndarray) -> np.ndarray:
        """(21,3) or (N,21,3) -> (C,) or (N,C) class probabilities (model method only)."""
        if self._session is None:
            raise RuntimeError("predict_proba needs method='model'")
        f = features(landmarks)
        single = f.ndim == 1
        p = self._session.run(None, {"features": f.reshape(-1, N_FEATURES).astype(np.float32)})[0]
        return p[0] if single else p

    def classify(self, landmarks: np.ndarray) -> GestureResult:
        if self._session is None:
            r = rules.classify(landmarks)
            return GestureResult(r.gesture, r.confidence if r.gesture != "none" else 1.0 - r.confidence)
        p = self.predict_proba(landmarks)
        k = int(np.argmax(p))
        name, conf = self.classes[k], float(p[k])
        if conf < self.options.min_confidence:
            name = "none"
        return GestureResult(name, conf, {c: float(v) for c, v in zip(self.classes, p, strict=True)})

    def classify_batch(self, landmarks: np.ndarray) -> list[GestureResult]:
        if self._session is None:
            return [self.classify(x) for x in landmarks]
        P = self.predict_proba(np.asarray(landmarks))
        out = []
        for p in P:
            k = int(np.argmax(p))
            name = self.classes[k] if p[k] >= self.options.min_confidence else "none"
            out.append(GestureResult(name, float(p[k]), {c: float(v) for c, v in zip(self.classes, p, strict=True)}))
        return out
