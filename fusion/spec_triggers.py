"""Reading a spec's tables: typed getters whose errors name file:line:key, and trigger trees
(any / all / sequence of speech, hand, wrist and context leaves). `fusion.spec_loader` builds on it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fusion.spec_locate import format_key, toml_line_of
from fusion.spec_model import MODALITIES, PREDICATES, Combo, Leaf, Node, SpecError
from perception.speech.expressions import Expression, ExpressionError, parse_expression

MAX_MS = 86_400_000  # a day: no spec window, dwell or refractory time is longer; inf and nan are refused

PRED_RE = re.compile(r"^\s*(\w+)\s*\(\s*([^)]*?)\s*\)\s*$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TableReader:
    """Typed access to the parsed TOML of `path`; subclasses set path, text and the gesture kinds."""

    path: Path
    text: str
    hand_kinds: set[str]
    wrist_kinds: set[str]
    _cur_intent: str

    def err(self, key: list[str | int], msg: str) -> SpecError:
        return SpecError(self.path, toml_line_of(self.text, key), format_key(key), msg)

    # typed getters ----------------------------------------------------------------------------
    def get(
        self, table: dict, key: list[str | int], name: str, types: tuple, default: Any = None, required: bool = False
    ) -> Any:
        if name not in table:
            if required:
                raise self.err(key, f"missing required key '{name}'")
            return default
        v = table[name]
        if isinstance(v, bool) and bool not in types:
            raise self.err(key + [name], f"expected {_tn(types)}, got a boolean")
        if not isinstance(v, types):
            raise self.err(key + [name], f"expected {_tn(types)}, got {type(v).__name__} {v!r}")
        return v

    def check_keys(self, table: dict, key: list[str | int], allowed: set[str]) -> None:
        for k in table:
            if k not in allowed:
                raise self.err(key + [k], f"unknown key '{k}' (allowed: {', '.join(sorted(allowed))})")

    def ms(self, table: dict, key: list[str | int], name: str, default: int | None) -> int | None:
        v = self.get(table, key, name, (int, float), default)
        if v is not None and not (0 <= v <= MAX_MS):  # also false for nan
            raise self.err(key + [name], f"must be a duration in [0, {MAX_MS}] ms, got {v}")
        return None if v is None else int(v)

    def conf(self, table: dict, key: list[str | int], name: str, default: float | None) -> float | None:
        v = self.get(table, key, name, (int, float), default)
        if v is not None and not 0.0 <= v <= 1.0:  # also true for nan
            raise self.err(key + [name], f"confidence must be in [0, 1], got {v}")
        return v

    def _expr(self, text: Any, key: list) -> Expression:
        try:
            return parse_expression(text)
        except ExpressionError as exc:
            raise self.err(key, f"bad speech expression {text!r}: {exc}") from None

    # triggers ---------------------------------------------------------------------------------
    def _node(self, d: Any, k: list) -> Node:
        if isinstance(d, str):
            return self._short_leaf(d, k)
        if isinstance(d, list):
            return self._node({"any": d}, k)
        if not isinstance(d, dict):
            raise self.err(k, f"a trigger is a table or a 'modality:value' string, got {type(d).__name__}")
        ops = [o for o in ("any", "all", "sequence") if o in d]
        mods = [m for m in MODALITIES if m in d]
        if len(ops) + len(mods) != 1:
            raise self.err(
                k,
                "a trigger needs exactly one of any/all/sequence/speech/hand/wrist/context, "
                f"found {', '.join(ops + mods) or 'none'}",
            )
        if ops:
            op = ops[0]
            self.check_keys(d, k, {op, "within_ms", "within"})
            children = d[op]
            if not isinstance(children, list) or not children:
                raise self.err(k + [op], f"'{op}' needs a non-empty list of triggers")
            within = self._within(d, k)
            if op != "any" and within is None:
                raise self.err(k, f"'{op}' needs 'within_ms' (the time window for all of its parts)")
            if op == "any" and within is not None:
                raise self.err(k, "'any' takes no time window")
            if op != "any" and len(children) < 2:
                raise self.err(k + [op], f"'{op}' needs at least two parts")
            kids = [self._node(c, k + [op, i]) for i, c in enumerate(children)]
            return Combo(op, kids, format_key(k), within)
        return self._leaf(mods[0], d, k)

    def _within(self, d: dict, k: list) -> int | None:
        if "within_ms" in d:
            v = self.ms(d, k, "within_ms", None)
            if v == 0:
                raise self.err(k + ["within_ms"], "must be > 0")
            return v * 1_000_000
        if "within" in d:
            v = d["within"]
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", str(v))
            if not m:
                raise self.err(k + ["within"], f"write a duration like '800ms' or '1.5s', got {v!r}")
            ns = float(m.group(1)) * (1e6 if m.group(2) == "ms" else 1e9)
            if not 0 < ns <= MAX_MS * 1e6:
                raise self.err(k + ["within"], f"must be a duration in (0, {MAX_MS}] ms, got {v!r}")
            return int(ns)
        return None

    def _short_leaf(self, s: str, k: list) -> Leaf:
        mod, sep, val = s.partition(":")
        mod = mod.strip()
        if not sep or mod not in MODALITIES:
            raise self.err(
                k, f"write a short trigger as 'modality:value' with modality in {', '.join(MODALITIES)}, got {s!r}"
            )
        return self._leaf(mod, {mod: val.strip()}, k)

    def _leaf(self, mod: str, d: dict, k: list) -> Leaf:
        self.check_keys(d, k, {mod, "min_confidence", "slots", "handedness", "dwell_ms", "intent"})
        lf = Leaf(mod, format_key(k), min_confidence=self.conf(d, k, "min_confidence", None))
        consts = self.get(d, k, "slots", (dict,), {})
        lf.constants = dict(consts)
        v = d[mod]
        if mod in ("hand", "wrist"):
            kinds = [v] if isinstance(v, str) else v
            if not isinstance(kinds, list) or not kinds:
                raise self.err(k + [mod], "give a gesture name or a list of them")
            known = self.hand_kinds if mod == "hand" else self.wrist_kinds
            for i, g in enumerate(kinds):
                if g not in known:
                    kk = k + [mod] + ([i] if isinstance(v, list) else [])
                    raise self.err(
                        kk,
                        f"unknown {mod} gesture {g!r} (known: {', '.join(sorted(known))}; "
                        f"declare custom ones under [gestures])",
                    )
            lf.kinds = frozenset(kinds)
            h = self.get(d, k, "handedness", (str,), None)
            if h is not None and h not in ("left", "right"):
                raise self.err(k + ["handedness"], f"must be 'left' or 'right', got {h!r}")
            lf.handedness = h
        elif mod == "speech":
            exprs = [v] if isinstance(v, str) else v
            if not isinstance(exprs, list) or not exprs:
                raise self.err(k + [mod], "give an expression or a list of them")
            lf.expressions = [
                self._expr(e, k + [mod] + ([i] if isinstance(v, list) else [])) for i, e in enumerate(exprs)
            ]
            lf.speech_intent = self.get(d, k, "intent", (str,), None) or self._cur_intent
        else:
            if not isinstance(v, str):
                raise self.err(k + [mod], "a context trigger is a predicate like 'gaze_on(target)'")
            m = PRED_RE.match(v)
            if not m or m.group(1) not in PREDICATES:
                raise self.err(
                    k + [mod], f"unknown context predicate {v!r} (use {', '.join(p + '(slot)' for p in PREDICATES)})"
                )
            lf.predicate = m.group(1)
            arg = m.group(2)
            if arg[:1] in "'\"" and arg[-1:] == arg[:1] and len(arg) >= 2:
                lf.argument, lf.literal = arg[1:-1], True
            elif IDENT_RE.match(arg):
                lf.argument = arg
            else:
                raise self.err(k + [mod], f"predicate argument must be a slot name or a quoted target id, got {arg!r}")
            lf.dwell_ms = self.ms(d, k, "dwell_ms", None)
            if lf.dwell_ms is not None and lf.predicate != "gaze_on":
                raise self.err(k + ["dwell_ms"], "dwell_ms applies to gaze_on() only")
        if mod != "context" and "dwell_ms" in d:
            raise self.err(k + ["dwell_ms"], "dwell_ms applies to context gaze_on() only")
        return lf


def _tn(types: tuple) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "a boolean"}
    return " or ".join(names.get(t, t.__name__) for t in types)
