"""Hand gestures as observations: static poses (trained classifier or rules, plus enrolled custom poses),
debounced per track, and the dynamic gestures of `dynamic.py`, for every frame of tracked hands.

A static pose is committed as soon as the classifier's evidence for it is stable: `min_static_frames`
consecutive frames with that label, each at least `stable_confidence` sure (two frames, 33 ms at 30 Hz).
Less certain evidence is committed once it has held for `min_static_ms`. t_start is the first frame that
showed the pose, t_end the frame that committed it. It is reported again only after the hand has shown
something else. `python -m perception.hands.static_commit_eval` measures what each rule costs in latency
and in false activations on pose-to-pose transitions.
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
    min_static_ms: float = 100.0  # commit after this long however doubtful the frames (fallback)
    min_static_frames: int = 2
    # every frame of the run at least this sure: commit at min_static_frames (None: always wait min_static_ms)
    stable_confidence: float | None = 0.9
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
    conf_min: float = 1.0
    reported: str = "none"


class HandGestureRecognizer:
    def __init__(
        self,
        options: HandGestureOptions | None = None,
        source_id: str = "hands",
        custom: CustomGestureSet | None = None,
    ) -> None:
        self.options = o = options or HandGestureOptions()
        self.classifier = GestureClassifier(o.classifier)
        if custom is None and o.custom_gestures_path is not None and Path(o.custom_gestures_path).exists():
            custom = CustomGestureSet.load(o.custom_gestures_path)
        self.custom = custom or CustomGestureSet()
        self.dynamic = DynamicGestureRecognizer(o.dynamic, source_id)
        self.source_id = source_id
        self._static: dict[int, _StaticState] = {}

    def enroll_custom(
        self, name: str, examples: list[np.ndarray], use_orientation: bool = False, replace: bool = False
    ) -> None:
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
                st.candidate, st.since, st.frames, st.conf_sum, st.conf_min = lab.gesture, t_ns, 0, 0.0, 1.0
            st.frames += 1
            st.conf_sum += lab.confidence
            st.conf_min = min(st.conf_min, lab.confidence)
            if st.frames >= self.options.min_static_frames and st.candidate != st.reported and self._stable(st, t_ns):
                st.reported = st.candidate
                if st.candidate != "none":
                    obs.append(self._static_obs(st, t_ns, hand))
        for tid in [t for t in self._static if t not in seen]:
            del self._static[tid]
        if self.options.emit_dynamic:
            obs += self.dynamic.update(t_ns, hands, [lab.gesture for lab in labels])
        return HandGestureResult(labels, obs)

    def _stable(self, st: _StaticState, t_ns: int) -> bool:
        o = self.options
        sure = o.stable_confidence is not None and st.conf_min >= o.stable_confidence
        return sure or t_ns - st.since >= o.min_static_ms * MS

    def flush(self, t_ns: int) -> list[Observation]:
        self._static.clear()
        return self.dynamic.flush(t_ns) if self.options.emit_dynamic else []

    def _static_obs(self, st: _StaticState, t_ns: int, hand: HandLandmarks) -> Observation:
        lm = np.asarray(hand.image_xyz, dtype=np.float64)
        payload = {
            "handedness": hand.handedness,
            "track_id": hand.track_id,
            "landmarks": np.round(lm, 2).tolist(),
            "static": True,
        }
        if st.candidate == "point":
            payload["index_tip"] = [float(lm[8, 0]), float(lm[8, 1])]
            payload["index_dir"] = _index_dir(lm)
        return Observation(
            "hand", st.candidate, st.conf_sum / max(st.frames, 1), st.since, t_ns, payload, self.source_id
        )
