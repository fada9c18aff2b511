"""The README's dashboard screenshot: the daemon built as the demo builds it replays the bundled session
in real time (at 2x), camera thumbnails on; headless Chromium (Debian chromium + chromium-driver,
selenium) photographs the page once the replay has ended and the last intents are in.

    .venv/bin/python scripts/screenshot_dashboard.py [--out docs/img/dashboard.png] [--speed 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.daemon.cli import DEFAULT_CONFIG
from app.daemon.config import DaemonConfig
from app.daemon.daemon import Daemon
from app.demo_session import DEFAULT_SESSION


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "dashboard.png")
    ap.add_argument("--speed", type=float, default=2.0)
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    cfg = DaemonConfig.from_dict(DEFAULT_CONFIG)  # what `cuekit serve --replay` runs
    cfg.server.port = 0
    daemon = Daemon(cfg, replay=DEFAULT_SESSION)
    daemon.build()
    daemon.pipeline.clock.speed = args.speed
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    async def serve():
        task = asyncio.ensure_future(daemon.run(stop))
        while daemon.hub.server is None:
            await asyncio.sleep(0.01)
        ready.set()
        await task

    th = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    th.start()
    ready.wait(30)
    o = Options()
    o.binary_location = shutil.which("chromium") or "chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1180"):
        o.add_argument(a)
    drv = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=o)
    try:
        drv.get(f"http://127.0.0.1:{daemon.hub.port}/dashboard/")
        daemon.pipeline.wait_for(daemon.assembly.source_names, timeout=300)
        time.sleep(3)  # the last windows close on the ticker; a stats update lands
        rows = drv.execute_script("return document.querySelectorAll('#intents tbody tr.intent').length")
        drv.save_screenshot(str(args.out))
        print(f"{args.out}: {rows} intents on the page, {daemon.hub.intents_published} published")
    finally:
        drv.quit()
        loop.call_soon_threadsafe(stop.set)
        th.join(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
