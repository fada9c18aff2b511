"""Builds the bundled demo session (assets/sessions/demo.mcap).

Speech is espeak-ng, wrist motion is the kinematic simulator of perception.wrist.synthetic, gaze is a
fixation stream as an eye tracker would send. Hands, two ways (`--hands`):
- `camera` (default, the bundled session): the camera track shows REAL hands: photos of
  ../shared/data/hands_scenes (SubhiH/HandsDataset, Apache-2.0; a fist, a pointing index, an open hand)
  scaled to 640x480 and rotated / panned so the hand points at a target or swipes; a rendered room
  while no hand is in view. The session has no skeleton track, so the demo runs CueKit's palm detector
  + landmark model on these pixels (the manifest says `"camera_hand_tracking": true`). The photos are
  chosen at build time with those same models: a photo is used only when our landmarks + classifier
  see its pose and, for pointing, the index ray hits the target. No Apache-2.0 photo shows a pinch
  or a thumbs up, so in this session select comes from gaze + a wrist double tap and confirm from
  speech ("yes").
- `skeleton`: hand-joint skeletons from the kinematic hand model of perception.hands.synth, as a
  glasses prototype's own hand tracking would deliver them (pinch tap, thumbs up; the old session).
The script lays out a timeline in which every intent of the default spec occurs once and writes the
expected intents next to the recording, so the demo and its tests can check what the real recognisers
make of it.

    python -m app.demo_session [--out assets/sessions/demo.mcap] [--hands camera|skeleton]
        [--scenes ../shared/data/hands_scenes]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import assets
from perception.stream.types import AudioChunk, HandLandmarks, ImuBatch, Observation, VideoFrame

SESSION_DIR = assets.path("sessions")
DEFAULT_SESSION = SESSION_DIR / "demo.mcap"
T0_NS = 1_000_000_000
SIZE = (640, 480)
SAMPLE_RATE = 16000
AUDIO_CHUNK = 512  # 32 ms, the VAD's chunk
HAND_HZ = 30
VIDEO_HZ = 2  # the room is static: a few frames a second keep the file small
IMU_HZ = 100
IMU_BATCH = 2  # samples per ImuBatch

TARGETS = [
    {"id": "lamp", "label": "lamp", "box": [40, 60, 170, 250]},
    {"id": "tv", "label": "tv", "aliases": ["television", "screen"], "box": [220, 50, 430, 190]},
    {"id": "door", "label": "door", "box": [470, 30, 610, 330]},
    {"id": "plant", "label": "plant", "box": [40, 300, 160, 460]},
]


@dataclass(slots=True)
class Cue:
    """One scripted moment: what the user does and the intent the default spec should make of it."""

    t_s: float
    modality: str  # speech | wrist | hand | gaze+hand | speech+pointing
    what: str
    expect: str
    slots: dict | None = None


SCRIPT_SKELETON = [
    Cue(1.0, "speech", "wake up", "wake"),
    Cue(3.5, "gaze+hand", "lamp:pinch_tap", "select", {"target": "lamp"}),
    Cue(6.5, "speech", "open door", "open", {"target": "door"}),
    Cue(9.0, "wrist", "flick_left", "back"),
    Cue(11.0, "wrist", "flick_right", "next"),
    Cue(13.0, "hand", "swipe_right", "previous"),
    Cue(15.5, "wrist", "flick_up", "scroll", {"direction": "up"}),
    Cue(17.5, "speech", "scroll down", "scroll", {"direction": "down"}),
    Cue(20.0, "wrist", "twist_cw", "volume_up"),
    Cue(22.0, "speech", "volume down", "volume_down"),
    Cue(24.5, "speech", "take a photo", "take_photo"),
    Cue(27.5, "speech+pointing", "move that there:tv:door", "move", {"object": "tv", "destination": "door"}),
    Cue(31.5, "hand", "thumbs_up", "confirm"),
    Cue(34.0, "speech", "cancel", "cancel"),
    Cue(36.5, "hand", "fist", "close"),  # its target comes from the last one mentioned
    Cue(39.0, "wrist", "shake", "dismiss"),
    Cue(41.5, "speech", "go to sleep", "sleep"),
]
DURATION_S = 45.0
# the camera session: the same intents; select and confirm by other modalities (no licensed real photo
# of a pinch or a thumbs up), fist / pointing / swipe seen by the camera; "wake up" half a second later, as
# the hand models load while the replay starts (at 1.0 s it was missed in one of two runs on a loaded machine)
SCRIPT_CAMERA = [
    Cue(3.5, "gaze+wrist", "lamp:double_tap", "select", {"target": "lamp"})
    if c.expect == "select"
    else Cue(31.5, "speech", "yes", "confirm")
    if c.expect == "confirm"
    else Cue(1.5, "speech", "wake up", "wake")
    if c.expect == "wake"
    else c
    for c in SCRIPT_SKELETON
]
SCRIPT = SCRIPT_CAMERA
SCENES = Path(__file__).resolve().parents[2] / "shared" / "data" / "hands_scenes"
SCENES_LICENCE = "SubhiH/HandsDataset photos, Apache-2.0 (../shared/data/hands_scenes)"
CAMERA_HAND_HZ = 10  # camera frames per second while a hand is in view (the room alone: VIDEO_HZ)
SWIPE_HZ = 15


def _ns(t_s: float) -> int:
    return T0_NS + round(t_s * 1e9)


# speech -------------------------------------------------------------------------------------------
def synthesize(text: str, voice: str = "en-us", wpm: int = 150) -> np.ndarray:
    """espeak-ng -> float32 16 kHz mono."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng); it voices the demo session")
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "u.wav"
        subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True)
        with wave.open(str(wav)) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    from native.audio import resample

    return resample(x, rate, SAMPLE_RATE).astype(np.float32) * 0.8


# hands --------------------------------------------------------------------------------------------
def _pose(cls: str, seed: int) -> np.ndarray:
    """A clean pose of `cls`, wrist at the origin, middle finger up, palm ~90 px, that the project's
    classifier labels as `cls` (so the demo exercises the classifier, not a lucky sample)."""
    from perception.hands.classifier import GestureClassifier
    from perception.hands.synth import SynthOptions, sample

    clf = GestureClassifier()
    opt = SynthOptions(
        hand_px=(95.0, 95.0),
        angle_jitter=0.05,
        bone_jitter=0.0,
        landmark_noise=0.0,
        yaw_max=0.15,
        pitch_max=0.15,
        back_view_prob=0.0,
        left_prob=0.0,
    )
    rng = np.random.default_rng(seed)
    for _ in range(400):
        lm = sample(cls, rng, opt)
        lm = lm - lm[0]
        up = lm[9, :2]
        ang = np.arctan2(up[0], -up[1])  # rotate so wrist->middle MCP points to -y (up on screen)
        c, s = np.cos(ang), np.sin(ang)
        rot = np.array([[c, s], [-s, c]])
        lm[:, :2] = lm[:, :2] @ rot.T
        if cls in ("thumbs_up", "thumbs_down"):
            out = lm.copy()
        else:
            out = lm
        r = clf.classify(out + np.array([320.0, 400.0, 0.0]))
        if r.gesture == cls and r.confidence > 0.8:
            return out
    raise RuntimeError(f"no clean {cls} pose found")


def _aim(lm: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Rotate a pose about its wrist so the index finger (MCP->tip) points along `direction`."""
    v = lm[8, :2] - lm[5, :2]
    a = np.arctan2(direction[1], direction[0]) - np.arctan2(v[1], v[0])
    c, s = np.cos(a), np.sin(a)
    out = lm.copy()
    out[:, :2] = lm[:, :2] @ np.array([[c, -s], [s, c]]).T
    return out


class HandTrack:
    """Collects per-frame hand skeletons at HAND_HZ."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.frames: list[tuple[int, np.ndarray]] = []
        self.rng = rng

    def hold(self, lm: np.ndarray, at: np.ndarray, t0: float, t1: float) -> None:
        for t in np.arange(t0, t1, 1 / HAND_HZ):
            jitter = self.rng.normal(0, 0.8, lm.shape) * np.array([1, 1, 0.3])
            self.frames.append((_ns(t), lm + np.append(at, 0.0) + jitter))

    def morph(self, a: np.ndarray, b: np.ndarray, at0: np.ndarray, at1: np.ndarray, t0: float, t1: float) -> None:
        ts = np.arange(t0, t1, 1 / HAND_HZ)
        for i, t in enumerate(ts):
            u = 0.5 - 0.5 * np.cos(np.pi * i / max(len(ts) - 1, 1))
            pos = at0 + (at1 - at0) * u
            self.frames.append((_ns(t), a + (b - a) * u + np.append(pos, 0.0)))


def _box_centre(tid: str) -> np.ndarray:
    x0, y0, x1, y1 = next(t["box"] for t in TARGETS if t["id"] == tid)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def _point_at(track: HandTrack, point: np.ndarray, tid: str, t0: float, t1: float) -> None:
    """Point from a resting wrist position at a target's centre."""
    wrist = np.array([330.0, 450.0])
    d = _box_centre(tid) - (wrist + np.array([0, -120.0]))
    track.hold(_aim(point, d / np.linalg.norm(d)), wrist, t0, t1)


# real hands on the camera -------------------------------------------------------------------------
class CameraHands:
    """Camera frames with real hands, made from the Apache-2.0 scene photos and checked with CueKit's own
    palm detector, landmark model and classifier (so the demo shows what these models really see)."""

    def __init__(self, scenes: Path) -> None:
        from perception.context.scene import Scene
        from perception.hands.classifier import GestureClassifier
        from perception.hands.eval_scenes import load_labels
        from perception.hands.landmarker import HandLandmarker, HandLandmarkerOptions

        if not (scenes / "labels.csv").is_file():
            raise SystemExit(
                f"demo session: {scenes}/labels.csv not found (the camera session needs the "
                "shared scene photos; --hands skeleton builds without them)"
            )
        self.scenes = scenes
        self.by_fingers: dict[int, list[str]] = {}
        for name, hands in sorted(load_labels(scenes).items()):
            if len(hands) == 1:
                self.by_fingers.setdefault(hands[0][1], []).append(name)
        self.landmarker = HandLandmarker(HandLandmarkerOptions(num_hands=1))
        self.classifier = GestureClassifier()
        self.scene = Scene()
        self.scene.apply({"op": "replace", "targets": TARGETS})
        self.used: list[str] = []

    def photo(self, name: str) -> np.ndarray:
        img = cv2.imread(str(self.scenes / name))
        if img is None:
            raise SystemExit(f"demo session: cannot read {self.scenes / name}")
        return cv2.resize(img, SIZE, interpolation=cv2.INTER_AREA)

    def look(self, frame: np.ndarray) -> tuple[str, np.ndarray | None]:
        res = self.landmarker.detect(frame, bgr=True)
        if not res.hands:
            return "none", None
        lm = res.hands[0].image_xyz
        return self.classifier.classify(lm).gesture, lm

    @staticmethod
    def warp(img: np.ndarray, angle: float = 0.0, pivot=(0.0, 0.0), shift=(0.0, 0.0)) -> np.ndarray:
        """Rotate by `angle` (radians, clockwise on screen) about `pivot`, then shift; edges replicated."""
        c, si = np.cos(angle), np.sin(angle)
        px, py = pivot
        M = np.array([[c, -si, px - c * px + si * py + shift[0]], [si, c, py - si * px - c * py + shift[1]]])
        return cv2.warpAffine(img, M, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def pose_photo(self, fingers: int, wanted: tuple[str, ...]) -> np.ndarray:
        """The first photo with `fingers` open fingers that our models label as one of `wanted`."""
        for name in self.by_fingers.get(fingers, []):
            img = self.photo(name)
            if self.look(img)[0] in wanted:
                self.used.append(name)
                return img
        raise SystemExit(f"demo session: no scene photo with {fingers} fingers is seen as {wanted}")

    def pointing_at(self, tid: str) -> np.ndarray:
        """A pointing photo rotated about the wrist until our landmarks' index ray hits target `tid`."""
        from fusion.rays import cast_ray_2d

        centre = _box_centre(tid)
        for name in self.by_fingers.get(1, []):
            img = self.photo(name)
            gesture, lm = self.look(img)
            if gesture != "point":
                continue
            wrist, tip, d = lm[0, :2], lm[8, :2], lm[8, :2] - lm[5, :2]
            # the wrist low in the view and well left of the target, so the fingertip stays outside it
            shift = np.array([np.clip(centre[0] - 200.0, 120.0, 560.0), 455.0]) - wrist

            def miss(a: float, wrist=wrist, tip=tip, d=d, shift=shift) -> float:  # index vs tip -> target
                R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
                to = centre - (wrist + shift + R @ (tip - wrist))
                dr = R @ d
                return abs(np.arctan2(dr[0] * to[1] - dr[1] * to[0], dr @ to))

            angle = min(np.radians(np.arange(-60.0, 60.5, 0.5)), key=miss)
            if miss(angle) > np.radians(3):
                continue
            frame = self.warp(img, angle, tuple(wrist), tuple(shift))
            gesture, lm2 = self.look(frame)
            if gesture != "point":
                continue
            tip2 = lm2[8, :2]
            inside = any(
                t["box"][0] <= tip2[0] <= t["box"][2] and t["box"][1] <= tip2[1] <= t["box"][3] for t in TARGETS
            )
            hit = cast_ray_2d(tip2, tip2 - lm2[5, :2], self.scene.targets(), "image", 12.0)
            if hit is not None and hit.target.id == tid and not inside:
                self.used.append(name)
                return frame
        raise SystemExit(f"demo session: no scene photo of a pointing hand can be aimed at {tid}")


# the room -----------------------------------------------------------------------------------------
def render_room() -> np.ndarray:
    img = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    img[:] = (70, 80, 95)
    cv2.rectangle(img, (0, 330), (640, 480), (60, 90, 120), -1)  # floor
    x0, y0, x1, y1 = TARGETS[0]["box"]
    cv2.line(img, ((x0 + x1) // 2, y0 + 60), ((x0 + x1) // 2, y1), (40, 40, 40), 6)
    cv2.ellipse(img, ((x0 + x1) // 2, y0 + 50), (55, 45), 0, 180, 360, (90, 220, 250), -1)
    x0, y0, x1, y1 = TARGETS[1]["box"]
    cv2.rectangle(img, (x0, y0), (x1, y1), (30, 30, 30), -1)
    cv2.rectangle(img, (x0 + 10, y0 + 10), (x1 - 10, y1 - 10), (150, 110, 60), -1)
    x0, y0, x1, y1 = TARGETS[2]["box"]
    cv2.rectangle(img, (x0, y0), (x1, y1), (40, 80, 130), -1)
    cv2.circle(img, (x0 + 20, (y0 + y1) // 2), 7, (60, 200, 230), -1)
    x0, y0, x1, y1 = TARGETS[3]["box"]
    cv2.rectangle(img, (x0 + 30, y1 - 50), (x1 - 30, y1), (40, 70, 150), -1)
    for k in range(7):
        cv2.ellipse(img, ((x0 + x1) // 2, y1 - 60), (15, 70), k * 25 - 75, 0, 360, (60, 160, 60), -1)
    return img


# assembly -----------------------------------------------------------------------------------------
def build_items(seed: int = 7, hands: str = "camera", scenes: Path = SCENES) -> tuple[list, list[dict]]:
    """Every item of the session in capture-time order, and the expected intents."""
    from perception.wrist.synthetic import Scene, SimEvent, render

    rng = np.random.default_rng(seed)
    items: list = [
        Observation("context", "scene", 1.0, T0_NS, T0_NS, {"op": "replace", "targets": TARGETS}, source_id="demo")
    ]
    audio = rng.normal(0, 0.002, int(DURATION_S * SAMPLE_RATE)).astype(np.float32)  # room noise
    wrist_events: list = []
    track = HandTrack(rng)
    cam = CameraHands(scenes) if hands == "camera" else None
    script = SCRIPT_CAMERA if cam is not None else SCRIPT_SKELETON
    spans: list[tuple[float, float, float, object]] = []  # camera frames with a real hand: t0, t1, Hz, frame(t)
    if cam is None:
        open_palm, point = _pose("open_palm", 1), _pose("point", 2)
    expected: list[dict] = []

    def fixate(tid: str, t_s: float) -> None:
        c = _box_centre(tid)
        for t in np.arange(t_s - 0.5, t_s + 1.2, 0.05):  # eye-tracker fixation, 20 Hz
            p = c + rng.normal(0, 4, 2)
            items.append(
                Observation(
                    "gaze",
                    "point",
                    0.9,
                    _ns(t),
                    _ns(t),
                    {"point": [float(p[0]), float(p[1])], "plane": "image"},
                    source_id="glasses_eye_tracker",
                )
            )

    for cue in script:
        expected.append({"t_s": cue.t_s, "name": cue.expect, "slots": cue.slots or {}, "via": cue.modality})
        if cue.modality == "speech" or cue.modality == "speech+pointing":
            text = cue.what.split(":")[0]
            u = synthesize(text)
            i0 = int(cue.t_s * SAMPLE_RATE)
            audio[i0 : i0 + len(u)] += u[: len(audio) - i0]
            if cue.modality == "speech+pointing":
                _, obj, dest = cue.what.split(":")
                dur = len(u) / SAMPLE_RATE
                # "move that there": point at the object around "that", then at the destination
                # the hand drops out of view for a moment between the two, as a real one turns (on the
                # camera for longer than the tracker's 500 ms re-acquire window, so the second pointing
                # is a new hand whose `point` is reported again)
                if cam is not None:
                    a, b = cam.pointing_at(obj), cam.pointing_at(dest)
                    spans.append((cue.t_s - 0.6, cue.t_s + 0.35 * dur, CAMERA_HAND_HZ, lambda t, f=a: f))
                    spans.append((cue.t_s + 0.35 * dur + 0.55, cue.t_s + dur + 0.8, CAMERA_HAND_HZ, lambda t, f=b: f))
                else:
                    _point_at(track, point, obj, cue.t_s - 0.6, cue.t_s + 0.35 * dur)
                    _point_at(track, point, dest, cue.t_s + 0.35 * dur + 0.25, cue.t_s + dur + 0.6)
        elif cue.modality == "wrist":
            wrist_events.append(SimEvent(cue.what, cue.t_s))
        elif cue.modality == "gaze+wrist":
            tid, gesture = cue.what.split(":")
            fixate(tid, cue.t_s)
            wrist_events.append(SimEvent(gesture, cue.t_s))
        elif cue.modality == "hand" and cam is not None:
            if cue.what == "swipe_right":
                img = cam.pose_photo(4, ("open_palm", "four"))

                def pan(t: float, img=img, t0=cue.t_s) -> np.ndarray:
                    u = min(max((t - t0) / 0.4, 0.0), 1.0)
                    return cam.warp(img, shift=(-150.0 + 300.0 * (0.5 - 0.5 * np.cos(np.pi * u)), 0.0))

                spans.append((cue.t_s - 0.4, cue.t_s + 0.8, SWIPE_HZ, pan))
            elif cue.what == "fist":
                img = cam.pose_photo(0, ("fist",))
                spans.append((cue.t_s, cue.t_s + 0.8, CAMERA_HAND_HZ, lambda t, f=img: f))
            else:
                raise ValueError(f"no real photo for the camera cue {cue.what!r}")
        elif cue.modality == "hand":
            at = np.array([330.0, 420.0])
            if cue.what == "swipe_right":
                track.hold(open_palm, np.array([200.0, 420.0]), cue.t_s - 0.4, cue.t_s)
                track.morph(
                    open_palm, open_palm, np.array([200.0, 420.0]), np.array([480.0, 420.0]), cue.t_s, cue.t_s + 0.3
                )
                track.hold(open_palm, np.array([480.0, 420.0]), cue.t_s + 0.3, cue.t_s + 0.6)
            else:
                track.hold(_pose(cue.what, 3), at, cue.t_s, cue.t_s + 0.7)
        elif cue.modality == "gaze+hand":
            tid, _gesture = cue.what.split(":")  # the script only has pinch_tap here
            fixate(tid, cue.t_s)
            pinch = _pose("pinch", 4)
            at = np.array([520.0, 420.0])
            track.hold(open_palm, at, cue.t_s - 0.3, cue.t_s)
            track.morph(open_palm, pinch, at, at, cue.t_s, cue.t_s + 0.12)
            track.morph(pinch, open_palm, at, at, cue.t_s + 0.12, cue.t_s + 0.25)
            track.hold(open_palm, at, cue.t_s + 0.25, cue.t_s + 0.6)
    track.frames.sort(key=lambda f: f[0])
    for seq, (t, lm) in enumerate(track.frames):
        items.append(
            HandLandmarks(
                image_xyz=lm.astype(np.float32),
                t_capture_ns=t,
                handedness="right",
                score=0.98,
                track_id=1,
                frame_seq=seq,
                source_id="glasses_hand_tracking",
            )
        )
    np.clip(audio, -1, 1, out=audio)
    for k, i in enumerate(range(0, len(audio) - AUDIO_CHUNK + 1, AUDIO_CHUNK)):
        items.append(AudioChunk(audio[i : i + AUDIO_CHUNK].copy(), SAMPLE_RATE, _ns(i / SAMPLE_RATE), seq=k))
    imu = render(Scene(DURATION_S, wrist_events, seed=seed), IMU_HZ, t0_ns=T0_NS)
    # 20 ms batches, as a low-latency wristband streams: a gesture's end is seen one batch after it
    for k, i in enumerate(range(0, len(imu), IMU_BATCH)):
        items.append(
            ImuBatch(
                t_ns=imu.t_ns[i : i + IMU_BATCH],
                accel=imu.accel[i : i + IMU_BATCH],
                gyro=imu.gyro[i : i + IMU_BATCH],
                seq=k,
                source_id="wrist",
            )
        )
    room = render_room()
    frames = [
        (float(t), None)
        for t in np.arange(0, DURATION_S, 1 / VIDEO_HZ)
        if not any(t0 <= t < t1 for t0, t1, _, _ in spans)
    ]
    for t0, t1, hz, make in spans:
        frames += [(float(t), make) for t in np.arange(t0, t1, 1 / hz)]
    frames.sort(key=lambda f: f[0])
    for k, (t, make) in enumerate(frames):
        items.append(VideoFrame(room if make is None else make(t), _ns(t), k, source_id="camera"))
    items.sort(key=_item_time)
    if cam is not None:
        print(f"demo session: real hand photos used: {', '.join(dict.fromkeys(cam.used))}", file=sys.stderr)
    return items, expected


def _item_time(item) -> int:
    """The item's MCAP log time (app/recording/schemas.py: the last sample of an audio chunk or IMU
    batch, an observation's end), so the file is in log-time order: the replay sleeps until each
    message's log time in file order, and a batch stored before the hand frames it overlaps held them
    back by up to its 90 ms (every hand gesture reached fusion that much late)."""
    if isinstance(item, ImuBatch):
        return int(item.t_ns[-1])
    if isinstance(item, (AudioChunk, Observation)):
        return int(item.t_end_ns)
    return int(item.t_capture_ns)


def write_session(out: Path, seed: int = 7, hands: str = "camera", scenes: Path = SCENES) -> dict:
    from app.recording.mcap_writer import McapWriter, RecorderOptions

    items, expected = build_items(seed, hands, scenes)
    content = (
        "espeak-ng speech, simulated wrist IMU, gaze fixations; camera: real hand photos ("
        + SCENES_LICENCE
        + ") over a rendered room"
        if hands == "camera"
        else "synthetic: espeak-ng speech, simulated wrist IMU, kinematic hand skeletons"
    )
    w = McapWriter(
        out,
        RecorderOptions(jpeg_quality=80, audio_encoding="pcm_s16le"),
        metadata={
            "kind": "demo",
            "generator": "app.demo_session",
            "seed": str(seed),
            "hands": hands,
            "content": content,
        },
        scene=TARGETS,
        wall_offset_ns="first_item",
    )  # the scene travels inside the recording
    for i, item in enumerate(items):
        w.write(item)
        if i % 2000 == 0:
            print(f"demo session: {i}/{len(items)} items", file=sys.stderr)
    w.close()
    manifest = {
        "session": out.name,
        "duration_s": DURATION_S,
        "targets": TARGETS,
        "camera_hand_tracking": hands == "camera",
        "content": content,
        "expected_intents": expected,
    }
    out.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.demo_session", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_SESSION)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--hands",
        choices=["camera", "skeleton"],
        default="camera",
        help="camera: real hand photos on the camera track (the bundled session); skeleton: "
        "synthetic hand skeletons as a headset's own tracking sends them",
    )
    ap.add_argument("--scenes", type=Path, default=SCENES, help="the Apache-2.0 scene photos (camera hands)")
    a = ap.parse_args(argv)
    m = write_session(a.out, a.seed, a.hands, a.scenes)
    print(f"wrote {a.out} ({a.out.stat().st_size / 1e6:.1f} MB) with {len(m['expected_intents'])} scripted intents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
