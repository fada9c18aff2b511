"""Small base classes for CueKit plugins.

A plugin is a pipeline `Stage` that also says what it is: the item types it consumes and produces
(the daemon wires stages by these types), a JSON Schema for its config table, and a `validate` step
run before construction so a hardware plugin can decline when its device is absent instead of
failing inside the pipeline. Every plugin class is constructed as `cls(config, name=None)`.

Entry-point groups (in a package's pyproject.toml):

    [project.entry-points."cuekit.sources"]
    my_glasses = "my_pkg.plugin:MyGlassesSource"

`cuekit.sources` produce sensor items, `cuekit.recognizers` turn them into Observations (fusion is a
recogniser consuming Observations and producing IntentEvents), `cuekit.context` produce context
Observations (scene targets, gaze, location), `cuekit.sinks` consume intents or observations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from perception.stream import IntentEvent, Observation, Sink, Source, Stage

GROUPS = ("cuekit.sources", "cuekit.recognizers", "cuekit.context", "cuekit.sinks")


@dataclass(slots=True)
class Validation:
    """Outcome of a plugin's validate step: ok, or declined with a reason a person can act on."""

    ok: bool
    reason: str = ""

    @classmethod
    def decline(cls, reason: str) -> Validation:
        return cls(False, reason)


class PluginDeclined(RuntimeError):
    """The plugin's validate step refused to run (device absent, unsupported platform, ...)."""


class PluginMixin:
    plugin_group: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    @classmethod
    def validate(cls, config: dict[str, Any]) -> Validation:
        """Check the environment (is the device there?) before the plugin is built."""
        return Validation(True)


class SourcePlugin(PluginMixin, Source):
    plugin_group = "cuekit.sources"

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        Source.__init__(self, name)
        self.config = dict(config or {})


class ContextPlugin(SourcePlugin):
    plugin_group = "cuekit.context"
    produces = (Observation,)


class RecognizerPlugin(PluginMixin, Stage):
    plugin_group = "cuekit.recognizers"
    produces = (Observation,)

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        Stage.__init__(self, name)
        self.config = dict(config or {})


class SinkPlugin(PluginMixin, Sink):
    plugin_group = "cuekit.sinks"
    consumes = (IntentEvent,)

    def __init__(self, config: dict[str, Any] | None = None, name: str | None = None) -> None:
        Sink.__init__(self, name)
        self.config = dict(config or {})


@dataclass(slots=True)
class PluginSpec:
    """What the registry knows about a plugin, whether a class or a factory function provides it."""

    name: str
    group: str
    create: Callable[[dict[str, Any], str | None], Stage]
    consumes: tuple[type, ...] = ()
    produces: tuple[type, ...] = ()
    config_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    validate: Callable[[dict[str, Any]], Validation] = lambda config: Validation(True)
    description: str = ""

    @classmethod
    def from_object(cls, name: str, group: str, obj: Any) -> PluginSpec:
        """A PluginSpec, a plugin class (subclass of one of the bases), or a zero-argument function
        returning either (so a module can defer its heavy imports)."""
        if isinstance(obj, PluginSpec):
            return obj
        if isinstance(obj, type) and issubclass(obj, Stage):
            if not issubclass(obj, PluginMixin):
                raise TypeError(
                    f"{obj.__qualname__} is a Stage but not a plugin: derive it from one of "
                    "SourcePlugin, RecognizerPlugin, ContextPlugin, SinkPlugin"
                )
            return cls(
                name=name,
                group=group,
                create=lambda config, n: cast(Any, obj)(config, name=n),
                consumes=tuple(obj.consumes),
                produces=tuple(obj.produces),
                config_schema=dict(obj.config_schema),
                validate=obj.validate,
                description=obj.description or (obj.__doc__ or "").strip().split("\n")[0],
            )
        if callable(obj) and not isinstance(obj, type) and _takes_no_arguments(obj):
            got = obj()
            if isinstance(got, PluginSpec) or (isinstance(got, type) and issubclass(got, Stage)):
                return cls.from_object(name, group, got)
        raise TypeError(f"entry point {name!r} resolved to {obj!r}, which is neither a plugin class nor a PluginSpec")


def _takes_no_arguments(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values())
