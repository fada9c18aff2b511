"""The shared IMU line parser: formats, unit normalisation and detection, malformed lines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perception.sources.imu_format import (
    G,
    ImuFormatOptions,
    ImuLineParser,
    MalformedImuLine,
    classify_name,
    normalise_unit,
)


def parse_all(lines, **opts):
    p = ImuLineParser(ImuFormatOptions(**opts))
    out, bad = [], 0
    for line in lines:
        try:
            out += p.feed(line)
        except MalformedImuLine:
            bad += 1
    out += p.flush()
    return p, out, bad


def test_header_csv_with_units_in_names():
    lines = ["t_ms,accX(g),accY(g),accZ(g),gx_dps,gy_dps,gz_dps"] + [f"{i * 10},0,0.5,1,{i},0,-90" for i in range(3)]
    p, out, bad = parse_all(lines)
    assert bad == 0 and len(out) == 3
    assert p.units == {"time": "ms", "accel": "g", "gyro": "deg/s"}
    np.testing.assert_allclose(out[1].accel, [0, 0.5 * G, G])
    np.testing.assert_allclose(out[2].gyro, [math.radians(2), 0, math.radians(-90)])
    assert [s.t_dev_ns for s in out] == [0, 10_000_000, 20_000_000]


def test_sensor_stream_imu_gps_tagged_groups():
    line = "1234.567, 3, 0.10, 0.20, 9.80, 4, 0.01, -0.02, 0.03, 5, 12.0, -3.0, 40.0"
    p, out, bad = parse_all([line, "1234.577, 3, 0.1, 0.2, 9.8, 1, 48.1, 11.5, 500"])
    assert bad == 0 and len(out) == 2
    assert out[0].t_dev_ns == 1_234_567_000_000
    np.testing.assert_array_equal(out[0].accel, [0.1, 0.2, 9.8])  # already m/s^2
    np.testing.assert_array_equal(out[0].gyro, [0.01, -0.02, 0.03])  # already rad/s
    np.testing.assert_array_equal(out[0].mag, [12.0, -3.0, 40.0])
    assert out[1].gyro is None  # GPS group (id 1) skipped, no gyro in that packet


def test_hyperimu_json_and_csv():
    js = (
        '{"os":"hyperimu","Timestamp":1518819953744,"lsm6dsl Accelerometer":[0.09,0.14,9.79],'
        '"lsm6dsl Gyroscope":[0.001,0.002,0.003],"Linear Acceleration":[5,5,5]}'
    )
    _, out, bad = parse_all([js], time_unit="ms")
    assert bad == 0
    assert out[0].t_dev_ns == 1518819953744 * 1_000_000
    np.testing.assert_array_equal(out[0].accel, [0.09, 0.14, 9.79])  # not the linear acceleration
    # HyperIMU CSV: timestamp, acc xyz, gyro xyz, mag xyz, orientation...
    csv = [f"{1518819953744 + 20 * i},0.1,0.2,9.8,0.01,0.02,0.03,30,0,-20,1,2,3" for i in range(10)]
    p, out, bad = parse_all(csv)
    assert bad == 0 and len(out) == 10
    assert p.units["accel"] == "m/s^2" and p.units["gyro"] == "rad/s" and p.units["time"] == "ms"
    np.testing.assert_array_equal(out[0].mag, [30, 0, -20])


@pytest.mark.parametrize("scale,unit", [(1.0, "g"), (1000.0, "mg"), (G, "m/s^2")])
def test_accel_unit_detected_from_magnitude_at_rest(scale, unit):
    rng = np.random.default_rng(1)
    lines = [
        ",".join(f"{v:.6f}" for v in (np.array([0.01, -0.02, 1.0]) + rng.normal(0, 0.01, 3)) * scale) for _ in range(12)
    ]
    p, out, _ = parse_all(lines)
    assert p.units["accel"] == unit
    assert abs(np.linalg.norm(out[0].accel) - G) < 0.5


def test_gyro_deg_s_detected_by_range_and_declared_units_win():
    lines = [f"0,0,9.81,{200 if i == 5 else 1},0,0" for i in range(10)]
    p, out, _ = parse_all(lines)
    assert p.units["gyro"] == "deg/s"
    assert out[5].gyro[0] == pytest.approx(math.radians(200))
    p, out, _ = parse_all(lines, gyro_unit="rad/s", accel_unit="m/s^2")
    assert out[5].gyro[0] == 200.0  # declared, even if implausible
    assert p.units == {}  # nothing had to be detected


def test_time_unit_detected_from_sample_step():
    for step, unit in [(0.01, "s"), (10, "ms"), (10_000, "us"), (10_000_000, "ns")]:
        lines = [f"{1000 + i * step},0,0,9.8" for i in range(10)]
        p, out, _ = parse_all(lines)
        assert p.units["time"] == unit, step
        assert out[1].t_dev_ns - out[0].t_dev_ns == 10_000_000


def test_arduino_plotter_pairs_and_tagged_lines():
    _, out, bad = parse_all(["ax:0.0 ay:0.0 az:1.0 gx:0 gy:0 gz:45"], accel_unit="g", gyro_unit="deg/s")
    assert bad == 0
    np.testing.assert_allclose(out[0].accel, [0, 0, G])
    np.testing.assert_allclose(out[0].gyro, [0, 0, math.pi / 4])
    # Sensor Fusion app style: gyro held and attached to the next accelerometer sample
    lines = ["100 GYR 0.1 0.2 0.3", "105 ACC 0 0 9.8", "115 ACC 0 0 9.7"]
    _, out, bad = parse_all(lines, accel_unit="m/s^2", gyro_unit="rad/s", time_unit="ms")
    assert bad == 0 and len(out) == 2
    np.testing.assert_array_equal(out[1].gyro, [0.1, 0.2, 0.3])


def test_json_array_and_nested_vectors():
    line = '[{"t": 1, "accel": {"x": 0, "y": 0, "z": 1}}, {"t": 2, "accel": [0, 1, 0], "units": {"accel": "g"}}]'
    p, out, bad = parse_all([line], time_unit="s")
    assert bad == 0 and len(out) == 2 and p.units["accel"] == "g"
    np.testing.assert_allclose(out[1].accel, [0, G, 0])


@pytest.mark.parametrize(
    "line",
    [
        "1,2",  # too few numbers
        "0,0,abc,1",  # not a number
        '{"t": 1, "ax": 0}',  # no full accelerometer
        '{"accel": [0, 0]}',  # short vector
        '{"accel": [0, 0, "x"]}',
        "{not json",
        "hello world",  # a header without accelerometer columns
        "0,0,nan",
        '{"accel": [0, 0, 1], "units": {"accel": "furlongs"}}',
    ],
)
def test_malformed_lines_raise(line):
    p = ImuLineParser(ImuFormatOptions(accel_unit="g"))
    with pytest.raises(MalformedImuLine):
        p.feed(line)


def test_bad_line_does_not_disturb_the_header():
    p, out, bad = parse_all(
        ["t,ax,ay,az", "1,0,0,1", "1,0", "2,0,0,1", b"\xff\xfe", "3,0,0,1"], accel_unit="g", time_unit="s"
    )
    assert bad == 2 and len(out) == 3


def test_names_and_units():
    assert classify_name("accelerometerAccelerationX(G)") == ("accel", 0, "g")
    assert classify_name("gyro_z") == ("gyro", 2, None)
    assert classify_name("mag_y") == ("mag", 1, None)
    assert classify_name("timestamp") == ("time", -1, None)
    assert classify_name("millis") == ("time", -1, "ms")
    assert classify_name("temperature") is None
    assert normalise_unit("m/s2", "accel") == "m/s^2"
    with pytest.raises(ValueError, match="unknown gyro unit"):
        normalise_unit("rpm", "gyro")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TOKENS = st.sampled_from(
    [
        "t",
        "ax",
        "ay",
        "az",
        "gx",
        "gy",
        "gz",
        "3",
        "4",
        "5",
        "1",
        "0.5",
        "-9.81",
        "1e308",
        "nan",
        "ACC",
        "GYR",
        "{",
        "}",
        "[",
        "]",
        ":",
        "=",
        ",",
        ";",
        " ",
        '"',
        "accel",
        "units",
        "x",
        "null",
        "true",
        "1e-300",
        "\t",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.lists(_TOKENS, max_size=20).map("".join)), max_size=12))
def test_any_input_is_parsed_or_refused_as_malformed(lines):
    p = ImuLineParser()
    for line in lines:
        try:
            out = p.feed(line)
        except MalformedImuLine:
            continue
        for s in out:
            assert s.accel.shape == (3,) and np.all(np.isfinite(s.accel))
    for s in p.flush():
        assert s.accel.shape == (3,)


def test_absurd_values_are_malformed_not_infinite():
    p = ImuLineParser(ImuFormatOptions(accel_unit="g"))
    with pytest.raises(MalformedImuLine, match="out of range"):
        p.feed("1e308,0,1")
    with pytest.raises(MalformedImuLine):
        p.feed('{"accel": [NaN, 0, 1]}')
