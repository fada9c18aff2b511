"""Wake phrase: no false accepts on real non-wake speech; detection of synthetic wake utterances
(espeak-ng, skipped when the program is absent); gating of commands in the stage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from perception.speech.audio import read_wav
from perception.speech.stage import SpeechStage, SpeechStageOptions
from perception.speech.wake import WakeOptions, WakePhraseSpotter
from perception.stream.types import AudioChunk

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package espeak-ng) makes the synthetic wake utterances"
)


def test_no_false_accepts_on_barista_speech(barista):
    files = sorted((barista / "clean").glob("*.wav"))[:30]
    sp = WakePhraseSpotter(WakeOptions())
    sp.reset()
    dets = []
    for f in files:
        dets += sp.push(read_wav(f)[0])
    assert dets == []


def test_unknown_wake_word_is_reported():
    with pytest.raises(ValueError, match="zzqx"):
        WakePhraseSpotter(WakeOptions(phrase="hey zzqx"))


def _wake_then_command(barista, voice="en-us"):
    from perception.speech.wake_eval import espeak

    w = espeak("hey cue", voice, 150)
    cmd, _ = read_wav(min((barista / "clean").glob("*.wav")))
    w = w * (0.8 * np.max(np.abs(cmd)) / np.max(np.abs(w)))
    return (
        np.concatenate([np.zeros(8000, np.float32), w, np.zeros(4800, np.float32), cmd]).astype(np.float32),
        len(w),
        cmd,
    )


@needs_espeak
def test_synthetic_wake_phrase_is_detected_in_time(barista):
    x, n, _ = _wake_then_command(barista)
    dets = WakePhraseSpotter(WakeOptions()).detect(x, t0_ns=0)
    assert len(dets) == 1
    d = dets[0]
    assert 8000 - 3200 <= d.start and d.end <= 8000 + n + 3200


def _run_stage(x, options):
    st = SpeechStage(options)
    st.setup()
    out = []
    for i in range(0, len(x), 512):
        st.process(AudioChunk(x[i : i + 512].copy(), 16000, i * 1_000_000_000 // 16000), out.append)
    st.close(out.append)
    return st, out


@needs_espeak
def test_gating_passes_commands_only_after_the_wake_phrase(barista):
    x, _, cmd_only = _wake_then_command(barista)
    ctx = str(barista / "coffee_maker.yaml")
    _, out = _run_stage(x, SpeechStageOptions(context=ctx, wake=WakeOptions()))
    kinds = [o.kind for o in out if not o.kind.startswith("vad_")]  # VAD edges are for displays
    assert kinds[0] == "wake" and "intent" in kinds, kinds
    st2, out2 = _run_stage(
        np.concatenate([np.zeros(8000, np.float32), cmd_only]), SpeechStageOptions(context=ctx, wake=WakeOptions())
    )
    assert not [o for o in out2 if o.kind == "intent"] and st2.counts["gated"] >= 1
