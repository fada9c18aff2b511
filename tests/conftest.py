"""Shared test fixtures: headless Qt, and the read-only reference data in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEKIT_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared; skips the test when absent, fails instead under CUEKIT_REQUIRE_SHARED=1."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        reason = f"reference data {p} is absent (../shared is not beside this checkout)"
        if os.environ.get("CUEKIT_REQUIRE_SHARED") == "1":
            pytest.fail(reason + " and CUEKIT_REQUIRE_SHARED=1")
        pytest.skip(reason)
    return p


@pytest.fixture
def shared():
    """`shared("data", "imu")` -> Path, with the skip/fail rule of `shared_path`."""
    return shared_path
