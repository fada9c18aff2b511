"""Unit normalisation for wrist IMUs: accelerometers report g, milli-g or m/s^2, gyroscopes rad/s or deg/s.

The recognisers work in g (gesture thresholds read naturally there) and rad/s. `ImuBatch` is documented
as m/s^2 and rad/s, but a CSV or serial device often sends its native unit; "auto" decides from the
magnitude of gravity at rest, which is unambiguous between the three accelerometer units (1, 1000, 9.81).
"""
from __future__ import annotations

import numpy as np

# one unit table for the project: the IMU line parser's (values per unit in m/s^2 and rad/s)
from perception.sources.imu_format import ACCEL_UNITS, GYRO_UNITS, G, normalise_unit


def accel_scale_to_g(unit: str) -> float:
    """Factor that turns accelerometer values in `unit` ('g', 'mg', 'm/s^2' and aliases) into g."""
    return ACCEL_UNITS[normalise_unit(unit, "accel")] / G


def gyro_scale_to_rad_s(unit: str) -> float:
    """Factor that turns gyroscope values in `unit` ('rad/s', 'deg/s', 'dps'...) into rad/s."""
    return GYRO_UNITS[normalise_unit(unit, "gyro")]


def guess_accel_unit(accel: np.ndarray) -> str:
    """Guess the unit from the median vector norm (gravity dominates any stretch longer than a gesture)."""
    a = np.asarray(accel, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0:
        raise ValueError(f"accel must be (N,3) with N>0 to guess its unit, got shape {a.shape}")
    m = float(np.median(np.linalg.norm(a, axis=1)))
    # geometric midpoints between 1 g, 9.81 and 1000
    if m < np.sqrt(G):
        return "g"
    if m < np.sqrt(G * 1000.0):
        return "m/s^2"
    return "mg"


def guess_gyro_unit(gyro: np.ndarray) -> str:
    """A wrist rarely turns faster than ~20 rad/s (1150 deg/s); typical gestures peak at 3-10 rad/s.

    Readings in deg/s exceed 30 whenever the wrist moves at all, so a peak above 30 means deg/s. A
    stream with only tiny motion stays ambiguous and is taken as rad/s (a resting wrist is ~0 either way).
    """
    g = np.asarray(gyro, dtype=np.float64)
    return "deg/s" if g.size and float(np.max(np.abs(g))) > 30.0 else "rad/s"
