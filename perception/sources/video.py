"""Video sources: a camera (OpenCV, by index or stream URL) and its video-file twin.

Both run one loop (grab, stamp, decode, emit VideoFrame); they differ only in the stamp. The camera
stamps with the pipeline clock right after `grab()` returns, the moment the frame reached us. The file
twin stamps frame i at t0 + i / fps (t0 = 0 on a replay clock, the start time on the live clock) and
waits for that time on the pipeline clock, so it replays deterministically or at recorded speed.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perception.sources.errors import DeviceBusyError, DeviceNotFoundError
from perception.stream.channel import QueuePolicy
from perception.stream.clock import ReplayClock
from perception.stream.stage import Emit, Source
from perception.stream.types import VideoFrame

log = logging.getLogger("cuekit.sources.video")


@dataclass(slots=True)
class VideoSourceOptions:
    source_id: str = "camera"
    width: int | None = None  # camera: requested capture size
    height: int | None = None
    fps: float | None = None  # camera: requested rate; file: override a missing/wrong container rate
    gray: bool = False  # emit HxW gray frames instead of BGR
    max_frames: int | None = None


def list_cameras() -> list[str]:
    """Camera devices the OS shows (Linux /dev/video*, without opening them: they may be busy)."""
    devs = sorted(glob.glob("/dev/video*"), key=lambda p: int("".join(c for c in p if c.isdigit()) or 0))
    return [f"{p[len('/dev/video') :]} ({p})" for p in devs]


class _VideoSource(Source):
    produces = (VideoFrame,)
    input_policy = QueuePolicy.LATEST

    def __init__(self, options: VideoSourceOptions | None, name: str) -> None:
        super().__init__(name)
        self.options = options or VideoSourceOptions()
        self.cap: cv2.VideoCapture | None = None
        self._seq = 0

    def _grab(self) -> tuple[bool, int]:
        """Grab the next frame; (False, 0) at the end. Returns its capture time."""
        raise NotImplementedError

    def _wait(self, t_ns: int, stop: threading.Event) -> None:
        """File twin: wait until the frame is due; a camera frame is due when it arrives."""

    def _frame(self, image: np.ndarray) -> np.ndarray:
        if self.options.gray and image.ndim == 3:
            return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return image

    def run(self, emit: Emit, stop: threading.Event) -> None:
        assert self.cap is not None
        limit = self.options.max_frames
        while not stop.is_set() and (limit is None or self._seq < limit):
            grabbed, t = self._grab()
            if not grabbed:
                self._on_end()
                break
            ok, image = self.cap.retrieve()
            if not ok or image is None:
                self.count("decode_failed")
                continue
            self._wait(t, stop)
            if stop.is_set():
                break
            emit(
                VideoFrame(
                    image=self._frame(image), t_capture_ns=t, seq=self._seq, source_id=self.options.source_id
                )
            )
            self._seq += 1

    def _on_end(self) -> None:
        pass

    def close(self, emit: Emit) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class CameraSource(_VideoSource):
    """A live camera by index (0, 1...) or a stream URL (rtsp://, http://...)."""

    name = "camera"

    def __init__(
        self, device: int | str = 0, options: VideoSourceOptions | None = None, name: str = "camera"
    ) -> None:
        super().__init__(options, name)
        self.device: int | str = int(device) if isinstance(device, str) and device.isdigit() else device
        self._probe_t: int | None = None

    def setup(self) -> None:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            cap.release()
            if (
                isinstance(self.device, int)
                and not os.path.exists(f"/dev/video{self.device}")
                and os.path.isdir("/dev")
            ):
                raise DeviceNotFoundError("camera", self.device, "no such camera", list_cameras())
            what = (
                "cannot open stream"
                if isinstance(self.device, str)
                else "cannot open (in use or no permission)"
            )
            cls = DeviceNotFoundError if isinstance(self.device, str) else DeviceBusyError
            raise cls("camera", self.device, what, list_cameras())
        o = self.options
        if o.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, o.width)
        if o.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, o.height)
        if o.fps:
            cap.set(cv2.CAP_PROP_FPS, o.fps)
        if not cap.grab():  # opened but delivers nothing: another program holds it
            cap.release()
            raise DeviceBusyError(
                "camera", self.device, "opened but delivers no frames (busy?)", list_cameras()
            )
        self._probe_t = self.clock.now_ns()  # that probe frame is the first one emitted
        self.cap = cap

    def _grab(self) -> tuple[bool, int]:
        if self._probe_t is not None:
            t, self._probe_t = self._probe_t, None
            return True, t
        ok = self.cap.grab()
        return ok, self.clock.now_ns()  # stamped the moment the frame reached us

    def _on_end(self) -> None:
        log.warning("%s: camera %r stopped delivering frames", self.name, self.device)


class VideoFileSource(_VideoSource):
    """The camera's file twin."""

    name = "video"

    def __init__(
        self,
        path: str | os.PathLike,
        options: VideoSourceOptions | None = None,
        name: str = "video",
        t0_ns: int | None = None,
    ) -> None:
        super().__init__(options, name)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self.t0_ns = t0_ns
        self.fps = 30.0
        self._t0 = 0
        self._index = 0

    def setup(self) -> None:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise ValueError(f"{self.path}: OpenCV cannot decode this video file")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(self.options.fps or (fps if fps and 1.0 <= fps <= 1000.0 else 30.0))
        self.cap = cap
        self._t0 = (
            self.t0_ns
            if self.t0_ns is not None
            else (0 if isinstance(self.clock, ReplayClock) else self.clock.now_ns())
        )

    def _grab(self) -> tuple[bool, int]:
        # frame i of the file is at i / fps, counting frames that fail to decode too
        t = self._t0 + round(self._index * 1e9 / self.fps)
        self._index += 1
        return self.cap.grab(), t

    def _wait(self, t_ns: int, stop: threading.Event) -> None:
        self.clock.sleep_until_ns(t_ns, stop)


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: float, codec: str = "MJPG") -> None:
    """Write BGR frames to a video file with OpenCV (MJPG in .avi works in every OpenCV build)."""
    if not frames:
        raise ValueError("write_video needs at least one frame")
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), (w, h))
    if not vw.isOpened():
        raise ValueError(f"OpenCV cannot write {path} with codec {codec}")
    try:
        for f in frames:
            vw.write(f if f.ndim == 3 else cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    finally:
        vw.release()
