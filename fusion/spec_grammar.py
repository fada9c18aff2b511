"""The speech grammar a spec asks for: every expression by intent and every slot value list, for the
speech engineer's grammar compiler (`speech_grammar(spec)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fusion.spec_model import Spec
from perception.speech.expressions import parse_expression, tokenize, words_of


@dataclass(slots=True)
class SpeechGrammar:
    """What a grammar-constrained recogniser needs: expressions per intent and slot value lists."""

    expressions: dict[str, list[str]]
    slots: dict[str, list[str]]
    macros: dict[str, list[str]]

    def to_rhino_context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"expressions": self.expressions, "slots": self.slots}
        if self.macros:
            ctx["macros"] = self.macros
        return {"context": ctx}

    def vocabulary(self) -> set[str]:
        out: set[str] = set()
        for exprs in list(self.expressions.values()) + list(self.macros.values()):
            for e in exprs:
                out |= words_of(parse_expression(e))
        for vals in self.slots.values():
            for v in vals:
                out.update(tokenize(v))
        return out


def speech_grammar(spec: Spec, scene: Any = None) -> SpeechGrammar:
    """Every speech expression of `spec` by intent, and every slot type's values. Target slots list
    the deictic words plus the names of the targets in `scene` (when given)."""
    exprs: dict[str, list[str]] = {}
    used_types: set[str] = set()
    for it in spec.intents.values():
        for lf in it.leaves():
            if lf.modality == "speech":
                lst = exprs.setdefault(lf.speech_intent or it.name, [])
                for e in lf.expressions:
                    if e.source not in lst:
                        lst.append(e.source)
                    used_types.update(s.type for s in e.slots())
    for m in spec.macros.values():
        for e in m:
            used_types.update(s.type for s in e.slots())
    slots: dict[str, list[str]] = {}
    for tname in sorted(used_types):
        st = spec.slot_types[tname]
        if st.kind == "target":
            vals = list(spec.deixis.words)
            if scene is not None:
                for t in scene.targets():
                    vals.extend(n for n in t.names if n not in vals)
            slots[tname] = vals
        else:
            slots[tname] = list(st.values)
    macros = {k: [e.source for e in v] for k, v in spec.macros.items()}
    return SpeechGrammar(exprs, slots, macros)
