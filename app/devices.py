"""Which live devices are present: the demo and daemon fall back to a recording when none are."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from perception.sources.video import list_cameras

log = logging.getLogger("cuekit.devices")


@dataclass(slots=True)
class DeviceInventory:
    cameras: list[str] = field(default_factory=list)  # "index (name or path)", what CameraSource opens first
    microphones: list[str] = field(default_factory=list)
    serial_ports: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.cameras or self.microphones)


def probe_devices() -> DeviceInventory:
    """What is there: cameras (Linux: V4L2 nodes, nothing opened; macOS/Windows: indices OpenCV opens,
    probed briefly), PortAudio input devices, serial ports."""
    inv = DeviceInventory()
    if os.environ.get("CUEKIT_NO_DEVICES") != "1":
        try:
            inv.cameras = [str(c) for c in list_cameras()]
        except Exception as exc:  # noqa: BLE001 - a broken camera stack must not stop the demo
            inv.problems.append(f"camera: {type(exc).__name__}: {exc}")
    try:
        import sounddevice as sd

        inv.microphones = [d["name"] for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except OSError as exc:  # PortAudio missing: no microphone can work, say so
        inv.problems.append(f"microphone: {exc}")
    except Exception as exc:  # noqa: BLE001 - an optional device stack must not stop the demo
        inv.problems.append(f"microphone: {type(exc).__name__}: {exc}")
    try:
        from serial.tools import list_ports

        inv.serial_ports = [p.device for p in list_ports.comports()]
    except Exception as exc:  # noqa: BLE001 - an optional device stack must not stop the demo
        inv.problems.append(f"serial: {exc}")
    if os.environ.get("CUEKIT_NO_DEVICES") == "1":  # tests and CI force the bundled session
        inv.cameras, inv.microphones = [], []
    return inv
