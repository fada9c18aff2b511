"""Camera thumbnails for clients subscribed to the `frames` stream (the dashboard): a small JPEG of a
frame the pipeline saw, with the hand landmarks last tracked on that source scaled onto it.

`FrameTap` is a pipeline sink (VideoFrame, HandLandmarks) that hands each item to the hub; the hub
encodes a thumbnail only when some client wants one from that source now, so an unwatched daemon pays
nothing but a dictionary update per item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from perception.stream import CallbackSink, HandLandmarks, VideoFrame
from perception.stream.channel import QueuePolicy

JPEG_QUALITY = 70
HAND_MAX_AGE_NS = 500_000_000  # landmarks older than this are not drawn on a newer frame


@dataclass(slots=True)
class Thumbnail:
    data: dict[str, Any]
    jpeg: bytes


def make_thumbnail(frame: VideoFrame, hands: list[HandLandmarks], max_width: int) -> Thumbnail:
    img = frame.image
    h, w = img.shape[:2]
    scale = min(1.0, max_width / float(w))
    try:
        small = (
            cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            if scale < 1.0
            else img
        )
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    except cv2.error as exc:
        raise ValueError(f"cannot JPEG-encode a frame of shape {img.shape}: {exc}") from exc
    if not ok:
        raise ValueError(f"cannot JPEG-encode a frame of shape {img.shape}")
    drawn = []
    for hl in hands:
        age = frame.t_capture_ns - hl.t_capture_ns
        if abs(age) > HAND_MAX_AGE_NS:
            continue
        pts = np.asarray(hl.image_xyz, dtype=np.float64)[:, :2] * scale
        if pts.shape != (21, 2) or not np.isfinite(pts).all():
            continue
        drawn.append(
            {
                "handedness": hl.handedness if hl.handedness in ("left", "right") else "unknown",
                "track_id": max(0, int(hl.track_id)),
                "score": float(min(1.0, max(0.0, hl.score))),
                "age_ms": round(max(0, age) / 1e6, 1),
                "points": np.round(pts, 1).tolist(),
            }
        )
    data = {
        "source_id": frame.source_id,
        "t_ns": max(0, int(frame.t_capture_ns)),
        "seq": max(0, int(frame.seq)),
        "width": int(small.shape[1]),
        "height": int(small.shape[0]),
        "scale": scale,
        "hands": drawn[:8],
    }
    return Thumbnail(data, buf.tobytes())


class LatestHands:
    """The newest landmarks per (camera source, track), for drawing on that camera's next thumbnail."""

    def __init__(self) -> None:
        self._by_source: dict[str, dict[int, HandLandmarks]] = {}

    def update(self, hl: HandLandmarks) -> None:
        self._by_source.setdefault(hl.source_id, {})[hl.track_id] = hl

    def for_frame(self, frame: VideoFrame) -> list[HandLandmarks]:
        own = self._by_source.get(frame.source_id)
        if own is None and len(self._by_source) == 1:
            # a headset's own hand tracking has its own source id; with one tracker, it is this camera's
            own = next(iter(self._by_source.values()))
        return list((own or {}).values())


def frame_tap(publish: Callable[[Any], None], name: str = "hub.frames") -> CallbackSink:
    """The sink stage that feeds camera frames and hand landmarks to `Hub.publish_media`. It never holds
    the pipeline back: when it falls behind, items are dropped and counted (a preview may skip)."""
    return CallbackSink(publish, name=name, policy=QueuePolicy.OVERFLOW)


FRAME_TYPES = (VideoFrame, HandLandmarks)
