"""Plugin API: base classes, the registry (built-ins + entry points) and `cuekit plugins`."""

from app.plugins.base import (
    GROUPS,
    ContextPlugin,
    PluginDeclined,
    PluginSpec,
    RecognizerPlugin,
    SinkPlugin,
    SourcePlugin,
    Validation,
)
from app.plugins.registry import PluginEntry, PluginError, Registry

__all__ = [
    "GROUPS",
    "ContextPlugin",
    "PluginDeclined",
    "PluginEntry",
    "PluginError",
    "PluginSpec",
    "RecognizerPlugin",
    "Registry",
    "SinkPlugin",
    "SourcePlugin",
    "Validation",
]
