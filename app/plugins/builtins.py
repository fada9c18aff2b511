"""Plugins that ship with CueKit, by group and name -> "module:attr" (imported only when used).

A target is a plugin class, a PluginSpec, or a zero-argument function returning one of those;
the functions below adapt stages whose constructors take an Options dataclass.
"""
from __future__ import annotations

BUILTINS: dict[tuple[str, str], str] = {
    ("cuekit.sinks", "jsonl"): "app.sinks.jsonl:JsonLinesSink",
    ("cuekit.sinks", "osc"): "app.sinks.osc:OscSink",
}
