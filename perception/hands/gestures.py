"""Hand gestures as observations: static poses (trained classifier or rules, plus enrolled custom poses),
debounced per track, and the dynamic gestures of `dynamic.py`, for every frame of tracked hands.

A static pose is reported once when it has held for `min_static_ms` (and `min_static_frames` frames):
t_start is the first frame that showed it, t_end the frame that confirmed it. It is reported again only
after the hand has shown something else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.hands.classifier import GestureClassifier, GestureClassifierOptions, GestureResult
from perception.hands.custom import CustomGestureSet
from perception.hands.dynamic import MS, DynamicGestureOptions, DynamicGestureRecognizer, _index_dir
from perception.stream.types import HandLandmarks, Observation


@dataclass(slots=True)
class HandGestureOptions:
    classifier: GestureClassifierOptions = field(default_factory=GestureClassifierOptions)
    dynamic: DynamicGestureOptions = field(default_factory=DynamicGestureOptions)
    custom_gestures_path: Path | None = None  # JSON saved by CustomGestureSet.save
    min_static_ms: float = 100.0
    min_static_frames: int = 2
    emit_dynamic: bool = True


@dataclass(slots=True)
class HandGestureResult:
    labels: list[GestureResult]  # per hand, in the order given
    observations: list[Observation]


@dataclass(slots=True)
class _StaticState:
    candidate: str = "none"
    since: int = 0
    frames: int = 0
    conf_sum: float = 0.0
    reported: str = "none"


class HandGestureRecognizer:
    def __init__(self, options: HandGestureOptions | None = None, source_id: str = "hands",
                 custom: CustomGestureSet | None = None) -> None:
        self.options = o = options or HandGestureOptions()
        self.classifier = GestureClassifier(o.classifier)
        if custom is None and o.custom_gestures_path is not None and Path(o.custom_gestures_path).exists():
            custom = CustomGestureSet.load(o.custom_gestures_path)
        self.custom = custom or CustomGestureSet()
        self.dynamic = DynamicGestureRecognizer(o.dynamic, source_id)
        self.source_id = source_id
        self._static: dict[int, _StaticState] = {}

    def enroll_custom(self, name: str, examples: list[np.ndarray], use_orientation: bool = False,
                      replace: bool = False) -> None:
        """Enroll a custom pose (>= 5 landmark sets) and, when a path is configured, save the set."""
        self.custom.enroll(name, examples, use_orientation=use_orientation, replace=replace)
        if self.options.custom_gestures_path is not None:
            self.custom.save(self.options.custom_gestures_path)

    def classify(self, hand: HandLandmarks) -> GestureResult:
        r = self.classifier.classify(hand.image_xyz)
        if len(self.custom):
            m = self.custom.match(hand.image_xyz)
            if m.name != "none":  # the user's own enrolled pose wins over the built-in label
                return GestureResult(m.name, m.confidence, {m.name: m.confidence})
        return r

    def update(self, t_ns: int, hands: list[HandLandmarks]) -> HandGestureResult:
        labels = [self.classify(h) for h in hands]
        obs: list[Observation] = []
        seen = set()
        for hand, lab in zip(hands, labels, strict=True):
            seen.add(hand.track_id)
            st = self._static.setdefault(hand.track_id, _StaticState())
            if lab.gesture != st.candidate:
                st.candidate, st.since, st.frames, st.conf_sum = lab.gesture, t_ns, 0, 0.0
            st.frames += 1
            st.conf_sum += lab.confidence
            held = t_ns - st.since >= self.options.min_static_ms * MS
            if held and st.frames >= self.options.min_static_frames and st.candidate != st.reported:
                st.reported = st.candidate
                if st.candidate != "none":
                    obs.append(self._static_obs(st, t_ns, hand))
        for tid in [t for t in self._static if t not in seen]:
            del self._static[tid]
        if self.options.emit_dynamic:
            obs += self.dynamic.update(t_ns, hands, [lab.gesture for lab in labels])
        return HandGestureResult(labels, obs)

    def flush(self, t_ns: int) -> list[Observation]:
        self._static.clear()
        return self.dynamic.flush(t_ns) if self.options.emit_dynamic else []

    def _static_obs(self, st: _StaticState, t_ns: int, hand: HandLandmarks) -> Observation:
        lm = np.asarray(hand.image_xyz, dtype=np.float64)
        payload = {"handedness": hand.handedness, "track_id": hand.track_id,
                   "landmarks": np.round(lm, 2).tolist(), "static": True}
        if st.candidate == "point":
            payload["index_tip"] = [float(lm[8, 0]), float(lm[8, 1])]
            payload["index_dir"] = _index_dir(lm)
        return Observation("hand", st.candidate, st.conf_sum / max(st.frames, 1), st.since, t_ns, payload,
                           self.source_id)
