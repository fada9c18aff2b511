"""Fusion checks what crosses its boundary against the one schema of each type, which lives next to the
type in `perception/stream/schemas/` (this module only re-exports it)."""

from perception.stream.schemas import NAMES, load, validate, validator, version

__all__ = ["NAMES", "load", "validate", "validator", "version"]
