"""Async Python client for the CueKit daemon: handshake, subscriptions, pushing sensor data,
heartbeats, and reconnection with backoff (subscriptions are restored after a reconnect).

    async with AsyncClient("ws://127.0.0.1:8765/") as c:
        await c.subscribe(intents={"min_confidence": 0.5})
        async for ev in c.events():
            print(ev.type, ev.data)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.client import encoders
from app.daemon.protocol import PROTOCOL_VERSION, Event, ProtocolError, decode_server, encode
from perception.stream import Observation

log = logging.getLogger("cuekit.client")


class AuthError(ConnectionError):
    """The daemon refused the token (HTTP 401); retrying will not help."""


@dataclass(slots=True)
class ClientOptions:
    url: str = "ws://127.0.0.1:8765/"
    token: str | None = None
    name: str = "cuekit-client"
    clock: str = "shared"  # "shared": t_ns values are this host's time.monotonic_ns(); "own": daemon maps them
    stream_id: str | None = None
    reconnect: bool = True
    backoff_s: tuple[float, float] = (0.1, 5.0)  # first and largest wait between reconnect attempts
    max_events: int = 10_000  # received events waiting for the application; oldest dropped beyond
    open_timeout_s: float = 5.0
    validate: bool = False  # check every daemon message against its JSON Schema (tests, debugging)


class AsyncClient:
    def __init__(self, url: str | None = None, options: ClientOptions | None = None, **kw: Any) -> None:
        o = options or ClientOptions(**kw)
        if url is not None:
            o.url = url
        self.options = o
        self.info: dict[str, Any] = {}
        self._ws: ClientConnection | None = None
        self._events: collections.deque[Event] = collections.deque()
        self._event_ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._subscription: dict[str, Any] | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self._pongs: dict[int, asyncio.Future] = {}
        self._ping_seq = 0
        self._info_waiter: asyncio.Future | None = None
        self.on_event: Callable[[Event], None] | None = None  # called in the loop for every event
        self.reconnects = 0
        self.unsent = 0  # pushes while disconnected (sensor data is real-time: not replayed later)
        self.events_dropped = 0  # our own queue overflowed
        self.server_dropped = 0  # the daemon told us it dropped this many for us
        self.errors: list[dict[str, Any]] = []

    # connection ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def connect(self) -> dict[str, Any]:
        """Connect, handshake (describe -> info) and start the reader; returns the server's info."""
        await self._open()
        self._reader = asyncio.create_task(self._read_loop(), name="cuekit-client-reader")
        return self.info

    async def _open(self) -> None:
        headers = {"Authorization": f"Bearer {self.options.token}"} if self.options.token else None
        try:
            ws = await connect(
                self.options.url,
                additional_headers=headers,
                max_size=64 * 1024 * 1024,
                open_timeout=self.options.open_timeout_s,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise AuthError(f"{self.options.url} refused the token (401)") from exc
            raise
        describe: dict[str, Any] = {
            "client": {"name": self.options.name},
            "protocol": PROTOCOL_VERSION,
            "clock": self.options.clock,
        }
        if self.options.stream_id:
            describe["stream_id"] = self.options.stream_id
        await ws.send(encode("describe", describe))
        # the reply comes first: the server answers control messages before anything queued
        while True:
            ev = decode_server(await asyncio.wait_for(ws.recv(), self.options.open_timeout_s))
            if ev.type == "info":
                self.info = ev.data
                break
            if ev.type == "ping":
                await ws.send(encode("pong", {"seq": ev.data.get("seq", 0)}))
        self._ws = ws
        if self._subscription is not None:
            await ws.send(encode("subscribe", self._subscription))
        self._connected.set()

    async def _read_loop(self) -> None:
        delay = self.options.backoff_s[0]
        while not self._closing:
            ws = self._ws
            try:
                assert ws is not None
                async for frame in ws:
                    self._dispatch(frame)
            except ConnectionClosed:
                pass
            self._connected.clear()
            if self._closing or not self.options.reconnect:
                return
            while not self._closing:  # reconnect with exponential backoff
                await asyncio.sleep(delay)
                try:
                    await self._open()
                    self.reconnects += 1
                    delay = self.options.backoff_s[0]
                    log.info("reconnected to %s", self.options.url)
                    break
                except AuthError:
                    log.error("reconnect refused: bad token")
                    return
                except (OSError, ConnectionClosed, TimeoutError, InvalidStatus, ProtocolError) as exc:
                    log.debug("reconnect failed: %s", exc)
                    delay = min(delay * 2, self.options.backoff_s[1])

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            ev = decode_server(frame, validate=self.options.validate)
        except ProtocolError as exc:
            log.warning("ignoring a malformed message from the daemon: %s", exc)
            return
        if ev.type == "ping":
            self._send_nowait(encode("pong", {"seq": ev.data.get("seq", 0)}))
            return
        if ev.type == "pong":
            fut = self._pongs.pop(ev.data.get("seq", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())
            return
        if ev.type == "info":
            self.info = ev.data
        if ev.type == "dropped" and ev.data.get("direction", "out") == "out":
            self.server_dropped += ev.data["count"]
        if ev.type == "error":
            self.errors.append(ev.data)
        if self.on_event is not None:
            self.on_event(ev)
        if len(self._events) >= self.options.max_events:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(ev)
        self._event_ready.set()

    def _send_nowait(self, frame: str | bytes) -> None:
        if self._ws is not None:
            asyncio.ensure_future(self._send(frame))

    async def _send(self, frame: str | bytes) -> bool:
        ws = self._ws
        if ws is None or not self._connected.is_set():
            self.unsent += 1
            return False
        try:
            await ws.send(frame)
            return True
        except ConnectionClosed:
            self.unsent += 1
            return False

    async def wait_connected(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._connected.clear()

    # receiving ----------------------------------------------------------------------------------
    async def recv(self, timeout: float | None = None) -> Event | None:
        """Next event (intent, observation, stats, dropped, error, subscribed, info), or None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            self._event_ready.clear()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                await asyncio.wait_for(self._event_ready.wait(), left)
            except TimeoutError:
                return None
        return self._events.popleft()

    @property
    def pending(self) -> int:
        """Events received and not yet taken with recv()."""
        return len(self._events)

    async def events(self) -> AsyncIterator[Event]:
        while not self._closing:
            ev = await self.recv()
            if ev is not None:
                yield ev

    # control ------------------------------------------------------------------------------------
    async def subscribe(
        self,
        intents: dict[str, Any] | bool | None = None,
        observations: dict[str, Any] | bool | None = None,
        stats_interval_s: float | None = None,
    ) -> bool:
        """Subscribe (replacing earlier filters for the streams named). `True` means no filter."""
        sub: dict[str, Any] = dict(self._subscription or {})
        if intents is not None and intents is not False:
            sub["intents"] = {} if intents is True else dict(intents)
        if observations is not None and observations is not False:
            sub["observations"] = {} if observations is True else dict(observations)
        if stats_interval_s is not None:
            sub["stats"] = {"interval_s": float(stats_interval_s)}
        self._subscription = sub
        return await self._send(encode("subscribe", sub))

    async def unsubscribe(self, *streams: str) -> bool:
        if self._subscription is not None:
            for s in streams or ("intents", "observations", "stats"):
                self._subscription.pop(s, None)
        data = {"streams": list(streams)} if streams else {}
        return await self._send(encode("unsubscribe", data))

    async def ping(self, timeout: float = 5.0) -> float:
        """Round trip time in seconds."""
        self._ping_seq += 1
        seq = self._ping_seq
        fut = asyncio.get_running_loop().create_future()
        self._pongs[seq] = fut
        t0 = time.perf_counter()
        await self._send(encode("ping", {"seq": seq}))
        t1 = await asyncio.wait_for(fut, timeout)
        return t1 - t0

    async def send_raw(self, frame: str | bytes) -> bool:
        """Send an already-encoded (or deliberately malformed, in tests) message."""
        return await self._send(frame)

    # pushing ------------------------------------------------------------------------------------
    async def send_audio(
        self,
        samples: np.ndarray,
        rate: int = 16000,
        t_ns: int | None = None,
        seq: int | None = None,
        source_id: str | None = None,
    ) -> bool:
        return await self._send(encoders.audio_chunk(samples, rate, t_ns, seq, source_id))

    async def send_imu(
        self,
        t_ns: np.ndarray,
        accel: np.ndarray,
        gyro: np.ndarray | None = None,
        mag: np.ndarray | None = None,
        seq: int | None = None,
        source_id: str | None = None,
    ) -> bool:
        return await self._send(encoders.imu_batch(t_ns, accel, gyro, mag, seq, source_id))

    async def send_frame(
        self, jpeg: bytes, t_ns: int | None = None, seq: int | None = None, source_id: str | None = None
    ) -> bool:
        return await self._send(encoders.video_frame(jpeg, t_ns, seq, source_id=source_id))

    async def send_hand(self, joints: Any, **kw: Any) -> bool:
        return await self._send(encoders.hand_joints(joints, **kw))

    async def send_gaze(self, origin: Any, direction: Any, **kw: Any) -> bool:
        return await self._send(encoders.gaze_ray(origin, direction, **kw))

    async def send_scene_targets(self, targets: Any = (), **kw: Any) -> bool:
        return await self._send(encoders.scene_targets(targets, **kw))

    async def send_observation(self, obs: Observation) -> bool:
        return await self._send(encoders.observation(obs))
