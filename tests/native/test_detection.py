"""SSD anchors, box decoding, sigmoid scores and weighted NMS against MediaPipe's rules."""

from __future__ import annotations

import numpy as np
import pytest

from native import _reference as ref
from native.detection import (
    decode_boxes,
    decode_detections,
    decode_detections_arrays,
    sigmoid_scores,
    ssd_anchors,
    weighted_nms,
    weighted_nms_arrays,
)


def test_palm_anchors():
    a = ssd_anchors()
    assert a.shape == (2016, 4) and a.dtype == np.float32
    # stride 8: 24x24 cells x 2 anchors, then the three stride-16 layers merged: 12x12 x 6
    assert np.allclose(a[0], [0.5 / 24, 0.5 / 24, 1, 1])
    assert np.allclose(a[1], a[0]) and np.allclose(a[2], [1.5 / 24, 0.5 / 24, 1, 1])
    assert np.allclose(a[1151], [23.5 / 24, 23.5 / 24, 1, 1])
    assert np.allclose(a[1152:1158], [[0.5 / 12, 0.5 / 12, 1, 1]] * 6)
    assert np.allclose(a[1158], [1.5 / 12, 0.5 / 12, 1, 1])
    assert np.allclose(a[-1], [11.5 / 12, 11.5 / 12, 1, 1])


def test_anchor_sizes_when_not_fixed():
    a = ssd_anchors(128, (8, 16), fixed_anchor_size=False, min_scale=0.2, max_scale=0.8)
    assert a.shape == (16 * 16 * 2 + 8 * 8 * 2, 4)
    assert np.allclose(a[0, 2:], [0.2, 0.2]) and np.allclose(a[1, 2:], [0.4, 0.4])


def test_decode_matches_reference():
    rng = np.random.default_rng(1)
    anchors = ssd_anchors()
    raw = rng.normal(0, 30, (2016, 18)).astype(np.float32)
    out = decode_boxes(raw[None], anchors)
    assert out.shape == (2016, 18)
    assert np.allclose(out, ref.decode_boxes(raw, anchors), atol=1e-6)
    # zero offsets and a size of 192 px give an anchor-sized box on the anchor (palm: 1x1)
    raw0 = np.zeros((2016, 18), np.float32)
    raw0[:, 2:4] = 192.0
    z = decode_boxes(raw0, anchors)
    assert np.allclose(z[5, :4], [anchors[5, 0] - 0.5, anchors[5, 1] - 0.5, anchors[5, 0] + 0.5, anchors[5, 1] + 0.5])
    assert np.allclose(z[5, 4:].reshape(7, 2), anchors[5, :2])


def test_decode_yx_order_and_exp():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    raw = np.array([[10.0, 20.0, 0.0, 0.0]], np.float32)  # yc, xc, h, w
    out = decode_boxes(raw, anchors, scale=100.0, num_keypoints=0, reverse_xy=False, exp_size=True)
    xc, yc = 20 / 100 * 0.2 + 0.5, 10 / 100 * 0.4 + 0.5
    assert np.allclose(out[0], [xc - 0.1, yc - 0.2, xc + 0.1, yc + 0.2])


def test_sigmoid_scores_clip_and_nan():
    raw = np.array([0.0, 2.0, -1000.0, 1000.0, np.nan], np.float32)
    s = sigmoid_scores(raw, clip=100.0)
    assert np.allclose(s[:2], 1 / (1 + np.exp(-raw[:2])))
    assert s[2] == pytest.approx(1 / (1 + np.exp(100.0))) and s[3] == 1.0
    assert s[4] < 1e-40


def test_weighted_nms_averages_cluster():
    boxes = np.array(
        [
            [0.10, 0.10, 0.30, 0.30, 0.2, 0.2],
            [0.12, 0.12, 0.32, 0.32, 0.22, 0.22],
            [0.60, 0.60, 0.80, 0.80, 0.7, 0.7],
            [0.11, 0.09, 0.31, 0.29, 0.21, 0.19],
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.6, 0.8, 0.3], np.float32)
    dets = weighted_nms(boxes, scores, 0.3, 0.5)
    assert [d.index for d in dets] == [0, 2]
    assert dets[0].cluster_size == 2 and dets[1].cluster_size == 1
    expect = (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5
    assert np.allclose(dets[0].box, expect[:4], atol=1e-6)
    assert np.allclose(dets[0].keypoints, expect[4:].reshape(1, 2), atol=1e-6)
    assert dets[0].score == pytest.approx(0.9)
    assert np.allclose(dets[1].box, boxes[2, :4])
    # plain NMS keeps the top box unaveraged; max_out limits the count
    b, _s, _size, _idx = weighted_nms_arrays(boxes, scores, weighted=False)
    assert np.array_equal(b[0], boxes[0])
    assert len(weighted_nms(boxes, scores, max_out=1)) == 1


@pytest.mark.parametrize("seed", range(5))
def test_weighted_nms_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n = 300
    centres = rng.uniform(0.1, 0.9, (6, 2))
    c = centres[rng.integers(0, 6, n)] + rng.normal(0, 0.03, (n, 2))
    wh = rng.uniform(0.05, 0.25, (n, 2))
    kps = rng.uniform(0, 1, (n, 14))
    boxes = np.concatenate([c - wh / 2, c + wh / 2, kps], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    b, s, _, _ = weighted_nms_arrays(boxes, scores, 0.3, 0.5)
    rb, rs = ref.weighted_nms(boxes, scores, 0.3, 0.5)
    assert b.shape == rb.shape
    assert np.allclose(b, rb, atol=1e-5) and np.array_equal(s, rs)


def test_decode_detections_finds_planted_palm():
    anchors = ssd_anchors()
    raw_boxes = np.zeros((1, 2016, 18), np.float32)
    raw_scores = np.full((1, 2016, 1), -10.0, np.float32)
    # anchors 300..303 near one place say "palm at their centre, 40 px wide"
    for i in (300, 301, 302):
        raw_boxes[0, i, 2:4] = 40.0
        raw_scores[0, i, 0] = 3.0
    dets = decode_detections(raw_boxes, raw_scores, anchors)
    assert len(dets) == 1 and dets[0].cluster_size == 3
    xc = (dets[0].box[0] + dets[0].box[2]) / 2
    assert xc == pytest.approx(anchors[300:303, 0].mean(), abs=0.03)
    assert dets[0].box[2] - dets[0].box[0] == pytest.approx(40 / 192, abs=1e-5)


def test_empty_and_bad_inputs():
    assert weighted_nms(np.zeros((0, 18), np.float32), np.zeros(0, np.float32)) == []
    assert weighted_nms(np.ones((3, 4), np.float32), np.zeros(3, np.float32)) == []
    with pytest.raises(TypeError, match="float32"):
        weighted_nms(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        weighted_nms(np.ones((3, 4), np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="iou_threshold"):
        weighted_nms(np.ones((3, 4), np.float32), np.ones(3, np.float32), iou_threshold=np.nan)
    with pytest.raises(ValueError, match="anchors"):
        decode_boxes(np.ones((10, 18), np.float32), np.ones((9, 4), np.float32))
    with pytest.raises(ValueError, match="fit"):
        decode_boxes(np.ones((10, 10), np.float32), np.ones((10, 4), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        decode_boxes(np.ones((10, 36), np.float32)[:, ::2], np.ones((10, 4), np.float32))
    with pytest.raises(ValueError, match="non-zero"):
        decode_boxes(np.ones((10, 18), np.float32), np.ones((10, 4), np.float32), scale=0)


@pytest.mark.parametrize("thr", [0.5, 0.05, 0.95, 0.0, 1.0])
def test_fused_detection_equals_step_by_step(thr):
    rng = np.random.default_rng(7)
    anchors = ssd_anchors()
    raw_boxes = rng.normal(0, 20, (2016, 18)).astype(np.float32)
    raw_boxes[:, 2:4] = np.abs(raw_boxes[:, 2:4]) + 20
    raw_scores = rng.normal(-1, 2, 2016).astype(np.float32)
    raw_scores[:5] = 0.0  # exactly the 0.5 boundary
    if thr > 0:  # a NaN logit is never a detection; at threshold 0 the sigmoid route keeps it at ~0
        raw_scores[5] = np.nan
    b, s, size, idx = decode_detections_arrays(raw_boxes, raw_scores, anchors, score_threshold=thr)
    rb, rs, rsize, ridx = weighted_nms_arrays(decode_boxes(raw_boxes, anchors), sigmoid_scores(raw_scores), 0.3, thr)
    assert np.array_equal(idx, ridx) and np.array_equal(size, rsize)
    assert np.allclose(b, rb, atol=1e-6) and np.array_equal(s, rs)
    dets = decode_detections(raw_boxes[None], raw_scores[None, :, None], anchors, score_threshold=thr)
    assert [d.index for d in dets] == list(idx)
