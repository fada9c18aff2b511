"""Compile a speech `Context` into ONE factorised finite-state grammar.

Pitfall (measured): one grammar alternative per expression gives a huge decoding graph and tens of
seconds per utterance. So the expansions are first turned into the minimal acyclic DFA over tokens
(words and slot references, ending in an intent marker): shared prefixes AND shared suffixes are
merged, e.g. "any order of any subset of size/roast/shots" collapses to a handful of states. Each
slot arc is then replaced by its own copy of a trie of that slot's values. The resulting word graph
is used by both the decoder (as a PocketSphinx FSG) and the text parser (edit-distance alignment),
so what the recogniser can say and what the parser understands are one object.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from perception.speech.context import Context, Token, is_slot, slot_parts
from perception.speech.parser import ParseResult, align

INTENT_MARK = "#"  # token-DFA label "#intent" closes every sequence


@dataclass
class TokenDfa:
    """Minimal acyclic DFA over tokens. State 0 is the start; `arcs[s]` maps label -> next state."""

    arcs: list[dict[str, int]]
    final: set[int]

    def language(self) -> set[tuple[str, ...]]:
        out: set[tuple[str, ...]] = set()

        def walk(s: int, acc: tuple[str, ...]) -> None:
            if s in self.final:
                out.add(acc)
            for lab, d in self.arcs[s].items():
                walk(d, acc + (lab,))

        walk(0, ())
        return out


def build_token_dfa(seqs: list[tuple[str, ...]]) -> TokenDfa:
    """Trie, then merge states with equal right languages (bottom-up hashing: exact for acyclic)."""
    trie: list[dict[str, int]] = [{}]
    final_t: set[int] = set()
    for seq in seqs:
        s = 0
        for lab in seq:
            nxt = trie[s].get(lab)
            if nxt is None:
                nxt = len(trie)
                trie.append({})
                trie[s][lab] = nxt
            s = nxt
        final_t.add(s)
    canon: dict[tuple, int] = {}
    rep: dict[int, int] = {}
    arcs: list[dict[str, int]] = []
    final: set[int] = set()

    def visit(s: int) -> int:
        if s in rep:
            return rep[s]
        kids = tuple(sorted((lab, visit(d)) for lab, d in trie[s].items()))
        key = (s in final_t, kids)
        if key not in canon:
            canon[key] = len(arcs)
            arcs.append(dict(kids))
            if s in final_t:
                final.add(canon[key])
        rep[s] = canon[key]
        return rep[s]

    root = visit(0)
    # renumber so the start is 0 and states are in topological order (BFS by longest distance)
    order = _topo(arcs, root)
    new = {old: i for i, old in enumerate(order)}
    return TokenDfa(
        arcs=[{lab: new[d] for lab, d in arcs[old].items()} for old in order], final={new[f] for f in final}
    )


def _topo(arcs: list[dict[str, int]], root: int) -> list[int]:
    indeg: dict[int, int] = defaultdict(int)
    seen, stack = {root}, [root]
    while stack:
        s = stack.pop()
        for d in arcs[s].values():
            indeg[d] += 1
            if d not in seen:
                seen.add(d)
                stack.append(d)
    order, ready = [], [root]
    while ready:
        s = ready.pop()
        order.append(s)
        for d in sorted(arcs[s].values()):
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    return order


@dataclass(slots=True)
class Arc:
    src: int
    dst: int
    word: str | None  # None: epsilon
    slot: tuple[int, str] | None = None  # (slot instance, slot name) for words inside a slot value
    intent: str | None = None  # set on the epsilon arc that closes a sentence


@dataclass
class Grammar:
    """The word graph: states 0..n_states-1, start 0, single final state `final`."""

    context: Context
    token_dfa: TokenDfa
    n_states: int
    final: int
    arcs: list[Arc]
    out: list[list[Arc]] = field(default_factory=list)
    topo: list[int] = field(default_factory=list)

    @property
    def words(self) -> set[str]:
        return {a.word for a in self.arcs if a.word}

    def fsg_transitions(self) -> list[tuple]:
        """(src, dst, prob[, word]) with probability split evenly over each state's branches."""
        out = []
        for s in range(self.n_states):
            arcs = self.out[s]
            for a in arcs:
                p = 1.0 / len(arcs)
                out.append((a.src, a.dst, p, a.word) if a.word else (a.src, a.dst, p))
        return out

    def accepts(self, words: list[str]) -> bool:
        return self.parse(words).edits == 0 if words else False

    def parse(self, words: list[str]) -> ParseResult:
        return align(self, words)

    def to_jsgf(self) -> str:
        """The same language as JSGF text (for other toolkits and for reading): one public rule,
        factorised along the token DFA, slot lists as their own rules."""
        dfa = self.token_dfa
        memo: dict[int, str] = {}
        indeg: dict[int, int] = defaultdict(int)
        for arcs in dfa.arcs:
            for d in arcs.values():
                indeg[d] += 1
        shared = sorted(s for s, k in indeg.items() if k > 1 and dfa.arcs[s])

        def ref(s: int) -> str:
            return f"<s{s}>" if s in shared and expr(s) else expr(s)

        def lab(t: str) -> str:
            return f"<{slot_parts(t)[0]}>" if is_slot(t) else t

        def expr(s: int) -> str:
            if s in memo:
                return memo[s]
            alts = [
                lab(t) + ("" if not (e := ref(d)) else " " + e)
                for t, d in sorted(dfa.arcs[s].items())
                if not t.startswith(INTENT_MARK)
            ]
            ends = any(t.startswith(INTENT_MARK) for t in dfa.arcs[s])
            if not alts:
                r = ""
            elif ends:
                r = "[ " + (alts[0] if len(alts) == 1 else "( " + " | ".join(alts) + " )") + " ]"
            else:
                r = alts[0] if len(alts) == 1 else "( " + " | ".join(alts) + " )"
            memo[s] = r
            return r

        lines = ["#JSGF V1.0;", f"grammar {self.context.name.replace('-', '_')};", f"public <command> = {expr(0)};"]
        lines += [f"<s{s}> = {expr(s)};" for s in shared if expr(s)]
        for typ, vals in sorted(self.context.slots.items()):
            lines.append(f"<{typ}> = " + " | ".join(vals) + ";")
        return "\n".join(lines) + "\n"


def compile_grammar(context: Context) -> Grammar:
    seqs = [seq + (INTENT_MARK + intent,) for intent, seq in context.token_sequences()]
    if not seqs:
        raise ValueError(f"context {context.name!r} has no expressions")
    dfa = build_token_dfa(seqs)
    n = len(dfa.arcs)
    # every sequence ends with an intent marker, so the minimal DFA has one final state with no arcs
    (final,) = dfa.final
    arcs: list[Arc] = []
    inst = itertools.count()
    for s, d in enumerate(dfa.arcs):
        for lab, dst in d.items():
            if lab.startswith(INTENT_MARK):
                arcs.append(Arc(s, dst, None, intent=lab[len(INTENT_MARK) :]))
            elif is_slot(lab):
                typ, name = slot_parts(lab)
                tag = (next(inst), name)
                nodes: dict[tuple[str, ...], int] = {(): s}
                for value in context.slots[typ]:
                    ws = value.split()
                    cur = s
                    for k, w in enumerate(ws):
                        if k == len(ws) - 1:
                            a = Arc(cur, dst, w, slot=tag)
                            if not any(x.src == a.src and x.dst == a.dst and x.word == w for x in arcs[-64:]):
                                arcs.append(a)
                        else:
                            key = tuple(ws[: k + 1])
                            if key not in nodes:
                                nodes[key] = n
                                n += 1
                                arcs.append(Arc(cur, nodes[key], w, slot=tag))
                            cur = nodes[key]
            else:
                arcs.append(Arc(s, dst, lab))
    # dedupe exactly-equal arcs (a value listed twice)
    seen, uniq = set(), []
    for a in arcs:
        k = (a.src, a.dst, a.word, a.slot, a.intent)
        if k not in seen:
            seen.add(k)
            uniq.append(a)
    g = Grammar(context=context, token_dfa=dfa, n_states=n, final=final, arcs=uniq)
    g.out = [[] for _ in range(n)]
    for a in uniq:
        g.out[a.src].append(a)
    g.topo = _topo([{str(i): a.dst for i, a in enumerate(g.out[s])} for s in range(n)], 0)
    if len(g.topo) != n:
        missing = sorted(set(range(n)) - set(g.topo))[:5]
        raise AssertionError(f"grammar graph has unreachable states or a cycle: {missing} of {n}")
    return g


@dataclass(slots=True)
class Verification:
    ok: bool
    token_sequences: int
    missing: list[tuple[str, ...]]
    extra: list[tuple[str, ...]]
    sampled_sentences: int
    rejected_samples: list[str]
    unparsable_walks: list[str]


def verify_grammar(g: Grammar, n_samples: int = 2000, seed: int = 0) -> Verification:
    """Check the factorised grammar accepts exactly the context's expressions: the token DFA's
    language equals the set of expansions; random context sentences are accepted by the word graph
    with the right intent and slots; random walks of the word graph parse as context sentences."""
    want = {seq + (INTENT_MARK + intent,) for intent, seq in g.context.token_sequences()}
    have = g.token_dfa.language()
    rng = np.random.default_rng(seed)
    rejected, unparsable = [], []
    for _ in range(n_samples):
        intent, text, _slots = g.context.sample_sentence(rng)
        r = g.parse(text.split())
        # ambiguous sentences may legally parse to another slot split: require acceptance and intent
        if r.edits != 0 or r.intent != intent:
            rejected.append(text)
    # random walks of the word graph: must be sentences of some expansion
    expansions = {}
    for intent, seq in g.context.token_sequences():
        expansions.setdefault(len(seq), []).append((intent, seq))
    for _ in range(min(n_samples, 500)):
        s, words = 0, []
        while s != g.final:
            a = g.out[s][int(rng.integers(len(g.out[s])))]
            if a.word:
                words.append(a.word)
            s = a.dst
        if not _matches_some_expansion(g.context, words):
            unparsable.append(" ".join(words))
    return Verification(
        ok=(want == have and not rejected and not unparsable),
        token_sequences=len(have),
        missing=sorted(want - have)[:10],
        extra=sorted(have - want)[:10],
        sampled_sentences=n_samples,
        rejected_samples=rejected[:10],
        unparsable_walks=unparsable[:10],
    )


def _matches_some_expansion(ctx: Context, words: list[str]) -> bool:
    """Independent of the graph: does `words` spell out some expansion with some slot values?"""
    vals = {t: [v.split() for v in vs] for t, vs in ctx.slots.items()}

    def match(seq: tuple[Token, ...], i: int, j: int) -> bool:
        if i == len(seq):
            return j == len(words)
        t = seq[i]
        if is_slot(t):
            return any(words[j : j + len(v)] == v and match(seq, i + 1, j + len(v)) for v in vals[slot_parts(t)[0]])
        return j < len(words) and words[j] == t and match(seq, i + 1, j + 1)

    have = set(words)
    return any(match(seq, 0, 0) for _, seq in ctx.token_sequences() if all(t in have for t in seq if not is_slot(t)))
