"""Enroll a custom hand or wrist gesture from examples captured from the running pipeline."""

from __future__ import annotations

import collections
from typing import Any, Protocol

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import PipelineSignals
from perception.stream import HandLandmarks, ImuBatch


class Enroller(Protocol):
    """What a modality offers for few-shot enrolment (the hand and wrist recognisers provide one)."""

    min_examples: int

    def enroll(self, name: str, examples: list[Any]) -> str:
        """Adds gesture `name` from examples, saves it; returns where it was saved."""
        ...


# a wrist example is the last this many seconds of IMU samples when the user presses Capture
WRIST_EXAMPLE_S = 1.5


class EnrollDialog(QDialog):
    def __init__(self, enrollers: dict[str, Enroller], signals: PipelineSignals, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Enroll a custom gesture")
        self.enrollers = enrollers
        self.examples: list[Any] = []
        self._last_hand: HandLandmarks | None = None
        self._imu: collections.deque[ImuBatch] = collections.deque(maxlen=400)
        signals.hands.connect(self._on_hand)
        signals.imu.connect(self._imu.append)

        self.modality = QComboBox()
        self.modality.addItems(sorted(enrollers) or ["(no enrollable recogniser in this pipeline)"])
        self.modality.currentIndexChanged.connect(self._reset)
        self.name = QLineEdit()
        self.name.setPlaceholderText("gesture name, e.g. two_finger_salute")
        self.capture_button = QPushButton("Capture example")
        self.capture_button.clicked.connect(self.capture)
        self.enroll_button = QPushButton("Enroll")
        self.enroll_button.clicked.connect(self.enroll)
        self.count = QLabel()
        self.result = QLabel()
        self.result.setWordWrap(True)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Modality:"))
        row.addWidget(self.modality)
        lay.addLayout(row)
        lay.addWidget(self.name)
        row = QHBoxLayout()
        row.addWidget(self.capture_button)
        row.addWidget(self.count)
        lay.addLayout(row)
        lay.addWidget(self.enroll_button)
        lay.addWidget(self.result)
        self._reset()

    @property
    def current(self) -> Enroller | None:
        return self.enrollers.get(self.modality.currentText())

    def _reset(self) -> None:
        self.examples = []
        self._update()

    def _update(self) -> None:
        need = self.current.min_examples if self.current else 0
        self.count.setText(f"{len(self.examples)} / {need} examples")
        self.enroll_button.setEnabled(self.current is not None and len(self.examples) >= need)
        self.capture_button.setEnabled(self.current is not None)

    def _on_hand(self, hand: HandLandmarks) -> None:
        self._last_hand = hand

    def capture(self) -> bool:
        """Takes the newest hand pose, or the last WRIST_EXAMPLE_S of wrist motion, as one example."""
        kind = self.modality.currentText()
        if kind == "hand":
            if self._last_hand is None:
                self.result.setText("No hand in view yet.")
                return False
            self.examples.append(self._last_hand)
        elif kind == "wrist":
            if not self._imu:
                self.result.setText("No wrist motion received yet.")
                return False
            t_end = int(self._imu[-1].t_ns[-1])
            batches = [b for b in self._imu if int(b.t_ns[-1]) >= t_end - int(WRIST_EXAMPLE_S * 1e9)]
            example = ImuBatch(
                t_ns=np.concatenate([b.t_ns for b in batches]),
                accel=np.concatenate([b.accel for b in batches]),
                gyro=np.concatenate([b.gyro for b in batches]) if all(b.gyro is not None for b in batches) else None,
            )
            self.examples.append(example)
        else:
            return False
        self._update()
        return True

    def enroll(self) -> str | None:
        name = self.name.text().strip()
        if not name:
            self.result.setText("Give the gesture a name first.")
            return None
        try:
            where = self.current.enroll(name, list(self.examples))
        except Exception as exc:  # noqa: BLE001 - a failed enrolment is shown in the dialog
            self.result.setText(f"Enrolment failed: {exc}")
            return None
        self.result.setText(f"Enrolled '{name}' from {len(self.examples)} examples; saved to {where}")
        self._reset()
        return where
