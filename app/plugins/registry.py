"""The plugin registry: built-ins plus whatever installed packages declare as entry points.

Discovery never imports plugin code; `load` does, and records why a plugin failed (import error,
wrong type) so `cuekit plugins` can say so. `create` checks the config against the plugin's JSON
Schema, runs its validate step (a hardware plugin declines when its device is absent), then builds
the stage.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from app.plugins.base import GROUPS, PluginDeclined, PluginSpec, Validation
from perception.stream import Stage

log = logging.getLogger("cuekit.plugins")


class PluginError(RuntimeError):
    """A plugin could not be found, loaded, configured or built; the message says which and why."""


@dataclass(slots=True)
class PluginEntry:
    """One row of the manifest: where a plugin comes from and whether it loaded."""

    name: str
    group: str
    target: str  # "module:attr"
    origin: str  # "builtin" or "<distribution> <version>"
    status: str = "not loaded"  # "ok" | "failed" | "declined" | "not loaded"
    error: str | None = None
    spec: PluginSpec | None = field(default=None, repr=False)
    validation: Validation | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "group": self.group,
            "target": self.target,
            "origin": self.origin,
            "status": self.status,
            "error": self.error,
        }
        if self.spec is not None:
            d["description"] = self.spec.description
            d["consumes"] = [t.__name__ for t in self.spec.consumes]
            d["produces"] = [t.__name__ for t in self.spec.produces]
            d["config_schema"] = self.spec.config_schema
        if self.validation is not None:
            d["validation"] = {"ok": self.validation.ok, "reason": self.validation.reason}
        return d


def _builtin_entries() -> list[PluginEntry]:
    from app.plugins.builtins import BUILTINS

    return [PluginEntry(name, group, target, "builtin") for (group, name), target in BUILTINS.items()]


def _entry_point_entries() -> list[PluginEntry]:
    out = []
    for group in GROUPS:
        for ep in md.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            origin = f"{dist.name} {dist.version}" if dist is not None else "entry point"
            out.append(PluginEntry(ep.name, group, ep.value, origin))
    return out


class Registry:
    def __init__(self, include_entry_points: bool = True) -> None:
        self.entries: dict[tuple[str, str], PluginEntry] = {}
        self.conflicts: list[str] = []
        for e in _builtin_entries() + (_entry_point_entries() if include_entry_points else []):
            key = (e.group, e.name)
            if key in self.entries:
                # first one wins (built-ins first), and the shadowed one is reported, never silent
                self.conflicts.append(f"{e.group}:{e.name} from {e.origin} is shadowed by {self.entries[key].origin}")
                continue
            self.entries[key] = e

    def names(self, group: str) -> list[str]:
        return sorted(n for g, n in self.entries if g == group)

    def entry(self, group: str, name: str) -> PluginEntry:
        if group not in GROUPS:
            raise PluginError(f"unknown plugin group {group!r}; choose from {', '.join(GROUPS)}")
        e = self.entries.get((group, name))
        if e is None:
            have = ", ".join(self.names(group)) or "none installed"
            raise PluginError(f"no plugin named {name!r} in {group} (available: {have})")
        return e

    def load(self, group: str, name: str) -> PluginSpec:
        e = self.entry(group, name)
        if e.spec is not None:
            return e.spec
        try:
            module_name, _, attr = e.target.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in filter(None, attr.split(".")):
                obj = getattr(obj, part)
            e.spec = PluginSpec.from_object(name, group, obj)
            e.status, e.error = "ok", None
            return e.spec
        except Exception as exc:
            e.status = "failed"
            e.error = f"{type(exc).__name__}: {exc}"
            log.debug("plugin %s:%s failed to load\n%s", group, name, traceback.format_exc())
            raise PluginError(f"plugin {name!r} ({group}, {e.origin}, {e.target}) failed to load: {e.error}") from exc

    def load_all(self) -> list[PluginEntry]:
        for group, name in list(self.entries):
            try:
                self.load(group, name)
            except PluginError:
                pass
        return list(self.entries.values())

    def check(self, group: str, name: str, config: dict[str, Any] | None = None) -> Validation:
        """Config schema + validate step, without building anything."""
        spec = self.load(group, name)
        config = dict(config or {})
        err = next(jsonschema.Draft202012Validator(spec.config_schema).iter_errors(config), None)
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(config)"
            raise PluginError(f"plugin {name!r} config at {where}: {err.message}")
        v = spec.validate(config)
        e = self.entries[(group, name)]
        e.validation = v
        if not v.ok:
            e.status = "declined"
        return v

    def create(
        self, group: str, name: str, config: dict[str, Any] | None = None, instance_name: str | None = None
    ) -> tuple[Stage, PluginSpec]:
        spec = self.load(group, name)
        v = self.check(group, name, config)
        if not v.ok:
            raise PluginDeclined(f"plugin {name!r} ({group}) declined: {v.reason}")
        try:
            stage = spec.create(dict(config or {}), instance_name)
        except Exception as exc:
            raise PluginError(f"plugin {name!r} ({group}) could not be built: {type(exc).__name__}: {exc}") from exc
        if not isinstance(stage, Stage):
            raise PluginError(f"plugin {name!r} ({group}) built {type(stage).__name__}, not a Stage")
        return stage, spec
