"""Throttled logging: the one way to log an event that a hostile or broken peer can repeat at will (a
late observation, a refused token, a malformed datagram). The first occurrence is logged; after that at
most one line per `interval_s` per key, saying how many were suppressed in between, so a flood of bad
input costs a few lines a minute instead of megabytes.

    log_throttled(log, "late:" + client, logging.INFO, "dropping %s: %.0f ms late", kind, ms)
"""

from __future__ import annotations

import logging
import threading
import time

DEFAULT_INTERVAL_S = 10.0
_MAX_KEYS = 4096  # keys are per client/source: a peer inventing keys cannot grow this without bound

_lock = threading.Lock()
_state: dict[tuple[str, str], list[float]] = {}  # (logger, key) -> [last_logged_monotonic, suppressed]


def log_throttled(
    logger: logging.Logger,
    key: str,
    level: int,
    msg: str,
    *args: object,
    interval_s: float = DEFAULT_INTERVAL_S,
    **kwargs: object,
) -> bool:
    """Log `msg % args` unless the same `key` was logged less than `interval_s` ago; True if logged."""
    if not logger.isEnabledFor(level):
        return False
    now = time.monotonic()
    k = (logger.name, key)
    with _lock:
        st = _state.get(k)
        if st is not None and now - st[0] < interval_s:
            st[1] += 1
            return False
        suppressed = int(st[1]) if st is not None else 0
        if len(_state) >= _MAX_KEYS and k not in _state:
            _state.clear()
        _state[k] = [now, 0]
    if suppressed:
        msg = f"{msg} (and {suppressed} more like it in the last {interval_s:.0f} s)"
    logger.log(level, msg, *args, **kwargs)  # type: ignore[arg-type]
    return True


def reset() -> None:
    """Forget every key (tests)."""
    with _lock:
        _state.clear()
