"""`cuekit bench hands [--json]`: speed of the hand pipeline on 640x480 frames, as ratios in one run.

Frames: a hand photo from --photo (default: the first image of ../shared/data/hagrid_sample/four)
pasted into a 640x480 canvas that slides sideways, so a tracker has to follow it. All timings are
medians over the frames after a warm-up, with --threads inference threads (default 1), in this run:
- detection frames (palm detector + landmarks, IMAGE mode) vs tracking frames (landmarks only, VIDEO
  mode after the first frame), for fp32 and int8 landmark models;
- onnxruntime vs ai-edge-litert running the same models (the .tflite files from the pinned wheel and
  our ONNX conversions) on the same input tensors;
- MediaPipe's own solutions.hands in video mode (tracking) when an interpreter with mediapipe==0.10.14
  is available (--mediapipe-python), in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from perception.hands.mediapipe_reference import synthetic_video

# the reference data beside the checkout (../shared), or where CUEKIT_SHARED points, as the tests use it
SHARED = Path(os.environ.get("CUEKIT_SHARED", Path(__file__).resolve().parents[3] / "shared"))
DEFAULT_PHOTO_DIR = SHARED / "data" / "hagrid_sample" / "four"
DEFAULT_MP_PYTHON = Path("/work/mpbench_venv/bin/python")


def _log(msg: str) -> None:
    print(f"[bench hands] {msg}", file=sys.stderr, flush=True)


def _median_ms(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))


def _litert(model_bytes: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model_bytes, num_threads=threads)
    it.allocate_tensors()
    idx = it.get_input_details()[0]["index"]

    def run(x: np.ndarray) -> None:
        it.set_tensor(idx, x)
        it.invoke()

    return run


def _tflite_bytes(name: str) -> bytes:
    from perception.models import registry, source
    from perception.models.build import ModelStore

    store = ModelStore()
    from perception.models.progress import Progress

    wheel = source.fetch_wheel(store.wheel_dir, Progress(False))
    return source.read_member(wheel, registry.spec(name).wheel_path)


def _video_pass(
    video: list[np.ndarray], opts: dict, cpu_out: list | None = None
) -> tuple[list, int, int, float | None]:
    """VIDEO mode over the frames -> (per-frame (landmarks, roi width) or None, detection frames, frames
    with a hand, median wall ms of tracking frames); the median process-CPU ms goes to `cpu_out`.
    Unsmoothed, like MediaPipe's solutions.hands, so the landmarks can be compared frame by frame."""
    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode

    vid = HandLandmarker(HandLandmarkerOptions(running_mode=RunningMode.VIDEO, smoothing=None, **opts))
    ts, cpu, n_det, found, tracked = [], [], 0, 0, []
    for i, f in enumerate(video):
        t, c = time.perf_counter(), time.process_time()
        r = vid.detect_for_video(f, (i + 1) * 33_333_333)
        dt, dc = (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3
        n_det += r.palm_detection_ran
        found += bool(r.hands)
        tracked.append((r.hands[0].image_xyz, r.rois[0].w) if r.hands else None)
        if i >= 3 and not r.palm_detection_ran:
            ts.append(dt)
            cpu.append(dc)
    if cpu_out is not None and cpu:
        cpu_out.append(float(np.median(cpu)))
    return tracked, n_det, found, (float(np.median(ts)) if ts else None)


def run(
    frames: int,
    photo: Path,
    mp_python: Path | None,
    landmark_model: str = "hand_landmark_full",
    rounds: int = 3,
    threads: int = 1,
) -> dict:
    import cv2

    from native.image import image_to_tensor, letterbox
    from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions, RunningMode, _Session
    from perception.models import Int8NotOffered, ensure_model

    src = cv2.imread(str(photo))
    if src is None:
        raise SystemExit(f"cuekit bench hands: cannot read photo {photo}")
    video = [np.ascontiguousarray(f[:, :, ::-1]) for f in synthetic_video(src, frames)]  # RGB 640x480
    res: dict = {
        "frames": frames,
        "frame_size": [640, 480],
        "photo": str(photo),
        "threads": threads,
        "landmark_model": landmark_model,
        "ms": {},
        "ratios": {},
        "notes": [],
    }
    ms = res["ms"]

    variants = ["fp32"]
    try:
        ensure_model(landmark_model, "int8")
        variants.append("int8")
    except Int8NotOffered as exc:
        res["notes"].append(str(exc))
    palm_int8 = None
    try:
        palm_int8 = ensure_model("palm_detection_full", "int8")
    except Int8NotOffered as exc:
        res["notes"].append(f"palm int8: {exc}")

    # whole frames through the landmarker
    tracked: dict[str, list] = {}
    cpu_ms: dict[str, list[float]] = {}
    for var in variants:
        opts = {"num_hands": 1, "landmark_model": landmark_model, "landmark_variant": var, "num_threads": threads}
        img_mode = HandLandmarker(HandLandmarkerOptions(running_mode=RunningMode.IMAGE, **opts))
        found = 0
        ts = []
        for i, f in enumerate(video):
            t = time.perf_counter()
            r = img_mode.detect(f)
            if i >= 3:
                ts.append((time.perf_counter() - t) * 1e3)
            found += bool(r.hands)
        ms[f"detection_frame_{var}"] = float(np.median(ts))
        cpu_ms[var] = []
        tracked[var], n_det, found_v, track_ms = _video_pass(video, opts, cpu_ms[var])
        ms[f"tracking_frame_{var}"] = track_ms
        res[f"video_{var}"] = {
            "frames_with_hand": found_v,
            "detection_frames": n_det,
            "image_mode_frames_with_hand": found,
        }
        _log(
            f"{var}: detection frame {ms[f'detection_frame_{var}']:.1f} ms, tracking frame "
            f"{ms[f'tracking_frame_{var}']:.1f} ms; {n_det} detection frames of {frames}"
        )
        if ms[f"tracking_frame_{var}"]:
            res["ratios"][f"detection_over_tracking_{var}"] = ms[f"detection_frame_{var}"] / ms[f"tracking_frame_{var}"]
    if "int8" in variants and ms.get("tracking_frame_int8"):
        res["ratios"]["tracking_fp32_over_int8"] = ms["tracking_frame_fp32"] / ms["tracking_frame_int8"]

    # model inference alone: onnxruntime vs LiteRT on identical tensors
    palm_in, _ = letterbox(video[0], (192, 192))
    lm_in, _ = image_to_tensor(video[0], (0.5, 0.5, 0.5, 0.6), 0.3, (224, 224), keep_aspect=True)
    reps = max(10, frames // 2)
    for name, x in (("palm_detection_full", palm_in), (landmark_model, lm_in)):
        ort_run = _Session(ensure_model(name, "fp32"), threads)
        ms[f"{name}_ort_fp32"] = _median_ms(lambda s=ort_run, x=x: s.run(x), reps)
        try:
            lite = _litert(_tflite_bytes(name), threads)
            ms[f"{name}_litert"] = _median_ms(lambda r=lite, x=x: r(x), reps)
            res["ratios"][f"{name}_litert_over_ort"] = ms[f"{name}_litert"] / ms[f"{name}_ort_fp32"]
        except (ImportError, OSError, RuntimeError, ValueError) as exc:  # report, keep the rest of the bench
            res["notes"].append(f"LiteRT {name}: {exc}")
        q = palm_int8 if name.startswith("palm") else (ensure_model(name, "int8") if "int8" in variants else None)
        if q is not None:
            s8 = _Session(q, threads)
            ms[f"{name}_ort_int8"] = _median_ms(lambda s=s8, x=x: s.run(x), reps)
            res["ratios"][f"{name}_fp32_over_int8"] = ms[f"{name}_ort_fp32"] / ms[f"{name}_ort_int8"]
        _log(
            f"{name}: " + ", ".join(f"{k.split(name + '_')[1]} {v:.2f} ms" for k, v in ms.items() if k.startswith(name))
        )
    if "palm_detection_full_litert" in ms and f"{landmark_model}_litert" in ms:
        # LiteRT detection frame = its palm + its landmark inference + the same pre/post-processing as ours
        overhead = ms["detection_frame_fp32"] - ms["palm_detection_full_ort_fp32"] - ms[f"{landmark_model}_ort_fp32"]
        ms["detection_frame_litert_models"] = (
            ms["palm_detection_full_litert"] + ms[f"{landmark_model}_litert"] + max(overhead, 0.0)
        )
        res["ratios"]["detection_frame_litert_over_ours"] = (
            ms["detection_frame_litert_models"] / ms["detection_frame_fp32"]
        )

    if mp_python is not None and mp_python.exists():
        script = Path(__file__).with_name("mediapipe_reference.py")
        _log(f"MediaPipe solutions.hands video mode with {mp_python}, {rounds} rounds alternating with ours")
        try:
            # the machine is shared: alternate MediaPipe and our tracking passes and keep each side's
            # best round, so a burst of outside load cannot decide the ratio
            mp_rounds, ours_rounds = [], {v: [ms[f"tracking_frame_{v}"]] for v in tracked}
            for k in range(rounds):
                out = subprocess.run(
                    [str(mp_python), str(script), "bench-video", str(frames), str(photo)],
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=True,
                )
                mp = json.loads(out.stdout)
                theirs = mp.pop("landmarks", [])
                mp_rounds.append(mp)
                for v in tracked:
                    if k > 0:
                        opts = {
                            "num_hands": 1,
                            "landmark_model": landmark_model,
                            "landmark_variant": v,
                            "num_threads": threads,
                        }
                        ours_rounds[v].append(_video_pass(video, opts, cpu_ms[v])[3])
            for v, xs in ours_rounds.items():
                ms[f"tracking_frame_{v}"] = min(x for x in xs if x is not None)
            res["tracking_rounds_ms"] = ours_rounds
            mp = dict(min(mp_rounds, key=lambda m: m["median_ms"]))
            mp["rounds_median_ms"] = [m["median_ms"] for m in mp_rounds]
            res["mediapipe"] = mp
            for var, ours in tracked.items():
                d224 = [
                    float(np.linalg.norm(o[0][:, :2] - np.asarray(t)[:, :2], axis=1).mean() * 224.0 / o[1])
                    for o, t in zip(ours, theirs, strict=False)
                    if o is not None and t is not None
                ]
                if d224:
                    res[f"video_{var}"]["landmark_px_at_224_vs_mediapipe"] = {
                        "mean": float(np.mean(d224)),
                        "p95": float(np.percentile(d224, 95)),
                        "max": float(np.max(d224)),
                        "frames": len(d224),
                    }
            ms["mediapipe_video_frame"] = mp["median_ms"]
            res["ratios"]["mediapipe_cpu_over_wall"] = mp["cpu_median_ms"] / mp["median_ms"]
            # CPU time per frame is what outside load disturbs least (both sides, all their threads)
            res["cpu_ms"] = {
                "mediapipe_video_frame": mp["cpu_median_ms"],
                **{f"tracking_frame_{v}": min(xs) for v, xs in cpu_ms.items() if xs},
            }
            for v, xs in cpu_ms.items():
                if xs:
                    res["ratios"][f"mediapipe_video_over_our_tracking_cpu_{v}"] = mp["cpu_median_ms"] / min(xs)
            for v in tracked:
                res["ratios"][f"detection_over_tracking_{v}"] = ms[f"detection_frame_{v}"] / ms[f"tracking_frame_{v}"]
            if "int8" in tracked:
                res["ratios"]["tracking_fp32_over_int8"] = ms["tracking_frame_fp32"] / ms["tracking_frame_int8"]
            best = min(v for k, v in ms.items() if k.startswith("tracking_frame") and v)
            res["ratios"]["mediapipe_video_over_our_tracking"] = mp["median_ms"] / best
            res["ratios"]["mediapipe_video_over_our_tracking_fp32"] = mp["median_ms"] / ms["tracking_frame_fp32"]
        except (OSError, subprocess.SubprocessError, json.JSONDecodeError, KeyError) as exc:
            res["notes"].append(f"MediaPipe comparison failed: {exc}")
    else:
        res["notes"].append("MediaPipe comparison skipped: no interpreter with mediapipe (--mediapipe-python)")
    return res


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("median wall ms per frame", res["ms"])]
    if res.get("cpu_ms"):
        panels.append(("median process CPU ms per frame (all threads)", res["cpu_ms"]))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(8 * len(panels), 0.35 * len(res["ms"]) + 1.5),
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 2][: len(panels)]},
    )
    for ax, (title, data) in zip(axes[0], panels, strict=True):
        items = sorted(((k, v) for k, v in data.items() if v is not None), key=lambda kv: kv[1])
        colors = ["tab:orange" if "mediapipe" in k or "litert" in k else "tab:blue" for k, _ in items]
        ax.barh([k for k, _ in items], [v for _, v in items], color=colors)
        for i, (_, v) in enumerate(items):
            ax.text(v, i, f" {v:.1f}", va="center", fontsize=8)
        ax.set_title(title, fontsize=10)
    fig.suptitle(
        f"cuekit bench hands, 640x480 frames, {res['threads']} inference thread(s); "
        "blue = CueKit (onnxruntime), orange = LiteRT / MediaPipe",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="cuekit bench hands", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--photo", type=Path, default=None, help="hand photo to animate (default: a hagrid 'four')")
    ap.add_argument(
        "--landmark-model", default="hand_landmark_full", choices=["hand_landmark_full", "hand_landmark_lite"]
    )
    ap.add_argument("--mediapipe-python", type=Path, default=DEFAULT_MP_PYTHON if DEFAULT_MP_PYTHON.exists() else None)
    ap.add_argument("--no-mediapipe", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="alternating MediaPipe/our tracking rounds")
    ap.add_argument("--threads", type=int, default=1, help="inference threads for onnxruntime and LiteRT")
    ap.add_argument("--plot", type=Path, default=None, help="save a bar chart (PNG) here")
    ap.add_argument("--from-json", type=Path, default=None, help="re-plot a saved --json result, run nothing")
    ap.add_argument(
        "--live-load",
        type=float,
        default=None,
        metavar="SECONDS",
        help="instead: CPU per second of input of the whole live load (hands + speech + wrist)",
    )
    args = ap.parse_args(argv)
    if args.live_load is not None:
        from perception.hands import live_load

        if not 2 <= args.live_load <= 120:
            ap.error("--live-load SECONDS must be within 2..120")
        res = live_load.measure(args.live_load, args.photo)
        if args.plot is not None:
            live_load.plot(res, args.plot)
            _log(f"plot saved to {args.plot}")
        print(json.dumps(res) if args.json else json.dumps(res, indent=1))
        return 0
    if args.from_json is not None:
        if args.plot is None:
            ap.error("--from-json needs --plot PATH")
        plot(json.loads(args.from_json.read_text()), args.plot)
        return 0
    if args.frames < 10:
        ap.error("--frames must be at least 10")
    photo = args.photo
    if photo is None:
        cands = sorted(DEFAULT_PHOTO_DIR.glob("*.jpg")) if DEFAULT_PHOTO_DIR.is_dir() else []
        if not cands:
            ap.error(f"no default photo under {DEFAULT_PHOTO_DIR}; pass --photo")
        photo = cands[0]
    res = run(
        args.frames,
        photo,
        None if args.no_mediapipe else args.mediapipe_python,
        args.landmark_model,
        max(1, args.rounds),
        args.threads,
    )
    if args.plot is not None:
        plot(res, args.plot)
        _log(f"plot saved to {args.plot}")
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res["ms"].items():
            print(f"{k:45s} {v:8.2f} ms" if v is not None else f"{k:45s}      n/a")
        for k, v in res["ratios"].items():
            print(f"{k:45s} {v:8.2f}x")
        for n in res["notes"]:
            print("note:", n)
    return 0
