"""Geometric rule set for static hand poses: the baseline the trained classifier is measured against.

Each finger is "extended" or "curled" from its summed joint bend (3-D angles between consecutive bones,
invariant to where the hand is and how it is turned); the thumb is "out" when its tip is far from the
index MCP and the palm. Tip contact between thumb and index decides OK / pinch first. Thumbs up vs
down is the only rule that reads the image direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perception.hands.landmarks import FINGERS, WRIST, check_landmarks, palm_size
from perception.hands.vocabulary import STATIC_GESTURES

GESTURES: tuple[str, ...] = STATIC_GESTURES

# (thumb out?, index, middle, ring, pinky extended?) -> gesture; "thumbs" is split by direction
_PATTERNS: dict[tuple[bool, bool, bool, bool, bool], str] = {
    (True, True, True, True, True): "open_palm",
    (False, True, True, True, True): "four",
    (False, False, False, False, False): "fist",
    (False, True, False, False, False): "point",
    (True, False, False, False, False): "thumbs",
    (False, True, True, False, False): "victory",
    (True, False, False, False, True): "call",
    (False, True, False, False, True): "rock",
    (True, True, False, False, True): "i_love_you",
}


# where a tucked thumb tip lies: on the index/middle phalanges (fist) or over the palm's MCPs (four)
_THUMB_REST = (6, 7, 10, 11, 9, 13, 14, 17)


@dataclass(slots=True)
class RuleOptions:
    extended_max_bend: float = 1.55  # radians summed over MCP, PIP, DIP: below -> extended
    curled_min_bend: float = 2.3  # above -> curled; in between the finger is ambiguous -> "none"
    thumb_out_min: float = 0.5  # thumb tip to the nearest finger joint it rests on when tucked, palm sizes
    touch_max: float = 0.3  # thumb tip to index tip, in palm sizes
    vertical_min: float = 0.6  # |cos| between the thumb and the image vertical for thumbs up/down


@dataclass(slots=True)
class RuleResult:
    gesture: str
    confidence: float
    bends: list[float] = field(default_factory=list)  # index..pinky summed bend, radians
    thumb_out: float = 0.0
    touch: float = 0.0


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    c = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-9))
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def finger_bends(lm: np.ndarray) -> list[float]:
    """Summed bend (radians) at MCP, PIP, DIP of index..pinky."""
    out = []
    for f in FINGERS[1:]:
        # the palm axis (wrist -> middle MCP) stands in for each metacarpal, so spread is not bend
        segs = [lm[9] - lm[WRIST]] + [lm[f[i + 1]] - lm[f[i]] for i in range(3)]
        out.append(sum(_angle(segs[i], segs[i + 1]) for i in range(3)))
    return out


def classify(landmarks: np.ndarray, options: RuleOptions | None = None) -> RuleResult:
    """(21,3) landmarks in pixels -> the rule baseline's gesture."""
    o = options or RuleOptions()
    lm = check_landmarks(landmarks)
    s = palm_size(lm)
    bends = finger_bends(lm)
    thumb_out = float(np.min(np.linalg.norm(lm[list(_THUMB_REST)] - lm[4], axis=1)) / s)
    touch = float(np.linalg.norm(lm[4] - lm[8]) / s)
    res = RuleResult("none", 0.0, bends, thumb_out, touch)
    ext = [b < o.extended_max_bend for b in bends]
    cur = [b > o.curled_min_bend for b in bends]
    if touch < o.touch_max:
        # the index is bent onto the thumb, so judge only the other three fingers
        if all(ext[1:]):
            res.gesture, res.confidence = "ok", 0.9
        elif not any(ext[1:]):
            res.gesture, res.confidence = "pinch", 0.9
        return res
    if not all(e or c for e, c in zip(ext, cur, strict=True)):
        return res  # some finger half-bent: no named pose
    key = (thumb_out > o.thumb_out_min, *ext)
    name = _PATTERNS.get(key)
    if name is None:
        return res
    if name == "thumbs":
        v = lm[4, :2] - lm[2, :2]
        up = float(-v[1] / max(np.linalg.norm(v), 1e-9))
        if up > o.vertical_min:
            name = "thumbs_up"
        elif up < -o.vertical_min:
            name = "thumbs_down"
        else:
            return res
    res.gesture, res.confidence = name, 0.9
    return res


def count_extended_fingers(landmarks: np.ndarray, options: RuleOptions | None = None) -> int:
    """How many fingers (thumb included) are open: 0 = fist, 5 = open hand. A long finger counts when its
    summed bend is under the midpoint of the extended/curled thresholds, the thumb when it stands out
    of the palm (`thumb_out_min`)."""
    o = options or RuleOptions()
    lm = check_landmarks(landmarks)
    mid = 0.5 * (o.extended_max_bend + o.curled_min_bend)
    thumb_out = float(np.min(np.linalg.norm(lm[list(_THUMB_REST)] - lm[4], axis=1)) / palm_size(lm))
    return int(thumb_out > o.thumb_out_min) + sum(b < mid for b in finger_bends(lm))
