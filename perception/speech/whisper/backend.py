"""`SpeechBackend` "whisper": the converted Whisper model, decoding constrained by the grammar.

The audio window is fitted to the segment (its length, at least `min_window_s`), not Whisper's 30 s:
the encoder runs on the first F/2 positional rows only. Measured on barista files: the same
transcripts as the 30 s window (docs/speech.md), at a fraction of the encoder time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.speech.backend import Hypothesis, SpeechBackend, WordTiming, register_backend
from perception.speech.grammar import Grammar
from perception.speech.whisper.constrained import GrammarTokenAutomaton, beam_search

log = logging.getLogger("cuekit.speech.whisper")


@dataclass(slots=True)
class WhisperOptions:
    model: str = "whisper_tiny_en"
    model_dir: str | None = None  # default: the build cache (`cuekit models build --speech`)
    beam_size: int = 4
    n_best: int = 4
    min_window_s: float = 1.0
    threads: int = 1
    # confidence = sigmoid(bias + sum of weight * feature), features as named in CONFIDENCE_FEATURES;
    # fitted by `python -m perception.speech.whisper.calibrate --max-wrong 1.5 --fit-negatives` on
    # developer data only: the barista dev half clean and with the five developer noises at 24/18/12/6 dB,
    # plus 172 out-of-grammar readings (commands, wake words, reversed dev speech). The bias is shifted so
    # that 0.5 (SpeechOptions.min_confidence) is the cross-validated threshold 0.94 (docs/speech.md)
    confidence_weights: tuple[float, ...] = (1.797, 0.66, 2.525, 0.0636, 0.1087, 0.0967, 0.7864)


# tokens_per_s: a reading that stops early (noise hid the end of the command) has few tokens for its audio;
# est_snr_db: the same log-prob means less in heavy noise, so the threshold moves with the segment's SNR
CONFIDENCE_FEATURES = ("forced_per_token", "mean_logprob", "rival_gap", "tokens_per_s", "est_snr_db", "logprob_x_snr")


def estimate_snr_db(x: np.ndarray, frame: int = 512) -> float:
    """Loud frames over quiet frames of the segment (95th / 10th percentile of 32 ms frame energy, dB):
    the segment carries its VAD padding and pauses, so its quiet frames are mostly noise."""
    n = len(x) // frame
    if n < 4:
        return 0.0
    e = np.mean(x[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    return float(10 * np.log10((np.percentile(e, 95) + 1e-12) / (np.percentile(e, 10) + 1e-12)))


RIVAL_GAP_CAP = 10.0


def confidence(features: dict[str, float], o: WhisperOptions) -> float:
    w = o.confidence_weights
    z = w[0] + sum(wi * float(features[f]) for wi, f in zip(w[1:], CONFIDENCE_FEATURES, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class WhisperGrammarBackend(SpeechBackend):
    name = "whisper"
    grammar_constrained = True

    def __init__(self, grammar: Grammar, options: WhisperOptions | None = None, **kwargs) -> None:
        from perception.speech.whisper import build
        from perception.speech.whisper.runtime import WhisperOnnx
        from perception.speech.whisper.tokenizer import WhisperTokenizer

        self.options = o = options or WhisperOptions(**kwargs)
        d = Path(o.model_dir) if o.model_dir else build.ensure(o.model)
        self.model = WhisperOnnx(d, threads=o.threads)
        self.tokenizer = WhisperTokenizer(d / "tokenizer.json")
        self.grammar = grammar
        self.automaton = GrammarTokenAutomaton(grammar, self.tokenizer)
        self.prompt = build.prompt_of(self.model.ids)

    def decode(self, segment_audio: np.ndarray, sample_rate: int) -> list[Hypothesis]:
        if sample_rate != 16000:
            from perception.speech.audio import resample

            segment_audio = resample(segment_audio, sample_rate, 16000)
        x = np.asarray(segment_audio, np.float32).reshape(-1)
        if len(x) < 1600:
            return []
        o = self.options
        enc = self.model.encode(x, self.model.frames_for(len(x), o.min_window_s))
        results, no_speech_lp = beam_search(self.model, enc, self.automaton, self.prompt, o.beam_size, n_best=o.n_best)
        p_ns = math.exp(no_speech_lp) if np.isfinite(no_speech_lp) else 0.0
        if not results:
            return []
        # the closest hypothesis that means something else (another intent or slot value): a small gap is
        # where noise turns one order into another, the error rejection exists for
        dur = len(x) / 16000
        snr_db = estimate_snr_db(x)
        readings = [self._reading(r.words) for r in results]
        rival = next((r for r, m in zip(results, readings, strict=True) if m != readings[0]), None)
        rival_gap = min(RIVAL_GAP_CAP, results[0].logprob - rival.logprob) if rival else RIVAL_GAP_CAP
        hyps = []
        for i, r in enumerate(results):
            feats = {
                "forced_per_token": r.forced / max(1, r.n_tokens),
                "mean_logprob": r.mean_logprob,
                "p_no_speech": p_ns,
                "rival_gap": rival_gap if i == 0 else 0.0,
                "n_tokens": r.n_tokens,
                "tokens_per_s": r.n_tokens / dur,
                "est_snr_db": snr_db,
                "logprob_x_snr": r.mean_logprob * snr_db / 10,
            }
            feats["margin_per_s"] = -feats["forced_per_token"]
            hyps.append(
                Hypothesis(
                    text=" ".join(r.words),
                    score=r.logprob,
                    confidence=confidence(feats, o),
                    words=_spread(r.words, dur),
                    features=feats,
                )
            )
        return hyps

    def _reading(self, words: list[str]) -> tuple:
        p = self.grammar.parse(words)
        return p.intent, tuple(sorted((k, v.replace(" ", "")) for k, v in p.slots.items()))


def _spread(words: list[str], dur: float) -> list[WordTiming]:
    """Word times are ESTIMATES (Whisper gives none without its alignment heads): the span shared out
    in proportion to letters. Marked by confidence -1 so no consumer mistakes them for aligned times."""
    total = sum(len(w) + 1 for w in words) or 1
    out, t = [], 0.0
    for w in words:
        dt = dur * (len(w) + 1) / total
        out.append(WordTiming(w, t, t + dt, -1.0))
        t += dt
    return out


register_backend("whisper", lambda grammar, **kw: WhisperGrammarBackend(grammar, **kw))
# the larger model (~3.5x the compute of tiny.en), for machines that can afford it
register_backend(
    "whisper-base", lambda grammar, **kw: WhisperGrammarBackend(grammar, **({"model": "whisper_base"} | kw))
)
