"""Rhino-style speech expressions: parse, list, and match against recognised words.

The one home of the expression language: the speech grammar compiler (`perception.speech.context`)
and the intent spec (`fusion.spec`) both parse with it, so what the recogniser can say and what the
spec means by an expression cannot drift apart.

Syntax (as Picovoice Rhino contexts): plain words; `[a, b c]` one of several alternatives;
`(a, b)` optional alternatives; `$type:name` a slot of slot type `type` stored under `name`;
`@macro` a named list of alternatives. Alternatives may themselves contain slots and groups.

Matching works on word tokens so that every slot value keeps the index range of the words it came
from: deixis needs the time at which "that" or "there" was spoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


class ExpressionError(ValueError):
    """A malformed expression; `column` is the 0-based offset in the expression text."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} (at column {column + 1})")
        self.column = column


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; punctuation dropped, inner apostrophes kept ("I'd" -> "i'd")."""
    return _WORD_RE.findall(text.lower().replace("\u2019", "'"))


@dataclass(frozen=True, slots=True)
class Word:
    text: str


@dataclass(frozen=True, slots=True)
class Slot:
    type: str
    name: str


@dataclass(frozen=True, slots=True)
class Macro:
    name: str


@dataclass(frozen=True, slots=True)
class Group:
    alternatives: tuple[tuple, ...]  # each a sequence of elements
    optional: bool


Element = Word | Slot | Macro | Group


@dataclass(slots=True)
class Expression:
    source: str
    elements: tuple[Element, ...]

    def slots(self) -> list[Slot]:
        out: list[Slot] = []
        _collect_slots(self.elements, out)
        return out

    def macros(self) -> list[str]:
        out: list[str] = []
        _collect_macros(self.elements, out)
        return out


def _collect_slots(seq: Sequence[Element], out: list[Slot]) -> None:
    for el in seq:
        if isinstance(el, Slot):
            if el not in out:
                out.append(el)
        elif isinstance(el, Group):
            for alt in el.alternatives:
                _collect_slots(alt, out)


def _collect_macros(seq: Sequence[Element], out: list[str]) -> None:
    for el in seq:
        if isinstance(el, Macro):
            out.append(el.name)
        elif isinstance(el, Group):
            for alt in el.alternatives:
                _collect_macros(alt, out)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_expression(text: str) -> Expression:
    """Parse one expression; raises ExpressionError naming the column of the problem."""
    if not isinstance(text, str):
        raise ExpressionError(f"expression must be a string, not {type(text).__name__}", 0)
    pos = 0
    n = len(text)

    def skip_ws() -> None:
        nonlocal pos
        while pos < n and text[pos].isspace():
            pos += 1

    def parse_seq(closers: str) -> tuple[Element, ...]:
        nonlocal pos
        seq: list[Element] = []
        while True:
            skip_ws()
            if pos >= n or text[pos] in closers:
                return tuple(seq)
            c = text[pos]
            if c in "[(":
                close = "]" if c == "[" else ")"
                start = pos
                pos += 1
                alts = [parse_seq(",])")]
                while True:
                    skip_ws()
                    if pos >= n:
                        raise ExpressionError(f"unclosed '{c}'", start)
                    if text[pos] == ",":
                        pos += 1
                        alts.append(parse_seq(",])"))
                        continue
                    if text[pos] != close:
                        raise ExpressionError(f"'{c}' closed by '{text[pos]}'", pos)
                    pos += 1
                    break
                if any(len(a) == 0 for a in alts):
                    raise ExpressionError(f"empty alternative in '{c}...{close}'", start)
                seq.append(Group(tuple(alts), optional=(c == "(")))
            elif c in "])":
                raise ExpressionError(f"unexpected '{c}'", pos)
            elif c == ",":
                raise ExpressionError("',' outside '[...]' or '(...)'", pos)
            elif c == "$":
                start = pos
                pos += 1
                m = _IDENT.match(text, pos)
                if not m:
                    raise ExpressionError("expected a slot type after '$'", start)
                pos = m.end()
                if pos >= n or text[pos] != ":":
                    raise ExpressionError("slot must be written $type:name", start)
                pos += 1
                m2 = _IDENT.match(text, pos)
                if not m2:
                    raise ExpressionError("expected a slot name after ':'", start)
                pos = m2.end()
                seq.append(Slot(m.group(0), m2.group(0)))
            elif c == "@":
                start = pos
                m = _IDENT.match(text, pos + 1)
                if not m:
                    raise ExpressionError("expected a macro name after '@'", start)
                pos = m.end()
                seq.append(Macro(m.group(0)))
            else:
                start = pos
                while pos < n and not text[pos].isspace() and text[pos] not in "[](),$@":
                    pos += 1
                toks = tokenize(text[start:pos])
                if not toks:
                    raise ExpressionError(f"not a word: {text[start:pos]!r}", start)
                seq.extend(Word(t) for t in toks)

    elements = parse_seq("")
    if pos < n:
        raise ExpressionError(f"unexpected '{text[pos]}'", pos)
    if not elements:
        raise ExpressionError("empty expression", 0)
    return Expression(text, elements)


# matching ---------------------------------------------------------------------------------

# A slot-value provider: slot type -> list of token sequences it accepts (each with its value).
SlotValues = Callable[[str], Sequence[tuple[tuple[str, ...], str]]]


@dataclass(slots=True)
class SlotMatch:
    value: str
    type: str
    first_token: int
    last_token: int  # inclusive


@dataclass(slots=True)
class ExpressionMatch:
    expression: Expression
    slots: dict[str, SlotMatch] = field(default_factory=dict)


def match_tokens(
    expr: Expression, tokens: Sequence[str], slot_values: SlotValues, macros: dict[str, list[Expression]] | None = None
) -> ExpressionMatch | None:
    """First full match of `tokens` by `expr` (backtracking), or None."""
    macros = macros or {}

    def walk(seq: tuple, i: int, k: int, slots: dict[str, SlotMatch]) -> Iterator[tuple[int, dict]]:
        # yields (token index after the match, slots) for elements seq[k:] starting at token i
        if k == len(seq):
            yield i, slots
            return
        el = seq[k]
        if isinstance(el, Word):
            if i < len(tokens) and tokens[i] == el.text:
                yield from walk(seq, i + 1, k + 1, slots)
        elif isinstance(el, Slot):
            for toks, value in slot_values(el.type):
                j = i + len(toks)
                if toks and tuple(tokens[i:j]) == toks:
                    s2 = dict(slots)
                    s2[el.name] = SlotMatch(value, el.type, i, j - 1)
                    yield from walk(seq, j, k + 1, s2)
        elif isinstance(el, Group):
            for alt in el.alternatives:
                for j, s2 in walk(alt, i, 0, slots):
                    yield from walk(seq, j, k + 1, s2)
            if el.optional:
                yield from walk(seq, i, k + 1, slots)
        elif isinstance(el, Macro):
            for mexpr in macros.get(el.name, []):
                for j, s2 in walk(mexpr.elements, i, 0, slots):
                    yield from walk(seq, j, k + 1, s2)

    for end, slots in walk(expr.elements, 0, 0, {}):
        if end == len(tokens):
            return ExpressionMatch(expr, slots)
    return None


def expand(
    expr: Expression, slot_placeholder: Callable[[Slot], str] = lambda s: f"${s.type}:{s.name}", limit: int = 10_000
) -> list[str]:
    """All phrasings of `expr` with slots left as placeholders (for grammar compilers and tests)."""
    out: list[str] = []

    def rec(seq: tuple, k: int, acc: list[str]) -> None:
        if len(out) >= limit:
            return
        if k == len(seq):
            out.append(" ".join(acc))
            return
        el = seq[k]
        if isinstance(el, Word):
            rec(seq, k + 1, acc + [el.text])
        elif isinstance(el, Slot):
            rec(seq, k + 1, acc + [slot_placeholder(el)])
        elif isinstance(el, Macro):
            rec(seq, k + 1, acc + [f"@{el.name}"])
        else:
            for alt in el.alternatives:
                rec(tuple(alt) + tuple(seq[k + 1 :]), 0, acc)
            if el.optional:
                rec(seq, k + 1, acc)

    rec(expr.elements, 0, [])
    return out


def expand_tokens(
    expr: Expression, macros: dict[str, list[Expression]] | None = None, limit: int = 100_000
) -> list[tuple[str, ...]]:
    """Every token sequence of `expr` with macros multiplied out; slots stay as "$type:name" tokens
    (what a grammar compiler needs). Sorted and deduplicated."""
    macros = macros or {}
    out: set[tuple[str, ...]] = set()

    def seqs(seq: Sequence[Element], depth: int) -> list[tuple[str, ...]]:
        acc: list[tuple[str, ...]] = [()]
        for el in seq:
            if isinstance(el, Word):
                alts = [(el.text,)]
            elif isinstance(el, Slot):
                alts = [(f"${el.type}:{el.name}",)]
            elif isinstance(el, Macro):
                if el.name not in macros:
                    raise ExpressionError(
                        f"expression {expr.source!r} uses macro @{el.name}, which is not "
                        f"defined (known: {sorted(macros)})"
                    )
                if depth > 8:
                    raise ExpressionError(
                        f"macros nest too deeply (does @{el.name} refer to itself?) in {expr.source!r}"
                    )
                alts = [t for m in macros[el.name] for t in seqs(m.elements, depth + 1)]
            else:
                alts = [t for alt in el.alternatives for t in seqs(alt, depth)]
                if el.optional:
                    alts = [(), *alts]
            acc = [a + b for a in acc for b in alts]
            if len(acc) > limit:
                raise ExpressionError(f"expression {expr.source!r} expands to more than {limit} phrasings")
        return acc

    out.update(seqs(expr.elements, 0))
    return sorted(out)


def words_of(expr: Expression) -> set[str]:
    """Every literal word the expression can produce (vocabulary for a recogniser)."""
    out: set[str] = set()

    def rec(seq: Sequence[Element]) -> None:
        for el in seq:
            if isinstance(el, Word):
                out.add(el.text)
            elif isinstance(el, Group):
                for alt in el.alternatives:
                    rec(alt)

    rec(expr.elements)
    return out
