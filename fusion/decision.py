"""Deciding: which candidate is emitted now, which waits, which loses or is suppressed.

A candidate is emitted once no stronger interpretation can still appear and every stream that could
still change it has passed the time that matters (see `fusion.watermarks`). Candidates sharing an
observation, or in one exclusive group within its window, conflict (best rank wins); candidates of
one intent within its refractory period merge; a later one of an already emitted intent or group is
suppressed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fusion.deixis import Candidate
from fusion.matching import Match
from perception.stream.types import IntentEvent, Observation

log = logging.getLogger("cuekit.fusion")


@dataclass(slots=True)
class Emitted:
    intent: str
    scope_key: Any
    t_first: int
    t_last: int
    group: str | None = None


class Decider:
    """The deciding half of `FusionEngine` (a mixin over the engine's state)."""

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
        current: dict[tuple, Candidate] = {}
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
                same = self._degenerate(c)
                if same is not None:
                    if self._slots_final(c, final):  # a better pointing moment can no longer come
                        self._seen_bad.add(key)
                        self._refuse(c, same)
                    continue
                current[key] = c
        self._pending = current
        cands = list(current.values())
        if not cands:
            return None
        # duplicates of something already emitted, or a contradiction of an emitted group member: suppress
        for c in list(cands):
            if self._refractory_hit(c):
                self._consume(c.match.obs)
                self.stats.duplicates_suppressed += 1
                log.info("%s suppressed: within refractory period of an emitted %s", c.intent.name, c.intent.name)
                return self._decide_one(final)
            rival = self._group_hit(c)
            if rival is not None:
                self._consume(c.match.obs)
                self.stats.group_suppressed += 1
                log.info(
                    "%s suppressed: %s of exclusive group %r was already emitted within %d ms",
                    c.intent.name,
                    rival,
                    c.intent.group,
                    self.spec.conflict_window_ms,
                )
                return self._decide_one(final)
        # best rank first; among equals the tightest reading (a sequence's latest start), then the earliest
        cands.sort(key=lambda c: (c.rank, c.match.t_first - c.match.t_last, -c.match.t_first), reverse=True)
        partial_cache: dict[str, list[Match]] = {}
        for c in cands:
            rivals = [o for o in cands if o is not c and self._conflicts(c, o)]
            if any(o.rank > c.rank for o in rivals):
                continue  # a stronger rival decides first; this one may lose to it
            blocker = self._blocker(c, final, live, partial_cache)
            if blocker is not None:
                self._blocked_by[c.key] = blocker
                continue
            return self._emit(c, rivals)
        return None

    def _slots_final(self, c: Candidate, final: bool) -> bool:
        return self._slot_blocker(c, final) is None

    def _slot_blocker(self, c: Candidate, final: bool) -> str | None:
        """The stream a slot of `c` still waits for (None: every one that could fill it has passed)."""
        return self.marks.passed(c.wait_until, self._now, final, active_only=c.wait_if_active)

    def _degenerate(self, c: Candidate) -> tuple[str, str, Any] | None:
        """Two target slots of one intent holding the same target (move the cup onto the cup)."""
        seen: dict[str, str] = {}
        for name, stype in c.intent.slots.items():
            v = c.slots.get(name)
            if not isinstance(v, str) or self.spec.slot_types[stype].kind != "target":
                continue
            if v in seen:
                return seen[v], name, v
            seen[v] = name
        return None

    def _refuse(self, c: Candidate, same: tuple[str, str, Any]) -> None:
        a, b, v = same
        reason = f"{c.intent.name}: {a} and {b} are both {v!r}; refused"
        self.stats.degenerate_refused += 1
        self.refusals.append(reason)
        log.info("%s", reason)

    def _group_rival_stream(self, c: Candidate) -> str | None:
        """A stream that could still deliver evidence for a higher-priority member of `c`'s exclusive
        group from before `c`'s end (that member would win the conflict); None when there is none."""
        g = c.intent.group
        if not g:
            return None
        for j in self.spec.intents.values():
            if j.group != g or j.name == c.intent.name or j.priority <= c.intent.priority:
                continue
            for mod in sorted({lf.event_modality for lf in j.leaves() if not lf.is_condition}):
                if self.marks.watermark(mod, self._now) < c.match.t_last:
                    return mod
        return None

    def _group_hit(self, c: Candidate) -> str | None:
        """The emitted member of `c`'s exclusive group within the group's window, if any."""
        g = c.intent.group
        if not g:
            return None
        win = self.spec.conflict_window_ms * 1_000_000
        for e in self._emitted:
            if (
                e.group == g
                and e.intent != c.intent.name
                and max(c.match.t_first - e.t_last, e.t_first - c.match.t_last, 0) < win
            ):
                return e.intent
        return None

    def _conflicts(self, a: Candidate, b: Candidate) -> bool:
        if set(a.match.obs) & set(b.match.obs):
            return True
        if a.intent.name == b.intent.name:
            return _gap(a.match, b.match) < a.intent.refractory_ms * 1_000_000 and (
                a.intent.refractory_scope == "intent" or a.slots == b.slots
            )
        if a.intent.group and a.intent.group == b.intent.group:
            return _gap(a.match, b.match) < self.spec.conflict_window_ms * 1_000_000
        return False

    def _refractory_hit(self, c: Candidate) -> bool:
        it = c.intent
        refr = it.refractory_ms * 1_000_000
        sk = _scope_key(c)
        for e in self._emitted:
            if (
                e.intent == it.name
                and e.scope_key == sk
                and max(c.match.t_first - e.t_last, e.t_first - c.match.t_last, 0) < refr
            ):
                return True
        return False

    def _blocker(self, c: Candidate, final: bool, live: list[Observation], cache: dict[str, list[Match]]) -> str | None:
        """None when `c` may be emitted now; else what it waits for ("hold" or a modality)."""
        if final:
            return None
        if c.intent.hold_ms and self._now < c.first_seen_ns + c.intent.hold_ms * 1_000_000:
            return "hold"
        slot = self._slot_blocker(c, False)
        if slot is not None:
            return slot
        rival = self._group_rival_stream(c)
        if rival is not None:
            return rival
        mine = set(c.match.obs)
        for j in self.spec.intents.values():
            if j.name == c.intent.name:
                continue
            if j.priority < c.intent.priority:
                continue
            if j.priority == c.intent.priority and j.n_event_leaves() <= len(c.match.obs):
                continue
            if j.name not in cache:
                cache[j.name] = [
                    m for m in self._eval(j.trigger, live, open_ok=True, final=False) if m.real and m.open_mods
                ]
            for m in cache[j.name]:
                if not (mine & set(m.obs)):
                    continue
                if (j.priority, len(m.obs) + m.n_open) <= (c.intent.priority, len(c.match.obs)):
                    continue  # even complete, that reading would not outrank this one
                behind = [mod for mod in m.open_mods if self.marks.watermark(mod, self._now) < m.deadline]
                if len(behind) == len(m.open_mods):
                    return behind[0]  # a stronger reading of this evidence can still complete
        return None

    def _consume(self, ids: Iterable[int]) -> None:
        self._consumed.update(ids)

    def _emit(self, c: Candidate, rivals: list[Candidate]) -> IntentEvent:
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
        ev = IntentEvent(
            id=f"{self.options.id_prefix}-{next(self._seq)}",
            name=it.name,
            slots=dict(c.slots),
            confidence=round(conf, 6),
            modalities=sorted(mods),
            derived_from=derived,
            t_first_evidence_ns=int(t_first_ev),
            t_emitted_ns=int(max(self._now, t_first_ev)),
            n_best=n_best,
        )
        self._emitted.append(Emitted(it.name, _scope_key(c), t_first, t_last, it.group))
        self.stats.emitted += 1
        self._pending.pop(c.key, None)
        waited = self._blocked_by.pop(c.key, None)
        self.stats.record_wait(it.name, max(self._now - c.first_seen_ns, 0) / 1e6, waited)
        if len(self._blocked_by) > 256:
            self._blocked_by = {k: v for k, v in self._blocked_by.items() if k in self._pending}
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


def _scope_key(c: Candidate) -> Any:
    if c.intent.refractory_scope == "slots":
        return tuple(sorted((k, repr(v)) for k, v in c.slots.items()))
    return None


def _gap(a: Match, b: Match) -> int:
    return max(a.t_first - b.t_last, b.t_first - a.t_last, 0)
