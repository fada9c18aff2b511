"""Items 5, 6, 12 (gaze), 13 and 14 (/metrics) of issue #18: binds, tokens, client clocks, throttled logs.
Real sockets, loopback only."""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from app.client import encoders
from app.daemon import ingest, protocol
from app.daemon.config import DaemonConfig
from app.daemon.server import ConfigError, check_bind
from perception.sources import bind
from perception.sources.imu import ImuTcpSource, ImuUdpSource
from perception.stream import CallbackSink, Pipeline, logthrottle

REPO = Path(__file__).resolve().parents[2]
TOKEN = "Zq8-vLr2_Wm4Tx6Kb9Np"


def _daemon_conftest():
    spec = importlib.util.spec_from_file_location("daemon_conftest", REPO / "tests" / "daemon" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        " " * 24,
        "\t" * 20,
        "aaaaaaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "0123456789abcdef",
        "short",
        "has a space in it 1234567",
    ],
)
def test_public_binds_refuse_missing_whitespace_and_trivial_tokens(token):
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(bind.BindRefused):
            bind.check_bind(host, token)
        with pytest.raises(ConfigError):
            check_bind(host, token)  # the WebSocket rule is the same rule
        with pytest.raises(bind.BindRefused):
            ImuUdpSource(0, host=host, token=token)
        with pytest.raises(bind.BindRefused):
            ImuTcpSource(0, host=host, token=token)
    bind.check_bind("127.0.0.1", token)  # loopback needs none


def test_udp_imu_plugin_on_a_public_address_without_token_refuses_to_start():
    cfg = DaemonConfig.from_dict(
        {
            "sources": [{"plugin": "imu_udp", "config": {"port": 0, "host": "0.0.0.0"}}],
            "recognizers": [{"plugin": "wrist"}],
        },
        env={},
    )
    from app.daemon.daemon import Daemon

    with pytest.raises(Exception, match="without a token") as e:
        Daemon(cfg).build()
    assert "receive IMU datagrams" in str(e.value)


def test_udp_imu_with_a_token_counts_only_datagrams_that_carry_it():
    src = ImuUdpSource(0, host="0.0.0.0", token=TOKEN, name="imu")
    src.host = "127.0.0.1"  # the test itself stays on loopback; the token rule was fixed at construction
    got = []
    pipe = Pipeline()
    pipe.add(src)
    pipe.add(CallbackSink(got.append), inputs=[src])
    src.setup()
    pipe.start()
    try:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5):
            tx.sendto(f"{i * 10},0,0,1\n".encode(), src.address)  # no token line: dropped
        for i in range(5, 10):
            tx.sendto(f"token:{TOKEN}\n{i * 10},0,0,1\n".encode(), src.address)
        tx.sendto(f"token:{TOKEN[:-1]}x\n100,0,0,1\n".encode(), src.address)  # wrong token
        deadline = time.monotonic() + 5
        while src.counters.get("datagrams", 0) < 11 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        pipe.drain(3)
    assert src.counters["unauthenticated"] == 6
    assert sum(len(b) for b in got) == 5


def test_one_absurd_client_timestamp_does_not_poison_the_clock_map():
    c = ingest.ClockMap()
    arrival = 50_000_000_000
    assert c.to_local(1_000_000_000, arrival) == arrival
    with pytest.raises(ingest.TimestampRefused):
        c.to_local(2**63 - 1, arrival + 1_000_000)
    # the next ordinary stamps map as before: not 9.2e12 ms late
    assert c.to_local(1_100_000_000, arrival + 100_000_000) == arrival + 100_000_000
    # a bad *first* stamp: the estimate re-syncs on the next sane one instead of staying 10^12 s off
    c2 = ingest.ClockMap()
    c2.to_local(4_000_000_000_000_000_000, arrival)
    t = c2.to_local(1_000_000_000, arrival + 5_000_000)
    assert t == arrival + 5_000_000 and c2.resyncs == 1


def test_a_live_daemon_keeps_fusing_after_a_poisoned_timestamp():
    """Six shakes, one observation stamped 2^63-1 in front of them: all six intents still come out."""
    conf = _daemon_conftest()
    from app.client import AsyncClient

    with conf.RunningDaemon({"fusion": {"plugin": "fusion"}}) as d:
        import asyncio

        async def main():
            names = []
            async with AsyncClient(d.url, reconnect=False) as c:
                await c.subscribe(intents=True)
                await c.send_raw(encoders.observation(_obs(2**63 - 1_000, 2**63 - 1)))
                for _ in range(6):
                    t = time.monotonic_ns()
                    await c.send_observation(_obs(t - 30_000_000, t))
                    while (ev := await c.recv(3)) is not None:
                        if ev.type == "intent":
                            names.append(ev.data["name"])
                            break
                    await asyncio.sleep(0.5)  # past the refractory period
            return names, c.errors

        names, errors = asyncio.run(main())
    assert names == ["dismiss"] * 6
    assert any(e["code"] == "timestamp" for e in errors)


def _obs(t0, t1):
    from perception.stream import Observation

    return Observation("wrist", "shake", 0.9, t0, t1)


def test_gaze_direction_of_huge_components_is_normalised_not_zeroed():
    ev = protocol.decode(encoders.gaze_ray([0, 0, 0], [1e308, 1e308, 1e308], t_ns=5))
    obs = ingest.to_item(ingest.Pushed(ev, 5, 0, "s", "c"))
    np.testing.assert_allclose(obs.payload["direction"], [3**-0.5] * 3)


def test_throttled_logging_one_line_per_interval_with_a_count(caplog):
    logthrottle.reset()
    log = logging.getLogger("cuekit.test.throttle")
    with caplog.at_level(logging.INFO, logger="cuekit.test.throttle"):
        for i in range(1000):
            logthrottle.log_throttled(log, "late:c1", logging.INFO, "late observation %d", i, interval_s=0.2)
        time.sleep(0.25)
        logthrottle.log_throttled(log, "late:c1", logging.INFO, "late observation %d", 1000, interval_s=0.2)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["late observation 0", "late observation 1000 (and 999 more like it in the last 0 s)"]


def test_refused_tokens_and_malformed_lines_are_logged_throttled(caplog, tmp_path):
    logthrottle.reset()
    conf = _daemon_conftest()
    cfg = DaemonConfig.from_dict({"fusion": {"plugin": "fusion"}}, env={"CUEKIT_TOKEN": TOKEN})
    with caplog.at_level(logging.WARNING), conf.RunningDaemon(cfg) as d:
        for _ in range(40):
            try:
                urllib.request.urlopen(d.http + "/metrics?token=wrong", timeout=5)
            except urllib.error.HTTPError as e:
                assert e.code == 401
    refused = [r for r in caplog.records if "missing or wrong token" in r.getMessage()]
    assert 1 <= len(refused) <= 2  # 40 refusals, one line (a second only if 10 s passed)
    # a UDP IMU stream of junk: one line, not one per datagram
    caplog.clear()
    src = ImuUdpSource(0, name="imu_junk")
    with caplog.at_level(logging.WARNING):
        for i in range(200):
            src._parse(f"junk line {i}")
    assert src.counters["malformed"] == 200
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


def test_metrics_delivery_latency_is_sane_during_a_replay():
    """A replayed session publishes intents stamped with recorded times; /metrics must not report
    ~10^6 ms of delivery latency for them."""
    conf = _daemon_conftest()
    from app.client import AsyncClient

    session = REPO / "assets" / "sessions" / "demo.mcap"
    cfg = DaemonConfig.from_dict(
        {"recognizers": [{"plugin": "wrist"}, {"plugin": "hand_skeleton"}], "fusion": {"plugin": "fusion"}}, env={}
    )
    cfg.replay_realtime = False
    with conf.RunningDaemon(cfg, replay=session) as d:
        import asyncio

        async def main():
            async with AsyncClient(d.url, reconnect=False) as c:
                await c.subscribe(intents=True)
                n = 0
                while (ev := await c.recv(10)) is not None:
                    n += ev.type == "intent"
                    if n >= 3:
                        break
                return n

        n = asyncio.run(main())
        with urllib.request.urlopen(d.http + "/metrics", timeout=5) as r:
            m = json.loads(r.read())
    assert n >= 3
    delivery = m["intents"]["delivery_ms"]
    assert delivery["n"] >= 3 and 0 <= delivery["p50"] and delivery["max"] < 1000, delivery


def test_late_observations_are_logged_throttled(caplog):
    """Item 13: one line per late observation flooded the log; now the first, then a count."""
    from fusion.engine import FusionEngine
    from perception.stream import Observation

    logthrottle.reset()
    eng = FusionEngine("default_ar")
    eng.push(Observation("wrist", "shake", 0.9, 9_000_000_000, 9_100_000_000))
    with caplog.at_level(logging.INFO, logger="cuekit.fusion"):
        for i in range(500):
            eng.push(Observation("wrist", "tap", 0.9, i * 1000, i * 1000 + 10), now_ns=10_000_000_000)
    assert eng.stats.late_dropped == 500
    assert len([r for r in caplog.records if "late" in r.getMessage()]) == 1
