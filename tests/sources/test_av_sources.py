"""Audio and video sources: file twins (deterministic times, conversion to 16 kHz mono), resampling,
and device errors that name the device and list what exists."""

from __future__ import annotations

import time

import numpy as np
import pytest

from perception.sources import (
    AudioSourceOptions,
    CameraSource,
    DeviceError,
    MicrophoneSource,
    VideoFileSource,
    WavFileSource,
)
from perception.sources.audio import read_wav_info, to_float_mono, write_wav
from perception.sources.resample import PassThrough, make_resampler, resample
from perception.sources.video import write_video
from perception.stream import CallbackSink, MonotonicClock, Pipeline, ReplayClock


def collect(source, clock=None):
    out = []
    pipe = Pipeline(clock=clock or ReplayClock())
    pipe.add(source)
    pipe.add(CallbackSink(out.append), inputs=[source])
    pipe.start()
    assert pipe.wait(20)
    pipe.stop()
    return out, pipe


def test_wav_16k_mono_int16_is_exact_with_sample_count_times(tmp_path):
    pcm = np.random.default_rng(0).integers(-32768, 32767, 16000 + 123).astype(np.int16)
    write_wav(tmp_path / "a.wav", pcm, 16000)
    chunks, _ = collect(WavFileSource(tmp_path / "a.wav", AudioSourceOptions(chunk_samples=512)))
    got = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(got, pcm.astype(np.float32) / 32768.0)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert all(c.sample_rate == 16000 and c.samples.dtype == np.float32 for c in chunks)
    assert [c.t_first_ns for c in chunks] == [k * 512 * 1_000_000_000 // 16000 for k in range(len(chunks))]
    assert len(chunks[-1].samples) == (16000 + 123) % 512


def test_wav_44k_stereo_float_is_resampled_to_16k_mono(tmp_path):
    sr, f = 44100, 440.0
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * f * t)
    stereo = np.stack([tone, tone], axis=1).astype(np.float32)
    write_wav(tmp_path / "b.wav", stereo, sr)
    info = read_wav_info(tmp_path / "b.wav")
    assert (info.sample_rate, info.channels, info.is_float) == (44100, 2, True)
    chunks, _ = collect(WavFileSource(tmp_path / "b.wav"))
    y = np.concatenate([c.samples for c in chunks])
    assert len(y) == 16000  # the resampler's held-back tail is flushed at the end of the file
    mid = y[1000:15000]
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    peak_hz = np.argmax(spectrum) * 16000 / len(mid)
    assert abs(peak_hz - f) < 2.0
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    # sample m is the input at m / 16000 s: no phase shift, so times from the sample count hold
    ref = 0.5 * np.sin(2 * np.pi * f * np.arange(len(y)) / 16000)
    assert np.max(np.abs(y[200:-200] - ref[200:-200])) < 0.01
    # the chunk times follow the output sample count
    assert chunks[3].t_first_ns == 3 * 512 * 1_000_000_000 // 16000


def test_resampler_streaming_equals_one_shot():
    x = (0.3 * np.random.default_rng(2).normal(size=48000)).astype(np.float32)
    one = resample(x, 48000, 16000)
    r = make_resampler(48000, 16000)
    parts = [r.push(x[i : i + 1234]) for i in range(0, len(x), 1234)] + [r.flush()]
    np.testing.assert_allclose(np.concatenate(parts), one, atol=1e-6)
    assert len(one) == 16000  # the one path: whole-signal and streaming are the same resampler


def test_to_float_mono_scales_each_pcm_type():
    assert to_float_mono(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    assert to_float_mono(np.array([0, 128, 255], np.uint8)).tolist() == [-1.0, 0.0, 127 / 128]
    np.testing.assert_array_equal(to_float_mono(np.array([[0.2, 0.4]], np.float32)), np.float32([0.3]))


def test_wav_errors_name_the_problem(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a WAV file"):
        WavFileSource(tmp_path / "x.wav")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        WavFileSource(tmp_path / "missing.wav")


def make_video(path, n=12, fps=20.0):
    frames = []
    for i in range(n):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :, 1] = 10 * i
        img[8:16, 4 * i : 4 * i + 8] = 255  # a moving square
        frames.append(img)
    write_video(path, frames, fps)
    return frames


def test_video_file_twin_times_from_fps_and_is_deterministic(tmp_path):
    frames = make_video(tmp_path / "v.avi")
    a, _ = collect(VideoFileSource(tmp_path / "v.avi"))
    b, _ = collect(VideoFileSource(tmp_path / "v.avi"))
    assert [f.seq for f in a] == list(range(12))
    assert [f.t_capture_ns for f in a] == [i * 50_000_000 for i in range(12)]
    for fa, fb, orig in zip(a, b, frames, strict=True):
        np.testing.assert_array_equal(fa.image, fb.image)
        assert np.mean(np.abs(fa.image.astype(int) - orig)) < 6  # MJPG is lossy but close


def test_video_file_on_live_clock_plays_at_recorded_speed(tmp_path):
    make_video(tmp_path / "v.avi", n=6, fps=20.0)
    clock = MonotonicClock()
    t0 = clock.now_ns()
    out, _ = collect(VideoFileSource(tmp_path / "v.avi"), clock=clock)
    dt = np.diff([f.t_capture_ns for f in out])
    assert np.all(dt == 50_000_000)
    assert out[0].t_capture_ns >= t0
    assert clock.now_ns() - t0 >= 5 * 50_000_000  # it waited for each frame's time


def test_missing_camera_is_reported_with_what_exists():
    src = CameraSource(57)
    with pytest.raises(DeviceError) as ei:
        src.setup()
    assert "camera 57" in str(ei.value) and "available cameras" in str(ei.value)


def test_missing_microphone_is_reported_by_name():
    src = MicrophoneSource("no such microphone xyz")
    with pytest.raises(DeviceError) as ei:
        src.setup()
    msg = str(ei.value)
    assert "microphone" in msg and "available microphones" in msg
    # either PortAudio itself is missing (named), or the device is not in the listed ones
    assert "PortAudio" in msg or "no input device with that name" in msg


def test_native_resampler_is_used_when_built():
    native_audio = pytest.importorskip("native.audio")
    from perception.sources.resample import make_resampler

    assert isinstance(make_resampler(48000, 16000), native_audio.Resampler)
    assert isinstance(make_resampler(16000, 16000), PassThrough)  # identity stays a copy


def test_camera_loop_on_a_stream_url_stamps_with_the_pipeline_clock(tmp_path):
    # OpenCV opens a local file given as a stream URL: the camera's own loop runs without a device
    make_video(tmp_path / "cam.avi", n=8)
    clock = MonotonicClock()
    t0 = clock.now_ns()
    out, pipe = collect(CameraSource(str(tmp_path / "cam.avi")), clock=clock)
    assert [f.seq for f in out] == list(range(8))  # the probe frame from setup() is not lost
    t = [f.t_capture_ns for f in out]
    assert t0 <= t[0] and all(b >= a for a, b in zip(t, t[1:], strict=False)) and t[-1] <= clock.now_ns()
    assert out[0].image.shape == (48, 64, 3)


class _Status:
    def __init__(self, overflow=False):
        self.input_overflow = overflow


def test_microphone_conditioning_anchoring_and_overflow_after_the_callback():
    """The microphone path after the device: blocks as the sounddevice callback delivers them."""
    import threading

    clock = ReplayClock()
    mic = MicrophoneSource(options=AudioSourceOptions(chunk_samples=320), queue_blocks=4)
    mic.clock = clock
    mic._start(48000)
    block = 960  # 20 ms at 48 kHz
    tone = (0.25 * np.sin(2 * np.pi * 300 * np.arange(48000) / 48000)).astype(np.float32)
    t_cb = 10_000_000_000

    def deliver(i, jitter_ns=0, overflow=False):
        clock.advance_to(t_cb + (i + 1) * 20_000_000 + jitter_ns)
        mic._callback(tone[i * block : (i + 1) * block, None], block, None, _Status(overflow))

    got, stop = [], threading.Event()
    th = threading.Thread(target=mic.run, args=(got.append, stop))
    th.start()
    for i in range(10):
        deliver(i, jitter_ns=3_000_000 * (i % 2))  # USB jitter below the resync threshold
        time.sleep(0.005)
    time.sleep(0.1)
    n_before = len(got)
    deliver(10, jitter_ns=200_000_000)  # device clock 200 ms off: re-anchored
    deliver(11, overflow=True)  # the device reported lost input: re-anchored
    time.sleep(0.1)
    stop.set()
    th.join(2)
    # first block's first sample = callback time - block duration; then by sample count (20 ms chunks)
    assert got[0].t_first_ns == t_cb
    assert [c.t_first_ns - t_cb for c in got[:n_before]] == [k * 20_000_000 for k in range(n_before)]
    assert mic.counters["resync"] == 2 and mic.counters["overflow"] == 1
    assert all(c.sample_rate == 16000 and len(c.samples) == 320 for c in got)
    # the callback never blocks: with the consumer stopped, a full queue is counted, not waited on
    for _ in range(6):
        mic._callback(tone[:block, None], block, None, _Status())
    assert mic.counters["overflow"] == 1 + 2
