"""The intent spec: which intents exist, their typed slots, and what triggers them.

A spec is a TOML file (see docs/fusion.md). Loading validates everything up front; every error is a
`SpecError` naming the file, the line and the key (`default_ar.toml:42: intents.select.trigger.any[1]:
unknown hand gesture 'pinchh'`). The speech part may be imported from a Picovoice Rhino context YAML,
given relative to a named base directory (`shared`, `spec`, or any the caller passes), so reference
data is read where it lives and never copied.

`speech_grammar(spec)` lists every speech expression and slot value list, for the speech engineer's
grammar compiler.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perception.hands.vocabulary import EMITS as HAND_EMITS
from perception.speech.expressions import (
    Expression,
    ExpressionError,
    ExpressionMatch,
    SlotMatch,
    match_tokens,
    parse_expression,
    tokenize,
    words_of,
)
from perception.wrist.vocabulary import EMITS as WRIST_EMITS

REPO = Path(__file__).resolve().parents[1]
SPECS_DIR = REPO / "assets" / "specs"

HAND_GESTURES = HAND_EMITS
WRIST_GESTURES = WRIST_EMITS
MODALITIES = ("speech", "hand", "wrist", "context")
PREDICATES = ("gaze_on", "pointing_at")
SLOT_KINDS = ("enum", "target", "string", "number")
DEFAULT_DEIXIS = ("this", "that", "here", "there", "it")
DEFAULT_LATENESS_MS = {"hand": 150, "wrist": 300, "speech": 1500, "gaze": 150, "context": 150}

_PRED_RE = re.compile(r"^\s*(\w+)\s*\(\s*([^)]*?)\s*\)\s*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(ValueError):
    """A spec problem; `str()` is `file:line: key: message`."""

    def __init__(self, file: str | os.PathLike | None, line: int | None, key: str, message: str) -> None:
        self.file = str(file) if file is not None else "<spec>"
        self.line = line
        self.key = key
        self.message = message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


# ------------------------------------------------------------------------------------------------
# model


@dataclass(slots=True)
class SlotType:
    name: str
    kind: str = "enum"
    values: list[str] = field(default_factory=list)

    def token_values(self) -> list[tuple[tuple[str, ...], str]]:
        # longest first so "a little bit of milk" is tried before "milk"
        vals = [(tuple(tokenize(v)), v) for v in self.values]
        return sorted(vals, key=lambda tv: -len(tv[0]))


@dataclass(slots=True)
class Leaf:
    modality: str  # speech | hand | wrist | context
    key: str  # where it is in the spec (for messages)
    kinds: frozenset[str] = frozenset()  # hand / wrist gesture kinds
    expressions: list[Expression] = field(default_factory=list)  # speech
    speech_intent: str | None = None  # the recogniser's intent name this leaf accepts
    predicate: str | None = None  # gaze_on | pointing_at
    argument: str | None = None  # slot name bound, or a literal target id ("'lamp'")
    literal: bool = False
    dwell_ms: int | None = None
    min_confidence: float | None = None
    constants: dict[str, Any] = field(default_factory=dict)
    handedness: str | None = None

    @property
    def is_condition(self) -> bool:
        """A context predicate without dwell is a condition on its siblings' time, not an event."""
        return self.modality == "context" and self.dwell_ms is None

    @property
    def event_modality(self) -> str:
        """The observation modality this leaf waits for (context dwell comes from gaze)."""
        return "gaze" if self.modality == "context" else self.modality


@dataclass(slots=True)
class Combo:
    op: str  # any | all | sequence
    children: list[Leaf | Combo]
    key: str
    within_ns: int | None = None


Node = Leaf | Combo


@dataclass(slots=True)
class Intent:
    name: str
    slots: dict[str, str]  # slot name -> slot type name
    trigger: Node
    priority: int = 0
    min_confidence: float = 0.5
    refractory_ms: int = 400
    refractory_scope: str = "intent"  # intent | slots
    hold_ms: int = 0
    group: str | None = None
    resolve: list[str] = field(default_factory=lambda: ["pointing", "gaze", "last"])
    required: list[str] = field(default_factory=list)
    description: str = ""

    def leaves(self) -> list[Leaf]:
        out: list[Leaf] = []
        _leaves(self.trigger, out)
        return out

    def n_event_leaves(self) -> int:
        return sum(1 for lf in self.leaves() if not lf.is_condition)


def _leaves(node: Node, out: list[Leaf]) -> None:
    if isinstance(node, Leaf):
        out.append(node)
    else:
        for c in node.children:
            _leaves(c, out)


@dataclass(slots=True)
class DeixisOptions:
    words: tuple[str, ...] = DEFAULT_DEIXIS
    before_ms: int = 1000  # pointing may start this long before the word
    after_ms: int = 400  # ... or end this long after it
    sources: tuple[str, ...] = ("pointing", "gaze", "last")


@dataclass(slots=True)
class Spec:
    name: str
    path: str
    version: int
    intents: dict[str, Intent]
    slot_types: dict[str, SlotType]
    macros: dict[str, list[Expression]] = field(default_factory=dict)
    lateness_ms: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LATENESS_MS))
    deixis: DeixisOptions = field(default_factory=DeixisOptions)
    conflict_window_ms: int = 500
    imports: list[str] = field(default_factory=list)

    # helpers used by the engine ---------------------------------------------------------------
    def target_slot_types(self) -> set[str]:
        return {n for n, t in self.slot_types.items() if t.kind == "target"}

    def dwell_times(self) -> tuple[int, ...]:
        return tuple(sorted({lf.dwell_ms for it in self.intents.values() for lf in it.leaves()
                             if lf.dwell_ms is not None}))

    def lateness_ns(self, modality: str) -> int:
        return int(self.lateness_ms.get(modality, self.lateness_ms.get("default", 150)) * 1_000_000)

    def slot_values(self, scene: Any = None):
        """A slot-value provider for the expression matcher (target slots: deixis + scene names)."""
        cache: dict[str, list[tuple[tuple[str, ...], str]]] = {}

        def provider(type_name: str) -> list[tuple[tuple[str, ...], str]]:
            if type_name not in cache:
                st = self.slot_types.get(type_name)
                if st is None:
                    cache[type_name] = []
                elif st.kind == "target":
                    vals = [((w,), w) for w in self.deixis.words]
                    if scene is not None:
                        for t in scene.targets():
                            for name in t.names:
                                toks = tuple(tokenize(name))
                                if toks:  # "lamp", "the lamp", "that lamp": the named target
                                    vals.append((toks, t.id))
                                    for det in ("the", "this", "that"):
                                        vals.append(((det, *toks), t.id))
                    cache[type_name] = sorted(vals, key=lambda tv: -len(tv[0]))
                else:
                    cache[type_name] = st.token_values()
            return cache[type_name]

        return provider

    def match_speech(self, leaf: Leaf, tokens: list[str], scene: Any = None) -> ExpressionMatch | None:
        provider = self.slot_values(scene)
        for expr in leaf.expressions:
            m = match_tokens(expr, tokens, provider, self.macros)
            if m is not None:
                return m
        return None

    def parse_text(self, text: str, scene: Any = None) -> tuple[str, dict[str, str]] | None:
        """Text -> (intent, slots) by the spec's speech expressions (first intent that matches)."""
        toks = tokenize(text)
        for it in self.intents.values():
            for lf in it.leaves():
                if lf.modality == "speech":
                    m = self.match_speech(lf, toks, scene)
                    if m is not None:
                        return it.name, {k: v.value for k, v in m.slots.items()}
        return None


# ------------------------------------------------------------------------------------------------
# speech grammar export


@dataclass(slots=True)
class SpeechGrammar:
    """What a grammar-constrained recogniser needs: expressions per intent and slot value lists."""

    expressions: dict[str, list[str]]
    slots: dict[str, list[str]]
    macros: dict[str, list[str]]

    def to_rhino_context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"expressions": self.expressions, "slots": self.slots}
        if self.macros:
            ctx["macros"] = self.macros
        return {"context": ctx}

    def vocabulary(self) -> set[str]:
        out: set[str] = set()
        for exprs in list(self.expressions.values()) + list(self.macros.values()):
            for e in exprs:
                out |= words_of(parse_expression(e))
        for vals in self.slots.values():
            for v in vals:
                out.update(tokenize(v))
        return out


def speech_grammar(spec: Spec, scene: Any = None) -> SpeechGrammar:
    """Every speech expression of `spec` by intent, and every slot type's values. Target slots list
    the deictic words plus the names of the targets in `scene` (when given)."""
    exprs: dict[str, list[str]] = {}
    used_types: set[str] = set()
    for it in spec.intents.values():
        for lf in it.leaves():
            if lf.modality == "speech":
                lst = exprs.setdefault(lf.speech_intent or it.name, [])
                for e in lf.expressions:
                    if e.source not in lst:
                        lst.append(e.source)
                    used_types.update(s.type for s in e.slots())
    for m in spec.macros.values():
        for e in m:
            used_types.update(s.type for s in e.slots())
    slots: dict[str, list[str]] = {}
    for tname in sorted(used_types):
        st = spec.slot_types[tname]
        if st.kind == "target":
            vals = list(spec.deixis.words)
            if scene is not None:
                for t in scene.targets():
                    vals.extend(n for n in t.names if n not in vals)
            slots[tname] = vals
        else:
            slots[tname] = list(st.values)
    macros = {k: [e.source for e in v] for k, v in spec.macros.items()}
    return SpeechGrammar(exprs, slots, macros)


# ------------------------------------------------------------------------------------------------
# locating keys in source text (tomllib gives no positions)


def _split_header(h: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', h)
    return [a or b or c for a, b, c in parts]


def toml_line_of(text: str, path: list[str | int]) -> int | None:
    """1-based line of the key `path` in TOML `text`, found by scanning (best effort)."""
    lines = text.splitlines()
    headers: list[tuple[int, list[str], bool]] = []
    for i, ln in enumerate(lines):
        m = re.match(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$", ln)
        if m:
            headers.append((i, _split_header(m.group(2)), m.group(1) == "[["))
    keys = [p for p in path if isinstance(p, str)]
    # the header naming the longest prefix of the path; array-of-tables use the index after the name
    best_line, best_len = 0, 0
    for idx, (i, hk, is_array) in enumerate(headers):
        if len(hk) <= len(keys) and keys[:len(hk)] == hk and len(hk) >= best_len:
            if is_array:
                # which occurrence does the path want?
                pos = _path_index_after(path, hk)
                nth = sum(1 for (_, hk2, arr2) in headers[:idx] if arr2 and hk2 == hk)
                if pos is not None and nth != pos:
                    continue
            if len(hk) > best_len or best_line == 0:
                best_line, best_len = i, len(hk)
    if best_len == 0 and not keys:
        return None
    cur = best_line
    end = next((i for i, _, _ in headers if i > best_line), len(lines))
    remaining = _remaining(path, best_len)
    found_any = best_len > 0
    for p in remaining:
        if isinstance(p, int):
            ln = lines[cur] if cur < len(lines) else ""
            if ln.split("#")[0].rstrip().endswith("["):
                k, j = -1, cur
                while k < p and j + 1 < end:
                    j += 1
                    s = lines[j].strip()
                    if s and not s.startswith("#") and s not in ("]", "],"):
                        k += 1
                if k == p:
                    cur = j
            continue
        pat = re.compile(r'(^|[\s{,.])["\']?' + re.escape(p) + r'["\']?\s*[=.]')
        for j in range(cur, end):
            if pat.search(lines[j].split("#")[0]):
                cur = j
                found_any = True
                break
        else:
            break
    return cur + 1 if found_any else None


def _path_index_after(path: list[str | int], hk: list[str]) -> int | None:
    n = 0
    for i, p in enumerate(path):
        if isinstance(p, str):
            n += 1
            if n == len(hk):
                nxt = path[i + 1] if i + 1 < len(path) else None
                return nxt if isinstance(nxt, int) else None
    return None


def _remaining(path: list[str | int], n_keys: int) -> list[str | int]:
    seen = 0
    for i, p in enumerate(path):
        if seen == n_keys:
            rest = path[i:]
            # an array-of-tables index right after the header was already used
            if rest and isinstance(rest[0], int) and n_keys > 0:
                rest = rest[1:]
            return list(rest)
        if isinstance(p, str):
            seen += 1
    return []


def format_key(path: list[str | int]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def yaml_line_of(node: Any, path: list[str | int]) -> int | None:
    """1-based line of `path` in a composed YAML node tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for p in path:
        if isinstance(node, yaml.MappingNode) and isinstance(p, str):
            for k, v in node.value:
                if k.value == p:
                    node = v
                    line = k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and p < len(node.value):
            node = node.value[p]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# ------------------------------------------------------------------------------------------------
# loading


@dataclass(slots=True)
class SpecOptions:
    """Named base directories for imports; `spec` (the spec's folder) is always added."""

    bases: dict[str, Path] = field(default_factory=dict)


def default_bases() -> dict[str, Path]:
    shared = Path(os.environ.get("CUEKIT_SHARED", REPO.parent / "shared"))
    return {"shared": shared, "repo": REPO, "specs": SPECS_DIR}


class _Loader:
    def __init__(self, path: Path, text: str, options: SpecOptions) -> None:
        self.path = path
        self.text = text
        self.bases = {**default_bases(), **options.bases, "spec": path.parent}

    def err(self, key: list[str | int], msg: str) -> SpecError:
        return SpecError(self.path, toml_line_of(self.text, key), format_key(key), msg)

    # typed getters ----------------------------------------------------------------------------
    def get(self, table: dict, key: list[str | int], name: str, types: tuple, default: Any = None,
            required: bool = False) -> Any:
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
        if v is not None and v < 0:
            raise self.err(key + [name], f"must be >= 0, got {v}")
        return None if v is None else int(v)

    def conf(self, table: dict, key: list[str | int], name: str, default: float | None) -> float | None:
        v = self.get(table, key, name, (int, float), default)
        if v is not None and not 0.0 <= v <= 1.0:
            raise self.err(key + [name], f"confidence must be in [0, 1], got {v}")
        return v

    # the document -----------------------------------------------------------------------------
    def load(self) -> Spec:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise SpecError(self.path, int(m.group(1)) if m else None, "", f"TOML syntax: {exc}") from None
        self.check_keys(doc, [], {"spec", "defaults", "lateness_ms", "deixis", "slot_types", "gestures",
                                  "speech", "intents", "macros"})
        meta = self.get(doc, [], "spec", (dict,), {})
        self.check_keys(meta, ["spec"], {"name", "version", "description"})
        name = self.get(meta, ["spec"], "name", (str,), self.path.stem)
        version = self.get(meta, ["spec"], "version", (int,), 1)

        defaults = self.get(doc, [], "defaults", (dict,), {})
        dk = ["defaults"]
        self.check_keys(defaults, dk, {"min_confidence", "refractory_ms", "priority", "hold_ms",
                                       "refractory_scope", "conflict_window_ms", "resolve"})
        self.d_conf = self.conf(defaults, dk, "min_confidence", 0.5)
        self.d_refr = self.ms(defaults, dk, "refractory_ms", 400)
        self.d_prio = self.get(defaults, dk, "priority", (int,), 0)
        self.d_hold = self.ms(defaults, dk, "hold_ms", 0)
        self.d_scope = self._scope(defaults, dk)
        self.d_resolve = self._resolve(defaults, dk, ["pointing", "gaze", "last"])
        conflict_window = self.ms(defaults, dk, "conflict_window_ms", 500)

        lateness = dict(DEFAULT_LATENESS_MS)
        lt = self.get(doc, [], "lateness_ms", (dict,), {})
        for k, v in lt.items():
            if k not in (*DEFAULT_LATENESS_MS, "default"):
                raise self.err(["lateness_ms", k], f"unknown modality '{k}'")
            lateness[k] = self.ms(lt, ["lateness_ms"], k, 0)

        dx = self.get(doc, [], "deixis", (dict,), {})
        self.check_keys(dx, ["deixis"], {"words", "before_ms", "after_ms", "sources"})
        words = self.get(dx, ["deixis"], "words", (list,), list(DEFAULT_DEIXIS))
        if not all(isinstance(w, str) and len(tokenize(w)) == 1 for w in words):
            raise self.err(["deixis", "words"], "deictic words must be single words")
        deixis = DeixisOptions(tuple(w.lower() for w in words), self.ms(dx, ["deixis"], "before_ms", 1000),
                               self.ms(dx, ["deixis"], "after_ms", 400),
                               tuple(self._resolve(dx, ["deixis"], ["pointing", "gaze", "last"], "sources")))

        gestures = self.get(doc, [], "gestures", (dict,), {})
        self.check_keys(gestures, ["gestures"], {"hand", "wrist"})
        self.hand_kinds = set(HAND_GESTURES) | set(self._idents(gestures, ["gestures"], "hand"))
        self.wrist_kinds = set(WRIST_GESTURES) | set(self._idents(gestures, ["gestures"], "wrist"))

        self.slot_types: dict[str, SlotType] = {"target": SlotType("target", "target")}
        self.macros: dict[str, list[Expression]] = {}
        self.imported_expr: dict[str, list[Expression]] = {}
        imports: list[str] = []
        speech = self.get(doc, [], "speech", (dict,), {})
        self.check_keys(speech, ["speech"], {"rhino"})
        rh = speech.get("rhino")
        if rh is not None:
            entries = rh if isinstance(rh, list) else [rh]
            for i, e in enumerate(entries):
                k = ["speech", "rhino"] + ([i] if isinstance(rh, list) else [])
                imports.append(str(self._import_rhino(e, k)))

        st = self.get(doc, [], "slot_types", (dict,), {})
        for tname, tdef in st.items():
            k = ["slot_types", tname]
            if not _IDENT_RE.match(tname):
                raise self.err(k, f"slot type name '{tname}' is not an identifier")
            if isinstance(tdef, list):
                tdef = {"values": tdef}
            if not isinstance(tdef, dict):
                raise self.err(k, "a slot type is a table {kind, values} or a list of values")
            self.check_keys(tdef, k, {"kind", "values"})
            kind = self.get(tdef, k, "kind", (str,), "enum")
            if kind not in SLOT_KINDS:
                raise self.err(k + ["kind"], f"unknown slot kind '{kind}' (use {', '.join(SLOT_KINDS)})")
            values = self.get(tdef, k, "values", (list,), [])
            if kind == "enum" and not values:
                raise self.err(k, "an enum slot type needs a non-empty 'values' list")
            for i, v in enumerate(values):
                if not isinstance(v, str) or not tokenize(v):
                    raise self.err(k + ["values", i], f"slot value must be a non-empty phrase, got {v!r}")
            prev = self.slot_types.get(tname)
            if prev is not None and prev.kind == "enum" and kind == "enum":
                values = list(dict.fromkeys(prev.values + values))  # extend an imported type
            self.slot_types[tname] = SlotType(tname, kind, list(values))

        mc = self.get(doc, [], "macros", (dict,), {})
        for mname, alts in mc.items():
            k = ["macros", mname]
            if not isinstance(alts, list) or not alts:
                raise self.err(k, "a macro is a non-empty list of expressions")
            self.macros[mname] = [self._expr(a, k + [i]) for i, a in enumerate(alts)]

        intents: dict[str, Intent] = {}
        tbl = self.get(doc, [], "intents", (dict,), {})
        for iname, idef in tbl.items():
            k = ["intents", iname]
            if not _IDENT_RE.match(iname):
                raise self.err(k, f"intent name '{iname}' is not an identifier")
            if not isinstance(idef, dict):
                raise self.err(k, "an intent is a table")
            intents[iname] = self._intent(iname, idef, k)
        for iname, exprs in self.imported_expr.items():
            if iname not in intents:
                trig = Leaf("speech", f"speech.rhino:{iname}", expressions=exprs, speech_intent=iname)
                intents[iname] = Intent(iname, self._slots_of(exprs), trig, self.d_prio, self.d_conf,
                                        self.d_refr, self.d_scope, self.d_hold, None, list(self.d_resolve))
        if not intents:
            raise self.err(["intents"], "the spec defines no intents")
        self._check_macros(intents)
        return Spec(name, str(self.path), version, intents, self.slot_types, self.macros, lateness, deixis,
                    conflict_window, imports)

    # pieces -----------------------------------------------------------------------------------
    def _scope(self, t: dict, k: list) -> str:
        s = self.get(t, k, "refractory_scope", (str,), "intent")
        if s not in ("intent", "slots"):
            raise self.err(k + ["refractory_scope"], f"must be 'intent' or 'slots', got {s!r}")
        return s

    def _resolve(self, t: dict, k: list, default: list[str], name: str = "resolve") -> list[str]:
        v = self.get(t, k, name, (list,), default)
        for i, s in enumerate(v):
            if s not in ("pointing", "gaze", "last"):
                raise self.err(k + [name, i], f"unknown target source {s!r} (use pointing, gaze, last)")
        return list(v)

    def _idents(self, t: dict, k: list, name: str) -> list[str]:
        v = self.get(t, k, name, (list,), [])
        for i, s in enumerate(v):
            if not isinstance(s, str) or not _IDENT_RE.match(s):
                raise self.err(k + [name, i], f"gesture names are identifiers, got {s!r}")
        return v

    def _expr(self, text: Any, key: list) -> Expression:
        try:
            return parse_expression(text)
        except ExpressionError as exc:
            raise self.err(key, f"bad speech expression {text!r}: {exc}") from None

    def _slots_of(self, exprs: list[Expression]) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in exprs:
            for s in e.slots():
                out.setdefault(s.name, s.type)
        return out

    def _intent(self, name: str, d: dict, k: list) -> Intent:
        self.check_keys(d, k, {"trigger", "slots", "priority", "min_confidence", "refractory_ms",
                               "refractory_scope", "hold_ms", "group", "resolve", "required", "description"})
        slots_decl = self.get(d, k, "slots", (dict,), {})
        slots: dict[str, str] = {}
        for sname, stype in slots_decl.items():
            if not isinstance(stype, str) or stype not in self.slot_types:
                raise self.err(k + ["slots", sname],
                               f"unknown slot type {stype!r} (known: {', '.join(sorted(self.slot_types))})")
            slots[sname] = stype
        self._cur_intent = name
        self._cur_slots = slots
        trig_def = d.get("trigger")
        if trig_def is None:
            if name in self.imported_expr:
                trig: Node = Leaf("speech", format_key(k), expressions=self.imported_expr[name],
                                  speech_intent=name)
            else:
                raise self.err(k, "missing required key 'trigger'")
        else:
            trig = self._node(trig_def, k + ["trigger"])
            if name in self.imported_expr:  # the imported speech part is one more alternative
                imp = Leaf("speech", "speech.rhino", expressions=self.imported_expr[name], speech_intent=name)
                trig = Combo("any", [imp, trig], format_key(k + ["trigger"]))
        # slots used by expressions must be declared or are declared implicitly by the expression
        for lf in _all_leaves(trig):
            for e in lf.expressions:
                for s in e.slots():
                    if s.type not in self.slot_types:
                        raise self.err(_leaf_path(lf), f"expression uses unknown slot type '{s.type}'")
                    declared = slots.setdefault(s.name, s.type)
                    if declared != s.type:
                        raise self.err(_leaf_path(lf), f"slot '{s.name}' is declared as '{declared}' but "
                                       f"the expression uses it as '{s.type}'")
            for cname, cval in lf.constants.items():
                if cname not in slots:
                    raise self.err(_leaf_path(lf) + ["slots", cname], f"undeclared slot '{cname}'")
                st = self.slot_types[slots[cname]]
                if st.kind == "enum" and cval not in st.values:
                    raise self.err(_leaf_path(lf) + ["slots", cname],
                                   f"{cval!r} is not a value of slot type '{st.name}'")
            if lf.predicate and not lf.literal:
                if lf.argument not in slots:
                    slots[lf.argument] = "target"
                elif self.slot_types[slots[lf.argument]].kind != "target":
                    raise self.err(_leaf_path(lf), f"{lf.predicate}({lf.argument}) needs a target slot")
        self._check_conditions(trig, top=True)
        required = self.get(d, k, "required", (list,), [])
        for i, r in enumerate(required):
            if r not in slots:
                raise self.err(k + ["required", i], f"required slot {r!r} is not a slot of this intent")
        group = self.get(d, k, "group", (str,), None)
        return Intent(name, slots, trig, self.get(d, k, "priority", (int,), self.d_prio),
                      self.conf(d, k, "min_confidence", self.d_conf), self.ms(d, k, "refractory_ms", self.d_refr),
                      self._scope(d, k), self.ms(d, k, "hold_ms", self.d_hold), group,
                      self._resolve(d, k, self.d_resolve), list(required),
                      self.get(d, k, "description", (str,), ""))

    def _check_conditions(self, node: Node, top: bool) -> None:
        # a bare condition can never fire: it has no moment of its own
        if isinstance(node, Leaf):
            if node.is_condition and top:
                raise self.err(_leaf_path(node), f"context predicate {node.predicate}() alone never fires: "
                               "give it dwell_ms or combine it with an event in 'all'/'sequence'")
            return
        if node.op == "any":
            for c in node.children:
                self._check_conditions(c, top=True)
        else:
            if all(isinstance(c, Leaf) and c.is_condition for c in node.children):
                raise self.err(_path_of(node.key), f"'{node.op}' needs at least one event, not only conditions")
            for c in node.children:
                if isinstance(c, Combo):
                    self._check_conditions(c, top=False)

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
            raise self.err(k, "a trigger needs exactly one of any/all/sequence/speech/hand/wrist/context, "
                              f"found {', '.join(ops + mods) or 'none'}")
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
            return int(float(m.group(1)) * (1e6 if m.group(2) == "ms" else 1e9))
        return None

    def _short_leaf(self, s: str, k: list) -> Leaf:
        mod, sep, val = s.partition(":")
        mod = mod.strip()
        if not sep or mod not in MODALITIES:
            raise self.err(k, f"write a short trigger as 'modality:value' with modality in "
                              f"{', '.join(MODALITIES)}, got {s!r}")
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
                    raise self.err(kk, f"unknown {mod} gesture {g!r} (known: {', '.join(sorted(known))}; "
                                       f"declare custom ones under [gestures])")
            lf.kinds = frozenset(kinds)
            h = self.get(d, k, "handedness", (str,), None)
            if h is not None and h not in ("left", "right"):
                raise self.err(k + ["handedness"], f"must be 'left' or 'right', got {h!r}")
            lf.handedness = h
        elif mod == "speech":
            exprs = [v] if isinstance(v, str) else v
            if not isinstance(exprs, list) or not exprs:
                raise self.err(k + [mod], "give an expression or a list of them")
            lf.expressions = [self._expr(e, k + [mod] + ([i] if isinstance(v, list) else []))
                              for i, e in enumerate(exprs)]
            lf.speech_intent = self.get(d, k, "intent", (str,), None) or self._cur_intent
        else:
            if not isinstance(v, str):
                raise self.err(k + [mod], "a context trigger is a predicate like 'gaze_on(target)'")
            m = _PRED_RE.match(v)
            if not m or m.group(1) not in PREDICATES:
                raise self.err(k + [mod], f"unknown context predicate {v!r} (use "
                                          f"{', '.join(p + '(slot)' for p in PREDICATES)})")
            lf.predicate = m.group(1)
            arg = m.group(2)
            if arg[:1] in "'\"" and arg[-1:] == arg[:1] and len(arg) >= 2:
                lf.argument, lf.literal = arg[1:-1], True
            elif _IDENT_RE.match(arg):
                lf.argument = arg
            else:
                raise self.err(k + [mod], f"predicate argument must be a slot name or a quoted target id, "
                                          f"got {arg!r}")
            lf.dwell_ms = self.ms(d, k, "dwell_ms", None)
            if lf.dwell_ms is not None and lf.predicate != "gaze_on":
                raise self.err(k + ["dwell_ms"], "dwell_ms applies to gaze_on() only")
        if mod != "context" and "dwell_ms" in d:
            raise self.err(k + ["dwell_ms"], "dwell_ms applies to context gaze_on() only")
        return lf

    def _check_macros(self, intents: dict[str, Intent]) -> None:
        for it in intents.values():
            for lf in it.leaves():
                for e in lf.expressions:
                    for m in e.macros():
                        if m not in self.macros:
                            raise self.err(_leaf_path(lf), f"expression uses unknown macro '@{m}'")

    # Rhino import ----------------------------------------------------------------------------
    def _import_rhino(self, e: Any, k: list) -> Path:
        if isinstance(e, str):
            e = {"path": e}
        if not isinstance(e, dict):
            raise self.err(k, "rhino import is a path string or {path, base}")
        self.check_keys(e, k, {"path", "base", "intents"})
        rel = self.get(e, k, "path", (str,), required=True)
        base = self.get(e, k, "base", (str,), "spec")
        if base not in self.bases:
            raise self.err(k + ["base"], f"unknown base {base!r} (known: {', '.join(sorted(self.bases))})")
        p = Path(self.bases[base]) / rel
        if not p.is_file():
            raise self.err(k + ["path"], f"rhino context not found: {p} (base {base!r} = {self.bases[base]})")
        only = self.get(e, k, "intents", (list,), None)
        ctx = load_rhino_context(p)
        for tname, st in ctx.slot_types.items():
            self.slot_types[tname] = st
        for mname, exprs in ctx.macros.items():
            self.macros[mname] = exprs
        for iname, exprs in ctx.expressions.items():
            if only is None or iname in only:
                self.imported_expr.setdefault(iname, []).extend(exprs)
        return p


def _tn(types: tuple) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table",
             bool: "a boolean"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _all_leaves(node: Node) -> list[Leaf]:
    out: list[Leaf] = []
    _leaves(node, out)
    return out


def _path_of(key: str) -> list[str | int]:
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return out


def _leaf_path(lf: Leaf) -> list[str | int]:
    return _path_of(lf.key)


# ------------------------------------------------------------------------------------------------
# Rhino contexts


@dataclass(slots=True)
class RhinoContext:
    path: str
    expressions: dict[str, list[Expression]]
    slot_types: dict[str, SlotType]
    macros: dict[str, list[Expression]]


def load_rhino_context(path: str | os.PathLike) -> RhinoContext:
    """Parse a Rhino context YAML ({context: {expressions, slots, macros}}); errors name file, line, key."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        doc = yaml.safe_load(text)
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
    return RhinoContext(str(p), expressions, slot_types, macros)


def _rhino_expr(text: Any, key: list, err) -> Expression:
    try:
        return parse_expression(text)
    except ExpressionError as exc:
        raise err(key, f"bad expression {text!r}: {exc}") from None


# ------------------------------------------------------------------------------------------------
# public entry points


def load_spec(path: str | os.PathLike, options: SpecOptions | None = None) -> Spec:
    """Load and validate a spec file. A bare name ("default_ar") means assets/specs/<name>.toml."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SPECS_DIR / f"{p.name}.toml"
    if not p.is_file():
        raise SpecError(p, None, "", "spec file not found")
    return _Loader(p, p.read_text(encoding="utf-8"), options or SpecOptions()).load()


def loads_spec(text: str, name: str = "<string>.toml", options: SpecOptions | None = None) -> Spec:
    """Load a spec from text (tests, specs sent over the network)."""
    return _Loader(Path(name), text, options or SpecOptions()).load()


__all__ = ["Combo", "DeixisOptions", "Intent", "Leaf", "RhinoContext", "SlotMatch", "SlotType", "Spec",
           "SpecError", "SpecOptions", "SpeechGrammar", "load_rhino_context", "load_spec", "loads_spec",
           "speech_grammar", "toml_line_of"]
