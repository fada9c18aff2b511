"""Approximate head direction and gaze from a user-facing camera: face detector -> 468-point face
mesh -> iris landmarks (the project's ONNX conversions of MediaPipe's models, `ensure_model`).

Geometry (camera frame: x right, y down, z forward, away from the camera):
- head forward = the normal of the plane through the outer eye corners, forehead and chin, using
  the mesh's relative depth (z scaled like x), pointing out of the face;
- eye-in-head rotation from where each iris centre sits between its eye corners and lids (an
  eyeball of ~12 mm radius behind a ~30 mm wide eye opening), averaged over both eyes;
- ray origin = the point between the eyes, back-projected with a depth from the inter-pupil distance
  (63 mm) and the camera's field of view.

This is approximate by nature (no per-user calibration of the eye model). Glasses that supply gaze
rays come first; this is the fallback. `ScreenCalibration` maps (yaw, pitch) to screen pixels
with a least-squares fit from a few looked-at points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.hands.roi import Rect, normalize_radians, transform_rect
from perception.stream.stage import Emit, Stage
from perception.stream.types import Observation, VideoFrame

# face mesh indices
R_OUT, R_IN, R_UP, R_LO = 33, 133, 159, 145  # subject's right eye (image left in a selfie view)
L_OUT, L_IN, L_UP, L_LO = 263, 362, 386, 374
FOREHEAD, CHIN, NOSE = 10, 152, 1
EYEBALL_OVER_WIDTH = 12.0 / 30.0  # eyeball radius over eye-opening width
IPD_M = 0.063


@dataclass(slots=True)
class FaceGazeOptions:
    min_face_score: float = 0.5
    min_presence: float = 0.5
    horizontal_fov_deg: float = 60.0  # of the user-facing camera, for the ray origin's depth
    num_threads: int = 1
    model_dir: Path | None = None  # default: ensure_model's cache


@dataclass(slots=True)
class FaceGazeResult:
    face_box: tuple[float, float, float, float]  # image pixels
    face_score: float
    landmarks: np.ndarray  # (468, 3) image pixels (z relative, scaled like x)
    irises: np.ndarray  # (2, 2) iris centres (subject's right, left) in image pixels
    head_forward: np.ndarray  # unit (3,) camera frame
    gaze: np.ndarray  # unit (3,) camera frame
    origin_m: np.ndarray  # (3,) metres, camera frame
    yaw_deg: float  # gaze yaw, + = towards image right
    pitch_deg: float  # gaze pitch, + = downwards in the image
    eye_offsets: tuple[float, float] = (0.0, 0.0)  # mean iris offset (horizontal, vertical) / eye width


class _Session:
    def __init__(self, name: str, options: FaceGazeOptions) -> None:
        import onnxruntime as ort

        if options.model_dir is not None:
            path = Path(options.model_dir) / f"{name}.onnx"
        else:
            from perception.models import ensure_model

            path = ensure_model(name)
        so = ort.SessionOptions()
        so.intra_op_num_threads = options.num_threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.sess.run(None, {self.input: x}), strict=True))


def _two_point_rect(p0: np.ndarray, p1: np.ndarray, scale: float) -> Rect:
    """MediaPipe's eye ROI: centred between two landmarks, rotated so p0 -> p1 is horizontal."""
    rot = normalize_radians(-math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]))
    d = float(np.hypot(*(p1[:2] - p0[:2])))
    c = (p0[:2] + p1[:2]) / 2
    return transform_rect(Rect(float(c[0]), float(c[1]), d, d, rot), scale, 0.0, 0.0, True)


class FaceGazeEstimator:
    def __init__(self, options: FaceGazeOptions | None = None) -> None:
        from native.detection import ssd_anchors

        self.options = options or FaceGazeOptions()
        self.detector = _Session("face_detection_short_range", self.options)
        self.mesh = _Session("face_landmark", self.options)
        self.iris = _Session("iris_landmark", self.options)
        self.anchors = ssd_anchors(128, (8, 16, 16, 16), 0.5, (1.0,), 1.0, 0.1484375, 0.75, True)

    def estimate(self, image: np.ndarray, bgr: bool = True) -> FaceGazeResult | None:
        """The most confident face's gaze, or None when no face is found."""
        from native.detection import decode_detections
        from native.image import image_to_tensor, letterbox

        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError("image must be a uint8 HxWx3 array")
        rgb = np.ascontiguousarray(image[:, :, ::-1] if bgr else image)
        h, w = rgb.shape[:2]
        tensor, lb = letterbox(rgb, (128, 128), value_range=(-1.0, 1.0))
        out = self.detector.run(tensor)
        dets = decode_detections(
            out["boxes"], out["score_logits"], self.anchors, 128.0, 6, self.options.min_face_score, 0.3, max_out=1
        )
        if not dets:
            return None
        d = dets[0]
        corners = lb.to_image(np.array([[d.box[0], d.box[1]], [d.box[2], d.box[3]]]))
        kp = lb.to_image(np.asarray(d.keypoints, dtype=np.float64))
        box = (float(corners[0, 0]), float(corners[0, 1]), float(corners[1, 0]), float(corners[1, 1]))
        rot = normalize_radians(-math.atan2(-(kp[1, 1] - kp[0, 1]), kp[1, 0] - kp[0, 0]))
        rect = transform_rect(
            Rect((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1], rot),
            1.5,
            0.0,
            0.0,
            True,
        )
        t, tf = image_to_tensor(rgb, rect.normalized((w, h)), rect.rotation, (192, 192), keep_aspect=True)
        mo = self.mesh.run(t)
        presence = 1.0 / (1.0 + math.exp(-float(mo["presence_logit"].reshape(-1)[0])))
        if presence < self.options.min_presence:
            return None
        lm = tf.to_image(mo["landmarks"].reshape(468, 3).astype(np.float64))
        irises = np.stack(
            [self._iris(rgb, lm[R_OUT], lm[R_IN], flip=True), self._iris(rgb, lm[L_IN], lm[L_OUT], flip=False)]
        )
        return self._geometry(lm, irises, box, d.score, (w, h))

    def _iris(self, rgb: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, flip: bool) -> np.ndarray:
        """Iris centre (image pixels) of the eye between corner landmarks p_a (image-left) and p_b."""
        from native.image import image_to_tensor

        h, w = rgb.shape[:2]
        rect = _two_point_rect(p_a, p_b, 2.3)
        t, tf = image_to_tensor(rgb, rect.normalized((w, h)), rect.rotation, (64, 64), keep_aspect=True)
        if flip:  # the model was trained on one eye; the other is mirrored in and out
            t = np.ascontiguousarray(t[:, :, ::-1, :])
        iris = self.iris.run(t)["iris"].reshape(5, 3).astype(np.float64)
        if flip:
            iris[:, 0] = 64.0 - iris[:, 0]
        return tf.to_image(iris[:1, :2])[0]

    def _geometry(self, lm: np.ndarray, irises: np.ndarray, box, score: float, size: tuple[int, int]) -> FaceGazeResult:
        x_axis = lm[L_OUT] - lm[R_OUT]
        y_axis = lm[CHIN] - lm[FOREHEAD]
        n = np.cross(x_axis, y_axis)
        fwd = -n / (np.linalg.norm(n) + 1e-12)  # mesh z grows away from the camera: face the camera
        xh = x_axis / (np.linalg.norm(x_axis) + 1e-12)
        yh = np.cross(fwd, xh)  # completes a right-handed face frame (down the face)
        offs = []
        for iris, (a, b, up, lo) in zip(irises, ((R_OUT, R_IN, R_UP, R_LO), (L_IN, L_OUT, L_UP, L_LO)), strict=True):
            width = float(np.linalg.norm(lm[b, :2] - lm[a, :2])) + 1e-9
            centre = (lm[a, :2] + lm[b, :2] + lm[up, :2] + lm[lo, :2]) / 4
            v = iris - centre
            offs.append((float(v @ xh[:2]) / width, float(v @ yh[:2]) / width))
        oh, ov = (float(np.mean([o[0] for o in offs])), float(np.mean([o[1] for o in offs])))
        eye_yaw = math.asin(max(-1.0, min(1.0, oh / EYEBALL_OVER_WIDTH)))
        eye_pitch = math.asin(max(-1.0, min(1.0, ov / EYEBALL_OVER_WIDTH)))
        g = fwd + math.tan(eye_yaw) * xh + math.tan(eye_pitch) * yh
        g = g / np.linalg.norm(g)
        w, h = size
        f_px = (w / 2) / math.tan(math.radians(self.options.horizontal_fov_deg) / 2)
        ipd_px = float(np.linalg.norm(irises[1] - irises[0])) + 1e-9
        z = f_px * IPD_M / ipd_px
        mid = irises.mean(axis=0)
        origin = np.array([(mid[0] - w / 2) * z / f_px, (mid[1] - h / 2) * z / f_px, z])
        yaw = math.degrees(math.atan2(g[0], -g[2]))
        pitch = math.degrees(math.atan2(g[1], math.hypot(g[0], g[2])))
        return FaceGazeResult(box, float(score), lm, irises, fwd, g, origin, yaw, pitch, (oh, ov))


@dataclass(slots=True)
class ScreenCalibration:
    """screen (x, y) = A @ [yaw, pitch, 1]: fitted from looked-at points (least squares, >= 3)."""

    A: np.ndarray = field(default_factory=lambda: np.array([[20.0, 0.0, 640.0], [0.0, 20.0, 360.0]]))

    @classmethod
    def fit(cls, yaw_pitch: np.ndarray, screen_xy: np.ndarray) -> ScreenCalibration:
        yp = np.asarray(yaw_pitch, dtype=np.float64)
        xy = np.asarray(screen_xy, dtype=np.float64)
        if yp.shape[0] < 3 or yp.shape != xy.shape or yp.shape[1] != 2:
            raise ValueError("need >= 3 (yaw, pitch) samples and as many screen points")
        X = np.hstack([yp, np.ones((len(yp), 1))])
        sol, *_ = np.linalg.lstsq(X, xy, rcond=None)
        return cls(sol.T)

    def to_screen(self, yaw_deg: float, pitch_deg: float) -> tuple[float, float]:
        x, y = self.A @ np.array([yaw_deg, pitch_deg, 1.0])
        return float(x), float(y)


class FaceGazeStage(Stage):
    """VideoFrames of a user-facing camera -> `gaze` observations: `point` on the screen plane when
    calibrated, else a 3-D `ray` in the camera frame (for 3-D scene targets in that frame)."""

    name = "face-gaze"

    def __init__(
        self,
        options: FaceGazeOptions | None = None,
        calibration: ScreenCalibration | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        from perception.stream.channel import QueuePolicy

        self.input_policy = QueuePolicy.LATEST
        self.options = options or FaceGazeOptions()
        self.calibration = calibration
        self.estimator: FaceGazeEstimator | None = None

    def setup(self) -> None:
        if self.estimator is None:
            self.estimator = FaceGazeEstimator(self.options)

    def process(self, item: VideoFrame, emit: Emit) -> None:
        if not isinstance(item, VideoFrame):
            return
        self.setup()
        res = self.estimator.estimate(item.image)  # type: ignore[union-attr]
        if res is None:
            return
        t = item.t_capture_ns
        conf = min(1.0, res.face_score)
        if self.calibration is not None:
            x, y = self.calibration.to_screen(res.yaw_deg, res.pitch_deg)
            emit(
                Observation(
                    "gaze",
                    "point",
                    conf,
                    t,
                    t,
                    {"point": [x, y], "plane": "screen", "yaw_deg": res.yaw_deg, "pitch_deg": res.pitch_deg},
                    source_id="face_gaze",
                )
            )
        else:
            emit(
                Observation(
                    "gaze",
                    "ray",
                    conf,
                    t,
                    t,
                    {
                        "origin": res.origin_m.tolist(),
                        "direction": res.gaze.tolist(),
                        "yaw_deg": res.yaw_deg,
                        "pitch_deg": res.pitch_deg,
                    },
                    source_id="face_gaze",
                )
            )
