"""Finding an already built model in the cache: the light path a running recogniser takes, with no
converter dependencies (onnx, tflite) imported. Building is `perception.models.build`."""

from __future__ import annotations

import json
from pathlib import Path

from . import source
from .registry import CONVERTER_VERSION

MANIFEST_FORMAT = 1


def read_manifest(root: Path) -> dict:
    try:
        data = json.loads((root / "manifest.json").read_text())
        if data.get("format") == MANIFEST_FORMAT:
            return data
    except (OSError, ValueError):
        pass
    return {"format": MANIFEST_FORMAT, "models": {}}


def check(root: Path, name: str, variant: str = "fp32", manifest: dict | None = None) -> tuple[Path | None, str]:
    """(path, "ok") when the variant is built by this converter version and its hash matches,
    else (None, why not)."""
    entry = (manifest or read_manifest(root))["models"].get(name)
    if entry is None:
        return None, "not built"
    if entry.get("converter_version") != CONVERTER_VERSION:
        return None, f"built by converter version {entry.get('converter_version')}, now {CONVERTER_VERSION}"
    var = entry.get("variants", {}).get(variant)
    if var is None:
        return None, f"variant {variant} not built"
    path = root / var["file"]
    if not path.exists():
        return None, f"{path.name} is missing"
    digest = source.sha256_file(path)
    if digest != var["sha256"]:
        return None, f"{path.name} has sha256 {digest[:12]}..., manifest says {var['sha256'][:12]}..."
    return path, "ok"
