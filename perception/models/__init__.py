"""ONNX models converted by the project from MediaPipe's TFLite models (see docs/models.md).

    from perception.models import ensure_model
    path = ensure_model("hand_landmark_full")          # fp32, built on first use
    path = ensure_model("hand_landmark_full", "int8")  # static int8 QDQ
    data = tflite_model("palm_detection_full")         # the source .tflite, for LiteRT baselines

Every model takes "image": float32 [1, H, W, 3] NHWC RGB, in the range given in the registry.
A model already in the cache is found without the converter's dependencies (the `models` extra);
building one needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import cache, source
from .registry import MODEL_NAMES, MODELS, VARIANTS, ModelSpec, UnknownModelError

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "VARIANTS",
    "Int8NotOffered",
    "ModelSpec",
    "ModelStore",
    "ModelsUnavailable",
    "UnknownModelError",
    "ensure_model",
    "tflite_model",
]


class ModelsUnavailable(RuntimeError):
    """A model is not in the cache and this install cannot build it (the `models` extra is missing)."""

    expected_failure = True  # the message says it all: no traceback in the pipeline's log


def ensure_model(name: str, variant: str = "fp32") -> Path:
    """Path to the ONNX file of `name` ("fp32" or "int8"), built into the user cache on first use."""
    path, _ = cache.check(source.cache_dir() / "models", name, variant)
    if path is not None:
        return path
    try:
        from .build import ensure_model as build_model
    except ModuleNotFoundError as exc:
        raise ModelsUnavailable(
            f"model {name} ({variant}) is not built and building it needs {exc.name}: install the 'models' "
            "extra (pip install 'cuekit[models]') and run `cuekit models build`"
        ) from None
    return build_model(name, variant)


def __getattr__(attr: str) -> Any:  # the builder's names, imported only when asked for
    if attr in ("Int8NotOffered", "ModelStore", "tflite_model"):
        from . import build

        return getattr(build, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
