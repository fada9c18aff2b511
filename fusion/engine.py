"""The fusion engine: observations in, intent events out.

    engine = FusionEngine(load_spec("default_ar"), scene)
    events = engine.push(obs)           # -> list[IntentEvent] decided by this observation
    events += engine.advance(now_ns)    # time passes: windows close, held intents fire
    events += engine.flush()            # end of stream

The engine is split along its seams: `fusion.matching` (triggers against the buffer),
`fusion.deixis` (slots from speech, pointing, gaze), `fusion.decision` (what is emitted, waits,
loses or is suppressed), `fusion.watermarks` (how far each input stream has delivered) and
`fusion.context` (the pointing and gaze history). This module holds the state and the public API.

* Observations are kept in a short buffer and triggers are matched on their *evidence* times
  (t_start/t_end), so arrival order does not matter.
* An intent is decided as soon as every stream that could still change it (fill a slot, win a
  conflict, complete an `all`) has passed the evidence time, or its lateness bound has expired.
  `stats.waits` says how long each intent waited and for which stream.
* An observation older than `now - lateness[modality]` on arrival is dropped and counted, unless it
  answers an utterance its recogniser announced (`vad_start`), which no bound can make late.
* Timestamps far from the engine's time (`max_future_s`) are refused, counted and logged once per
  stream: one observation stamped 2**63-1 must not make every later one "late".
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fusion.context import ContextOptions, ContextTracker
from fusion.decision import Decider, Emitted
from fusion.deixis import Candidate, SlotResolver
from fusion.matching import SPEECH_KINDS, Matcher, max_window
from fusion.spec import Spec, load_spec
from fusion.watermarks import NEVER, WATERMARK_KIND, WatermarkOptions, Watermarks
from perception.context.scene import Scene
from perception.stream.logthrottle import log_throttled
from perception.stream.types import IntentEvent, Observation

log = logging.getLogger("cuekit.fusion")

__all__ = ["SPEECH_KINDS", "EngineOptions", "EngineStats", "FusionEngine"]

# monotonic and recorded clocks are far below this (2**62 ns = 146 years); beyond it is garbage
_MAX_TIME_NS = 2**62


@dataclass(slots=True)
class EngineOptions:
    max_matches_per_node: int = 64  # bounds the combinations tried per trigger node
    buffer_s: float = 6.0  # keep observations this long beyond the longest window + lateness
    context: ContextOptions = field(default_factory=ContextOptions)
    watermarks: WatermarkOptions = field(default_factory=WatermarkOptions)
    id_prefix: str = "intent"
    # drop observations later than their modality's bound (live); offline replays keep them, since
    # there arrival order is an artefact of scheduling, not of the recognisers
    drop_late: bool = True
    # an observation stamped further than this ahead of the engine's time is refused: a broken clock
    # (or 2**63-1) would otherwise move every stream's watermark past all real evidence
    max_future_s: float = 600.0


@dataclass(slots=True)
class EngineStats:
    received: int = 0
    malformed: int = 0
    late_dropped: int = 0
    implausible_time: int = 0  # refused: timestamp far from the engine's time
    emitted: int = 0
    duplicates_merged: int = 0
    duplicates_suppressed: int = 0
    group_suppressed: int = 0  # another member of an exclusive group was already emitted
    conflicts_lost: int = 0
    below_threshold: int = 0
    unresolved_slots: int = 0
    degenerate_refused: int = 0  # e.g. move(object=cup, destination=cup)
    # per intent: {"n", "waited", "total_ms", "max_ms", "for": {stream: n}}
    waits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__slots__ if k != "waits"}
        out["waits"] = {
            k: {**v, "total_ms": round(v["total_ms"], 1), "max_ms": round(v["max_ms"], 1), "for": dict(v["for"])}
            for k, v in self.waits.items()
        }
        return out

    def record_wait(self, intent: str, wait_ms: float, stream: str | None) -> None:
        w = self.waits.setdefault(intent, {"n": 0, "waited": 0, "total_ms": 0.0, "max_ms": 0.0, "for": {}})
        w["n"] += 1
        if wait_ms > 0:
            w["waited"] += 1
            w["total_ms"] += wait_ms
            w["max_ms"] = max(w["max_ms"], wait_ms)
            if stream:
                w["for"][stream] = w["for"].get(stream, 0) + 1


class FusionEngine(Matcher, SlotResolver, Decider):
    """Push observations, get IntentEvents. Not thread-safe: drive it from one thread (the Stage)."""

    def __init__(
        self,
        spec: Spec | str | os.PathLike,
        scene: Scene | None = None,
        options: EngineOptions | None = None,
        now_fn: Callable[[], int] | None = None,
    ) -> None:
        if not isinstance(spec, Spec):  # a spec name ("default_ar") or a TOML path
            spec = load_spec(spec)
        self.spec = spec
        self.scene = scene if scene is not None else Scene()
        self.options = options or EngineOptions()
        base = self.options.context
        copts = dataclasses.replace(base, dwell_ms=tuple(sorted(set(base.dwell_ms) | set(spec.dwell_times()))))
        self.context = ContextTracker(self.scene, copts)
        self.marks = Watermarks(spec.lateness_ns, self.options.watermarks)
        self.stats = EngineStats()
        self.refusals: list[str] = []  # the reasons of the most recent refusals (degenerate slots ...)
        self._now_fn = now_fn
        self._now = NEVER
        self._buffer: dict[int, Observation] = {}
        self._dirty = False  # an observation or the scene changed since the last decision
        self.scene.on_change(self._mark_dirty)
        self._obs_modality: dict[int, str] = {}
        self._consumed: set[int] = set()
        self._pending: dict[tuple, Candidate] = {}
        self._blocked_by: dict[tuple, str] = {}  # candidate key -> the stream it last waited for
        self._seen_bad: set[tuple] = set()
        self._emitted: list[Emitted] = []
        self._bad_time_streams: set[tuple[str, str]] = set()
        self._seq = itertools.count(1)
        self._speech_cache: dict[tuple[int, int, int], Any] = {}
        self._leaf_ids = {id(lf): i for i, lf in enumerate(lf for it in spec.intents.values() for lf in it.leaves())}
        self._max_window_ns = max((max_window(it.trigger) for it in spec.intents.values()), default=0)
        self._max_late_ns = max(spec.lateness_ns(m) for m in ("hand", "wrist", "speech", "gaze", "context"))
        self._event_kinds = {
            (lf.event_modality, k) for it in spec.intents.values() for lf in it.leaves() for k in lf.kinds
        }
        self._speech_intents = {
            lf.speech_intent for it in spec.intents.values() for lf in it.leaves() if lf.modality == "speech"
        }
        # speech intents spoken by exactly one leaf: the recogniser's parse names that leaf unambiguously
        leaves_of = Counter(
            lf.speech_intent for it in spec.intents.values() for lf in it.leaves() if lf.modality == "speech"
        )
        self._single_leaf_speech = {k for k, n in leaves_of.items() if n == 1}

    # ------------------------------------------------------------------------------------------
    # public API

    @property
    def now_ns(self) -> int:
        return self._now

    def push(self, obs: Observation, now_ns: int | None = None) -> list[IntentEvent]:
        """Feed one observation; returns the intents decided now. `now_ns` is the arrival time on the
        pipeline clock (default: the engine's `now_fn`, else the observation's t_end)."""
        self.stats.received += 1
        problem = _validate(obs)
        if problem:
            self.stats.malformed += 1
            log_throttled(
                log,
                "malformed",
                logging.WARNING,
                "skipping malformed observation %r: %s",
                getattr(obs, "id", None),
                problem,
            )
            return self._step(now_ns)
        arrival = now_ns if now_ns is not None else (self._now_fn() if self._now_fn is not None else None)
        if not self._plausible(obs, arrival):
            return self._step(arrival)
        self._set_now(arrival if arrival is not None else obs.t_end_ns)
        self._dirty = True
        if obs.modality == "context" and obs.kind == "scene":
            try:
                self.scene.apply(obs.payload)
            except ValueError as exc:
                self.stats.malformed += 1
                log.warning("bad scene update %d: %s", obs.id, exc)
            return self._step(None)
        mod = obs.modality
        if (
            self.options.drop_late
            and obs.t_end_ns < self._now - self.spec.lateness_ns(mod)
            and not self.marks.announced(obs)
        ):
            self.stats.late_dropped += 1
            log_throttled(
                log,
                f"late:{mod}",
                logging.INFO,
                "dropping %s/%s %d: %.0f ms late (bound %.0f ms)",
                mod,
                obs.kind,
                obs.id,
                (self._now - obs.t_end_ns) / 1e6,
                self.spec.lateness_ns(mod) / 1e6,
            )
            return self._step(None)
        self.marks.observe(obs, self._now)
        if obs.kind == WATERMARK_KIND:
            return self._step(None)
        for synth in self.context.observe(obs):
            self._admit(synth)
        if self._is_event(obs):
            self._admit(obs)
        return self._step(None)

    def watermark(self, modality: str, t_ns: int, source_id: str = "", now_ns: int | None = None) -> list[IntentEvent]:
        """A stream reports that it has delivered everything with evidence up to `t_ns`."""
        arrival = now_ns if now_ns is not None else (self._now_fn() if self._now_fn is not None else None)
        self._set_now(arrival)
        if (
            isinstance(t_ns, int)
            and not isinstance(t_ns, bool)
            and abs(t_ns) < _MAX_TIME_NS
            and (self._now <= NEVER or t_ns <= self._now + self.options.max_future_s * 1e9)
        ):
            self.marks.report(modality, t_ns, source_id, self._now)
        return self._step(None)

    def advance(self, now_ns: int | None = None) -> list[IntentEvent]:
        """Let time pass (no new observation): held candidates may fire, windows close."""
        return self._step(now_ns if now_ns is not None else (self._now_fn() if self._now_fn else None))

    def flush(self, now_ns: int | None = None) -> list[IntentEvent]:
        """End of stream: every window is closed; decide everything still pending."""
        if now_ns is not None or self._now_fn is not None:
            self._set_now(now_ns if now_ns is not None else self._now_fn())
        return self._step(None, final=True)

    def pending(self) -> list[str]:
        return [c.intent.name for c in self._pending.values()]

    # ------------------------------------------------------------------------------------------

    def _mark_dirty(self, _scene: Scene | None = None) -> None:
        self._dirty = True

    def _set_now(self, t: int | None) -> None:
        if t is not None and t > self._now:
            self._now = int(t)

    def _plausible(self, obs: Observation, arrival: int | None) -> bool:
        """Refuse a timestamp far from the engine's time (counted; logged once per stream)."""
        ref = max(self._now, arrival) if arrival is not None else self._now
        t = obs.t_end_ns
        bad = (
            abs(t) >= _MAX_TIME_NS
            or abs(obs.t_start_ns) >= _MAX_TIME_NS
            or (ref > NEVER and t > ref + self.options.max_future_s * 1e9)
        )
        if not bad:
            return True
        self.stats.implausible_time += 1
        key = (obs.modality, obs.source_id or "")
        if key not in self._bad_time_streams and len(self._bad_time_streams) < 256:
            self._bad_time_streams.add(key)
            log.warning(
                "refusing %s/%s from %r: t_end %d ns is %.0f s from the engine's time (bound %.0f s); "
                "further ones from this stream are counted silently",
                obs.modality,
                obs.kind,
                obs.source_id,
                t,
                (t - ref) / 1e9 if ref > NEVER else float("inf"),
                self.options.max_future_s,
            )
        return False

    def _is_event(self, obs: Observation) -> bool:
        if obs.modality == "speech":
            return obs.kind in SPEECH_KINDS
        if obs.modality == "gaze":
            return obs.kind == "dwell"
        return (obs.modality, obs.kind) in self._event_kinds

    def _admit(self, obs: Observation) -> None:
        self._buffer[obs.id] = obs
        self._obs_modality[obs.id] = obs.modality

    def _prune(self) -> None:
        horizon = self._now - self._max_window_ns - self._max_late_ns - int(self.options.buffer_s * 1e9)
        old = [o for o, ob in self._buffer.items() if ob.t_end_ns < horizon]
        if old:
            for oid in old:
                del self._buffer[oid]
                self._obs_modality.pop(oid, None)
            self._consumed &= self._buffer.keys()
            self._seen_bad = {k for k in self._seen_bad if k[1] <= self._buffer.keys()}
            self._emitted = [e for e in self._emitted if e.t_last >= horizon]
        if len(self._speech_cache) > 4096:
            self._speech_cache.clear()
        if len(self.refusals) > 32:
            del self.refusals[:-32]


def _validate(obs: Any) -> str | None:
    if not isinstance(obs, Observation):
        return f"not an Observation: {type(obs).__name__}"
    if not isinstance(obs.modality, str) or not obs.modality:
        return "modality must be a non-empty string"
    if not isinstance(obs.kind, str) or not obs.kind:
        return "kind must be a non-empty string"
    if (
        isinstance(obs.t_start_ns, bool)
        or not isinstance(obs.t_start_ns, int)
        or isinstance(obs.t_end_ns, bool)
        or not isinstance(obs.t_end_ns, int)
    ):
        return "t_start_ns/t_end_ns must be integers (ns)"
    if obs.t_end_ns < obs.t_start_ns:
        return f"t_end_ns < t_start_ns ({obs.t_end_ns} < {obs.t_start_ns})"
    c = obs.confidence
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 <= c <= 1.0 or math.isnan(c):
        return f"confidence must be in [0, 1], got {c!r}"
    if not isinstance(obs.payload, dict):
        return "payload must be a dict"
    return None
