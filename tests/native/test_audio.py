"""Log-mel / MFCC against the numpy reference, and the resampler's filter specification."""

from __future__ import annotations

import numpy as np
import pytest

from native import _reference as ref
from native.audio import MFCC, LogMel, Resampler, log_mel, mfcc, resample


def _speechlike(n=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + rng.normal(0, 0.05, n)
    x[4000:6500] = 0.0  # digital silence exercises the log floor
    return x.astype(np.float32)


OPTIONS = [
    {},
    {"n_mels": 80, "window": "povey", "preemphasis": 0.97, "remove_dc": True},
    {"n_fft": 1024, "win_length": 1024, "hop": 256, "n_mels": 64, "fmin": 0.0, "fmax": 7600.0, "window": "hamming"},
    {"sample_rate": 8000, "n_fft": 256, "win_length": 200, "hop": 80, "n_mels": 23, "window": "rect"},
]


@pytest.mark.parametrize("opts", OPTIONS)
def test_log_mel_matches_numpy(opts):
    x = _speechlike()
    got = log_mel(x, **opts)
    kw = {("window_kind" if k == "window" else k): v for k, v in opts.items()}
    want = ref.log_mel(x, **kw)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= 1e-4
    # the silent stretch hits the floor, not -inf
    assert np.isfinite(got).all() and got.min() == pytest.approx(np.log(1e-10), abs=1e-3)


def test_streaming_equals_batch_for_any_chunking():
    x = _speechlike(24000, 1)
    whole = log_mel(x, n_mels=80)
    lm = LogMel(n_mels=80)
    rng = np.random.default_rng(2)
    cuts = np.sort(rng.integers(0, x.size, 40))
    parts = [lm.push(c) for c in np.split(x, cuts)]
    got = np.concatenate(parts)
    assert got.shape == whole.shape and lm.frames_done == whole.shape[0]
    assert np.array_equal(got, whole)
    assert lm.push(np.zeros(0, np.float32)).shape == (0, 80)


def test_mfcc_is_dct_of_log_mel():
    x = _speechlike()
    got = mfcc(x, 13, n_mels=40)
    want = ref.log_mel(x).astype(np.float64) @ ref.dct_matrix(13, 40).T
    assert np.abs(got - want).max() <= 1e-4
    m = MFCC(20, n_mels=40)
    assert np.allclose(np.concatenate([m.push(x[:7777]), m.push(x[7777:])]), mfcc(x, 20), atol=0)


def test_log_mel_bad_input():
    with pytest.raises(TypeError, match="floating"):
        LogMel().push(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="mono"):
        LogMel().push(np.zeros((100, 2), np.float32))
    with pytest.raises(ValueError, match="power of two"):
        LogMel(n_fft=500)
    with pytest.raises(ValueError, match="win_length"):
        LogMel(win_length=1000)
    with pytest.raises(ValueError, match="fmin"):
        LogMel(fmax=9000)
    with pytest.raises(ValueError, match="empty"):
        LogMel(n_fft=64, win_length=64, n_mels=80)
    with pytest.raises(ValueError, match="n_mfcc"):
        MFCC(50, n_mels=40)
    # non-finite samples are refused and leave the stream state untouched
    lm = LogMel()
    lm.push(np.zeros(300, np.float32))
    bad = np.zeros(100, np.float32)
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lm.push(bad)
    assert lm.push(np.zeros(100, np.float32)).shape == (1, 40)


@pytest.mark.parametrize("in_rate", [48000, 44100])
def test_resampler_filter_spec(in_rate):
    r = Resampler(in_rate, 16000)
    passband = np.linspace(0, 7000, 141)
    gain_db = 20 * np.log10(r.frequency_response(passband))
    assert np.abs(gain_db).max() < 0.1  # ripple below 7 kHz
    stop = np.linspace(8000, in_rate / 2, 400)
    assert 20 * np.log10(r.frequency_response(stop).max()) < -60  # attenuation above 8 kHz


@pytest.mark.parametrize("in_rate", [48000, 44100])
def test_resampler_on_tones(in_rate):
    t = np.arange(in_rate) / in_rate
    for f, lo_db, hi_db in ((1000, -0.1, 0.1), (6500, -0.1, 0.1), (8600, None, -60), (15000, None, -60)):
        y = resample(np.sin(2 * np.pi * f * t).astype(np.float32), in_rate, 16000)
        assert y.shape == (16000,)
        core = y[1000:-1000]
        level = 20 * np.log10(np.sqrt(2) * core.std() + 1e-12)
        if lo_db is not None:
            assert lo_db < level < hi_db
            # no delay: output m is the input at m / 16000 s
            m = np.arange(1000, 15000)
            assert np.abs(core - np.sin(2 * np.pi * f * m / 16000)).max() < 2e-3
        else:
            assert level < hi_db


@pytest.mark.parametrize("rates", [(48000, 16000), (44100, 16000), (8000, 16000), (16000, 16000)])
def test_resampler_streaming_equals_batch(rates):
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.2, 9001).astype(np.float32)
    whole = resample(x, *rates)
    assert whole.shape == (-(-9001 * rates[1] // rates[0]),)
    r = Resampler(*rates)
    cuts = np.sort(rng.integers(0, x.size, 25))
    parts = [r.push(c) for c in np.split(x, cuts)] + [r.flush()]
    assert np.array_equal(np.concatenate(parts), whole)


def test_resampler_bad_rates():
    with pytest.raises(ValueError, match="in_rate"):
        Resampler(0, 16000)
    with pytest.raises(ValueError, match="phases"):
        Resampler(44101, 16000)
    with pytest.raises(TypeError):
        Resampler(48000, 16000).push([0.0, 1.0])


def test_nan_refused_on_arrival_even_before_a_frame_is_complete():
    lm = LogMel()
    bad = np.zeros(50, np.float32)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        lm.push(bad)
    assert lm.push(np.zeros(400, np.float32)).shape == (1, 40)
    r = Resampler(48000, 16000)
    with pytest.raises(ValueError, match="NaN"):
        r.push(bad)
    assert np.all(np.isfinite(r.push(np.zeros(4800, np.float32))))
