"""The recogniser as a pipeline stage behind the real IMU sources (CSV replay, UDP on loopback)."""

from __future__ import annotations

import socket
import time

import numpy as np

from perception.sources.imu import ImuCsvSource, ImuSourceOptions, ImuUdpSource, write_imu_csv
from perception.sources.imu_format import ImuFormatOptions
from perception.stream.clock import ReplayClock
from perception.stream.pipeline import Pipeline
from perception.stream.stage import CallbackSink
from perception.stream.types import ImuBatch, Observation
from perception.wrist.recognizer import WristGestureRecognizer
from perception.wrist.synthetic import Scene, SimEvent, render, split

EVENTS = [("tap", 1.0), ("flick_left", 2.5), ("double_tap", 4.0), ("twist_ccw", 5.5)]


def test_csv_replay_through_the_pipeline(tmp_path) -> None:
    b = render(Scene(7.5, [SimEvent(k, t) for k, t in EVENTS]), 100, jitter=0.1)
    path = tmp_path / "wrist.csv"
    write_imu_csv(path, split(b, 50))
    out: list[Observation] = []
    batches: list[ImuBatch] = []
    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(ImuCsvSource(path, ImuSourceOptions(batch_size=8)))
    rec = pipe.add(WristGestureRecognizer(), inputs=[src])
    pipe.add(CallbackSink(out.append), inputs=[rec])
    pipe.add(CallbackSink(batches.append, name="batches"), inputs=[src])
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    assert [o.kind for o in out] == [k for k, _ in EVENTS]
    t0 = int(batches[0].t_ns[0])  # the scene's start on the replay clock
    for o, (_, t) in zip(out, EVENTS):
        assert abs(o.t_start_ns - t0 - t * 1e9) <= 50e6 or o.kind.startswith("twist")
        assert "t_detected_ns" in o.payload


def test_udp_live_stream_and_malformed_items(tmp_path) -> None:
    b = render(Scene(4.0, [SimEvent("tap", 1.0), SimEvent("flick_right", 2.5)]), 100)
    src = ImuUdpSource(0, host="127.0.0.1", options=ImuSourceOptions(format=ImuFormatOptions(time_unit="ms")))
    src.setup()
    out: list[Observation] = []
    pipe = Pipeline()
    s = pipe.add(src)
    rec = pipe.add(WristGestureRecognizer(), inputs=[s])
    pipe.add(CallbackSink(out.append), inputs=[rec])
    pipe.start()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    dev0 = int(b.t_ns[0])
    for i in range(0, len(b), 10):  # a device sending 10 samples per datagram, in real time
        lines = [
            f"{(int(b.t_ns[k]) - dev0) / 1e6:.3f},{','.join(f'{v:.5f}' for v in b.accel[k])},"
            f"{','.join(f'{v:.5f}' for v in b.gyro[k])}"
            for k in range(i, min(i + 10, len(b)))
        ]
        due = start + (int(b.t_ns[i]) - dev0) / 1e9
        time.sleep(max(0.0, due - time.monotonic()))
        tx.sendto(("t_ms,ax,ay,az,gx,gy,gz\n" if i == 0 else "").encode() + "\n".join(lines).encode(), src.address)
    tx.close()
    time.sleep(0.6)  # the double-tap wait and the segment hold
    pipe.stop()
    assert [o.kind for o in out] == ["tap", "flick_right"], [(o.kind, o.t_start_ns, o.payload) for o in out]
    assert abs(out[1].t_start_ns - out[0].t_start_ns - 1.5e9) <= 100e6


def test_stage_counts_malformed_items_and_keeps_running() -> None:
    stage = WristGestureRecognizer()
    got: list[Observation] = []
    b = render(Scene(3.0, [SimEvent("tap", 1.5)]), 100)
    parts = split(b, 100)
    stage.process(parts[0], got.append)
    stage.process("not a batch", got.append)
    stage.process(ImuBatch(t_ns=np.arange(3, dtype=np.int64), accel=np.zeros((2, 3))), got.append)
    for p in parts[1:]:
        stage.process(p, got.append)
    stage.close(got.append)
    assert stage.malformed == 2
    assert [o.kind for o in got] == ["tap"]


def test_serial_arduino_stream_in_g_and_deg_per_s() -> None:
    """An Arduino on the wrist printing `t_ms,ax,ay,az,gx,gy,gz` in g and deg/s over a serial port (a pty)."""
    import os

    from perception.sources.imu import ImuSerialSource
    from perception.wrist.units import G

    b = render(Scene(4.0, [SimEvent("double_tap", 1.0), SimEvent("twist_cw", 2.5)]), 100)
    master, slave = os.openpty()
    src = ImuSerialSource(
        os.ttyname(slave),
        options=ImuSourceOptions(
            batch_size=5, format=ImuFormatOptions(time_unit="ms", accel_unit="g", gyro_unit="deg/s")
        ),
    )
    out: list[Observation] = []
    pipe = Pipeline()
    s = pipe.add(src)
    rec = pipe.add(WristGestureRecognizer(), inputs=[s])
    pipe.add(CallbackSink(out.append), inputs=[rec])
    pipe.start()
    deadline = time.monotonic() + 5
    while src.serial is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # pyserial flushes the input when it opens the port
    dev0, start = int(b.t_ns[0]), time.monotonic()
    os.write(master, b"t_ms,ax,ay,az,gx,gy,gz\r\n")
    for k in range(len(b)):
        due = start + (int(b.t_ns[k]) - dev0) / 1e9
        if k % 5 == 0:
            time.sleep(max(0.0, due - time.monotonic()))
        a, g = b.accel[k] / G, np.degrees(b.gyro[k])
        os.write(
            master, (f"{(int(b.t_ns[k]) - dev0) / 1e6:.1f}," + ",".join(f"{v:.4f}" for v in (*a, *g)) + "\r\n").encode()
        )
    time.sleep(0.6)
    pipe.stop()
    os.close(master)
    os.close(slave)
    assert [o.kind for o in out] == ["double_tap", "twist_cw"], [(o.kind, o.payload) for o in out]


def test_bench_runs_and_prints_one_json_object(capsys) -> None:
    import json

    from perception.wrist.bench import main

    assert main(["--seconds", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["100hz"]["rules_vs_conditioner"] > 0 and out["1000hz"]["rules_x_realtime"] > 0


def test_synthetic_imu_source_events_are_recognised() -> None:
    """The stand-in wrist of `cuekit record --imu-synthetic` and the demo: its events read as gestures."""
    from perception.sources.imu import ImuEvent, SyntheticImuOptions, SyntheticImuSource

    events = [
        ImuEvent(1.0, "tap"),
        ImuEvent(2.5, "flick"),
        ImuEvent(4.0, "flick", amplitude=-1.0),
        ImuEvent(5.5, "twist"),
        ImuEvent(7.0, "twist", amplitude=-1.0),
        ImuEvent(8.5, "shake"),
    ]
    out: list[Observation] = []
    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(SyntheticImuSource(SyntheticImuOptions(duration_s=10.5, seed=4, events=events)))
    rec = pipe.add(WristGestureRecognizer(), inputs=[src])
    pipe.add(CallbackSink(out.append), inputs=[rec])
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    assert [o.kind for o in out] == ["tap", "flick_right", "flick_left", "twist_cw", "twist_ccw", "shake"]


def test_one_recogniser_state_per_source_with_interleaved_clients() -> None:
    """Two wrists whose batches interleave (two daemon clients): each one's gestures come out whole, tagged
    with its source, although the other was moving at the same moment."""
    a = render(Scene(4.0, [SimEvent("twist_cw", 1.0), SimEvent("flick_up", 2.6)], seed=1), 100)
    b = render(Scene(4.0, [SimEvent("shake", 0.8), SimEvent("tap", 2.7)], seed=2), 100)
    stage = WristGestureRecognizer()
    stage.setup()
    out: list[Observation] = []
    for ba, bb in zip(split(a, 5), split(b, 7)):
        ba.source_id, bb.source_id = "client-a/imu", "client-b/imu"
        stage.process(ba, out.append)
        stage.process(bb, out.append)
    for rest in split(a, 5)[len(split(b, 7)) :]:
        rest.source_id = "client-a/imu"
        stage.process(rest, out.append)
    stage.close(out.append)
    by = {s: [o.kind for o in out if o.source_id == s] for s in ("client-a/imu", "client-b/imu")}
    assert by == {"client-a/imu": ["twist_cw", "flick_up"], "client-b/imu": ["shake", "tap"]}
    assert sorted(stage.sources) == ["client-a/imu", "client-b/imu"]
    # one shared state mixes the streams: b's samples land inside a's timeline and are refused
    mixed: list[Observation] = []
    single = WristGestureRecognizer()
    for ba, bb in zip(split(a, 5), split(b, 7)):
        ba.source_id = bb.source_id = "same"
        single.process(ba, mixed.append)
        single.process(bb, mixed.append)
    assert single.malformed > 0 and [o.kind for o in mixed] != ["twist_cw", "shake", "flick_up", "tap"]
