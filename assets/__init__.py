"""The data CueKit ships: intent specs, fusion scenarios, trained gesture models, the bundled demo session.

Everything reads them through `assets.path(...)` (importlib.resources), so an installed wheel finds them
exactly as a checkout does, from any working directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def path(*parts: str) -> Path:
    """A shipped file or folder as a filesystem path (pip installs wheels unpacked, so it is a real one)."""
    return Path(str(files(__name__).joinpath(*parts)))
