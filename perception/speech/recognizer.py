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
from perception.speech.context import Context
from perception.speech.endpoint import DecodeStream, EndpointOptions, GrammarEndpointer, open_stream
from perception.speech.expressions import tokenize
from perception.speech.grammar import Grammar, compile_grammar
from perception.speech.vad import CHUNK, SAMPLE_RATE, SileroVad, StreamingVad, VadOptions, VadSegment
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
    # decode while the user speaks and end the command early when the grammar says it is complete;
    # None: the previous path (wait out the VAD hangover, then decode the whole segment)
    endpoint: EndpointOptions | None = field(default_factory=EndpointOptions)


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
    revises: bool = False  # this reading of a longer span supersedes the previous result

    def slot_times(self) -> dict[str, list[int]]:
        """slot name -> [first word start, last word end] (ns): deixis needs when "that" was said."""
        out: dict[str, list[int]] = {}
        for w in self.words:
            name = w.get("slot")
            if name in self.slots:
                span = out.setdefault(name, [w["t_start_ns"], w["t_end_ns"]])
                span[0], span[1] = min(span[0], w["t_start_ns"]), max(span[1], w["t_end_ns"])
        return out

    def to_observation(self, source_id: str = "speech") -> Observation:
        t0 = self.words[0]["t_start_ns"] if self.words else self.segment.t_start_ns
        t1 = self.words[-1]["t_end_ns"] if self.words else self.segment.t_end_ns
        return Observation(
            modality="speech",
            kind="intent" if self.intent else "utterance",
            confidence=self.confidence,
            t_start_ns=int(t0),
            t_end_ns=int(t1),
            source_id=source_id,
            payload={
                "intent": self.intent,
                "slots": dict(self.slots),
                "slot_times": self.slot_times(),
                "text": self.text,
                "words": self.words,
                "n_best": self.n_best,
                "rejected": self.rejected,
                "t_end_of_speech_ns": int(self.segment.t_end_ns),
                "t_endpoint_ns": int(self.segment.t_detected_ns),
                "decode_ms": round(self.decode_s * 1000, 2),
                "revises_previous": self.revises,
            },
        )


class SpeechRecognizer:
    def __init__(
        self,
        context: Context | Grammar | str | Path,
        options: SpeechOptions | None = None,
        backend: SpeechBackend | None = None,
        vad_model: SileroVad | None = None,
    ) -> None:
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
        self._endpointer = (
            GrammarEndpointer(self.grammar, self.options.endpoint) if self.options.endpoint is not None else None
        )
        self._stream = None
        if self.streaming and callable(getattr(self.backend, "prepare_streaming", None)):
            self.backend.prepare_streaming()
        self.reset()

    @property
    def streaming(self) -> bool:
        """Incremental decoding with the grammar endpointer (not with enhancement: it needs the whole
        segment's noise estimate)."""
        return self.options.endpoint is not None and self._enhancer is None

    @property
    def busy(self) -> bool:
        """Inside an utterance (swap grammars only when not busy)."""
        return self.vad.in_speech or self._stream is not None

    def set_grammar(self, grammar: Grammar) -> list[str]:
        """Use a recompiled grammar from the next utterance on (e.g. new target names). Returns words the
        backend cannot say (then the grammar is not used)."""
        swap = getattr(self.backend, "set_grammar", None)
        if callable(swap):
            missing = swap(grammar)
            if missing:
                return missing
        else:
            self.backend.close()
            self.backend = create_backend(self.options.backend, grammar)
        self.grammar = grammar
        if self._endpointer is not None:
            self._endpointer = GrammarEndpointer(grammar, self.options.endpoint)
        return []

    def reset(self, t0_ns: int = 0) -> None:
        self.vad.reset(t0_ns)
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream sample index of _buf[0]
        self._prev: VadSegment | None = None  # the last segment (joined with the next if close)
        self._prev_early = False  # it was ended by the grammar endpointer
        self._pending = np.zeros(0, np.float32)  # streaming: samples short of a whole VAD chunk
        if getattr(self, "_stream", None) is not None:
            self._stream.finish()  # leave the decoder between utterances
        self._stream: DecodeStream | None = None
        self._stream_start = 0
        self._blocks_in_speech = 0

    @property
    def t0_ns(self) -> int:
        return self.vad.t0_ns

    def push(self, samples: np.ndarray) -> list[SpeechResult]:
        """16 kHz mono float32 samples continuing the stream; results of segments that ended."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not self.streaming:
            self._buf = np.concatenate([self._buf, samples])
            out = [r for seg in self.vad.push(samples) for r in self._on_segment(seg)]
            self._trim()
            return out
        # one VAD chunk at a time, so the endpointer sees every chunk's decision
        x = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n_full = len(x) // CHUNK
        out = []
        for i in range(n_full):
            out += self._step(x[i * CHUNK : (i + 1) * CHUNK])
        self._pending = x[n_full * CHUNK :].copy()
        self._trim()
        return out

    def flush(self) -> list[SpeechResult]:
        if self.streaming and len(self._pending):
            self._buf = np.concatenate([self._buf, self._pending])
            if self._stream is not None:
                self._stream.feed(self._pending)
            self._pending = np.zeros(0, np.float32)
        out = [r for seg in self.vad.flush() for r in self._on_segment(seg)]
        self._drop_stream()
        return out

    def _step(self, block: np.ndarray) -> list[SpeechResult]:
        self._buf = np.concatenate([self._buf, block])
        segs = self.vad.push(block)
        if self._stream is None and self.vad.in_speech:
            a = max(self._buf_start, self.vad.segment_start - self._pad())
            self._stream, self._stream_start, self._blocks_in_speech = open_stream(self.backend), a, 0
            self._stream.feed(self._buf[a - self._buf_start :])
        elif self._stream is not None:
            self._stream.feed(block)
        out = [r for seg in segs for r in self._on_segment(seg)]
        if self._stream is None or not self.vad.in_speech:
            self._drop_stream()  # a burst shorter than the VAD's minimum: nothing to decode
            return out
        self._blocks_in_speech += 1
        o = self.options.endpoint
        every = max(1, round(o.check_every_ms * SAMPLE_RATE / 1000 / CHUNK))
        silence_ms = self.vad.silence_samples * 1000 / SAMPLE_RATE
        if (
            self._blocks_in_speech % every == 0
            and silence_ms > 0
            and self._endpointer.should_end(self._stream.partial(), silence_ms)
        ):
            seg = self.vad.cut()
            if seg is not None:
                out += self._on_segment(seg, early=True)
            self._drop_stream()
        return out

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.finish()
            self._stream = None

    def _on_segment(self, seg: VadSegment, early: bool = False) -> list[SpeechResult]:
        """Decode a finished segment. If it gives no accepted intent and it follows the previous segment
        within `merge_gap_ms`, the two are decoded joined: a pause inside a command ("may I have a dark
        roast ... coffee") splits it, and the joined reading, when accepted, is the (later) result.
        After an early endpoint the joined reading is tried first: the user went on speaking, so the
        command probably continues ("a medium mocha ... with whole milk"); it revises the first result."""
        prev, prev_early = self._prev, self._prev_early
        self._prev, self._prev_early = seg, early
        joinable = (
            prev is not None
            and (seg.start - prev.end) * 1000 <= self.options.merge_gap_ms * SAMPLE_RATE
            and seg.end - prev.start <= self.options.vad.max_segment_s * SAMPLE_RATE
        )
        if joinable and prev_early:
            # the segment may be a command of its own ("volume down", then "take a photo"): then it stands;
            # only a segment that is no command alone continues the previous one ("... with whole milk")
            r = self._decode_segment(seg)
            if r is not None and r.intent is not None:
                return [r]
            rj = self._decode_joined(prev, seg)
            if rj is not None:
                return [rj]
            return [r] if r is not None else []
        r = self._decode_segment(seg)
        if r is not None and r.intent is not None:
            return [r]
        if joinable and not prev_early:
            rj = self._decode_joined(prev, seg)
            if rj is not None:
                return [rj]
        return [r] if r is not None else []

    def _decode_joined(self, prev: VadSegment, seg: VadSegment) -> SpeechResult | None:
        """The joined reading of two segments, when accepted."""
        joined = VadSegment(
            start=prev.start,
            end=seg.end,
            t_start_ns=prev.t_start_ns,
            t_end_ns=seg.t_end_ns,
            mean_prob=(prev.mean_prob + seg.mean_prob) / 2,
            t_detected_ns=seg.t_detected_ns,
        )
        if self._stream is not None:  # the second part was decoded while spoken; the whole is decoded again
            self._stream.finish()
            self._stream = None
        rj = self._decode_segment(joined)
        if rj is None or rj.intent is None:
            return None
        self._prev = joined
        rj.revises = True
        return rj

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
        stream, self._stream = self._stream, None
        if stream is not None:
            eo = self.options.endpoint
            short = (seg.end - seg.start) < eo.whole_segment_below_s * SAMPLE_RATE
            if a0 == seg.start and not short:  # decoded while spoken: only the end is left to do
                t_start = time.perf_counter()
                result = self._interpret(seg, stream.finish(), self.vad.t_ns(self._stream_start))
                if result is not None and result.intent is not None and result.confidence >= eo.fast_accept_confidence:
                    result.decode_s = time.perf_counter() - t_start
                    return result
                # not sure enough: the whole segment decides (streamed readings in noise are often wrong
                # and then unconfident; whole-segment readings of the same audio are right far more often)
            else:
                # a wake phrase is cut from the front, or the command is short: decode the segment whole
                stream.finish()
        a = max(self._buf_start, a0 - self._pad() if a0 == seg.start else a0)
        b = min(self._buf_start + len(self._buf), seg.end + self._pad())
        span = self._buf[a - self._buf_start : b - self._buf_start]
        t_span_ns = self.vad.t_ns(a)
        t_start = time.perf_counter()
        if self._enhancer is not None:
            noise_ref = self._buf[max(0, a - self._buf_start - 2 * SAMPLE_RATE) : a - self._buf_start]
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
            words = tokenize(h.text)
            p = self.grammar.parse(words)
            allowed = min(o.max_edits, int(o.max_edit_ratio * max(1, len(words))))
            ok = p.intent is not None and p.edits <= allowed
            parsed.append((h, p, ok))
        best, bp, ok = parsed[0]
        words = [
            {
                "word": w.word,
                "t_start_ns": t_span_ns + round(w.start_s * NS),
                "t_end_ns": t_span_ns + round(w.end_s * NS),
                "confidence": round(w.confidence, 4),
                **({"slot": bp.word_slot[i]} if i < len(bp.word_slot) and bp.word_slot[i] else {}),
            }
            for i, w in enumerate(best.words)
        ]
        rejected = not ok or best.confidence < o.min_confidence
        n_best = [
            {
                "text": h.text,
                "intent": p.intent if k else None,
                "slots": p.slots if k else {},
                "score": round(h.score, 5),
                "confidence": round(h.confidence, 4),
            }
            for h, p, k in parsed
        ]
        return SpeechResult(
            segment=seg,
            intent=None if rejected else bp.intent,
            slots={} if rejected else bp.slots,
            text=best.text,
            confidence=float(best.confidence),
            words=words,
            n_best=n_best,
            decode_s=0.0,
            rejected=rejected,
            features=dict(best.features),
        )
