"""Hostile-input tests: helpers to run a bomb in a fresh interpreter and read its peak RSS and time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable

_PRELUDE = """
import json, resource, sys, time
sys.path.insert(0, {repo!r}); sys.path.insert(0, {here!r})
t0 = time.monotonic()
outcome = "returned"
try:
{body}
except BaseException as exc:  # the test reads what happened
    outcome = f"{{type(exc).__name__}}: {{str(exc)[:300]}}"
print(json.dumps({{"outcome": outcome, "seconds": time.monotonic() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_bounded(body: str, timeout: float = 120) -> dict:
    """Run `body` in a new Python process; its outcome (or exception), wall seconds and peak RSS (MB).
    The process gets an address-space cap of 3 GB so a regression cannot take the machine down."""
    code = _PRELUDE.format(
        repo=str(REPO), here=str(Path(__file__).parent), body=textwrap.indent(textwrap.dedent(body), "    ")
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, check=False, preexec_fn=_cap_memory
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"bomb process died (exit {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(lines[-1])


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def run_cli(
    *args: str, timeout: float = 120, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    e = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    e.pop("CUEKIT_DEBUG", None)
    return subprocess.run(
        [PY, "-m", "app.cli", *args], capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd, check=False
    )
