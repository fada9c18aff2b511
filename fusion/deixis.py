"""Slot filling: a complete match becomes a candidate intent with its slots bound.

Speech slots holding deictic words ("this", "that", "here", "there", "it") are bound to what was
pointed at (then looked at, then last selected/mentioned) when the word was spoken; unfilled target
slots take what was looked at or pointed at during the evidence. Where a better source could still
deliver (its stream's watermark has not passed the time that matters), the candidate records how far
that stream must get (`wait_until`) before it may be decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fusion.context import ContextRecord
from fusion.matching import CONDITION_TOL_NS, Match
from fusion.spec import Intent


@dataclass(slots=True)
class Candidate:
    intent: Intent
    match: Match
    slots: dict[str, Any]
    score: float
    context_ids: tuple[int, ...]
    modalities: tuple[str, ...]
    wait_until: dict[str, int]  # modality -> evidence time its watermark must pass
    first_seen_ns: int
    # modalities in wait_until that only matter while their stream is active (optional context)
    wait_if_active: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, frozenset[int]]:
        return (self.intent.name, frozenset(self.match.obs))

    @property
    def rank(self) -> tuple[int, int, float]:
        return (self.intent.priority, len(self.match.obs), self.score)


class SlotResolver:
    """The slot-filling half of `FusionEngine` (a mixin over the engine's spec and context)."""

    def _candidate(self, it: Intent, m: Match, final: bool) -> Candidate:
        slots: dict[str, Any] = {}
        ctx_ids = list(m.context)
        mods = {self._obs_modality.get(o, "?") for o in m.obs} | set(m.context_mods)
        wait: dict[str, int] = {}
        used: set[int] = set()
        dx = self.spec.deixis
        # deictic words in spoken order, so "that ... there" take successive pointing moments
        ordered = sorted(m.slots.items(), key=lambda kv: kv[1].t0 if kv[1].t0 is not None else 0)
        for name, sv in ordered:
            if not sv.deictic:
                slots[name] = sv.value
                continue
            lo, hi = sv.t0 - dx.before_ms * 1_000_000, sv.t1 + dx.after_ms * 1_000_000
            ref = (sv.t0 + sv.t1) // 2
            value, rec = self._resolve_target(
                dx.sources, lo, hi, ref, used, allow_location=sv.value in ("here", "there")
            )
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
        # declared target slots nobody filled: what was pointed/looked at during the evidence. A source
        # preferred to the one that answered (or the answering one, when its moment does not overlap the
        # evidence) may still deliver a sample covering the evidence: wait until its stream has passed
        # the end of the evidence. An optional slot waits only on continuous streams (gaze) that are
        # active: an event stream (pointing) that has not reported a pointing moment by the end of the
        # evidence was not pointing, and waiting for its bound would only cost latency.
        optional: set[str] = set()
        hard = set(wait)
        for name, stype in it.slots.items():
            if slots.get(name) is None and self.spec.slot_types[stype].kind == "target":
                lo, hi = m.t_first - CONDITION_TOL_NS, m.t_last + CONDITION_TOL_NS
                value, rec = self._resolve_target(it.resolve, lo, hi, None, used, allow_location=False)
                by = rec.source if rec is not None else ("last" if value is not None else None)
                covers = rec is not None and rec.t_end_ns >= m.t_first and rec.t_start_ns <= m.t_last
                for src in it.resolve:
                    if src == by and covers:
                        break
                    if src in ("pointing", "gaze"):
                        mod = "hand" if src == "pointing" else "gaze"
                        required = name in it.required
                        if required or mod in self.marks.options.continuous:
                            wait[mod] = max(wait.get(mod, 0), m.t_last)
                            (hard if required else optional).add(mod)
                    if src == by:
                        break
                if value is not None:
                    slots[name] = value
                    if rec is not None:
                        ctx_ids.append(rec.obs_id)
                        mods.add(rec.modality)
                else:
                    slots.setdefault(name, None)
        for name in it.slots:
            slots.setdefault(name, None)
        return Candidate(
            it,
            m,
            slots,
            m.score(),
            tuple(dict.fromkeys(ctx_ids)),
            tuple(sorted(mods)),
            wait,
            self._now,
            frozenset(optional - hard),
        )

    def _resolve_target(
        self, sources: Iterable[str], lo: int, hi: int, ref: int | None, used: set[int], allow_location: bool
    ) -> tuple[Any, ContextRecord | None]:
        for src in sources:
            if src == "last":
                last = self.context.last(before_ns=hi)
                if last is not None:
                    return last, None
                continue
            # "here"/"there" may name a place: the nearest pointing moment wins, target or not;
            # a moment already bound to an earlier word is reused only when there is no other
            want = not allow_location
            rec = self.context.at(src, lo, hi, ref, want_target=want, exclude=used) or self.context.at(
                src, lo, hi, ref, want_target=want
            )
            if rec is not None:
                if rec.target_id is not None:
                    return rec.target_id, rec
                return {"point": list(rec.point)}, rec
        return None, None

    # deciding ---------------------------------------------------------------------------------
