"""Gestures from hand skeletons that arrive already tracked: a glasses prototype's own hand tracking
(pushed over the protocol) or a recording. HandLandmarks in; hand-gesture Observations out.

Skeletons of one frame share a capture time; they are grouped by it and handed to the same
`HandGestureRecognizer` the camera path uses, so both paths report identical gestures. A gap in the
stream means the hands left the view: the recogniser is told so, which ends pinches and holds.
"""
from __future__ import annotations

import logging

from perception.hands.gestures import HandGestureOptions, HandGestureRecognizer
from perception.stream.stage import Emit, Stage
from perception.stream.types import HandLandmarks

log = logging.getLogger("cuekit.hands")

MS = 1_000_000


class HandSkeletonStage(Stage):
    name = "hand-gestures"

    def __init__(self, options: HandGestureOptions | None = None, name: str | None = None,
                 lost_after_ms: float = 150.0) -> None:
        super().__init__(name)
        self.options = options or HandGestureOptions()
        self.lost_after_ns = int(lost_after_ms * MS)
        self.recognizer: HandGestureRecognizer | None = None
        self.malformed = 0
        self._t: int | None = None
        self._group: list[HandLandmarks] = []

    def setup(self) -> None:
        self.recognizer = HandGestureRecognizer(self.options, source_id=self.name)

    def process(self, item: object, emit: Emit) -> None:
        if not isinstance(item, HandLandmarks) or getattr(item.image_xyz, "shape", None) != (21, 3):
            self.malformed += 1
            log.warning("%s: skipping %s (expected HandLandmarks with 21x3 points)", self.name,
                        type(item).__name__)
            return
        if self._t is not None and item.t_capture_ns < self._t:
            self.malformed += 1
            return
        if self._t is not None and item.t_capture_ns != self._t:
            self._flush_group(emit)
            if item.t_capture_ns - self._t > self.lost_after_ns:
                self._emit(self.recognizer.update(self._t + self.lost_after_ns, []).observations, emit)
        self._t = item.t_capture_ns
        self._group.append(item)

    def _flush_group(self, emit: Emit) -> None:
        if self._group:
            self._emit(self.recognizer.update(self._t, self._group).observations, emit)
            self._group = []

    @staticmethod
    def _emit(observations: list, emit: Emit) -> None:
        for o in observations:
            emit(o)

    def close(self, emit: Emit) -> None:
        if self.recognizer is None or self._t is None:
            return
        self._flush_group(emit)
        self._emit(self.recognizer.update(self._t + self.lost_after_ns, []).observations, emit)
        self._emit(self.recognizer.flush(self._t + self.lost_after_ns), emit)
