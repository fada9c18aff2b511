"""Core sample types that flow source -> perception -> fusion -> sinks.

All times are integer nanoseconds on one clock (`time.monotonic_ns()` live, the recorded times on
replay), so modalities can be aligned and every intent can report latency from first evidence.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class VideoFrame:
    """One camera image. `image` is uint8 HxWx3 (BGR, as OpenCV delivers) or HxW (gray)."""

    image: np.ndarray
    t_capture_ns: int
    seq: int
    source_id: str = "camera"

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(slots=True)
class AudioChunk:
    """Mono PCM. `samples` is float32 in [-1, 1]; `t_first_ns` is the capture time of samples[0]."""

    samples: np.ndarray
    sample_rate: int
    t_first_ns: int
    seq: int = 0
    source_id: str = "microphone"

    @property
    def duration_ns(self) -> int:
        return int(len(self.samples) * 1_000_000_000 // self.sample_rate)

    @property
    def t_end_ns(self) -> int:
        return self.t_first_ns + self.duration_ns


@dataclass(slots=True)
class ImuBatch:
    """N wrist-IMU samples. accel (N,3) m/s^2 incl. gravity; gyro (N,3) rad/s; mag (N,3) microtesla."""

    t_ns: np.ndarray  # (N,) int64 capture time of each sample
    accel: np.ndarray  # (N,3) float64
    gyro: np.ndarray | None = None
    mag: np.ndarray | None = None
    seq: int = 0
    source_id: str = "imu"

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])


@dataclass(slots=True)
class HandLandmarks:
    """One tracked hand in one frame. `image_xyz` is (21,3): x,y in pixels of the frame, z relative depth."""

    image_xyz: np.ndarray
    t_capture_ns: int
    handedness: str = "unknown"  # "left" | "right" | "unknown"
    score: float = 1.0  # hand presence
    world_xyz: np.ndarray | None = None  # (21,3) metres, origin at the hand's centre
    track_id: int = 0
    frame_seq: int = 0
    source_id: str = "camera"


# Observation ids must stay unique when a run mixes its own observations with replayed ones (which
# keep their recorded ids), so each process numbers from its own random base. 20 random bits above a
# 32-bit counter stay below 2**53, exact in JavaScript clients too.
_observation_ids = itertools.count((secrets.randbits(20) << 32) + 1)


@dataclass(slots=True)
class Observation:
    """What a recogniser saw: `modality` ("hand", "speech", "wrist", "context"), `kind` (e.g. "pinch",
    "swipe_left", "utterance"), confidence in [0,1], and the span of evidence on the clock."""

    modality: str
    kind: str
    confidence: float
    t_start_ns: int
    t_end_ns: int
    payload: dict[str, Any] = field(default_factory=dict)
    source_id: str = ""
    id: int = field(default_factory=lambda: next(_observation_ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "modality": self.modality,
            "kind": self.kind,
            "confidence": float(self.confidence),
            "t_start_ns": int(self.t_start_ns),
            "t_end_ns": int(self.t_end_ns),
            "payload": self.payload,
            "source_id": self.source_id,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Observation:
        return cls(
            modality=d["modality"],
            kind=d["kind"],
            confidence=float(d["confidence"]),
            t_start_ns=int(d["t_start_ns"]),
            t_end_ns=int(d["t_end_ns"]),
            payload=dict(d.get("payload", {})),
            source_id=d.get("source_id", ""),
            id=int(d.get("id", next(_observation_ids))),
        )


@dataclass(slots=True)
class IntentEvent:
    """An intent emitted by fusion, with provenance (`derived_from`, as W3C EMMA) and its latency."""

    id: str
    name: str
    slots: dict[str, Any]
    confidence: float
    modalities: list[str]
    derived_from: list[int]  # Observation ids
    t_first_evidence_ns: int
    t_emitted_ns: int
    n_best: list[dict[str, Any]] = field(default_factory=list)

    @property
    def latency_ms(self) -> float:
        return (self.t_emitted_ns - self.t_first_evidence_ns) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "slots": self.slots,
            "confidence": float(self.confidence),
            "modalities": list(self.modalities),
            "derived_from": list(self.derived_from),
            "n_best": self.n_best,
            "t_first_evidence_ns": int(self.t_first_evidence_ns),
            "t_emitted_ns": int(self.t_emitted_ns),
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IntentEvent:
        return cls(
            id=d["id"],
            name=d["name"],
            slots=dict(d["slots"]),
            confidence=float(d["confidence"]),
            modalities=list(d["modalities"]),
            derived_from=[int(i) for i in d["derived_from"]],
            t_first_evidence_ns=int(d["t_first_evidence_ns"]),
            t_emitted_ns=int(d["t_emitted_ns"]),
            n_best=list(d.get("n_best", [])),
        )


# every type that flows between stages, in the order of the data flow
STREAM_TYPES: tuple[type, ...] = (VideoFrame, AudioChunk, ImuBatch, HandLandmarks, Observation, IntentEvent)
