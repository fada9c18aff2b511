"""Property tests (hypothesis): arbitrary arguments never crash a kernel; shapes, ranges and
agreement with numpy / OpenCV references hold. The raw C entry points are fuzzed too, since
callers may bypass the Python faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from native import _kernels
from native import _reference as ref
from native.audio import LogMel, Resampler
from native.detection import decode_boxes, sigmoid_scores, weighted_nms_arrays
from native.image import image_to_tensor
from native.imu import Biquad, Madgwick, resample_irregular

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-1e3, 1e3, allow_nan=False)
anyfloat = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def images(draw, max_side=40):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = draw(st.sampled_from([0, 1, 3, 4]))
    shape = (h, w) if c == 0 else (h, w, c)
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@FAST
@given(
    img=images(),
    xc=st.floats(-3, 4),
    yc=st.floats(-3, 4),
    rw=st.floats(1e-4, 5),
    rh=st.floats(1e-4, 5),
    rot=st.floats(-20, 20),
    ow=st.integers(1, 48),
    oh=st.integers(1, 48),
    keep=st.booleans(),
    border=st.sampled_from(["zero", "replicate"]),
    interp=st.sampled_from(["bilinear", "cubic"]),
    layout=st.sampled_from(["nhwc", "nchw"]),
    lo=st.floats(-100, 100),
    span=st.floats(-100, 100).filter(lambda s: abs(s) > 1e-3),
    centers=st.booleans(),
)
def test_image_to_tensor_invariants(img, xc, yc, rw, rh, rot, ow, oh, keep, border, interp, layout, lo, span, centers):
    hi = lo + span
    t, tf = image_to_tensor(
        img,
        (xc, yc, rw, rh),
        rot,
        (ow, oh),
        keep_aspect=keep,
        border=border,
        value_range=(lo, hi),
        layout=layout,
        interp=interp,
        pixel_centers=centers,
    )
    c = 1 if img.ndim == 2 else img.shape[2]
    assert t.shape == ((1, oh, ow, c) if layout == "nhwc" else (1, c, oh, ow))
    assert t.dtype == np.float32 and np.isfinite(t).all()
    tol = 1e-3 * (abs(lo) + abs(hi) + 1)
    assert t.min() >= min(lo, hi) - tol and t.max() <= max(lo, hi) + tol
    # landmark round trip
    pts = np.array([[0.0, 0.0], [ow, oh], [ow / 3, oh / 2]])
    assert np.allclose(tf.to_tensor(tf.to_image(pts)), pts, atol=1e-6 * (ow + oh) * 1e3)
    # an ROI far outside the image with a zero border is all `lo`
    if border == "zero":
        ih, iw = img.shape[:2]
        # centre beyond the right edge by the ROI's half-diagonal plus the cubic kernel's reach
        far_xc = 1.0 + (0.5 * math.hypot(rw * iw, rh * ih) + 3.0) / iw
        far, _ = image_to_tensor(
            img, (far_xc, yc, rw, rh), rot, (ow, oh), border="zero", value_range=(lo, hi), interp=interp
        )
        assert np.allclose(far, lo, atol=tol)


@FAST
@given(
    img=images(30),
    xc=st.floats(0, 1),
    yc=st.floats(0, 1),
    rw=st.floats(0.05, 2),
    rh=st.floats(0.05, 2),
    rot=st.floats(-4, 4),
    ow=st.integers(1, 32),
    oh=st.integers(1, 32),
    border=st.sampled_from(["zero", "replicate"]),
)
def test_image_to_tensor_agrees_with_opencv(img, xc, yc, rw, rh, rot, ow, oh, border):
    t, tf = image_to_tensor(img, (xc, yc, rw, rh), rot, (ow, oh), border=border, value_range=(0, 255))
    bm = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    want = cv2.warpAffine(
        img, tf.matrix[:2], (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=bm, borderValue=0
    )
    got = t[0, :, :, 0] if img.ndim == 2 else t[0]
    if want.ndim == 2 and got.ndim == 3:
        want = want[:, :, None]
    # OpenCV snaps coordinates to 1/32 px and rounds to uint8
    assert np.abs(got - want).max() <= 5.0


arrays_any = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.int16]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
)
junk = st.one_of(
    arrays_any,
    st.none(),
    st.integers(-5, 5),
    anyfloat,
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=4),
    st.tuples(anyfloat, anyfloat),
)


def _only_clean_errors(fn, *args):
    try:
        fn(*args)
    except (TypeError, ValueError, OverflowError):
        pass


@settings(max_examples=300, deadline=None)
@given(args=st.lists(junk, min_size=0, max_size=11))
def test_raw_c_entry_points_never_crash(args):
    for name in (
        "warp_to_tensor",
        "normalize_u8",
        "decode_boxes",
        "sigmoid_scores",
        "weighted_nms",
        "madgwick_update",
        "biquad_process",
        "interp_linear",
        "logmel_frames",
        "polyphase",
    ):
        _only_clean_errors(getattr(_kernels, name), *args)


@settings(max_examples=200, deadline=None)
@given(
    m=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=6, max_size=6),
    ow=st.integers(-3, 40),
    oh=st.integers(-3, 40),
    img=images(12),
    rep=st.booleans(),
    cubic=st.booleans(),
    oc=st.integers(-1, 5),
)
def test_raw_warp_any_matrix(m, ow, oh, img, rep, cubic, oc):
    try:
        t = _kernels.warp_to_tensor(img, tuple(m), ow, oh, rep, 0.0, 1.0, False, cubic, oc)
    except (TypeError, ValueError):
        return
    assert np.isfinite(t).all() and t.min() >= 0 and t.max() <= 1 + 1e-6


@FAST
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    iou=st.floats(0, 1),
    thr=st.floats(-1, 1.5),
    poison=st.booleans(),
    max_out=st.integers(-1, 10),
)
def test_weighted_nms_invariants(n, seed, iou, thr, poison, max_out):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, (n, 2))
    wh = rng.uniform(0, 0.3, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2, rng.uniform(0, 1, (n, 4))], 1).astype(np.float32)
    scores = rng.uniform(0, 1, n).astype(np.float32)
    if poison and n:
        boxes[rng.integers(0, n, 3)] = np.nan
        scores[rng.integers(0, n, 3)] = np.inf
    b, s, size, _idx = weighted_nms_arrays(boxes, scores, iou, thr, max_out)
    cand = int(np.sum(np.isfinite(scores) & (scores >= np.float32(thr)) & np.isfinite(boxes[:, :4]).all(1)))
    assert b.shape[0] == s.shape[0] <= cand
    if max_out >= 0:
        assert b.shape[0] <= max_out
    assert np.all(np.diff(s) <= 0) and size.sum() <= cand and np.all(size >= 1)
    assert np.isfinite(b).all()
    if not poison and max_out < 0:
        rb, rs = ref.weighted_nms(boxes, scores, iou, thr)
        assert np.allclose(b, rb, atol=1e-5) and np.array_equal(s, rs)


@FAST
@given(
    raw=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 50), st.just(18)),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    ),
    scale=st.floats(0.1, 1000),
)
def test_decode_and_sigmoid_never_crash(raw, scale):
    anchors = np.random.default_rng(0).uniform(0, 1, (raw.shape[0], 4)).astype(np.float32)
    out = decode_boxes(raw, anchors, scale)
    assert out.shape == (raw.shape[0], 18)
    s = sigmoid_scores(raw[:, 0].copy())
    assert np.all((s >= 0) & (s <= 1))


@FAST
@given(
    n=st.integers(0, 3000),
    chunks=st.lists(st.integers(0, 3000), max_size=6),
    n_mels=st.sampled_from([10, 40, 80]),
    hop=st.integers(1, 400),
    seed=st.integers(0, 99),
)
def test_log_mel_stream_invariants(n, chunks, n_mels, hop, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    lm = LogMel(n_mels=n_mels, hop=hop)
    cuts = np.clip(np.sort(np.array(chunks, int)), 0, n)
    got = [lm.push(p) for p in np.split(x, cuts)]
    got = np.concatenate(got) if got else np.zeros((0, n_mels), np.float32)
    expect_frames = 0 if n < 400 else 1 + (n - 400) // hop
    assert got.shape == (expect_frames, n_mels) and np.isfinite(got).all()
    if expect_frames:
        assert np.abs(got - ref.log_mel(x, hop=hop, n_mels=n_mels)).max() <= 1e-4


@FAST
@given(
    rates=st.sampled_from([(48000, 16000), (44100, 16000), (16000, 8000), (22050, 16000), (8000, 16000)]),
    n=st.integers(0, 5000),
    chunks=st.lists(st.integers(0, 5000), max_size=5),
    seed=st.integers(0, 99),
)
def test_resampler_invariants(rates, n, chunks, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    r = Resampler(*rates)
    cuts = np.clip(np.sort(np.array(chunks, int)), 0, n)
    y = np.concatenate([r.push(p) for p in np.split(x, cuts)] + [r.flush()])
    assert y.shape == (-(-n * rates[1] // rates[0]),)
    # an FIR output is bounded by the input peak times the largest absolute tap sum
    bound = np.abs(r.table).sum(axis=1).max() * (np.abs(x).max() if n else 0.0)
    assert np.isfinite(y).all() and (n == 0 or np.abs(y).max() <= bound * (1 + 1e-5))


@FAST
@given(
    n=st.integers(0, 200), seed=st.integers(0, 99), beta=st.floats(0, 2), scale=st.floats(0, 1e4), dt=st.floats(0, 0.5)
)
def test_madgwick_unit_quaternions(n, seed, beta, scale, dt):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, scale, (n, 3))
    g = rng.normal(0, 10, (n, 3))
    q = Madgwick(100, beta).update(a, g, dt=dt)
    assert q.shape == (n, 4)
    if n:
        assert np.allclose(np.linalg.norm(q, axis=1), 1.0)


@FAST
@given(
    n=st.integers(0, 300),
    c=st.integers(1, 4),
    seed=st.integers(0, 99),
    fc=st.floats(0.1, 49),
    kind=st.sampled_from(["lowpass", "highpass"]),
)
def test_biquad_is_stable_and_linear(n, c, seed, fc, kind):
    x = np.random.default_rng(seed).normal(size=(n, c))
    f1, f2 = getattr(Biquad, kind)(fc, 100.0), getattr(Biquad, kind)(fc, 100.0)
    y = f1.process(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.allclose(f2.process(3 * x), 3 * y, atol=1e-9)


@FAST
@given(
    steps=st.lists(st.integers(0, 50_000_000), min_size=1, max_size=200),
    rate=st.floats(1, 1000),
    seed=st.integers(0, 99),
    t0=st.integers(-(10**12), 10**12),
)
def test_resample_irregular_invariants(steps, rate, seed, t0):
    t = t0 + np.cumsum(np.array(steps, np.int64))
    v = np.random.default_rng(seed).normal(size=(len(steps), 2))
    try:
        to, vo = resample_irregular(t, v, rate)
    except ValueError as e:  # only the output-size guard may refuse
        assert "split" in str(e)
        return
    assert to.shape[0] == vo.shape[0] and np.all(np.diff(to) > 0)
    if to.size:
        assert to[0] >= t[0] and to[-1] <= t[-1]
        # linear interpolation never leaves the range of the data
        assert np.all(vo >= v.min(0) - 1e-9) and np.all(vo <= v.max(0) + 1e-9)
        assert np.all(np.abs(np.diff(to) - 1e9 / rate) <= 1)
