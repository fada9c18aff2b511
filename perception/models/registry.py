"""What the model build produces: the pinned source wheel and one spec per model.

Every model takes one float32 NHWC tensor named "image" of shape [1, H, W, 3] (RGB), exactly the
TFLite input, so a crop made by the native image kernels is fed without reshuffling. `input_range`
is the value range MediaPipe's graphs feed each model.
"""

from __future__ import annotations

from dataclasses import dataclass

# the converter's version: a cached model built by another version is rebuilt
CONVERTER_VERSION = "3"
WHEEL_REQUIREMENT = "mediapipe==0.10.14"
WHEEL_FILENAME = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
# Pinned so a changed upload cannot slip in; checked after every download and every cache hit.
WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
PIP_PLATFORM_ARGS = ["--python-version", "3.11", "--platform", "manylinux_2_17_x86_64"]
LICENCE = "Apache-2.0"
INPUT_NAME = "image"
# Parity with LiteRT, element by element: |onnx - litert| <= atol + PARITY_RTOL * |litert|. Outputs in
# pixels of the model input get atol 0.005 px (1/200 pixel); scores, probabilities and metres 1e-3.
# The relative term covers fp32 summation-order noise on large values: the face detector's logits
# and box offsets of empty anchors reach hundreds, where the runtimes differ by ~1e-4 relative.
PIXEL_OUTPUTS = frozenset({"boxes", "landmarks", "eye_contour", "iris"})
PIXEL_ATOL = 5e-3
DEFAULT_ATOL = 1e-3
PARITY_RTOL = 2e-4


def parity_atol(output_name: str) -> float:
    return PIXEL_ATOL if output_name in PIXEL_OUTPUTS else DEFAULT_ATOL


@dataclass(frozen=True)
class ModelSpec:
    name: str
    wheel_path: str  # member of the wheel
    input_size: tuple[int, int]  # (height, width)
    input_range: tuple[float, float]
    output_names: tuple[str, ...]  # in TFLite output order
    output_doc: tuple[str, ...]
    # int8 is attempted only where it can hold; the build still measures and records the outcome
    int8_candidate: bool = False
    summary: str = ""
    int8_note: str = "int8 is not attempted for this model (see docs/models.md)"


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(
            "palm_detection_full",
            "mediapipe/modules/palm_detection/palm_detection_full.tflite",
            (192, 192),
            (0.0, 1.0),
            ("boxes", "score_logits"),
            (
                "[1,2016,18] per anchor: box cx,cy,w,h then 7 keypoints x,y, pixels of the 192 input, "
                + "relative to the anchor",
                "[1,2016,1] palm score before sigmoid",
            ),
            summary="palm detector (full), letterboxed 192x192 frame",
            int8_note=(
                "int8 is not offered: static int8 moved palm scores by up to 0.78 and box "
                + "coordinates by tens of pixels on real photos (docs/models.md)"
            ),
        ),
        ModelSpec(
            "palm_detection_lite",
            "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
            (192, 192),
            (0.0, 1.0),
            ("boxes", "score_logits"),
            ("[1,2016,18] as palm_detection_full", "[1,2016,1] palm score before sigmoid"),
            summary="palm detector (lite)",
            int8_note=(
                "int8 is not offered: static int8 moved palm scores by up to 0.56 and box "
                + "coordinates by tens of pixels on real photos (docs/models.md)"
            ),
        ),
        ModelSpec(
            "hand_landmark_full",
            "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
            (224, 224),
            (0.0, 1.0),
            ("landmarks", "presence", "handedness", "world_landmarks"),
            (
                "[1,63] 21 x (x, y, z) in pixels of the 224 crop",
                "[1,1] hand presence (sigmoid applied)",
                "[1,1] probability of a right hand (sigmoid applied)",
                "[1,63] 21 x (x, y, z) metres, origin at the hand's centre",
            ),
            int8_candidate=True,
            summary="21 hand landmarks (full) on a rotated 224x224 crop",
        ),
        ModelSpec(
            "hand_landmark_lite",
            "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
            (224, 224),
            (0.0, 1.0),
            ("landmarks", "presence", "handedness", "world_landmarks"),
            (
                "[1,63] as hand_landmark_full",
                "[1,1] presence",
                "[1,1] right-hand probability",
                "[1,63] world landmarks",
            ),
            int8_candidate=True,
            summary="21 hand landmarks (lite)",
        ),
        ModelSpec(
            "face_detection_short_range",
            "mediapipe/modules/face_detection/face_detection_short_range.tflite",
            (128, 128),
            (-1.0, 1.0),
            ("boxes", "score_logits"),
            (
                "[1,896,16] per anchor: box cx,cy,w,h then 6 keypoints x,y, pixels of the 128 input",
                "[1,896,1] face score before sigmoid",
            ),
            summary="face detector for faces within ~2 m, 128x128",
            int8_note="int8 is not offered: no faster than fp32 and 51 score decisions flipped at 0.5",
        ),
        ModelSpec(
            "face_landmark",
            "mediapipe/modules/face_landmark/face_landmark.tflite",
            (192, 192),
            (0.0, 1.0),
            ("landmarks", "presence_logit"),
            ("[1,1,1,1404] 468 x (x, y, z) in pixels of the 192 crop", "[1,1,1,1] face presence before sigmoid"),
            summary="468-point face mesh on a 192x192 face crop",
            int8_note=("int8 is not attempted: the build has no face-crop drift check yet " + "(docs/models.md)"),
        ),
        ModelSpec(
            "iris_landmark",
            "mediapipe/modules/iris_landmark/iris_landmark.tflite",
            (64, 64),
            (0.0, 1.0),
            ("eye_contour", "iris"),
            (
                "[1,213] 71 x (x, y, z) eye contour and brow, pixels of the 64 crop",
                "[1,15] 5 x (x, y, z) iris centre and 4 edge points",
            ),
            summary="eye contour and iris on a 64x64 eye crop",
            int8_note="int8 is not offered: no faster than the rewritten fp32 model (docs/models.md)",
        ),
    ]
}

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
VARIANTS: tuple[str, ...] = ("fp32", "int8")


class UnknownModelError(KeyError):
    """A model name or variant that the build does not produce."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None
