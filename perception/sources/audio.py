"""Audio sources: microphone (sounddevice) and its WAV-file twin, both emitting 16 kHz mono float32
`AudioChunk`s through the same conditioning code (to mono, to float in [-1, 1], resampled, cut into
fixed-size chunks, stamped from the sample count).

Times: the input sample j has time anchor_t + (j - anchor_j) / in_rate; an output chunk's first sample
k sits at input position k * in_rate / 16000, so chunks are stamped from the sample count, without jitter.
The WAV twin anchors at the start of the file (0 on a replay clock). The microphone anchors at its
first block (callback time on the pipeline clock minus the block's duration) and re-anchors after a
device overflow or when the device clock has drifted more than `resync_ms` from the pipeline clock.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.sources.errors import DeviceBusyError, DeviceNotFoundError
from perception.sources.resample import make_resampler
from perception.sources.wav import WavError, WavInfo, decode_frames, read_wav_info, to_float_mono, write_wav
from perception.stream.clock import ReplayClock
from perception.stream.stage import Emit, Source
from perception.stream.types import AudioChunk

log = logging.getLogger("cuekit.sources.audio")

OUT_RATE = 16000


@dataclass(slots=True)
class AudioSourceOptions:
    chunk_samples: int = 512  # 32 ms at 16 kHz (what Silero VAD takes)
    out_rate: int = OUT_RATE
    source_id: str = "microphone"
    resync_ms: float = 40.0  # microphone only: re-anchor when the device clock drifts this far


class _AudioSource(Source):
    """What happens after the device: condition, chunk, stamp, emit."""

    produces = (AudioChunk,)

    def __init__(self, options: AudioSourceOptions | None, name: str) -> None:
        super().__init__(name)
        self.options = options or AudioSourceOptions()
        self.in_rate = 0
        self._resampler = None
        self._buf = np.zeros(0, np.float32)
        self._n_in = 0  # input samples conditioned so far
        self._n_out_emitted = 0  # output samples emitted in chunks so far
        self._anchor: tuple[int, int] | None = None  # (input sample index, time ns)
        self._seq = 0

    def _start(self, in_rate: int) -> None:
        self.in_rate = int(in_rate)
        self._resampler = make_resampler(self.in_rate, self.options.out_rate)

    def _input_time(self, j: int) -> int:
        """Time of input sample j on the pipeline clock."""
        aj, at = self._anchor
        return at + ((j - aj) * 1_000_000_000) // self.in_rate

    def _anchor_at(self, j: int, t_ns: int) -> None:
        self._anchor = (j, t_ns)

    def _push(self, block: np.ndarray, emit: Emit, pace: threading.Event | None = None) -> None:
        mono = to_float_mono(block)
        self._n_in += mono.size
        out = self._resampler.push(mono)
        self._buf = np.concatenate([self._buf, out]) if self._buf.size else out
        self._emit_full(emit, pace, final=False)

    def _finish(self, emit: Emit, pace: threading.Event | None) -> None:
        """End of stream: the resampler's held-back tail, then the last partial chunk."""
        if self._resampler is not None and self._anchor is not None:
            tail = self._resampler.flush()
            if tail.size:
                self._buf = np.concatenate([self._buf, tail])
            self._emit_full(emit, pace, final=True)

    def _emit_full(self, emit: Emit, pace: threading.Event | None, final: bool) -> None:
        n = self.options.chunk_samples
        while self._buf.size >= n or (final and self._buf.size):
            samples, self._buf = self._buf[:n].copy(), self._buf[n:]
            k = self._n_out_emitted
            out_rate = self.options.out_rate
            aj, at = self._anchor
            # input position of output sample k is k * in / out; exact integer nanoseconds
            t_first = at + (k * self.in_rate - aj * out_rate) * 1_000_000_000 // (self.in_rate * out_rate)
            chunk = AudioChunk(
                samples=samples,
                sample_rate=out_rate,
                t_first_ns=int(t_first),
                seq=self._seq,
                source_id=self.options.source_id,
            )
            self._n_out_emitted += samples.size
            self._seq += 1
            if pace is not None:
                self.clock.sleep_until_ns(chunk.t_end_ns, pace)  # a chunk exists once its last sample does
                if pace.is_set():
                    return
            emit(chunk)


# WAV file ---------------------------------------------------------------------------------------------------
class WavFileSource(_AudioSource):
    """The microphone's file twin: any rate, any channel count, PCM or float -> 16 kHz mono chunks."""

    name = "wav"

    def __init__(
        self,
        path: str | os.PathLike,
        options: AudioSourceOptions | None = None,
        name: str = "wav",
        t0_ns: int | None = None,
    ) -> None:
        super().__init__(options, name)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"WAV file not found: {self.path}")
        self.info = read_wav_info(self.path)
        self.t0_ns = t0_ns

    def run(self, emit: Emit, stop: threading.Event) -> None:
        info = self.info
        self._start(info.sample_rate)
        t0 = (
            self.t0_ns
            if self.t0_ns is not None
            else (0 if isinstance(self.clock, ReplayClock) else self.clock.now_ns())
        )
        self._anchor_at(0, t0)
        frame_bytes = info.sample_width * info.channels
        block = max(1, int(info.sample_rate * 0.1))  # 100 ms reads
        with open(self.path, "rb") as f:
            f.seek(info.data_offset)
            left = info.n_frames
            while left > 0 and not stop.is_set():
                n = min(block, left)
                raw = f.read(n * frame_bytes)
                if len(raw) < frame_bytes:
                    break
                raw = raw[: (len(raw) // frame_bytes) * frame_bytes]
                left -= len(raw) // frame_bytes
                self._push(decode_frames(raw, info), emit, pace=stop)
        if not stop.is_set():
            self._finish(emit, stop)


# microphone -------------------------------------------------------------------------------------------
def _import_sounddevice(device: int | str | None = None):
    try:
        import sounddevice as sd
    except OSError as exc:  # the module imports fine but the PortAudio shared library is missing
        raise DeviceNotFoundError(
            "microphone",
            "default" if device is None else device,
            f"PortAudio is not usable ({exc}); install the libportaudio2 system package",
            [],
        ) from exc
    return sd


def list_microphones() -> list[str]:
    """'index: name (N ch, R Hz)' for every input device; [] if PortAudio is missing."""
    try:
        sd = _import_sounddevice()
        devs = sd.query_devices()
    except Exception:  # noqa: BLE001 - listing is best effort for error messages
        return []
    return [
        f"{i}: {d['name']} ({d['max_input_channels']} ch, {int(d['default_samplerate'])} Hz)"
        for i, d in enumerate(devs)
        if d["max_input_channels"] > 0
    ]


class MicrophoneSource(_AudioSource):
    """A sounddevice input stream. The callback only queues blocks (it must never block); a full queue
    is counted as `overflow`, like device overflows, and the stream re-anchors its times after a loss."""

    name = "microphone"

    def __init__(
        self,
        device: int | str | None = None,
        options: AudioSourceOptions | None = None,
        name: str = "microphone",
        block_ms: float = 20.0,
        queue_blocks: int = 200,
    ) -> None:
        super().__init__(options, name)
        self.device = device
        self.block_ms = block_ms
        self._q: queue.Queue = queue.Queue(maxsize=queue_blocks)
        self._stream = None

    def _resolve_device(self, sd) -> tuple[int | None, dict]:
        inputs = list_microphones()
        try:
            devs = sd.query_devices()
        except Exception as exc:  # noqa: BLE001
            raise DeviceNotFoundError("microphone", self.device, f"cannot list audio devices ({exc})", []) from exc
        if self.device is None:
            try:
                info = sd.query_devices(kind="input")
            except Exception as exc:  # noqa: BLE001
                raise DeviceNotFoundError("microphone", "default", "no default input device", inputs) from exc
            return None, dict(info)
        if isinstance(self.device, int) or (isinstance(self.device, str) and self.device.isdigit()):
            idx = int(self.device)
            if idx < 0 or idx >= len(devs) or devs[idx]["max_input_channels"] < 1:
                raise DeviceNotFoundError("microphone", self.device, "no input device with that index", inputs)
            return idx, dict(devs[idx])
        matches = [
            i for i, d in enumerate(devs) if self.device.lower() in d["name"].lower() and d["max_input_channels"] > 0
        ]
        if not matches:
            raise DeviceNotFoundError("microphone", self.device, "no input device with that name", inputs)
        return matches[0], dict(devs[matches[0]])

    def setup(self) -> None:
        sd = _import_sounddevice(self.device)
        idx, info = self._resolve_device(sd)
        rate = OUT_RATE
        try:
            sd.check_input_settings(device=idx, channels=1, samplerate=rate, dtype="float32")
        except Exception:  # noqa: BLE001 - device cannot do 16 kHz itself: take its rate, resample here
            rate = int(info.get("default_samplerate", 48000))
        self._start(rate)
        blocksize = max(1, int(rate * self.block_ms / 1000))
        try:
            self._stream = sd.InputStream(
                device=idx,
                channels=1,
                samplerate=rate,
                dtype="float32",
                blocksize=blocksize,
                callback=self._callback,
            )
            self._stream.start()
        except Exception as exc:  # noqa: BLE001
            raise DeviceBusyError(
                "microphone",
                self.device if self.device is not None else info.get("name"),
                f"cannot open input stream ({exc})",
                list_microphones(),
            ) from exc

    def _callback(self, indata, frames, time_info, status) -> None:
        t = self.clock.now_ns()
        try:
            self._q.put_nowait((indata.copy(), t, bool(status.input_overflow)))
        except queue.Full:
            self.count("overflow")

    def run(self, emit: Emit, stop: threading.Event) -> None:
        resync_ns = int(self.options.resync_ms * 1e6)
        while not stop.is_set():
            try:
                block, t_cb, overflowed = self._q.get(timeout=0.05)
            except queue.Empty:
                continue
            t_first = t_cb - (len(block) * 1_000_000_000) // self.in_rate
            if overflowed:
                self.count("overflow")
            if self._anchor is None or overflowed or abs(self._input_time(self._n_in) - t_first) > resync_ns:
                if self._anchor is not None:
                    self.count("resync")
                self._anchor_at(self._n_in, t_first)
            self._push(block, emit)

    def close(self, emit: Emit) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
        self._finish(emit, None)


# the WAV codec lives in perception.sources.wav; these names stay importable from here
__all__ = [
    "OUT_RATE",
    "AudioSourceOptions",
    "MicrophoneSource",
    "WavError",
    "WavFileSource",
    "WavInfo",
    "list_microphones",
    "read_wav_info",
    "to_float_mono",
    "write_wav",
]
