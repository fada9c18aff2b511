"""Speech contexts: intents with Rhino-style expressions and slot value lists.

Expression syntax (as Picovoice Rhino contexts; parsed by `perception.speech.expressions`, the one
implementation shared with the intent spec): words; `[a, b c]` choose one phrase; `(words)` optional;
`$type:name` a slot named `name` whose values come from the slot list `type`; `@macro`. A context comes
from a Rhino YAML file (`context: {expressions, slots}`) or from the intent spec's speech export
(`Context.from_spec(fusion.spec.speech_grammar(spec))`; this module never imports fusion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perception.speech.expressions import ExpressionError, expand_tokens, parse_expression, tokenize

Token = str  # a lowercase word, or a slot reference "$type:name"


def is_slot(tok: Token) -> bool:
    return tok.startswith("$")


def slot_parts(tok: Token) -> tuple[str, str]:
    """ "$type:name" -> (type, name)."""
    t, n = tok[1:].split(":", 1)
    return t, n


def expand_expression(expr: str, macros: dict[str, list[str]] | None = None) -> list[tuple[Token, ...]]:
    """Every token sequence an expression stands for (choices, optionals and @macros multiplied out)."""
    parsed_macros = {k: [parse_expression(e) for e in v] for k, v in (macros or {}).items()}
    return expand_tokens(parse_expression(expr), parsed_macros)


@dataclass
class Context:
    """intent -> expressions, slot type -> values (each value a word sequence)."""

    expressions: dict[str, list[str]]
    slots: dict[str, list[str]] = field(default_factory=dict)
    name: str = "context"
    macros: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = {k: [" ".join(tokenize(v)) for v in vals] for k, vals in self.slots.items()}
        for k, vals in self.slots.items():
            if not vals or any(not v for v in vals):
                raise ExpressionError(f"slot {k!r} has an empty value list or an empty value")
        macros = {k: [parse_expression(e) for e in v] for k, v in self.macros.items()}
        seqs: set[tuple[str, tuple[Token, ...]]] = set()
        for intent, exprs in self.expressions.items():
            for e in exprs:
                for seq in expand_tokens(parse_expression(e), macros):
                    for tok in seq:
                        if is_slot(tok) and slot_parts(tok)[0] not in self.slots:
                            raise ExpressionError(
                                f"intent {intent!r}: expression {e!r} uses slot type {slot_parts(tok)[0]!r}, "
                                f"which has no value list (known: {sorted(self.slots)})"
                            )
                    if seq:
                        seqs.add((intent, seq))
        self._seqs = sorted(seqs)

    @classmethod
    def from_rhino_yaml(cls, path: str | Path) -> Context:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"speech context file not found: {p}")
        return cls.from_rhino_dict(yaml.safe_load(p.read_text()), name=p.stem, where=str(p))

    @classmethod
    def from_rhino_dict(cls, d: Any, name: str = "context", where: str = "context") -> Context:
        """`{"context": {"expressions": {intent: [...]}, "slots": {type: [...]}, "macros": {...}}}`"""
        if not isinstance(d, dict) or not isinstance(d.get("context"), dict):
            raise ExpressionError(f"{where}: not a Rhino context (no top-level 'context' mapping)")
        c = d["context"]
        return cls(
            expressions={k: list(v) for k, v in (c.get("expressions") or {}).items()},
            slots={k: list(v) for k, v in (c.get("slots") or {}).items()},
            macros={k: list(v) for k, v in (c.get("macros") or {}).items()},
            name=name,
        )

    @classmethod
    def from_spec(cls, spec: Any, name: str = "spec") -> Context:
        """From the intent spec's speech export (`fusion.spec.speech_grammar(spec, scene)`, anything with
        `to_rhino_context()`) or that export's Rhino dict. A `Spec` itself is refused: exporting it is
        fusion's job, and perception must not import fusion."""
        if hasattr(spec, "intents") and hasattr(spec, "slot_types"):
            raise TypeError("Context.from_spec takes fusion.spec.speech_grammar(spec), not the Spec itself")
        if hasattr(spec, "to_rhino_context"):
            spec = spec.to_rhino_context()
        return cls.from_rhino_dict(spec, name=name)

    def token_sequences(self) -> list[tuple[str, tuple[Token, ...]]]:
        """(intent, tokens) for every expansion, deduplicated."""
        return self._seqs

    def with_slot_values(self, slots: dict[str, list[str]]) -> Context:
        """The same expressions with some slot lists replaced (scene targets pushed at run time)."""
        return Context(dict(self.expressions), {**self.slots, **slots}, self.name, dict(self.macros))

    def words(self) -> set[str]:
        ws = {t for _, seq in self.token_sequences() for t in seq if not is_slot(t)}
        for vals in self.slots.values():
            for v in vals:
                ws.update(v.split())
        return ws

    def sample_sentence(self, rng) -> tuple[str, str, dict[str, str]]:
        """A random sentence of the context: (intent, text, slots) — for tests and synthetic data."""
        seqs = self.token_sequences()
        intent, seq = seqs[int(rng.integers(len(seqs)))]
        words, slots = [], {}
        for t in seq:
            if is_slot(t):
                typ, name = slot_parts(t)
                v = self.slots[typ][int(rng.integers(len(self.slots[typ])))]
                slots[name] = v
                words.append(v)
            else:
                words.append(t)
        return intent, " ".join(words), slots


def count_expansions(context: Context) -> int:
    return len(context.token_sequences())


__all__ = [
    "Context",
    "ExpressionError",
    "count_expansions",
    "expand_expression",
    "is_slot",
    "slot_parts",
]
