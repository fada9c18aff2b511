"""tests/hostile: the helpers and bomb builders beside these tests are importable as modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_helpers import run_bounded


@pytest.fixture
def baseline_rss_mb() -> float:
    """Peak RSS of a process that only imports what the bombs import (the ceiling is stated above it)."""
    r = run_bounded("import app.daemon.ingest, app.recording.mcap_reader, fusion.spec, cv2, numpy")
    return r["rss_mb"]
