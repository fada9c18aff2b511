"""What the demo window draws and says, offscreen with real Qt widgets: gaze and pointing drawn while
current, a gesture label and a target highlight that go when they are over, IMU plots with an axis legend, a latency
column that is not clipped, "replay ended" when a recording has played, rejected speech that looks
rejected."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from app.gui.camera_view import CameraView
from app.gui.main_window import MainWindow, SourceChoice
from app.gui.panels import AudioPanel, ImuPanel, IntentTimeline
from perception.hands import synth
from perception.stream import HandLandmarks, IntentEvent, Observation, VideoFrame

S = 1_000_000_000


def _render(view: CameraView) -> np.ndarray:
    img = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    return (
        np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
        .reshape(h, img.bytesPerLine())[:, : 3 * w]
        .reshape(h, w, 3)
        .copy()
    )


def _count(rgb: np.ndarray, colour: QColor, tol: int = 40) -> int:
    want = np.array([colour.red(), colour.green(), colour.blue()])
    return int((np.abs(rgb.astype(int) - want).max(axis=2) <= tol).sum())


@pytest.fixture
def view(qtbot):
    v = CameraView()
    v.resize(640, 480)
    qtbot.addWidget(v)
    v.show()
    return v


def _frame(view: CameraView, t_ns: int) -> None:
    view.set_frame(VideoFrame(np.full((480, 640, 3), 40, np.uint8), t_ns, t_ns // 33_000_000))


def test_gaze_and_pointing_are_drawn_while_current(view):
    yellow, pink = QColor(255, 220, 0), QColor(255, 120, 200)
    _frame(view, 1 * S)
    before = _render(view)
    assert _count(before, yellow) == 0 and _count(before, pink) == 0
    view.set_gaze((320, 240), 1 * S)
    view.set_pointing(0, (200, 300), (1.0, -0.5), 1 * S)
    now = _render(view)
    assert view.gaze_visible() and _count(now, yellow) > 50
    assert view.pointing_visible(0) and _count(now, pink) > 50
    _frame(view, 2 * S)  # a second later nobody refreshed them: gone
    later = _render(view)
    assert not view.gaze_visible() and _count(later, yellow) == 0 and _count(later, pink) == 0


def test_a_gesture_label_goes_when_the_gesture_is_over(view):
    hand = synth.sample("fist", np.random.default_rng(0)) * 2 + np.array([150, 100, 0])
    for i in range(3):
        t = S + i * 100_000_000
        _frame(view, t)
        view.set_hand(HandLandmarks(hand, t, "right", track_id=3))
    view.set_gesture_label(3, "fist", S + 200_000_000)
    assert view.current_label(3) == "fist"
    for i in range(3, 15):  # the hand stays, the gesture observation is not repeated
        t = S + i * 100_000_000
        _frame(view, t)
        view.set_hand(HandLandmarks(hand, t, "right", track_id=3))
    assert view.current_label(3) is None
    _render(view)  # paints without the label (and without error)


def test_the_target_an_intent_named_is_highlighted_for_a_while_not_for_ever(view):
    amber = QColor(255, 200, 0)
    view.set_targets([{"id": "door", "label": "door", "box": [400, 50, 600, 400]}])
    _frame(view, 1 * S)
    view.highlight_target("door", 1 * S)
    assert view.highlighted() == "door" and _count(_render(view), amber, tol=20) > 100
    _frame(view, 4 * S)
    assert view.highlighted() is None and _count(_render(view), amber, tol=20) == 0


def test_imu_plots_have_an_axis_legend_and_units(qtbot):
    panel = ImuPanel()
    qtbot.addWidget(panel)
    for plot, unit in ((panel.accel_plot, "m/s²"), (panel.gyro_plot, "rad/s")):
        legend = plot.getPlotItem().legend
        assert [label.text for _, label in legend.items] == ["x", "y", "z"]
        assert unit in plot.getPlotItem().getAxis("left").labelText


def test_latency_column_is_not_clipped(qtbot):
    tl = IntentTimeline()
    tl.resize(600, 400)
    qtbot.addWidget(tl)
    tl.show()
    tl.add_intent(
        IntentEvent(
            "i1", "move", {"object": "tv", "destination": "door"}, 0.93, ["speech", "hand"], [1, 2], 0, 1_234_567_890
        )
    )
    header = tl.table.horizontalHeader()
    col = IntentTimeline.COLUMNS.index("latency ms")
    fm = tl.table.fontMetrics()
    assert header.sectionSize(col) >= fm.horizontalAdvance("latency ms")
    assert header.sectionSize(col) >= fm.horizontalAdvance(tl.table.item(0, col).text())
    # and it is inside the visible area
    assert header.sectionViewportPosition(col) + header.sectionSize(col) <= tl.table.viewport().width()


def test_rejected_speech_looks_rejected(qtbot):
    panel = AudioPanel()
    qtbot.addWidget(panel)
    panel.on_observation(
        Observation("speech", "intent", 0.9, 0, 1, {"text": "turn it up", "intent": "volume_up", "slots": {}})
    )
    panel.on_observation(Observation("speech", "utterance", 0.4, 2, 3, {"text": "turn it sideways", "intent": None}))
    doc = panel.transcript.document()
    accepted, rejected = doc.findBlockByNumber(0), doc.findBlockByNumber(1)
    assert "turn it up" in accepted.text() and "volume_up" in accepted.text()
    assert "rejected" in rejected.text() and panel.rejected == 1
    fmt = next(iter(rejected.begin())).fragment().charFormat()
    assert fmt.fontStrikeOut() and fmt.foreground().color().name() == "#888888"
    assert not next(iter(accepted.begin())).fragment().charFormat().fontStrikeOut()


def test_replay_ended_is_said(qtbot):
    def no_factory(request):
        raise RuntimeError("not started in this test")

    win = MainWindow(no_factory, [SourceChoice("session", None, label="demo.mcap")])
    qtbot.addWidget(win)
    win.source_picker.setCurrentIndex(0)
    win._on_finished()
    text = win.status_label.text()
    assert text.startswith("Replay ended") and "demo.mcap" in text and "0 intents" in text
