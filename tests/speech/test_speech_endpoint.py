"""Grammar endpointing and incremental decoding: the command state of partial text, an early endpoint on
real speech (well before the VAD hangover) with the same reading as the previous path, and the
fallback to whole-segment decoding for a backend that cannot stream."""

from __future__ import annotations

import numpy as np

from perception.speech.audio import read_wav
from perception.speech.context import Context
from perception.speech.endpoint import (
    BufferedStream,
    CommandState,
    EndpointOptions,
    GrammarEndpointer,
    command_state,
    open_stream,
)
from perception.speech.evaluate import score
from perception.speech.grammar import compile_grammar
from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

NS = 1_000_000_000


def test_command_state_complete_continuable_and_off_grammar(barista_grammar):
    st = command_state(barista_grammar, ["can", "i", "get", "a", "large", "latte"])
    assert st.complete and st.can_continue and st.prefix  # "... with soy milk" may follow
    st = command_state(barista_grammar, ["can", "i", "get", "a"])
    assert not st.complete and st.can_continue and st.prefix
    assert command_state(barista_grammar, ["what", "is", "the", "weather"]) == CommandState(False, False, False)
    g = compile_grammar(Context({"stop": ["stop"], "go": ["go (now)"]}))
    assert command_state(g, ["stop"]) == CommandState(True, False, True)  # nothing continues it
    assert command_state(g, ["go"]) == CommandState(True, True, True)


def test_endpointer_waits_longer_when_the_command_can_go_on():
    g = compile_grammar(Context({"stop": ["stop"], "go": ["go (now)"]}))
    ep = GrammarEndpointer(g, EndpointOptions(final_hangover_ms=96, open_hangover_ms=160))
    assert not ep.should_end("stop", 64) and ep.should_end("stop", 96)
    assert not ep.should_end("go", 128) and ep.should_end("go", 160)
    assert not ep.should_end("", 1000) and not ep.should_end("go now please", 1000)


def _ends(recognizer, x):
    rs = recognizer.recognize(x)
    r = next((r for r in reversed(rs) if r.intent), None)
    return r, (r.segment.t_detected_ns - r.segment.t_end_ns) / 1e6 if r else None


def test_early_endpoint_on_real_speech_same_reading(barista, barista_labels, barista_grammar):
    """Decision after end of speech: the open hangover (160 ms) instead of the VAD's 320 ms, and the
    same command read out on files where both paths agree with the label."""
    new = SpeechRecognizer(barista_grammar, SpeechOptions())
    old = SpeechRecognizer(barista_grammar, SpeechOptions(endpoint=None))
    names = sorted(barista_labels)[1:12:2]
    waits_new, waits_old, same = [], [], 0
    for n in names:
        x, _ = read_wav(barista / "clean" / n)
        rn, wn = _ends(new, x)
        ro, wo = _ends(old, x)
        assert rn is not None and ro is not None, n
        waits_new.append(wn)
        waits_old.append(wo)
        same += (rn.intent, rn.slots) == (ro.intent, ro.slots) and score(barista_labels[n], rn.intent, rn.slots)
    # measured: 5 of these 6 end 96-160 ms after the last voiced chunk; one is not a complete command
    # in the partial text at that point and falls back to the VAD's 320 ms
    assert sorted(waits_new)[len(names) // 2] <= 160 and sum(w > 192 for w in waits_new) <= 1, waits_new
    assert min(waits_old) >= 320, waits_old
    assert same >= len(names) - 1, same


class _WholeSegmentOnly:
    """A real backend seen through the plain SpeechBackend interface (no open_stream)."""

    def __init__(self, inner):
        self.inner = inner
        self.name = "whole"

    def decode(self, audio, sample_rate):
        return self.inner.decode(audio, sample_rate)

    def close(self):
        pass


def test_backend_without_streaming_falls_back_to_whole_segments(barista, barista_labels, barista_recognizer):
    wrapped = _WholeSegmentOnly(barista_recognizer.backend)
    assert isinstance(open_stream(wrapped), BufferedStream)
    r = SpeechRecognizer(barista_recognizer.grammar, SpeechOptions(), backend=wrapped)
    n = sorted(barista_labels)[3]
    x, _ = read_wav(barista / "clean" / n)
    res, wait = _ends(r, x)
    assert res is not None and score(barista_labels[n], res.intent, res.slots)
    assert wait >= 320  # no partial text: the VAD hangover ends the command


def test_silence_and_short_clicks_give_nothing(barista_recognizer):
    x = np.zeros(16000 * 2, np.float32)
    x[16000 : 16000 + 800] = 0.3 * np.sin(np.arange(800) * 0.3)  # a 50 ms click
    assert barista_recognizer.recognize(x) == []
