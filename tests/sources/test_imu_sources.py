"""IMU sources on real transports (loopback UDP socket, a pty pair as the serial port), the CSV twin and
the synthetic generator."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

from perception.sources import (
    DeviceBusyError,
    DeviceNotFoundError,
    ImuCsvSource,
    ImuEvent,
    ImuFormatOptions,
    ImuSerialSource,
    ImuSourceOptions,
    ImuTcpSource,
    ImuUdpSource,
    SyntheticImuOptions,
    SyntheticImuSource,
)
from perception.sources.imu import DeviceTimeMapper, write_imu_csv
from perception.stream import CallbackSink, MonotonicClock, Pipeline, ReplayClock


def run_live(source, send, settle_s=0.3, ready=lambda: True):
    got = []
    pipe = Pipeline(clock=MonotonicClock())
    pipe.add(source)
    pipe.add(CallbackSink(got.append, name="sink"), inputs=[source])
    pipe.start()
    wait_until(ready)
    send()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and source.counters.get("samples", 0) < send.expected:
        time.sleep(0.02)
    time.sleep(settle_s)
    assert pipe.stop() == []
    return got, pipe


def wait_until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pred():
        time.sleep(0.01)


def test_udp_malformed_datagrams_are_counted_and_skipped():
    src = ImuUdpSource(
        0,
        host="127.0.0.1",
        options=ImuSourceOptions(format=ImuFormatOptions(accel_unit="g", gyro_unit="deg/s", time_unit="ms")),
    )
    src.setup()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    good = [f"{1000 + 10 * i},0.0,{i / 100},1.0,{i},0,0" for i in range(30)]
    bad = [b"garbage", b"1,2", b"\xff\xfe\xfd", b'{"t": 5, "accel": [1, 2]}', b"0,0,abc,1,1,1,1"]

    def send():
        for i, line in enumerate(good):
            tx.sendto(line.encode(), src.address)
            if i % 6 == 0:
                tx.sendto(bad[i // 6], src.address)
            time.sleep(0.002)
        # two lines in one datagram -> one batch of two samples
        tx.sendto(b"1300,0,0.3,1,0,0,0\n1310,0,0.31,1,0,0,0\n", src.address)

    send.expected = 32
    got, pipe = run_live(src, send)
    tx.close()
    assert src.counters["malformed"] == 5
    assert src.counters["samples"] == 32
    ay = np.concatenate([b.accel[:, 1] for b in got]) / 9.80665
    np.testing.assert_allclose(ay, [i / 100 for i in range(30)] + [0.3, 0.31], atol=1e-12)
    t = np.concatenate([b.t_ns for b in got])
    assert np.all(np.diff(t) > 0)
    assert len(got[-1]) == 2
    assert "malformed=5" in pipe.stats_table()


def test_udp_port_in_use_is_reported_by_name():
    a = ImuUdpSource(0, host="127.0.0.1")
    a.setup()
    b = ImuUdpSource(a.port, host="127.0.0.1")
    with pytest.raises(DeviceBusyError, match=f"UDP port '127.0.0.1:{a.port}'"):
        b.setup()
    a.sock.close()


def test_serial_pty_lines_with_noise_are_counted_and_skipped():
    master, slave = os.openpty()
    port = os.ttyname(slave)
    src = ImuSerialSource(port, options=ImuSourceOptions(batch_size=5))
    lines = ["ax,ay,az,gx,gy,gz"]  # an Arduino sketch's header, then raw lines in g and deg/s
    lines += [f"0.0{i % 10},0.00,1.00,{i}.5,0,0" for i in range(40)]
    noisy = list(lines)
    noisy.insert(3, "\x00\x7f#garbled")
    noisy.insert(10, "1.0,2.0")
    noisy.insert(20, "Calibrating...")

    def send():
        for line in noisy:
            os.write(master, (line + "\r\n").encode())
            time.sleep(0.001)

    send.expected = 40
    # pyserial flushes the input when it opens the port: send once it is open
    got, _ = run_live(src, send, ready=lambda: src.serial is not None)
    os.close(master)
    os.close(slave)
    assert src.counters["malformed"] == 3
    assert src.counters["samples"] == 40
    gx = np.concatenate([b.gyro[:, 0] for b in got])
    np.testing.assert_allclose(gx, np.radians([i + 0.5 for i in range(40)]))
    assert src.parser.units["accel"] == "g" and src.parser.units["gyro"] == "deg/s"


def test_missing_serial_port_names_it_and_lists_ports():
    src = ImuSerialSource("/dev/ttyDOESNOTEXIST")
    with pytest.raises(DeviceNotFoundError) as ei:
        src.setup()
    msg = str(ei.value)
    assert "/dev/ttyDOESNOTEXIST" in msg and "available serial ports" in msg


def test_csv_twin_is_deterministic_and_keeps_file_times(tmp_path):
    batches = []
    pipe = Pipeline(clock=ReplayClock())
    syn = pipe.add(SyntheticImuSource(SyntheticImuOptions(duration_s=1.0, seed=3)))
    pipe.add(CallbackSink(batches.append), inputs=[syn])
    pipe.start()
    pipe.wait(5)
    pipe.stop()
    path = tmp_path / "imu.csv"
    write_imu_csv(path, batches)
    with open(path, "a") as f:
        f.write("this is not a sample\n")

    def replay():
        out = []
        pipe = Pipeline(clock=ReplayClock())
        src = pipe.add(ImuCsvSource(path, ImuSourceOptions(batch_size=7)))
        pipe.add(CallbackSink(out.append), inputs=[src])
        pipe.start()
        pipe.wait(5)
        pipe.stop()
        return out, src

    a, src = replay()
    b, _ = replay()
    assert src.counters["malformed"] == 1
    ta, tb = np.concatenate([x.t_ns for x in a]), np.concatenate([x.t_ns for x in b])
    np.testing.assert_array_equal(ta, tb)
    t_orig = np.concatenate([x.t_ns for x in batches])
    np.testing.assert_array_equal(ta, t_orig - t_orig[0])
    np.testing.assert_array_equal(np.concatenate([x.accel for x in a]), np.concatenate([x.accel for x in batches]))
    np.testing.assert_array_equal(np.concatenate([x.gyro for x in a]), np.concatenate([x.gyro for x in batches]))
    assert [len(x) for x in a][:3] == [7, 7, 7]


def test_synthetic_is_seeded_and_events_show_up():
    ev = [ImuEvent(0.5, "tap"), ImuEvent(1.2, "flick")]

    def gen(seed):
        out = []
        pipe = Pipeline(clock=ReplayClock())
        s = pipe.add(SyntheticImuSource(SyntheticImuOptions(duration_s=2.0, seed=seed, events=ev)))
        pipe.add(CallbackSink(out.append), inputs=[s])
        pipe.start()
        pipe.wait(5)
        pipe.stop()
        return (
            np.concatenate([b.t_ns for b in out]),
            np.concatenate([b.accel for b in out]),
            np.concatenate([b.gyro for b in out]),
        )

    t, a, _ = gen(7)
    t2, a2, _ = gen(7)
    _, a3, _ = gen(8)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(t, t2)
    assert not np.array_equal(a, a3)
    assert len(t) == 200 and t[0] == 0 and t[1] == 10_000_000
    tap = (t >= 0.5e9) & (t < 0.65e9)
    assert a[tap, 2].max() > 2 * 9.80665 and a[~tap, 2].max() < 9.80665 + 0.2
    # a flick pushes the wrist along x and stops it (kinematics: tests/wrist recognises it as a flick)
    flick = (t >= 1.2e9) & (t < 1.56e9)
    assert a[flick, 0].max() > 1.2 * 9.80665 and a[flick, 0].min() < -0.9 * 9.80665
    assert np.abs(a[~flick, 0]).max() < 0.2
    with pytest.raises(ValueError, match="unknown synthetic IMU event"):
        SyntheticImuSource(SyntheticImuOptions(events=[ImuEvent(0, "jump")]))


def test_device_time_mapper_uses_minimum_delay_and_resyncs():
    m = DeviceTimeMapper()
    # device ticks every 10 ms; transport delay varies between 2 and 9 ms
    delays = [5, 9, 2, 7, 3]
    out = [m.map(i * 10_000_000, 1_000_000_000 + i * 10_000_000 + d * 1_000_000) for i, d in enumerate(delays)]
    # once the 2 ms sample was seen, samples are placed with the 2 ms offset: spacing kept
    assert out[3] - out[2] == 10_000_000 and out[4] - out[3] == 10_000_000
    # device restart (time goes back): re-anchored on the receive time
    t = m.map(0, 5_000_000_000)
    assert t == 5_000_000_000


def test_tcp_hyperimu_json_lines_split_across_reads_and_a_reconnect():
    src = ImuTcpSource(0, host="127.0.0.1")
    src.setup()
    lines = [
        f'{{"os":"hyperimu","Timestamp":{1518819953744 + 20 * i},"lsm6dsl Accelerometer":[0.1,{0.01 * i!r},9.81],'
        '"lsm6dsl Gyroscope":[0,0,0.5]}'
        for i in range(30)
    ]
    payload = ("\n".join(lines[:20]) + "\n{broken json\n").encode()

    def send():
        c = socket.create_connection(src.address)
        for k in range(0, len(payload), 37):  # lines arrive cut at arbitrary byte boundaries
            c.sendall(payload[k : k + 37])
            time.sleep(0.001)
        c.close()
        time.sleep(0.1)
        c2 = socket.create_connection(src.address)  # the phone reconnects
        c2.sendall(("\r\n".join(lines[20:]) + "\r\n").encode())
        time.sleep(0.1)
        c2.close()

    send.expected = 30
    got, _ = run_live(src, send)
    assert src.counters["malformed"] == 1 and src.counters["connections"] == 2
    ay = np.concatenate([b.accel[:, 1] for b in got])
    np.testing.assert_array_equal(ay, [0.01 * i for i in range(30)])
    t = np.concatenate([b.t_ns for b in got])
    assert np.all(np.diff(t) > 0)
