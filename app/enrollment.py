"""Few-shot enrolment of custom gestures: the one place enrolled gestures are kept, the adapters the GUI's
enroll dialog calls, and `cuekit enroll`. Every pipeline's wrist and hand stages load these files
(app/plugins/builtins.py asks `enrolled_wrist()` / `enrolled_hand()`), so what the GUI or the CLI enrolls is
what the demo, `cuekit serve` and `cuekit record` recognise.

    cuekit enroll wrist NAME REC [REC ...]           # 1-5 recordings: IMU text/CSV or MCAP, one gesture each
    cuekit enroll wrist NAME --udp PORT --seconds 20  # live: perform it a few times with rests in between
    cuekit enroll hand NAME REC.mcap [...]           # >= 5 hand poses, from recorded hand skeletons
    cuekit enroll list | cuekit enroll remove wrist|hand NAME

A wrist gesture is named by the kind the intent spec should see: enrolling your own motion as `shake`
makes it dismiss through default_ar; a new name needs the spec to declare it under [gestures] wrist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import assets
from perception.stream.types import HandLandmarks, ImuBatch

REPO = Path(__file__).resolve().parents[1]
WRIST_MODEL = assets.path("wrist", "fbk_cnn.onnx")
G = 9.80665
WRIST_STORE = "custom_wrist_gestures.json"
HAND_STORE = "custom_hand_gestures.json"


def data_dir(create: bool = True) -> Path:
    """User data folder for enrolled gestures ($CUEKIT_DATA_DIR, else $XDG_DATA_HOME/cuekit)."""
    base = os.environ.get("CUEKIT_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "cuekit"
    )
    p = Path(base)
    if create:
        p.mkdir(parents=True, exist_ok=True)
    return p


_warned_stale: set[Path] = set()


def enrolled_wrist() -> tuple[Path, Path] | None:
    """(model, store) of the user's enrolled wrist gestures, when there are any for the shipped model.
    Prototypes live in one model's embedding space: after a model update they are skipped (said once)
    and must be enrolled again."""
    import hashlib

    store = data_dir(create=False) / WRIST_STORE
    if not (store.is_file() and WRIST_MODEL.is_file()):
        return None
    try:
        doc = json.loads(store.read_text())
    except (OSError, ValueError):
        doc = {}
    if doc.get("model_sha256") != hashlib.sha256(WRIST_MODEL.read_bytes()).hexdigest():
        if store not in _warned_stale:
            _warned_stale.add(store)
            print(
                f"cuekit: the enrolled wrist gestures in {store} belong to another wrist model (or the file "
                "is damaged); they are not loaded: enroll them again with `cuekit enroll wrist`",
                file=sys.stderr,
            )
        return None
    return WRIST_MODEL, store


def enrolled_hand() -> Path | None:
    store = data_dir(create=False) / HAND_STORE
    return store if store.is_file() else None


class HandEnroller:
    """Static hand poses, >= 5 examples, into the CustomGestureSet the hand recognisers load."""

    def __init__(self, path: Path | None = None) -> None:
        from perception.hands.custom import CustomGestureSet

        self.path = path or data_dir() / HAND_STORE
        self.gestures = CustomGestureSet.load(self.path) if self.path.is_file() else CustomGestureSet()
        self.min_examples = self.gestures.options.min_examples

    def enroll(self, name: str, examples: list[Any]) -> str:
        poses = [np.asarray(e.image_xyz if isinstance(e, HandLandmarks) else e, dtype=np.float64) for e in examples]
        self.gestures.enroll(name, poses, replace=name in self.gestures)
        self.gestures.save(self.path)
        return str(self.path)


class WristEnroller:
    """Wrist motions, from 1 example up, as prototypes in the learned model's embedding space."""

    min_examples = 1

    def __init__(self, path: Path | None = None, model_path: Path = WRIST_MODEL) -> None:
        from perception.wrist.fewshot import CustomGestures
        from perception.wrist.learned import WristModel

        self.path = path or data_dir() / WRIST_STORE
        model = WristModel(model_path)
        self.gestures = CustomGestures.load(self.path, model) if self.path.is_file() else CustomGestures(model)

    def enroll(self, name: str, examples: list[Any]) -> str:
        clips = []
        for e in examples:
            if not isinstance(e, ImuBatch) or len(e) < 4:
                raise ValueError("a wrist example must be an ImuBatch of at least 4 samples")
            clips.append((np.asarray(e.t_ns, dtype=np.int64), np.asarray(e.accel, dtype=np.float64) / G))
        self.gestures.enroll(name, clips)
        self.gestures.save(self.path)
        return str(self.path)


def available_enrollers() -> dict[str, Any]:
    out: dict[str, Any] = {"hand": HandEnroller()}
    if WRIST_MODEL.is_file():
        out["wrist"] = WristEnroller()
    return out


# -- reading examples ----------------------------------------------------------------------------------------
def _mcap_items(path: Path, kind: type) -> list[Any]:
    from app.recording.mcap_reader import read_items

    return [r.item for r in read_items(path) if isinstance(r.item, kind)]


def wrist_example(path: Path) -> ImuBatch:
    """One recorded gesture: an MCAP recording's IMU batches joined, or an IMU text/CSV file."""
    if path.suffix.lower() == ".mcap":
        bs = _mcap_items(path, ImuBatch)
        if not bs:
            raise ValueError(f"{path}: the recording holds no IMU batches")
        t = np.concatenate([b.t_ns for b in bs])
        a = np.concatenate([b.accel for b in bs])
        keep = np.concatenate([[True], np.diff(t) > 0])
        return ImuBatch(t_ns=t[keep], accel=a[keep])
    from perception.wrist.fewshot import read_clip

    t, a_g = read_clip(path)
    return ImuBatch(t_ns=t, accel=a_g * G)


def split_at_rests(batch: ImuBatch, rest_g: float = 0.08, rest_s: float = 0.4, min_s: float = 0.3) -> list[ImuBatch]:
    """Cut a live take into the motions between rests (the rule the streaming classifier decides by)."""
    from perception.wrist.windows import resample

    a = resample(batch.t_ns, batch.accel / G, 25.0)
    t = int(batch.t_ns[0]) + (np.arange(len(a)) * 40_000_000).astype(np.int64)
    k = max(2, round(rest_s * 25))
    rest = np.array(
        [np.sqrt(a[max(0, i - k // 2) : i + k // 2 + 1].var(axis=0).sum()) <= rest_g for i in range(len(a))]
    )
    out, i = [], 0
    while i < len(a):
        if rest[i]:
            i += 1
            continue
        j = i
        while j < len(a) and not rest[j]:
            j += 1
        if (j - i) / 25.0 >= min_s and i > 0 and j < len(a):
            lo, hi = max(0, i - 3), min(len(a), j + 3)
            out.append(ImuBatch(t_ns=t[lo:hi], accel=a[lo:hi] * G))
        i = j
    return out


def live_take(port: int, seconds: float, on_listening: Any = None) -> ImuBatch:
    """Everything an IMU sends to udp 127.0.0.1:`port` (0: any free port) for `seconds`, as one batch.
    `on_listening(address)` is called once the socket is bound."""
    from perception.sources.imu import ImuUdpSource
    from perception.stream.pipeline import Pipeline
    from perception.stream.stage import CallbackSink

    got: list[ImuBatch] = []
    src = ImuUdpSource(port, host="127.0.0.1")
    src.setup()
    pipe = Pipeline()
    s = pipe.add(src)
    pipe.add(CallbackSink(got.append), inputs=[s])
    print(
        f"cuekit enroll: listening on udp 127.0.0.1:{src.address[1]} for {seconds:.0f} s; perform the "
        "gesture a few times, resting the wrist in between",
        file=sys.stderr,
        flush=True,
    )
    pipe.start()
    if on_listening is not None:
        on_listening(src.address)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
    pipe.stop()
    if not got:
        raise ValueError("no IMU data arrived")
    return ImuBatch(t_ns=np.concatenate([b.t_ns for b in got]), accel=np.concatenate([b.accel for b in got]))


def hand_examples(path: Path) -> list[np.ndarray]:
    """Hand poses from an MCAP recording (every tracked hand frame) or a .npy array (N, 21, 3)."""
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim != 3 or arr.shape[1:] != (21, 3):
            raise ValueError(f"{path}: expected an array of shape (N, 21, 3), got {arr.shape}")
        return list(arr)
    hands = _mcap_items(path, HandLandmarks)
    if not hands:
        raise ValueError(f"{path}: the recording holds no hand landmarks")
    return [h.image_xyz for h in hands]


# -- CLI -------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="cuekit enroll",
        description="Enroll custom wrist or hand gestures into "
        "the store every pipeline loads (" + str(data_dir(create=False)) + ").",
    )
    ap.add_argument("what", choices=["wrist", "hand", "list", "remove"])
    ap.add_argument("args", nargs="*", help="NAME REC... (wrist/hand), or wrist|hand NAME (remove)")
    ap.add_argument("--udp", type=int, metavar="PORT", help="wrist, live: read an IMU stream on this UDP port")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the live take")
    ap.add_argument("--store", type=Path, help="enroll into this file instead of the shared store")
    ap.add_argument("--json", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        out = _run(args, ap)
    except (ValueError, OSError) as exc:
        print(f"cuekit enroll: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0


def _run(args: argparse.Namespace, ap: argparse.ArgumentParser) -> dict:
    if args.what == "list":
        out: dict[str, Any] = {"store": str(data_dir(create=False))}
        w = enrolled_wrist()
        out["wrist"] = WristEnroller(w[1], w[0]).gestures.n_examples if w else {}
        h = enrolled_hand()
        out["hand"] = sorted(HandEnroller(h).gestures.to_json().get("gestures", {})) if h else []
        return out
    if args.what == "remove":
        if len(args.args) != 2 or args.args[0] not in ("wrist", "hand"):
            ap.error("remove needs: wrist|hand NAME")
        kind, name = args.args
        enr = WristEnroller(args.store) if kind == "wrist" else HandEnroller(args.store)
        enr.gestures.remove(name)
        enr.gestures.save(enr.path)
        return {"removed": name, "store": str(enr.path)}
    if not args.args:
        ap.error(f"enroll {args.what} needs a NAME")
    name, files = args.args[0], [Path(p) for p in args.args[1:]]
    for f in files:
        if not f.is_file():
            raise ValueError(f"{f} does not exist")
    if args.what == "wrist":
        if args.udp is not None:
            examples = split_at_rests(live_take(args.udp, args.seconds))
            if not examples:
                raise ValueError("no motion between rests in the live take; rest the wrist between repetitions")
        elif files:
            examples = [wrist_example(f) for f in files]
        else:
            ap.error("enroll wrist needs recordings or --udp PORT")
        enr = WristEnroller(args.store)
        path = enr.enroll(name, examples)
        return {"enrolled": name, "modality": "wrist", "examples": len(examples), "store": path}
    if not files:
        ap.error("enroll hand needs recordings (.mcap with hand landmarks, or .npy)")
    poses = [p for f in files for p in hand_examples(f)]
    enr_h = HandEnroller(args.store)
    if len(poses) < enr_h.min_examples:
        raise ValueError(f"a hand pose needs at least {enr_h.min_examples} examples, got {len(poses)}")
    path = enr_h.enroll(name, poses)
    return {"enrolled": name, "modality": "hand", "examples": len(poses), "store": path}


if __name__ == "__main__":
    sys.exit(main())
