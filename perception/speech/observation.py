"""The speech Observation's parse, read back by its consumers.

The recogniser parses an utterance once (`perception.speech.recognizer.SpeechResult.to_observation`
writes intent, slots and the time span of each slot's words into the payload); fusion reads that parse
with `speech_parse` instead of matching the text again. Light on purpose: no model imports.
"""

from __future__ import annotations

from dataclasses import dataclass

from perception.stream.types import Observation


@dataclass(slots=True)
class SpeechParse:
    """The recogniser's own reading of an utterance, as carried by its Observation: consumers (fusion)
    use it instead of parsing the text a second time."""

    intent: str
    slots: dict[str, str]
    slot_times: dict[str, tuple[int, int]]  # ns spans of each slot's words (missing: unknown)


def speech_parse(obs: Observation) -> SpeechParse | None:
    """The parse carried by a speech Observation, or None (no intent, or a payload not in this shape:
    observations may come from other producers over the network, so nothing here is trusted)."""
    p = obs.payload if isinstance(obs.payload, dict) else {}
    intent, slots, times = p.get("intent"), p.get("slots"), p.get("slot_times")
    if obs.modality != "speech" or not isinstance(intent, str) or not intent:
        return None
    if not isinstance(slots, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in slots.items()):
        return None
    spans: dict[str, tuple[int, int]] = {}
    for k, v in times.items() if isinstance(times, dict) else ():
        if (
            k in slots
            and isinstance(v, (list, tuple))
            and len(v) == 2
            and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
            and v[0] <= v[1]
        ):
            spans[k] = (v[0], v[1])
    return SpeechParse(intent, dict(slots), spans)
