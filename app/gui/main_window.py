"""The demo's main window: camera view with overlays, speech, wrist IMU, intent timeline and stages.

The window owns no recognition logic: it asks a `PipelineFactory` for a running pipeline for the
chosen source and listens to it through `PipelineSignals`. Switching source or spec rebuilds the
pipeline; the old one is stopped first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.assembly import SourceChoice
from app.gui.bridge import GuiSink, PipelineSignals
from app.gui.camera_view import CameraView
from app.gui.panels import AudioPanel, ImuPanel, IntentTimeline, StatsPanel
from perception.stream import HandLandmarks, IntentEvent, Observation, Pipeline

log = logging.getLogger("cuekit.gui")


@dataclass(slots=True)
class PipelineRequest:
    source: SourceChoice
    spec_path: Path | None
    record_to: Path | None
    gui_sink: GuiSink


PipelineFactory = Callable[[PipelineRequest], tuple[Pipeline, dict]]
"""Builds (not starts) a pipeline; returns it with a context dict: {"targets": [...], "enroller": ...}."""


class MainWindow(QMainWindow):
    def __init__(
        self,
        factory: PipelineFactory,
        sources: list[SourceChoice],
        spec_path: Path | None = None,
        spec_validator: Callable[[Path], None] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("CueKit demo")
        self.resize(1400, 860)
        self.factory = factory
        self.sources = sources
        self.spec_path = spec_path
        self.spec_validator = spec_validator
        self.pipeline: Pipeline | None = None
        self.context: dict = {}
        self.record_to: Path | None = None
        self.signals = PipelineSignals()

        self.camera = CameraView()
        self.audio = AudioPanel()
        self.imu = ImuPanel()
        self.timeline = IntentTimeline()
        self.stats = StatsPanel()
        self.status_label = QLabel()
        self.spec_error = QLabel()
        self.spec_error.setStyleSheet("color: #d33;")
        self.spec_error.setWordWrap(True)
        self.spec_error.hide()

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(self.status_label)
        ll.addWidget(self.spec_error)
        ll.addWidget(self.camera, 3)
        ll.addWidget(self.audio, 1)
        tabs = QTabWidget()
        tabs.addTab(self.timeline, "Intents")
        tabs.addTab(self.imu, "Wrist IMU")
        tabs.addTab(self.stats, "Stages")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(tabs)
        split.setSizes([800, 600])
        self.setCentralWidget(split)
        self._build_toolbar()

        self.signals.frame.connect(self.camera.set_frame)
        self.signals.hands.connect(self._on_hands)
        self.signals.observation.connect(self._on_observation)
        self.signals.intent.connect(self._on_intent)
        self.signals.audio.connect(self.audio.on_audio)
        self.signals.imu.connect(self.imu.on_imu)
        self.signals.finished.connect(self._on_finished)

        self._repaint = QTimer(self)
        self._repaint.timeout.connect(self._tick)
        self._repaint.start(33)
        self._stats_timer = QTimer(self)
        self._stats_timer.timeout.connect(self._refresh_stats)
        self._stats_timer.start(500)

    # toolbar -----------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        bar = QToolBar("main")
        self.addToolBar(bar)
        self.source_picker = QComboBox()
        for s in self.sources:
            self.source_picker.addItem(s.label or s.kind)
        self.source_picker.addItem("Open recording…")
        self.source_picker.activated.connect(self._on_source_picked)
        bar.addWidget(QLabel(" Source: "))
        bar.addWidget(self.source_picker)
        self.record_action = QAction("● Record", self, checkable=True)
        self.record_action.toggled.connect(self._on_record_toggled)
        bar.addAction(self.record_action)
        load_spec = QAction("Load intent spec…", self)
        load_spec.triggered.connect(self._on_load_spec_clicked)
        bar.addAction(load_spec)
        enroll = QAction("Enroll gesture…", self)
        enroll.triggered.connect(self.open_enroll_dialog)
        bar.addAction(enroll)

    # pipeline lifecycle ------------------------------------------------------------------
    def start_source(self, index: int) -> None:
        """Stop whatever runs and start the pipeline for `self.sources[index]`."""
        self.stop_pipeline()
        choice = self.sources[index]
        self.source_picker.setCurrentIndex(index)
        request = PipelineRequest(choice, self.spec_path, self.record_to, GuiSink(self.signals))
        try:
            self.pipeline, self.context = self.factory(request)
        except Exception as exc:  # noqa: BLE001 - a missing device is shown, not raised
            log.error("cannot start %s: %s", choice.label, exc)
            self.status_label.setText(f"Cannot start {choice.label}: {exc}")
            self.pipeline = None
            return
        self.camera.set_targets(self.context.get("targets", []))
        if "frame_size" in self.context:
            self.camera.set_frame_size(self.context["frame_size"])
        self.status_label.setStyleSheet("")
        replay = " (replay of a recording)" if choice.kind == "session" else " (live)"
        self.status_label.setText(
            f"Source: {choice.label}{replay}" + (f" — recording to {self.record_to}" if self.record_to else "")
        )
        self.pipeline.start()

    def stop_pipeline(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop(timeout=1.0)
            self.pipeline = None

    def closeEvent(self, event) -> None:
        self.stop_pipeline()
        super().closeEvent(event)

    # spec --------------------------------------------------------------------------------
    def load_spec(self, path: Path) -> bool:
        """Validates and switches to the spec; on an error shows it and keeps the current one."""
        try:
            if self.spec_validator is not None:
                self.spec_validator(path)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the spec is shown, not raised
            self.spec_error.setText(f"Intent spec not loaded: {exc}")
            self.spec_error.show()
            return False
        self.spec_error.hide()
        self.spec_path = path
        if self.pipeline is not None:
            self.start_source(self.source_picker.currentIndex())
        return True

    def _on_load_spec_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Intent spec", "", "Intent specs (*.toml *.yaml *.yml)")
        if path:
            self.load_spec(Path(path))

    def _on_source_picked(self, index: int) -> None:
        if index < len(self.sources):
            self.start_source(index)
            return
        path, _ = QFileDialog.getOpenFileName(self, "Recording", "", "MCAP recordings (*.mcap)")
        if path:
            self.sources.append(SourceChoice("session", Path(path), label=Path(path).name))
            self.source_picker.insertItem(len(self.sources) - 1, Path(path).name)
            self.start_source(len(self.sources) - 1)

    def _on_record_toggled(self, on: bool) -> None:
        if on:
            path, _ = QFileDialog.getSaveFileName(self, "Record to", "session.mcap", "MCAP (*.mcap)")
            if not path:
                self.record_action.setChecked(False)
                return
            self.set_recording(Path(path))
        else:
            self.set_recording(None)

    def set_recording(self, path: Path | None) -> None:
        self.record_to = path
        if self.pipeline is not None:
            self.start_source(self.source_picker.currentIndex())

    def open_enroll_dialog(self):
        from app.gui.enroll_dialog import EnrollDialog

        dlg = EnrollDialog(self.context.get("enrollers", {}), self.signals, self)
        dlg.show()
        return dlg

    # signal handlers ---------------------------------------------------------------------
    def _on_hands(self, hand: HandLandmarks) -> None:
        self.camera.set_hand(hand)

    def _on_observation(self, obs: Observation) -> None:
        self.timeline.remember(obs)
        self.audio.on_observation(obs)
        self.imu.on_observation(obs)
        if obs.modality == "hand":
            track = int(obs.payload.get("track_id", 0))
            self.camera.set_gesture_label(track, obs.kind, obs.t_end_ns)
            tip, d = obs.payload.get("index_tip"), obs.payload.get("index_dir")
            if tip is not None and d is not None and len(tip) >= 2 and len(d) >= 2:
                self.camera.set_pointing(track, tip[:2], d[:2], obs.t_end_ns)
        if obs.modality == "gaze" and obs.kind == "point" and obs.payload.get("plane", "image") == "image":
            pt = obs.payload.get("point")
            if pt is not None and len(pt) >= 2:
                self.camera.set_gaze(pt[:2], obs.t_end_ns)
        if obs.modality == "context" and obs.kind == "scene":
            self.camera.set_targets(obs.payload.get("targets", []))

    def _on_intent(self, ev: IntentEvent) -> None:
        self.timeline.add_intent(ev)
        target = ev.slots.get("target") or ev.slots.get("object")
        if target is not None:
            self.camera.highlight_target(str(target), ev.t_emitted_ns)

    def _on_finished(self) -> None:
        choice = (
            self.sources[self.source_picker.currentIndex()]
            if 0 <= self.source_picker.currentIndex() < len(self.sources)
            else None
        )
        n = len(self.timeline.intents)
        if choice is not None and choice.kind == "session":
            self.status_label.setText(
                f"Replay ended — {choice.label} (replay of a recording) finished: "
                f"{n} intents. Pick a source to play it again."
            )
        else:
            self.status_label.setText(self.status_label.text() + f" — stopped ({n} intents)")
        self.status_label.setStyleSheet("font-weight: bold; color: #b26a00;")
        self._refresh_stats()

    def _tick(self) -> None:
        self.camera.tick()
        self.imu.tick()

    def _refresh_stats(self) -> None:
        if self.pipeline is not None:
            self.stats.show_stats(self.pipeline.stats())
