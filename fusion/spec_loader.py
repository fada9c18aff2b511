"""Loading a spec: TOML text -> a validated `Spec`; every problem a `SpecError` with file:line:key."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusion.spec_checks import check_conditions, check_expansion, check_macro_cycles, check_unknown_macros
from fusion.spec_locate import decode_text, deepest_line, format_key, path_of
from fusion.spec_model import (
    DEFAULT_DEIXIS,
    DEFAULT_LATENESS_MS,
    HAND_GESTURES,
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
    _leaves,
)
from fusion.spec_rhino import load_rhino_context
from fusion.spec_triggers import IDENT_RE, TableReader
from perception.speech.expressions import Expression, tokenize

MAX_SPEC_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class SpecOptions:
    """Named base directories for imports; `spec` (the spec's folder) is always added."""

    bases: dict[str, Path] = field(default_factory=dict)


def default_bases() -> dict[str, Path]:
    shared = Path(os.environ.get("CUEKIT_SHARED", REPO.parent / "shared"))
    return {"shared": shared, "repo": REPO, "specs": SPECS_DIR}


class _Loader(TableReader):
    def __init__(self, path: Path, text: str, options: SpecOptions) -> None:
        self.path = path
        self.text = text
        self.bases = {**default_bases(), **options.bases, "spec": path.parent}

    # the document -----------------------------------------------------------------------------
    def load(self) -> Spec:
        try:
            doc = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise SpecError(self.path, int(m.group(1)) if m else None, "", f"TOML syntax: {exc}") from None
        except RecursionError:  # tomllib recurses once per nesting level of arrays and inline tables
            raise SpecError(self.path, deepest_line(self.text), "", "arrays or tables nest too deeply") from None
        try:
            return self._document(doc)
        except RecursionError:  # a trigger tree nested thousands deep
            raise SpecError(self.path, deepest_line(self.text), "", "triggers nest too deeply") from None

    def _document(self, doc: dict[str, Any]) -> Spec:
        self.check_keys(
            doc,
            [],
            {"spec", "defaults", "lateness_ms", "deixis", "slot_types", "gestures", "speech", "intents", "macros"},
        )
        meta = self.get(doc, [], "spec", (dict,), {})
        self.check_keys(meta, ["spec"], {"name", "version", "description"})
        name = self.get(meta, ["spec"], "name", (str,), self.path.stem)
        version = self.get(meta, ["spec"], "version", (int,), 1)

        defaults = self.get(doc, [], "defaults", (dict,), {})
        dk = ["defaults"]
        self.check_keys(
            defaults,
            dk,
            {
                "min_confidence",
                "refractory_ms",
                "priority",
                "hold_ms",
                "refractory_scope",
                "conflict_window_ms",
                "resolve",
            },
        )
        self.d_conf = self.conf(defaults, dk, "min_confidence", 0.5)
        self.d_refr = self.ms(defaults, dk, "refractory_ms", 400)
        self.d_prio = self.get(defaults, dk, "priority", (int,), 0)
        self.d_hold = self.ms(defaults, dk, "hold_ms", 0)
        self.d_scope = self._scope(defaults, dk)
        self.d_resolve = self._resolve(defaults, dk, ["pointing", "gaze", "last"])
        conflict_window = self.ms(defaults, dk, "conflict_window_ms", 500)

        lateness = dict(DEFAULT_LATENESS_MS)
        lt = self.get(doc, [], "lateness_ms", (dict,), {})
        for k in lt:
            if k not in (*DEFAULT_LATENESS_MS, "default"):
                raise self.err(["lateness_ms", k], f"unknown modality '{k}'")
            lateness[k] = self.ms(lt, ["lateness_ms"], k, 0)

        dx = self.get(doc, [], "deixis", (dict,), {})
        self.check_keys(dx, ["deixis"], {"words", "before_ms", "after_ms", "sources"})
        words = self.get(dx, ["deixis"], "words", (list,), list(DEFAULT_DEIXIS))
        if not all(isinstance(w, str) and len(tokenize(w)) == 1 for w in words):
            raise self.err(["deixis", "words"], "deictic words must be single words")
        deixis = DeixisOptions(
            tuple(w.lower() for w in words),
            self.ms(dx, ["deixis"], "before_ms", 1000),
            self.ms(dx, ["deixis"], "after_ms", 400),
            tuple(self._resolve(dx, ["deixis"], ["pointing", "gaze", "last"], "sources")),
        )

        gestures = self.get(doc, [], "gestures", (dict,), {})
        self.check_keys(gestures, ["gestures"], {"hand", "wrist"})
        self.hand_kinds = set(HAND_GESTURES) | set(self._idents(gestures, ["gestures"], "hand"))
        self.wrist_kinds = set(WRIST_GESTURES) | set(self._idents(gestures, ["gestures"], "wrist"))

        self.slot_types: dict[str, SlotType] = {"target": SlotType("target", "target")}
        self.macros: dict[str, list[Expression]] = {}
        self.macro_keys: dict[str, list] = {}  # where each macro was defined (an import, or [macros])
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
            if not IDENT_RE.match(tname):
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
            if not IDENT_RE.match(iname):
                raise self.err(k, f"intent name '{iname}' is not an identifier")
            if not isinstance(idef, dict):
                raise self.err(k, "an intent is a table")
            intents[iname] = self._intent(iname, idef, k)
        for iname, exprs in self.imported_expr.items():
            if iname not in intents:
                trig = Leaf("speech", f"speech.rhino:{iname}", expressions=exprs, speech_intent=iname)
                intents[iname] = Intent(
                    iname,
                    self._slots_of(exprs),
                    trig,
                    self.d_prio,
                    self.d_conf,
                    self.d_refr,
                    self.d_scope,
                    self.d_hold,
                    None,
                    list(self.d_resolve),
                )
        if not intents:
            raise self.err(["intents"], "the spec defines no intents")
        check_unknown_macros(intents, self.macros, self.err)
        check_macro_cycles(self.macros, self.err, self._macro_key)
        check_expansion(intents, self.macros, self.err)
        return Spec(
            name,
            str(self.path),
            version,
            intents,
            self.slot_types,
            self.macros,
            lateness,
            deixis,
            conflict_window,
            imports,
        )

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
            if not isinstance(s, str) or not IDENT_RE.match(s):
                raise self.err(k + [name, i], f"gesture names are identifiers, got {s!r}")
        return v

    def _slots_of(self, exprs: list[Expression]) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in exprs:
            for s in e.slots():
                out.setdefault(s.name, s.type)
        return out

    def _intent(self, name: str, d: dict, k: list) -> Intent:
        self.check_keys(
            d,
            k,
            {
                "trigger",
                "slots",
                "priority",
                "min_confidence",
                "refractory_ms",
                "refractory_scope",
                "hold_ms",
                "group",
                "resolve",
                "required",
                "description",
            },
        )
        slots_decl = self.get(d, k, "slots", (dict,), {})
        slots: dict[str, str] = {}
        for sname, stype in slots_decl.items():
            if not isinstance(stype, str) or stype not in self.slot_types:
                raise self.err(
                    k + ["slots", sname], f"unknown slot type {stype!r} (known: {', '.join(sorted(self.slot_types))})"
                )
            slots[sname] = stype
        self._cur_intent = name
        self._cur_slots = slots
        trig_def = d.get("trigger")
        if trig_def is None:
            if name in self.imported_expr:
                trig: Node = Leaf("speech", format_key(k), expressions=self.imported_expr[name], speech_intent=name)
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
                        raise self.err(
                            _leaf_path(lf),
                            f"slot '{s.name}' is declared as '{declared}' but the expression uses it as '{s.type}'",
                        )
            for cname, cval in lf.constants.items():
                if cname not in slots:
                    raise self.err(_leaf_path(lf) + ["slots", cname], f"undeclared slot '{cname}'")
                st = self.slot_types[slots[cname]]
                if st.kind == "enum" and cval not in st.values:
                    raise self.err(
                        _leaf_path(lf) + ["slots", cname], f"{cval!r} is not a value of slot type '{st.name}'"
                    )
            if lf.predicate and not lf.literal:
                if lf.argument not in slots:
                    slots[lf.argument] = "target"
                elif self.slot_types[slots[lf.argument]].kind != "target":
                    raise self.err(_leaf_path(lf), f"{lf.predicate}({lf.argument}) needs a target slot")
        check_conditions(trig, self.err)
        required = self.get(d, k, "required", (list,), [])
        for i, r in enumerate(required):
            if r not in slots:
                raise self.err(k + ["required", i], f"required slot {r!r} is not a slot of this intent")
        group = self.get(d, k, "group", (str,), None)
        return Intent(
            name,
            slots,
            trig,
            self.get(d, k, "priority", (int,), self.d_prio),
            self.conf(d, k, "min_confidence", self.d_conf),
            self.ms(d, k, "refractory_ms", self.d_refr),
            self._scope(d, k),
            self.ms(d, k, "hold_ms", self.d_hold),
            group,
            self._resolve(d, k, self.d_resolve),
            list(required),
            self.get(d, k, "description", (str,), ""),
        )

    def _macro_key(self, name: str) -> list:
        return self.macro_keys.get(name, ["macros", name])

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
        try:
            found = p.is_file()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte in it
            raise self.err(k + ["path"], f"rhino context path is not usable: {exc}") from None
        if not found:
            raise self.err(k + ["path"], f"rhino context not found: {p} (base {base!r} = {self.bases[base]})")
        only = self.get(e, k, "intents", (list,), None)
        ctx = load_rhino_context(p)
        for tname, st in ctx.slot_types.items():
            self.slot_types[tname] = st
        for mname, exprs in ctx.macros.items():
            self.macros[mname] = exprs
            self.macro_keys[mname] = k
        for iname, exprs in ctx.expressions.items():
            if only is None or iname in only:
                self.imported_expr.setdefault(iname, []).extend(exprs)
        return p


def _all_leaves(node: Node) -> list[Leaf]:
    out: list[Leaf] = []
    _leaves(node, out)
    return out


def _leaf_path(lf: Leaf) -> list[str | int]:
    return path_of(lf.key)


def load_spec(path: str | os.PathLike, options: SpecOptions | None = None) -> Spec:
    """Load and validate a spec file. A bare name ("default_ar") means assets/specs/<name>.toml."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SPECS_DIR / f"{p.name}.toml"
    if not p.is_file():
        raise SpecError(p, None, "", "spec file not found" if not p.exists() else "not a regular file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SpecError(p, None, "", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(p, None, "", f"{len(data):,} bytes; a spec is at most {MAX_SPEC_BYTES:,}")
    return _Loader(p, decode_text(p, data), options or SpecOptions()).load()


def loads_spec(text: str, name: str = "<string>.toml", options: SpecOptions | None = None) -> Spec:
    """Load a spec from text (tests, specs sent over the network)."""
    return _Loader(Path(name), text, options or SpecOptions()).load()
