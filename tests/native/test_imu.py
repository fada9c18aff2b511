"""Madgwick AHRS, biquad filters and irregular resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from native import _reference as ref
from native.imu import (
    Biquad,
    IrregularResampler,
    Madgwick,
    gravity_in_sensor,
    quat_from_accel,
    resample_irregular,
)


def _motion(n=400, seed=0):
    rng = np.random.default_rng(seed)
    accel = np.array([0.5, -1.0, 9.7]) + rng.normal(0, 0.5, (n, 3))
    gyro = rng.normal(0, 0.8, (n, 3))
    return accel, gyro


def test_madgwick_matches_reference():
    accel, gyro = _motion()
    f = Madgwick(sample_rate=100, beta=0.1)
    q = f.update(accel, gyro)
    r = ref.madgwick(quat_from_accel(accel[0]), accel, gyro, np.full(len(accel), 0.01), 0.1)
    assert q.shape == (400, 4)
    assert np.abs(q - r).max() < 1e-12
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)


def test_madgwick_streaming_and_timestamps_agree():
    accel, gyro = _motion(300, 1)
    whole = Madgwick(100, 0.05).update(accel, gyro)
    f = Madgwick(100, 0.05)
    parts = np.concatenate([f.update(accel[i : i + 37], gyro[i : i + 37]) for i in range(0, 300, 37)])
    assert np.abs(parts - whole).max() < 1e-14
    t = (np.arange(300) * 10_000_000 + 5_000_000_000).astype(np.int64)
    g = Madgwick(100, 0.05)
    stamped = np.concatenate(
        [g.update(accel[:150], gyro[:150], t_ns=t[:150]), g.update(accel[150:], gyro[150:], t_ns=t[150:])]
    )
    assert np.abs(stamped - whole).max() < 1e-12
    with pytest.raises(ValueError, match="non-decreasing"):
        g.update(accel[:2], gyro[:2], t_ns=t[:2])


def test_madgwick_converges_to_gravity_and_integrates_gyro():
    g_dir = np.array([3.0, -2.0, 8.9])
    f = Madgwick(100, beta=0.1, q0=[1, 0, 0, 0])  # start wrong on purpose
    q = f.update(np.tile(g_dir, (1500, 1)), np.zeros((1500, 3)))
    est = gravity_in_sensor(q[-1:])[0]
    assert np.degrees(np.arccos(np.clip(est @ g_dir / np.linalg.norm(g_dir), -1, 1))) < 0.5
    # turn about the gravity axis at 1 rad/s for 1 s: a 1 rad yaw, gravity unchanged
    f = Madgwick(100, beta=0.1)
    q = f.update(np.tile([0, 0, 9.81], (100, 1)), np.tile([0, 0, 1.0], (100, 1)))
    angle = 2 * math.acos(min(1.0, abs(q[-1, 0])))
    assert angle == pytest.approx(1.0, abs=1e-3)


def test_madgwick_bad_input():
    f = Madgwick()
    with pytest.raises(ValueError, match="shape"):
        f.update(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="rows"):
        f.update(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        f.update(np.ones((2, 3)), np.array([[0, 0, np.nan], [0, 0, 0]]))
    with pytest.raises(ValueError, match="dt"):
        f.update(np.ones((2, 3)), np.zeros((2, 3)), dt=-0.01)
    with pytest.raises(ValueError, match="sample_rate"):
        Madgwick(sample_rate=0)
    # a NaN accelerometer row is ignored (gyro-only step), not propagated
    q = Madgwick().update(np.array([[0, 0, 9.8], [np.nan, 0, 0]]), np.zeros((2, 3)))
    assert np.all(np.isfinite(q))


def _biquad_reference(b, a, x):
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = (
            b[0] * x[i]
            + (b[1] * x[i - 1] if i >= 1 else 0)
            + (b[2] * x[i - 2] if i >= 2 else 0)
            - (a[0] * y[i - 1] if i >= 1 else 0)
            - (a[1] * y[i - 2] if i >= 2 else 0)
        )
    return y


def test_biquad_matches_difference_equation_and_streams():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    f = Biquad.lowpass(5.0, 100.0)
    y = f.process(x)
    for c in range(3):
        assert np.allclose(y[:, c], _biquad_reference(f.b, f.a, x[:, c]), atol=1e-12)
    g = Biquad.lowpass(5.0, 100.0)
    parts = np.concatenate([g.process(x[i : i + 33]) for i in range(0, 500, 33)])
    assert np.abs(parts - y).max() < 1e-13
    with pytest.raises(ValueError, match="channels"):
        g.process(x[:, :2])
    x32 = x[:, 0].astype(np.float32)
    assert Biquad.highpass(1, 100).process(x32).dtype == np.float32


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_biquad_frequency_response(kind):
    fs, fc = 100.0, 8.0
    f = getattr(Biquad, kind)(fc, fs)
    assert 20 * np.log10(abs(f.response([fc], fs)[0])) == pytest.approx(-3.01, abs=0.02)
    t = np.arange(4000) / fs
    for freq in (1.0, 30.0):
        y = getattr(Biquad, kind)(fc, fs).process(np.sin(2 * np.pi * freq * t))[2000:]
        gain = np.sqrt(2) * y.std()
        assert gain == pytest.approx(abs(f.response([freq], fs)[0]), rel=1e-2)
    passband = 1.0 if kind == "lowpass" else 30.0
    assert abs(f.response([passband], fs)[0]) > 0.98


def test_biquad_bad_parameters():
    for args in ((0, 100), (60, 100), (5, 100, -1), (float("nan"), 100)):
        with pytest.raises(ValueError):
            Biquad.lowpass(*args)


def test_resample_irregular_linear_signal_exact():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(5_000_000, 15_000_000, 200)).astype(np.int64) + 10**12
    v = np.stack([(t - t[0]) * 1e-9 * 2.0 + 1.0, -(t - t[0]) * 1e-9], 1)
    to, vo = resample_irregular(t, v, 50.0)
    assert to[0] == t[0] and to[-1] <= t[-1] and np.all(np.diff(to) == 20_000_000)
    assert np.allclose(vo[:, 0], (to - t[0]) * 1e-9 * 2.0 + 1.0, atol=1e-12)
    assert np.allclose(vo[:, 1], -(to - t[0]) * 1e-9, atol=1e-12)
    # 1-D values keep their shape; a custom t0 shifts the grid
    to2, vo2 = resample_irregular(t, v[:, 0], 50.0, t0_ns=int(t[0]) + 7_000_000)
    assert vo2.ndim == 1 and to2[0] == t[0] + 7_000_000


def test_resample_irregular_streaming_equals_batch():
    rng = np.random.default_rng(4)
    t = np.cumsum(rng.integers(1_000_000, 30_000_000, 500)).astype(np.int64)
    v = rng.normal(size=(500, 3))
    tb, vb = resample_irregular(t, v, 100.0)
    r = IrregularResampler(100.0)
    outs = [r.push(t[i : i + 41], v[i : i + 41]) for i in range(0, 500, 41)]
    ts = np.concatenate([o[0] for o in outs])
    vs = np.concatenate([o[1] for o in outs])
    assert np.array_equal(ts, tb)
    assert np.abs(vs - vb).max() < 1e-12


def test_resample_duplicates_and_errors():
    t = np.array([0, 10, 10, 20], np.int64) * 1_000_000
    v = np.array([[0.0], [1.0], [5.0], [6.0]])
    to, vo = resample_irregular(t, v, 200.0)  # 5 ms grid
    assert list(to // 1_000_000) == [0, 5, 10, 15, 20]
    assert np.allclose(vo[:, 0], [0, 0.5, 5.0, 5.5, 6.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        resample_irregular(np.array([0, 5, 3], np.int64), np.zeros((3, 1)), 10.0)
    with pytest.raises(TypeError, match="integer"):
        resample_irregular(np.array([0.0, 1.0]), np.zeros((2, 1)), 10.0)
    with pytest.raises(ValueError, match="rate_hz"):
        resample_irregular(np.array([0, 1], np.int64), np.zeros((2, 1)), 0)
    with pytest.raises(ValueError, match="split"):
        resample_irregular(np.array([0, 10**15], np.int64), np.zeros((2, 1)), 1000.0)
    empty_t, empty_v = resample_irregular(np.zeros(0, np.int64), np.zeros((0, 2)), 10.0)
    assert empty_t.shape == (0,) and empty_v.shape == (0, 2)


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_biquad_settle_has_no_step(kind):
    f = getattr(Biquad, kind)(2.0, 100.0)
    g = np.array([0.1, -0.2, 0.98])
    f.settle(g)
    y = f.process(np.tile(g, (50, 1)))
    want = g if kind == "lowpass" else np.zeros(3)
    assert np.abs(y - want).max() < 1e-12
    with pytest.raises(ValueError, match="channels"):
        f.settle([1.0, 2.0])
