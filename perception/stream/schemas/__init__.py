"""The JSON Schema of each type that crosses a boundary as JSON, kept next to the type
(`perception/stream/types.py`; the scene is `perception/context/scene.py`). Everything else refers to
these: the protocol schemas in `app/daemon/schemas/` by `$ref` to the `$id`, the MCAP channel schemas in
`app/recording/schemas.py` by embedding them, fusion's checks through `validate`, and the JS client's
TypeScript types are checked against them (`clients/js/test/types.test.js`).

    from perception.stream.schemas import validate
    validate("intent_event", event.to_json())      # raises jsonschema.ValidationError

Each `$id` carries the schema's version (`https://cuekit.dev/schemas/<name>/<semver>`); bump it when the
shape changes (and the `$ref`s with it).
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
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """The schemas by `$id`, for validators of schemas that `$ref` them."""
    return Registry().with_resources([(load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES])


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry())


def validate(name: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError if `instance` does not match schema `name`."""
    validator(name).validate(instance)


def version(name: str) -> str:
    return load(name)["$id"].rsplit("/", 1)[-1]
