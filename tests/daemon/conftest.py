"""A daemon running on loopback in a background thread (its own event loop), for real-socket tests."""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import sys
import threading
from pathlib import Path
from typing import Self

import pytest

from app.daemon.config import DaemonConfig
from app.daemon.daemon import Daemon, ShutdownResult

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "glasses_sim"


class RunningDaemon:
    def __init__(self, config: dict | DaemonConfig, port: int = 0, **kw) -> None:
        cfg = config if isinstance(config, DaemonConfig) else DaemonConfig.from_dict(config, env={})
        cfg.server.port = port
        self.daemon = Daemon(cfg, **kw)
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.result: ShutdownResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="test-daemon", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()/stop()
            self.error = exc
            self._ready.set()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        orig_start = self.daemon.start

        async def start() -> None:
            await orig_start()
            self._ready.set()

        self.daemon.start = start  # type: ignore[method-assign]
        self.result = await self.daemon.run(self._stop)

    def start(self) -> RunningDaemon:
        self.thread.start()
        assert self._ready.wait(15), "daemon did not start"
        if self.error:
            raise self.error
        return self

    @property
    def hub(self):
        return self.daemon.hub

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.hub.port}/"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.hub.port}"

    def stop(self, timeout: float = 15) -> ShutdownResult:
        if self.result is None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "daemon did not stop"
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.thread.is_alive():
            self.stop()


@pytest.fixture
def run_daemon():
    started: list[RunningDaemon] = []

    def make(config: dict | DaemonConfig | None = None, **kw) -> RunningDaemon:
        d = RunningDaemon(config or {}, **kw).start()
        started.append(d)
        return d

    yield make
    for d in started:
        if d.thread.is_alive():
            d.stop()


def _installed(dist: str) -> bool:
    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False


@pytest.fixture(scope="session")
def glasses_sim_installed(tmp_path_factory):
    """The example plugin package, as `pip install -e examples/glasses_sim` (scripts/bootstrap) installs it.
    If it is not installed, the same entry points are declared through a dist-info on sys.path, which is
    what importlib.metadata reads for an installed package."""
    if _installed("cuekit-glasses-sim"):
        yield "installed"
        return
    site = tmp_path_factory.mktemp("site")
    info = site / "cuekit_glasses_sim-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cuekit-glasses-sim\nVersion: 0.1.0\n")
    import tomllib

    eps = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n" for g, items in eps.items())
    )
    sys.path[:0] = [str(site), str(EXAMPLE)]
    yield "sys.path"
    sys.path.remove(str(site))
    sys.path.remove(str(EXAMPLE))


@pytest.fixture(autouse=True)
def _restore_logging():
    """`cuekit serve` installs its own log handler on stderr; keep it from outliving a test's capture."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
