"""Camera enumeration on each OS: Linux reads V4L2 nodes from sysfs (nothing opened); macOS and Windows
probe OpenCV indices through the native API under a timeout. This machine runs the Linux path for real
(and on sysfs trees shaped like real ones); the other OSes run with a fake `opens` backend."""

from __future__ import annotations

import glob
import threading
import time

import cv2
import pytest

from app.devices import probe_devices
from perception.sources.errors import DeviceNotFoundError
from perception.sources.video import CameraInfo, CameraSource, capture_api, list_cameras
from perception.stream import Pipeline


def _sysfs(tmp_path, nodes):
    """nodes: {n: (index, name)} -> a /sys/class/video4linux tree and /dev/videoN files."""
    sysfs, dev = tmp_path / "sys", tmp_path / "dev"
    dev.mkdir()
    for n, (index, name) in nodes.items():
        d = sysfs / "class" / "video4linux" / f"video{n}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        if index is not None:
            (d / "index").write_text(f"{index}\n")
        (dev / f"video{n}").touch()
    return sysfs, dev


def test_linux_lists_capture_nodes_by_name_and_skips_metadata_nodes(tmp_path):
    sysfs, dev = _sysfs(
        tmp_path,
        {
            0: (0, "Integrated Camera"),
            1: (1, "Integrated Camera"),
            2: (0, "USB Webcam"),
            3: (1, "USB Webcam"),
            10: (0, "Virtual"),
        },
    )
    (dev / "video10").unlink()  # sysfs entry whose node is gone (unplugged mid-listing)
    cams = list_cameras("linux", sysfs=sysfs, dev=dev)
    assert cams == [
        CameraInfo(0, "Integrated Camera", "v4l2", str(dev / "video0")),
        CameraInfo(2, "USB Webcam", "v4l2", str(dev / "video2")),
    ]
    assert str(cams[1]) == f"2 ({dev / 'video2'})"


def test_linux_without_sysfs_falls_back_to_device_nodes(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("video0", "video4", "videoX", "null"):
        (dev / name).touch()
    assert [c.index for c in list_cameras("linux", sysfs=tmp_path / "nosys", dev=dev)] == [0, 4]


def test_linux_path_on_this_machine_matches_its_devices():
    cams = list_cameras("linux")
    nodes = sorted(glob.glob("/dev/video*"))
    if not nodes:
        assert cams == []  # this CI machine has no camera; the listing must not invent one
    else:
        assert {c.path for c in cams} <= set(nodes)


class FakeBackend:
    """What OpenCV would answer per (api, index); `hang` indices block like a stuck driver."""

    def __init__(self, present: dict[int, set[int]], hang: set[int] = frozenset()) -> None:
        self.present, self.hang, self.calls = present, hang, []
        self.release = threading.Event()

    def __call__(self, index: int, api: int) -> bool:
        self.calls.append((api, index))
        if index in self.hang:
            self.release.wait(10)
        return index in self.present.get(api, set())


def test_macos_probes_avfoundation_indices_until_two_misses():
    fake = FakeBackend({cv2.CAP_AVFOUNDATION: {0, 1, 5}})
    cams = list_cameras("darwin", opens=fake)
    assert [(c.index, c.backend) for c in cams] == [(0, "avfoundation"), (1, "avfoundation")]
    assert fake.calls == [(cv2.CAP_AVFOUNDATION, i) for i in range(4)]  # 2 and 3 missed: stop


def test_windows_tries_media_foundation_then_directshow():
    fake = FakeBackend({cv2.CAP_DSHOW: {0}})
    cams = list_cameras("win32", opens=fake)
    assert [(c.index, c.backend) for c in cams] == [(0, "dshow")]
    assert {api for api, _ in fake.calls} == {cv2.CAP_MSMF, cv2.CAP_DSHOW}
    assert capture_api("win32") == ("msmf", cv2.CAP_MSMF)
    assert capture_api("linux") == ("v4l2", cv2.CAP_V4L2)


def test_a_hanging_index_is_abandoned_after_the_timeout():
    fake = FakeBackend({cv2.CAP_AVFOUNDATION: {0, 1, 2}}, hang={1})
    t0 = time.monotonic()
    cams = list_cameras("darwin", opens=fake, timeout_s=0.3)
    took = time.monotonic() - t0
    fake.release.set()
    assert [c.index for c in cams] == [0]  # what answered before the stuck one
    assert took < 3.0


def test_opening_a_missing_camera_names_the_ones_there():
    pipe = Pipeline()
    src = pipe.add(CameraSource(57))
    src.clock = pipe.clock
    with pytest.raises(DeviceNotFoundError) as e:
        src.setup()
    assert "57" in str(e.value)


def test_device_inventory_lists_cameras_unless_told_not_to(monkeypatch):
    monkeypatch.setenv("CUEKIT_NO_DEVICES", "1")
    assert probe_devices().cameras == []
    monkeypatch.delenv("CUEKIT_NO_DEVICES")
    assert probe_devices().cameras == [str(c) for c in list_cameras()]
