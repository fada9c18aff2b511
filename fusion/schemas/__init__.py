"""Versioned JSON Schemas for what crosses fusion's boundary: Observation, IntentEvent, the scene.

    from fusion.schemas import validate
    validate("intent_event", event.to_json())      # raises jsonschema.ValidationError

Each schema's `$id` carries its version (`https://cuekit.dev/schemas/<name>/<semver>`); bump it
when the shape changes.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

HERE = Path(__file__).resolve().parent
NAMES = ("observation", "intent_event", "scene")


@cache
def load(name: str) -> dict[str, Any]:
    if name not in NAMES:
        raise KeyError(f"unknown schema {name!r} (have {', '.join(NAMES)})")
    return json.loads((HERE / f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def _registry() -> Registry:
    return Registry().with_resources([(load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES])


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=_registry())


def validate(name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError if `instance` does not match schema `name`."""
    validator(name).validate(instance)


def version(name: str) -> str:
    return load(name)["$id"].rsplit("/", 1)[-1]
