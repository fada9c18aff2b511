"""Fixtures for the speech tests: the barista context, grammar and labels from ../shared (cached, so
the session builds each once)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest


@functools.cache
def _context(path: str):
    from perception.speech.context import Context

    return Context.from_rhino_yaml(path)


@functools.cache
def _grammar(path: str):
    from perception.speech.grammar import compile_grammar

    return compile_grammar(_context(path))


@functools.cache
def _recognizer(path: str):
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

    # the PocketSphinx path's tests (rejection margins, streaming equality) pin their backend; the
    # default ("auto": whisper when built) has its own tests in test_speech_whisper.py
    return SpeechRecognizer(_grammar(path), SpeechOptions(backend="pocketsphinx"))


@pytest.fixture
def barista(shared) -> Path:
    return shared("data", "speech", "barista")


@pytest.fixture
def barista_context(barista):
    return _context(str(barista / "coffee_maker.yaml"))


@pytest.fixture
def barista_grammar(barista):
    return _grammar(str(barista / "coffee_maker.yaml"))


@pytest.fixture
def barista_recognizer(barista):
    """A shared recogniser (reset by every `recognize` call)."""
    return _recognizer(str(barista / "coffee_maker.yaml"))


@pytest.fixture
def barista_labels(barista) -> dict:
    return json.loads((barista / "label.json").read_text())
