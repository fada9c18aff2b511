"""The built-in wrist gesture vocabulary: every kind the rule recogniser emits (modality "wrist").

Learned and enrolled classes add their own names at run time; the intent spec declares those under
`[gestures] wrist = [...]`. The recogniser and the spec's validation import these names from here.
"""

from __future__ import annotations

BUILTIN_GESTURES: tuple[str, ...] = (
    "tap",
    "double_tap",
    "flick_left",
    "flick_right",
    "flick_up",
    "flick_down",
    "twist_cw",
    "twist_ccw",
    "raise",
    "shake",
)
EMITS: frozenset[str] = frozenset(BUILTIN_GESTURES)
