"""Video sources: a camera (OpenCV, by index or stream URL) and its video-file twin.

Both run one loop (grab, stamp, decode, emit VideoFrame); they differ only in the stamp. The camera
stamps with the pipeline clock right after `grab()` returns, the moment the frame reached us. The file
twin stamps frame i at t0 + i / fps (t0 = 0 on a replay clock, the start time on the live clock) and
waits for that time on the pipeline clock, so it replays deterministically or at recorded speed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
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


@dataclass(slots=True, frozen=True)
class CameraInfo:
    """A camera the OS offers: `index` is what `CameraSource(index)` opens."""

    index: int
    name: str
    backend: str  # the OpenCV capture API used for it: v4l2, avfoundation, msmf, dshow
    path: str | None = None  # Linux: /dev/videoN

    def __str__(self) -> str:
        return f"{self.index} ({self.path or self.name})" if self.path else f"{self.index} ({self.name})"


# OpenCV's capture API per OS: the native one (OpenCV's default order tries others first on some builds)
_APIS = {
    "linux": ("v4l2", cv2.CAP_V4L2),
    "darwin": ("avfoundation", cv2.CAP_AVFOUNDATION),
    "win32": ("msmf", cv2.CAP_MSMF),
}
_FALLBACK_APIS = {"win32": ("dshow", cv2.CAP_DSHOW)}  # older webcams that Media Foundation does not list


def capture_api(platform: str | None = None) -> tuple[str, int]:
    """(name, cv2.CAP_*) of the native capture API of `platform` (default: this OS)."""
    plat = platform or sys.platform
    key = "linux" if plat.startswith("linux") else plat
    return _APIS.get(key, ("any", cv2.CAP_ANY))


def _linux_cameras(sysfs: Path, dev: Path) -> list[CameraInfo]:
    """V4L2 capture nodes, from sysfs, without opening them (they may be busy). A UVC camera makes two
    nodes; the second (index 1) carries metadata, not frames, and is left out."""
    out = []
    base = sysfs / "class" / "video4linux"
    nodes = sorted(base.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30)
    for node in nodes:
        n = node.name[5:]
        if not n.isdigit() or not (dev / node.name).exists():
            continue
        try:
            if (node / "index").read_text().strip() not in ("", "0"):
                continue
        except OSError:
            pass  # no index attribute (older kernels): keep it
        try:
            name = (node / "name").read_text().strip() or node.name
        except OSError:
            name = node.name
        out.append(CameraInfo(int(n), name, "v4l2", str(dev / node.name)))
    if not out and not base.is_dir():  # no sysfs (a container): the device nodes alone
        for p in sorted(dev.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30):
            if p.name[5:].isdigit():
                out.append(CameraInfo(int(p.name[5:]), p.name, "v4l2", str(p)))
    return out


def _opencv_opens(index: int, api: int) -> bool:
    cap = cv2.VideoCapture(index, api)
    try:
        return bool(cap.isOpened())
    finally:
        cap.release()


def probe_indices(
    opens: Callable[[int, int], bool],
    api: tuple[str, int],
    max_index: int = 8,
    timeout_s: float = 2.0,
    stop_after_misses: int = 2,
) -> list[CameraInfo]:
    """Cameras by trying to open indices 0, 1, ... (macOS and Windows have no device list OpenCV can
    read). Each try runs in its own thread and is abandoned after `timeout_s` (a driver can hang on an
    absent index); probing stops after `stop_after_misses` misses in a row."""
    found: list[CameraInfo] = []
    misses = 0
    for i in range(max_index):
        result: list[bool] = []
        t = threading.Thread(
            target=lambda i=i, result=result: result.append(bool(opens(i, api[1]))),
            daemon=True,
            name=f"camera-probe-{i}",
        )
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            log.warning("camera %d (%s) did not answer within %.1f s; not probing further", i, api[0], timeout_s)
            break
        if result and result[0]:
            found.append(CameraInfo(i, f"camera {i}", api[0]))
            misses = 0
        else:
            misses += 1
            if misses >= stop_after_misses:
                break
    return found


def list_cameras(
    platform: str | None = None,
    *,
    opens: Callable[[int, int], bool] | None = None,
    sysfs: str | os.PathLike = "/sys",
    dev: str | os.PathLike = "/dev",
    max_index: int = 8,
    timeout_s: float = 2.0,
) -> list[CameraInfo]:
    """The cameras of this machine. Linux: the V4L2 capture nodes (sysfs, nothing opened). macOS and
    Windows: indices that OpenCV's native API (AVFoundation / Media Foundation, then DirectShow) opens,
    probed under a timeout. `opens(index, api) -> bool` replaces the OpenCV probe (tests)."""
    plat = platform or sys.platform
    if plat.startswith("linux"):
        return _linux_cameras(Path(sysfs), Path(dev))
    opens = opens or _opencv_opens
    found = probe_indices(opens, capture_api(plat), max_index, timeout_s)
    fallback = _FALLBACK_APIS.get(plat)
    if not found and fallback is not None:
        found = probe_indices(opens, fallback, max_index, timeout_s)
    return found


def camera_names() -> list[str]:
    """`list_cameras()` as text for messages (a short probe where probing is needed)."""
    return [str(c) for c in list_cameras(timeout_s=1.0, max_index=4)]


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
            emit(VideoFrame(image=self._frame(image), t_capture_ns=t, seq=self._seq, source_id=self.options.source_id))
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

    def __init__(self, device: int | str = 0, options: VideoSourceOptions | None = None, name: str = "camera") -> None:
        super().__init__(options, name)
        self.device: int | str = int(device) if isinstance(device, str) and device.isdigit() else device
        self._probe_t: int | None = None

    def setup(self) -> None:
        # an index opens through the OS's native API; a URL through whatever OpenCV finds for it
        cap = (
            cv2.VideoCapture(self.device, capture_api()[1])
            if isinstance(self.device, int)
            else cv2.VideoCapture(self.device)
        )
        if not cap.isOpened() and isinstance(self.device, int) and sys.platform == "win32":
            cap.release()
            cap = cv2.VideoCapture(self.device, _FALLBACK_APIS["win32"][1])
        if not cap.isOpened():
            cap.release()
            cams = list_cameras(timeout_s=1.0, max_index=4)
            have = [str(c) for c in cams]
            if isinstance(self.device, int) and self.device not in {c.index for c in cams}:
                raise DeviceNotFoundError("camera", self.device, "no such camera", have)
            what = "cannot open stream" if isinstance(self.device, str) else "cannot open (in use or no permission)"
            cls = DeviceNotFoundError if isinstance(self.device, str) else DeviceBusyError
            raise cls("camera", self.device, what, have)
        o = self.options
        if o.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, o.width)
        if o.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, o.height)
        if o.fps:
            cap.set(cv2.CAP_PROP_FPS, o.fps)
        if not cap.grab():  # opened but delivers nothing: another program holds it
            cap.release()
            raise DeviceBusyError("camera", self.device, "opened but delivers no frames (busy?)", camera_names())
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
