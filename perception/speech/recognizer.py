"""Speech to intent: VAD segments -> backend hypotheses -> parsed intents, as speech Observations.

One code path serves streaming and batch: `push` takes audio in any block size; `recognize` pushes a
whole array through the same path, so a file decoded at once and the same file streamed in 32 ms
chunks give identical observations.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.speech.backend import Hypothesis, SpeechBackend, create_backend
from perception.speech.context import Context, normalise_words
from perception.speech.grammar import Grammar, compile_grammar
from perception.speech.vad import SAMPLE_RATE, SileroVad, StreamingVad, VadOptions, VadSegment
from perception.stream.types import Observation

NS = 1_000_000_000


@dataclass(slots=True)
class SpeechOptions:
    vad: VadOptions = field(default_factory=VadOptions)
    # audio kept either side of a VAD segment for decoding: 0.1 s measured best in noise (76.7% vs
    # 73.3% with 0.3 s and 71.7% with 0.5 s at 6 dB on 60 files), equal on clean speech
    pad_ms: float = 100.0
    min_confidence: float = 0.5  # below: the utterance is reported without an intent (rejected)
    max_edits: int = 0  # words an open-vocabulary transcript may differ from the grammar (0: exact)
    max_edit_ratio: float = 0.25
    enhance: str | None = None  # None | "wiener": noise suppression before decoding
    # "auto": whisper where its converted model is built (`cuekit models build --speech`), else the
    # light path "pocketsphinx"; either can be named explicitly
    # PocketSphinx by default: the converted Whisper ("whisper", or "auto" = Whisper when built) is better on
    # the barista set but its confidence model, fitted on long orders, rejects short commands such as the
    # bundled session's "yes" / "cancel" (docs/speech.md)
    backend: str = "pocketsphinx"
    buffer_s: float = 30.0  # audio history kept for segments (longest utterance + pad)
    # a segment starting within this gap after the previous one is also decoded joined with it
    merge_gap_ms: float = 1500.0
    source_id: str = "speech"


@dataclass(slots=True)
class SpeechResult:
    """One decoded segment (what an Observation is made from), with timing for evaluation."""

    segment: VadSegment
    intent: str | None
    slots: dict[str, str]
    text: str
    confidence: float
    words: list[dict]
    n_best: list[dict]
    decode_s: float  # wall time spent decoding this segment
    rejected: bool
    features: dict = field(default_factory=dict)  # what the backend's confidence came from

    def to_observation(self, source_id: str = "speech") -> Observation:
        t0 = self.words[0]["t_start_ns"] if self.words else self.segment.t_start_ns
        t1 = self.words[-1]["t_end_ns"] if self.words else self.segment.t_end_ns
        return Observation(
            modality="speech", kind="intent" if self.intent else "utterance", confidence=self.confidence,
            t_start_ns=int(t0), t_end_ns=int(t1), source_id=source_id,
            payload={"intent": self.intent, "slots": dict(self.slots), "text": self.text, "words": self.words,
                     "n_best": self.n_best, "rejected": self.rejected,
                     "t_end_of_speech_ns": int(self.segment.t_end_ns),
                     "t_endpoint_ns": int(self.segment.t_detected_ns),
                     "decode_ms": round(self.decode_s * 1000, 2)})


class SpeechRecognizer:
    def __init__(self, context: Context | Grammar | str | Path, options: SpeechOptions | None = None,
                 backend: SpeechBackend | None = None, vad_model: SileroVad | None = None) -> None:
        self.options = options or SpeechOptions()
        if isinstance(context, (str, Path)):
            context = Context.from_rhino_yaml(context)
        self.grammar = context if isinstance(context, Grammar) else compile_grammar(context)
        self.backend = backend or create_backend(self.options.backend, self.grammar)
        self.vad = StreamingVad(self.options.vad, vad_model or SileroVad())
        # (segment start, end) -> sample to start decoding at; the wake gate uses it to cut its phrase
        self.segment_hook: Callable[[int, int], int] | None = None
        self._enhancer = None
        if self.options.enhance:
            from perception.speech.enhance import make_enhancer
            self._enhancer = make_enhancer(self.options.enhance)
        self.reset()

    def reset(self, t0_ns: int = 0) -> None:
        self.vad.reset(t0_ns)
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream sample index of _buf[0]
        self._prev: VadSegment | None = None  # the last segment (joined with the next if close)

    @property
    def t0_ns(self) -> int:
        return self.vad.t0_ns

    def push(self, samples: np.ndarray) -> list[SpeechResult]:
        """16 kHz mono float32 samples continuing the stream; results of segments that ended."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, samples])
        out = [r for seg in self.vad.push(samples) for r in self._on_segment(seg)]
        self._trim()
        return out

    def flush(self) -> list[SpeechResult]:
        return [r for seg in self.vad.flush() for r in self._on_segment(seg)]

    def _on_segment(self, seg: VadSegment) -> list[SpeechResult]:
        """Decode a finished segment. If it gives no accepted intent and it follows the previous segment
        within `merge_gap_ms`, the two are decoded joined: a pause inside a command ("may I have a dark
        roast ... coffee") splits it, and the joined reading, when accepted, is the (later) result."""
        prev, self._prev = self._prev, seg
        r = self._decode_segment(seg)
        if r is not None and r.intent is not None:
            return [r]
        if prev is not None and (seg.start - prev.end) * 1000 <= self.options.merge_gap_ms * SAMPLE_RATE \
                and seg.end - prev.start <= self.options.vad.max_segment_s * SAMPLE_RATE:
            joined = VadSegment(start=prev.start, end=seg.end, t_start_ns=prev.t_start_ns, t_end_ns=seg.t_end_ns,
                                mean_prob=(prev.mean_prob + seg.mean_prob) / 2, t_detected_ns=seg.t_detected_ns)
            rj = self._decode_segment(joined)
            if rj is not None and rj.intent is not None:
                self._prev = joined
                return [rj]
        return [r] if r is not None else []

    def recognize(self, audio: np.ndarray, t0_ns: int = 0) -> list[SpeechResult]:
        """Batch: the whole recording through the streaming path."""
        self.reset(t0_ns)
        return self.push(audio) + self.flush()

    def _trim(self) -> None:
        keep_from = self.vad.samples_seen - int(self.options.buffer_s * SAMPLE_RATE)
        if self.vad.in_speech:
            keep_from = min(keep_from, self.vad._start - self._pad())
        if self._prev is not None:
            keep_from = min(keep_from, self._prev.start - self._pad())
        cut = keep_from - self._buf_start
        if cut > 0:
            self._buf = self._buf[cut:]
            self._buf_start += cut

    def _pad(self) -> int:
        return int(self.options.pad_ms * SAMPLE_RATE / 1000)

    def _decode_segment(self, seg: VadSegment) -> SpeechResult | None:
        a0 = self.segment_hook(seg.start, seg.end) if self.segment_hook else seg.start
        a = max(self._buf_start, a0 - self._pad() if a0 == seg.start else a0)
        b = min(self._buf_start + len(self._buf), seg.end + self._pad())
        span = self._buf[a - self._buf_start:b - self._buf_start]
        t_span_ns = self.vad.t_ns(a)
        t_start = time.perf_counter()
        if self._enhancer is not None:
            noise_ref = self._buf[max(0, a - self._buf_start - 2 * SAMPLE_RATE):a - self._buf_start]
            span = self._enhancer(span, noise_ref)
        hyps = self.backend.decode(span, SAMPLE_RATE)
        result = self._interpret(seg, hyps, t_span_ns)
        if result is not None:
            result.decode_s = time.perf_counter() - t_start
        return result

    def _interpret(self, seg: VadSegment, hyps: list[Hypothesis], t_span_ns: int) -> SpeechResult | None:
        if not hyps:
            return None
        o = self.options
        parsed = []
        for h in hyps:
            words = normalise_words(h.text)
            p = self.grammar.parse(words)
            allowed = min(o.max_edits, int(o.max_edit_ratio * max(1, len(words))))
            ok = p.intent is not None and p.edits <= allowed
            parsed.append((h, p, ok))
        best, bp, ok = parsed[0]
        words = [{"word": w.word, "t_start_ns": t_span_ns + round(w.start_s * NS),
                  "t_end_ns": t_span_ns + round(w.end_s * NS), "confidence": round(w.confidence, 4),
                  **({"slot": bp.word_slot[i]} if i < len(bp.word_slot) and bp.word_slot[i] else {})}
                 for i, w in enumerate(best.words)]
        rejected = not ok or best.confidence < o.min_confidence
        n_best = [{"text": h.text, "intent": p.intent if k else None, "slots": p.slots if k else {},
                   "score": round(h.score, 5), "confidence": round(h.confidence, 4)} for h, p, k in parsed]
        return SpeechResult(segment=seg, intent=None if rejected else bp.intent,
                            slots={} if rejected else bp.slots, text=best.text,
                            confidence=float(best.confidence), words=words, n_best=n_best, decode_s=0.0,
                            rejected=rejected, features=dict(best.features))
