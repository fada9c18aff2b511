"""Progress lines for long builds, on stderr so `--json` output on stdout stays clean."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, prefix: str = "cuekit models"):
        self.enabled = enabled
        self.prefix = prefix
        self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        if self.enabled:
            print(f"[{self.prefix} {time.monotonic() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def raw(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(text)
            sys.stderr.flush()
