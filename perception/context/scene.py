"""The scene: what the user can point at, look at or name.

A target has an id, a label (the word people say), optional aliases, and a place: a box on the
camera image ("image" plane, pixels) or on the display ("screen" plane, pixels), and/or a 3-D
position (metres, in the glasses' world frame) with a radius. The GUI, a plugin or the network feed
it with small JSON messages (`Scene.apply`), which is also what `scene.schema.json` describes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PLANES = ("image", "screen")


class SceneError(ValueError):
    """A scene message or target that cannot be used; the text names the field."""


@dataclass(slots=True)
class Target:
    id: str
    label: str = ""
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 on `plane`
    plane: str = "image"
    position: tuple[float, float, float] | None = None  # metres
    radius: float = 0.1  # metres, for 3-D targets
    aliases: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Every phrase that names this target in speech."""
        out = [self.label or self.id, *self.aliases]
        return tuple(dict.fromkeys(n.lower() for n in out if n))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.box is not None:
            d["box"] = list(self.box)
            d["plane"] = self.plane
        if self.position is not None:
            d["position"] = list(self.position)
            d["radius"] = self.radius
        if self.aliases:
            d["aliases"] = list(self.aliases)
        if self.properties:
            d["properties"] = self.properties
        return d

    @classmethod
    def from_json(cls, d: Any) -> Target:
        if not isinstance(d, dict):
            raise SceneError(f"target must be an object, not {type(d).__name__}")
        tid = d.get("id")
        if not isinstance(tid, str) or not tid:
            raise SceneError(f"target.id must be a non-empty string, got {tid!r}")
        box = d.get("box")
        if box is not None:
            if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
                raise SceneError(f"target {tid!r}: box must be [x0, y0, x1, y1], got {box!r}")
            x0, y0, x1, y1 = (float(v) for v in box)
            if x1 < x0 or y1 < y0:
                raise SceneError(f"target {tid!r}: box has x1 < x0 or y1 < y0: {box!r}")
            box = (x0, y0, x1, y1)
        plane = d.get("plane", "image")
        if plane not in PLANES:
            raise SceneError(f"target {tid!r}: plane must be one of {PLANES}, got {plane!r}")
        pos = d.get("position")
        if pos is not None:
            if not (isinstance(pos, (list, tuple)) and len(pos) == 3 and all(isinstance(v, (int, float)) for v in pos)):
                raise SceneError(f"target {tid!r}: position must be [x, y, z], got {pos!r}")
            pos = tuple(float(v) for v in pos)
        if box is None and pos is None:
            raise SceneError(f"target {tid!r}: needs a box or a position")
        radius = d.get("radius", 0.1)
        if not isinstance(radius, (int, float)) or radius <= 0:
            raise SceneError(f"target {tid!r}: radius must be a positive number, got {radius!r}")
        aliases = d.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise SceneError(f"target {tid!r}: aliases must be a list of strings")
        label = d.get("label", tid)
        if not isinstance(label, str):
            raise SceneError(f"target {tid!r}: label must be a string")
        return cls(
            id=tid,
            label=label,
            box=box,
            plane=plane,
            position=pos,
            radius=float(radius),
            aliases=tuple(aliases),
            properties=dict(d.get("properties", {})),
        )


class Scene:
    """Thread-safe set of targets. Readers get snapshots; `version` counts changes."""

    def __init__(self, targets: Iterable[Target] = ()) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {}
        self.version = 0
        self._listeners: list[Callable[[Scene], None]] = []
        for t in targets:
            self._targets[t.id] = t

    # reading --------------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        with self._lock:
            return list(self._targets.values())

    def get(self, target_id: str) -> Target | None:
        with self._lock:
            return self._targets.get(target_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._targets)

    def find_by_name(self, phrase: str) -> Target | None:
        """The target whose id, label or alias is `phrase` (case-insensitive), else None."""
        p = phrase.lower().strip()
        for t in self.targets():
            if p == t.id.lower() or p in t.names:
                return t
        return None

    # writing --------------------------------------------------------------------------------
    def upsert(self, target: Target) -> None:
        with self._lock:
            self._targets[target.id] = target
            self.version += 1
        self._notify()

    def remove(self, target_id: str) -> bool:
        with self._lock:
            found = self._targets.pop(target_id, None) is not None
            if found:
                self.version += 1
        if found:
            self._notify()
        return found

    def clear(self) -> None:
        with self._lock:
            self._targets.clear()
            self.version += 1
        self._notify()

    def on_change(self, fn: Callable[[Scene], None]) -> None:
        self._listeners.append(fn)

    def _notify(self) -> None:
        for fn in list(self._listeners):
            fn(self)

    def apply(self, message: Any) -> None:
        """Apply one update message: {"op": "upsert", "target": {...}} | {"op": "remove", "id": ...}
        | {"op": "replace", "targets": [...]} | {"op": "clear"}. Raises SceneError naming the problem."""
        if not isinstance(message, dict):
            raise SceneError(f"scene message must be an object, not {type(message).__name__}")
        op = message.get("op")
        if op == "upsert":
            self.upsert(Target.from_json(message.get("target")))
        elif op == "remove":
            tid = message.get("id")
            if not isinstance(tid, str):
                raise SceneError("remove needs an 'id' string")
            self.remove(tid)
        elif op == "replace":
            targets = message.get("targets")
            if not isinstance(targets, list):
                raise SceneError("replace needs a 'targets' list")
            parsed = [Target.from_json(t) for t in targets]
            with self._lock:
                self._targets = {t.id: t for t in parsed}
                self.version += 1
            self._notify()
        elif op == "clear":
            self.clear()
        else:
            raise SceneError(f"unknown scene op {op!r} (use upsert, remove, replace or clear)")

    # serialisation --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "targets": [t.to_json() for t in self.targets()]}

    @classmethod
    def from_json(cls, d: Any) -> Scene:
        if isinstance(d, list):
            d = {"targets": d}
        if not isinstance(d, dict) or not isinstance(d.get("targets", []), list):
            raise SceneError('scene must be {"targets": [...]}')
        ids: set[str] = set()
        targets = []
        for t in d.get("targets", []):
            tt = Target.from_json(t)
            if tt.id in ids:
                raise SceneError(f"duplicate target id {tt.id!r}")
            ids.add(tt.id)
            targets.append(tt)
        return cls(targets)
