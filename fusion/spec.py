"""The intent spec: which intents exist, their typed slots, and what triggers them.

A spec is a TOML file (see docs/fusion.md). Loading validates everything up front; every error is a
`SpecError` naming the file, the line and the key (`default_ar.toml:42: intents.select.trigger.any[1]:
unknown hand gesture 'pinchh'`). The speech part may be imported from a Picovoice Rhino context YAML,
given relative to a named base directory (`shared`, `spec`, or any the caller passes), so reference
data is read where it lives and never copied.

`speech_grammar(spec)` lists every speech expression and slot value list, for the speech engineer's
grammar compiler.

The spec lives in several modules along its seams; this one is the public face and re-exports them:
`spec_model` (what a spec is), `spec_loader` (TOML -> Spec, typed getters, triggers), `spec_checks`
(whole-spec validation: macro cycles, expansion limits, conditions), `spec_rhino` (Rhino YAML),
`spec_locate` (key -> source line) and `spec_grammar` (the speech grammar export).
"""

from __future__ import annotations

from fusion.spec_checks import MAX_PHRASINGS
from fusion.spec_grammar import SpeechGrammar, speech_grammar
from fusion.spec_loader import SpecOptions, default_bases, load_spec, loads_spec
from fusion.spec_locate import format_key, toml_line_of, yaml_line_of
from fusion.spec_model import (
    DEFAULT_DEIXIS,
    DEFAULT_LATENESS_MS,
    HAND_GESTURES,
    MODALITIES,
    PREDICATES,
    REPO,
    SLOT_KINDS,
    SPECS_DIR,
    WRIST_GESTURES,
    Combo,
    DeixisOptions,
    Intent,
    Leaf,
    Node,
    SlotType,
    Spec,
    SpecError,
)
from fusion.spec_rhino import RhinoContext, load_rhino_context
from perception.speech.expressions import SlotMatch

__all__ = [
    "DEFAULT_DEIXIS",
    "DEFAULT_LATENESS_MS",
    "HAND_GESTURES",
    "MAX_PHRASINGS",
    "MODALITIES",
    "PREDICATES",
    "REPO",
    "SLOT_KINDS",
    "SPECS_DIR",
    "WRIST_GESTURES",
    "Combo",
    "DeixisOptions",
    "Intent",
    "Leaf",
    "Node",
    "RhinoContext",
    "SlotMatch",
    "SlotType",
    "Spec",
    "SpecError",
    "SpecOptions",
    "SpeechGrammar",
    "default_bases",
    "format_key",
    "load_rhino_context",
    "load_spec",
    "loads_spec",
    "speech_grammar",
    "toml_line_of",
    "yaml_line_of",
]
