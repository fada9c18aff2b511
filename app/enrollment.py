"""Few-shot enrolment of custom gestures from the GUI: where enrolled gestures are kept, and the
adapters the enroll dialog calls for each modality. The recognisers load the same files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import assets
from perception.stream.types import HandLandmarks, ImuBatch

REPO = Path(__file__).resolve().parents[1]
WRIST_MODEL = assets.path("wrist", "fbk_cnn.onnx")
G = 9.80665


def data_dir() -> Path:
    """User data folder for enrolled gestures ($CUEKIT_DATA_DIR, else ~/.local/share/cuekit)."""
    base = os.environ.get("CUEKIT_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "cuekit")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p


class HandEnroller:
    """Static hand poses, >= 5 examples, into the CustomGestureSet the hand recognisers load."""

    def __init__(self, path: Path | None = None) -> None:
        from perception.hands.custom import CustomGestureSet

        self.path = path or data_dir() / "custom_hand_gestures.json"
        self.gestures = CustomGestureSet.load(self.path) if self.path.is_file() else CustomGestureSet()
        self.min_examples = self.gestures.options.min_examples

    def enroll(self, name: str, examples: list[Any]) -> str:
        poses = [np.asarray(e.image_xyz if isinstance(e, HandLandmarks) else e, dtype=np.float64) for e in examples]
        self.gestures.enroll(name, poses, replace=name in self.gestures)
        self.gestures.save(self.path)
        return str(self.path)


class WristEnroller:
    """Wrist motions, from 1 example up, as prototypes in the learned model's embedding space."""

    min_examples = 1

    def __init__(self, path: Path | None = None, model_path: Path = WRIST_MODEL) -> None:
        from perception.wrist.fewshot import CustomGestures
        from perception.wrist.learned import WristModel

        self.path = path or data_dir() / "custom_wrist_gestures.json"
        model = WristModel(model_path)
        self.gestures = CustomGestures.load(self.path, model) if self.path.is_file() else CustomGestures(model)

    def enroll(self, name: str, examples: list[Any]) -> str:
        clips = []
        for e in examples:
            if not isinstance(e, ImuBatch) or len(e) < 4:
                raise ValueError("a wrist example must be an ImuBatch of at least 4 samples")
            clips.append((np.asarray(e.t_ns, dtype=np.int64), np.asarray(e.accel, dtype=np.float64) / G))
        self.gestures.enroll(name, clips)
        self.gestures.save(self.path)
        return str(self.path)


def available_enrollers() -> dict[str, Any]:
    out: dict[str, Any] = {"hand": HandEnroller()}
    if WRIST_MODEL.is_file():
        out["wrist"] = WristEnroller()
    return out
