"""Streaming wrist-gesture recognition: ImuBatch in, `Observation(modality="wrist")` out.

conditioner -> motion segmenter -> rules (and, when configured, the learned CNN and the user's enrolled
gestures) -> tap pairing (double tap) -> refractory -> observations. Raise-to-wake is a pose change, so a
separate detector watches the gravity direction instead of motion bursts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.stream.stage import Emit, Stage
from perception.stream.types import ImuBatch, Observation
from perception.wrist.conditioning import ConditionedBlock, Conditioner, ConditionerOptions
from perception.wrist.fewshot import CustomGestures
from perception.wrist.gestures import Candidate, RuleOptions, classify_segment
from perception.wrist.learned import StreamingClassifier, StreamingOptions, WristModel
from perception.wrist.segmenter import MotionSegmenter, Segment, SegmenterOptions

log = logging.getLogger(__name__)


@dataclass
class RaiseOptions:
    face_low: float = 0.3  # face-up component of "up" before the raise
    face_high: float = 0.8  # ... and after it
    hold_s: float = 0.4  # face up and still this long
    within_s: float = 2.0  # from last "face not up" to "face up held"
    max_rise_s: float = 1.2  # from the arm hanging to the still viewing pose: a raise is one quick movement
    low_hold_s: float = 0.5  # the arm hung this long before: a raise starts from a pose
    hanging: float = -0.5  # "up" along the hand axis at most this: forearm pointing down (arm by the side)
    # the hold only counts while the wrist is still: someone reading a watch holds it steady, while the
    # arm of someone sitting down passes through face-up on its way to the lap (on real everyday data
    # every sitting-down raise of the developer half turned at >= 0.6 rad/s on average during its "hold")
    still_rad_s: float = 0.5  # |gyro| per sample
    still_g: float = 0.06  # | |accel| - 1 g | per sample
    # the viewing pose: the watch face tilted towards the eyes (its 12 o'clock edge, away from the wearer,
    # not below the 6 o'clock edge) and the hand not below the elbow. A forearm resting on a lap slopes
    # down to the knee with the face tilted outwards, the pose most sitting-down "raises" ended in.
    min_tilt_to_eyes: float = 0.0  # "up" along the device y axis (12 o'clock) at least this
    min_hand_up: float = -0.1  # "up" along the hand axis at least this


@dataclass
class WristOptions:
    conditioner: ConditionerOptions = field(default_factory=ConditionerOptions)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    rules: RuleOptions = field(default_factory=RuleOptions)
    raise_: RaiseOptions = field(default_factory=RaiseOptions)
    min_confidence: float = 0.6
    refractory_s: float = 0.3
    double_tap_min_gap_s: float = 0.08  # onset to onset
    # a single tap waits this long (from its onset) for a second one, so this sets the tap's latency:
    # at 0.45 s a tap reached fusion ~370 ms after it ended, past the spec's 300 ms wrist bound. Watch
    # double taps come 0.15-0.3 s apart; 0 disables double taps and releases taps at once.
    double_tap_max_gap_s: float = 0.3
    model_path: Path | None = None  # learned shape gestures (ONNX from perception/wrist/train.py)
    custom_path: Path | None = None  # enrolled custom gestures (perception/wrist/fewshot.py), needs model_path
    streaming: StreamingOptions = field(default_factory=StreamingOptions)
    emit_kinds: tuple[str, ...] | None = None  # None: all

    @property
    def declared_lateness_ms(self) -> float:
        """The longest an observation can reach fusion after its own evidence ends (t_end_ns), in data time,
        from these options: the segmenter's quiet, a single tap's wait for a second one, the learned
        classifier's tail rest, plus one working-rate sample. A spec's [lateness_ms] wrist must be at least
        this (plus transport); batching by the source adds its batch period on top."""
        sample = 1000.0 / self.conditioner.rate_hz
        rules = 1000.0 * self.segmenter.hold_s
        tap = 1000.0 * self.double_tap_max_gap_s - 40.0  # the wait is from the onset; a tap lasts >= 40 ms
        learned = 1000.0 * self.streaming.tail_rest_s + 40.0 if self.model_path is not None else 0.0
        return max(rules, tap, learned) + sample

    def __post_init__(self) -> None:
        # rules follow the conditioner's arm geometry
        sign = 1.0 if self.conditioner.wrist == "left" else -1.0
        hand = [0.0, 0.0, 0.0]
        hand[self.conditioner.forearm_axis] = sign
        self.rules.hand_axis = tuple(hand)


@dataclass
class WristResult:
    observations: list[Observation]
    segments: int
    malformed: int


class RaiseDetector:
    """Face-up after not-face-up within a short time, held briefly."""

    def __init__(self, options: RaiseOptions, face_axis: np.ndarray, hand_axis: np.ndarray) -> None:
        self.o = options
        self.face = face_axis
        self.hand = hand_axis
        # 12 o'clock (device +y) reads upright on either wrist: face x the left wrist's hand axis
        self.twelve = np.cross(face_axis, np.abs(hand_axis))
        self._last_low: int | None = None
        self._low_since: int | None = None
        self._low_ok = False  # the last low stretch lasted low_hold_s
        self._high_since: int | None = None
        self._raised = False

    def push(self, block: ConditionedBlock) -> list[Candidate]:
        out = []
        g = block.gravity / np.maximum(np.linalg.norm(block.gravity, axis=1, keepdims=True), 1e-9)
        face = g @ self.face
        down = (g @ self.hand) <= self.o.hanging
        still = np.abs(np.linalg.norm(block.accel, axis=1) - 1.0) <= self.o.still_g
        still &= (g @ self.twelve >= self.o.min_tilt_to_eyes) & (g @ self.hand >= self.o.min_hand_up)
        if block.gyro is not None:
            still &= np.linalg.norm(block.gyro, axis=1) <= self.o.still_rad_s
        for t, f, hanging, calm in zip(block.t_ns.tolist(), face.tolist(), down.tolist(), still.tolist()):
            if f < self.o.face_low and hanging:
                if self._low_since is None:
                    self._low_since = t
                self._low_ok = (t - self._low_since) / 1e9 >= self.o.low_hold_s
                self._last_low, self._high_since, self._raised = t, None, False
                continue
            self._low_since = None
            if f < self.o.face_low:
                self._high_since = None
                continue
            if f > self.o.face_high and calm:
                if self._high_since is None:
                    self._high_since = t
                held = (t - self._high_since) / 1e9
                if (
                    not self._raised
                    and self._last_low is not None
                    and self._low_ok
                    and held >= self.o.hold_s
                    and (t - self._last_low) / 1e9 <= self.o.within_s + self.o.hold_s
                    and (self._high_since - self._last_low) / 1e9 <= self.o.max_rise_s
                ):
                    conf = 0.5 + 0.5 * min(1.0, (f - self.o.face_high) / (1 - self.o.face_high) + 0.5)
                    # the evidence is the held viewing pose; the movement up to it is in the payload (a
                    # span over both, ~1 s, would never fit a spec's `all ... within_ms = 800` with a hand)
                    out.append(
                        Candidate(
                            "raise",
                            min(conf, 1.0),
                            self._high_since,
                            t,
                            {
                                "face_up": round(f, 3),
                                "motion_start_ns": int(self._last_low),
                                "rise_s": round((self._high_since - self._last_low) / 1e9, 3),
                            },
                        )
                    )
                    self._raised = True
            else:
                self._high_since = None
        return out


class WristGestures:
    """The recogniser without the pipeline around it: `push(batch)` -> observations, `flush()` at the end."""

    def __init__(
        self,
        options: WristOptions | None = None,
        source_id: str = "wrist",
        model: WristModel | None = None,
        custom: CustomGestures | None = None,
    ) -> None:
        """`model`/`custom`: already loaded, to share one ONNX session between several sources' states."""
        self.options = options or WristOptions()
        self.source_id = source_id
        self.conditioner = Conditioner(self.options.conditioner)
        self.segmenter = MotionSegmenter(self.options.segmenter)
        self.raise_detector = RaiseDetector(
            self.options.raise_, np.asarray(self.options.rules.face_axis), np.asarray(self.options.rules.hand_axis)
        )
        self._pending_tap: Candidate | None = None
        self._last_end: int | None = None
        self.segments = 0
        self.learned: StreamingClassifier | None = None
        if self.options.custom_path is not None and self.options.model_path is None:
            raise ValueError("custom gestures need the model they were enrolled with (model_path)")
        if self.options.model_path is not None:
            if model is None:
                model = WristModel(self.options.model_path)
            if custom is None and self.options.custom_path is not None:
                custom = CustomGestures.load(self.options.custom_path, model)
            self.learned = StreamingClassifier(model, self.options.streaming, custom)

    # -- candidate handling ----------------------------------------------------------------------------
    def _obs(self, c: Candidate) -> Observation:
        return Observation(
            modality="wrist",
            kind=c.kind,
            confidence=float(c.confidence),
            t_start_ns=int(c.t_start_ns),
            t_end_ns=int(c.t_end_ns),
            payload=dict(c.payload),
            source_id=self.source_id,
        )

    def _emit(self, c: Candidate, out: list[Observation]) -> None:
        kinds = self.options.emit_kinds
        if kinds is not None and c.kind not in kinds:
            return
        if self._last_end is not None and c.t_start_ns < self._last_end + self.options.refractory_s * 1e9:
            return
        self._last_end = c.t_end_ns
        out.append(self._obs(c))

    def _flush_tap(self, now_ns: int | None, out: list[Observation]) -> None:
        p = self._pending_tap
        gap_ns = self.options.double_tap_max_gap_s * 1e9
        if p is not None and now_ns is not None:
            onset = self.segmenter.active_onset_ns
            if onset is not None and onset - p.t_start_ns <= gap_ns:
                return  # a second tap may still be closing
        if p is not None and (now_ns is None or now_ns - p.t_start_ns >= gap_ns):
            self._pending_tap = None
            self._emit(p, out)

    def _candidate(self, c: Candidate, out: list[Observation]) -> None:
        if c.confidence < self.options.min_confidence:
            return
        if c.kind == "tap":
            p = self._pending_tap
            if p is not None:
                gap = (c.t_start_ns - p.t_start_ns) / 1e9
                if self.options.double_tap_min_gap_s <= gap <= self.options.double_tap_max_gap_s:
                    self._pending_tap = None
                    self._emit(
                        Candidate(
                            "double_tap",
                            min(p.confidence, c.confidence),
                            p.t_start_ns,
                            c.t_end_ns,
                            {
                                "gap_s": round(gap, 3),
                                "peak_g": max(p.payload.get("peak_g", 0), c.payload.get("peak_g", 0)),
                            },
                        ),
                        out,
                    )
                    return
                self._flush_tap(None, out)
            self._pending_tap = c
            return
        self._flush_tap(None, out)
        self._emit(c, out)

    def _classify(self, seg: Segment) -> Candidate | None:
        return classify_segment(seg, self.options.rules)

    # -- public ------------------------------------------------------------------------------------------
    def push(self, batch: ImuBatch) -> list[Observation]:
        block = self.conditioner.push(batch)
        out: list[Observation] = []
        if len(block) == 0:
            return out
        cands: list[Candidate] = []
        for seg in self.segmenter.push(block):
            self.segments += 1
            c = self._classify(seg)
            if c is not None:
                cands.append(c)
        cands.extend(self.raise_detector.push(block))
        if self.learned is not None:
            # the CNN slides over the same conditioned stream (accel in g, gravity included as trained)
            cands.extend(self.learned.push(block.t_ns, block.accel))
        for c in sorted(cands, key=lambda c: c.t_start_ns):
            self._candidate(c, out)
        self._flush_tap(int(block.t_ns[-1]), out)
        return out

    def flush(self) -> list[Observation]:
        out: list[Observation] = []
        for seg in self.segmenter.flush():
            self.segments += 1
            c = self._classify(seg)
            if c is not None:
                self._candidate(c, out)
        self._flush_tap(None, out)
        return out


def recognize(batches: list[ImuBatch] | ImuBatch, options: WristOptions | None = None) -> WristResult:
    """Run the streaming recogniser over a whole recording (a list of batches or one batch)."""
    rec = WristGestures(options)
    obs: list[Observation] = []
    malformed = 0
    for b in [batches] if isinstance(batches, ImuBatch) else batches:
        try:
            obs.extend(rec.push(b))
        except ValueError as exc:
            malformed += 1
            log.warning("skipping malformed ImuBatch: %s", exc)
    obs.extend(rec.flush())
    return WristResult(observations=obs, segments=rec.segments, malformed=malformed)


class WristGestureRecognizer(Stage):
    """Pipeline stage: ImuBatch in, wrist Observations out. Malformed batches are counted and skipped.

    One recogniser state per IMU source (`ImuBatch.source_id`: a device, or a daemon client's stream),
    so one wrist's motion never interrupts another's gesture. Observations carry the source's id; the
    learned model's ONNX session is shared. At most `max_sources` states are kept (the least recently
    fed is dropped first), so a client inventing source ids cannot grow memory without bound.
    """

    name = "wrist_gestures"
    max_sources = 64

    def __init__(self, options: WristOptions | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.options = options or WristOptions()
        self._recs: dict[str, WristGestures] = {}
        self._model: WristModel | None = None
        self._custom: CustomGestures | None = None
        self._loaded = False

    @property
    def malformed(self) -> int:
        return self.counters.get("malformed", 0)

    @property
    def sources(self) -> list[str]:
        return list(self._recs)

    def setup(self) -> None:
        if self._loaded:
            return
        if self.options.custom_path is not None and self.options.model_path is None:
            raise ValueError("custom gestures need the model they were enrolled with (model_path)")
        if self.options.model_path is not None:
            self._model = WristModel(self.options.model_path)
            if self.options.custom_path is not None:
                self._custom = CustomGestures.load(self.options.custom_path, self._model)
        self._loaded = True

    def _state(self, source_id: str) -> WristGestures:
        rec = self._recs.pop(source_id, None)
        if rec is None:
            rec = WristGestures(self.options, source_id=source_id, model=self._model, custom=self._custom)
            if len(self._recs) >= self.max_sources:
                dropped = next(iter(self._recs))
                del self._recs[dropped]
                self.count("sources_dropped")
                log.warning(
                    "%s: more than %d IMU sources; dropped the state of %s", self.name, self.max_sources, dropped
                )
        self._recs[source_id] = rec  # most recently fed last
        return rec

    def _stamp(self, obs: list[Observation], emit: Emit) -> None:
        now = self.clock.now_ns()
        for o in obs:
            o.payload["t_detected_ns"] = int(now)
            o.payload["recognizer"] = self.name
            emit(o)

    def process(self, item: ImuBatch, emit: Emit) -> None:
        self.setup()
        if not isinstance(item, ImuBatch):
            self.count("malformed")
            log.warning("%s: expected ImuBatch, got %s; skipped", self.name, type(item).__name__)
            return
        rec = self._state(str(item.source_id))
        try:
            obs = rec.push(item)
        except ValueError as exc:
            self.count("malformed")
            log.warning(
                "%s: skipping malformed ImuBatch (seq %s) from %s: %s", self.name, item.seq, item.source_id, exc
            )
            return
        if obs:
            self.count("observations", len(obs))
        self._stamp(obs, emit)

    def close(self, emit: Emit) -> None:
        for rec in self._recs.values():
            self._stamp(rec.flush(), emit)
