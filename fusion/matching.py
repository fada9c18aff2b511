"""Matching: which observations in the buffer complete (or could still complete) an intent's trigger.

A trigger tree is evaluated bottom-up over the live buffer: leaves match single observations (speech by
the spec's expressions, keeping each slot's word times for deixis), `all`/`sequence` combine their
parts within the node's window, conditions (`pointing_at`, `gaze_on`) are looked up in the context
history. With `open_ok`, a part that has not arrived yet is a wildcard of its modality, so a partial
match says which streams could still complete a stronger reading.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from fusion.spec import Leaf, Node
from perception.speech.expressions import tokenize
from perception.speech.observation import speech_parse
from perception.stream.types import Observation

INF = math.inf
CONDITION_TOL_NS = 300_000_000  # a pointing/gaze condition may lead/trail its event by this much
# what the speech recogniser emits: "utterance" (no intent), "intent" (parsed), "wake" (wake phrase)
SPEECH_KINDS = frozenset({"utterance", "intent", "wake"})


@dataclass(slots=True)
class SlotVal:
    value: Any
    type: str
    t0: int | None = None  # when the words were spoken (deixis)
    t1: int | None = None
    deictic: bool = False
    mentioned: bool = False  # a target named by its label


@dataclass(slots=True)
class Match:
    obs: tuple[int, ...]  # event observation ids, in leaf order
    t_first: int
    t_last: int
    confs: tuple[float, ...]
    slots: dict[str, SlotVal]
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


_WILD_CACHE: dict[str, Match] = {}


def wild(mod: str) -> Match:
    m = _WILD_CACHE.get(mod)
    if m is None:
        m = _WILD_CACHE[mod] = Match((), 0, 0, (), {}, open_mods=frozenset({mod}), n_open=1)
    return m


def combine(parts: list[Match]) -> Match | None:
    obs: list[int] = []
    seen: set[int] = set()
    for p in parts:
        for o in p.obs:
            if o in seen:
                return None
            seen.add(o)
            obs.append(o)
    real = [p for p in parts if p.real]
    slots: dict[str, SlotVal] = {}
    for p in parts:
        for k, v in p.slots.items():
            slots.setdefault(k, v)
    return Match(
        tuple(obs),
        min((p.t_first for p in real), default=0),
        max((p.t_last for p in real), default=0),
        tuple(c for p in parts for c in p.confs),
        slots,
        tuple(dict.fromkeys(c for p in parts for c in p.context)),
        frozenset().union(*(p.context_mods for p in parts)),
        frozenset().union(*(p.open_mods for p in parts)),
        min((p.deadline for p in parts), default=INF),
        tuple(s for p in parts for s in p.starts),
        sum(p.n_open for p in parts),
    )


class Matcher:
    """The matching half of `FusionEngine` (a mixin: it reads the engine's spec, scene, context,
    buffer and caches)."""

    def _live(self) -> list[Observation]:
        return [o for o in self._buffer.values() if o.id not in self._consumed]

    def _eval(self, node: Node, live: list[Observation], open_ok: bool, final: bool) -> list[Match]:
        cap = self.options.max_matches_per_node
        if isinstance(node, Leaf):
            out = [m for o in live if (m := self._leaf_match(node, o)) is not None]
            if open_ok and not node.is_condition and not final:
                out.append(wild(node.event_modality))
            return out
        if node.op == "any":
            out = []
            for c in node.children:
                out.extend(self._eval(c, live, open_ok, final))
            return cap_matches(out, cap)
        events = [c for c in node.children if not (isinstance(c, Leaf) and c.is_condition)]
        conds = [c for c in node.children if isinstance(c, Leaf) and c.is_condition]
        lists = [self._eval(c, live, open_ok, final) for c in events]
        if any(not lst for lst in lists):
            return []
        out: list[Match] = []
        for combo in windowed_product(lists, node.within_ns, node.op == "sequence"):
            m = combine(list(combo))
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
        return cap_matches(out, cap)

    def _conditions(self, conds: list[Leaf], m: Match) -> Match | None:
        for lf in conds:
            source = "gaze" if lf.predicate == "gaze_on" else "pointing"
            rec = self.context.at(
                source, m.t_first - CONDITION_TOL_NS, m.t_last + CONDITION_TOL_NS, target_id=self._literal_target(lf)
            )
            if rec is None:
                return None
            slots = dict(m.slots)
            if not lf.literal:
                slots.setdefault(lf.argument, SlotVal(rec.target_id, "target"))
            m = Match(
                m.obs,
                m.t_first,
                m.t_last,
                m.confs,
                slots,
                m.context + (rec.obs_id,),
                m.context_mods | {rec.modality},
                m.open_mods,
                m.deadline,
                m.starts,
                m.n_open,
            )
        return m

    def _literal_target(self, lf: Leaf) -> str | None:
        if not lf.literal:
            return None
        t = self.scene.get(lf.argument) or self.scene.find_by_name(lf.argument)
        return t.id if t else lf.argument

    def _leaf_match(self, lf: Leaf, o: Observation) -> Match | None:
        if lf.is_condition or o.modality != lf.event_modality:
            return None
        if lf.min_confidence is not None and o.confidence < lf.min_confidence:
            return None
        if lf.modality in ("hand", "wrist"):
            if o.kind not in lf.kinds:
                return None
            if lf.handedness and o.payload.get("handedness") not in (lf.handedness, None):
                return None
            slots = {k: SlotVal(v, "const") for k, v in lf.constants.items()}
            return Match((o.id,), o.t_start_ns, o.t_end_ns, (o.confidence,), slots, starts=(o.t_start_ns,))
        if lf.modality == "context":  # gaze dwell
            if o.kind != "dwell" or o.payload.get("dwell_ms") != lf.dwell_ms:
                return None
            tid = o.payload.get("target")
            if lf.literal and tid != self._literal_target(lf):
                return None
            slots = {k: SlotVal(v, "const") for k, v in lf.constants.items()}
            if not lf.literal:
                slots[lf.argument] = SlotVal(tid, "target")
            ctx = tuple(o.payload.get("gaze_obs", ()))
            return Match(
                (o.id,),
                o.t_start_ns,
                o.t_end_ns,
                (o.confidence,),
                slots,
                ctx,
                frozenset({"gaze"}),
                starts=(o.t_start_ns,),
            )
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
        slots = {**{k: SlotVal(v, "const") for k, v in lf.constants.items()}, **slots}
        return Match((o.id,), o.t_start_ns, o.t_end_ns, (conf,), slots, starts=(o.t_start_ns,))

    def _speech(self, lf: Leaf, o: Observation) -> tuple[float, dict[str, SlotVal]] | None:
        p = o.payload
        own = speech_parse(o)
        words = p.get("words") if isinstance(p.get("words"), list) else []
        hyps: list[tuple[str, Any, Any, float, list]] = [
            (
                p.get("text")
                or p.get("phrase")
                or " ".join(str(w.get("word", "")) for w in words if isinstance(w, dict)),
                p.get("intent"),
                p.get("slots"),
                float(o.confidence),
                words,
            )
        ]
        for alt in p.get("n_best") or []:
            if isinstance(alt, dict) and ("text" in alt or "intent" in alt):
                c = alt.get("confidence", o.confidence)
                ok = isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 <= c <= 1.0
                hyps.append(
                    (
                        str(alt.get("text", "")),
                        alt.get("intent"),
                        alt.get("slots"),
                        float(c) if ok else float(o.confidence),
                        alt.get("words") if isinstance(alt.get("words"), list) else [],
                    )
                )
        for k, (text, intent, given_slots, conf, hw) in enumerate(hyps):
            # recogniser output is input: anything odd in it is ignored, not trusted
            text = text if isinstance(text, str) else ""
            intent = intent if isinstance(intent, str) else None
            given_slots = given_slots if isinstance(given_slots, dict) else {}
            if intent is not None and intent in self._speech_intents and intent != lf.speech_intent:
                continue  # the recogniser decided on another of our intents
            toks, times = tokens_and_times(text, hw, o)
            # the recogniser parsed once: its parse is used as it is when it names this leaf alone
            m = (
                None
                if intent == lf.speech_intent and intent in self._single_leaf_speech
                else self.spec.match_speech(lf, toks, self.scene)
            )
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
                    span = (
                        given_times.get(name)
                        or find_span(toks, tokenize(str(val)), times)
                        or (o.t_start_ns, o.t_end_ns)
                    )
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

    def _slot_val(self, value: str, stype: str, t0: int, t1: int) -> SlotVal:
        st = self.spec.slot_types.get(stype)
        if st is not None and st.kind == "target":
            v = value.lower()
            if v in self.spec.deixis.words:
                return SlotVal(v, stype, t0, t1, deictic=True)
            t = self.scene.get(value) or self.scene.find_by_name(value)
            return SlotVal(t.id if t else value, stype, t0, t1, mentioned=t is not None)
        return SlotVal(value, stype, t0, t1)


def cap_matches(ms: list[Match], cap: int) -> list[Match]:
    if len(ms) <= cap:
        return ms
    # complete before partial, confident before doubtful, tight before loose
    ms.sort(key=lambda m: (bool(m.open_mods), -m.score(), m.t_last - m.t_first))
    return ms[:cap]


def windowed_product(lists: list[list[Match]], within: int, ordered: bool):
    """itertools.product over the parts' matches, pruned as soon as the real parts chosen so far span
    more than `within` (or, for a sequence, start out of order), so a buffer full of old
    observations costs little and no valid combination is crowded out."""
    n = len(lists)
    chosen: list[Match] = []

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

    yield from rec(0, 2**62, -(2**62), None)


def max_window(node: Node) -> int:
    if isinstance(node, Leaf):
        return 0
    own = node.within_ns or 0
    return max([own] + [max_window(c) for c in node.children])


def tokens_and_times(text: str, words: list, o: Observation) -> tuple[list[str], list[tuple[int, int]]]:
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


def find_span(toks: list[str], value: list[str], times: list[tuple[int, int]]) -> tuple[int, int] | None:
    n = len(value)
    if not n:
        return None
    for i in range(len(toks) - n + 1):
        if toks[i : i + n] == value:
            return times[i][0], times[i + n - 1][1]
    return None
