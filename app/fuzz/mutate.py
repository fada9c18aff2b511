"""A small byte-level mutator (no coverage feedback): seeds from a corpus, each input 1..16 stacked edits
(bit flips, random and "interesting" bytes, inserted dictionary tokens, deleted/duplicated ranges,
splices with another seed, truncation). Deterministic for a seed, so a crash is reproducible by number.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

INTERESTING_NUMBERS = (
    b"0",
    b"-1",
    b"1e308",
    b"-1e308",
    b"1e999",
    b"nan",
    b"inf",
    b"-inf",
    b"NaN",
    b"Infinity",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"4294967295",
    b"65536",
    b"99999999999999999999999999",
    b"0.0000000001",
    b"1e-320",
)
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x0A, 0x0D, 0x22, 0x5C)


class Mutator:
    def __init__(
        self, seeds: Sequence[bytes], tokens: Sequence[bytes] = (), seed: int = 0, max_len: int = 1 << 20
    ) -> None:
        if not seeds:
            raise ValueError("the mutator needs at least one seed input")
        self.seeds = [bytes(s) for s in seeds]
        self.tokens = list(tokens) + list(INTERESTING_NUMBERS)
        self.rng = random.Random(seed)
        self.max_len = max_len

    def next(self) -> bytes:
        r = self.rng
        data = bytearray(r.choice(self.seeds))
        for _ in range(1 << r.randrange(5)):  # 1, 2, 4, 8 or 16 edits
            self._edit(data)
        return bytes(data[: self.max_len])

    def _edit(self, d: bytearray) -> None:
        r = self.rng
        op = r.randrange(10)
        n = len(d)
        if n == 0 or op == 0:
            tok = r.choice(self.tokens)
            pos = r.randint(0, n)
            d[pos:pos] = tok
        elif op == 1:
            i = r.randrange(n)
            d[i] ^= 1 << r.randrange(8)
        elif op == 2:
            d[r.randrange(n)] = r.randrange(256)
        elif op == 3:
            d[r.randrange(n)] = r.choice(INTERESTING_BYTES)
        elif op == 4:
            i = r.randrange(n)
            del d[i : i + r.randint(1, min(64, n - i))]
        elif op == 5:
            i = r.randrange(n)
            chunk = d[i : i + r.randint(1, min(256, n - i))]
            j = r.randint(0, n)
            d[j:j] = chunk * r.randint(1, 8)
        elif op == 6:
            other = r.choice(self.seeds)
            if other:
                i, j = r.randrange(n), r.randrange(len(other))
                d[i:] = other[j:]
        elif op == 7:
            del d[r.randrange(n) :]
        elif op == 8:  # replace a run of digits with an interesting number
            i = r.randrange(n)
            j = i
            while j < n and chr(d[j]).isdigit():
                j += 1
            d[i:j] = r.choice(INTERESTING_NUMBERS)
        else:
            pos = r.randint(0, n)
            d[pos:pos] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
