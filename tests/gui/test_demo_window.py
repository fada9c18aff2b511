"""The demo window on the bundled session, offscreen: intents reach the timeline, enrolment, source
switching, and spec errors shown rather than raised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.demo import build_pipeline, source_choices
from app.demo_session import DEFAULT_SESSION
from app.gui.main_window import MainWindow, SourceChoice
from perception.stream import HandLandmarks, ImuBatch

EXPECTED = json.loads(DEFAULT_SESSION.with_suffix(".json").read_text())["expected_intents"]


def _fast_session(label: str = "demo") -> SourceChoice:
    return SourceChoice("session", DEFAULT_SESSION, realtime=False, label=label)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("CUEKIT_DATA_DIR", str(tmp_path / "data"))
    win = MainWindow(
        build_pipeline,
        [_fast_session("first"), _fast_session("second")],
        spec_validator=lambda p: __import__("fusion.spec", fromlist=["load_spec"]).load_spec(p),
    )
    qtbot.addWidget(win)
    win.show()
    yield win
    win.stop_pipeline()


def test_bundled_session_intents_reach_the_timeline(window, qtbot):
    with qtbot.waitSignal(window.signals.finished, timeout=120_000):
        window.start_source(0)
    qtbot.wait(200)  # queued signals still in flight
    # a fast replay runs every stage at its own speed: compare in order of first evidence, not emission
    got = [(e.name, e.slots) for e in sorted(window.timeline.intents, key=lambda e: e.t_first_evidence_ns)]
    want = [(x["name"], x["slots"]) for x in EXPECTED]
    names = [g[0] for g in got]
    assert names == [w[0] for w in want], f"timeline {got}"
    for (name, slots), (_, expected_slots) in zip(got, want):
        for k, v in expected_slots.items():  # scripted slots must match; resolved extras may be added
            assert slots.get(k) == v, (name, slots)
    assert window.timeline.table.rowCount() == len(EXPECTED)
    # selecting an intent shows the observations it came from
    window.timeline.table.selectRow(names.index("move"))
    text = window.timeline.evidence.toPlainText()
    assert "move" in text and "[speech]" in text and "[hand]" in text
    # the camera view saw frames and hands, the IMU panel samples, and the stats panel every stage
    assert window.camera.frames_shown > 0
    assert window.imu.sample_count > 0
    assert window.audio.vad_edges >= 2 * 8  # the VAD opened and closed on each of the 8 utterances
    window._refresh_stats()
    stages = {window.stats.item(r, 0).text() for r in range(window.stats.rowCount())}
    assert {"replay", "speech", "fusion"} <= stages
    # the bundled session's hands: tracked from its camera frames ("hands"), or from a skeleton track
    assert "hands" in stages or "hand-gestures" in stages
    assert "finished" in window.status_label.text() and "replay" in window.status_label.text()


def test_switching_sources_stops_the_old_pipeline(window, qtbot):
    window.start_source(0)
    first = window.pipeline
    window.start_source(1)
    assert window.pipeline is not first and first is not None
    assert not any(n.thread.is_alive() for n in first._nodes.values() if n.thread is not None)
    assert "second" in window.status_label.text()
    assert window.source_picker.currentIndex() == 1


def test_a_broken_spec_is_shown_not_raised(window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[spec]\nname = "x"\n\n[intents.select]\nrefractory_ms = "soon"\ntrigger = { any = ["wrist:double_tap"] }\n'
    )
    assert window.load_spec(bad) is False
    assert not window.spec_error.isHidden()
    msg = window.spec_error.text()
    assert "bad.toml" in msg and "refractory_ms" in msg
    good = Path(__file__).resolve().parents[2] / "assets" / "specs" / "default_ar.toml"
    assert window.load_spec(good) is True and window.spec_error.isHidden()


def _pose(seed: int) -> np.ndarray:
    from perception.hands.synth import sample_states

    return sample_states("TECCC", np.random.default_rng(seed))  # an L shape, not a built-in gesture


def test_enroll_a_custom_hand_gesture_from_the_dialog(window, qtbot, tmp_path):
    from perception.hands.custom import CustomGestureSet

    window.context = {"enrollers": __import__("app.enrollment", fromlist=["x"]).available_enrollers()}
    dlg = window.open_enroll_dialog()
    qtbot.addWidget(dlg)
    dlg.modality.setCurrentText("hand")
    dlg.name.setText("l_shape")
    assert not dlg.enroll_button.isEnabled()
    for i in range(5):
        window.signals.hands.emit(HandLandmarks(_pose(i), t_capture_ns=i))
        assert dlg.capture()
    assert dlg.enroll_button.isEnabled()
    where = dlg.enroll()
    assert where and Path(where).is_file() and str(tmp_path) in where
    saved = CustomGestureSet.load(where)
    assert "l_shape" in saved
    assert saved.match(_pose(99)).name == "l_shape"


def test_enroll_a_custom_wrist_gesture_from_the_dialog(window, qtbot):
    from perception.wrist.synthetic import Scene, SimEvent, render

    enrollers = __import__("app.enrollment", fromlist=["x"]).available_enrollers()
    assert "wrist" in enrollers
    window.context = {"enrollers": enrollers}
    dlg = window.open_enroll_dialog()
    qtbot.addWidget(dlg)
    dlg.modality.setCurrentText("wrist")
    dlg.name.setText("double_flick")
    for k in range(3):
        imu = render(
            Scene(1.5, [SimEvent("flick_right", 0.3), SimEvent("flick_right", 0.8)], seed=k),
            100.0,
            t0_ns=(1 + 2 * k) * 1_000_000_000,
        )  # one continuous stream
        for i in range(0, len(imu), 10):
            window.signals.imu.emit(ImuBatch(imu.t_ns[i : i + 10], imu.accel[i : i + 10], imu.gyro[i : i + 10]))
        assert dlg.capture()
    where = dlg.enroll()
    assert where and Path(where).is_file()
    from app.enrollment import WristEnroller

    assert "double_flick" in WristEnroller(Path(where)).gestures.names  # reloads from the saved file


def test_source_choices_fall_back_to_the_bundled_session(monkeypatch):
    monkeypatch.setenv("CUEKIT_NO_DEVICES", "1")
    choices = source_choices(None, live=True)
    assert choices[0].kind == "session" and choices[0].path == DEFAULT_SESSION
    assert all(c.kind == "session" or c.camera is None for c in choices)  # no camera offered without one


def test_switch_to_a_udp_wrist_source_plots_and_orients(window, qtbot):
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    window.sources.append(
        SourceChoice("live", camera=None, microphone=False, imu_udp_port=port, label=f"Wrist IMU over UDP :{port}")
    )
    window.start_source(len(window.sources) - 1)
    assert window.pipeline is not None and "UDP" in window.status_label.text()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(60):  # JSON lines: accelerometer in m/s^2, gyro in rad/s, a slow roll
            line = (
                f'{{"t": {i * 10}, "ax": 0.0, "ay": {9.81 * np.sin(i / 60):.4f}, '
                f'"az": {9.81 * np.cos(i / 60):.4f}, "gx": 0.1, "gy": 0.0, "gz": 0.0}}\n'
            )
            tx.sendto(line.encode(), ("127.0.0.1", port))
            qtbot.wait(5)
        tx.sendto(b"this is not an imu line\n", ("127.0.0.1", port))
        qtbot.waitUntil(lambda: window.imu.sample_count >= 50, timeout=10_000)
    finally:
        tx.close()
    qtbot.waitUntil(lambda: "roll" in window.imu.orientation.text(), timeout=5_000)
    window._refresh_stats()
    stats = {s.name: s for s in window.pipeline.stats()}
    imu_stage = next(s for n, s in stats.items() if "udp" in n or "imu" in n)
    assert imu_stage.items_out > 0
