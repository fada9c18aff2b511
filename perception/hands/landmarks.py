"""The 21-point hand: joint indices, skeleton, and the normalised features every gesture recogniser uses.

Landmarks are (21, 3) arrays: x, y in image pixels (y down), z relative depth in the same units as x
(MediaPipe's convention: smaller z is nearer the camera, wrist at 0). One feature function serves the
trained classifier, the few-shot prototypes and the tests, so they always agree on what a pose is.
"""

from __future__ import annotations

import numpy as np

WRIST = 0
THUMB = (1, 2, 3, 4)  # CMC, MCP, IP, TIP
INDEX = (5, 6, 7, 8)  # MCP, PIP, DIP, TIP
MIDDLE = (9, 10, 11, 12)
RING = (13, 14, 15, 16)
PINKY = (17, 18, 19, 20)
FINGERS = (THUMB, INDEX, MIDDLE, RING, PINKY)
FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
TIPS = (4, 8, 12, 16, 20)
PALM = (0, 5, 9, 13, 17)

CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (5, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (9, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (13, 17),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
)

_TIP_PAIRS = tuple((a, b) for i, a in enumerate(TIPS) for b in TIPS[i + 1 :])
# shape part (60 rotation/mirror-normalised coords + 10 tip-tip + 5 tip-wrist distances), then 4 values
# of orientation in the image (hand axis, thumb direction): thumbs up and down differ only there.
N_SHAPE_FEATURES = 60 + len(_TIP_PAIRS) + 5
N_FEATURES = N_SHAPE_FEATURES + 4


def check_landmarks(lm: np.ndarray) -> np.ndarray:
    """(21,2|3) finite array -> float64 (21,3); raises ValueError naming what is wrong."""
    a = np.asarray(lm, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != 21 or a.shape[1] not in (2, 3):
        raise ValueError(f"hand landmarks must have shape (21, 2) or (21, 3), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("hand landmarks contain NaN or infinite values")
    if a.shape[1] == 2:
        a = np.concatenate([a, np.zeros((21, 1))], axis=1)
    return a


def palm_size(lm: np.ndarray) -> float:
    """Hand scale: mean 3-D distance wrist->index/middle/pinky MCP and index->pinky MCP (pixels).

    3-D so that a hand pointing at the camera does not look small; floors at 1e-6 for degenerate input.
    """
    a = np.asarray(lm, dtype=np.float64)
    d = [np.linalg.norm(a[j] - a[WRIST]) for j in (5, 9, 17)] + [np.linalg.norm(a[5] - a[17])]
    return max(float(np.mean(d)), 1e-6)


def palm_center(lm: np.ndarray) -> np.ndarray:
    """Mean of wrist and the four MCPs in x, y: steadier than any single joint for motion gestures."""
    return np.asarray(lm, dtype=np.float64)[list(PALM), :2].mean(axis=0)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def features(lm: np.ndarray) -> np.ndarray:
    """(21,3) or (N,21,3) landmarks -> (N_FEATURES,) or (N, N_FEATURES) float32.

    Translation, scale, in-plane rotation and mirror (left/right hand, palm/back) are normalised out of
    the shape part; the last four values keep the hand axis and thumb direction in the image.
    """
    a = np.asarray(lm, dtype=np.float64)
    single = a.ndim == 2
    if single:
        a = check_landmarks(a)[None]
    elif a.ndim != 3 or a.shape[1:] != (21, 3):
        raise ValueError(f"batched hand landmarks must have shape (N, 21, 3), got {a.shape}")
    n = a.shape[0]
    rel = a - a[:, :1, :]
    scale = np.stack(
        [
            np.linalg.norm(rel[:, 5], axis=1),
            np.linalg.norm(rel[:, 9], axis=1),
            np.linalg.norm(rel[:, 17], axis=1),
            np.linalg.norm(a[:, 5] - a[:, 17], axis=1),
        ],
        1,
    )
    scale = np.maximum(scale.mean(axis=1), 1e-6)
    rel = rel / scale[:, None, None]
    # rotate so wrist -> middle MCP points up (-y)
    axis = _unit(rel[:, 9, :2])
    up = np.array([0.0, -1.0])
    cos = axis @ up
    sin = axis[:, 0] * up[1] - axis[:, 1] * up[0]
    rot = np.stack([np.stack([cos, -sin], 1), np.stack([sin, cos], 1)], 1)  # (N,2,2)
    xy = np.einsum("nij,nkj->nki", rot, rel[:, :, :2])
    z = rel[:, :, 2:3]
    # mirror so the index MCP is always on +x: left/right hands and palm/back views share one shape
    flip = np.where(xy[:, 5, 0] < xy[:, 17, 0], -1.0, 1.0)
    xy[:, :, 0] *= flip[:, None]
    shape = np.concatenate([xy, z], axis=2)[:, 1:, :].reshape(n, 60)
    tips = rel[:, list(TIPS)]
    pair = np.stack([np.linalg.norm(rel[:, i] - rel[:, j], axis=1) for i, j in _TIP_PAIRS], 1)
    tipw = np.linalg.norm(tips, axis=2)
    thumb_dir = _unit(a[:, 4, :2] - a[:, 2, :2])
    out = np.concatenate([shape, pair, tipw, axis, thumb_dir], axis=1).astype(np.float32)
    return out[0] if single else out


def shape_features(lm: np.ndarray) -> np.ndarray:
    """The orientation-free part of `features` (for few-shot prototypes of the user's own poses)."""
    f = features(lm)
    return f[..., :N_SHAPE_FEATURES]


_IU = np.triu_indices(21, k=1)
N_DISTANCE_FEATURES = len(_IU[0])  # 210


def distance_features(lm: np.ndarray) -> np.ndarray:
    """All 210 joint-to-joint 3-D distances over the palm size: unchanged by any rotation, mirror, shift
    or scale of the hand, so two examples of one pose agree however the hand was held.
    (21,3) -> (210,), (N,21,3) -> (N,210) float32."""
    a = np.asarray(lm, dtype=np.float64)
    single = a.ndim == 2
    if single:
        a = check_landmarks(a)[None]
    elif a.ndim != 3 or a.shape[1:] != (21, 3):
        raise ValueError(f"batched hand landmarks must have shape (N, 21, 3), got {a.shape}")
    d = np.linalg.norm(a[:, :, None, :] - a[:, None, :, :], axis=3)[:, _IU[0], _IU[1]]
    scale = np.maximum(
        np.mean([d[:, _pair(0, 5)], d[:, _pair(0, 9)], d[:, _pair(0, 17)], d[:, _pair(5, 17)]], axis=0), 1e-6
    )
    out = (d / scale[:, None]).astype(np.float32)
    return out[0] if single else out


def _pair(i: int, j: int) -> int:
    """Column of (i, j), i < j, in the upper-triangle order of `distance_features`."""
    return int(np.flatnonzero((_IU[0] == i) & (_IU[1] == j))[0])
