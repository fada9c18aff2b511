"""The side panels of the main window: audio, wrist IMU, intent timeline, per-stage statistics."""

from __future__ import annotations

import collections
import html
import json
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from perception.stream import AudioChunk, ImuBatch, IntentEvent, Observation
from perception.stream.stats import StageSnapshot


class AudioPanel(QGroupBox):
    """Input level, VAD state and the live transcript."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Speech", parent)
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setFormat("level %v")
        self.vad = QLabel("VAD: silence")
        self.vad_edges = 0
        self.rejected = 0
        self.transcript = QPlainTextEdit()
        self.transcript.setReadOnly(True)
        self.transcript.setMaximumBlockCount(200)
        lay = QVBoxLayout(self)
        lay.addWidget(self.level)
        lay.addWidget(self.vad)
        lay.addWidget(self.transcript)

    def on_audio(self, chunk: AudioChunk) -> None:
        rms = float(np.sqrt(np.mean(np.square(chunk.samples, dtype=np.float64)))) if len(chunk.samples) else 0.0
        dbfs = 20 * math.log10(max(rms, 1e-6))
        self.level.setValue(int(np.clip((dbfs + 60) / 60 * 100, 0, 100)))

    def on_observation(self, obs: Observation) -> None:
        if obs.modality != "speech":
            return
        if obs.kind in ("vad_start", "vad_end"):
            self.vad_edges += 1
            self.vad.setText("VAD: speech" if obs.kind == "vad_start" else "VAD: silence")
            return
        text = obs.payload.get("text", "")
        intent = obs.payload.get("intent")
        if obs.kind == "wake":
            self.transcript.appendHtml(f'<span style="color:#1e88e5">wake: {html.escape(text)}</span>')
        elif intent:
            self.transcript.appendHtml(
                f"<b>{html.escape(text)}</b> &rarr; {html.escape(str(intent))} "
                f"{html.escape(json.dumps(obs.payload.get('slots', {})))}"
            )
        else:  # heard, but no command of the grammar: struck through and grey, not like an accepted one
            self.rejected += 1
            self.transcript.appendHtml(
                f'<span style="color:#888"><s>{html.escape(text or "(unclear)")}</s> &nbsp;rejected: no command</span>'
            )


class ImuPanel(QGroupBox):
    """Accelerometer and gyroscope plots of the last few seconds, and wrist gestures as they come."""

    SECONDS = 5.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Wrist IMU", parent)
        self.accel_plot = pg.PlotWidget(title="accelerometer")
        self.gyro_plot = pg.PlotWidget(title="gyroscope")
        colors = ("r", "g", "b")
        for plot, unit in ((self.accel_plot, "m/s²"), (self.gyro_plot, "rad/s")):
            plot.addLegend(offset=(5, 5))
            plot.setLabel("left", unit)
            plot.setLabel("bottom", "time", units="s")
        self.accel_curves = [self.accel_plot.plot(pen=c, name=axis) for c, axis in zip(colors, "xyz", strict=True)]
        self.gyro_curves = [self.gyro_plot.plot(pen=c, name=axis) for c, axis in zip(colors, "xyz", strict=True)]
        self.gesture = QLabel("gesture: -")
        self.orientation = QLabel("orientation: -")
        self._ahrs = None  # native Madgwick filter, made on the first batch with a gyroscope
        self._t_last: int | None = None
        self._t: collections.deque[float] = collections.deque(maxlen=4000)
        self._a: collections.deque[np.ndarray] = collections.deque(maxlen=4000)
        self._g: collections.deque[np.ndarray] = collections.deque(maxlen=4000)
        lay = QVBoxLayout(self)
        lay.addWidget(self.accel_plot)
        lay.addWidget(self.gyro_plot)
        lay.addWidget(self.orientation)
        lay.addWidget(self.gesture)
        self._dirty = False

    def on_imu(self, batch: ImuBatch) -> None:
        gyro = batch.gyro if batch.gyro is not None else np.zeros_like(batch.accel)
        if batch.gyro is not None and len(batch):
            self._update_orientation(batch)
        for t, a, g in zip(batch.t_ns, batch.accel, gyro):
            self._t.append(t / 1e9)
            self._a.append(a)
            self._g.append(g)
        self._dirty = True

    def _update_orientation(self, batch: ImuBatch) -> None:
        from native.imu import Madgwick

        t = np.asarray(batch.t_ns, dtype=np.int64)
        prev = self._t_last if self._t_last is not None else int(t[0])
        if self._ahrs is None or int(t[0]) < prev:  # first batch, or a new recording started
            self._ahrs = Madgwick(sample_rate=100.0)
            prev = int(t[0])
        dt = np.diff(np.concatenate([[prev], t])) / 1e9
        q = self._ahrs.update(np.asarray(batch.accel, float), np.asarray(batch.gyro, float), dt=np.maximum(dt, 1e-4))[
            -1
        ]
        self._t_last = int(t[-1])
        w, x, y, z = (float(v) for v in q)
        roll = math.degrees(math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y)))
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))
        yaw = math.degrees(math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
        self.orientation.setText(f"orientation (AHRS): roll {roll:6.1f}°  pitch {pitch:6.1f}°  yaw {yaw:6.1f}°")

    def on_observation(self, obs: Observation) -> None:
        if obs.modality == "wrist":
            self.gesture.setText(f"gesture: {obs.kind} ({obs.confidence:.2f})")

    @property
    def sample_count(self) -> int:
        return len(self._t)

    def tick(self) -> None:
        if not self._dirty or not self._t:
            return
        self._dirty = False
        t = np.fromiter(self._t, float)
        keep = t >= t[-1] - self.SECONDS
        t = t[keep] - t[-1]
        a = np.array(self._a)[keep]
        g = np.array(self._g)[keep]
        for i in range(3):
            self.accel_curves[i].setData(t, a[:, i])
            self.gyro_curves[i].setData(t, g[:, i])


class IntentTimeline(QWidget):
    """Intents as they are emitted; selecting one shows the observations it was derived from."""

    intent_selected = Signal(object)
    COLUMNS = ("time s", "intent", "slots", "modalities", "conf", "latency ms")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # every column as wide as its text; the slots column takes what is left (latency stays readable)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for col in range(len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.COLUMNS.index("slots"), QHeaderView.ResizeMode.Stretch)
        self.evidence = QPlainTextEdit()
        self.evidence.setReadOnly(True)
        self.evidence.setPlaceholderText("select an intent to see its evidence")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.evidence)
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.intents: list[IntentEvent] = []
        self._observations: dict[int, Observation] = {}
        self._t0: int | None = None
        self.table.itemSelectionChanged.connect(self._on_select)

    def remember(self, obs: Observation) -> None:
        self._observations[obs.id] = obs
        if len(self._observations) > 5000:  # bounded memory on long sessions
            for k in list(self._observations)[:1000]:
                del self._observations[k]

    def add_intent(self, ev: IntentEvent) -> None:
        if self._t0 is None:
            self._t0 = ev.t_first_evidence_ns
        self.intents.append(ev)
        row = self.table.rowCount()
        self.table.insertRow(row)
        slots = ", ".join(f"{k}={v}" for k, v in ev.slots.items())
        values = (
            f"{(ev.t_emitted_ns - self._t0) / 1e9:.2f}",
            ev.name,
            slots,
            "+".join(ev.modalities),
            f"{ev.confidence:.2f}",
            f"{ev.latency_ms:.0f}",
        )
        for col, v in enumerate(values):
            self.table.setItem(row, col, QTableWidgetItem(v))
        self.table.scrollToBottom()

    def evidence_text(self, ev: IntentEvent) -> str:
        lines = [f"{ev.name} {json.dumps(ev.slots)}  confidence {ev.confidence:.2f}  latency {ev.latency_ms:.1f} ms"]
        for oid in ev.derived_from:
            o = self._observations.get(oid)
            if o is None:
                lines.append(f"  observation {oid} (not seen by the GUI)")
                continue
            extra = o.payload.get("text") or ""
            lines.append(
                f"  [{o.modality}] {o.kind} conf {o.confidence:.2f} {(o.t_end_ns - o.t_start_ns) / 1e6:.0f} ms {extra}"
            )
        if ev.n_best:
            lines.append("  n-best: " + "; ".join(f"{h.get('name')} {h.get('confidence', 0):.2f}" for h in ev.n_best))
        return "\n".join(lines)

    def _on_select(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if rows:
            ev = self.intents[min(rows)]
            self.evidence.setPlainText(self.evidence_text(ev))
            self.intent_selected.emit(ev)


class StatsPanel(QTableWidget):
    """Per-stage rate, processing time, queue depth, drops and latency."""

    COLUMNS = ("stage", "rate/s", "proc ms", "p95 ms", "queue", "drops", "errors", "lat p95 ms")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setStretchLastSection(True)

    def show_stats(self, snapshots: list[StageSnapshot]) -> None:
        self.setRowCount(len(snapshots))
        for row, s in enumerate(snapshots):
            lat = f"{s.latency_ms_p95:.1f}" if s.latency_ms_p95 is not None else "-"
            values = (
                s.name,
                f"{s.rate_hz:.1f}",
                f"{s.proc_ms_mean:.2f}",
                f"{s.proc_ms_p95:.2f}",
                str(s.queue_depth),
                str(s.drops),
                str(s.errors),
                lat,
            )
            for col, v in enumerate(values):
                item = QTableWidgetItem(v)
                if s.errors and col == 6:
                    item.setToolTip(s.last_error or "")
                self.setItem(row, col, item)
