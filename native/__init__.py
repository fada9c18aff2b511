"""CueKit's C kernels (compiled by the package build as `native._kernels`) and their Python faces."""

from native._kernels import normalize_u8
from native.audio import MFCC, LogMel, Resampler, log_mel, mfcc, resample
from native.detection import (
    Detection,
    decode_boxes,
    decode_detections,
    sigmoid_scores,
    ssd_anchors,
    weighted_nms,
    weighted_nms_arrays,
)
from native.image import LetterboxTransform, RoiTransform, image_to_tensor, letterbox, roi_transform
from native.imu import (
    Biquad,
    IrregularResampler,
    Madgwick,
    gravity_in_sensor,
    quat_from_accel,
    resample_irregular,
)

__all__ = [
    "MFCC",
    "Biquad",
    "Detection",
    "IrregularResampler",
    "LetterboxTransform",
    "LogMel",
    "Madgwick",
    "Resampler",
    "RoiTransform",
    "decode_boxes",
    "decode_detections",
    "decode_detections_arrays",
    "gravity_in_sensor",
    "image_to_tensor",
    "letterbox",
    "log_mel",
    "mfcc",
    "normalize_u8",
    "quat_from_accel",
    "resample",
    "resample_irregular",
    "roi_transform",
    "sigmoid_scores",
    "ssd_anchors",
    "weighted_nms",
    "weighted_nms_arrays",
]
