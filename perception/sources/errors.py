"""Device errors that name the device asked for and list what is available instead."""

from __future__ import annotations

from collections.abc import Sequence


class DeviceError(RuntimeError):
    """A device could not be used. `available` lists the devices of that kind that were found."""

    expected_failure = True  # the pipeline reports the message without a traceback

    def __init__(self, kind: str, requested: object, problem: str, available: Sequence[str] = ()) -> None:
        self.kind = kind
        self.requested = requested
        self.problem = problem
        self.available = list(available)
        avail = ", ".join(self.available) if self.available else "none found"
        super().__init__(f"{kind} {requested!r}: {problem}; available {kind}s: {avail}")


class DeviceNotFoundError(DeviceError):
    """The device does not exist (wrong index, port or name) or its driver library is missing."""


class DeviceBusyError(DeviceError):
    """The device exists but could not be opened or read (in use by another program, no permission)."""
