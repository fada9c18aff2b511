"""The spec's data model: intents, their typed slots and trigger trees, and the spec-wide options.

Loading and validation live in `fusion.spec_loader`; this module only describes what a loaded,
validated spec is, and the helpers the engine asks it (slot values, speech matching).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import assets
from perception.hands.vocabulary import EMITS as HAND_EMITS
from perception.speech.expressions import Expression, ExpressionMatch, match_tokens, tokenize
from perception.wrist.vocabulary import EMITS as WRIST_EMITS

REPO = Path(__file__).resolve().parents[1]
SPECS_DIR = assets.path("specs")

HAND_GESTURES = HAND_EMITS
WRIST_GESTURES = WRIST_EMITS
MODALITIES = ("speech", "hand", "wrist", "context")
PREDICATES = ("gaze_on", "pointing_at")
SLOT_KINDS = ("enum", "target", "string", "number")
DEFAULT_DEIXIS = ("this", "that", "here", "there", "it")
DEFAULT_LATENESS_MS = {"hand": 150, "wrist": 300, "speech": 1500, "gaze": 150, "context": 150}


class SpecError(ValueError):
    """A spec problem; `str()` is `file:line: key: message`."""

    def __init__(self, file: str | os.PathLike | None, line: int | None, key: str, message: str) -> None:
        self.file = str(file) if file is not None else "<spec>"
        self.line = line
        self.key = key
        self.message = message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


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
        return tuple(
            sorted({lf.dwell_ms for it in self.intents.values() for lf in it.leaves() if lf.dwell_ms is not None})
        )

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
