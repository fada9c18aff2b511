"""The pipeline stage: AudioChunk in -> speech Observations out.

    pipe.add(SpeechStage(SpeechStageOptions(context="coffee_maker.yaml")), inputs=[mic])

Emits kind="intent" (accepted command), kind="utterance" (speech the grammar decoded but rejected,
intent None) and kind="wake" (wake phrase heard, when gating is on). With a wake phrase configured,
commands are only passed on when they start within `WakeOptions.window_s` after it; the wake phrase's
own audio is cut from the front of a segment that contains it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.speech.recognizer import SpeechOptions, SpeechRecognizer, SpeechResult
from perception.speech.vad import SAMPLE_RATE
from perception.speech.wake import WakeDetection, WakeOptions, WakePhraseSpotter
from perception.stream.stage import Emit, Stage
from perception.stream.types import AudioChunk, Observation

log = logging.getLogger("cuekit.speech")


@dataclass
class SpeechStageOptions:
    context: str | Path | object = ""  # Rhino YAML path, a Context, or a compiled Grammar
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    wake: WakeOptions | None = None  # None: no wake phrase, every command passes
    emit_rejected: bool = True  # also emit kind="utterance" for rejected speech
    # kind="vad_start"/"vad_end" when the VAD enters/leaves speech, for displays (fusion ignores them)
    emit_vad_edges: bool = True


class SpeechStage(Stage):
    name = "speech"

    def __init__(self, options: SpeechStageOptions, name: str | None = None) -> None:
        super().__init__(name)
        if not options.context:
            raise ValueError("SpeechStageOptions.context is required (a Rhino YAML path, Context or Grammar)")
        self.options = options
        self.recognizer: SpeechRecognizer | None = None
        self.wake: WakePhraseSpotter | None = None
        self.counts = {"chunks": 0, "malformed": 0, "intents": 0, "rejected": 0, "gated": 0, "wakes": 0}

    def setup(self) -> None:
        self.recognizer = SpeechRecognizer(self.options.context, self.options.speech)
        if self.options.wake is not None:
            self.wake = WakePhraseSpotter(self.options.wake)
            self.recognizer.segment_hook = self._cut_wake
        self._started = False
        self._resampler = None
        self._rate = SAMPLE_RATE
        self._wakes: list[WakeDetection] = []
        self._speaking = False

    def process(self, item: AudioChunk, emit: Emit) -> None:
        if self.recognizer is None:
            self.setup()
        if not isinstance(item, AudioChunk) or not isinstance(item.samples, np.ndarray) \
                or item.samples.ndim != 1 or item.sample_rate <= 0:
            self.counts["malformed"] += 1
            log.warning("speech: skipped a malformed item (%s); expected a mono AudioChunk",
                        type(item).__name__)
            return
        if not self._started:
            self._started = True
            self._rate = item.sample_rate
            if item.sample_rate != SAMPLE_RATE:
                from perception.sources.resample import make_resampler
                self._resampler = make_resampler(item.sample_rate, SAMPLE_RATE)
            self.recognizer.reset(item.t_first_ns)
            if self.wake:
                self.wake.reset(item.t_first_ns)
        elif item.sample_rate != self._rate:
            self.counts["malformed"] += 1
            log.warning("speech: chunk at %d Hz in a %d Hz stream skipped", item.sample_rate, self._rate)
            return
        self.counts["chunks"] += 1
        x = item.samples.astype(np.float32, copy=False)
        if self._resampler is not None:
            x = self._resampler.push(x)
        if self.wake:
            for det in self.wake.push(x):
                self._wakes.append(det)
                self.counts["wakes"] += 1
                emit(Observation("speech", "wake", 1.0, det.t_start_ns, det.t_end_ns,
                                 {"phrase": det.phrase, "t_emitted_ns": self.clock.now_ns()},
                                 source_id=item.source_id))
        results = self.recognizer.push(x)
        if self.options.emit_vad_edges:
            self._vad_edge(item, emit)
        for r in results:
            self._emit(r, emit, item.source_id)

    def _vad_edge(self, item: AudioChunk, emit: Emit) -> None:
        speaking = self.recognizer.vad.in_speech
        if speaking != self._speaking:
            self._speaking = speaking
            t = item.t_end_ns
            emit(Observation("speech", "vad_start" if speaking else "vad_end", 1.0, t, t, {},
                             source_id=item.source_id))

    def close(self, emit: Emit) -> None:
        if self.recognizer is not None and self._started:
            for r in self.recognizer.flush():
                self._emit(r, emit, "")

    def _cut_wake(self, start: int, end: int) -> int:
        """Decode-span start for a segment [start, end): after a wake phrase inside it."""
        for det in self._wakes:
            if start - SAMPLE_RATE // 2 <= det.end <= end:
                return max(start, det.end)
        return start

    def _armed(self, r: SpeechResult) -> bool:
        w = self.options.wake
        return any(d.end - SAMPLE_RATE // 2 <= r.segment.end and
                   r.segment.start <= d.end + int(w.window_s * SAMPLE_RATE) for d in self._wakes)

    def _emit(self, r: SpeechResult, emit: Emit, source_id: str) -> None:
        if self.wake is not None and not self._armed(r):
            self.counts["gated"] += 1
            return
        obs = r.to_observation(source_id or self.options.speech.source_id)
        obs.payload["t_emitted_ns"] = self.clock.now_ns()
        if r.intent:
            self.counts["intents"] += 1
            emit(obs)
        else:
            self.counts["rejected"] += 1
            if self.options.emit_rejected:
                emit(obs)
