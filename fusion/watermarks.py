"""Per-stream watermarks: up to which evidence time has each input stream delivered everything?

An intent is decided as soon as every stream that could still change it has passed the time that
matters (its evidence, a deictic word's window, a compound's deadline), or that stream's lateness
bound has expired, whichever comes first. A stream is one source of one modality
(`Observation.modality`, `Observation.source_id`). Its watermark comes from, in order of strength:

* an explicit report: `FusionEngine.watermark(modality, t_ns, source_id)`, or an in-band
  `Observation(modality, "watermark", t_start_ns=t, t_end_ns=t)` from a recogniser that processed its
  input up to `t` without reporting anything;
* its own observations: a recogniser reports in order of decision, so a source that delivered an
  observation ending at `t` has delivered everything it will ever report ending before `t`;
* speech segments: a recogniser that announces utterances (`vad_start` / `vad_end`) has delivered
  everything up to `now - onset` while no announced utterance is waiting for its result, and up to
  the start of the oldest one otherwise. Its results answer an announcement, so they are never "late"
  however long decoding took;
* continuous streams (gaze: samples many times a second) that have been silent for `idle_ms` are
  idle: tracking was lost, nothing of theirs is in flight.

The lateness bound (`[lateness_ms]` in the spec) caps every wait: `watermark >= now - lateness`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from perception.stream.types import Observation

log = logging.getLogger("cuekit.fusion")

INF = math.inf
NEVER = -(2**62)
SEGMENT_START, SEGMENT_END = "vad_start", "vad_end"
WATERMARK_KIND = "watermark"


@dataclass(slots=True)
class WatermarkOptions:
    continuous: tuple[str, ...] = ("gaze",)  # modalities that sample continuously (silence = idle)
    idle_ms: float = 500.0  # a continuous stream silent this long has nothing in flight
    speech_onset_ms: float = 250.0  # the VAD announces an utterance at most this long after it began
    segment_timeout_s: float = 10.0  # an announced utterance with no result by then is forgotten
    max_streams: int = 256  # source ids are client input: beyond this the longest-silent stream is forgotten
    max_segments: int = 32  # announced utterances kept per stream


@dataclass(slots=True)
class _Segment:
    t_start_ns: int
    t_end_ns: int | None = None
    heard_ns: int = 0


@dataclass(slots=True)
class StreamState:
    modality: str
    source_id: str
    delivered_ns: int = NEVER  # latest t_end of an observation it delivered
    reported_ns: int = NEVER  # latest explicit watermark
    heard_ns: int = NEVER  # engine time when it last delivered anything
    announces: bool = False  # has sent speech segment announcements
    segments: deque[_Segment] = field(default_factory=deque)

    def progress(self) -> int:
        return max(self.delivered_ns, self.reported_ns)


class Watermarks:
    def __init__(self, lateness_ns: Callable[[str], int], options: WatermarkOptions | None = None) -> None:
        self.lateness_ns = lateness_ns
        self.options = options or WatermarkOptions()
        self.streams: dict[tuple[str, str], StreamState] = {}

    def _stream(self, obs_or_mod: Observation | str, source_id: str = "") -> StreamState:
        if isinstance(obs_or_mod, Observation):
            key = (obs_or_mod.modality, obs_or_mod.source_id or "")
        else:
            key = (obs_or_mod, source_id or "")
        st = self.streams.get(key)
        if st is None:
            if len(self.streams) >= self.options.max_streams:
                del self.streams[min(self.streams, key=lambda k: self.streams[k].heard_ns)]
            st = self.streams[key] = StreamState(*key)
        return st

    # feeding ----------------------------------------------------------------------------------
    def report(self, modality: str, t_ns: int, source_id: str, now_ns: int) -> None:
        st = self._stream(modality, source_id)
        st.reported_ns = max(st.reported_ns, int(t_ns))
        st.heard_ns = now_ns

    def observe(self, obs: Observation, now_ns: int) -> None:
        """Record what `obs` says about its stream's progress (call for every admitted observation)."""
        st = self._stream(obs)
        st.heard_ns = now_ns
        if obs.kind == WATERMARK_KIND:
            st.reported_ns = max(st.reported_ns, obs.t_end_ns)
            return
        if obs.modality == "speech" and obs.kind == SEGMENT_START:
            st.announces = True
            st.segments.append(_Segment(obs.t_start_ns, None, now_ns))
            while len(st.segments) > self.options.max_segments:
                st.segments.popleft()
            self._expire(st, now_ns)
            return
        if obs.modality == "speech" and obs.kind == SEGMENT_END:
            for seg in st.segments:
                if seg.t_end_ns is None:
                    seg.t_end_ns, seg.heard_ns = obs.t_end_ns, now_ns
                    break
            self._expire(st, now_ns)
            return
        if obs.modality == "speech" and st.segments:
            st.segments.popleft()  # the result answers the oldest announced utterance
        st.delivered_ns = max(st.delivered_ns, obs.t_end_ns)

    def announced(self, obs: Observation) -> bool:
        """Is `obs` the answer to an utterance its recogniser announced (so not late, however slow)?"""
        st = self.streams.get((obs.modality, obs.source_id or ""))
        return (
            st is not None
            and obs.modality == "speech"
            and bool(st.segments)
            and obs.kind not in (SEGMENT_START, SEGMENT_END)
        )

    def _expire(self, st: StreamState, now_ns: int) -> None:
        limit = int(self.options.segment_timeout_s * 1e9)
        while st.segments and now_ns - st.segments[0].heard_ns > limit:
            st.segments.popleft()

    # querying ---------------------------------------------------------------------------------
    def stream_watermark(self, st: StreamState, now_ns: int) -> float:
        o = self.options
        if st.modality in o.continuous and now_ns - st.heard_ns > o.idle_ms * 1e6:
            return now_ns  # idle: nothing in flight
        if st.announces:
            self._expire(st, now_ns)
            onset = int(o.speech_onset_ms * 1e6)
            if st.segments:
                return max(st.progress(), st.segments[0].t_start_ns - onset)
            return max(st.progress(), now_ns - onset)
        return st.progress()

    def watermark(self, modality: str, now_ns: int, final: bool = False, active_only: bool = False) -> float:
        """Evidence time up to which `modality` has delivered everything (INF when final).

        `active_only`: a modality with no stream heard within its idle time has nothing in flight
        (used for optional context, where waiting on a silent stream would only cost latency)."""
        if final:
            return INF
        bound = now_ns - self.lateness_ns(modality)
        marks = [self.stream_watermark(st, now_ns) for st in self.streams.values() if st.modality == modality]
        if not marks:
            if active_only or modality in self.options.continuous:
                return INF
            return bound
        if active_only and all(
            now_ns - st.heard_ns > self.options.idle_ms * 1e6 for st in self.streams.values() if st.modality == modality
        ):
            return INF
        return max(bound, min(marks))

    def passed(
        self, needs: dict[str, int], now_ns: int, final: bool = False, active_only: Iterable[str] = ()
    ) -> str | None:
        """None when every modality in `needs` has passed its time; else the first one still behind."""
        if final:
            return None
        act = set(active_only)
        for mod, t in needs.items():
            if self.watermark(mod, now_ns, active_only=mod in act) < t:
                return mod
        return None

    def to_json(self, now_ns: int) -> dict[str, dict]:
        return {
            f"{st.modality}/{st.source_id}": {
                "watermark_ms_behind": None
                if (w := self.stream_watermark(st, now_ns)) <= NEVER
                else round((now_ns - w) / 1e6, 1),
                "pending_utterances": len(st.segments),
            }
            for st in self.streams.values()
        }
