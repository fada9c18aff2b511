"""Fusion scenarios: timed observations + a scene -> the intents that must (and must not) come out.

A scenario is a TOML (or JSON) file; see docs/fusion.md for the format. `run_scenario` replays it
through a real `FusionEngine` on a simulated clock: each observation is pushed at its arrival time,
the clock ticks every `tick_ms` in between (so held intents and timeouts fire when they would live),
and the stream is flushed at `end_ms`.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusion.engine import EngineOptions, FusionEngine
from fusion.spec import Spec, SpecError, SpecOptions, format_key, load_spec, toml_line_of
from perception.context.scene import Scene, SceneError, Target
from perception.stream.types import IntentEvent, Observation

MS = 1_000_000


class ScenarioError(SpecError):
    """A malformed scenario; names file, line and key like a spec error."""


@dataclass(slots=True)
class ExpectedIntent:
    name: str
    slots: dict[str, Any] = field(default_factory=dict)
    derived_from: list[str] = field(default_factory=list)  # observation labels that must be cited
    modalities: list[str] | None = None
    min_confidence: float = 0.0
    before_ms: float | None = None  # emitted no later than this (scenario time)
    after_ms: float | None = None  # ... and not earlier than this


@dataclass(slots=True)
class TimedObservation:
    label: str
    obs: Observation
    arrive_ns: int


@dataclass(slots=True)
class Scenario:
    name: str
    path: str
    spec_ref: str
    description: str
    tags: list[str]
    scene: list[dict[str, Any]]
    observations: list[TimedObservation]
    expected: list[ExpectedIntent]
    exact: bool = True
    tick_ms: float = 10.0
    end_ms: float | None = None


@dataclass(slots=True)
class ScenarioResult:
    name: str
    path: str
    passed: bool
    problems: list[str]
    events: list[IntentEvent]
    latencies: list[dict[str, Any]]  # per matched/emitted intent
    stats: dict[str, Any]
    tags: list[str]
    push_ms: list[float] = field(default_factory=list)  # wall time of each engine.push call

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "passed": self.passed,
            "problems": self.problems,
            "tags": self.tags,
            "events": [e.to_json() for e in self.events],
            "latencies": self.latencies,
            "stats": self.stats,
        }


# ------------------------------------------------------------------------------------------------
# loading

_OBS_KEYS = {
    "id",
    "modality",
    "kind",
    "t_ms",
    "end_ms",
    "dur_ms",
    "arrive_ms",
    "confidence",
    "payload",
    "source_id",
    "text",
    "words",
    "intent",
    "slots",
    "n_best",
}
_EXPECT_KEYS = {"name", "slots", "from", "modalities", "min_confidence", "before_ms", "after_ms"}


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(p, exc.lineno, "", f"JSON syntax: {exc.msg}") from None
        line_of = lambda key: None
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(p, None, "", f"TOML syntax: {exc}") from None
        line_of = lambda key: toml_line_of(text, key)

    def err(key: list, msg: str) -> ScenarioError:
        return ScenarioError(p, line_of(key), format_key(key), msg)

    for k in doc:
        if k not in {"name", "description", "tags", "spec", "scene", "obs", "expect", "exact", "tick_ms", "end_ms"}:
            raise err([k], f"unknown key '{k}'")
    scene = doc.get("scene", [])
    if not isinstance(scene, list):
        raise err(["scene"], "scene is a list of targets ([[scene]] tables)")
    for i, t in enumerate(scene):
        try:
            Target.from_json(t)
        except SceneError as exc:
            raise err(["scene", i], str(exc)) from None
    observations: list[TimedObservation] = []
    labels: set[str] = set()
    for i, o in enumerate(doc.get("obs", [])):
        k = ["obs", i]
        if not isinstance(o, dict):
            raise err(k, "an observation is a table")
        for kk in o:
            if kk not in _OBS_KEYS:
                raise err(k + [kk], f"unknown key '{kk}' (allowed: {', '.join(sorted(_OBS_KEYS))})")
        for req in ("modality", "kind", "t_ms"):
            if req not in o:
                raise err(k, f"missing required key '{req}'")
        t0 = _num(o, "t_ms", k, err)
        if "end_ms" in o:
            t1 = _num(o, "end_ms", k, err)
        else:
            t1 = t0 + (_num(o, "dur_ms", k, err) if "dur_ms" in o else 0)
        if t1 < t0:
            raise err(k + ["end_ms"], "end before start")
        arrive = _num(o, "arrive_ms", k, err) if "arrive_ms" in o else t1
        label = str(o.get("id", f"o{i}"))
        if label in labels:
            raise err(k + ["id"], f"duplicate observation id {label!r}")
        labels.add(label)
        payload = dict(o.get("payload", {}))
        if o["modality"] == "speech":
            payload.setdefault("intent", o.get("intent"))
            payload.setdefault("slots", o.get("slots", {}))
            payload.setdefault("text", o.get("text", ""))
            payload.setdefault("n_best", o.get("n_best", []))
            if "words" in o:
                words = []
                for j, w in enumerate(o["words"]):
                    if not (isinstance(w, list) and len(w) == 3 and isinstance(w[0], str)):
                        raise err(k + ["words", j], "a word is [text, start_ms, end_ms]")
                    words.append(
                        {"word": w[0], "t_start_ns": int(w[1] * MS), "t_end_ns": int(w[2] * MS), "confidence": 1.0}
                    )
                payload["words"] = words
        conf = o.get("confidence", 0.9)
        obs = Observation(
            modality=str(o["modality"]),
            kind=str(o["kind"]),
            confidence=conf,
            t_start_ns=int(t0 * MS),
            t_end_ns=int(t1 * MS),
            payload=payload,
            source_id=str(o.get("source_id", "scenario")),
        )
        observations.append(TimedObservation(label, obs, int(arrive * MS)))
    expected: list[ExpectedIntent] = []
    for i, e in enumerate(doc.get("expect", [])):
        k = ["expect", i]
        if not isinstance(e, dict) or "name" not in e:
            raise err(k, "an expectation needs a 'name'")
        for kk in e:
            if kk not in _EXPECT_KEYS:
                raise err(k + [kk], f"unknown key '{kk}' (allowed: {', '.join(sorted(_EXPECT_KEYS))})")
        for j, lab in enumerate(e.get("from", [])):
            if lab not in labels:
                raise err(k + ["from", j], f"no observation with id {lab!r}")
        expected.append(
            ExpectedIntent(
                e["name"],
                dict(e.get("slots", {})),
                list(e.get("from", [])),
                e.get("modalities"),
                float(e.get("min_confidence", 0.0)),
                e.get("before_ms"),
                e.get("after_ms"),
            )
        )
    return Scenario(
        name=str(doc.get("name", p.stem)),
        path=str(p),
        spec_ref=str(doc.get("spec", "default_ar")),
        description=str(doc.get("description", "")),
        tags=list(doc.get("tags", [])),
        scene=scene,
        observations=observations,
        expected=expected,
        exact=bool(doc.get("exact", True)),
        tick_ms=float(doc.get("tick_ms", 10.0)),
        end_ms=doc.get("end_ms"),
    )


def _num(o: dict, key: str, k: list, err) -> float:
    v = o[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise err(k + [key], f"expected a number of milliseconds, got {v!r}")
    return float(v)


def resolve_spec(sc: Scenario, cache: dict[str, Spec] | None = None, options: SpecOptions | None = None) -> Spec:
    ref = sc.spec_ref
    p = Path(ref)
    if p.suffix and not p.is_absolute():
        p = Path(sc.path).parent / p
    key = str(p)
    if cache is not None and key in cache:
        return cache[key]
    spec = load_spec(p, options)
    if cache is not None:
        cache[key] = spec
    return spec


# ------------------------------------------------------------------------------------------------
# running


def run_scenario(sc: Scenario, spec: Spec, options: EngineOptions | None = None) -> ScenarioResult:
    scene = Scene.from_json({"targets": sc.scene})
    engine = FusionEngine(spec, scene, options)
    arrivals = sorted(sc.observations, key=lambda t: (t.arrive_ns, t.obs.t_end_ns))
    last = max([t.arrive_ns for t in arrivals] + [0])
    end_ns = int(sc.end_ms * MS) if sc.end_ms is not None else last + 3000 * MS
    tick = max(1, int(sc.tick_ms * MS))
    events: list[IntentEvent] = []
    t = min([a.arrive_ns for a in arrivals] + [0])
    i = 0
    push_ms: list[float] = []
    while t <= end_ns:
        while i < len(arrivals) and arrivals[i].arrive_ns <= t:
            c0 = time.perf_counter()
            events += engine.push(arrivals[i].obs, now_ns=arrivals[i].arrive_ns)
            push_ms.append((time.perf_counter() - c0) * 1e3)
            i += 1
        events += engine.advance(t)
        t += tick
    while i < len(arrivals):  # arrivals after end_ms still count
        events += engine.push(arrivals[i].obs, now_ns=arrivals[i].arrive_ns)
        i += 1
    events += engine.flush(end_ns)
    res = _judge(sc, events, engine)
    res.push_ms = push_ms
    return res


def _slot_ok(want: Any, got: Any) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        return all(_slot_ok(v, got.get(k)) for k, v in want.items())
    if want == "*":
        return got is not None
    return want == got


def _judge(sc: Scenario, events: list[IntentEvent], engine: FusionEngine) -> ScenarioResult:
    label_of = {t.obs.id: t.label for t in sc.observations}
    obs_by_id = {t.obs.id: t.obs for t in sc.observations}
    problems: list[str] = []
    used: set[int] = set()
    for exp in sc.expected:
        why: list[str] = []
        found = None
        for k, ev in enumerate(events):
            if k in used or ev.name != exp.name:
                continue
            r = _mismatch(exp, ev, label_of)
            if r is None:
                found = k
                break
            why.append(r)
        if found is None:
            extra = f" ({'; '.join(why)})" if why else ""
            problems.append(f"expected {exp.name}{exp.slots or ''} not emitted{extra}")
        else:
            used.add(found)
    if sc.exact:
        for k, ev in enumerate(events):
            if k not in used:
                problems.append(
                    f"unexpected {ev.name}{ev.slots} at {ev.t_emitted_ns / MS:.0f} ms "
                    f"from {[label_of.get(i, i) for i in ev.derived_from]}"
                )
    arrive = {t.obs.id: t.arrive_ns for t in sc.observations}
    lats = []
    for ev in events:
        ends = [obs_by_id[i].t_end_ns for i in ev.derived_from if i in obs_by_id]
        t_last = max(ends) if ends else ev.t_first_evidence_ns
        arrived = [arrive[i] for i in ev.derived_from if i in arrive]
        t_arr = max(arrived) if arrived else ev.t_emitted_ns
        mods = set(ev.modalities)
        # latency_ms: first evidence -> emitted (the IntentEvent's own); after_last_evidence_ms: end of
        # the last evidence -> emitted (includes the recognisers' simulated delays); decision_ms: last
        # evidence's arrival -> emitted (what fusion itself adds: holds, windows, deixis waits)
        lats.append(
            {
                "name": ev.name,
                "kind": _kind(mods),
                "latency_ms": ev.latency_ms,
                "after_last_evidence_ms": (ev.t_emitted_ns - t_last) / MS,
                "decision_ms": max(0.0, (ev.t_emitted_ns - t_arr) / MS),
            }
        )
    return ScenarioResult(sc.name, sc.path, not problems, problems, events, lats, engine.stats.to_json(), sc.tags)


def _kind(mods: set[str]) -> str:
    if "speech" in mods:
        return "speech"
    return "gesture"


def _mismatch(exp: ExpectedIntent, ev: IntentEvent, label_of: dict[int, str]) -> str | None:
    for k, v in exp.slots.items():
        if not _slot_ok(v, ev.slots.get(k)):
            return f"slot {k}={ev.slots.get(k)!r}, wanted {v!r}"
    cited = {label_of.get(i) for i in ev.derived_from}
    missing = [lab for lab in exp.derived_from if lab not in cited]
    if missing:
        return f"derived_from lacks {missing}"
    if exp.modalities is not None and sorted(exp.modalities) != sorted(ev.modalities):
        return f"modalities {ev.modalities}, wanted {sorted(exp.modalities)}"
    if ev.confidence < exp.min_confidence:
        return f"confidence {ev.confidence:.2f} < {exp.min_confidence}"
    t = ev.t_emitted_ns / MS
    if exp.before_ms is not None and t > exp.before_ms:
        return f"emitted at {t:.0f} ms, after {exp.before_ms} ms"
    if exp.after_ms is not None and t < exp.after_ms:
        return f"emitted at {t:.0f} ms, before {exp.after_ms} ms"
    return None


def scenario_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    return sorted([p for p in d.rglob("*") if p.suffix in (".toml", ".json") and p.is_file()])
