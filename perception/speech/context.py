"""Speech contexts: intents with Rhino-style expressions and slot value lists.

Expression syntax (as Picovoice Rhino contexts): words; `[a, b c]` choose one phrase; `(words)`
optional; `$type:name` a slot named `name` whose values come from the slot list `type`. Choices and
optionals nest. A context comes from a Rhino YAML file (`context: {expressions, slots}`) or from the
intent spec's speech expressions (`Context.from_spec`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(\[|\]|\(|\)|,|\$[A-Za-z_][\w]*:[A-Za-z_][\w]*|@[A-Za-z_][\w]*|[^\s\[\](),$@]+)")

Token = str  # a lowercase word, or a slot reference "$type:name"


def is_slot(tok: Token) -> bool:
    return tok.startswith("$")


def slot_parts(tok: Token) -> tuple[str, str]:
    """"$type:name" -> (type, name)."""
    t, n = tok[1:].split(":", 1)
    return t, n


def normalise_words(text: str) -> list[str]:
    """Lower-case words as the recogniser's dictionary spells them (apostrophes kept)."""
    return [w for w in re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("’", "'")).split() if w]


class ExpressionError(ValueError):
    pass


def _tokenise(expr: str) -> list[str]:
    pos, out = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read expression {expr!r} at position {pos}: {expr[pos:pos + 12]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


def expand_expression(expr: str, macros: dict[str, list[str]] | None = None,
                      _depth: int = 0) -> list[tuple[Token, ...]]:
    """Every token sequence an expression stands for (choices, optionals and @macros multiplied out)."""
    if _depth > 8:
        raise ExpressionError(f"macros nest too deeply (a macro refers to itself?) in {expr!r}")
    macros = macros or {}
    toks = _tokenise(expr)
    pos = 0

    def seq(stop: set[str]) -> list[tuple[Token, ...]]:
        nonlocal pos
        parts: list[list[tuple[Token, ...]]] = []
        while pos < len(toks) and toks[pos] not in stop:
            t = toks[pos]
            pos += 1
            if t == "[":
                alts = [seq({",", "]"})]
                while pos < len(toks) and toks[pos] == ",":
                    pos += 1
                    alts.append(seq({",", "]"}))
                if pos >= len(toks) or toks[pos] != "]":
                    raise ExpressionError(f"unclosed '[' in expression {expr!r}")
                pos += 1
                parts.append([s for a in alts for s in a])
            elif t == "(":
                inner = seq({",", ")"})
                while pos < len(toks) and toks[pos] == ",":
                    pos += 1
                    inner += seq({",", ")"})
                if pos >= len(toks) or toks[pos] != ")":
                    raise ExpressionError(f"unclosed '(' in expression {expr!r}")
                pos += 1
                parts.append([()] + inner)
            elif t.startswith("@"):
                name = t[1:]
                if name not in macros:
                    raise ExpressionError(f"expression {expr!r} uses macro @{name}, which is not defined "
                                          f"(known: {sorted(macros)})")
                parts.append([x for m in macros[name] for x in expand_expression(m, macros, _depth + 1)])
            elif t in ("]", ")", ","):
                raise ExpressionError(f"unexpected {t!r} in expression {expr!r}")
            elif t.startswith("$"):
                parts.append([(t,)])
            else:
                parts.append([tuple(normalise_words(t))])
        out = [()]
        for p in parts:
            out = [a + b for a in out for b in p]
        return out

    result = seq(set())
    if pos != len(toks):
        raise ExpressionError(f"unbalanced brackets in expression {expr!r}")
    return sorted(set(result))


@dataclass
class Context:
    """intent -> expressions, slot type -> values (each value a word sequence)."""

    expressions: dict[str, list[str]]
    slots: dict[str, list[str]] = field(default_factory=dict)
    name: str = "context"
    macros: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.slots = {k: [" ".join(normalise_words(v)) for v in vals] for k, vals in self.slots.items()}
        for k, vals in self.slots.items():
            if not vals or any(not v for v in vals):
                raise ExpressionError(f"slot {k!r} has an empty value list or an empty value")
        for intent, exprs in self.expressions.items():
            for e in exprs:
                for seq in expand_expression(e, self.macros):
                    for tok in seq:
                        if is_slot(tok) and slot_parts(tok)[0] not in self.slots:
                            raise ExpressionError(
                                f"intent {intent!r}: expression {e!r} uses slot type {slot_parts(tok)[0]!r}, "
                                f"which has no value list (known: {sorted(self.slots)})")

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
        return cls(expressions={k: list(v) for k, v in (c.get("expressions") or {}).items()},
                   slots={k: list(v) for k, v in (c.get("slots") or {}).items()},
                   macros={k: list(v) for k, v in (c.get("macros") or {}).items()}, name=name)

    @classmethod
    def from_spec(cls, spec: Any, name: str = "spec") -> Context:
        """From the intent spec's speech part: a `fusion.spec.Spec`, its `speech_grammar(...)` export,
        or that export's Rhino dict."""
        if hasattr(spec, "intents") and hasattr(spec, "slot_types"):
            from fusion.spec import speech_grammar
            spec = speech_grammar(spec)
        if hasattr(spec, "to_rhino_context"):
            spec = spec.to_rhino_context()
        return cls.from_rhino_dict(spec, name=name)

    def token_sequences(self) -> list[tuple[str, tuple[Token, ...]]]:
        """(intent, tokens) for every expansion, deduplicated (computed once)."""
        cached = self.__dict__.get("_seqs")
        if cached is not None:
            return cached
        out = set()
        for intent, exprs in self.expressions.items():
            for e in exprs:
                for seq in expand_expression(e, self.macros):
                    if seq:
                        out.add((intent, seq))
        self.__dict__["_seqs"] = sorted(out)
        return self.__dict__["_seqs"]

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
    "normalise_words",
    "slot_parts",
]
