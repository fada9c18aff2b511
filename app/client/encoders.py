"""Builds protocol messages for the input types (the daemon's `app.daemon.ingest` is the decoder)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from app.daemon.protocol import encode
from perception.stream import Observation


def _opt(d: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d.update({k: v for k, v in kw.items() if v is not None})
    return d


def audio_chunk(
    samples: np.ndarray, rate: int, t_ns: int | None = None, seq: int | None = None, source_id: str | None = None
) -> bytes:
    """int16 samples go as int16 (width 2); float samples in [-1, 1] as float32 (width 4). (N,) or (N, C)."""
    a = np.asarray(samples)
    channels = 1 if a.ndim == 1 else int(a.shape[1])
    if a.dtype == np.int16:
        width, payload = 2, a.astype("<i2", copy=False).tobytes()
    else:
        width, payload = 4, a.astype("<f4", copy=False).tobytes()
    data = _opt({"rate": int(rate), "width": width, "channels": channels}, t_ns=t_ns, seq=seq, source_id=source_id)
    return encode("audio-chunk", data, payload)  # type: ignore[return-value]


def imu_batch(
    t_ns: np.ndarray,
    accel: np.ndarray,
    gyro: np.ndarray | None = None,
    mag: np.ndarray | None = None,
    seq: int | None = None,
    source_id: str | None = None,
) -> bytes:
    t = np.asarray(t_ns, dtype="<i8")
    n = int(t.shape[0])
    parts = [t.tobytes(), np.asarray(accel, dtype="<f4").reshape(n, 3).tobytes()]
    if gyro is not None:
        parts.append(np.asarray(gyro, dtype="<f4").reshape(n, 3).tobytes())
    if mag is not None:
        parts.append(np.asarray(mag, dtype="<f4").reshape(n, 3).tobytes())
    data = _opt({"count": n, "gyro": gyro is not None, "mag": mag is not None}, seq=seq, source_id=source_id)
    return encode("imu-batch", data, b"".join(parts))  # type: ignore[return-value]


def video_frame(
    jpeg: bytes,
    t_ns: int | None = None,
    seq: int | None = None,
    width: int | None = None,
    height: int | None = None,
    source_id: str | None = None,
) -> bytes:
    data = _opt({"format": "jpeg"}, t_ns=t_ns, seq=seq, width=width, height=height, source_id=source_id)
    return encode("video-frame", data, bytes(jpeg))  # type: ignore[return-value]


def hand_joints(
    joints: np.ndarray | Sequence[Sequence[float]],
    layout: str = "mediapipe21",
    space: str = "image",
    handedness: str = "unknown",
    score: float = 1.0,
    track_id: int = 0,
    t_ns: int | None = None,
    seq: int | None = None,
    source_id: str | None = None,
) -> str:
    data = _opt(
        {
            "layout": layout,
            "space": space,
            "joints": np.asarray(joints, dtype=float).tolist(),
            "handedness": handedness,
            "score": float(score),
            "track_id": int(track_id),
        },
        t_ns=t_ns,
        seq=seq,
        source_id=source_id,
    )
    return encode("hand-joints", data)  # type: ignore[return-value]


def gaze_ray(
    origin: Sequence[float],
    direction: Sequence[float],
    confidence: float = 1.0,
    target_id: str | None = None,
    t_ns: int | None = None,
    source_id: str | None = None,
) -> str:
    data = _opt(
        {
            "origin": [float(x) for x in origin],
            "direction": [float(x) for x in direction],
            "confidence": float(confidence),
        },
        target_id=target_id,
        t_ns=t_ns,
        source_id=source_id,
    )
    return encode("gaze-ray", data)  # type: ignore[return-value]


def scene_targets(
    targets: Iterable[dict[str, Any]] = (),
    op: str = "replace",
    target_id: str | None = None,
    t_ns: int | None = None,
    source_id: str | None = None,
) -> str:
    data = _opt({"op": op, "targets": list(targets)}, id=target_id, t_ns=t_ns, source_id=source_id)
    return encode("scene-targets", data)  # type: ignore[return-value]


def observation(obs: Observation) -> str:
    d = obs.to_json()
    d.pop("id")  # the daemon assigns its own ids
    if not d["source_id"]:
        d.pop("source_id")
    return encode("observation", d)  # type: ignore[return-value]
