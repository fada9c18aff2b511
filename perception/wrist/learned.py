"""The learned wrist-gesture model at run time: ONNX Runtime over model windows, on pre-cut clips or
sliding over a continuous stream.

`WristModel` wraps the ONNX file written by `perception/wrist/train.py` (its metadata carries the labels,
the model rate and the window length). `StreamingClassifier` keeps the last window of the stream at the
model rate (native resampler), and classifies each motion that starts and ends at rest as soon as the rest
after it is confirmed: a gesture is reported when a non-"negative" class (or an enrolled custom gesture,
see fewshot.py) wins with enough probability; a refractory period stops one gesture from firing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from native import imu as native_imu
from perception.wrist.gestures import Candidate
from perception.wrist.windows import align_gravity, features, place, resample

NEGATIVE = "negative"


class WristModel:
    """An exported wrist CNN. `predict(windows)` -> (probs (B,K), embeddings (B,E))."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"wrist model not found: {self.path} (train one with perception/wrist/train.py)")
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if "cuekit" not in meta:
            raise ValueError(f"{self.path} has no CueKit metadata (labels, rate); not a wrist model from train.py")
        self.meta = json.loads(meta["cuekit"])
        self.labels: list[str] = list(self.meta["labels"])
        self.rate_hz = float(self.meta["rate_hz"])
        self.window = int(self.meta["window"])
        # models trained with gravity alignment see every window rotated the same way (train.py)
        up = self.meta.get("gravity_towards")
        self.gravity_towards = None if up is None else np.asarray(up, dtype=np.float64)

    @property
    def gesture_labels(self) -> list[str]:
        return [lab for lab in self.labels if lab != NEGATIVE]

    def predict(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """windows (B, T, 3) in g at the model rate."""
        w = np.asarray(windows, dtype=np.float64)
        if w.ndim != 3 or w.shape[1:] != (self.window, 3):
            raise ValueError(f"windows must be (B, {self.window}, 3), got {w.shape}")
        if self.gravity_towards is not None:
            w = align_gravity(w, self.gravity_towards)
        probs, emb = self.session.run(["probs", "embedding"], {"x": features(w, self.rate_hz)})
        return probs, emb

    def clip_windows(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Pre-cut clips [(t_ns, accel_g)] -> centred model windows (B, T, 3)."""
        return np.stack([place(resample(t, a, self.rate_hz), self.window) for t, a in clips])

    def classify_clips(
        self, clips: list[tuple[np.ndarray, np.ndarray]], batch: int = 256
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Label per clip (best gesture class: a pre-cut clip is known to hold a gesture), its probability
        among the gesture classes, and the embeddings."""
        if not clips:
            return [], np.zeros(0), np.zeros((0, 0))
        wins = self.clip_windows(clips)
        ps, es = [], []
        for i in range(0, len(wins), batch):
            p, e = self.predict(wins[i : i + batch])
            ps.append(p)
            es.append(e)
        probs, emb = np.concatenate(ps), np.concatenate(es)
        gi = [i for i, lab in enumerate(self.labels) if lab != NEGATIVE]
        pg = probs[:, gi] / np.maximum(probs[:, gi].sum(axis=1, keepdims=True), 1e-12)
        best = pg.argmax(axis=1)
        return [self.labels[gi[b]] for b in best], pg[np.arange(len(best)), best], emb


@dataclass
class StreamingOptions:
    threshold: float = 0.8  # class probability (mean over the `views` of the motion)
    motion_gate_g: float = 0.08  # std of |accel| over the motion: below it, nothing moved
    refractory_s: float = 1.5
    custom_threshold: float = 0.8  # cosine similarity to an enrolled prototype
    # a command gesture starts and ends with the wrist still: `lead_rest_s` of rest before the motion,
    # and the decision comes `tail_rest_s` after it stops. Continuous everyday motion rarely has both,
    # which is what keeps false activations down; the short tail is what keeps the gesture on time
    # for fusion (the spec's wrist lateness bound is 300 ms).
    lead_rest_s: float = 0.8
    tail_rest_s: float = 0.2
    # spread of the accel vector (g, root of the summed per-axis variances) that counts as rest: the
    # vector, not |accel|, since a circle drawn at an even pace keeps |accel| nearly constant
    rest_g: float = 0.08
    min_motion_s: float = 0.3
    views: int = 3  # the motion is classified centred and shifted by +-2 samples; probabilities averaged


class StreamingClassifier:
    """Rest-to-rest classification of a continuous stream of accel (g). `push(t_ns, accel_g)` ->
    candidates (label, confidence, motion span).

    The stream is kept at the model rate. When the last `tail_rest_s` are at rest after motion that was
    itself preceded by `lead_rest_s` of rest, that motion is placed in a model window exactly as a pre-cut
    training clip is (centred, the poses before and after as padding) and classified once. So the
    decision comes `tail_rest_s` after the wrist stops, and the model sees what it was trained on."""

    def __init__(self, model: WristModel, options: StreamingOptions | None = None, custom=None) -> None:
        self.model = model
        self.o = options or StreamingOptions()
        self.custom = custom  # fewshot.CustomGestures or None
        self._rs = native_imu.IrregularResampler(model.rate_hz)
        r = model.rate_hz
        self._lead = max(2, round(self.o.lead_rest_s * r))
        self._tail = max(2, round(self.o.tail_rest_s * r))
        # the longest motion that still fits the model window with a little rest on either side
        self._max_motion = max(4, model.window - 2 * max(1, round(0.1 * r)))
        self._cap = self._lead + model.window + self._tail
        self._buf_t = np.zeros(0, np.int64)
        self._buf = np.zeros((0, 3))
        self._was_rest = True
        self._decided_until: int | None = None  # a motion is decided once
        self._last_fire: int | None = None
        self.windows_run = 0

    def _decide(self, probs: np.ndarray, emb: np.ndarray) -> tuple[str, float]:
        labels = self.model.labels
        k = int(probs.argmax())
        label, p = labels[k], float(probs[k])
        if self.custom is not None and len(self.custom):
            name, sim = self.custom.match(emb)
            p_neg = float(probs[labels.index(NEGATIVE)]) if NEGATIVE in labels else 0.0
            # the user's own enrolled gesture wins over the built-in classes it resembles
            if sim >= self.o.custom_threshold and p_neg < 0.5:
                return name, sim
        return label, p

    def push(self, t_ns: np.ndarray, accel_g: np.ndarray) -> list[Candidate]:
        t, a = self._rs.push(np.ascontiguousarray(t_ns, dtype=np.int64), np.ascontiguousarray(accel_g, np.float64))
        out: list[Candidate] = []
        if len(t) == 0:
            return out
        # in chunks, so that a long batch cannot push a motion out of the buffer before it is decided
        step = max(1, self._tail)
        for k in range(0, len(t), step):
            n_new = len(t[k : k + step])
            self._buf_t = np.concatenate([self._buf_t, t[k : k + step]])[-self._cap :]
            self._buf = np.concatenate([self._buf, a[k : k + step]])[-self._cap :]
            # every sample is a decision point, however the stream was batched: rest flags of the tail
            # windows ending at each new sample, at once
            n = len(self._buf)
            ends = np.arange(n - n_new + 1, n + 1)
            rest = np.zeros(n_new, bool)
            ok = ends >= self._tail
            if ok.any():
                lo = int(ends[ok][0]) - self._tail
                win = np.lib.stride_tricks.sliding_window_view(self._buf[lo:n], self._tail, axis=0)
                rest[ok] = np.sqrt(win.var(axis=2).sum(axis=1)) <= self.o.rest_g
            prev = np.concatenate([[self._was_rest], rest[:-1]])
            for i in np.flatnonzero(rest & ~prev):
                c = self._motion_ending_at(int(ends[i]) - self._tail, int(ends[i]))
                if c is not None:
                    out.append(c)
            self._was_rest = bool(rest[-1])
        return out

    def _spread(self, i: int, j: int) -> float:
        return float(np.sqrt(self._buf[i:j].var(axis=0).sum()))

    def _motion_ending_at(self, stop: int, now: int) -> Candidate | None:
        """The motion before buffer index `stop` (exclusive), if it was preceded by rest."""
        # walk back to the most recent `lead` samples at rest: the motion starts after them
        start = None
        for i in range(stop - self._lead, -1, -1):
            if self._spread(i, i + self._lead) <= self.o.rest_g:
                start = i + self._lead
                break
        if start is None:
            return None  # no rest before it inside the buffer: continuous motion, not a command
        # trim the motion to where the accel vector leaves both resting poses
        before = self._buf[start - self._lead : start].mean(axis=0)
        after = self._buf[stop : stop + self._tail].mean(axis=0)
        seg = self._buf[start:stop]
        dev = np.minimum(np.linalg.norm(seg - before, axis=1), np.linalg.norm(seg - after, axis=1))
        moving = np.flatnonzero(dev > 2 * self.o.rest_g)
        if len(moving) == 0:
            return None
        i0, i1 = start + int(moving[0]), start + int(moving[-1]) + 1
        n = i1 - i0
        if n < self.o.min_motion_s * self.model.rate_hz or n > self._max_motion:
            return None
        if self._decided_until is not None and int(self._buf_t[i0]) <= self._decided_until:
            return None
        if self._spread(i0, i1) < self.o.motion_gate_g:
            return None
        # the motion with some of its rest on either side, centred in the window as clips are
        pad = max(1, round(0.1 * self.model.rate_hz))
        seg = self._buf[max(0, i0 - pad) : min(len(self._buf), i1 + pad)]
        w = self.model.window
        shifts = [0, -2, 2][: max(1, self.o.views)]
        wins = np.stack([place(seg, w, s) for s in shifts])
        probs, emb = self.model.predict(wins)
        self.windows_run += len(wins)
        self._decided_until = int(self._buf_t[i1 - 1])
        label, p = self._decide(probs.mean(axis=0), emb.mean(axis=0))
        if label == NEGATIVE:
            return None
        thr = self.o.custom_threshold if self.custom is not None and label in self.custom.names else self.o.threshold
        if p < thr:
            return None
        # the evidence ends where the rest that decided it begins (slow settling below the "moving"
        # level still belongs to the gesture): fusion's lateness is then the tail wait, ~tail_rest_s
        t_end = int(self._buf_t[stop - 1])
        if self._last_fire is not None and t_end - self._last_fire < self.o.refractory_s * 1e9:
            return None
        self._last_fire = t_end
        return Candidate(
            label,
            p,
            int(self._buf_t[i0]),
            t_end,
            {"source": "cnn", "model": self.model.path.name, "decided_ns": int(self._buf_t[now - 1])},
        )


def count_activations(
    model: WristModel,
    streams: list[tuple[np.ndarray, np.ndarray]],
    options: StreamingOptions | None = None,
    custom=None,
) -> tuple[int, float, list[Candidate]]:
    """Run the streaming classifier over whole recordings: (activations, hours of data, candidates)."""
    total, hours, cands = 0, 0.0, []
    for t, a in streams:
        sc = StreamingClassifier(model, options, custom)
        got = []
        for i in range(0, len(t), 25):  # as a live source would deliver them
            got += sc.push(t[i : i + 25], a[i : i + 25])
        total += len(got)
        cands += got
        hours += (int(t[-1]) - int(t[0])) / 3.6e12
    return total, hours, cands
