"""ONNX models converted by the project from MediaPipe's TFLite models (see docs/models.md).

    from perception.models import ensure_model
    path = ensure_model("hand_landmark_full")          # fp32, built on first use
    path = ensure_model("hand_landmark_full", "int8")  # static int8 QDQ
    data = tflite_model("palm_detection_full")         # the source .tflite, for LiteRT baselines

Every model takes "image": float32 [1, H, W, 3] NHWC RGB, in the range given in the registry.
"""

from __future__ import annotations

from .build import Int8NotOffered, ModelStore, ensure_model, tflite_model
from .registry import MODEL_NAMES, MODELS, VARIANTS, ModelSpec, UnknownModelError

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "VARIANTS",
    "Int8NotOffered",
    "ModelSpec",
    "ModelStore",
    "UnknownModelError",
    "ensure_model",
    "tflite_model",
]
