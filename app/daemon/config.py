"""The daemon's TOML configuration: server settings and the stages to run, named by plugin.

    [server]
    host = "127.0.0.1"          # anything else needs a token (CUEKIT_TOKEN or token_file)
    port = 8765
    inputs = ["audio", "imu", "video", "hands", "context"]   # what clients may push

    [[recognizers]]
    plugin = "wrist"            # a name in the cuekit.recognizers group
    [recognizers.config]        # checked against the plugin's config schema
    ...

    [fusion]
    plugin = "fusion"

    [[sinks]]
    plugin = "jsonl"

Stages are wired by type: each stage takes its inputs from every earlier stage (sources, context,
recognisers, fusion, in that order) that produces something it consumes.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.daemon.ingest import KINDS
from app.daemon.protocol import Limits
from app.daemon.server import ConfigError, ServerOptions

SECTIONS = {
    "sources": "cuekit.sources",
    "context": "cuekit.context",
    "recognizers": "cuekit.recognizers",
    "fusion": "cuekit.recognizers",
    "sinks": "cuekit.sinks",
}
_SERVER_KEYS = {
    "host",
    "port",
    "token_file",
    "queue_capacity",
    "heartbeat_interval_s",
    "heartbeat_timeout_s",
    "max_clients",
    "allowed_origins",
    "max_message_bytes",
    "max_payload_bytes",
    "inputs",
    "send_buffer_bytes",
}


@dataclass(slots=True)
class StageConfig:
    section: str
    plugin: str
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # declined or failed: run without it (logged) instead of refusing to start

    @property
    def group(self) -> str:
        return SECTIONS[self.section]


@dataclass(slots=True)
class DaemonConfig:
    server: ServerOptions = field(default_factory=ServerOptions)
    inputs: list[str] = field(default_factory=lambda: list(KINDS))
    stages: list[StageConfig] = field(default_factory=list)
    log_format: str = "json"
    log_level: str = "INFO"
    replay_realtime: bool = True
    replay_speed: float = 1.0
    drain_timeout_s: float = 5.0
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path, env: dict[str, str] | None = None) -> DaemonConfig:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a directory") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        cfg = cls.from_dict(raw, base=path.parent, env=env)
        cfg.path = path
        return cfg

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path = Path("."), env: dict[str, str] | None = None) -> DaemonConfig:
        env = dict(os.environ if env is None else env)
        unknown = set(raw) - set(SECTIONS) - {"server", "logging", "replay", "shutdown"}
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {sorted(unknown)}; expected server, sources, context, "
                "recognizers, fusion, sinks, logging, replay, shutdown"
            )
        for section in ("server", "logging", "replay", "shutdown"):
            if not isinstance(raw.get(section, {}), dict):
                raise ConfigError(f"[{section}] must be a table, got {type(raw[section]).__name__}")
        srv = dict(raw.get("server", {}))
        bad = set(srv) - _SERVER_KEYS
        if bad:
            raise ConfigError(f"unknown [server] key(s) {sorted(bad)}; known: {sorted(_SERVER_KEYS)}")
        limits = Limits()
        if "max_message_bytes" in srv:
            limits.max_message_bytes = int(srv.pop("max_message_bytes"))
        if "max_payload_bytes" in srv:
            limits.max_payload_bytes.update({k: int(v) for k, v in srv.pop("max_payload_bytes").items()})
        token = env.get("CUEKIT_TOKEN") or None
        token_file = srv.pop("token_file", None)
        if token_file:
            token = read_token(base / token_file)
        inputs = list(srv.pop("inputs", list(KINDS)))
        unknown_inputs = set(inputs) - set(KINDS)
        if unknown_inputs:
            raise ConfigError(f"[server] inputs: unknown {sorted(unknown_inputs)}; choose from {list(KINDS)}")
        _check_types("server", srv, _SERVER_TYPES)
        try:
            server = ServerOptions(token=token, limits=limits, **srv)
        except TypeError as exc:
            raise ConfigError(f"[server]: {exc}") from None
        stages = []
        for section in SECTIONS:
            entries = raw.get(section, [])
            if isinstance(entries, dict):
                entries = [entries]
            for i, e in enumerate(entries):
                if not isinstance(e, dict) or not isinstance(e.get("plugin"), str):
                    raise ConfigError(f'[{section}] entry {i}: needs plugin = "name"')
                extra = set(e) - {"plugin", "name", "config", "optional"}
                if extra:
                    raise ConfigError(
                        f"[{section}] {e['plugin']}: unknown key(s) {sorted(extra)} (plugin settings "
                        "go in its config table)"
                    )
                stages.append(
                    StageConfig(
                        section, e["plugin"], e.get("name"), dict(e.get("config", {})), bool(e.get("optional", False))
                    )
                )
        log = raw.get("logging", {})
        rep = raw.get("replay", {})
        for name, table, types in (
            ("logging", log, {"format": str, "level": str}),
            ("replay", rep, {"realtime": bool, "speed": (int, float)}),
            ("shutdown", raw.get("shutdown", {}), {"drain_timeout_s": (int, float)}),
        ):
            if not isinstance(table, dict):
                raise ConfigError(f"[{name}] must be a table, got {type(table).__name__}")
            _check_types(name, table, types)
        cfg = cls(
            server=server,
            inputs=inputs,
            stages=stages,
            log_format=log.get("format", "json"),
            log_level=str(log.get("level", "INFO")).upper(),
            replay_realtime=bool(rep.get("realtime", True)),
            replay_speed=float(rep.get("speed", 1.0)),
            drain_timeout_s=float(raw.get("shutdown", {}).get("drain_timeout_s", 5.0)),
        )
        if cfg.log_format not in ("json", "text"):
            raise ConfigError(f"[logging] format must be json or text, got {cfg.log_format!r}")
        return cfg


_SERVER_TYPES: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "queue_capacity": int,
    "heartbeat_interval_s": (int, float),
    "heartbeat_timeout_s": (int, float),
    "max_clients": int,
    "allowed_origins": list,
    "send_buffer_bytes": int,
}


def _check_types(section: str, table: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> None:
    for key, want in types.items():
        if key not in table:
            continue
        v = table[key]
        wants = want if isinstance(want, tuple) else (want,)
        if (isinstance(v, bool) and bool not in wants) or not isinstance(v, wants):
            names = " or ".join(t.__name__ for t in wants)
            raise ConfigError(f"[{section}] {key}: expected {names}, got {type(v).__name__} {v!r}")


def read_token(path: Path) -> str:
    """A token file holds the token on its first line and must not be readable by other users."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"token file {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"token file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise ConfigError(
            f"token file {path} is readable by other users (mode {st.st_mode & 0o777:o}); chmod 600 {path}"
        )
    if st.st_size > 4096:
        raise ConfigError(f"token file {path} is {st.st_size} bytes; a token file holds one short line")
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"token file {path} is not ASCII text (a binary file?)") from None
    except OSError as exc:
        raise ConfigError(f"token file {path}: cannot read ({exc.strerror})") from None
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token
