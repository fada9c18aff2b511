"""The fusion engine: observations in, intent events out.

    engine = FusionEngine(load_spec("default_ar"), scene)
    events = engine.push(obs)           # -> list[IntentEvent] decided by this observation
    events += engine.advance(now_ns)    # time passes: windows close, held intents fire
    events += engine.flush()            # end of stream

How it decides
--------------
* Observations are kept in a short buffer and triggers are matched on their *evidence* times
  (t_start/t_end), so arrival order does not matter. Each modality has a bounded lateness: its
  watermark is `now - lateness[modality]`; an observation older than its watermark on arrival is
  dropped and counted. A slower modality (speech, ~0.5 s behind) still fuses as long as it arrives
  within its bound.
* A complete match of an intent's trigger is a candidate. A candidate is emitted once no stronger
  interpretation can still appear: while a higher-ranked intent (priority, then more parts) has an
  open partial match that uses any of the candidate's observations and whose missing parts could
  still arrive before their watermark passes the window, the candidate waits.
* Candidates that share an observation, or belong to one exclusive `group` and overlap in time,
  conflict: the best by (priority, number of parts, score) wins; the losers go to `n_best` and their
  observations are consumed.
* Candidates of one intent within its refractory period are the same action seen twice (wrist double
  tap + camera pinch): they merge into one event (confidence combined as noisy-OR); if the event was
  already emitted the late duplicate is suppressed.
* Speech slots holding deictic words ("this", "that", "here", "there", "it") are bound to what was
  pointed at (then looked at, then last selected/mentioned) when the word was spoken.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fusion.spec import Intent, Leaf, Node, Spec, load_spec
from perception.context.scene import Scene
from perception.context.tracker import ContextOptions, ContextRecord, ContextTracker
from perception.speech.expressions import tokenize
from perception.speech.observation import speech_parse
from perception.stream.types import IntentEvent, Observation

log = logging.getLogger("cuekit.fusion")

INF = math.inf
_CONDITION_TOL_NS = 300_000_000  # a pointing/gaze condition may lead/trail its event by this much
# what the speech recogniser emits: "utterance" (no intent), "intent" (parsed), "wake" (wake phrase)
SPEECH_KINDS = frozenset({"utterance", "intent", "wake"})


@dataclass(slots=True)
class EngineOptions:
    max_matches_per_node: int = 64  # bounds the combinations tried per trigger node
    buffer_s: float = 6.0  # keep observations this long beyond the longest window + lateness
    context: ContextOptions = field(default_factory=ContextOptions)
    id_prefix: str = "intent"
    # drop observations later than their modality's bound (live); offline replays keep them, since
    # there arrival order is an artefact of scheduling, not of the recognisers
    drop_late: bool = True


@dataclass(slots=True)
class EngineStats:
    received: int = 0
    malformed: int = 0
    late_dropped: int = 0
    emitted: int = 0
    duplicates_merged: int = 0
    duplicates_suppressed: int = 0
    conflicts_lost: int = 0
    below_threshold: int = 0
    unresolved_slots: int = 0

    def to_json(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


# ------------------------------------------------------------------------------------------------
# matches


@dataclass(slots=True)
class _SlotVal:
    value: Any
    type: str
    t0: int | None = None  # when the words were spoken (deixis)
    t1: int | None = None
    deictic: bool = False
    mentioned: bool = False  # a target named by its label


@dataclass(slots=True)
class _Match:
    obs: tuple[int, ...]  # event observation ids, in leaf order
    t_first: int
    t_last: int
    confs: tuple[float, ...]
    slots: dict[str, _SlotVal]
    context: tuple[int, ...] = ()  # context record observation ids (pointing/gaze conditions)
    context_mods: frozenset[str] = frozenset()
    open_mods: frozenset[str] = frozenset()
    deadline: float = INF
    starts: tuple[int, ...] = ()  # t_start of each real part, for sequence ordering
    n_open: int = 0  # parts still missing (partial matches)

    @property
    def real(self) -> bool:
        return bool(self.obs)

    def score(self) -> float:
        if not self.confs:
            return 0.0
        return math.exp(sum(math.log(max(c, 1e-9)) for c in self.confs) / len(self.confs))


_WILD_CACHE: dict[str, _Match] = {}


def _wild(mod: str) -> _Match:
    m = _WILD_CACHE.get(mod)
    if m is None:
        m = _WILD_CACHE[mod] = _Match((), 0, 0, (), {}, open_mods=frozenset({mod}), n_open=1)
    return m


def _combine(parts: list[_Match]) -> _Match | None:
    obs: list[int] = []
    seen: set[int] = set()
    for p in parts:
        for o in p.obs:
            if o in seen:
                return None
            seen.add(o)
            obs.append(o)
    real = [p for p in parts if p.real]
    slots: dict[str, _SlotVal] = {}
    for p in parts:
        for k, v in p.slots.items():
            slots.setdefault(k, v)
    return _Match(tuple(obs),
                  min((p.t_first for p in real), default=0), max((p.t_last for p in real), default=0),
                  tuple(c for p in parts for c in p.confs), slots,
                  tuple(dict.fromkeys(c for p in parts for c in p.context)),
                  frozenset().union(*(p.context_mods for p in parts)),
                  frozenset().union(*(p.open_mods for p in parts)),
                  min((p.deadline for p in parts), default=INF),
                  tuple(s for p in parts for s in p.starts), sum(p.n_open for p in parts))


@dataclass(slots=True)
class _Candidate:
    intent: Intent
    match: _Match
    slots: dict[str, Any]
    score: float
    context_ids: tuple[int, ...]
    modalities: tuple[str, ...]
    wait_until: dict[str, int]  # modality -> evidence time its watermark must pass (deixis)
    first_seen_ns: int

    @property
    def key(self) -> tuple[str, frozenset[int]]:
        return (self.intent.name, frozenset(self.match.obs))

    @property
    def rank(self) -> tuple[int, int, float]:
        return (self.intent.priority, len(self.match.obs), self.score)


@dataclass(slots=True)
class _Emitted:
    intent: str
    scope_key: Any
    t_first: int
    t_last: int


# ------------------------------------------------------------------------------------------------


class FusionEngine:
    """Push observations, get IntentEvents. Not thread-safe: drive it from one thread (the Stage)."""

    def __init__(self, spec: Spec | str | os.PathLike, scene: Scene | None = None,
                 options: EngineOptions | None = None, now_fn: Callable[[], int] | None = None) -> None:
        if not isinstance(spec, Spec):  # a spec name ("default_ar") or a TOML path
            spec = load_spec(spec)
        self.spec = spec
        self.scene = scene if scene is not None else Scene()
        self.options = options or EngineOptions()
        base = self.options.context
        copts = dataclasses.replace(base, dwell_ms=tuple(sorted(set(base.dwell_ms) | set(spec.dwell_times()))))
        self.context = ContextTracker(self.scene, copts)
        self.stats = EngineStats()
        self._now_fn = now_fn
        self._now = -(2 ** 62)
        self._buffer: dict[int, Observation] = {}
        self._dirty = False  # an observation or the scene changed since the last decision
        self.scene.on_change(self._mark_dirty)
        self._obs_modality: dict[int, str] = {}
        self._consumed: set[int] = set()
        self._pending: dict[tuple, _Candidate] = {}
        self._seen_bad: set[tuple] = set()
        self._emitted: list[_Emitted] = []
        self._seq = itertools.count(1)
        self._speech_cache: dict[tuple[int, int, int], Any] = {}
        self._leaf_ids = {id(lf): i for i, lf in enumerate(lf for it in spec.intents.values()
                                                             for lf in it.leaves())}
        self._max_window_ns = max((_max_window(it.trigger) for it in spec.intents.values()), default=0)
        self._max_late_ns = max(spec.lateness_ns(m) for m in ("hand", "wrist", "speech", "gaze", "context"))
        self._event_kinds = {(lf.event_modality, k) for it in spec.intents.values() for lf in it.leaves()
                             for k in lf.kinds}
        self._speech_intents = {lf.speech_intent for it in spec.intents.values() for lf in it.leaves()
                                if lf.modality == "speech"}
        # speech intents spoken by exactly one leaf: the recogniser's parse names that leaf unambiguously
        leaves_of = Counter(lf.speech_intent for it in spec.intents.values() for lf in it.leaves()
                            if lf.modality == "speech")
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
            log.warning("skipping malformed observation %r: %s", getattr(obs, "id", None), problem)
            return self._step(now_ns)
        self._set_now(now_ns if now_ns is not None else
                      (self._now_fn() if self._now_fn is not None else obs.t_end_ns))
        self._dirty = True
        if obs.modality == "context" and obs.kind == "scene":
            try:
                self.scene.apply(obs.payload)
            except ValueError as exc:
                self.stats.malformed += 1
                log.warning("bad scene update %d: %s", obs.id, exc)
            return self._step(None)
        mod = obs.modality
        if self.options.drop_late and obs.t_end_ns < self._now - self.spec.lateness_ns(mod):
            self.stats.late_dropped += 1
            log.info("dropping %s/%s %d: %.0f ms late (bound %.0f ms)", mod, obs.kind, obs.id,
                     (self._now - obs.t_end_ns) / 1e6, self.spec.lateness_ns(mod) / 1e6)
            return self._step(None)
        for synth in self.context.observe(obs):
            self._admit(synth)
        if self._is_event(obs):
            self._admit(obs)
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

    def _wm(self, modality: str, final: bool) -> float:
        return INF if final else self._now - self.spec.lateness_ns(modality)

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

    # matching --------------------------------------------------------------------------------

    def _live(self) -> list[Observation]:
        return [o for o in self._buffer.values() if o.id not in self._consumed]

    def _eval(self, node: Node, live: list[Observation], open_ok: bool, final: bool) -> list[_Match]:
        cap = self.options.max_matches_per_node
        if isinstance(node, Leaf):
            out = [m for o in live if (m := self._leaf_match(node, o)) is not None]
            if open_ok and not node.is_condition and not final:
                out.append(_wild(node.event_modality))
            return out
        if node.op == "any":
            out = []
            for c in node.children:
                out.extend(self._eval(c, live, open_ok, final))
            return _cap(out, cap)
        events = [c for c in node.children if not (isinstance(c, Leaf) and c.is_condition)]
        conds = [c for c in node.children if isinstance(c, Leaf) and c.is_condition]
        lists = [self._eval(c, live, open_ok, final) for c in events]
        if any(not lst for lst in lists):
            return []
        out: list[_Match] = []
        for combo in _windowed_product(lists, node.within_ns, node.op == "sequence"):
            m = _combine(list(combo))
            if m is None or (not m.real and not m.open_mods):
                continue
            if m.real and m.t_last - m.t_first > node.within_ns:
                continue
            if node.op == "sequence":
                starts = [p.t_first for p in combo if p.real]
                if any(b <= a for a, b in itertools.pairwise(starts)):
                    continue
            if m.real:
                m.deadline = min(m.deadline, m.t_first + node.within_ns)
            if not m.open_mods:
                m = self._conditions(conds, m)
                if m is None:
                    continue
            out.append(m)
            if len(out) >= cap * 4:
                break
        return _cap(out, cap)

    def _conditions(self, conds: list[Leaf], m: _Match) -> _Match | None:
        for lf in conds:
            source = "gaze" if lf.predicate == "gaze_on" else "pointing"
            rec = self.context.at(source, m.t_first - _CONDITION_TOL_NS, m.t_last + _CONDITION_TOL_NS,
                                  target_id=self._literal_target(lf))
            if rec is None:
                return None
            slots = dict(m.slots)
            if not lf.literal:
                slots.setdefault(lf.argument, _SlotVal(rec.target_id, "target"))
            m = _Match(m.obs, m.t_first, m.t_last, m.confs, slots, m.context + (rec.obs_id,),
                       m.context_mods | {rec.modality}, m.open_mods, m.deadline, m.starts, m.n_open)
        return m

    def _literal_target(self, lf: Leaf) -> str | None:
        if not lf.literal:
            return None
        t = self.scene.get(lf.argument) or self.scene.find_by_name(lf.argument)
        return t.id if t else lf.argument

    def _leaf_match(self, lf: Leaf, o: Observation) -> _Match | None:
        if lf.is_condition or o.modality != lf.event_modality:
            return None
        if lf.min_confidence is not None and o.confidence < lf.min_confidence:
            return None
        if lf.modality in ("hand", "wrist"):
            if o.kind not in lf.kinds:
                return None
            if lf.handedness and o.payload.get("handedness") not in (lf.handedness, None):
                return None
            slots = {k: _SlotVal(v, "const") for k, v in lf.constants.items()}
            return _Match((o.id,), o.t_start_ns, o.t_end_ns, (o.confidence,), slots, starts=(o.t_start_ns,))
        if lf.modality == "context":  # gaze dwell
            if o.kind != "dwell" or o.payload.get("dwell_ms") != lf.dwell_ms:
                return None
            tid = o.payload.get("target")
            if lf.literal and tid != self._literal_target(lf):
                return None
            slots = {k: _SlotVal(v, "const") for k, v in lf.constants.items()}
            if not lf.literal:
                slots[lf.argument] = _SlotVal(tid, "target")
            ctx = tuple(o.payload.get("gaze_obs", ()))
            return _Match((o.id,), o.t_start_ns, o.t_end_ns, (o.confidence,), slots, ctx,
                          frozenset({"gaze"}), starts=(o.t_start_ns,))
        # speech
        if o.kind not in SPEECH_KINDS:
            return None
        key = (o.id, self._leaf_ids.get(id(lf), -1), self.scene.version)
        if key not in self._speech_cache:
            self._speech_cache[key] = self._speech(lf, o)
        hit = self._speech_cache[key]
        if hit is None:
            return None
        conf, slots = hit
        slots = {**{k: _SlotVal(v, "const") for k, v in lf.constants.items()}, **slots}
        return _Match((o.id,), o.t_start_ns, o.t_end_ns, (conf,), slots, starts=(o.t_start_ns,))

    def _speech(self, lf: Leaf, o: Observation) -> tuple[float, dict[str, _SlotVal]] | None:
        p = o.payload
        own = speech_parse(o)
        words = p.get("words") if isinstance(p.get("words"), list) else []
        hyps: list[tuple[str, Any, Any, float, list]] = [
            (p.get("text") or p.get("phrase")
             or " ".join(str(w.get("word", "")) for w in words if isinstance(w, dict)),
             p.get("intent"), p.get("slots"), float(o.confidence), words)]
        for alt in p.get("n_best") or []:
            if isinstance(alt, dict) and ("text" in alt or "intent" in alt):
                c = alt.get("confidence", o.confidence)
                ok = isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 <= c <= 1.0
                hyps.append((str(alt.get("text", "")), alt.get("intent"), alt.get("slots"),
                             float(c) if ok else float(o.confidence),
                             alt.get("words") if isinstance(alt.get("words"), list) else []))
        for k, (text, intent, given_slots, conf, hw) in enumerate(hyps):
            # recogniser output is input: anything odd in it is ignored, not trusted
            text = text if isinstance(text, str) else ""
            intent = intent if isinstance(intent, str) else None
            given_slots = given_slots if isinstance(given_slots, dict) else {}
            if intent is not None and intent in self._speech_intents and intent != lf.speech_intent:
                continue  # the recogniser decided on another of our intents
            toks, times = _tokens_and_times(text, hw, o)
            # the recogniser parsed once: its parse is used as it is when it names this leaf alone
            m = None if intent == lf.speech_intent and intent in self._single_leaf_speech \
                else self.spec.match_speech(lf, toks, self.scene)
            if m is not None:
                slots = {}
                for name, sm in m.slots.items():
                    t0, t1 = times[sm.first_token][0], times[sm.last_token][1]
                    slots[name] = self._slot_val(sm.value, sm.type, t0, t1)
                return conf, slots
            if intent is not None and intent == lf.speech_intent:
                # the recogniser's own parse: keep its slots, find their words for deixis
                slots = {}
                given_times = own.slot_times if k == 0 and own is not None else {}
                for name, val in (given_slots or {}).items():
                    span = given_times.get(name) or _find_span(toks, tokenize(str(val)), times) \
                        or (o.t_start_ns, o.t_end_ns)
                    stype = self._slot_type_of(lf, name)
                    slots[name] = self._slot_val(str(val), stype, *span)
                return conf, slots
        return None

    def _slot_type_of(self, lf: Leaf, name: str) -> str:
        for e in lf.expressions:
            for s in e.slots():
                if s.name == name:
                    return s.type
        return "string"

    def _slot_val(self, value: str, stype: str, t0: int, t1: int) -> _SlotVal:
        st = self.spec.slot_types.get(stype)
        if st is not None and st.kind == "target":
            v = value.lower()
            if v in self.spec.deixis.words:
                return _SlotVal(v, stype, t0, t1, deictic=True)
            t = self.scene.get(value) or self.scene.find_by_name(value)
            return _SlotVal(t.id if t else value, stype, t0, t1, mentioned=t is not None)
        return _SlotVal(value, stype, t0, t1)

    # candidates -----------------------------------------------------------------------------

    def _candidate(self, it: Intent, m: _Match, final: bool) -> _Candidate:
        slots: dict[str, Any] = {}
        ctx_ids = list(m.context)
        mods = {self._obs_modality.get(o, "?") for o in m.obs} | set(m.context_mods)
        wait: dict[str, int] = {}
        used: set[int] = set()
        dx = self.spec.deixis
        # deictic words in spoken order, so "that ... there" take successive pointing moments
        ordered = sorted(m.slots.items(), key=lambda kv: (kv[1].t0 if kv[1].t0 is not None else 0))
        for name, sv in ordered:
            if not sv.deictic:
                slots[name] = sv.value
                continue
            lo, hi = sv.t0 - dx.before_ms * 1_000_000, sv.t1 + dx.after_ms * 1_000_000
            ref = (sv.t0 + sv.t1) // 2
            value, rec = self._resolve_target(dx.sources, lo, hi, ref, used,
                                              allow_location=sv.value in ("here", "there"))
            # found by the preferred source in a moment of its own: done. Otherwise (a fallback source,
            # or a moment already bound to an earlier word) a better moment may still be in flight
            by = rec.source if rec is not None else ("last" if value is not None else None)
            reused = rec is not None and rec.obs_id in used
            for src in dx.sources:
                if src == by and not reused:
                    break
                if src in ("pointing", "gaze"):
                    mod = "hand" if src == "pointing" else "gaze"
                    wait[mod] = max(wait.get(mod, 0), hi)
                if src == by:
                    break
            if value is None:
                slots[name] = None
                continue
            slots[name] = value
            if rec is not None:
                used.add(rec.obs_id)
                ctx_ids.append(rec.obs_id)
                mods.add(rec.modality)
        # declared target slots nobody filled: what was pointed/looked at during the evidence
        for name, stype in it.slots.items():
            if slots.get(name) is None and self.spec.slot_types[stype].kind == "target":
                lo, hi = m.t_first - _CONDITION_TOL_NS, m.t_last + _CONDITION_TOL_NS
                value, rec = self._resolve_target(it.resolve, lo, hi, None, used, allow_location=False)
                if value is not None:
                    slots[name] = value
                    if rec is not None:
                        ctx_ids.append(rec.obs_id)
                        mods.add(rec.modality)
                elif name in it.required:  # only a required slot is worth waiting for
                    slots.setdefault(name, None)
                    for src in it.resolve:
                        if src in ("pointing", "gaze"):
                            mod = "hand" if src == "pointing" else "gaze"
                            wait[mod] = max(wait.get(mod, 0), hi)
        for name in it.slots:
            slots.setdefault(name, None)
        return _Candidate(it, m, slots, m.score(), tuple(dict.fromkeys(ctx_ids)), tuple(sorted(mods)), wait,
                          self._now)

    def _resolve_target(self, sources: Iterable[str], lo: int, hi: int, ref: int | None, used: set[int],
                        allow_location: bool) -> tuple[Any, ContextRecord | None]:
        for src in sources:
            if src == "last":
                last = self.context.last(before_ns=hi)
                if last is not None:
                    return last, None
                continue
            # "here"/"there" may name a place: the nearest pointing moment wins, target or not;
            # a moment already bound to an earlier word is reused only when there is no other
            want = not allow_location
            rec = (self.context.at(src, lo, hi, ref, want_target=want, exclude=used)
                   or self.context.at(src, lo, hi, ref, want_target=want))
            if rec is not None:
                if rec.target_id is not None:
                    return rec.target_id, rec
                return {"point": list(rec.point)}, rec
        return None, None

    # deciding ---------------------------------------------------------------------------------

    def _step(self, now_ns: int | None, final: bool = False) -> list[IntentEvent]:
        self._set_now(now_ns)
        out: list[IntentEvent] = []
        # nothing new and nothing waiting: time alone cannot produce an intent (saves the ticks)
        if final or self._dirty or self._pending:
            while True:
                ev = self._decide_one(final)
                if ev is None:
                    break
                out.append(ev)
            self._dirty = False
        self._prune()
        return out

    def _decide_one(self, final: bool) -> IntentEvent | None:
        live = self._live()
        if not live:
            self._pending.clear()
            return None
        current: dict[tuple, _Candidate] = {}
        for it in self.spec.intents.values():
            for m in self._eval(it.trigger, live, open_ok=False, final=final):
                if not m.real:
                    continue
                key = (it.name, frozenset(m.obs))
                if key in self._seen_bad:
                    continue
                # re-resolved every step: pointing or gaze may have arrived since
                c = self._candidate(it, m, final)
                if key in self._pending:
                    c.first_seen_ns = self._pending[key].first_seen_ns
                if key in current and current[key].score >= c.score:
                    continue
                if c.score < it.min_confidence:
                    self._seen_bad.add(key)
                    self.stats.below_threshold += 1
                    continue
                missing = [r for r in it.required if c.slots.get(r) is None]
                if missing and self._slots_final(c, final):
                    self._seen_bad.add(key)
                    self.stats.unresolved_slots += 1
                    log.info("%s: required slot(s) %s unresolved; dropped", it.name, ", ".join(missing))
                    continue
                current[key] = c
        self._pending = current
        cands = list(current.values())
        if not cands:
            return None
        # duplicates of something already emitted: suppress
        for c in list(cands):
            if self._refractory_hit(c):
                self._consume(c.match.obs)
                self.stats.duplicates_suppressed += 1
                log.info("%s suppressed: within refractory period of an emitted %s", c.intent.name,
                         c.intent.name)
                return self._decide_one(final)
        # best rank first; among equals the tightest reading (a sequence's latest start), then the earliest
        cands.sort(key=lambda c: (c.rank, c.match.t_first - c.match.t_last, -c.match.t_first), reverse=True)
        partial_cache: dict[str, list[_Match]] = {}
        for c in cands:
            rivals = [o for o in cands if o is not c and self._conflicts(c, o)]
            if any(o.rank > c.rank for o in rivals):
                continue  # a stronger rival decides first; this one may lose to it
            if not self._ready(c, final, live, partial_cache):
                continue
            return self._emit(c, rivals)
        return None

    def _slots_final(self, c: _Candidate, final: bool) -> bool:
        return final or all(self._wm(mod, False) >= t for mod, t in c.wait_until.items())

    def _conflicts(self, a: _Candidate, b: _Candidate) -> bool:
        if set(a.match.obs) & set(b.match.obs):
            return True
        if a.intent.name == b.intent.name:
            return _gap(a.match, b.match) < a.intent.refractory_ms * 1_000_000 and (
                a.intent.refractory_scope == "intent" or a.slots == b.slots)
        if a.intent.group and a.intent.group == b.intent.group:
            return _gap(a.match, b.match) < self.spec.conflict_window_ms * 1_000_000
        return False

    def _refractory_hit(self, c: _Candidate) -> bool:
        it = c.intent
        refr = it.refractory_ms * 1_000_000
        sk = _scope_key(c)
        for e in self._emitted:
            if e.intent == it.name and e.scope_key == sk and \
                    max(c.match.t_first - e.t_last, e.t_first - c.match.t_last, 0) < refr:
                return True
        return False

    def _ready(self, c: _Candidate, final: bool, live: list[Observation],
               cache: dict[str, list[_Match]]) -> bool:
        if final:
            return True
        if c.intent.hold_ms and self._now < c.first_seen_ns + c.intent.hold_ms * 1_000_000:
            return False
        if not self._slots_final(c, False):
            return False
        mine = set(c.match.obs)
        for j in self.spec.intents.values():
            if j.name == c.intent.name:
                continue
            if j.priority < c.intent.priority:
                continue
            if j.priority == c.intent.priority and j.n_event_leaves() <= len(c.match.obs):
                continue
            if j.name not in cache:
                cache[j.name] = [m for m in self._eval(j.trigger, live, open_ok=True, final=False)
                                 if m.real and m.open_mods]
            for m in cache[j.name]:
                if not (mine & set(m.obs)):
                    continue
                if (j.priority, len(m.obs) + m.n_open) <= (c.intent.priority, len(c.match.obs)):
                    continue  # even complete, that reading would not outrank this one
                if all(self._wm(mod, False) < m.deadline for mod in m.open_mods):
                    return False  # a stronger reading of this evidence can still complete
        return True

    def _consume(self, ids: Iterable[int]) -> None:
        self._consumed.update(ids)

    def _emit(self, c: _Candidate, rivals: list[_Candidate]) -> IntentEvent:
        it = c.intent
        derived = list(c.match.obs) + [i for i in c.context_ids if i not in c.match.obs]
        mods = set(c.modalities)
        confs = [c.score]
        n_best = [{"name": it.name, "confidence": round(c.score, 4), "slots": c.slots}]
        t_first, t_last = c.match.t_first, c.match.t_last
        self._consume(c.match.obs)
        for r in rivals:
            self._consume(r.match.obs)
            if r.intent.name == it.name and not set(r.match.obs) & set(c.match.obs):
                # the same action seen by another modality (sharing evidence = another reading of it)
                self.stats.duplicates_merged += 1
                derived += [i for i in list(r.match.obs) + list(r.context_ids) if i not in derived]
                mods |= set(r.modalities)
                confs.append(r.score)
                t_first, t_last = min(t_first, r.match.t_first), max(t_last, r.match.t_last)
            elif r.intent.name != it.name:
                self.stats.conflicts_lost += 1
                n_best.append({"name": r.intent.name, "confidence": round(r.score, 4), "slots": r.slots})
        conf = 1.0 - math.prod(1.0 - x for x in confs)
        t_first_ev = min([t_first] + [self._buffer[o].t_start_ns for o in c.match.obs if o in self._buffer])
        ev = IntentEvent(id=f"{self.options.id_prefix}-{next(self._seq)}", name=it.name, slots=dict(c.slots),
                         confidence=round(conf, 6), modalities=sorted(mods), derived_from=derived,
                         t_first_evidence_ns=int(t_first_ev), t_emitted_ns=int(max(self._now, t_first_ev)),
                         n_best=n_best)
        self._emitted.append(_Emitted(it.name, _scope_key(c), t_first, t_last))
        self.stats.emitted += 1
        self._pending.pop(c.key, None)
        for name, stype in it.slots.items():
            v = c.slots.get(name)
            if isinstance(v, str) and self.spec.slot_types[stype].kind == "target":
                sv = c.match.slots.get(name)
                if sv is not None and sv.mentioned:
                    self.context.mark_mentioned(v, t_last)
                self.context.mark_selected(v, t_last)
        log.debug("emit %s %s conf=%.2f from %s", it.name, c.slots, conf, derived)
        return ev


# ------------------------------------------------------------------------------------------------
# helpers


def _scope_key(c: _Candidate) -> Any:
    if c.intent.refractory_scope == "slots":
        return tuple(sorted((k, repr(v)) for k, v in c.slots.items()))
    return None


def _gap(a: _Match, b: _Match) -> int:
    return max(a.t_first - b.t_last, b.t_first - a.t_last, 0)


def _cap(ms: list[_Match], cap: int) -> list[_Match]:
    if len(ms) <= cap:
        return ms
    # complete before partial, confident before doubtful, tight before loose
    ms.sort(key=lambda m: (bool(m.open_mods), -m.score(), m.t_last - m.t_first))
    return ms[:cap]


def _windowed_product(lists: list[list[_Match]], within: int, ordered: bool):
    """itertools.product over the parts' matches, pruned as soon as the real parts chosen so far span
    more than `within` (or, for a sequence, start out of order), so a buffer full of old
    observations costs little and no valid combination is crowded out."""
    n = len(lists)
    chosen: list[_Match] = []

    def rec(k: int, lo: int, hi: int, last_start: int | None):
        if k == n:
            yield tuple(chosen)
            return
        for m in lists[k]:
            if m.real:
                lo2, hi2 = min(lo, m.t_first), max(hi, m.t_last)
                if hi2 - lo2 > within:
                    continue
                if ordered and last_start is not None and m.t_first <= last_start:
                    continue
                nxt = m.t_first
            else:
                lo2, hi2, nxt = lo, hi, last_start
            chosen.append(m)
            yield from rec(k + 1, lo2, hi2, nxt)
            chosen.pop()

    yield from rec(0, 2 ** 62, -(2 ** 62), None)


def _max_window(node: Node) -> int:
    if isinstance(node, Leaf):
        return 0
    own = node.within_ns or 0
    return max([own] + [_max_window(c) for c in node.children])


def _tokens_and_times(text: str, words: list, o: Observation) -> tuple[list[str], list[tuple[int, int]]]:
    """Tokens of a hypothesis with the time span of each; from `words` when they carry times,
    else spread evenly over the utterance."""
    toks: list[str] = []
    times: list[tuple[int, int]] = []
    ok = bool(words)
    for w in words:
        if not (isinstance(w, dict) and isinstance(w.get("t_start_ns"), int) and isinstance(w.get("t_end_ns"), int)):
            ok = False
            break
        for t in tokenize(str(w.get("word", ""))):
            toks.append(t)
            times.append((w["t_start_ns"], w["t_end_ns"]))
    if ok and toks:
        return toks, times
    toks = tokenize(text)
    n = max(len(toks), 1)
    span = max(o.t_end_ns - o.t_start_ns, 0)
    times = [(o.t_start_ns + span * i // n, o.t_start_ns + span * (i + 1) // n) for i in range(len(toks))]
    return toks, times


def _find_span(toks: list[str], value: list[str], times: list[tuple[int, int]]) -> tuple[int, int] | None:
    n = len(value)
    if not n:
        return None
    for i in range(len(toks) - n + 1):
        if toks[i:i + n] == value:
            return times[i][0], times[i + n - 1][1]
    return None


def _validate(obs: Any) -> str | None:
    if not isinstance(obs, Observation):
        return f"not an Observation: {type(obs).__name__}"
    if not isinstance(obs.modality, str) or not obs.modality:
        return "modality must be a non-empty string"
    if not isinstance(obs.kind, str) or not obs.kind:
        return "kind must be a non-empty string"
    if isinstance(obs.t_start_ns, bool) or not isinstance(obs.t_start_ns, int) or \
            isinstance(obs.t_end_ns, bool) or not isinstance(obs.t_end_ns, int):
        return "t_start_ns/t_end_ns must be integers (ns)"
    if obs.t_end_ns < obs.t_start_ns:
        return f"t_end_ns < t_start_ns ({obs.t_end_ns} < {obs.t_start_ns})"
    c = obs.confidence
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 <= c <= 1.0 or math.isnan(c):
        return f"confidence must be in [0, 1], got {c!r}"
    if not isinstance(obs.payload, dict):
        return "payload must be a dict"
    return None
