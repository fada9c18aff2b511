"""The WebSocket side of the daemon: connections, subscriptions, fan-out, heartbeats, health/metrics.

Threading: the pipeline's worker threads call `Hub.publish_*`, which encodes the message once and
hands it to the event loop (`call_soon_threadsafe`); the loop appends it to each subscribed
client's bounded queue and that client's writer task sends it. A client that reads slowly only
fills its own queue: the oldest messages are dropped, counted, and the client is told with a
`dropped` message before the next one it gets. Nothing in the pipeline ever waits on a socket.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import hmac
import itertools
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.daemon import protocol, thumbnails
from app.daemon.ingest import KIND_OF_TYPE, ClockMap, NetworkInputs, Pushed, event_time
from app.daemon.protocol import Limits, ProtocolError, encode
from perception.sources import bind
from perception.stream import HandLandmarks, IntentEvent, Observation, VideoFrame
from perception.stream.logthrottle import log_throttled

log = logging.getLogger("cuekit.daemon.server")

VERSION = "0.1.0"
MIN_TOKEN_CHARS = bind.MIN_TOKEN_CHARS
is_loopback = bind.is_loopback

# static files served on the daemon's port: the dashboard, and the JS client it runs on
DASHBOARD_DIR = Path(__file__).with_name("dashboard")
JS_CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "js" / "src"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'"
)


class ConfigError(ValueError):
    """The daemon refuses to start with this configuration; the message says what to change."""


def check_bind(host: str, token: str | None) -> None:
    """Binding anywhere but loopback exposes the sensors of whoever wears the glasses: require a real token."""
    try:
        bind.check_bind(host, token)
    except bind.BindRefused as exc:
        raise ConfigError(str(exc)) from None


@dataclass(slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 picks a free port (tests)
    token: str | None = None
    queue_capacity: int = 256  # messages per client before the oldest are dropped
    heartbeat_interval_s: float = 5.0
    heartbeat_timeout_s: float = 20.0  # no message from the client for this long closes it
    max_clients: int = 64
    allowed_origins: list[str] = field(default_factory=list)  # browser pages allowed to connect
    send_buffer_bytes: int = 256 * 1024  # kernel send buffer per client: bounds a stalled client's backlog
    limits: Limits = field(default_factory=Limits)

    def check(self) -> None:
        check_bind(self.host, self.token)
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be an integer in 0..65535, got {self.port!r}")
        if self.queue_capacity < 1:
            raise ConfigError(f"queue_capacity must be >= 1, got {self.queue_capacity}")
        if self.heartbeat_interval_s <= 0 or self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ConfigError(
                "need 0 < heartbeat_interval_s < heartbeat_timeout_s, got "
                f"{self.heartbeat_interval_s} and {self.heartbeat_timeout_s}"
            )


@dataclass(slots=True)
class Filters:
    intents: dict[str, Any] | None = None
    observations: dict[str, Any] | None = None
    stats_interval_s: float | None = None
    frames: dict[str, Any] | None = None

    def wants_intent(self, d: dict[str, Any]) -> bool:
        f = self.intents
        if f is None:
            return False
        names = f.get("names")
        return (not names or d["name"] in names) and d["confidence"] >= f.get("min_confidence", 0.0)

    def wants_observation(self, d: dict[str, Any]) -> bool:
        f = self.observations
        if f is None:
            return False
        mods, kinds = f.get("modalities"), f.get("kinds")
        return (
            (not mods or d["modality"] in mods)
            and (not kinds or d["kind"] in kinds)
            and d["confidence"] >= f.get("min_confidence", 0.0)
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.intents is not None:
            out["intents"] = self.intents
        if self.observations is not None:
            out["observations"] = self.observations
        if self.stats_interval_s is not None:
            out["stats"] = {"interval_s": self.stats_interval_s}
        if self.frames is not None:
            out["frames"] = self.frames
        return out


_CONTROL_MAX = 512


class ClientSession:
    def __init__(self, hub: Hub, ws: ServerConnection, client_id: str) -> None:
        self.hub = hub
        self.ws = ws
        self.id = client_id
        self.remote = "{}:{}".format(*tuple(ws.remote_address[:2])) if ws.remote_address else "?"
        self.name = ""
        self.clock = ClockMap()
        self.stream_id = client_id
        self.filters = Filters()
        self.control: collections.deque[str | bytes] = collections.deque()
        self.data: collections.deque[tuple[str, str | bytes, int]] = collections.deque()
        self.capacity = hub.options.queue_capacity
        self.drop_pending: collections.Counter[str] = collections.Counter()
        self.dropped_total = 0
        self.dropped_in: collections.Counter[str] = collections.Counter()
        self.dropped_in_reported = 0
        self.sent: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.malformed = 0
        self.connected_at = time.time()
        self.last_seen = time.monotonic()
        self.wake = asyncio.Event()
        self.stats_task: asyncio.Task | None = None
        self.ping_seq = itertools.count(1)
        self.last_thumbnail_ns: dict[str, int] = {}  # per camera source, on the monotonic clock

    # queueing (event loop only) -------------------------------------------------------------------
    def send_control(self, frame: str | bytes) -> None:
        if len(self.control) >= _CONTROL_MAX:  # a client spamming bad messages cannot grow this
            self.control.popleft()
        self.control.append(frame)
        self.wake.set()

    def send_data(self, type_: str, frame: str | bytes, t_emitted_ns: int = 0) -> None:
        if len(self.data) >= self.capacity:
            old_type, _, _ = self.data.popleft()
            self.drop_pending[old_type] += 1
            self.dropped_total += 1
            self.hub.dropped_out += 1
        self.data.append((type_, frame, t_emitted_ns))
        self.wake.set()

    async def writer(self) -> None:
        try:
            await self._write_loop()
        except ConnectionClosed:
            pass  # the reader side notices too and cleans up

    async def _write_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.control or self.data or self.drop_pending:
                t_emitted = 0
                if self.control:
                    frame, type_ = self.control.popleft(), "control"
                elif self.drop_pending:
                    n = sum(self.drop_pending.values())
                    frame = encode(
                        "dropped",
                        {
                            "count": n,
                            "total": self.dropped_total,
                            "direction": "out",
                            "by_type": dict(self.drop_pending),
                        },
                    )
                    type_ = "dropped"
                    self.drop_pending.clear()
                else:
                    type_, frame, t_emitted = self.data.popleft()
                await self.ws.send(frame)  # waits while the socket is full: only this client waits
                self.sent[type_] += 1
                if type_ == "intent":
                    self.hub.intents_delivered += 1
                    # server side of delivery: emitted by fusion -> written to this client's socket
                    if t_emitted:  # 0: sent from the recent history, not fresh from fusion
                        self.hub.delivery_ms.append((time.monotonic_ns() - t_emitted) / 1e6)

    def queue_depth(self) -> int:
        return len(self.data)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "remote": self.remote,
            "queue_depth": len(self.data),
            "queue_capacity": self.capacity,
            "dropped_out": self.dropped_total,
            "dropped_in": sum(self.dropped_in.values()),
            "malformed": self.malformed,
            "sent": dict(self.sent),
            "received": dict(self.received),
            "subscriptions": self.filters.to_json(),
            "connected_s": round(time.time() - self.connected_at, 1),
        }


class Hub:
    """Owns the connections; the pipeline publishes into it from any thread."""

    def __init__(
        self,
        options: ServerOptions,
        inputs: NetworkInputs | None = None,
        pipeline_stats: Callable[[], list[dict[str, Any]]] | None = None,
        describe_extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.options = options
        self.inputs = inputs
        self.pipeline_stats = pipeline_stats or (list)
        self.describe_extra = describe_extra or (dict)
        self.sessions: dict[str, ClientSession] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: Server | None = None
        self._ids = itertools.count(1)
        self.started_at = time.time()
        self.connections_total = 0
        self.refused: collections.Counter[str] = collections.Counter()
        self.malformed: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.bytes_in = 0
        self.intents_published = 0
        self.intents_delivered = 0
        self.delivery_ms: collections.deque[float] = collections.deque(maxlen=8192)
        self.observations_published = 0
        self.dropped_out = 0
        self.dropped_in = 0
        self.closing = False
        self._tasks: set[asyncio.Task] = set()
        self._stats_cache: tuple[float, str | bytes] | None = None
        # what a client subscribing late (a dashboard) may ask for with `recent`
        self.recent_intents: collections.deque[tuple[dict[str, Any], str | bytes]] = collections.deque(maxlen=1024)
        self.expected_intents: list[str] = []  # the intents the pipeline's spec can emit (info.intents)
        self.recent_observations: collections.deque[tuple[dict[str, Any], str | bytes]] = collections.deque(maxlen=4096)
        self._hands = thumbnails.LatestHands()
        self._frame_wanted: dict[str, tuple[float, int]] = {}  # session id -> (interval_s, max_width)
        self._media_lock = threading.Lock()
        self._last_thumb: dict[tuple[str, int], int] = {}  # (source, width) -> monotonic ns of the last one
        if inputs is not None:
            inputs.on_error = self._error_from_thread

    # publishing (any thread) ----------------------------------------------------------------------
    def publish_intent(self, ev: IntentEvent) -> None:
        d = ev.to_json()
        frame = encode("intent", d)
        # delivery is timed from here on the host's monotonic clock: the intent's own t_emitted_ns is on
        # the pipeline clock, which during a replay holds recorded times (a "latency" of 10^6 ms)
        self._call(self._fanout_intent, d, frame, time.monotonic_ns())

    def publish_observation(self, obs: Observation) -> None:
        d = obs.to_json()
        frame = encode("observation", d)
        self._call(self._fanout_observation, d, frame)

    def publish_media(self, item: Any) -> None:
        """Camera frames and hand landmarks (the `hub.frames` tap): a thumbnail for each `frames`
        subscriber at the rate it asked for, encoded once per width, only when someone wants it."""
        if isinstance(item, HandLandmarks):
            with self._media_lock:
                self._hands.update(item)
            return
        if not isinstance(item, VideoFrame) or not self._frame_wanted:
            return
        now = time.monotonic_ns()
        widths: set[int] = set()
        with self._media_lock:  # the event loop changes the subscriptions
            wanted = list(self._frame_wanted.values())
        for interval_s, width in wanted:
            last = self._last_thumb.get((item.source_id, width), 0)
            if now - last >= interval_s * 1e9 * 0.9:
                widths.add(width)
        for width in widths:
            self._last_thumb[(item.source_id, width)] = now
            with self._media_lock:
                hands = self._hands.for_frame(item)
            try:
                th = thumbnails.make_thumbnail(item, hands, width)
            except ValueError as exc:
                log.warning("no thumbnail of %s: %s", item.source_id, exc)
                continue
            self._call(self._fanout_thumbnail, width, encode("thumbnail", th.data, th.jpeg))

    def _fanout_thumbnail(self, width: int, frame: str | bytes) -> None:
        for s in self.sessions.values():
            f = s.filters.frames
            if f is not None and int(f.get("max_width", 240)) == width:
                s.send_data("thumbnail", frame)

    def _call(self, fn, *args) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed between the check and the call (shutdown)
            pass

    def _fanout_intent(self, d: dict[str, Any], frame: str | bytes, t_published_ns: int) -> None:
        self.intents_published += 1
        self.recent_intents.append((d, frame))
        for s in self.sessions.values():
            if s.filters.wants_intent(d):
                s.send_data("intent", frame, t_published_ns)

    def _fanout_observation(self, d: dict[str, Any], frame: str | bytes) -> None:
        self.observations_published += 1
        self.recent_observations.append((d, frame))
        for s in self.sessions.values():
            if s.filters.wants_observation(d):
                s.send_data("observation", frame)

    def _error_from_thread(self, client_id: str, exc: ProtocolError) -> None:
        self._call(self._report_error, client_id, exc)

    def _report_error(self, client_id: str, exc: ProtocolError) -> None:
        self.malformed[exc.code] += 1
        s = self.sessions.get(client_id)
        if s is not None:
            s.malformed += 1
            s.send_control(
                encode(
                    "error",
                    {
                        "code": exc.code,
                        "message": exc.message,
                        "ref_type": exc.ref_type,
                        "malformed_total": s.malformed,
                    },
                )
            )

    # HTTP: health, metrics, auth -----------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        token = self.options.token
        if not token:
            return True
        given = ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[7:].strip()
        else:
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
            given = (q.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), token.encode())

    def _json_response(self, conn: ServerConnection, status: HTTPStatus, body: dict[str, Any]) -> Response:
        r = conn.respond(status, json.dumps(body, indent=1, default=str) + "\n")
        r.headers["Content-Type"] = "application/json"
        return r

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urllib.parse.urlsplit(request.path).path
        if path in ("/healthz", "/health"):
            status = "draining" if self.closing else "ok"
            return self._json_response(
                conn,
                HTTPStatus.OK if not self.closing else HTTPStatus.SERVICE_UNAVAILABLE,
                {"status": status, "clients": len(self.sessions)},
            )
        if not self._authorised(request):
            self.refused["unauthorised"] += 1
            log_throttled(
                log,
                "refused-token",
                logging.WARNING,
                "refused %s %s: missing or wrong token",
                conn.remote_address,
                path,
            )
            return conn.respond(HTTPStatus.UNAUTHORIZED, "a valid token is required (Authorization: Bearer ...)\n")
        if path == "/dashboard" or path.startswith(("/dashboard/", "/client/")):
            return self._static(conn, request, path)
        if path == "/metrics":
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
            if (q.get("format") or [""])[0] == "prometheus":
                r = conn.respond(HTTPStatus.OK, prometheus_text(self.metrics()))
                r.headers["Content-Type"] = "text/plain; version=0.0.4"
                return r
            return self._json_response(conn, HTTPStatus.OK, self.metrics())
        if path not in ("/", "/ws"):
            return conn.respond(HTTPStatus.NOT_FOUND, "endpoints: / (WebSocket), /healthz, /metrics, /dashboard/\n")
        if not self._origin_allowed(request):
            self.refused["origin"] += 1
            origin = request.headers.get("Origin", "")
            log.warning("refused %s: origin %s is not allowed", conn.remote_address, origin[:200])
            return conn.respond(
                HTTPStatus.FORBIDDEN,
                f"origin {origin[:200]} is not allowed to connect; to let "
                "that page in, list it in the daemon config: [server] allowed_origins = "
                f'["{origin[:200]}"]\n',
            )
        if self.closing:
            self.refused["closing"] += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the daemon is shutting down\n")
        if len(self.sessions) >= self.options.max_clients:
            self.refused["max_clients"] += 1
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, f"at most {self.options.max_clients} clients\n")
        return None

    def _origin_allowed(self, request: Request) -> bool:
        """Programs send no Origin; browser pages only from `allowed_origins` or the dashboard this daemon
        serves (same origin as the request's Host). Same-origin counts only for a loopback host name or
        when a token guards the socket: a DNS-rebinding page is same-origin under its own host name."""
        origin = request.headers.get("Origin")
        if origin is None or origin in self.options.allowed_origins:
            return True
        host = request.headers.get("Host", "")
        if origin.lower() not in (f"http://{host}".lower(), f"https://{host}".lower()):
            return False
        return is_loopback(urllib.parse.urlsplit(origin).hostname or "") or bool(self.options.token)

    def _static(self, conn: ServerConnection, request: Request, path: str) -> Response:
        """A dashboard file (token already checked). index.html gets the token query into its script and
        style URLs: a page cannot attach a header to the requests it makes for them."""
        if path.startswith("/client/"):
            base, name = JS_CLIENT_DIR, path[len("/client/") :]
        else:
            base, name = DASHBOARD_DIR, path[len("/dashboard/") :] or "index.html"
        f = (base / name).resolve()
        if "/" in name or f.parent != base.resolve() or f.suffix not in _CONTENT_TYPES or not f.is_file():
            return conn.respond(HTTPStatus.NOT_FOUND, f"no such file: {path[:200]}\n")
        body = f.read_bytes()
        if f.name == "index.html":
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query).get("token")
            token = self.options.token
            # only the daemon's own token goes into the page (a header-authorised request may carry any query)
            ok = bool(q and token and hmac.compare_digest(q[0].encode(), token.encode()))
            suffix = "?" + urllib.parse.urlencode({"token": token}) if ok else ""
            body = body.replace(b"{{query}}", suffix.replace("&", "&amp;").encode())
        headers = Headers(
            {
                "Content-Type": _CONTENT_TYPES[f.suffix],
                "Content-Length": str(len(body)),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": _CSP,
                "Referrer-Policy": "no-referrer",
            }
        )
        return Response(HTTPStatus.OK, "OK", headers, body)

    def metrics(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "protocol": protocol.PROTOCOL_VERSION,
            "uptime_s": round(time.time() - self.started_at, 1),
            "clients": [s.to_json() for s in self.sessions.values()],
            "connections": {
                "current": len(self.sessions),
                "total": self.connections_total,
                "refused": dict(self.refused),
            },
            "messages_in": dict(self.received),
            "bytes_in": self.bytes_in,
            "malformed": {"total": sum(self.malformed.values()), "by_code": dict(self.malformed)},
            "intents": {
                "published": self.intents_published,
                "delivered": self.intents_delivered,
                "delivery_ms": _percentiles(self.delivery_ms),
            },
            "observations_published": self.observations_published,
            "dropped": {
                "out": self.dropped_out,
                "in": self.dropped_in,
                "in_queues": self.inputs.dropped() if self.inputs else {},
            },
            "stages": self.pipeline_stats(),
        }

    # connections --------------------------------------------------------------------------------
    def info(self, s: ClientSession) -> dict[str, Any]:
        o = self.options
        d = {
            "server": {"name": "cuekit", "version": VERSION},
            "protocol": protocol.PROTOCOL_VERSION,
            "client_id": s.id,
            "heartbeat_interval_s": o.heartbeat_interval_s,
            "heartbeat_timeout_s": o.heartbeat_timeout_s,
            "limits": o.limits.to_json(),
            "accepts": list(protocol.CONTROL_TYPES) + (self.inputs.accepts() if self.inputs else []),
            "streams": list(protocol.STREAMS),
            "emits": list(protocol.SERVER_TYPES),
            "queue_capacity": o.queue_capacity,
        }
        if self.expected_intents:
            d["intents"] = list(self.expected_intents)
        d.update(self.describe_extra())
        return d

    async def handler(self, ws: ServerConnection) -> None:
        s = ClientSession(self, ws, f"c{next(self._ids)}")
        if self.options.send_buffer_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.options.send_buffer_bytes)
        self.sessions[s.id] = s
        self.connections_total += 1
        log.info("client %s connected from %s", s.id, s.remote, extra={"client": s.id, "remote": s.remote})
        writer = asyncio.create_task(s.writer(), name=f"writer:{s.id}")
        reason = "closed"
        try:
            async for frame in ws:
                s.last_seen = time.monotonic()
                self._on_frame(s, frame)
        except ConnectionClosed as exc:
            reason = f"closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        finally:
            writer.cancel()
            if s.stats_task is not None:
                s.stats_task.cancel()
            self.sessions.pop(s.id, None)
            with self._media_lock:
                self._frame_wanted.pop(s.id, None)
            log.info(
                "client %s disconnected: %s; sent %s, dropped %d, malformed %d",
                s.id,
                reason,
                dict(s.sent),
                s.dropped_total,
                s.malformed,
                extra={"client": s.id},
            )

    def _on_frame(self, s: ClientSession, frame: str | bytes) -> None:
        self.bytes_in += len(frame)
        try:
            ev = protocol.decode(frame, self.options.limits)
        except ProtocolError as exc:
            self._report_error(s.id, exc)
            log_throttled(
                log,
                f"malformed:{s.id}",
                logging.WARNING,
                "client %s sent a malformed message (%d so far): %s",
                s.id,
                s.malformed,
                exc,
                extra={"client": s.id},
            )
            return
        except Exception as exc:  # decode must never raise anything else; keep the connection anyway
            log.exception("decoder bug on a message from %s", s.id)
            self._report_error(s.id, ProtocolError("internal", f"{type(exc).__name__}: {exc}"))
            return
        self.received[ev.type] += 1
        s.received[ev.type] += 1
        handler = getattr(self, "_on_" + ev.type.replace("-", "_"), None)
        if handler is not None:
            handler(s, ev)
        else:
            self._on_input(s, ev)

    def _on_describe(self, s: ClientSession, ev: protocol.Event) -> None:
        client = ev.data.get("client", {})
        s.name = client.get("name", "")
        s.clock = ClockMap(shared=ev.data.get("clock") == "shared")
        if ev.data.get("stream_id"):
            s.stream_id = ev.data["stream_id"]
        s.send_control(encode("info", self.info(s)))

    def _on_subscribe(self, s: ClientSession, ev: protocol.Event) -> None:
        d = ev.data
        recent: list[tuple[str, dict[str, Any], str | bytes]] = []
        if "observations" in d:
            s.filters.observations = d["observations"]
            n = int(d["observations"].get("recent", 0))
            if n:  # what was published before this client came (a dashboard opened mid-session)
                recent += [
                    ("observation", o, f) for o, f in self.recent_observations if s.filters.wants_observation(o)
                ][-n:]
        if "intents" in d:
            s.filters.intents = d["intents"]
            n = int(d["intents"].get("recent", 0))
            if n:
                recent += [("intent", i, f) for i, f in self.recent_intents if s.filters.wants_intent(i)][-n:]
        if "frames" in d:
            s.filters.frames = d["frames"]
            with self._media_lock:
                self._frame_wanted[s.id] = (
                    float(d["frames"].get("interval_s", 0.2)),
                    int(d["frames"].get("max_width", 240)),
                )
        if "stats" in d:
            s.filters.stats_interval_s = float(d["stats"].get("interval_s", 1.0))
            if s.stats_task is not None:
                s.stats_task.cancel()
            s.stats_task = asyncio.create_task(self._stats_loop(s), name=f"stats:{s.id}")
        s.send_control(encode("subscribed", {"streams": s.filters.to_json()}))
        for type_, _, f in recent:
            s.send_data(type_, f)

    def _on_unsubscribe(self, s: ClientSession, ev: protocol.Event) -> None:
        streams = ev.data.get("streams", list(protocol.STREAMS))
        if "intents" in streams:
            s.filters.intents = None
        if "observations" in streams:
            s.filters.observations = None
        if "stats" in streams:
            s.filters.stats_interval_s = None
            if s.stats_task is not None:
                s.stats_task.cancel()
                s.stats_task = None
        if "frames" in streams:
            s.filters.frames = None
            with self._media_lock:
                self._frame_wanted.pop(s.id, None)
        s.send_control(encode("subscribed", {"streams": s.filters.to_json()}))

    def _on_ping(self, s: ClientSession, ev: protocol.Event) -> None:
        s.send_control(encode("pong", {"seq": ev.data.get("seq", 0), "t_ns": time.monotonic_ns()}))

    def _on_pong(self, s: ClientSession, ev: protocol.Event) -> None:
        pass  # last_seen was updated on arrival

    def _on_input(self, s: ClientSession, ev: protocol.Event) -> None:
        if self.inputs is None or KIND_OF_TYPE[ev.type] not in self.inputs.channels:
            self._report_error(
                s.id,
                ProtocolError(
                    "unknown-type", f"this daemon does not take {ev.type} input (see `accepts` in info)", ev.type
                ),
            )
            return
        arrival = time.monotonic_ns()
        t_client = event_time(ev)
        try:
            t_local = s.clock.to_local(t_client, arrival)
        except ProtocolError as exc:  # a stamp outside the sanity bounds: refused, the clock map kept
            self.inputs.failed[KIND_OF_TYPE[ev.type]] += 1  # counted with the items refused in conversion
            self._report_error(s.id, exc)
            log_throttled(log, f"timestamp:{s.id}", logging.WARNING, "client %s: %s", s.id, exc)
            return
        offset = 0 if t_client is None else t_local - t_client
        ok = self.inputs.push(
            Pushed(
                ev,
                t_local,
                offset,
                f"{s.stream_id}/{ev.data.get('source_id') or ev.type}",
                s.id,
                stamped=t_client is not None,
            )
        )
        if not ok:
            self.dropped_in += 1
            s.dropped_in[ev.type] += 1
            n = sum(s.dropped_in.values())
            if n == 1 or n - s.dropped_in_reported >= 50:  # tell the producer, without flooding it
                s.send_control(
                    encode(
                        "dropped",
                        {
                            "count": n - s.dropped_in_reported,
                            "total": n,
                            "direction": "in",
                            "by_type": dict(s.dropped_in),
                        },
                    )
                )
                s.dropped_in_reported = n

    def _stats_frame(self) -> str | bytes:
        # many clients subscribed to stats share one snapshot per 100 ms instead of one each
        now = time.monotonic()
        if self._stats_cache is None or now - self._stats_cache[0] > 0.1:
            m = self.metrics()
            stages = m.pop("stages")
            self._stats_cache = (now, encode("stats", {"t_ns": time.monotonic_ns(), "stages": stages, "daemon": m}))
        return self._stats_cache[1]

    async def _stats_loop(self, s: ClientSession) -> None:
        while s.filters.stats_interval_s:
            await asyncio.sleep(s.filters.stats_interval_s)
            s.send_data("stats", self._stats_frame())

    async def _heartbeat(self) -> None:
        o = self.options
        while True:
            await asyncio.sleep(o.heartbeat_interval_s)
            now = time.monotonic()
            for s in list(self.sessions.values()):
                if now - s.last_seen > o.heartbeat_timeout_s:
                    log.warning("client %s silent for %.1f s: closing", s.id, now - s.last_seen, extra={"client": s.id})
                    self._spawn(s.ws.close(4000, "heartbeat timeout"))
                else:
                    s.send_control(encode("ping", {"seq": next(s.ping_seq), "t_ns": time.monotonic_ns()}))

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> Server:
        self.options.check()
        self.loop = asyncio.get_running_loop()
        # Origin is checked in process_request (_origin_allowed): the dashboard's own origin is known only
        # from each request's Host
        self.server = await serve(
            self.handler,
            self.options.host,
            self.options.port,
            process_request=self.process_request,
            max_size=self.options.limits.max_message_bytes,
            origins=None,
            ping_interval=None,
            write_limit=64 * 1024,
            server_header=f"cuekit/{VERSION}",
        )
        self._spawn(self._heartbeat())
        return self.server

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def flush(self, timeout: float) -> bool:
        """Wait until every client's queue has been written (graceful shutdown). True if all were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(not s.data and not s.control and not s.drop_pending for s in self.sessions.values()):
                return True
            await asyncio.sleep(0.01)
        return False

    async def close(self, code: int = 1001, reason: str = "daemon shutting down") -> None:
        self.closing = True
        for s in list(self.sessions.values()):
            try:
                await asyncio.wait_for(s.ws.close(code, reason), 2.0)
            except (TimeoutError, ConnectionClosed):
                pass
        for t in list(self._tasks):
            t.cancel()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _percentiles(xs: collections.abc.Iterable[float]) -> dict[str, float]:
    a = sorted(xs)
    if not a:
        return {}
    pick = lambda q: round(a[min(len(a) - 1, int(q * len(a)))], 3)
    return {"n": len(a), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": round(a[-1], 3)}


def prometheus_text(m: dict[str, Any]) -> str:
    """The headline numbers in Prometheus text exposition format."""
    lines = [
        f"cuekit_clients {m['connections']['current']}",
        f"cuekit_connections_total {m['connections']['total']}",
        f"cuekit_intents_published_total {m['intents']['published']}",
        f"cuekit_intents_delivered_total {m['intents']['delivered']}",
        f"cuekit_malformed_total {m['malformed']['total']}",
        f"cuekit_dropped_out_total {m['dropped']['out']}",
        f"cuekit_dropped_in_total {m['dropped']['in']}",
        f"cuekit_bytes_in_total {m['bytes_in']}",
    ]
    for t, n in m["messages_in"].items():
        lines.append(f'cuekit_messages_in_total{{type="{t}"}} {n}')
    for st in m["stages"]:
        name = st["name"]
        lines.append(f'cuekit_stage_rate_hz{{stage="{name}"}} {st["rate_hz"]:.3f}')
        lines.append(f'cuekit_stage_drops_total{{stage="{name}"}} {st["drops"]}')
        lines.append(f'cuekit_stage_errors_total{{stage="{name}"}} {st["errors"]}')
        if st.get("latency_ms_p95") is not None:
            lines.append(f'cuekit_stage_latency_ms_p95{{stage="{name}"}} {st["latency_ms_p95"]:.3f}')
    return "\n".join(lines) + "\n"
