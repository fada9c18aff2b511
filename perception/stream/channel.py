"""Bounded queues between stages, with an explicit policy per stream.

- LATEST (video): a full queue drops its oldest item to admit the new one; drops are counted. A
  recogniser always works on the newest frame instead of falling behind.
- BLOCK (audio, IMU): a full queue makes the producer wait (backpressure); nothing is lost. A device
  callback that cannot wait uses OVERFLOW instead.
- OVERFLOW: a full queue refuses the new item, counts it and reports it; for producers that must
  never block (a sound-card callback) so that loss is visible, never silent.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
from typing import Any

log = logging.getLogger("cuekit.stream")


class QueuePolicy(enum.Enum):
    LATEST = "latest"
    BLOCK = "block"
    OVERFLOW = "overflow"


class EndOfStream:
    """Sentinel put on a channel when its producer has finished."""

    def __repr__(self) -> str:
        return "END"


END = EndOfStream()


class Channel:
    """`accepts`: the item types the consumer takes; others are not queued (a typed edge of the graph,
    so a mixed stream such as a replay feeds each recogniser only what it consumes)."""

    def __init__(self, name: str, capacity: int, policy: QueuePolicy, accepts: tuple[type, ...] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"channel {name!r}: capacity must be >= 1, got {capacity}")
        self.name = name
        self.accepts = accepts
        self.filtered = 0
        self.capacity = capacity
        self.policy = policy
        self.dropped = 0
        self.put_count = 0
        self._items: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._listeners: list[threading.Event] = []  # consumers waiting on several channels at once

    def add_listener(self, event: threading.Event) -> None:
        """`event` is set whenever an item (or END) is queued; a multi-input stage waits on it."""
        with self._cond:
            self._listeners.append(event)

    def _notify(self) -> None:
        self._cond.notify_all()
        for ev in self._listeners:
            ev.set()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: Any, stop: threading.Event | None = None) -> bool:
        """Queue `item` under the channel's policy. Returns False if the item was not queued."""
        if self.accepts is not None and item is not END and not isinstance(item, self.accepts):
            self.filtered += 1
            return False
        with self._cond:
            if item is END:  # end of stream always gets through, whatever the policy
                self._items.append(item)
                self._notify()
                return True
            if len(self._items) >= self.capacity:
                if self.policy is QueuePolicy.LATEST:
                    self._items.popleft()
                    self.dropped += 1
                elif self.policy is QueuePolicy.OVERFLOW:
                    self.dropped += 1
                    if self.dropped == 1 or self.dropped % 100 == 0:
                        log.warning("channel %s overflowed: %d items dropped so far", self.name, self.dropped)
                    return False
                else:
                    while len(self._items) >= self.capacity:
                        if stop is not None and stop.is_set():
                            return False
                        self._cond.wait(0.05)
            self._items.append(item)
            self.put_count += 1
            self._notify()
            return True

    def get_nowait(self) -> Any:
        """Next item, or None if the channel is empty."""
        with self._cond:
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def get(self, timeout: float) -> Any:
        """Next item, or None if none arrived within `timeout` seconds."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
                if not self._items:
                    return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item
