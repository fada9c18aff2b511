"""The IMU file twin on real recordings from ../shared: a raw serial-terminal capture (terminal junk,
separators, milli-g) and a smartwatch log with declared columns."""

from __future__ import annotations

import re

import numpy as np

from perception.sources import ImuCsvSource, ImuFormatOptions, ImuSourceOptions
from perception.stream import CallbackSink, Pipeline, ReplayClock

_SAMPLE = re.compile(r"^\s*(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)\s*$")


def replay(path, options):
    out = []
    pipe = Pipeline(clock=ReplayClock())
    src = pipe.add(ImuCsvSource(path, options))
    pipe.add(CallbackSink(out.append), inputs=[src])
    pipe.start()
    assert pipe.wait(30)
    pipe.stop()
    return out, src


def test_magic_wand_serial_capture_keeps_every_sample_and_counts_the_junk(shared):
    path = shared("data", "imu", "magic_wand", "ring", "output_ring_dengyl.txt")
    raw = path.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln for ln in raw.split("\n") if ln.strip().strip("\x00")]
    expected = np.array([[float(v) for v in m.groups()] for ln in lines if (m := _SAMPLE.match(ln))])
    n_bad = len([ln for ln in lines if not _SAMPLE.match(ln) and not ln.lstrip().startswith("#")])
    assert len(expected) > 1000 and n_bad > 10  # separators '-,-,-' and terminal control sequences

    batches, src = replay(path, ImuSourceOptions(rate_hz=25.0))
    accel = np.concatenate([b.accel for b in batches])
    assert src.parser.units["accel"] == "mg"  # detected: |a| ~ 1000 at rest
    np.testing.assert_allclose(accel, expected * 9.80665 / 1000.0, rtol=1e-12)
    assert src.counters["malformed"] == n_bad
    t = np.concatenate([b.t_ns for b in batches])
    np.testing.assert_array_equal(t, np.round(np.arange(len(t)) * 1e9 / 25.0).astype(np.int64))


def test_fbk_smartwatch_log_with_declared_columns(shared):
    path = shared("data", "imu", "fbk_smartwatch", "U01", "01", "01.txt")
    rows = np.array([[float(v) for v in ln.split()] for ln in path.read_text().splitlines() if ln.strip()])
    cols = ("t_ms", "nano_time", "event_timestamp", "ax", "ay", "az")
    batches, src = replay(path, ImuSourceOptions(format=ImuFormatOptions(columns=cols)))
    assert src.counters.get("malformed", 0) == 0
    t = np.concatenate([b.t_ns for b in batches])
    np.testing.assert_array_equal(t, ((rows[:, 0] - rows[0, 0]) * 1e6).astype(np.int64))
    np.testing.assert_array_equal(np.concatenate([b.accel for b in batches]), rows[:, 3:6])  # m/s^2 already
    assert src.parser.units["accel"] == "m/s^2"
    assert all(b.gyro is None for b in batches)
