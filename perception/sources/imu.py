"""Wrist-IMU sources: UDP, serial and CSV file, all reading text lines through `ImuLineParser`, and a
seeded synthetic generator.

Device sources (UDP, serial) stamp every sample on the pipeline clock at capture: a line's device
timestamp is mapped onto the clock through the minimum observed (receive - device) offset, which
removes network/USB jitter while keeping the device's own sample spacing; lines without a device time
get the receive time. The CSV twin runs the same parsing and batching and stamps with the file's times
(relative to its first sample) through the pipeline clock, so under a `ReplayClock` it is deterministic
and under the live clock it plays at recorded speed.
"""

from __future__ import annotations

import csv
import hmac
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.sources import bind
from perception.sources.errors import DeviceBusyError, DeviceNotFoundError
from perception.sources.imu_format import G, ImuFormatOptions, ImuLineParser, ImuSample, MalformedImuLine
from perception.stream.clock import ReplayClock
from perception.stream.logthrottle import log_throttled
from perception.stream.stage import Emit, Source
from perception.stream.types import ImuBatch

log = logging.getLogger("cuekit.sources.imu")


@dataclass(slots=True)
class ImuSourceOptions:
    format: ImuFormatOptions = field(default_factory=ImuFormatOptions)
    batch_size: int = 10  # samples per ImuBatch (file and serial; a UDP datagram is one batch)
    rate_hz: float = 100.0  # spacing for lines that carry no device time
    source_id: str = "imu"


_MAX_LINE = 4096


class DeviceTimeMapper:
    """Maps device timestamps onto the pipeline clock with the minimum (receive - device) offset.

    The smallest offset seen is the one with the least transport delay; it is re-estimated when the
    device clock restarts (goes backwards) or drifts more than `resync_ns` away."""

    def __init__(self, resync_ns: int = 1_000_000_000) -> None:
        self.resync_ns = resync_ns
        self._offset: int | None = None
        self._last_dev: int | None = None

    def map(self, t_dev_ns: int, t_recv_ns: int) -> int:
        off = t_recv_ns - t_dev_ns
        restarted = self._last_dev is not None and t_dev_ns < self._last_dev
        if self._offset is None or restarted or off < self._offset or off - self._offset > self.resync_ns:
            self._offset = off
        self._last_dev = t_dev_ns
        return t_dev_ns + self._offset


class _ImuLineSource(Source):
    """What happens after the device: parse lines, count malformed ones, stamp, batch, emit."""

    produces = (ImuBatch,)

    def __init__(self, options: ImuSourceOptions | None, name: str) -> None:
        super().__init__(name)
        self.options = options or ImuSourceOptions()
        self.parser = ImuLineParser(self.options.format)
        self._seq = 0
        self._last_t: int | None = None
        self._pending: list[tuple[int, ImuSample]] = []

    def _parse(self, line: str | bytes) -> list[ImuSample]:
        try:
            return self.parser.feed(line)
        except MalformedImuLine as exc:
            n = self.count("malformed")
            log_throttled(
                log,
                f"{self.name}:malformed",
                logging.WARNING,
                "%s: skipped malformed line (%d so far): %s",
                self.name,
                n,
                exc,
            )
            return []
        except Exception as exc:  # noqa: BLE001 - a parser bug must not end a live stream
            self.count("malformed")
            log_throttled(
                log,
                f"{self.name}:parser",
                logging.ERROR,
                "%s: parser failed on %r: %s: %s",
                self.name,
                line[:80],
                type(exc).__name__,
                exc,
            )
            return []

    def _monotone(self, t: int) -> int:
        # downstream resamplers need strictly increasing times; equal stamps are nudged by 1 ns
        if self._last_t is not None and t <= self._last_t:
            self.count("reordered")
            t = self._last_t + 1
        self._last_t = t
        return t

    def _add(self, stamped: list[tuple[int, ImuSample]]) -> None:
        self._pending.extend((self._monotone(t), s) for t, s in stamped)

    def _emit_batches(self, emit: Emit, all_now: bool) -> None:
        n = self.options.batch_size
        while self._pending and (all_now or len(self._pending) >= n):
            chunk, self._pending = self._pending[:n], self._pending[n:]
            emit(self._make_batch(chunk))

    def _make_batch(self, chunk: list[tuple[int, ImuSample]]) -> ImuBatch:
        t = np.array([c[0] for c in chunk], dtype=np.int64)
        accel = np.stack([c[1].accel for c in chunk])
        gyro = _stack_optional([c[1].gyro for c in chunk])
        mag = _stack_optional([c[1].mag for c in chunk])
        batch = ImuBatch(t_ns=t, accel=accel, gyro=gyro, mag=mag, seq=self._seq, source_id=self.options.source_id)
        self._seq += 1
        self.count("samples", len(chunk))
        return batch


def _stack_optional(vs: list[np.ndarray | None]) -> np.ndarray | None:
    if all(v is None for v in vs):
        return None
    nan = np.full(3, np.nan)
    return np.stack([nan if v is None else v for v in vs])


class _LiveLineSource(_ImuLineSource):
    """Live stamping shared by UDP and serial."""

    def __init__(self, options: ImuSourceOptions | None, name: str) -> None:
        super().__init__(options, name)
        self._mapper = DeviceTimeMapper()

    def _ingest_bytes(self, chunk: bytes, t_recv: int, emit: Emit) -> None:
        """A byte stream (serial, TCP) -> lines -> samples; a batch goes out every `batch_size` samples."""
        buf = self.__dict__.get("_linebuf", b"") + chunk
        if b"\n" not in buf and b"\r" not in buf:
            if len(buf) > _MAX_LINE:  # a line that never ends is a malformed line
                self.count("malformed")
                buf = b""
            self._linebuf = buf
            return
        *lines, self._linebuf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        samples = []
        for line in lines:
            samples.extend(self._parse(line))
        if samples:
            self._add(self._stamp_live(samples, t_recv))
            self._emit_batches(emit, all_now=False)

    def _end_of_stream(self, emit: Emit) -> None:
        """The unterminated last line, the samples held for unit detection, the last partial batch."""
        now = self.clock.now_ns()
        rest = self.__dict__.pop("_linebuf", b"")
        samples = self._parse(rest) if rest.strip() else []
        samples += self.parser.flush()
        if samples:
            self._add(self._stamp_live(samples, now))
        self._emit_batches(emit, all_now=True)

    def _stamp_live(self, samples: list[ImuSample], t_recv: int) -> list[tuple[int, ImuSample]]:
        period = int(1e9 / self.options.rate_hz)
        out = []
        for i, s in enumerate(samples):
            if s.t_dev_ns is not None:
                out.append((self._mapper.map(s.t_dev_ns, t_recv), s))
            else:
                # several undated samples arrived together: they were captured one period apart
                out.append((t_recv - (len(samples) - 1 - i) * period, s))
        return out


class ImuUdpSource(_LiveLineSource):
    """IMU lines over UDP (phone sensor-streaming apps, an ESP32...): one datagram may hold many lines,
    and becomes one ImuBatch.

    On loopback anything is accepted. Any other address needs a token (`bind.check_bind`), and then a
    datagram counts only when its first line is `token:<token>`; others are counted `unauthenticated`."""

    name = "imu_udp"

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        options: ImuSourceOptions | None = None,
        name: str = "imu_udp",
        token: str | None = None,
    ) -> None:
        super().__init__(options, name)
        bind.check_bind(host, token, "receive IMU datagrams")
        self.host, self.port = host, port
        self.token = None if bind.is_loopback(host) else token
        self.sock: socket.socket | None = None

    def setup(self) -> None:
        if self.sock is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.host, self.port))
        except OSError as exc:
            s.close()
            raise DeviceBusyError(
                "UDP port",
                f"{self.host}:{self.port}",
                f"cannot listen ({exc.strerror})",
                ["any free port, e.g. 5555"],
            ) from exc
        s.settimeout(0.05)
        self.sock = s
        self.port = s.getsockname()[1]  # the real port when 0 was asked for

    @property
    def address(self) -> tuple[str, int]:
        self.setup()
        return ("127.0.0.1" if self.host in ("0.0.0.0", "") else self.host, self.port)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        assert self.sock is not None
        while not stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                if stop.is_set():
                    break
                raise
            t_recv = self.clock.now_ns()
            self.count("datagrams")
            lines = data.splitlines()
            if self.token is not None:
                if not lines or not hmac.compare_digest(lines[0].strip(), b"token:" + self.token.encode()):
                    self.count("unauthenticated")
                    log_throttled(
                        log,
                        f"{self.name}:token",
                        logging.WARNING,
                        "%s: dropped a datagram without the right token line",
                        self.name,
                    )
                    continue
                lines = lines[1:]
            samples = []
            for line in lines:
                samples.extend(self._parse(line))
            if samples:
                self._add(self._stamp_live(samples, t_recv))
                self._emit_batches(emit, all_now=True)

    def close(self, emit: Emit) -> None:
        self._end_of_stream(emit)
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class ImuTcpSource(_LiveLineSource):
    """IMU lines over TCP (HyperIMU sends its JSON format over TCP only): listens on `port`, reads
    lines from one client at a time; a new connection (the phone reconnecting) replaces the old one.
    Any address but loopback needs a token (`bind.check_bind`)."""

    name = "imu_tcp"

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        options: ImuSourceOptions | None = None,
        name: str = "imu_tcp",
        token: str | None = None,
    ) -> None:
        super().__init__(options, name)
        bind.check_bind(host, token, "accept IMU connections")
        self.token = None if bind.is_loopback(host) else token
        self._unauthed = b""  # the start of a connection that has not yet sent its token line
        self.host, self.port = host, port
        self.server: socket.socket | None = None
        self.client: socket.socket | None = None

    def setup(self) -> None:
        if self.server is not None:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.host, self.port))
            s.listen(2)
        except OSError as exc:
            s.close()
            raise DeviceBusyError(
                "TCP port",
                f"{self.host}:{self.port}",
                f"cannot listen ({exc.strerror})",
                ["any free port, e.g. 5555"],
            ) from exc
        self.server = s
        self.port = s.getsockname()[1]

    @property
    def address(self) -> tuple[str, int]:
        self.setup()
        return ("127.0.0.1" if self.host in ("0.0.0.0", "") else self.host, self.port)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        import selectors

        assert self.server is not None
        sel = selectors.DefaultSelector()
        sel.register(self.server, selectors.EVENT_READ)
        try:
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    if key.fileobj is self.server:
                        conn, _addr = self.server.accept()
                        if self.client is not None:
                            sel.unregister(self.client)
                            self.client.close()
                            self.__dict__.pop("_linebuf", None)
                        self.client = conn
                        self._unauthed = b"" if self.token is None else b"\0"
                        self.count("connections")
                        sel.register(conn, selectors.EVENT_READ)
                        continue
                    data = self.client.recv(65536) if self.client is not None else b""
                    t_recv = self.clock.now_ns()
                    if not data:  # client closed: wait for the next one
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
                        self.client = None
                        self._end_of_stream(emit)
                        continue
                    if self._unauthed:
                        data = self._authenticate(data, sel)
                        if not data:
                            continue
                    self._ingest_bytes(data, t_recv, emit)
                self._emit_batches(emit, all_now=True)  # nothing is held back between reads
        finally:
            sel.close()

    def _authenticate(self, data: bytes, sel) -> bytes:
        """Hold a new connection's bytes until its first line; the rest when it is the token line, else
        close it. `_unauthed` starts as b"\\0" (pending) and becomes b"" once the token was right."""
        buf = self._unauthed.lstrip(b"\0") + data
        line, nl, rest = buf.partition(b"\n")
        if not nl:
            if len(buf) > _MAX_LINE:
                nl, line = b"\n", b""  # no token line in the first 4 KB: refuse
            else:
                self._unauthed = b"\0" + buf
                return b""
        if hmac.compare_digest(line.strip(), b"token:" + str(self.token).encode()):
            self._unauthed = b""
            return rest
        self.count("unauthenticated")
        log_throttled(
            log,
            f"{self.name}:token",
            logging.WARNING,
            "%s: closed a connection without the right token line",
            self.name,
        )
        if self.client is not None:
            sel.unregister(self.client)
            self.client.close()
            self.client = None
        return b""

    def close(self, emit: Emit) -> None:
        self._end_of_stream(emit)
        for s in (self.client, self.server):
            if s is not None:
                s.close()
        self.client = self.server = None


def list_serial_ports() -> list[str]:
    try:
        from serial.tools import list_ports
    except ImportError:
        return []
    return [p.device for p in list_ports.comports()]


class ImuSerialSource(_LiveLineSource):
    """IMU CSV lines from a serial port, as an Arduino sketch prints them (`Serial.println`)."""

    name = "imu_serial"

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        options: ImuSourceOptions | None = None,
        name: str = "imu_serial",
    ) -> None:
        super().__init__(options, name)
        self.port, self.baudrate = port, baudrate
        self.serial = None

    def setup(self) -> None:
        import serial  # pyserial

        try:
            self.serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05)
        except serial.SerialException as exc:
            text = str(exc)
            busy = any(w in text.lower() for w in ("busy", "permission", "denied", "locked"))
            cls = DeviceBusyError if busy else DeviceNotFoundError
            raise cls(
                "serial port", self.port, "cannot open" + (f" ({text})" if text else ""), list_serial_ports()
            ) from exc

    def run(self, emit: Emit, stop: threading.Event) -> None:
        assert self.serial is not None
        while not stop.is_set():
            chunk = self.serial.read(max(1, self.serial.in_waiting or 1))
            t_recv = self.clock.now_ns()
            if not chunk:
                self._emit_batches(emit, all_now=True)  # idle line: hand over what is there
                continue
            self._ingest_bytes(chunk, t_recv, emit)

    def close(self, emit: Emit) -> None:
        self._end_of_stream(emit)
        if self.serial is not None:
            self.serial.close()
            self.serial = None


def _clock_t0(clock) -> int:
    """Where a file twin's times start: 0 on a replay clock (deterministic), now on the live clock."""
    return 0 if isinstance(clock, ReplayClock) else clock.now_ns()


class ImuCsvSource(_ImuLineSource):
    """The file twin: the same lines from a CSV/text file (a header line, or `options.format.columns`).
    Times are the file's device times relative to its first sample (or `rate_hz` spacing if none)."""

    name = "imu_csv"

    def __init__(
        self,
        path: str | os.PathLike,
        options: ImuSourceOptions | None = None,
        name: str = "imu_csv",
        t0_ns: int | None = None,
    ) -> None:
        super().__init__(options, name)
        self.path = Path(path)
        self.t0_ns = t0_ns
        if not self.path.is_file():
            raise FileNotFoundError(f"IMU CSV file not found: {self.path}")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        t0 = self.t0_ns if self.t0_ns is not None else _clock_t0(self.clock)
        period = 1e9 / self.options.rate_hz
        dev0: int | None = None
        n = 0

        def stamp(samples: list[ImuSample]) -> None:
            nonlocal dev0, n
            out = []
            for s in samples:
                if s.t_dev_ns is not None:
                    dev0 = s.t_dev_ns if dev0 is None else dev0
                    out.append((t0 + s.t_dev_ns - dev0, s))
                else:
                    out.append((t0 + int(round(n * period)), s))
                n += 1
            self._add(out)

        with open(self.path, encoding="utf-8", errors="replace", newline="") as f:
            for line in f:
                if stop.is_set():
                    return
                if line.lstrip().startswith("#"):
                    continue
                stamp(self._parse(line))
                self._pace_and_emit(emit, stop, all_now=False)
        stamp(self.parser.flush())
        self._pace_and_emit(emit, stop, all_now=True)

    def _pace_and_emit(self, emit: Emit, stop: threading.Event, all_now: bool) -> None:
        n = self.options.batch_size
        while self._pending and (all_now or len(self._pending) >= n) and not stop.is_set():
            k = min(n, len(self._pending))
            self.clock.sleep_until_ns(self._pending[k - 1][0], stop)  # a batch exists once its last sample does
            chunk, self._pending = self._pending[:k], self._pending[k:]
            emit(self._make_batch(chunk))


# synthetic ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class ImuEvent:
    """An injected motion of a wrist at rest (watch face up, forearm along +x), `t_s` seconds from the start:
    "tap" (an accel spike into the face), "flick" (a push of the wrist along the forearm and its stop:
    flick_right on a left wrist), "twist" (a turn about the forearm by 80 deg and back: twist_cw),
    "shake" (a 4 Hz oscillation along x). A negative `amplitude` flicks/twists the other way. The motion
    is kinematically consistent (gravity turns with the wrist, the gyro reads the turn), as a real IMU's
    would be, so the wrist recogniser reads these events as the gestures they stand for."""

    t_s: float
    kind: str
    duration_s: float | None = None  # None: the kind's natural length (_EVENT_DURATION_S)
    amplitude: float = 1.0

    @property
    def length_s(self) -> float:
        return self.duration_s if self.duration_s is not None else _EVENT_DURATION_S[self.kind]


@dataclass(slots=True)
class SyntheticImuOptions:
    rate_hz: float = 100.0
    duration_s: float | None = 10.0  # None: until stopped
    seed: int = 0
    accel_noise: float = 0.02  # m/s^2 standard deviation
    gyro_noise: float = 0.005  # rad/s
    events: list[ImuEvent] = field(default_factory=list)
    batch_size: int = 10
    source_id: str = "imu"


_EVENT_KINDS = ("tap", "flick", "shake", "twist")
_EVENT_DURATION_S = {"tap": 0.15, "flick": 0.36, "twist": 0.6, "shake": 1.0}


def _half_sine(u: np.ndarray, a: float, b: float) -> np.ndarray:
    """A half sine over the phase interval [a, b) of u, 0 elsewhere."""
    v = (u - a) / (b - a)
    return np.where((v >= 0) & (v < 1), np.sin(np.pi * np.clip(v, 0, 1)), 0.0)


class SyntheticImuSource(Source):
    """A seeded wrist at rest (gravity on z, white noise) with optional injected events."""

    produces = (ImuBatch,)

    name = "imu_synthetic"

    def __init__(
        self,
        options: SyntheticImuOptions | None = None,
        name: str = "imu_synthetic",
        t0_ns: int | None = None,
    ) -> None:
        super().__init__(name)
        self.options = options or SyntheticImuOptions()
        self.t0_ns = t0_ns
        for ev in self.options.events:
            if ev.kind not in _EVENT_KINDS:
                raise ValueError(f"unknown synthetic IMU event {ev.kind!r}; use one of {', '.join(_EVENT_KINDS)}")

    def generate(self, i0: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        o = self.options
        t = np.arange(i0, i0 + n) / o.rate_hz
        lin = np.zeros((n, 3))  # m/s^2 on top of gravity, sensor frame
        roll = np.zeros(n)  # turn about the forearm (x), radians
        gyro = rng.normal(0.0, o.gyro_noise, (n, 3))
        for ev in o.events:
            dur = ev.length_s
            u = (t - ev.t_s) / dur  # phase 0..1 inside the event
            inside = (u >= 0) & (u < 1)
            if not inside.any():
                continue
            if ev.kind == "tap":
                lin[inside, 2] += 3.0 * G * ev.amplitude * np.sin(np.pi * u[inside]) ** 4
            elif ev.kind == "flick":
                # push (first 40 %) and stop (the rest), as a wrist flicked and caught does
                lin[:, 0] += 1.6 * G * ev.amplitude * (_half_sine(u, 0.0, 0.42) - 0.8 * _half_sine(u, 0.42, 1.0))
            elif ev.kind == "twist":
                ang = np.deg2rad(80.0) * ev.amplitude
                roll[inside] += ang * (0.5 - 0.5 * np.cos(2 * np.pi * u[inside]))
                gyro[inside, 0] += ang * np.pi * np.sin(2 * np.pi * u[inside]) / dur
            elif ev.kind == "shake":
                lin[inside, 0] += 1.5 * G * ev.amplitude * np.sin(2 * np.pi * 4 * dur * u[inside])
        # gravity in the sensor frame of a wrist turned by `roll` about x
        accel = np.stack([np.zeros(n), G * np.sin(roll), G * np.cos(roll)], axis=1) + lin
        accel += rng.normal(0.0, o.accel_noise, (n, 3))
        return accel, gyro

    def run(self, emit: Emit, stop: threading.Event) -> None:
        o = self.options
        t0 = self.t0_ns if self.t0_ns is not None else _clock_t0(self.clock)
        rng = np.random.default_rng(o.seed)
        total = None if o.duration_s is None else int(round(o.duration_s * o.rate_hz))
        i, seq = 0, 0
        while not stop.is_set() and (total is None or i < total):
            n = o.batch_size if total is None else min(o.batch_size, total - i)
            t = t0 + np.round(np.arange(i, i + n) * (1e9 / o.rate_hz)).astype(np.int64)
            accel, gyro = self.generate(i, n, rng)
            self.clock.sleep_until_ns(int(t[-1]), stop)
            if stop.is_set():
                break
            emit(ImuBatch(t_ns=t, accel=accel, gyro=gyro, seq=seq, source_id=o.source_id))
            i += n
            seq += 1


def write_imu_csv(path: str | os.PathLike, batches: list[ImuBatch], time_unit: str = "ns") -> None:
    """Write batches as a headed CSV the CSV source reads back (m/s^2, rad/s)."""
    scale = {"ns": 1, "us": 1_000, "ms": 1_000_000}[time_unit]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"t_{time_unit}", "ax_m/s2", "ay_m/s2", "az_m/s2", "gx_rad/s", "gy_rad/s", "gz_rad/s"])
        for b in batches:
            for k in range(len(b)):
                g = b.gyro[k] if b.gyro is not None else (0.0, 0.0, 0.0)
                w.writerow([int(b.t_ns[k]) // scale, *map(repr, map(float, b.accel[k])), *map(repr, map(float, g))])


__all__ = [
    "ImuTcpSource",
    "DeviceTimeMapper",
    "ImuCsvSource",
    "ImuEvent",
    "ImuSerialSource",
    "ImuSourceOptions",
    "ImuUdpSource",
    "SyntheticImuOptions",
    "SyntheticImuSource",
    "list_serial_ports",
    "write_imu_csv",
]
