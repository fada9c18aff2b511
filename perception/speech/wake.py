"""Wake phrase spotting ("hey cue") with PocketSphinx keyphrase search (kws), run continuously on the
stream. Audio is fed in fixed 512-sample blocks so detections do not depend on how the caller chunks
the stream (streaming == batch). A detection opens a window in which commands are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.speech.audio import to_int16
from perception.speech.pocketsphinx_backend import make_decoder, missing_words
from perception.speech.vad import SAMPLE_RATE

BLOCK = 512
FRAME_SAMPLES = 160  # PocketSphinx 10 ms frames


@dataclass(slots=True)
class WakeOptions:
    phrase: str = "hey cue"
    threshold: float = 1e-20  # kws_threshold: lower accepts more (fewer misses, more false accepts)
    # second stage: the spotted span is re-decoded with the phrase as a one-sentence grammar and with
    # the phone loop; detections whose score margin (ln/s) is below this are dropped (None: no check)
    verify_margin: float | None = None  # measured: no better trade-off than the threshold alone
    window_s: float = 6.0  # after the phrase, commands starting within this long are accepted


@dataclass(slots=True)
class WakeDetection:
    start: int  # stream samples
    end: int
    t_start_ns: int
    t_end_ns: int
    phrase: str
    margin: float | None = None  # verification margin (None when not verified)


class WakePhraseSpotter:
    def __init__(self, options: WakeOptions | None = None) -> None:
        self.options = options or WakeOptions()
        phrase = " ".join(self.options.phrase.lower().split())
        if not phrase:
            raise ValueError("WakeOptions.phrase is empty")
        self.decoder = make_decoder(None, kws_threshold=self.options.threshold)
        missing = missing_words(self.decoder, set(phrase.split()))
        if missing:
            raise ValueError(f"wake phrase words not in the pronunciation dictionary: {missing}")
        self.phrase = phrase
        self.decoder.add_keyphrase("wake", phrase)
        self.decoder.activate_search("wake")
        self._verifier = None
        if self.options.verify_margin is not None:
            from perception.speech.context import Context
            from perception.speech.grammar import compile_grammar
            from perception.speech.pocketsphinx_backend import PocketSphinxGrammarBackend

            self._verifier = PocketSphinxGrammarBackend(compile_grammar(Context({"wake": [phrase]})))
        self.reset()

    def reset(self, t0_ns: int = 0) -> None:
        self.t0_ns = t0_ns
        self._pending = np.zeros(0, np.float32)
        self._hist = np.zeros(0, np.float32)  # the last few seconds, for verification
        self._n = 0  # samples fed to the decoder
        self._utt_start = 0
        try:
            self.decoder.end_utt()
        except RuntimeError:
            pass
        self.decoder.start_utt()

    def t_ns(self, sample: int) -> int:
        return self.t0_ns + sample * 1_000_000_000 // SAMPLE_RATE

    def push(self, samples: np.ndarray) -> list[WakeDetection]:
        buf = np.concatenate([self._pending, np.asarray(samples, np.float32).reshape(-1)])
        n_full = len(buf) // BLOCK
        out = []
        for i in range(n_full):
            block = buf[i * BLOCK : (i + 1) * BLOCK]
            self._hist = np.concatenate([self._hist[-3 * SAMPLE_RATE :], block])
            det = self._feed(block)
            if det and self._verify(det):
                out.append(det)
        self._pending = buf[n_full * BLOCK :].copy()
        return out

    def _feed(self, block: np.ndarray) -> WakeDetection | None:
        d = self.decoder
        d.process_raw(to_int16(block).tobytes())
        self._n += len(block)
        if d.hyp() is None:
            # bound the utterance so memory and frame counts stay small on endless streams
            if self._n - self._utt_start > 60 * SAMPLE_RATE:
                d.end_utt()
                d.start_utt()
                self._utt_start = self._n
            return None
        segs = [s for s in d.seg()]
        d.end_utt()
        s0 = self._utt_start + (segs[0].start_frame * FRAME_SAMPLES if segs else 0)
        s1 = self._utt_start + ((segs[-1].end_frame + 1) * FRAME_SAMPLES if segs else self._n - self._utt_start)
        s1 = min(s1, self._n)
        d.start_utt()
        self._utt_start = self._n
        return WakeDetection(s0, s1, self.t_ns(s0), self.t_ns(s1), self.phrase)

    def _verify(self, det: WakeDetection) -> bool:
        if self._verifier is None:
            return True
        hist_start = self._n - len(self._hist)
        a = max(hist_start, det.start - 3200) - hist_start
        b = min(self._n, det.end + 3200) - hist_start
        hyps = self._verifier.decode(self._hist[a:b], SAMPLE_RATE)
        det.margin = float(hyps[0].features.get("margin_per_s", -1e9)) if hyps else -1e9
        return det.margin >= self.options.verify_margin

    def detect(self, audio: np.ndarray, t0_ns: int = 0) -> list[WakeDetection]:
        self.reset(t0_ns)
        return self.push(audio)
