"""The dashboard the daemon serves, in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium) against a real `cuekit serve --replay` of the bundled session.

Skips when the browser or selenium is missing, unless CUEKIT_REQUIRE_BROWSER=1 (CI), where it fails.
CUEKIT_DASHBOARD_SCREENSHOT=path saves what the page looked like (docs/img/dashboard.png)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.client import AsyncClient
from perception.hands import synth

REPO = Path(__file__).resolve().parents[2]
SESSION = REPO / "assets" / "sessions" / "demo.mcap"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _need_browser():
    missing = [n for n, ok in (("chromium", CHROMIUM), ("chromedriver (chromium-driver)", DRIVER)) if not ok]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip, dev extra)")
    if missing:
        msg = f"the dashboard test needs {', '.join(missing)} (scripts/bootstrap installs them)"
        if os.environ.get("CUEKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


class Serve:
    """`cuekit serve` in a subprocess on a free loopback port; its JSON log lines are collected."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        e = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
        if not env or "CUEKIT_TOKEN" not in env:
            e.pop("CUEKIT_TOKEN", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", "0", "--log-format", "json", *args],
            cwd=REPO,
            env=e,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[dict] = []
        self._port = threading.Event()
        self.port = 0
        threading.Thread(target=self._read, daemon=True).start()
        if not self._port.wait(60):
            self.stop()
            raise AssertionError(f"cuekit serve did not report its port: {self.lines[-5:]}")

    def _read(self) -> None:
        for line in self.proc.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            self.lines.append(rec)
            if rec.get("msg", "").startswith("daemon listening"):
                self.port = rec["port"]
                self._port.set()

    def metrics(self, token: str | None = None) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _wait_replayed(d: Serve, timeout: float = 60) -> dict:
    """Until the replay source has finished and fusion has flushed (published count steady)."""
    deadline, last, steady = time.monotonic() + timeout, None, 0
    while time.monotonic() < deadline:
        m = d.metrics()
        replay = next(s for s in m["stages"] if s["name"] == "replay")
        now = (replay["items_out"], m["intents"]["published"], m["observations_published"])
        steady = steady + 1 if now == last else 0
        if steady >= 5 and replay["items_out"] > 0:
            return m
        last = now
        time.sleep(0.2)
    raise AssertionError("the replay did not finish")


@pytest.fixture
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=o)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _rows(drv) -> list[dict]:
    return drv.execute_script("""
      return [...document.querySelectorAll('#intents tbody tr.intent')].map(r => ({
        id: r.dataset.intentId, name: r.dataset.intentName, slots: r.querySelector('.slots').textContent,
        evidence: [...r.querySelectorAll('.evidence .chip')].map(c => c.textContent),
        evidence_ids: [...r.querySelectorAll('.evidence .chip')]
          .map(c => c.dataset.observationIds.split(',').map(Number))
      }));""")


def _until(fn, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _browser_errors(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]


def test_dashboard_shows_every_intent_of_the_replayed_session_with_evidence_and_stages(browser):
    d = Serve("--replay", str(SESSION), "--fast")
    try:
        m = _wait_replayed(d)  # the page opens after the session has played: it asks for the recent intents
        published = m["intents"]["published"]
        browser.get(f"http://127.0.0.1:{d.port}/dashboard/")
        rows = _until(lambda: len(r := _rows(browser)) >= published and r, what=f"{published} intent rows")

        async def sdk_view():  # the same history through the Python SDK: the page shows what the daemon sent
            async with AsyncClient(f"ws://127.0.0.1:{d.port}/", reconnect=False) as c:
                await c.subscribe(intents={"recent": 1024}, observations={"recent": 4096})
                got, obs = [], {}
                while (ev := await c.recv(1.0)) is not None:
                    if ev.type == "intent":
                        got.append(ev.data)
                    elif ev.type == "observation":
                        obs[ev.data["id"]] = ev.data
                return got, obs

        sdk, observations = asyncio.run(sdk_view())
        assert [r["id"] for r in rows] == [e["id"] for e in sdk]
        assert [r["name"] for r in rows] == [e["name"] for e in sdk]
        expected = {e["name"] for e in json.loads(SESSION.with_suffix(".json").read_text())["expected_intents"]}
        assert {r["name"] for r in rows} <= expected
        select = next(r for r in rows if r["name"] == "select")
        assert select["slots"] == "target=lamp"
        # evidence: every derived_from id in one chip per kind of evidence ("gaze:point 0.90 ×17"), resolved
        # to the observation wherever the daemon published it (the page asked for recent observations too);
        # fusion's own deixis evidence stays an id
        for r, ev in zip(rows, sdk, strict=True):
            assert sorted(i for ids in r["evidence_ids"] for i in ids) == sorted(ev["derived_from"])
            for ids, chip in zip(r["evidence_ids"], r["evidence"], strict=True):
                o = observations.get(ids[0])
                label = f"{o['modality']}:{o['kind']} {o['confidence']:.2f}" if o else f"#{ids[0]}"
                assert chip == (f"{label} ×{len(ids)}" if len(ids) > 1 else label), (chip, ids)
                for i in ids[1:]:  # grouped ones really are alike
                    other = observations.get(i)
                    assert (other is None) == (o is None) and (
                        o is None or (other["kind"], other["modality"]) == (o["kind"], o["modality"])
                    )
        assert sum(not c.startswith("#") for r in rows for c in r["evidence"]) >= len(rows)
        stages = _until(
            lambda: browser.execute_script(
                "return [...document.querySelectorAll('#stages tbody tr')].map(r => r.dataset.stage)"
            ),
            what="stats",
        )
        assert {"replay", "fusion", "hub.intents", "hub.frames"} <= set(stages)
        assert browser.find_element("id", "intent-count").text == str(len(rows))
        listed = browser.find_element("id", "expected").text.split(", ")  # info.intents: what may come
        assert {r["name"] for r in rows} <= set(listed) and "volume_up" in listed
        assert _browser_errors(browser) == []
        shot = os.environ.get("CUEKIT_DASHBOARD_SCREENSHOT")
        if shot:
            browser.save_screenshot(shot)
    finally:
        d.stop()


def test_dashboard_finds_all_17_intents_of_the_bundled_session(browser):
    """`cuekit serve --replay` with no config: speech built from the spec with the session's scene."""
    expected = json.loads(SESSION.with_suffix(".json").read_text())["expected_intents"]
    d = Serve("--replay", str(SESSION), "--fast")
    try:
        _wait_replayed(d)
        browser.get(f"http://127.0.0.1:{d.port}/dashboard/")
        time.sleep(2)
        # a fast replay runs every stage at its own speed: the page shows emission order, not the acts'
        assert sorted(r["name"] for r in _rows(browser)) == sorted(e["name"] for e in expected)
    finally:
        d.stop()


def _jpeg(seed: int) -> bytes:
    img = np.full((480, 640, 3), (40, 90, 160), np.uint8)
    cv2.circle(img, (320 + seed % 50, 240), 60, (255, 255, 255), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_thumbnails_with_landmarks_and_the_test_intent_button(browser):
    """Frames and hand skeletons pushed by a headset client appear as a thumbnail with the hand drawn
    on it; the page's button pushes a test observation that fusion turns into an intent."""
    d = Serve()
    stop = threading.Event()
    try:
        browser.get(f"http://127.0.0.1:{d.port}/dashboard/")
        _until(lambda: browser.find_element("id", "status").text == "connected", what="the page to connect")

        async def headset():
            rng = np.random.default_rng(0)
            hand = synth.sample("open_palm", rng) * 2.0 + np.array([100, 60, 0])  # in 640x480 pixels
            async with AsyncClient(f"ws://127.0.0.1:{d.port}/", reconnect=False) as c:
                i = 0
                while not stop.is_set():
                    t = time.monotonic_ns()
                    await c.send_hand(
                        hand, layout="mediapipe21", space="image", handedness="right", t_ns=t, seq=i, source_id="cam"
                    )
                    await c.send_frame(_jpeg(i), t_ns=t, seq=i, source_id="cam")
                    i += 1
                    await asyncio.sleep(0.1)

        th = threading.Thread(target=lambda: asyncio.run(headset()), daemon=True)
        th.start()
        hands = _until(
            lambda: browser.execute_script(
                "const c = document.querySelector('#cameras canvas'); return c && c.dataset.hands === '1' && c.width"
            ),
            what="a thumbnail with one hand",
        )
        assert hands == 240  # max_width the page asked for
        # the skeleton is drawn: right-hand pink bones over the blue frame
        pink = browser.execute_script("""
          const c = document.querySelector('#cameras canvas'); const g = c.getContext('2d');
          const px = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
          for (let i = 0; i < px.length; i += 4) if (px[i] > 200 && px[i + 1] < 120 && px[i + 2] > 80) n++;
          return n;""")
        assert pink > 30, pink
        before = len(_rows(browser))
        browser.find_element("id", "push-test").click()
        row = _until(lambda: len(r := _rows(browser)) > before and r[-1], what="the test intent")
        assert row["name"] == "volume_up"
        _until(lambda: _rows(browser)[-1]["evidence"] == ["wrist:twist_cw 0.90"], what="its evidence")
        assert _browser_errors(browser) == []
    finally:
        stop.set()
        d.stop()


def test_dashboard_needs_the_token_when_one_is_set_and_refuses_foreign_origins(browser):
    token = "dashboard-test-token-0123456789"
    d = Serve(env={"CUEKIT_TOKEN": token})
    try:
        base = f"http://127.0.0.1:{d.port}"
        for path in ("/dashboard/", "/dashboard/app.js", "/client/index.js"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + path, timeout=5)
            assert e.value.code == 401, path
        browser.get(f"{base}/dashboard/?token={token}")
        _until(lambda: browser.find_element("id", "status").text == "connected", what="connected with the token")
        # a page from another origin is refused, and the refusal says how to allow it
        req = urllib.request.Request(
            base + "/",
            headers={
                "Origin": "http://evil.example",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Authorization": f"Bearer {token}",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 403
        assert 'allowed_origins = ["http://evil.example"]' in e.value.read().decode()
        assert d.metrics(token)["connections"]["refused"]["origin"] == 1
    finally:
        d.stop()


class InProcessDaemon:
    """A built `Daemon` served from a background thread with its own event loop."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.result = None
        self.thread = threading.Thread(target=self._main, daemon=True, name="dashboard-daemon")
        self.thread.start()
        assert self._ready.wait(30), "the daemon did not start"

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run():
            self.stop_event = asyncio.Event()
            task = asyncio.ensure_future(self.daemon.run(self.stop_event))
            while self.daemon.hub.server is None:
                await asyncio.sleep(0.01)
            self._ready.set()
            self.result = await task

        self.loop.run_until_complete(run())

    @property
    def port(self) -> int:
        return self.daemon.hub.port

    def published(self) -> int:
        return self.daemon.hub.intents_published

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


def test_dashboard_shows_all_17_intents_of_the_bundled_session_with_the_demos_graph(browser):
    """The daemon built as the demo builds it (speech, with the session's scene in its grammar), replaying
    the bundled session as fast as it can. The page lists all 17 intents in order: those published before
    it connected (recent), the rest as they come, and the ones fusion still holds when the replay ends,
    which the graceful shutdown emits and delivers before it closes the connection."""
    from app.daemon.cli import DEFAULT_CONFIG
    from app.daemon.config import DaemonConfig
    from app.daemon.daemon import Daemon

    expected = json.loads(SESSION.with_suffix(".json").read_text())["expected_intents"]
    cfg = DaemonConfig.from_dict({**DEFAULT_CONFIG, "replay": {"realtime": False}})
    cfg.server.port = 0
    daemon = Daemon(cfg, replay=SESSION)
    daemon.build()
    d = InProcessDaemon(daemon)
    try:
        browser.get(f"http://127.0.0.1:{d.port}/dashboard/")
        _until(lambda: browser.find_element("id", "status").text == "connected", what="the page to connect")
        assert daemon.pipeline.wait_for(daemon.assembly.source_names, timeout=120), "the replay did not end"
    finally:
        d.stop()  # drain: fusion emits what it holds, the hub delivers it, then closes (1001)
    assert d.result is not None and d.result.drained and d.result.flushed
    rows = _until(lambda: len(r := _rows(browser)) >= d.published() and r, what="the last intents")
    # a fast replay runs every stage at its own speed: the page shows emission order, not the acts'
    assert sorted(r["name"] for r in rows) == sorted(e["name"] for e in expected)
    assert len(rows) == d.published() == 17
    for e in expected:
        for k, v in e["slots"].items():
            assert any(r["name"] == e["name"] and f"{k}={v}" in r["slots"] for r in rows), e
    assert _until(lambda: browser.find_element("id", "status").text != "connected", what="the close")


def _handshake(port: int, host: str, origin: str | None) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    if origin is not None:
        headers["Origin"] = origin
    conn.request("GET", "/", headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_same_origin_counts_only_for_loopback_names_without_a_token():
    """The daemon's own page may connect; a DNS-rebinding page (same origin under its own host name) may
    not, unless a token guards the socket; programs without an Origin always may."""
    d = Serve()
    try:
        p = d.port
        assert _handshake(p, f"127.0.0.1:{p}", None) == 101
        assert _handshake(p, f"127.0.0.1:{p}", f"http://127.0.0.1:{p}") == 101
        assert _handshake(p, f"localhost:{p}", f"http://localhost:{p}") == 101
        assert _handshake(p, f"rebind.example:{p}", f"http://rebind.example:{p}") == 403
        assert _handshake(p, f"127.0.0.1:{p}", "http://127.0.0.1:9") == 403  # another local page
        assert d.metrics()["connections"]["refused"]["origin"] == 2
    finally:
        d.stop()
