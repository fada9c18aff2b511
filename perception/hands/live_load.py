"""`cuekit bench hands --live-load SECONDS`: CPU per second of input of the whole live perception load,
hand tracking on the camera frames included.

Input, as a glasses prototype streams it: 30 fps 640x480 frames (a real hand photo sliding sideways, the
frames `cuekit bench hands` uses), 16 kHz audio in 32 ms chunks (the shared barista utterances with 1 s
pauses, so the decoder runs on real speech), 200 Hz IMU in batches of 10 (the wrist simulator with a
gesture every 2 s). Each recogniser stage of the live pipeline (HandStage in VIDEO mode, SpeechStage with
the barista grammar, WristGestureRecognizer) processes ALL of its input in one thread, 1 onnxruntime
thread; process CPU time is taken around each stage's calls. CPU seconds per second of input = what one
core must spend to keep up (a live LATEST queue drops camera frames beyond that). Hand tracking runs with
fp32 and with int8 landmarks on the same frames; the "without hand tracking" total (speech + wrist) is
the baseline of the same run.
"""

from __future__ import annotations

import sys
import time
import wave
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FPS, RATE, IMU_HZ = 30, 16000, 200


def _log(msg: str) -> None:
    print(f"[bench hands] {msg}", file=sys.stderr, flush=True)


def _audio(seconds: float) -> np.ndarray:
    from native.audio import resample

    out, n = [], int(seconds * RATE)
    for f in sorted((SHARED / "speech" / "barista" / "clean").glob("*.wav")):
        with wave.open(str(f)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
            if w.getnchannels() > 1:
                x = x.reshape(-1, w.getnchannels()).mean(axis=1)
            if w.getframerate() != RATE:
                x = resample(x, w.getframerate(), RATE)
        out += [x, np.zeros(RATE, np.float32)]
        if sum(len(a) for a in out) >= n:
            break
    a = np.concatenate(out)[:n]
    return np.pad(a, (0, n - len(a)))


def _run(stage, items) -> tuple[float, int]:
    """Process CPU seconds of a stage over its items (setup excluded) and how many outputs it emitted."""
    out = []
    stage.setup()
    c = time.process_time()
    for it in items:
        stage.process(it, out.append)
    stage.close(out.append)
    return time.process_time() - c, len(out)


def measure(seconds: float = 10.0, photo: Path | None = None) -> dict:
    import cv2

    from perception.hands.landmarker import HandLandmarkerOptions, RunningMode
    from perception.hands.mediapipe_reference import synthetic_video
    from perception.hands.stage import HandStage, HandStageOptions
    from perception.speech.stage import SpeechStage, SpeechStageOptions
    from perception.stream.types import AudioChunk, VideoFrame
    from perception.wrist.recognizer import WristGestureRecognizer
    from perception.wrist.synthetic import Scene, SimEvent, render

    barista = SHARED / "speech" / "barista"
    photo = photo or next(iter(sorted((SHARED / "hagrid_sample" / "four").glob("*.jpg"))), None)
    if photo is None or not barista.is_dir():
        raise SystemExit(f"cuekit bench hands --live-load: needs {SHARED}/hagrid_sample and {barista}")
    src = cv2.imread(str(photo))
    n_frames = int(seconds * FPS)
    _log(f"live load: {seconds:.0f} s of input ({n_frames} frames, audio, IMU)")
    frames = [
        VideoFrame(f, int(i * 1e9 / FPS), i, source_id="camera") for i, f in enumerate(synthetic_video(src, n_frames))
    ]
    audio = _audio(seconds)
    chunks = [
        AudioChunk(audio[i : i + 512].copy(), RATE, int(i * 1e9 / RATE), seq=k)
        for k, i in enumerate(range(0, len(audio) - 511, 512))
    ]
    kinds = ["flick_left", "twist_cw", "double_tap", "shake", "flick_up"]
    imu = render(
        Scene(seconds, [SimEvent(kinds[k % len(kinds)], 1.0 + 2.0 * k) for k in range(int(seconds // 2))], seed=3),
        IMU_HZ,
        t0_ns=0,
    )
    from perception.stream.types import ImuBatch

    batches = [
        ImuBatch(
            t_ns=imu.t_ns[i : i + 10], accel=imu.accel[i : i + 10], gyro=imu.gyro[i : i + 10], seq=k, source_id="wrist"
        )
        for k, i in enumerate(range(0, len(imu), 10))
    ]
    cpu: dict[str, float] = {}
    emitted: dict[str, int] = {}
    for variant in ("fp32", "int8"):
        stage = HandStage(
            HandStageOptions(landmarker=HandLandmarkerOptions(running_mode=RunningMode.VIDEO, landmark_variant=variant))
        )
        cpu[f"hands_{variant}"], emitted[f"hands_{variant}"] = _run(stage, frames)
        _log(f"hand tracking {variant}: {cpu[f'hands_{variant}']:.2f} CPU s")
    cpu["speech"], emitted["speech"] = _run(
        SpeechStage(SpeechStageOptions(context=barista / "coffee_maker.yaml")), chunks
    )
    _log(f"speech: {cpu['speech']:.2f} CPU s")
    cpu["wrist"], emitted["wrist"] = _run(WristGestureRecognizer(), batches)
    per_s = {k: v / seconds for k, v in cpu.items()}
    base = per_s["speech"] + per_s["wrist"]
    return {
        "seconds_of_input": seconds,
        "video": f"{n_frames} frames 640x480 at {FPS} fps",
        "audio": f"{RATE} Hz",
        "imu": f"{IMU_HZ} Hz",
        "photo": str(photo),
        "threads": 1,
        "cpu_s_per_input_s": {k: round(v, 4) for k, v in per_s.items()},
        "total_cpu_s_per_input_s": {
            "with_hands_fp32": round(base + per_s["hands_fp32"], 4),
            "with_hands_int8": round(base + per_s["hands_int8"], 4),
            "without_hand_tracking": round(base, 4),
        },
        "ratio_with_hands_over_without": {
            "fp32": round((base + per_s["hands_fp32"]) / base, 3) if base else None,
            "int8": round((base + per_s["hands_int8"]) / base, 3) if base else None,
        },
        "hand_ms_per_frame_cpu": {v: round(1e3 * cpu[f"hands_{v}"] / n_frames, 2) for v in ("fp32", "int8")},
        "outputs": emitted,
    }


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = r["cpu_s_per_input_s"]
    cases = [
        ("without hand\ntracking", 0.0),
        ("hand tracking\nfp32", c["hands_fp32"]),
        ("hand tracking\nint8", c["hands_int8"]),
    ]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(cases))
    ax.bar(x, [c["wrist"]] * 3, 0.55, label="wrist (200 Hz IMU)")
    ax.bar(x, [c["speech"]] * 3, 0.55, bottom=[c["wrist"]] * 3, label="speech (16 kHz, VAD + decoder)")
    ax.bar(x, [h for _, h in cases], 0.55, bottom=[c["wrist"] + c["speech"]] * 3, label="hands (30 fps 640x480)")
    for i, (_, h) in enumerate(cases):
        tot = c["wrist"] + c["speech"] + h
        ax.text(i, tot + 0.005, f"{tot:.3f}", ha="center", fontsize=9)
    ax.set_xticks(x, [n for n, _ in cases])
    ax.set_ylabel("CPU seconds per second of input (1 thread)")
    ax.set_title(f"live perception load ({r['seconds_of_input']:.0f} s of input)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
