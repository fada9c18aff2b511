"""`cuekit serve`: run the intent daemon headless until SIGINT/SIGTERM (or until a replay ends)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from app.assembly import DEFAULT_RECOGNIZERS
from app.daemon import logs
from app.daemon.config import DaemonConfig, read_token
from app.daemon.daemon import Daemon
from app.daemon.server import ConfigError
from app.plugins.base import PluginDeclined
from app.plugins.registry import PluginError
from app.recording.mcap_reader import McapDamagedError, check_magic, replay_problem

# without --config: the default graph's recognisers on what clients push (audio, video, IMU, hand
# skeletons, context); speech is built from the fusion spec
DEFAULT_CONFIG = {"recognizers": [dict(r) for r in DEFAULT_RECOGNIZERS], "fusion": {"plugin": "fusion"}}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cuekit serve", description=__doc__)
    p.add_argument(
        "--config",
        type=Path,
        help="daemon TOML (default: network inputs, the wrist and hand-skeleton "
        "recognisers and fusion with the default spec)",
    )
    p.add_argument("--replay", type=Path, help="MCAP recording to replay instead of live devices")
    p.add_argument("--fast", action="store_true", help="with --replay: as fast as possible, not in real time")
    p.add_argument("--exit-after-replay", action="store_true", help="with --replay: stop when it has played")
    p.add_argument("--host", help="override [server] host (non-loopback needs a token)")
    p.add_argument("--port", type=_port, help="override [server] port (0: any free port)")
    p.add_argument("--token-file", type=Path, help="file holding the access token (mode 600); or set CUEKIT_TOKEN")
    p.add_argument("--log-format", choices=("json", "text"), help="override [logging] format")
    p.add_argument("--print-graph", action="store_true", help="print the stage graph as JSON and exit")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = DaemonConfig.load(args.config) if args.config else DaemonConfig.from_dict(DEFAULT_CONFIG)
        if args.host:
            cfg.server.host = args.host
        if args.port is not None:
            cfg.server.port = args.port
        if args.token_file:
            cfg.server.token = read_token(args.token_file)
        if args.fast:
            cfg.replay_realtime = False
        if args.replay is not None:
            check_magic(args.replay)
        logs.setup(args.log_format or cfg.log_format, cfg.log_level)
        daemon = Daemon(cfg, replay=args.replay)
        daemon.build()
    except (ConfigError, PluginError, PluginDeclined, McapDamagedError, OSError) as exc:
        print(f"cuekit serve: {exc}", file=sys.stderr)
        return 2
    if args.print_graph:
        print(json.dumps(daemon.graph(), indent=1))
        return 0
    return asyncio.run(_serve(daemon, until_replay_done=bool(args.replay and args.exit_after_replay)))


async def _serve(daemon: Daemon, until_replay_done: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:  # a second signal: do not wait for the drain any longer
            os._exit(130)
        daemon.hub.closing = True
        loop.call_soon(stop.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        result = await daemon.run(stop, until_replay_done=until_replay_done)
    except OSError as exc:  # port taken, address not available
        print(
            f"cuekit serve: cannot listen on {daemon.config.server.host}:{daemon.config.server.port}: {exc}",
            file=sys.stderr,
        )
        daemon.pipeline.stop()
        return 1
    if until_replay_done:
        problem = replay_problem(daemon.pipeline.stages)
        if problem is not None:  # the recording did not play whole: say so, and not with status 0
            print(f"cuekit serve: {problem}", file=sys.stderr)
            return 1
    return 0 if result.drained else 1
