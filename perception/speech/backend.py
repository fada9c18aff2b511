"""The recogniser interface: audio of one speech segment in, ranked text hypotheses out.

Every backend returns plain text plus word timings; turning text into an intent is done once, by
`perception.speech.parser`, so a grammar-constrained decoder (PocketSphinx, shipped) and an
open-vocabulary one (Vosk, Whisper via sherpa-onnx, when a user has the model files) are
interchangeable behind `SpeechBackend`.

Shipped: "whisper" (the converted Whisper tiny.en, decoding constrained by the grammar; the default
where its model is built) and "pocketsphinx" (the light path: ~4x less CPU, weaker in noise).
"auto" picks whisper when `cuekit models build --speech` has built it, else pocketsphinx (said once).
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class WordTiming:
    word: str
    start_s: float  # from the start of the decoded audio
    end_s: float
    confidence: float = 1.0


@dataclass(slots=True)
class Hypothesis:
    """One transcript. `score` is the backend's log score (comparable within one decode only);
    `confidence` in [0, 1] is the backend's belief that the segment really was this in-domain speech."""

    text: str
    score: float
    confidence: float
    words: list[WordTiming] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)  # what the confidence was computed from


class SpeechBackend(ABC):
    """Decode one segment. An empty list means nothing was recognised."""

    name: str = "backend"
    grammar_constrained: bool = False  # True: only in-grammar text comes out (no open vocabulary)

    @abstractmethod
    def decode(self, segment_audio: np.ndarray, sample_rate: int) -> list[Hypothesis]:
        """`segment_audio` float32 mono in [-1, 1]. Best hypothesis first."""

    def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Free native resources (optional)."""


_REGISTRY: dict[str, Callable[..., SpeechBackend]] = {}
# modules that register the shipped backends when imported; named, not imported here, so the backends
# (which import this module for the ABC) do not form an import circle with it
SHIPPED_BACKEND_MODULES = (
    "perception.speech.pocketsphinx_backend",
    "perception.speech.vosk_backend",
    "perception.speech.whisper.backend",
)


def _load_shipped() -> None:
    for module in SHIPPED_BACKEND_MODULES:
        importlib.import_module(module)


def register_backend(name: str, factory: Callable[..., SpeechBackend]) -> None:
    """Plug-in point: `register_backend("vosk", lambda grammar, **kw: MyVosk(...))`."""
    _REGISTRY[name] = factory


_AUTO_SAID = False
# whisper tiny.en decodes a command in ~0.15 s of one core (docs/speech.md); with one core the VAD, the
# other modalities and the decoder would contend, so the light path is chosen there
MIN_CORES_FOR_WHISPER = 2


def resolve_backend_name(name: str) -> str:
    """ "auto" -> "whisper" when its converted model is in the cache and intact, else "pocketsphinx"."""
    global _AUTO_SAID
    if name != "auto":
        return name
    import os

    from perception.speech.whisper import build

    d, status = build.check(hashes=False)
    if d is not None and (os.cpu_count() or 1) >= MIN_CORES_FOR_WHISPER:
        return "whisper"
    if d is not None:
        status = f"needs {MIN_CORES_FOR_WHISPER} cores, this machine has {os.cpu_count()}"
    if not _AUTO_SAID:
        logging.getLogger("cuekit.speech").warning("speech backend auto: whisper %s; using pocketsphinx", status)
        _AUTO_SAID = True
    return "pocketsphinx"


def create_backend(name: str, grammar, **kwargs) -> SpeechBackend:
    name = resolve_backend_name(name)
    if name not in _REGISTRY:
        _load_shipped()
    if name not in _REGISTRY:
        raise ValueError(f"unknown speech backend {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](grammar, **kwargs)


def available_backends() -> list[str]:
    _load_shipped()
    return sorted(_REGISTRY)
