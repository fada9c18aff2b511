"""Timestamped sensor sources, each a `perception.stream.Source` with a file twin running the same code.

video: CameraSource (index or URL)      <-> VideoFileSource
audio: MicrophoneSource (sounddevice)   <-> WavFileSource       (16 kHz mono float32 AudioChunks)
IMU:   ImuUdpSource, ImuTcpSource,
       ImuSerialSource                  <-> ImuCsvSource        (one line parser: imu_format.py)
       SyntheticImuSource (seeded, injected events)
"""

from perception.sources.audio import AudioSourceOptions, MicrophoneSource, WavFileSource, list_microphones
from perception.sources.errors import DeviceBusyError, DeviceError, DeviceNotFoundError
from perception.sources.imu import (
    ImuCsvSource,
    ImuEvent,
    ImuSerialSource,
    ImuSourceOptions,
    ImuTcpSource,
    ImuUdpSource,
    SyntheticImuOptions,
    SyntheticImuSource,
    list_serial_ports,
)
from perception.sources.imu_format import ImuFormatOptions, ImuLineParser, MalformedImuLine
from perception.sources.video import CameraSource, VideoFileSource, VideoSourceOptions, list_cameras

__all__ = [
    "AudioSourceOptions",
    "CameraSource",
    "DeviceBusyError",
    "DeviceError",
    "DeviceNotFoundError",
    "ImuCsvSource",
    "ImuEvent",
    "ImuFormatOptions",
    "ImuLineParser",
    "ImuSerialSource",
    "ImuSourceOptions",
    "ImuTcpSource",
    "ImuUdpSource",
    "MalformedImuLine",
    "MicrophoneSource",
    "SyntheticImuOptions",
    "SyntheticImuSource",
    "VideoFileSource",
    "VideoSourceOptions",
    "WavFileSource",
    "list_cameras",
    "list_microphones",
    "list_serial_ports",
]
