"""The in-process plugins: a glasses source, a scene/gaze context provider, a head-nod recogniser."""
from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

import numpy as np

from app.plugins.base import ContextPlugin, RecognizerPlugin, SourcePlugin, Validation
from glasses_sim.sim import TARGETS, GlassesSim, SimOptions
from perception.stream import AudioChunk, ImuBatch, Observation

_SIM_SCHEMA = {
    "seed": {"type": "integer", "minimum": 0},
    "seconds": {"type": "number", "minimum": 0, "description": "0: run until stopped"},
    "nod_every_s": {"type": "number", "minimum": 0},
}


class GlassesSimSource(SourcePlugin):
    """Simulated glasses: head IMU (200 Hz, batches of 10) and microphone (16 kHz, 20 ms chunks)."""

    produces = (ImuBatch, AudioChunk)
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {**_SIM_SCHEMA,
                       "serial_port": {"type": "string", "description": "the real prototype's port; when set, "
                                       "the plugin declines unless it exists"}},
    }

    @classmethod
    def validate(cls, config: dict[str, Any]) -> Validation:
        port = config.get("serial_port")
        if port and not os.path.exists(port):
            return Validation.decline(f"glasses not connected: {port} does not exist")
        return Validation(True)

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        super().__init__(config, name or "glasses_sim")
        self.sim = GlassesSim(SimOptions(seed=int(self.config.get("seed", 0)),
                                         nod_every_s=float(self.config.get("nod_every_s", 2.0))))

    def run(self, emit, stop: threading.Event) -> None:
        o = self.sim.o
        seconds = float(self.config.get("seconds", 0))
        t0 = self.clock.now_ns()
        tick_s = 0.02  # audio every 20 ms; IMU in batches of 10 samples every 50 ms
        k = 0
        imu_next = 0.0
        while not stop.is_set() and (seconds <= 0 or k * tick_s < seconds):
            t = k * tick_s
            n_audio = int(o.audio_rate_hz * tick_s)
            emit(AudioChunk(self.sim.audio(t, n_audio).astype(np.float32) / 32768.0, o.audio_rate_hz,
                            t0 + int(t * 1e9), seq=k, source_id=self.name))
            while imu_next + 0.05 <= t + tick_s + 1e-9:
                ts = imu_next + np.arange(10) / o.imu_rate_hz
                accel, gyro = self.sim.imu(ts)
                emit(ImuBatch(t0 + (ts * 1e9).astype(np.int64), accel, gyro, seq=int(imu_next * 20),
                              source_id=self.name))
                imu_next += 0.05
            k += 1
            self.clock.sleep_until_ns(t0 + int(k * tick_s * 1e9), stop)


class GlassesSceneContext(ContextPlugin):
    """The simulated room (lamp, door, television) once, then the wearer's gaze ray at 30 Hz."""

    config_schema: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False,
                                               "properties": _SIM_SCHEMA}

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        super().__init__(config, name or "glasses_scene")
        self.sim = GlassesSim(SimOptions(seed=int(self.config.get("seed", 0))))

    def run(self, emit, stop: threading.Event) -> None:
        seconds = float(self.config.get("seconds", 0))
        t0 = self.clock.now_ns()
        emit(Observation("context", "scene", 1.0, t0, t0, {"op": "replace", "targets": TARGETS}, self.name))
        k = 0
        while not stop.is_set() and (seconds <= 0 or k / 30 < seconds):
            t = t0 + int(k / 30 * 1e9)
            origin, direction, _target = self.sim.gaze(k / 30)
            emit(Observation("gaze", "ray", 1.0, t, t, {"origin": origin, "direction": direction}, self.name))
            k += 1
            self.clock.sleep_until_ns(t0 + int(k / 30 * 1e9), stop)


class HeadNodRecognizer(RecognizerPlugin):
    """Head nods from a head IMU: the pitch rate swings past +threshold then -threshold (or the
    reverse) within `max_s`. Emits Observation(modality="head", kind="nod")."""

    consumes = (ImuBatch,)
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {"threshold_rad_s": {"type": "number", "exclusiveMinimum": 0},
                       "max_s": {"type": "number", "exclusiveMinimum": 0},
                       "refractory_s": {"type": "number", "minimum": 0},
                       "axis": {"type": "integer", "minimum": 0, "maximum": 2}},
    }

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        super().__init__(config, name or "head_nod")
        self.threshold = float(self.config.get("threshold_rad_s", 1.2))
        self.max_ns = int(float(self.config.get("max_s", 0.8)) * 1e9)
        # after a nod the head swings back; ignore that for a moment so it is not the start of another
        self.refractory_ns = int(float(self.config.get("refractory_s", 0.3)) * 1e9)
        self.axis = int(self.config.get("axis", 0))
        self._first: tuple[int, int, float] | None = None  # (sign, t_ns, peak)
        self._refractory_until = -1

    def process(self, item: ImuBatch, emit) -> None:
        if item.gyro is None:
            self.count("no_gyro")
            return
        w = item.gyro[:, self.axis]
        for t, v in zip(item.t_ns.tolist(), w.tolist(), strict=True):
            if abs(v) < self.threshold or t < self._refractory_until:
                continue
            sign = 1 if v > 0 else -1
            if self._first is None or t - self._first[1] > self.max_ns:
                self._first = (sign, t, abs(v))
            elif sign != self._first[0]:
                peak = max(self._first[2], abs(v))
                conf = float(min(1.0, peak / (2 * self.threshold)))
                emit(Observation("head", "nod", conf, self._first[1], t, {"peak_rad_s": peak}, self.name))
                self._first = None
                self._refractory_until = t + self.refractory_ns
            else:
                self._first = (sign, self._first[1], max(self._first[2], abs(v)))
