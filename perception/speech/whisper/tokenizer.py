"""Whisper's byte-level BPE (GPT-2 style), encode side only, read from the model's tokenizer.json.

The constrained decoder needs the token spellings of grammar words (" latte", " Latte"); the pre-
tokeniser splits text before every space, so a sentence's tokens are the concatenation of its
words' tokens and one word is encoded at a time.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from pathlib import Path

MAX_WORD_BYTES = 256
# GPT-2's pre-tokeniser with Python classes for \p{L} / \p{N}
_PRETOKEN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")


@functools.lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    # GPT-2's reversible map from bytes to printable characters
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


class WhisperTokenizer:
    def __init__(self, tokenizer_json: str | Path) -> None:
        spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{tokenizer_json}: expected a BPE model, got {model.get('type')!r}")
        self.vocab: dict[str, int] = model["vocab"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.special = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
        self.id_to_token = {i: t for t, i in self.vocab.items()} | {i: t for t, i in self.special.items()}
        self._cache: dict[str, tuple[int, ...]] = {}

    def special_id(self, name: str) -> int:
        return self.special[name]

    def encode_word(self, piece: str) -> tuple[int, ...]:
        """Tokens of one pre-token, e.g. " latte" (leading space included)."""
        if piece in self._cache:
            return self._cache[piece]
        raw = piece.encode("utf-8")
        if len(raw) > MAX_WORD_BYTES:
            raise ValueError(f"word of {len(raw)} bytes is too long for the tokenizer")
        m = _byte_to_unicode()
        parts = [m[b] for b in raw]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        ids = tuple(self.vocab[p] for p in parts)
        self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(t for piece in _PRETOKEN.findall(text) for t in self.encode_word(piece))

    def decode(self, ids: list[int]) -> str:
        inv = {c: b for b, c in _byte_to_unicode().items()}
        text = "".join(self.id_to_token.get(i, "") for i in ids if i < len(self.vocab))
        return bytes(inv[c] for c in text if c in inv).decode("utf-8", errors="replace")
