"""The pipeline stage: AudioChunk in -> speech Observations out.

    pipe.add(SpeechStage(SpeechStageOptions(context="coffee_maker.yaml")), inputs=[mic])
    stage = speech_stage_from_spec(lambda scene: speech_grammar(spec, scene))   # in app/: from the spec

Emits kind="intent" (accepted command), kind="utterance" (speech the grammar decoded but rejected,
intent None) and kind="wake" (wake phrase heard, when gating is on). With a wake phrase configured,
commands are only passed on when they start within `WakeOptions.window_s` after it; the wake phrase's
own audio is cut from the front of a segment that contains it.

When the grammar comes from a function of the scene (the intent spec's export: target slots list the
names of the targets in view), scene updates -- `update_scene(message)`, or context/scene Observations
routed to the stage -- recompile the grammar and swap it in from the next utterance, without a restart.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.context.scene import Scene, SceneError
from perception.speech.context import Context, ExpressionError
from perception.speech.grammar import Grammar, compile_grammar
from perception.speech.recognizer import SpeechOptions, SpeechRecognizer, SpeechResult
from perception.speech.vad import SAMPLE_RATE
from perception.speech.wake import WakeDetection, WakeOptions, WakePhraseSpotter
from perception.stream.stage import Emit, Stage
from perception.stream.types import AudioChunk, Observation

log = logging.getLogger("cuekit.speech")


# what a speech grammar can be given as: a Rhino YAML path, a Rhino dict, a Context, a compiled Grammar,
# anything with `to_rhino_context()` (fusion's `speech_grammar(spec, scene)` export), or a function
# scene -> one of those (the grammar then follows scene updates)
GrammarSource = str | Path | dict | Context | Grammar | Any


def context_of(source: Any, name: str = "spec") -> Context | Grammar:
    """One of the GrammarSource forms (not a function) as a Context (or the Grammar itself)."""
    if isinstance(source, (Context, Grammar)):
        return source
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.suffix.lower() not in (".yaml", ".yml"):
            raise ValueError(
                f"speech context {p}: a Rhino context YAML is expected here (an intent spec "
                "TOML is turned into a grammar by fusion: fusion.spec.speech_grammar)"
            )
        return Context.from_rhino_yaml(p)
    if isinstance(source, dict) or hasattr(source, "to_rhino_context"):
        return Context.from_spec(source, name=name)
    raise TypeError(f"cannot make a speech grammar from {type(source).__name__}")


@dataclass
class SpeechStageOptions:
    context: GrammarSource = ""  # see GrammarSource
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    wake: WakeOptions | None = None  # None: no wake phrase, every command passes
    emit_rejected: bool = True  # also emit kind="utterance" for rejected speech
    # kind="vad_start"/"vad_end" when the VAD enters/leaves speech, for displays (fusion ignores them)
    emit_vad_edges: bool = True


class SpeechStage(Stage):
    name = "speech"

    def __init__(self, options: SpeechStageOptions, name: str | None = None) -> None:
        super().__init__(name)
        src = options.context
        if src is None or (isinstance(src, (str, Path, dict)) and not str(src)):
            raise ValueError(
                "SpeechStageOptions.context is required (a Rhino YAML path, Context, Grammar, "
                "the intent spec's speech export, or a function of the scene returning one)"
            )
        self.options = options
        self._grammar_for_scene: Callable[[Scene | None], Any] | None = src if callable(src) else None
        self._scene = Scene()
        # compiled now, so a bad grammar fails where the stage is built, once, with the reason
        first = context_of(self._grammar_for_scene(None) if self._grammar_for_scene else src)
        self.grammar = first if isinstance(first, Grammar) else compile_grammar(first)
        self._scene_updates: queue.SimpleQueue = queue.SimpleQueue()
        self._unspeakable: set[str] = set()
        self.recognizer: SpeechRecognizer | None = None
        self.wake: WakePhraseSpotter | None = None
        self._failed: str | None = None
        self.counts = {
            "chunks": 0,
            "malformed": 0,
            "intents": 0,
            "rejected": 0,
            "gated": 0,
            "wakes": 0,
            "grammar_updates": 0,
            "dropped_not_started": 0,
        }

    def update_scene(self, message: dict) -> None:
        """Thread-safe: a scene message ({"op": "upsert"|"remove"|"replace"|"clear", ...}); the grammar is
        recompiled in the stage's worker before the next audio chunk."""
        self._scene_updates.put(message)

    def setup(self) -> None:
        try:
            self.recognizer = SpeechRecognizer(self.grammar, self.options.speech)
            if self.options.wake is not None:
                self.wake = WakePhraseSpotter(self.options.wake)
                self.recognizer.segment_hook = self._cut_wake
        except Exception as exc:
            # said once: process() then drops audio quietly instead of failing on every chunk
            self._failed = f"{type(exc).__name__}: {exc}"
            log.error("speech stage %s cannot start: %s", self.name, self._failed)
            raise
        self._started = False
        self._resampler = None
        self._rate = SAMPLE_RATE
        self._wakes: list[WakeDetection] = []
        self._speaking = False

    def process(self, item: AudioChunk | Observation, emit: Emit) -> None:
        if self._failed is not None:
            self.counts["dropped_not_started"] += 1
            return
        if self.recognizer is None:
            self.setup()
        if isinstance(item, Observation):
            if item.modality == "context" and item.kind == "scene":
                self.update_scene(item.payload)
            return  # other observations are not for speech
        self._apply_scene_updates()
        if (
            not isinstance(item, AudioChunk)
            or not isinstance(item.samples, np.ndarray)
            or item.samples.ndim != 1
            or item.sample_rate <= 0
        ):
            self.counts["malformed"] += 1
            log.warning("speech: skipped a malformed item (%s); expected a mono AudioChunk", type(item).__name__)
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
                emit(
                    Observation(
                        "speech",
                        "wake",
                        1.0,
                        det.t_start_ns,
                        det.t_end_ns,
                        {"phrase": det.phrase, "t_emitted_ns": self.clock.now_ns()},
                        source_id=item.source_id,
                    )
                )
        results = self.recognizer.push(x)
        if self.options.emit_vad_edges:
            self._vad_edge(item, emit)
        for r in results:
            self._emit(r, emit, item.source_id)

    def _apply_scene_updates(self) -> None:
        if self.recognizer.busy:
            return  # mid-utterance: the grammar changes between commands, never inside one
        changed = False
        while True:
            try:
                msg = self._scene_updates.get_nowait()
            except queue.Empty:
                break
            try:
                self._scene.apply(msg)
                changed = True
            except (SceneError, ValueError) as exc:
                self.counts["malformed"] += 1
                log.warning("speech: bad scene update skipped: %s", exc)
        if changed and self._grammar_for_scene is not None:
            self._regrammar()

    def _regrammar(self) -> None:
        try:
            ctx = context_of(self._grammar_for_scene(self._scene))
        except (ExpressionError, TypeError, ValueError) as exc:
            log.warning("speech: grammar for the new scene not built (%s); keeping the previous one", exc)
            return
        if isinstance(ctx, Grammar) or ctx.slots == self.grammar.context.slots:
            return
        # names with words the recogniser cannot say are left out (said once per word), the rest stay
        for _ in range(2):
            missing = self.recognizer.set_grammar(compile_grammar(ctx))
            if not missing:
                self.grammar = self.recognizer.grammar
                self.counts["grammar_updates"] += 1
                return
            new = sorted(set(missing) - self._unspeakable)
            if new:
                log.warning("speech: scene names with words not in the dictionary cannot be spoken: %s", new)
            self._unspeakable |= set(missing)
            keep = {
                t: [v for v in vals if not set(v.split()) & self._unspeakable] or vals for t, vals in ctx.slots.items()
            }
            ctx = ctx.with_slot_values(keep)

    def _vad_edge(self, item: AudioChunk, emit: Emit) -> None:
        speaking = self.recognizer.vad.in_speech
        if speaking != self._speaking:
            self._speaking = speaking
            t = item.t_end_ns
            emit(Observation("speech", "vad_start" if speaking else "vad_end", 1.0, t, t, {}, source_id=item.source_id))

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
        return any(
            d.end - SAMPLE_RATE // 2 <= r.segment.end and r.segment.start <= d.end + int(w.window_s * SAMPLE_RATE)
            for d in self._wakes
        )

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


def speech_stage_from_spec(
    grammar: GrammarSource, options: SpeechStageOptions | None = None, name: str | None = "speech"
) -> SpeechStage:
    """The speech stage for an intent spec. `grammar`: the spec's speech export as a function of the
    scene (in app/: `lambda scene: fusion.spec.speech_grammar(spec, scene)`), so that target names pushed
    at run time become slot values; or any fixed GrammarSource. `options.context` is ignored."""
    o = options or SpeechStageOptions()
    return SpeechStage(
        SpeechStageOptions(
            context=grammar,
            speech=o.speech,
            wake=o.wake,
            emit_rejected=o.emit_rejected,
            emit_vad_edges=o.emit_vad_edges,
        ),
        name=name,
    )
