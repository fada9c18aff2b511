"""Unit normalisation for wrist IMUs: accelerometers report g, milli-g or m/s^2, gyroscopes rad/s or deg/s.

The recognisers work in g (gesture thresholds read naturally there) and rad/s. `ImuBatch` is documented
as m/s^2 and rad/s, but a CSV or serial device often sends its native unit; "auto" decides from the
magnitude of gravity at rest, which is unambiguous between the three accelerometer units (1, 1000, 9.81).
Unit tables and detection thresholds are the IMU source's (perception/sources/imu_format.py), once.
"""

from __future__ import annotations

import numpy as np

# one unit table for the project: the IMU line parser's (values per unit in m/s^2 and rad/s)
from perception.sources.imu_format import (
    ACCEL_UNITS,
    GYRO_UNITS,
    G,
    detect_accel_unit,
    detect_gyro_unit,
    normalise_unit,
)


def accel_scale_to_g(unit: str) -> float:
    """Factor that turns accelerometer values in `unit` ('g', 'mg', 'm/s^2' and aliases) into g."""
    return ACCEL_UNITS[normalise_unit(unit, "accel")] / G


def gyro_scale_to_rad_s(unit: str) -> float:
    """Factor that turns gyroscope values in `unit` ('rad/s', 'deg/s', 'dps'...) into rad/s."""
    return GYRO_UNITS[normalise_unit(unit, "gyro")]


def guess_accel_unit(accel: np.ndarray) -> str:
    """The unit of an (N,3) accelerometer array, by the source's detector (imu_format.detect_accel_unit)."""
    a = np.asarray(accel, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or len(a) == 0:
        raise ValueError(f"accel must be (N,3) with N>0 to guess its unit, got shape {a.shape}")
    return detect_accel_unit(float(np.median(np.linalg.norm(a, axis=1))))


def guess_gyro_unit(gyro: np.ndarray, accel_unit: str | None = None) -> str:
    """The unit of an (N,3) gyroscope array, by the source's detector (imu_format.detect_gyro_unit)."""
    g = np.asarray(gyro, dtype=np.float64)
    return detect_gyro_unit(float(np.max(np.abs(g))) if g.size else 0.0, accel_unit)
