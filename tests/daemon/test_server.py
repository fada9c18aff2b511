"""The daemon's WebSocket server on loopback: handshake, subscriptions, heartbeats, malformed input,
slow clients, security (token, origin, sizes) and the health/metrics endpoints. Real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.client import AsyncClient, AuthError, Client
from app.daemon.config import DaemonConfig, read_token
from app.daemon.daemon import Daemon
from app.daemon.protocol import decode_server, encode
from app.daemon.server import ConfigError, check_bind, is_loopback
from perception.stream import IntentEvent, Observation

TOKEN = "s3cret-token-0123456789abcdef"


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def intent(i: int, name: str = "select", pad: int = 0, conf: float = 0.9) -> IntentEvent:
    t = time.monotonic_ns()
    slots = {"target": "lamp", "pad": "x" * pad} if pad else {"target": "lamp"}
    return IntentEvent(f"i{i}", name, slots, conf, ["hand"], [i], t, t)


async def until(pred, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_handshake_subscription_filters_and_ping(run_daemon):
    d = run_daemon({})

    async def main():
        async with AsyncClient(d.url, name="t", validate=True) as c:  # every reply checked against its schema
            info = c.info
            assert info["protocol"] == "1" and info["client_id"].startswith("c")
            assert {"audio-chunk", "imu-batch", "video-frame", "hand-joints", "gaze-ray", "scene-targets"} <= set(
                info["accepts"]
            )
            assert info["limits"]["max_message_bytes"] > 0 and info["heartbeat_interval_s"] > 0
            assert {s["name"] for s in info["stages"]} >= {"net.audio", "hub.intents"}
            await c.subscribe(
                intents={"names": ["select"], "min_confidence": 0.5}, observations={"modalities": ["gaze"]}
            )
            ack = await c.recv(2)
            assert ack.type == "subscribed" and ack.data["streams"]["intents"]["names"] == ["select"]
            d.hub.publish_intent(intent(1, "select", conf=0.9))
            d.hub.publish_intent(intent(2, "back", conf=0.9))  # filtered by name
            d.hub.publish_intent(intent(3, "select", conf=0.2))  # filtered by confidence
            d.hub.publish_observation(Observation("hand", "pinch", 1.0, 1, 2))  # filtered by modality
            d.hub.publish_observation(
                Observation("gaze", "ray", 1.0, 1, 2, {"origin": [0, 0, 0], "direction": [0, 0, 1]})
            )
            got = [await c.recv(2), await c.recv(2)]
            assert next((e.type, e.data.get("id")) for e in got) == ("intent", "i1")
            assert got[1].type == "observation" and got[1].data["modality"] == "gaze"
            assert await c.recv(0.3) is None
            assert 0 < await c.ping() < 1.0
            await c.unsubscribe("intents")
            assert (await c.recv(2)).type == "subscribed"
            d.hub.publish_intent(intent(4))
            assert await c.recv(0.3) is None

    run(main())


def test_stats_stream_and_metrics_endpoints(run_daemon):
    d = run_daemon({})

    async def main():
        async with AsyncClient(d.url, validate=True) as c:
            await c.subscribe(stats_interval_s=0.2)
            while (ev := await c.recv(3)).type != "stats":
                pass
            assert {s["name"] for s in ev.data["stages"]} >= {"net.imu", "hub.intents"}
            assert ev.data["daemon"]["connections"]["current"] == 1
            m = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(d.http + "/metrics").read()))
            assert m["connections"]["current"] == 1 and "rate_hz" in m["stages"][0]
            prom = (
                await asyncio.to_thread(lambda: urllib.request.urlopen(d.http + "/metrics?format=prometheus").read())
            ).decode()
            assert "cuekit_clients 1" in prom and 'cuekit_stage_rate_hz{stage="net.audio"}' in prom
            health = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(d.http + "/healthz").read()))
            assert health == {"status": "ok", "clients": 1}

    run(main())


def test_malformed_messages_are_answered_counted_and_survived(run_daemon):
    d = run_daemon({"recognizers": [], "fusion": {"plugin": "fusion"}})

    async def main():
        async with AsyncClient(d.url, validate=True) as c:
            await c.subscribe(intents=True, observations=True)
            assert (await c.recv(2)).type == "subscribed"
            bad = [
                "{",
                b"\xff\xfe\x00",
                '{"type": "nope", "data": {}}',
                '{"type": "ping", "data": {"seq": "x"}}',
                b'{"type": "video-frame", "data": {"format": "jpeg"}, "payload_length": 4}\nabcd',
                (
                    b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, '
                    b'"payload_length": 99}\nshort'
                ),
            ]
            for frame in bad:
                await c.send_raw(frame)
            errors = [await c.recv(2) for _ in bad]
            assert [e.type for e in errors] == ["error"] * len(bad)
            assert [e.data["code"] for e in errors] == [
                "bad-json",
                "bad-json",
                "unknown-type",
                "schema",
                "payload",
                "payload",
            ]
            assert errors[-1].data["malformed_total"] == len(bad)
            assert d.hub.metrics()["malformed"]["total"] == len(bad)
            # the same connection and the pipeline still work: an observation becomes an intent
            t = time.monotonic_ns()
            await c.send_observation(Observation("wrist", "flick_left", 0.95, t - 40_000_000, t))
            names = set()
            while (ev := await c.recv(3)) is not None and "back" not in names:
                names.add(ev.data.get("name") or ev.data.get("kind"))
            assert "back" in names

    run(main())


def test_slow_client_gets_drop_reports_while_fast_client_loses_nothing(run_daemon):
    d = run_daemon(
        {
            "server": {
                "queue_capacity": 64,
                "send_buffer_bytes": 65536,
                "heartbeat_interval_s": 30,
                "heartbeat_timeout_s": 60,
            }
        }
    )
    n, pad = 2500, 4096  # ~10 MB: far more than the socket buffers hold for a reader that stalls

    async def main():
        fast = AsyncClient(d.url, name="fast")
        await fast.connect()
        await fast.subscribe(intents=True)
        slow = await connect(d.url, max_queue=1, max_size=None)
        await slow.send(encode("describe", {"client": {"name": "slow"}}))
        await slow.send(encode("subscribe", {"intents": {}}))
        assert decode_server(await slow.recv()).type == "info"
        assert decode_server(await slow.recv()).type == "subscribed"
        await until(lambda: len(d.hub.sessions) == 2)

        def publish():  # the pipeline's sink thread publishes at 2500/s
            for i in range(n):
                d.hub.publish_intent(intent(i, pad=pad))
                if i % 25 == 24:
                    time.sleep(0.01)

        pub = threading.Thread(target=publish)
        pub.start()
        got_fast = []
        while len(got_fast) < n:
            ev = await fast.recv(10)
            assert ev is not None, f"fast client stalled at {len(got_fast)}"
            if ev.type == "intent":
                got_fast.append(ev.data["id"])
            else:
                assert ev.type != "dropped", ev.data
        pub.join()
        # only now does the slow client read what is left for it
        got_slow, dropped, reports = [], 0, 0
        while True:
            try:
                ev = decode_server(await asyncio.wait_for(slow.recv(), 2.0))
            except TimeoutError:
                break
            if ev.type == "intent":
                got_slow.append(int(ev.data["id"][1:]))
            elif ev.type == "dropped":
                dropped += ev.data["count"]
                reports += 1
                assert ev.data["total"] == dropped and ev.data["by_type"] == {"intent": ev.data["count"]}
        await fast.close()
        await slow.close()
        return got_fast, got_slow, dropped, reports

    got_fast, got_slow, dropped, reports = run(main())
    assert got_fast == [f"i{i}" for i in range(n)]  # all, in order
    assert dropped > 0 and reports >= 1
    assert len(got_slow) + dropped == n  # every intent is either delivered or reported as dropped
    assert got_slow == sorted(got_slow)  # oldest were dropped; order kept
    assert got_slow[-1] == n - 1  # the newest survive
    assert d.hub.dropped_out == dropped


def test_heartbeat_pings_and_silent_client_is_closed(run_daemon):
    d = run_daemon({"server": {"heartbeat_interval_s": 0.2, "heartbeat_timeout_s": 1.0}})

    async def main():
        # the SDK answers pings: it stays connected well past the timeout
        async with AsyncClient(d.url) as c:
            await asyncio.sleep(2.5)
            assert c.connected and c.reconnects == 0
        # a raw client that never answers is closed by the daemon
        ws = await connect(d.url)
        await ws.send(encode("describe", {}))
        pings = 0
        with pytest.raises(ConnectionClosed) as info:
            while True:
                if decode_server(await asyncio.wait_for(ws.recv(), 5)).type == "ping":
                    pings += 1
        assert pings >= 2 and info.value.rcvd.code == 4000

    run(main())


def test_token_required_when_set_and_origin_checked(run_daemon, tmp_path):
    d = run_daemon(DaemonConfig.from_dict({"server": {"token_file": _token_file(tmp_path)}}, env={}))

    async def main():
        with pytest.raises(AuthError):
            await AsyncClient(d.url, reconnect=False).connect()
        with pytest.raises(AuthError):
            await AsyncClient(d.url, token="wrong-token-wrong-token", reconnect=False).connect()
        async with AsyncClient(d.url, token=TOKEN) as c:
            assert c.info["protocol"] == "1"
        async with connect(d.url + f"?token={TOKEN}") as ws:  # browsers cannot set headers: query works
            await ws.send(encode("describe", {}))
            assert decode_server(await ws.recv()).type == "info"
        with pytest.raises(InvalidStatus) as info:  # a web page's script: Origin is refused
            await connect(d.url, origin="http://evil.example", additional_headers={"Authorization": f"Bearer {TOKEN}"})
        assert info.value.response.status_code == 403

    run(main())

    def get(path, token=None):
        req = urllib.request.Request(d.http + path, headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            return urllib.request.urlopen(req).status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert get("/healthz") == 200  # liveness needs no token and tells nothing
    assert get("/metrics") == 401 and get("/metrics", TOKEN) == 200
    assert d.hub.metrics()["connections"]["refused"]["unauthorised"] >= 3


def _token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)
    return str(p)


def test_non_loopback_bind_requires_a_token(tmp_path):
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "glasses.local", "10.0.0.1"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="without a token"):
            check_bind(host, None)
        with pytest.raises(ConfigError, match="at least 16"):
            check_bind(host, "short")
        check_bind(host, TOKEN)
    # the daemon refuses before it builds or binds anything
    cfg = DaemonConfig.from_dict({"server": {"host": "0.0.0.0"}}, env={})
    with pytest.raises(ConfigError, match="without a token"):
        Daemon(cfg).build()
    # token files must be private
    p = tmp_path / "tok"
    p.write_text(TOKEN)
    p.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        read_token(p)
    p.chmod(0o600)
    assert read_token(p) == TOKEN
    cfg = DaemonConfig.from_dict({"server": {"host": "0.0.0.0", "token_file": str(p)}}, env={})
    assert cfg.server.token == TOKEN
    cfg.server.check()
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_cli_refuses_non_loopback_without_token(capsys):
    from app.daemon.cli import main

    assert main(["--host", "0.0.0.0", "--port", "0", "--log-format", "text"]) == 2
    assert "without a token" in capsys.readouterr().err


def test_size_limits_on_the_wire(run_daemon):
    d = run_daemon({"server": {"max_message_bytes": 200_000, "max_payload_bytes": {"video-frame": 1000}}})

    async def main():
        async with AsyncClient(d.url, reconnect=False) as c:
            await c.send_frame(b"\xff\xd8" + bytes(5000) + b"\xff\xd9")  # over the per-type payload limit
            ev = await c.recv(2)
            assert ev.type == "error" and ev.data["code"] == "too-large"
            assert 0 < await c.ping() < 1  # still connected
        # beyond the message limit the WebSocket layer closes the connection (1009) without buffering it
        ws = await connect(d.url, max_size=None)
        await ws.send(b"x" * 300_000)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 3)
        assert info.value.rcvd.code == 1009

    run(main())


def test_sync_client_and_reconnect(run_daemon):
    d = run_daemon({})
    with Client(d.url, backoff_s=(0.05, 0.2)) as c:
        c.subscribe(intents=True)
        assert c.recv(2).type == "subscribed"
        d.hub.publish_intent(intent(1))
        assert c.recv(2).data["id"] == "i1"
        # the daemon drops the connection; the client reconnects and restores its subscription
        for s in list(d.hub.sessions.values()):
            d.loop.call_soon_threadsafe(lambda s=s: asyncio.ensure_future(s.ws.close(1011, "test")))
        deadline = time.monotonic() + 5
        while c.aio.reconnects == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        deadline = time.monotonic() + 5
        while not any(s.filters.intents is not None for s in d.hub.sessions.values()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        d.hub.publish_intent(intent(2))
        ev = c.recv(2)
        while ev is not None and ev.type != "intent":
            ev = c.recv(2)
        assert ev is not None and ev.data["id"] == "i2"


def test_random_frames_on_a_live_connection(run_daemon):
    """Fuzz over the socket: 400 random or mangled frames; each gets an error reply, and the connection
    and the pipeline keep working."""
    import numpy as np

    from app.client import encoders

    d = run_daemon({"fusion": {"plugin": "fusion"}})
    rng = np.random.default_rng(7)
    good = encoders.imu_batch(np.arange(4), np.zeros((4, 3)))

    def mangle(i: int):
        k = i % 4
        if k == 0:
            return rng.bytes(int(rng.integers(0, 300)))
        if k == 1:
            return "".join(chr(int(c)) for c in rng.integers(32, 0x2FFF, int(rng.integers(1, 80))))
        if k == 2:
            b = bytearray(good)
            for j in rng.integers(0, len(b), 3):
                b[j] ^= int(rng.integers(1, 256))
            return bytes(b)
        return good[: int(rng.integers(0, len(good) - 1))]

    frames = [mangle(i) for i in range(400)]

    async def main():
        async with AsyncClient(d.url, reconnect=False) as c:
            await c.subscribe(intents=True)
            for f in frames:
                await c.send_raw(f)
            assert 0 < await c.ping(5) < 5
            t = time.monotonic_ns()
            await c.send_observation(Observation("wrist", "shake", 0.9, t - 30_000_000, t))
            names = []
            while (ev := await c.recv(3)) is not None:
                if ev.type == "intent":
                    names.append(ev.data["name"])
                    break
            # replies to items refused later, in conversion (a flipped bit making a NaN), may still be coming
            await until(lambda: len(c.errors) == d.hub.metrics()["malformed"]["total"], 3)
            return c.errors, names, c.reconnects

    errors, names, reconnects = run(main())
    m = d.hub.metrics()
    accepted = sum(v for k, v in m["messages_in"].items() if k not in ("describe", "subscribe", "ping", "observation"))
    refused_later = sum(d.daemon.inputs.failed.values())
    assert reconnects == 0 and names == ["dismiss"]
    assert m["malformed"]["total"] == len(errors)
    assert len(errors) - refused_later + accepted == len(frames)
    assert len(errors) > 300  # nearly every mangled frame is refused, each with its own reply


def test_max_clients_and_draining_refusals(run_daemon):
    d = run_daemon({"server": {"max_clients": 1}})

    async def main():
        async with AsyncClient(d.url, reconnect=False):
            with pytest.raises(InvalidStatus) as info:
                await connect(d.url)
            assert info.value.response.status_code == 503
        await until(lambda: not d.hub.sessions)
        d.hub.closing = True  # what SIGTERM sets first: new connections are turned away
        with pytest.raises(InvalidStatus) as info:
            await connect(d.url)
        assert info.value.response.status_code == 503
        health = await asyncio.to_thread(lambda: urllib.request.urlopen(d.http + "/healthz"))
        return health

    with pytest.raises(urllib.error.HTTPError) as info:
        run(main())
    assert info.value.code == 503 and json.loads(info.value.read())["status"] == "draining"
    assert d.hub.metrics()["connections"]["refused"] == {"max_clients": 1, "closing": 1}


def test_client_survives_a_daemon_restart(run_daemon):
    """The daemon goes away (restart, crash); the SDK keeps retrying, reconnects to the new one on the
    same port, handshakes again and restores its subscription."""
    first = run_daemon({})
    port = first.hub.port

    async def main():
        c = AsyncClient(first.url, backoff_s=(0.05, 0.3))
        await c.connect()
        await c.subscribe(intents={"names": ["select"]})
        assert (await c.recv(2)).type == "subscribed"
        first_id = c.info["client_id"]
        await asyncio.to_thread(first.stop)
        await until(lambda: not c.connected, 5)
        assert not await c.send_observation(Observation("hand", "pinch", 1.0, 1, 2))  # counted, not queued
        assert c.unsent == 1
        second = await asyncio.to_thread(lambda: run_daemon({}, port=port))
        assert await c.wait_connected(10)
        await until(lambda: any(s.filters.intents is not None for s in second.hub.sessions.values()), 5)
        second.hub.publish_intent(intent(5, "select"))
        second.hub.publish_intent(intent(6, "back"))  # the restored filter still applies
        got = []
        while (ev := await c.recv(1)) is not None:
            got.append((ev.type, ev.data.get("id")))
        await c.close()
        return c.reconnects, got, first_id, c.info["client_id"]

    reconnects, got, first_id, second_id = run(main())
    assert reconnects == 1 and ("intent", "i5") in got and ("intent", "i6") not in got
    assert first_id == second_id == "c1"  # a fresh daemon: the handshake really happened again
