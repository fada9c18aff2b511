"""SSD detector post-processing: anchors, box/keypoint decoding, scores, weighted NMS.

Follows MediaPipe's SsdAnchorsCalculator, TensorsToDetectionsCalculator and
NonMaxSuppressionCalculator (WEIGHTED algorithm, IoU overlap) as configured for the palm
detector: 192x192 input, strides 8,16,16,16 -> 2016 anchors, 18 values per anchor (box xc, yc,
w, h + 7 keypoints, pixels of the 192 input, relative to the anchor centre), sigmoid scores with
logits clipped to +-100, min score 0.5, IoU suppression 0.3.

Boxes here are rows [xmin, ymin, xmax, ymax, kx0, ky0, kx1, ky1, ...], normalised to the
detector's input tensor (use LetterboxTransform.to_image to reach image pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from native import _kernels


@dataclass(frozen=True)
class Detection:
    """One detection after NMS, normalised to the detector input.

    box: (xmin, ymin, xmax, ymax); keypoints: (K, 2) x, y; score: the top member's score;
    cluster_size: how many raw detections were merged into it; index: the top member's anchor.
    """

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float
    cluster_size: int
    index: int


def _calc_scale(min_scale: float, max_scale: float, i: int, n: int) -> float:
    return min_scale + (max_scale - min_scale) * i / (n - 1) if n > 1 else (min_scale + max_scale) / 2


def ssd_anchors(
    input_size: int | tuple[int, int] = 192,
    strides: Sequence[int] = (8, 16, 16, 16),
    anchor_offset: float = 0.5,
    aspect_ratios: Sequence[float] = (1.0,),
    interpolated_scale_aspect_ratio: float = 1.0,
    min_scale: float = 0.1484375,
    max_scale: float = 0.75,
    fixed_anchor_size: bool = True,
) -> np.ndarray:
    """SSD anchors as MediaPipe's SsdAnchorsCalculator -> float32 (N, 4) [xc, yc, w, h].

    Defaults are the palm detector's (2016 anchors for 192x192). Layers with equal strides are
    merged (their anchors interleave per cell), as MediaPipe does. input_size is int or (w, h).
    """
    in_w, in_h = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else input_size
    if in_w <= 0 or in_h <= 0:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    strides = [int(s) for s in strides]
    if not strides or min(strides) <= 0:
        raise ValueError(f"strides must be positive, got {strides!r}")
    n = len(strides)
    rows = []
    layer = 0
    while layer < n:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n and strides[last] == strides[layer]:
            scale = _calc_scale(min_scale, max_scale, last, n)
            for ar in aspect_ratios:
                ratios.append(ar)
                scales.append(scale)
            if interpolated_scale_aspect_ratio > 0:
                nxt = 1.0 if last == n - 1 else _calc_scale(min_scale, max_scale, last + 1, n)
                scales.append(math.sqrt(scale * nxt))
                ratios.append(interpolated_scale_aspect_ratio)
            last += 1
        fh = math.ceil(in_h / strides[layer])
        fw = math.ceil(in_w / strides[layer])
        ys, xs = np.meshgrid((np.arange(fh) + anchor_offset) / fh, (np.arange(fw) + anchor_offset) / fw, indexing="ij")
        k = len(ratios)
        cell = np.empty((fh, fw, k, 4), np.float64)
        cell[..., 0] = xs[..., None]
        cell[..., 1] = ys[..., None]
        if fixed_anchor_size:
            cell[..., 2:] = 1.0
        else:
            r = np.sqrt(np.asarray(ratios))
            cell[..., 2] = np.asarray(scales) * r
            cell[..., 3] = np.asarray(scales) / r
        rows.append(cell.reshape(-1, 4))
        layer = last
    return np.concatenate(rows).astype(np.float32)


def _f32(name: str, a: np.ndarray) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {a.dtype}")
    return a


def decode_boxes(
    raw_boxes: np.ndarray,
    anchors: np.ndarray,
    scale: float | tuple[float, float, float, float] = 192.0,
    num_keypoints: int = 7,
    box_offset: int = 0,
    keypoint_offset: int = 4,
    reverse_xy: bool = True,
    exp_size: bool = False,
) -> np.ndarray:
    """Raw regressors (N, D) or (1, N, D) float32 -> (N, 4 + 2K) float32 normalised rows
    [xmin, ymin, xmax, ymax, kx0, ky0, ...].

    xc = raw_xc / scale_x * anchor_w + anchor_xc (likewise y, keypoints); w = raw_w / scale_w *
    anchor_w (or exp(raw_w / scale_w) * anchor_w with exp_size). reverse_xy=True reads x before
    y (MediaPipe's reverse_output_order, the palm model's order). scale: one number or
    (x, y, w, h).
    """
    raw = _f32("raw_boxes", raw_boxes)
    if raw.ndim == 3 and raw.shape[0] == 1:
        raw = raw[0]
    anchors = _f32("anchors", anchors)
    scales = (float(scale),) * 4 if isinstance(scale, (int, float, np.number)) else tuple(scale)
    if len(scales) != 4:
        raise ValueError(f"scale must be a number or 4 numbers, got {scale!r}")
    return _kernels.decode_boxes(
        raw,
        anchors,
        tuple(float(s) for s in scales),
        int(num_keypoints),
        int(box_offset),
        int(keypoint_offset),
        bool(reverse_xy),
        bool(exp_size),
    )


def sigmoid_scores(raw_scores: np.ndarray, clip: float = 100.0) -> np.ndarray:
    """float32 logits (any shape up to 3-D) -> sigmoid(clip(logits, -clip, clip)); NaN -> ~0."""
    return _kernels.sigmoid_scores(_f32("raw_scores", raw_scores), float(clip))


def weighted_nms_arrays(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.5,
    max_out: int = -1,
    weighted: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Array form of weighted_nms -> (boxes (M, D), scores (M,), cluster_size (M,), index (M,)).

    weighted=False gives plain greedy NMS (the top box of each cluster, unaveraged).
    """
    boxes = _f32("boxes", boxes)
    scores = _f32("scores", scores)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim == 1 and scores.shape[0] == 0:
        d = boxes.shape[1] if boxes.ndim == 2 else 4
        return (np.zeros((0, d), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return _kernels.weighted_nms(
        np.ascontiguousarray(boxes),
        np.ascontiguousarray(scores),
        float(iou_threshold),
        float(score_threshold),
        int(max_out),
        bool(weighted),
    )


def _detections(b: np.ndarray, s: np.ndarray, size: np.ndarray, idx: np.ndarray) -> list[Detection]:
    k = (b.shape[1] - 4) // 2
    kps = b[:, 4 : 4 + 2 * k].reshape(b.shape[0], k, 2)
    return [
        Detection(tuple(box[:4]), kps[i], sc, sz, ix)
        for i, (box, sc, sz, ix) in enumerate(zip(b.tolist(), s.tolist(), size.tolist(), idx.tolist()))
    ]


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3, score_threshold: float = 0.5, max_out: int = -1
) -> list[Detection]:
    """MediaPipe WEIGHTED non-max suppression -> detections, best first.

    boxes: (N, 4 + 2K) float32 rows from decode_boxes; scores: (N,) float32 probabilities.
    Candidates need score >= score_threshold (NaN rows are dropped). The best remaining
    detection and every remaining one overlapping it with IoU > iou_threshold form a cluster;
    its box and keypoints are the score-weighted mean of the cluster, its score the best one's.
    max_out < 0 means no limit.
    """
    return _detections(*weighted_nms_arrays(boxes, scores, iou_threshold, score_threshold, max_out))


def decode_detections_arrays(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    scale: float | tuple[float, float, float, float] = 192.0,
    num_keypoints: int = 7,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.3,
    clip: float = 100.0,
    max_out: int = -1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Array form of decode_detections -> (boxes (M, 4 + 2K), scores (M,), cluster_size (M,),
    anchor_index (M,)), best first."""
    rb = np.ascontiguousarray(raw_boxes, dtype=np.float32)
    if rb.ndim == 3 and rb.shape[0] == 1:
        rb = rb[0]
    rs = np.ascontiguousarray(raw_scores, dtype=np.float32).reshape(-1)
    anchors = _f32("anchors", anchors)
    if rb.ndim != 2 or not rb.shape[0] == rs.shape[0] == anchors.shape[0]:
        raise ValueError(
            f"raw_boxes {np.shape(raw_boxes)}, raw_scores {np.shape(raw_scores)} and "
            f"anchors {anchors.shape} must describe the same number of anchors"
        )
    if rs.shape[0] == 0:
        d = 4 + 2 * int(num_keypoints)
        return (np.zeros((0, d), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    scales = (float(scale),) * 4 if isinstance(scale, (int, float, np.number)) else tuple(float(v) for v in scale)
    return _kernels.ssd_detect(
        rb,
        rs,
        np.ascontiguousarray(anchors),
        scales,
        int(num_keypoints),
        0,
        4,
        True,
        False,
        float(clip),
        float(score_threshold),
        float(iou_threshold),
        int(max_out),
    )


def decode_detections(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    scale: float | tuple[float, float, float, float] = 192.0,
    num_keypoints: int = 7,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.3,
    clip: float = 100.0,
    max_out: int = -1,
) -> list[Detection]:
    """Whole palm-detector post-processing: model outputs -> detections after weighted NMS.

    raw_boxes (N, D) or (1, N, D), raw_scores (N,), (N, 1) or (1, N, 1) logits, anchors (N, 4).
    One C call: clipped sigmoid scores, then only anchors reaching score_threshold are decoded
    (same result as decoding all of them), then weighted NMS. Detection.index is the anchor
    row. scale: one number or (x, y, w, h).
    """
    return _detections(
        *decode_detections_arrays(
            raw_boxes, raw_scores, anchors, scale, num_keypoints, score_threshold, iou_threshold, clip, max_out
        )
    )
