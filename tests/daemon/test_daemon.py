"""The daemon process: config, graph wiring, graceful shutdown with signals, structured logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.client import AsyncClient
from app.daemon.config import DaemonConfig
from app.daemon.daemon import Daemon
from app.daemon.server import ConfigError
from app.plugins.registry import PluginError
from perception.stream import Observation

REPO = Path(__file__).resolve().parents[2]


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown config section"):
        DaemonConfig.from_dict({"servers": {}})
    with pytest.raises(ConfigError, match=r"unknown \[server\] key"):
        DaemonConfig.from_dict({"server": {"hots": "x"}})
    with pytest.raises(ConfigError, match="inputs: unknown"):
        DaemonConfig.from_dict({"server": {"inputs": ["smell"]}})
    with pytest.raises(ConfigError, match="needs plugin"):
        DaemonConfig.from_dict({"sinks": [{"name": "x"}]})
    with pytest.raises(ConfigError, match="its config table"):
        DaemonConfig.from_dict({"sinks": [{"plugin": "osc", "port": 9000}]})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        DaemonConfig.load(bad)
    with pytest.raises(PluginError, match=r"no plugin named 'nope' in cuekit.recognizers \(available: .*fusion"):
        Daemon(DaemonConfig.from_dict({"recognizers": [{"plugin": "nope"}]}, env={})).build()
    with pytest.raises(PluginError, match="port"):
        Daemon(DaemonConfig.from_dict({"sinks": [{"plugin": "osc", "config": {"port": "x"}}]}, env={})).build()


def test_stages_are_wired_by_type():
    cfg = DaemonConfig.from_dict(
        {
            "recognizers": [{"plugin": "wrist"}],
            "fusion": {"plugin": "fusion"},
            "sinks": [{"plugin": "jsonl", "config": {"observations": True}}],
        },
        env={},
    )
    d = Daemon(cfg)
    d.build()
    g = {n["name"]: n for n in d.graph()}
    assert g["wrist_gestures"]["inputs"] == ["net.imu"]
    assert set(g["fusion"]["inputs"]) == {"net.context", "wrist_gestures", "fusion.ticker"}
    assert g["hub.intents"]["inputs"] == ["fusion"]
    assert set(g["hub.observations"]["inputs"]) == {"net.context", "wrist_gestures"}
    assert set(g["jsonl"]["inputs"]) == {"net.context", "wrist_gestures", "fusion"}


def test_graceful_shutdown_delivers_in_flight_intents_and_closes_the_sink(run_daemon, tmp_path):
    out = tmp_path / "intents.jsonl"
    d = run_daemon({"fusion": {"plugin": "fusion"}, "sinks": [{"plugin": "jsonl", "config": {"path": str(out)}}]})

    async def main():
        c = AsyncClient(d.url, reconnect=False)
        await c.connect()
        await c.subscribe(intents=True)
        assert (await c.recv(2)).type == "subscribed"
        t = time.monotonic_ns()
        # a fist may be held by fusion while a stronger reading could still arrive: in flight at shutdown
        await c.send_observation(Observation("hand", "fist", 0.95, t - 30_000_000, t))
        await c.ping()  # the daemon has read it
        result = await asyncio.to_thread(d.stop)
        got = []
        while (ev := await c.recv(2)) is not None:
            got.append(ev)
        await c.close()
        return result, got

    result, got = run(main())
    assert result.drained and result.flushed and result.stuck_stages == []
    assert [e.data["name"] for e in got if e.type == "intent"] == ["close"]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["name"] for x in lines] == ["close"]


def _wait_for_port(proc: subprocess.Popen, lines: list[dict], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited {proc.returncode}: {lines}")
            continue
        rec = json.loads(line)  # every log line is one JSON object
        lines.append(rec)
        if rec["msg"].startswith("daemon listening"):
            return rec["port"]
    raise AssertionError("daemon did not report its port")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_process_stops_cleanly_on_signal(tmp_path, sig):
    out = tmp_path / "intents.jsonl"
    cfg = tmp_path / "daemon.toml"
    cfg.write_text(f"""
[server]
port = 0
[fusion]
plugin = "fusion"
[[sinks]]
plugin = "jsonl"
config = {{ path = "{out}" }}
[logging]
format = "json"
""")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CUEKIT_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--config", str(cfg)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[dict] = []
    try:
        port = _wait_for_port(proc, lines)

        async def main():
            async with AsyncClient(f"ws://127.0.0.1:{port}/", reconnect=False) as c:
                await c.subscribe(intents=True)
                t = time.monotonic_ns()
                await c.send_observation(Observation("wrist", "flick_left", 0.9, t - 30_000_000, t))
                await c.ping()
                proc.send_signal(sig)
                got = []
                while (ev := await c.recv(5)) is not None:
                    got.append(ev)
                return got

        got = run(main())
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = [json.loads(x) for x in proc.stderr.read().splitlines() if x.strip()]
    msgs = [r["msg"] for r in lines + rest]
    assert any(m.startswith("shutting down") for m in msgs) and any(m.startswith("stopped:") for m in msgs)
    stopped = next(r for r in rest if r["msg"].startswith("stopped:"))
    assert stopped["drained"] and stopped["flushed"]
    assert "back" in [e.data["name"] for e in got if e.type == "intent"]
    assert [json.loads(x)["name"] for x in out.read_text().splitlines()] == ["back"]


def test_recording_is_closed_cleanly_and_replays_device_free(run_daemon, tmp_path, capsys):
    """Record a session pushed over the protocol; after a graceful stop the MCAP file is complete;
    `cuekit serve --replay` runs it again without devices or clients and fusion re-derives the intents."""
    from app.daemon.cli import main as serve_main
    from app.recording.mcap_reader import read_items

    rec = tmp_path / "session.mcap"
    d = run_daemon({"fusion": {"plugin": "fusion"}, "sinks": [{"plugin": "recorder", "config": {"path": str(rec)}}]})

    async def main():
        async with AsyncClient(d.url) as c:
            for kind in ["flick_left", "flick_right", "shake"]:
                t = time.monotonic_ns()
                await c.send_observation(Observation("wrist", kind, 0.9, t - 30_000_000, t))
                import numpy as np

                await c.send_imu(t - np.arange(5)[::-1] * 5_000_000, np.zeros((5, 3)) + [0, 0, 9.8])
                await asyncio.sleep(0.25)
            await c.ping()

    run(main())
    result = d.stop()
    assert result.drained
    items = [r.item for r in read_items(rec)]  # reads to the end: the file was closed properly
    names = sorted(i.name for i in items if type(i).__name__ == "IntentEvent")
    assert names == ["back", "dismiss", "next"]
    assert sum(type(i).__name__ == "ImuBatch" for i in items) == 3
    for pace in ([], ["--fast"]):  # at recorded pace, and as fast as possible
        out = tmp_path / f"replayed{len(pace)}.jsonl"
        cfg = tmp_path / "replay.toml"
        cfg.write_text(
            f'[server]\nport = 0\n[fusion]\nplugin = "fusion"\n[[sinks]]\nplugin = "jsonl"\n'
            f'config = {{ path = "{out}" }}\n[logging]\nformat = "text"\n'
        )
        assert serve_main(["--config", str(cfg), "--replay", str(rec), "--exit-after-replay", *pace]) == 0
        assert sorted(json.loads(x)["name"] for x in out.read_text().splitlines()) == names, pace


@pytest.mark.parametrize("name", ["default.toml", "glasses_sim.toml"])
def test_example_configs_build(name, glasses_sim_installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recorder writes relative to the working directory
    cfg = DaemonConfig.load(REPO / "examples" / "daemon" / name, env={})
    d = Daemon(cfg)
    d.build()
    assert "fusion" in {n["name"] for n in d.graph()} and d.skipped == []


def test_serve_reports_a_taken_port(capsys):
    import socket

    from app.daemon.cli import main as serve_main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert serve_main(["--port", str(port), "--log-format", "text"]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
