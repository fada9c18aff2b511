"""Open-vocabulary backend: Vosk (Kaldi), for users who have a Vosk model directory.

Not installed by default (`pip install vosk`, plus a model from alphacephei.com unpacked locally). The
transcript goes through the same grammar-alignment parser as every backend, so
`SpeechOptions.max_edits > 0` lets near-miss phrasings still map to the closest command.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perception.speech.audio import resample, to_int16
from perception.speech.backend import Hypothesis, SpeechBackend, WordTiming, register_backend


class VoskBackend(SpeechBackend):
    name = "vosk"
    grammar_constrained = False

    def __init__(self, grammar, model_dir: str | Path | None = None, n_best: int = 5) -> None:
        if model_dir is None:
            raise ValueError("the vosk backend needs model_dir= (a Vosk model directory)")
        if not Path(model_dir).is_dir():
            raise FileNotFoundError(f"Vosk model directory {model_dir} does not exist")
        try:
            import vosk
        except ImportError as exc:
            raise RuntimeError("the vosk backend needs the `vosk` package: pip install vosk") from exc
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model = vosk.Model(str(model_dir))
        self.n_best = n_best

    def decode(self, segment_audio: np.ndarray, sample_rate: int) -> list[Hypothesis]:
        x = resample(segment_audio, sample_rate, 16000)
        rec = self._vosk.KaldiRecognizer(self.model, 16000)
        rec.SetWords(True)
        rec.SetMaxAlternatives(self.n_best)
        rec.AcceptWaveform(to_int16(x).tobytes())
        res = json.loads(rec.FinalResult())
        alts = res.get("alternatives") or [res]
        out = []
        for alt in alts:
            text = alt.get("text", "").strip()
            if not text:
                continue
            words = [
                WordTiming(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
                for w in alt.get("result", [])
            ]
            score = float(alt.get("confidence", 0.0))
            conf = float(np.mean([w.confidence for w in words])) if words else 0.5
            out.append(Hypothesis(text, score, conf, words, {"vosk_confidence": score}))
        return out


register_backend("vosk", lambda grammar, **kw: VoskBackend(grammar, **kw))
