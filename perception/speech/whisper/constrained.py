"""Grammar-constrained beam search over Whisper tokens.

The compiled word graph (perception.speech.grammar) is turned into a token automaton: from a grammar
state, the allowed tokens are those that continue some surface spelling of an outgoing word. A word's
spellings are what Whisper writes for it: " latte" / " Latte", "-roast" after a word ("light-roast"),
digits for number words (" 12"), "I" capitalised; a comma may follow a word, and a sentence may end
with ".", "?" or "!" before end-of-text, which is only allowed where the grammar can close a sentence.
So every finished hypothesis is an in-grammar command, whatever the audio was.

Confidence features of a hypothesis: its mean token log-probability and its "forcing cost", the summed
gap between the best unconstrained token and the token the grammar allowed at each step (0 when free
decoding would have said the same thing), plus the no-speech probability at the first step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from perception.speech.grammar import Grammar
from perception.speech.whisper.tokenizer import WhisperTokenizer

NUMBER_DIGITS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
}
END_PUNCT = (".", "?", "!")
_END = -1  # pseudo grammar state: sentence punctuation seen, only end-of-text may follow


def surface_forms(word: str) -> list[str]:
    forms = [word, word[:1].upper() + word[1:]]
    if word == "i" or word.startswith("i'"):
        forms = [forms[1]]
    if word in NUMBER_DIGITS:
        forms.append(NUMBER_DIGITS[word])
    return list(dict.fromkeys(forms))


@dataclass(frozen=True, slots=True)
class _Item:
    state: int  # grammar state the current word leaves from (or _END)
    prefix: tuple[int, ...] = ()  # tokens of the current word consumed so far
    after_comma: bool = False


@dataclass(slots=True)
class ConstrainedResult:
    words: list[str]
    tokens: list[int]
    logprob: float  # summed over the tokens including end-of-text
    forced: float  # summed (best free log-prob - chosen log-prob)
    n_tokens: int

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, self.n_tokens)


@dataclass(slots=True)
class _Beam:
    items: frozenset
    tokens: list[int] = field(default_factory=list)
    logprob: float = 0.0
    forced: float = 0.0


class GrammarTokenAutomaton:
    """Lazily determinised: a node is a frozenset of `_Item`s; transitions are cached."""

    def __init__(self, grammar: Grammar, tokenizer: WhisperTokenizer) -> None:
        self.grammar = grammar
        self.tokenizer = tokenizer
        self._digit_word = {v: k for k, v in NUMBER_DIGITS.items()}
        self.eot = tokenizer.special_id("<|endoftext|>")
        self.comma = tokenizer.encode(",")[0]
        self.end_punct = {tokenizer.encode(p)[0]: p for p in END_PUNCT}
        self.hyphen = tokenizer.encode("-")
        # per grammar state: (token spelling, word, destination state)
        self.spellings: list[list[tuple[tuple[int, ...], str, int]]] = [[] for _ in range(grammar.n_states)]
        self.can_end = [False] * grammar.n_states
        for s in range(grammar.n_states):
            for a in grammar.out[s]:
                if a.word is None:
                    self.can_end[s] = self.can_end[s] or a.dst == grammar.final
                    continue
                for form in surface_forms(a.word):
                    self.spellings[s].append((tokenizer.encode(" " + form), a.word, a.dst))
                    if s != 0:
                        self.spellings[s].append((self.hyphen + tokenizer.encode(form), a.word, a.dst))
        self.start = frozenset({_Item(0)})
        self._cache: dict[frozenset, dict[int, frozenset]] = {}

    def words_of(self, tokens: list[int]) -> list[str]:
        """Grammar words of an in-grammar token sequence (spelling variants undone)."""
        text = self.tokenizer.decode(tokens).replace("-", " ")
        words = [w.strip(",.?!").lower() for w in text.split()]
        return [self._digit_word.get(w, w) for w in words if w]

    def transitions(self, node: frozenset) -> dict[int, frozenset]:
        """token -> next node."""
        hit = self._cache.get(node)
        if hit is not None:
            return hit
        nxt: dict[int, set] = {}
        for it in node:
            if it.state == _END:
                nxt.setdefault(self.eot, set())
                continue
            k = len(it.prefix)
            for sp, _word, dst in self.spellings[it.state]:
                if len(sp) > k and sp[:k] == it.prefix:
                    if it.after_comma and k == 0 and sp[: len(self.hyphen)] == self.hyphen:
                        continue
                    t = sp[k]
                    if len(sp) == k + 1:
                        nxt.setdefault(t, set()).add(_Item(dst))
                    else:
                        nxt.setdefault(t, set()).add(_Item(it.state, sp[: k + 1]))
            if k == 0 and it.state != 0:
                if not it.after_comma:
                    nxt.setdefault(self.comma, set()).add(_Item(it.state, (), True))
                if self.can_end[it.state]:
                    nxt.setdefault(self.eot, set())
                    for t in self.end_punct:
                        nxt.setdefault(t, set()).add(_Item(_END))
        out = {t: frozenset(v) for t, v in nxt.items()}
        self._cache[node] = out
        return out


def beam_search(
    model,
    enc: dict[str, np.ndarray],
    automaton: GrammarTokenAutomaton,
    prompt: list[int],
    beam_size: int = 4,
    max_tokens: int = 48,
    n_best: int = 4,
) -> tuple[list[ConstrainedResult], float]:
    """In-grammar hypotheses, best first (by mean token log-prob), and the first step's log-prob of
    the no-speech token (for rejection)."""
    cache = model.empty_cache(1)
    for t in prompt[:-1]:
        _, cache = model.step(np.array([t]), cache, enc)
    beams = [_Beam(automaton.start)]
    last = np.array([prompt[-1]])
    finished: list[ConstrainedResult] = []
    no_speech_lp = 0.0
    for step in range(max_tokens):
        lp, cache = model.step(last, cache, enc)
        if step == 0:
            no_speech_lp = float(lp[0, model.no_speech_id]) if model.no_speech_id is not None else -math.inf
        cands = []
        for bi, b in enumerate(beams):
            trans = automaton.transitions(b.items)
            if not trans:
                continue
            toks = np.fromiter(trans, dtype=np.int64, count=len(trans))
            row = lp[bi]
            best_free = float(row.max())
            chosen = row[toks]
            for t, v in zip(toks.tolist(), chosen.tolist(), strict=True):
                cands.append((b.logprob + v, bi, t, best_free - v))
        if not cands:
            break
        cands.sort(key=lambda c: -c[0])
        new_beams, parents = [], []
        for score, bi, t, gap in cands:
            b = beams[bi]
            if t == automaton.eot:
                n = len(b.tokens) + 1
                finished.append(ConstrainedResult(automaton.words_of(b.tokens), b.tokens, score, b.forced + gap, n))
                continue
            new_beams.append(_Beam(automaton.transitions(b.items)[t], b.tokens + [t], score, b.forced + gap))
            parents.append(bi)
            if len(new_beams) == beam_size:
                break
        # stop when the live beams cannot beat the finished ones even by the mean log-prob
        if not new_beams or (
            len(finished) >= n_best
            and max(f.mean_logprob for f in finished) > max(b.logprob / (len(b.tokens) + 1) for b in new_beams)
        ):
            break
        beams = new_beams
        idx = np.array(parents)
        cache = {k: v[idx] for k, v in cache.items()}
        last = np.array([b.tokens[-1] for b in beams])
    finished.sort(key=lambda r: -r.mean_logprob)
    # one hypothesis per word sequence (spelling variants collapse onto the best)
    seen, uniq = set(), []
    for r in finished:
        key = tuple(r.words)
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    return uniq[:n_best], no_speech_lp
