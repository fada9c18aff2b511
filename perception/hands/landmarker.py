"""Hand landmarker on the project's ONNX models, in the shape of MediaPipe Tasks' HandLandmarker.

    opts = HandLandmarkerOptions(running_mode=RunningMode.VIDEO, num_hands=2)
    with HandLandmarker.create_from_options(opts) as lm:
        result = lm.detect_for_video(rgb_image, t_ns)

Per frame: palm detection (letterbox 192, SSD anchors, decode, weighted NMS; native kernels) -> rotated
hand ROI -> 224x224 crop with replicated border -> landmarks, presence, handedness, world landmarks.
In VIDEO and LIVE_STREAM modes each hand's next ROI comes from its landmarks, so the palm detector
runs only while fewer than `num_hands` hands are tracked (and then at most every `redetect_interval`
frames while at least one hand is tracked), and landmarks are One-Euro smoothed. IMAGE mode detects
on every call and does not smooth. Images are RGB uint8 HxWx3 (pass `bgr=True` for OpenCV frames).
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from perception.hands.landmarks import palm_size
from perception.hands.roi import Rect, landmarks_to_rect, palm_to_rect, rect_iou
from perception.hands.smoothing import OneEuroFilter, OneEuroOptions
from perception.stream.types import HandLandmarks

# MediaPipe's hand graph divides the model's z by 0.4 (TensorsToLandmarks normalize_z) before projecting
# it, so image z is ~2.5x the crop-scaled value; matched here (measured ratio 2.50 on the hagrid photos).
Z_SCALE = 2.5


class RunningMode(enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


@dataclass(slots=True)
class HandLandmarkerOptions:
    running_mode: RunningMode = RunningMode.IMAGE
    num_hands: int = 2
    min_hand_detection_confidence: float = 0.5
    min_hand_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5  # IoU between a detection and a tracked hand that makes them one
    palm_model: str = "palm_detection_full"  # or palm_detection_lite
    landmark_model: str = "hand_landmark_full"  # or hand_landmark_lite
    palm_variant: str = "fp32"  # int8 palm moves scores a lot (hand-models.md): fp32 by default
    landmark_variant: str = "fp32"  # or "int8"
    palm_model_path: Path | None = None  # explicit files override the model store
    landmark_model_path: Path | None = None
    num_threads: int = 1
    redetect_interval: int = 10  # frames between palm searches for more hands while some are tracked
    smoothing: OneEuroOptions | None = field(default_factory=OneEuroOptions)  # None: raw landmarks
    predict_motion: bool = True  # shift each ROI by the hand's velocity (MediaPipe does not)
    reacquire_ms: float = 500.0  # a hand found again this soon near where one was lost keeps its id
    image_is_mirrored: bool = False  # selfie view; the model's handedness assumes a mirrored image
    result_callback: Callable[[HandLandmarkerResult, np.ndarray, int], None] | None = None


@dataclass(slots=True)
class HandLandmarkerResult:
    hands: list[HandLandmarks]  # pixel landmarks, capture time, handedness, presence, world, track id
    rois: list[Rect] = field(default_factory=list)
    palm_detection_ran: bool = False
    image_size: tuple[int, int] = (0, 0)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def hand_landmarks(self) -> list[np.ndarray]:
        """MediaPipe-style normalised landmarks (x / width, y / height, z / width) per hand."""
        w, h = self.image_size
        return [hd.image_xyz / np.array([w, h, w]) for hd in self.hands]

    @property
    def hand_world_landmarks(self) -> list[np.ndarray | None]:
        return [hd.world_xyz for hd in self.hands]

    @property
    def handedness(self) -> list[tuple[str, float]]:
        return [(hd.handedness, hd.score) for hd in self.hands]


@dataclass(slots=True)
class _Track:
    track_id: int
    rect: Rect
    filter: OneEuroFilter | None
    center: tuple[float, float] = (0.0, 0.0)  # landmark-ROI centre at t_ns
    t_ns: int | None = None
    velocity: tuple[float, float] = (0.0, 0.0)  # px/s of the ROI centre, smoothed


class _Session:
    def __init__(self, path: Path, num_threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = num_threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.path = path

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.sess.run(None, {self.input: x}), strict=True))


def _model_path(explicit: Path | None, name: str, variant: str) -> Path:
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist")
        return p
    from perception.models import ensure_model

    return ensure_model(name, variant)


class HandLandmarker:
    def __init__(self, options: HandLandmarkerOptions) -> None:
        from native.detection import ssd_anchors

        o = options
        if o.num_hands < 1:
            raise ValueError(f"num_hands must be >= 1, got {o.num_hands}")
        if not isinstance(o.running_mode, RunningMode):
            raise TypeError(f"running_mode must be a RunningMode, got {o.running_mode!r}")
        if (o.running_mode is RunningMode.LIVE_STREAM) != (o.result_callback is not None):
            raise ValueError("result_callback is required in LIVE_STREAM mode and only allowed there")
        self.options = o
        self.palm = _Session(_model_path(o.palm_model_path, o.palm_model, o.palm_variant), o.num_threads)
        self.landmark = _Session(
            _model_path(o.landmark_model_path, o.landmark_model, o.landmark_variant), o.num_threads
        )
        self.anchors = ssd_anchors(192)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frames_since_detection = 0
        self._lost: list[tuple[int, float, float, int, float]] = []  # (id, x, y, t_ns, roi width)
        self._last_t: int | None = None
        self._lock = threading.Lock()
        self._live: _LiveWorker | None = None
        self.frames = {"detection": 0, "tracking": 0}

    @classmethod
    def create_from_options(cls, options: HandLandmarkerOptions) -> HandLandmarker:
        return cls(options)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def reset(self) -> None:
        """Forget tracked hands (a new video)."""
        with self._lock:
            self._tracks.clear()
            self._lost.clear()
            self._last_t = None
            self._frames_since_detection = 0

    # ---- the three running modes -----------------------------------------------------------------
    def detect(self, image: np.ndarray, bgr: bool = False) -> HandLandmarkerResult:
        self._mode(RunningMode.IMAGE)
        with self._lock:
            return self._process(self._rgb(image, bgr), 0, tracking=False)

    def detect_for_video(self, image: np.ndarray, t_ns: int, bgr: bool = False) -> HandLandmarkerResult:
        self._mode(RunningMode.VIDEO)
        rgb = self._rgb(image, bgr)  # a bad image must not use up its timestamp
        with self._lock:
            self._check_time(t_ns)
            return self._process(rgb, t_ns, tracking=True)

    def detect_async(self, image: np.ndarray, t_ns: int, bgr: bool = False) -> None:
        """Queue a frame; the callback gets (result, image, t_ns). A frame still waiting when a newer
        one arrives is dropped (the newest frame wins), as MediaPipe's live stream does."""
        self._mode(RunningMode.LIVE_STREAM)
        rgb = self._rgb(image, bgr)
        with self._lock:
            self._check_time(t_ns)
        if self._live is None:
            self._live = _LiveWorker(self)
        self._live.submit(rgb, t_ns)

    @property
    def dropped_frames(self) -> int:
        return 0 if self._live is None else self._live.dropped

    def _mode(self, mode: RunningMode) -> None:
        if self.options.running_mode is not mode:
            raise ValueError(
                f"this HandLandmarker runs in {self.options.running_mode.name} mode; {mode.name} calls are not allowed"
            )

    def _check_time(self, t_ns: int) -> None:
        if self._last_t is not None and t_ns <= self._last_t:
            raise ValueError(f"timestamps must increase: got {t_ns} after {self._last_t}")
        self._last_t = t_ns

    @staticmethod
    def _rgb(image: np.ndarray, bgr: bool) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise TypeError(
                f"image must be a uint8 numpy array, got {type(image).__name__} {getattr(image, 'dtype', '')}"
            )
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 8 or image.shape[1] < 8:
            raise ValueError(f"image must be HxWx3 (or HxWx4 / HxW) and at least 8x8, got {image.shape}")
        if image.shape[2] == 4:
            image = image[:, :, :3]
        if bgr:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)

    # ---- the work ---------------------------------------------------------------------------------
    def detect_palms(self, rgb: np.ndarray) -> list[tuple[Rect, float]]:
        """Palm detector on the whole frame -> hand ROIs (image pixels) with scores, best first."""
        from native.detection import decode_detections
        from native.image import letterbox

        o = self.options
        tensor, lb = letterbox(rgb, (192, 192))
        out = self.palm.run(tensor)
        dets = decode_detections(
            out["boxes"],
            out["score_logits"],
            self.anchors,
            192.0,
            7,
            o.min_hand_detection_confidence,
            0.3,
            max_out=o.num_hands,
        )
        rois = []
        for d in dets:
            corners = lb.to_image(np.array([[d.box[0], d.box[1]], [d.box[2], d.box[3]]]))
            kp = lb.to_image(np.asarray(d.keypoints, dtype=np.float64))
            box = (corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1])
            rois.append((palm_to_rect(box, kp), d.score))
        return rois

    def landmarks_in(self, rgb: np.ndarray, rect: Rect) -> tuple[np.ndarray, float, float, np.ndarray]:
        """Landmark model on one ROI -> (image-pixel landmarks (21,3), presence, P(right as seen by the
        model), world landmarks (21,3) in metres, rotated into the image's axes)."""
        from native.image import image_to_tensor

        h, w = rgb.shape[:2]
        tensor, tf = image_to_tensor(
            rgb, rect.normalized((w, h)), rect.rotation, (224, 224), keep_aspect=True, border="replicate"
        )
        out = self.landmark.run(tensor)
        lm = tf.to_image(out["landmarks"].reshape(21, 3).astype(np.float64))
        lm[:, 2] *= Z_SCALE
        world = out["world_landmarks"].reshape(21, 3).astype(np.float64)
        c, s = math.cos(rect.rotation), math.sin(rect.rotation)
        world[:, :2] = world[:, :2] @ np.array([[c, -s], [s, c]]).T
        return lm, float(out["presence"].reshape(-1)[0]), float(out["handedness"].reshape(-1)[0]), world

    def _process(self, rgb: np.ndarray, t_ns: int, tracking: bool) -> HandLandmarkerResult:
        o = self.options
        h, w = rgb.shape[:2]
        timings: dict[str, float] = {"palm_ms": 0.0}
        tracks = [self._predicted(tr, t_ns) for tr in self._tracks] if tracking else []
        ran = False
        if len(tracks) < o.num_hands and (not tracks or self._frames_since_detection + 1 >= o.redetect_interval):
            ran = True
            tracks += self._detect_new(rgb, tracks, t_ns, tracking, timings)
        t1, palm_before = time.perf_counter(), timings["palm_ms"]
        hands: list[HandLandmarks] = []
        rois: list[Rect] = []
        kept: list[_Track] = []
        lost = self._run_tracks(rgb, tracks, t_ns, kept, hands, rois)
        if tracking and lost and not ran and len(kept) < o.num_hands:
            # a hand slipped out of its predicted ROI (fast motion): find it again in this same frame
            # rather than leave a gap frame that would split its gestures
            ran = True
            fresh = self._detect_new(rgb, kept, t_ns, tracking, timings)
            self._run_tracks(rgb, fresh, t_ns, kept, hands, rois)
        timings["landmarks_ms"] = (time.perf_counter() - t1) * 1e3 - (timings["palm_ms"] - palm_before)
        self.frames["detection" if ran else "tracking"] += 1
        if ran:
            self._frames_since_detection = 0
        else:
            self._frames_since_detection += 1
        if tracking:
            self._tracks = kept
            self._lost = [x for x in self._lost if t_ns - x[3] <= o.reacquire_ms * 1e6]
        else:
            self._lost.clear()  # images are independent: nothing to re-acquire
            for i, hd in enumerate(hands):
                hd.track_id = i + 1
        return HandLandmarkerResult(hands, rois, ran, (w, h), timings)

    def _predicted(self, tr: _Track, t_ns: int) -> _Track:
        """Shift the ROI by the hand's recent velocity (at most half the ROI per frame)."""
        if tr.t_ns is None or not self.options.predict_motion:
            return tr
        dt = (t_ns - tr.t_ns) / 1e9
        dx, dy = tr.velocity[0] * dt, tr.velocity[1] * dt
        lim = 0.5 * tr.rect.w
        norm = math.hypot(dx, dy)
        if norm > lim:
            dx, dy = dx * lim / norm, dy * lim / norm
        r = tr.rect
        tr.rect = Rect(r.xc + dx, r.yc + dy, r.w, r.h, r.rotation)
        return tr

    def _detect_new(
        self, rgb: np.ndarray, tracks: list[_Track], t_ns: int, tracking: bool, timings: dict[str, float]
    ) -> list[_Track]:
        o = self.options
        t0 = time.perf_counter()
        new: list[_Track] = []
        for rect, _score in self.detect_palms(rgb):
            if len(tracks) + len(new) >= o.num_hands:
                break
            if any(rect_iou(rect, t.rect) > o.min_tracking_confidence for t in tracks + new):
                continue  # a hand we already follow
            new.append(_Track(self._track_id_for(rect), rect, self._new_filter(tracking)))
        timings["palm_ms"] += (time.perf_counter() - t0) * 1e3
        return new

    def _track_id_for(self, rect: Rect) -> int:
        """The id of a hand lost moments ago near this spot (so its gestures continue), else a new id."""
        best, best_d = None, float("inf")
        for i, (_tid, cx, cy, _t, width) in enumerate(self._lost):
            d = math.hypot(rect.xc - cx, rect.yc - cy)
            if d < width and d < best_d:
                best, best_d = i, d
        if best is not None:
            return self._lost.pop(best)[0]
        self._next_id += 1
        return self._next_id - 1

    def _run_tracks(
        self,
        rgb: np.ndarray,
        tracks: list[_Track],
        t_ns: int,
        kept: list[_Track],
        hands: list[HandLandmarks],
        rois: list[Rect],
    ) -> int:
        """Landmarks for each track; survivors go to `kept`. Returns how many tracks were lost."""
        o = self.options
        lost = 0
        for tr in tracks:
            lm, presence, right, world = self.landmarks_in(rgb, tr.rect)
            if presence < o.min_hand_presence_confidence:
                lost += 1
                self._lost.append((tr.track_id, tr.rect.xc, tr.rect.yc, t_ns, tr.rect.w))
                continue
            next_rect = landmarks_to_rect(lm)
            if any(rect_iou(next_rect, k.rect) > 0.5 for k in kept):
                continue  # two tracks converged on one hand: keep the older
            if tr.t_ns is not None and t_ns > tr.t_ns:
                dt = (t_ns - tr.t_ns) / 1e9
                v = ((next_rect.xc - tr.center[0]) / dt, (next_rect.yc - tr.center[1]) / dt)
                tr.velocity = (0.5 * (tr.velocity[0] + v[0]), 0.5 * (tr.velocity[1] + v[1]))
            tr.center, tr.t_ns = (next_rect.xc, next_rect.yc), t_ns
            rois.append(tr.rect)
            tr.rect = next_rect
            kept.append(tr)
            out_lm = tr.filter(lm, t_ns, palm_size(lm)) if tr.filter is not None else lm
            is_right = right > 0.5
            if not o.image_is_mirrored:
                is_right = not is_right  # the model assumes a mirrored (selfie) image
            hands.append(
                HandLandmarks(out_lm, int(t_ns), "right" if is_right else "left", presence, world, tr.track_id)
            )
        return lost

    def _new_filter(self, tracking: bool) -> OneEuroFilter | None:
        if not tracking or self.options.smoothing is None:
            return None
        return OneEuroFilter(self.options.smoothing)


class _LiveWorker:
    """One thread, one waiting slot: the newest frame replaces a frame not yet started."""

    def __init__(self, owner: HandLandmarker) -> None:
        self.owner = owner
        self.cv = threading.Condition()
        self.pending: tuple[np.ndarray, int] | None = None
        self.dropped = 0
        self.running = True
        self.busy = False
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name="hand-landmarker-live", daemon=True)
        self.thread.start()

    def submit(self, rgb: np.ndarray, t_ns: int) -> None:
        with self.cv:
            if self.pending is not None:
                self.dropped += 1
            self.pending = (rgb, t_ns)
            self.cv.notify()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        with self.cv:
            while self.pending is not None or self.busy:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
        return True

    def stop(self) -> None:
        with self.cv:
            self.running = False
            self.cv.notify_all()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self.cv:
                while self.running and self.pending is None:
                    self.cv.wait()
                if not self.running:
                    return
                rgb, t_ns = self.pending
                self.pending = None
                self.busy = True
            try:
                with self.owner._lock:
                    res = self.owner._process(rgb, t_ns, tracking=True)
                self.owner.options.result_callback(res, rgb, t_ns)
            except Exception:  # noqa: BLE001 - a failing callback must not kill the stream; it is counted
                self.errors += 1
            finally:
                with self.cv:
                    self.busy = False
                    self.cv.notify_all()
