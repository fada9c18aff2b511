"""Blocking wrapper around AsyncClient for scripts and GUIs without asyncio: the client's event loop
runs in a background thread and every method waits for its result.

    with Client("ws://127.0.0.1:8765/") as c:
        c.subscribe(intents=True)
        ev = c.recv(timeout=1.0)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any, Self

from app.client.client import AsyncClient, ClientOptions
from app.daemon.protocol import Event


class Client:
    def __init__(
        self, url: str | None = None, options: ClientOptions | None = None, timeout: float = 10.0, **kw: Any
    ) -> None:
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cuekit-client", daemon=True)
        self._thread.start()
        self._async: AsyncClient = self._run(self._make(url, options, kw))

    async def _make(self, url: str | None, options: ClientOptions | None, kw: dict[str, Any]) -> AsyncClient:
        c = AsyncClient(url, options, **kw)
        return c

    def _run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout or self.timeout)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def aio(self) -> AsyncClient:
        return self._async

    @property
    def info(self) -> dict[str, Any]:
        return self._async.info

    def connect(self) -> dict[str, Any]:
        return self._run(self._async.connect())

    def close(self) -> None:
        try:
            self._run(self._async.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2.0)
            if not self._thread.is_alive():
                self._loop.close()

    def recv(self, timeout: float | None = None) -> Event | None:
        return self._run(self._async.recv(timeout), None if timeout is None else timeout + self.timeout)

    def iter(self, timeout: float | None = None) -> Iterator[Event]:
        """Events until none arrives for `timeout` seconds."""
        while True:
            ev = self.recv(timeout)
            if ev is None:
                return
            yield ev

    def __getattr__(self, name: str) -> Any:
        # subscribe, ping, send_audio, send_imu, ... : the async methods, run to completion
        attr = getattr(self._async, name)
        if asyncio.iscoroutinefunction(attr):
            return lambda *a, **kw: self._run(attr(*a, **kw))
        return attr
