"""The learned wrist-gesture model at run time: ONNX Runtime over model windows, on pre-cut clips or
sliding over a continuous stream.

`WristModel` wraps the ONNX file written by `perception/wrist/train.py` (its metadata carries the labels,
the model rate and the window length). `StreamingClassifier` keeps the last window of the stream at the
model rate (native resampler), runs the model every `hop_s`, and reports a gesture when a non-"negative"
class (or an enrolled custom gesture, see fewshot.py) wins with enough probability on consecutive windows
while the wrist is actually moving; a refractory period stops one gesture from firing twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from native import imu as native_imu
from perception.wrist.gestures import Candidate
from perception.wrist.windows import features, place, resample

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

    @property
    def gesture_labels(self) -> list[str]:
        return [lab for lab in self.labels if lab != NEGATIVE]

    def predict(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """windows (B, T, 3) in g at the model rate."""
        w = np.asarray(windows, dtype=np.float64)
        if w.ndim != 3 or w.shape[1:] != (self.window, 3):
            raise ValueError(f"windows must be (B, {self.window}, 3), got {w.shape}")
        probs, emb = self.session.run(["probs", "embedding"], {"x": features(w, self.rate_hz)})
        return probs, emb

    def clip_windows(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Pre-cut clips [(t_ns, accel_g)] -> centred model windows (B, T, 3)."""
        return np.stack([place(resample(t, a, self.rate_hz), self.window) for t, a in clips])

    def classify_clips(self, clips: list[tuple[np.ndarray, np.ndarray]], batch: int = 256
                       ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Label per clip (best gesture class: a pre-cut clip is known to hold a gesture), its probability
        among the gesture classes, and the embeddings."""
        if not clips:
            return [], np.zeros(0), np.zeros((0, 0))
        wins = self.clip_windows(clips)
        ps, es = [], []
        for i in range(0, len(wins), batch):
            p, e = self.predict(wins[i:i + batch])
            ps.append(p)
            es.append(e)
        probs, emb = np.concatenate(ps), np.concatenate(es)
        gi = [i for i, lab in enumerate(self.labels) if lab != NEGATIVE]
        pg = probs[:, gi] / np.maximum(probs[:, gi].sum(axis=1, keepdims=True), 1e-12)
        best = pg.argmax(axis=1)
        return [self.labels[gi[b]] for b in best], pg[np.arange(len(best)), best], emb


@dataclass
class StreamingOptions:
    hop_s: float = 0.2
    threshold: float = 0.8  # class probability (mean over `consecutive` windows)
    consecutive: int = 2
    motion_gate_g: float = 0.08  # std of |accel| in the window's centre half: below it, no motion
    refractory_s: float = 1.5
    custom_threshold: float = 0.8  # cosine similarity to an enrolled prototype
    # a command gesture starts and ends with the wrist still: the window's first and last `rest_edges_s`
    # must be at rest. Continuous everyday motion never is, which is what keeps false activations down.
    rest_edges_s: float = 0.4
    rest_g: float = 0.08  # std of |accel| (g) that counts as rest


class StreamingClassifier:
    """Sliding-window classification of a continuous stream of accel (g). `push(t_ns, accel_g)` ->
    candidates (label, confidence, window span)."""

    def __init__(self, model: WristModel, options: StreamingOptions | None = None, custom=None) -> None:
        self.model = model
        self.o = options or StreamingOptions()
        self.custom = custom  # fewshot.CustomGestures or None
        self._rs = native_imu.IrregularResampler(model.rate_hz)
        self._buf_t = np.zeros(0, np.int64)
        self._buf = np.zeros((0, 3))
        self._since_hop = 0
        self._recent: list[tuple[str, float]] = []
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
        w, hop = self.model.window, max(1, round(self.o.hop_s * self.model.rate_hz))
        # every hop inside this chunk is a window position, however the stream was batched
        for i in range(len(t)):
            self._buf_t = np.append(self._buf_t[-(w - 1):], t[i])
            self._buf = np.concatenate([self._buf[-(w - 1):], a[i:i + 1]])
            self._since_hop += 1
            if len(self._buf) == w and self._since_hop >= hop:
                self._since_hop = 0
                c = self._window()
                if c is not None:
                    out.append(c)
        return out

    def _window(self) -> Candidate | None:
        w = self.model.window
        win = self._buf
        centre = np.linalg.norm(win[w // 4: 3 * w // 4], axis=1)
        if float(centre.std()) < self.o.motion_gate_g:
            self._recent.clear()
            return None
        if self.o.rest_edges_s > 0:
            e = max(2, round(self.o.rest_edges_s * self.model.rate_hz))
            mag = np.linalg.norm(win, axis=1)
            if float(mag[:e].std()) > self.o.rest_g or float(mag[-e:].std()) > self.o.rest_g:
                self._recent.clear()
                return None
        probs, emb = self.model.predict(win[None])
        self.windows_run += 1
        label, p = self._decide(probs[0], emb[0])
        self._recent = (self._recent + [(label, p)])[-self.o.consecutive:]
        if label == NEGATIVE or len(self._recent) < self.o.consecutive:
            return None
        if any(lab != label for lab, _ in self._recent):
            return None
        conf = float(np.mean([q for _, q in self._recent]))
        thr = self.o.custom_threshold if self.custom is not None and label in self.custom.names else self.o.threshold
        if conf < thr:
            return None
        t_end = int(self._buf_t[-1])
        if self._last_fire is not None and t_end - self._last_fire < self.o.refractory_s * 1e9:
            return None
        self._last_fire = t_end
        self._recent.clear()
        # the evidence is where the wrist moved inside the window, not the whole window
        dev = np.abs(np.linalg.norm(win, axis=1) - np.median(np.linalg.norm(win, axis=1)))
        moving = np.flatnonzero(dev > 2 * self.o.rest_g) if self.o.rest_g > 0 else np.zeros(0, int)
        i0, i1 = (int(moving[0]), int(moving[-1])) if len(moving) else (0, w - 1)
        return Candidate(label, conf, int(self._buf_t[i0]), int(self._buf_t[i1]),
                         {"source": "cnn", "model": self.model.path.name, "window_start_ns": int(self._buf_t[0])})


def count_activations(model: WristModel, streams: list[tuple[np.ndarray, np.ndarray]],
                      options: StreamingOptions | None = None, custom=None) -> tuple[int, float, list[Candidate]]:
    """Run the streaming classifier over whole recordings: (activations, hours of data, candidates)."""
    total, hours, cands = 0, 0.0, []
    for t, a in streams:
        sc = StreamingClassifier(model, options, custom)
        got = []
        for i in range(0, len(t), 25):  # as a live source would deliver them
            got += sc.push(t[i:i + 25], a[i:i + 25])
        total += len(got)
        cands += got
        hours += (int(t[-1]) - int(t[0])) / 3.6e12
    return total, hours, cands
