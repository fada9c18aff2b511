"""Text -> intent + slots, shared by every recogniser backend.

The text is aligned to the compiled grammar's word graph with minimum word edit distance (dynamic
programming over the acyclic graph). An in-grammar text aligns with 0 edits and its slots are read off
the path; an open-vocabulary transcript ("uh can I get a large latte please") aligns with a few edits
and still yields the closest command, with `edits` telling the caller how far it was. Slot values
compete longest-first because the path that consumes more words at 0 cost wins ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

INS, DEL, SUB = 1, 1, 1


class WordGraph(Protocol):
    """What the aligner reads of a compiled `perception.speech.grammar.Grammar` (which imports this
    module, so this one must not import it back)."""

    n_states: int
    final: int
    topo: list[int]
    out: list[list[Any]]  # per state: arcs with .dst, .word (None: epsilon), .slot, .intent


@dataclass(slots=True)
class ParseResult:
    intent: str | None
    slots: dict[str, str]
    edits: int  # word edits between the text and the closest grammar sentence
    grammar_words: list[str]  # that closest sentence
    word_slot: list[str | None]  # for each input word: the slot it fills (None: carrier word/insertion)


def align(g: WordGraph, words: list[str]) -> ParseResult:
    n = len(words)
    INF = 1 << 30
    # cost[i][s]: min edits having consumed words[:i] and reached state s; back: predecessor
    cost = [[INF] * g.n_states for _ in range(n + 1)]
    back: list[list[tuple | None]] = [[None] * g.n_states for _ in range(n + 1)]
    cost[0][0] = 0
    for i in range(n + 1):
        ci = cost[i]
        for s in g.topo:
            c = ci[s]
            if c >= INF:
                continue
            if i < n and c + INS < cost[i + 1][s]:  # extra word in the text
                cost[i + 1][s] = c + INS
                back[i + 1][s] = (i, s, None, "ins")
            for a in g.out[s]:
                if a.word is None:
                    if c < ci[a.dst]:
                        ci[a.dst] = c
                        back[i][a.dst] = (i, s, a, "eps")
                    continue
                # grammar word missing from the text
                if c + DEL < ci[a.dst]:
                    ci[a.dst] = c + DEL
                    back[i][a.dst] = (i, s, a, "del")
                if i < n:
                    cc = c + (0 if words[i] == a.word else SUB)
                    # strict '<' keeps the first-found path; ties prefer match over sub by order below
                    if cc < cost[i + 1][a.dst]:
                        cost[i + 1][a.dst] = cc
                        back[i + 1][a.dst] = (i, s, a, "match" if cc == c else "sub")
    total = cost[n][g.final]
    if total >= INF:
        return ParseResult(None, {}, INF, [], [None] * n)
    # backtrace
    path = []
    i, s = n, g.final
    while (i, s) != (0, 0):
        b = back[i][s]
        if b is None:
            break
        path.append((b, i))
        i, s = b[0], b[1]
    path.reverse()
    intent, slots, gwords = None, {}, []
    word_slot: list[str | None] = [None] * n
    inst_words: dict[tuple[int, str], list[str]] = {}
    for (pi, _ps, a, kind), _i in path:
        if a is None:
            continue
        if a.intent:
            intent = a.intent
        if a.word:
            gwords.append(a.word)
            if a.slot:
                inst_words.setdefault(a.slot, []).append(a.word)
                if kind in ("match", "sub"):
                    word_slot[pi] = a.slot[1]
    for (_inst, name), ws in inst_words.items():
        slots[name] = " ".join(ws)
    return ParseResult(intent, slots, int(total), gwords, word_slot)
