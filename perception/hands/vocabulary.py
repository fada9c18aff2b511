"""The hand gesture vocabulary: every kind a hand recogniser of CueKit can emit.

The recognisers (rules, classifier, dynamic tracker) and the intent spec's validation import these names
from here, so a gesture is spelled once.
"""

from __future__ import annotations

# static poses, in the classifier's class order ("none" is the rejection class, never emitted)
STATIC_GESTURES: tuple[str, ...] = (
    "none",
    "open_palm",
    "fist",
    "point",
    "thumbs_up",
    "thumbs_down",
    "victory",
    "ok",
    "pinch",
    "call",
    "rock",
    "four",
    "i_love_you",
)
# from landmark tracks over time (perception/hands/dynamic.py)
DYNAMIC_GESTURES: tuple[str, ...] = (
    "pinch_tap",
    "pinch_hold",
    "drag",
    "swipe_left",
    "swipe_right",
    "swipe_up",
    "swipe_down",
    "point_hold",
)
# what a hand stage may emit as an observation kind (modality "hand")
EMITS: frozenset[str] = frozenset(STATIC_GESTURES[1:]) | frozenset(DYNAMIC_GESTURES)
