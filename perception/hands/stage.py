"""The hand stage for the pipeline: VideoFrame in; HandLandmarks and hand-gesture Observations out.

Video is consumed with the LATEST policy: when landmarks take longer than a frame interval, the
stage works on the newest frame and drops the stale ones (counted by the channel), so gestures are
never reported late. Each HandLandmarks carries the frame's capture time and sequence number; each
Observation's span is in capture times too, so fusion can align it with speech and IMU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from perception.hands.gestures import HandGestureOptions, HandGestureRecognizer
from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode
from perception.stream.channel import QueuePolicy
from perception.stream.stage import Emit, Stage
from perception.stream.types import VideoFrame

log = logging.getLogger("cuekit.hands")


@dataclass(slots=True)
class HandStageOptions:
    landmarker: HandLandmarkerOptions = field(
        default_factory=lambda: HandLandmarkerOptions(running_mode=RunningMode.VIDEO)
    )
    gestures: HandGestureOptions = field(default_factory=HandGestureOptions)
    emit_landmarks: bool = True
    emit_gestures: bool = True


class HandStage(Stage):
    name = "hands"
    input_policy = QueuePolicy.LATEST
    input_capacity = 2

    def __init__(
        self,
        options: HandStageOptions | None = None,
        name: str | None = None,
        landmarker: HandLandmarker | None = None,
        recognizer: HandGestureRecognizer | None = None,
    ) -> None:
        super().__init__(name)
        self.options = options or HandStageOptions()
        if self.options.landmarker.running_mode is not RunningMode.VIDEO:
            raise ValueError("HandStage needs a VIDEO-mode landmarker (frames arrive in time order)")
        self.landmarker = landmarker
        self.recognizer = recognizer
        self.frames = 0
        self.malformed = 0
        self._last_t: int | None = None

    def setup(self) -> None:
        if self.landmarker is None:
            self.landmarker = HandLandmarker.create_from_options(self.options.landmarker)
        if self.recognizer is None:
            self.recognizer = HandGestureRecognizer(self.options.gestures, source_id=self.name)

    def process(self, item: object, emit: Emit) -> None:
        if not isinstance(item, VideoFrame):
            self.malformed += 1
            log.warning("%s: skipping %s (expected VideoFrame)", self.name, type(item).__name__)
            return
        if self._last_t is not None and item.t_capture_ns <= self._last_t:
            self.malformed += 1
            log.warning(
                "%s: skipping frame %d: capture time %d is not after %d",
                self.name,
                item.seq,
                item.t_capture_ns,
                self._last_t,
            )
            return
        try:
            res = self.landmarker.detect_for_video(item.image, item.t_capture_ns, bgr=item.image.ndim == 3)
        except (TypeError, ValueError) as exc:
            self.malformed += 1
            log.warning("%s: skipping frame %d: %s", self.name, item.seq, exc)
            return
        self._last_t = item.t_capture_ns
        self.frames += 1
        for h in res.hands:
            h.frame_seq = item.seq
            h.source_id = item.source_id
        if self.options.emit_landmarks:
            for h in res.hands:
                emit(h)
        if self.options.emit_gestures:
            for obs in self.recognizer.update(item.t_capture_ns, res.hands).observations:
                emit(obs)

    def close(self, emit: Emit) -> None:
        if self.options.emit_gestures and self.recognizer is not None and self._last_t is not None:
            for obs in self.recognizer.flush(self._last_t):
                emit(obs)
        if self.landmarker is not None:
            self.landmarker.close()
