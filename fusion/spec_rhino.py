"""Picovoice Rhino context YAML ({context: {expressions, slots, macros}}) read into spec expressions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fusion.spec_checks import check_macro_cycles
from fusion.spec_locate import decode_text, format_key, yaml_line_of
from fusion.spec_model import SlotType, SpecError
from perception.speech.expressions import Expression, ExpressionError, parse_expression, tokenize


@dataclass(slots=True)
class RhinoContext:
    path: str
    expressions: dict[str, list[Expression]]
    slot_types: dict[str, SlotType]
    macros: dict[str, list[Expression]]


def load_rhino_context(path: str | os.PathLike) -> RhinoContext:
    """Parse a Rhino context YAML ({context: {expressions, slots, macros}}); errors name file, line, key."""
    p = Path(path)
    text = decode_text(p, p.read_bytes())
    try:
        root = yaml.compose(text)
        doc = yaml.safe_load(text)
    except RecursionError:
        raise SpecError(p, None, "", "YAML nests too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(p, mark.line + 1 if mark else None, "", f"YAML syntax: {exc}") from None

    def err(key: list[str | int], msg: str) -> SpecError:
        return SpecError(p, yaml_line_of(root, key), format_key(key), msg)

    if not isinstance(doc, dict) or not isinstance(doc.get("context"), dict):
        raise err([], "a Rhino context file has a top-level 'context' mapping")
    ctx = doc["context"]
    for key in ctx:
        if key not in ("expressions", "slots", "macros"):
            raise err(["context", key], f"unknown key '{key}' (expected expressions, slots, macros)")
    for key in ("slots", "macros"):
        if ctx.get(key) is not None and not isinstance(ctx[key], dict):
            raise err(["context", key], f"'{key}' must be a mapping, got {type(ctx[key]).__name__}")
    slot_types: dict[str, SlotType] = {}
    for tname, values in (ctx.get("slots") or {}).items():
        k = ["context", "slots", tname]
        if not isinstance(values, list) or not values:
            raise err(k, "slot values must be a non-empty list")
        for i, v in enumerate(values):
            if not isinstance(v, str) or not tokenize(v):
                raise err(k + [i], f"slot value must be a phrase, got {v!r}")
        slot_types[str(tname)] = SlotType(str(tname), "enum", [str(v) for v in values])
    macros: dict[str, list[Expression]] = {}
    for mname, alts in (ctx.get("macros") or {}).items():
        k = ["context", "macros", mname]
        if not isinstance(alts, list):
            raise err(k, "a macro is a list of expressions")
        macros[str(mname)] = [_rhino_expr(a, k + [i], err) for i, a in enumerate(alts)]
    expressions: dict[str, list[Expression]] = {}
    exprs_doc = ctx.get("expressions")
    if not isinstance(exprs_doc, dict) or not exprs_doc:
        raise err(["context", "expressions"], "a context needs a non-empty 'expressions' mapping")
    for iname, lst in exprs_doc.items():
        k = ["context", "expressions", iname]
        if not isinstance(lst, list) or not lst:
            raise err(k, "an intent needs a non-empty list of expressions")
        out = []
        for i, e in enumerate(lst):
            ex = _rhino_expr(e, k + [i], err)
            for s in ex.slots():
                if s.type not in slot_types:
                    raise err(k + [i], f"expression uses undefined slot type '{s.type}'")
            for m in ex.macros():
                if m not in macros:
                    raise err(k + [i], f"expression uses undefined macro '@{m}'")
            out.append(ex)
        expressions[str(iname)] = out
    check_macro_cycles(macros, err, lambda name: ["context", "macros", name])
    return RhinoContext(str(p), expressions, slot_types, macros)


def _rhino_expr(text: Any, key: list, err) -> Expression:
    try:
        return parse_expression(text)
    except ExpressionError as exc:
        raise err(key, f"bad expression {text!r}: {exc}") from None
