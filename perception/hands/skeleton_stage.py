"""Gestures from hand skeletons that arrive already tracked: a glasses prototype's own hand tracking
(pushed over the protocol) or a recording. HandLandmarks in; hand-gesture Observations out.

Skeletons of one frame share a capture time; they are grouped by it and handed to the same
`HandGestureRecognizer` the camera path uses, so both paths report identical gestures. A frame is
complete, and recognised at once, when every hand of the previous frame has reported in it (waiting
for the next frame's first skeleton instead would cost a frame, 33 ms at 30 Hz, on every gesture); a
frame missing a hand of the previous one waits for the next frame as before. A hand that joins after
its frame was recognised starts with the next frame (`late_members`). A gap in the stream means the
hands left the view: the recogniser is told so, which ends pinches and holds.
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

    def __init__(
        self, options: HandGestureOptions | None = None, name: str | None = None, lost_after_ms: float = 150.0
    ) -> None:
        super().__init__(name)
        self.options = options or HandGestureOptions()
        self.lost_after_ns = int(lost_after_ms * MS)
        self.recognizer: HandGestureRecognizer | None = None
        self.malformed = 0
        self.late_members = 0
        self._t: int | None = None
        self._group: list[HandLandmarks] = []
        self._seen: set[int] = set()  # tracks of the current frame, recognised or not
        self._previous: set[int] = set()  # tracks of the previous frame
        self._done = False  # the current frame has been recognised

    def setup(self) -> None:
        self.recognizer = HandGestureRecognizer(self.options, source_id=self.name)

    def process(self, item: object, emit: Emit) -> None:
        if not isinstance(item, HandLandmarks) or getattr(item.image_xyz, "shape", None) != (21, 3):
            self.malformed += 1
            log.warning("%s: skipping %s (expected HandLandmarks with 21x3 points)", self.name, type(item).__name__)
            return
        if self._t is not None and item.t_capture_ns < self._t:
            self.malformed += 1
            return
        if self._t is not None and item.t_capture_ns != self._t:
            self._flush_group(emit)
            self._previous, self._seen, self._done = self._seen, set(), False
            if item.t_capture_ns - self._t > self.lost_after_ns:
                self._emit(self.recognizer.update(self._t + self.lost_after_ns, []).observations, emit)
                self._previous = set()
        self._t = item.t_capture_ns
        self._seen.add(item.track_id)
        if self._done:
            self.late_members += 1
            return
        self._group.append(item)
        if self._seen >= self._previous:
            self._flush_group(emit)
            self._done = True

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
