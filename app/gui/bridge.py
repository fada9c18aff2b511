"""Crossing from pipeline worker threads to the Qt GUI thread.

Sinks only emit Qt signals; with queued connections an emit never waits on the GUI, so a slow
repaint can't slow recognition. Video is further thinned: the view paints only the newest frame.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from perception.stream import (
    AudioChunk,
    Emit,
    HandLandmarks,
    ImuBatch,
    IntentEvent,
    Observation,
    QueuePolicy,
    Sink,
    VideoFrame,
)


class PipelineSignals(QObject):
    frame = Signal(object)  # VideoFrame
    hands = Signal(object)  # HandLandmarks
    observation = Signal(object)  # Observation
    intent = Signal(object)  # IntentEvent
    audio = Signal(object)  # AudioChunk
    imu = Signal(object)  # ImuBatch
    finished = Signal()


class GuiSink(Sink):
    """Routes each item type to its signal. LATEST input: under load the GUI sees fewer frames."""

    input_policy = QueuePolicy.LATEST
    input_capacity = 256

    def __init__(self, signals: PipelineSignals, name: str = "gui") -> None:
        super().__init__(name)
        self.signals = signals
        self._routes: dict[type, Any] = {
            VideoFrame: signals.frame,
            HandLandmarks: signals.hands,
            Observation: signals.observation,
            IntentEvent: signals.intent,
            AudioChunk: signals.audio,
            ImuBatch: signals.imu,
        }

    def process(self, item: Any, emit: Emit) -> None:
        signal = self._routes.get(type(item))
        if signal is not None:
            signal.emit(item)

    def close(self, emit: Emit) -> None:
        self.signals.finished.emit()
