"""The shipped recogniser: PocketSphinx 5 (PyPI wheel with its en-us model) decoding the compiled
grammar as an FSG, with bestpath off (measured: bestpath on loses 4-16 points and blows up latency).

Rejection: the grammar always forces an in-grammar answer, so each segment is also decoded by an
unconstrained phone loop (allphone search with the model's phone LM). In-grammar speech scores about
as well under the grammar as under the phone loop; noise and other sentences score far worse under the
grammar. The per-second log-score margin between the two is the confidence feature. A grammar search
that cannot reach the final state returns no hypothesis at all, which is a rejection by itself.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pocketsphinx as ps

from perception.speech.audio import resample, to_int16
from perception.speech.backend import Hypothesis, SpeechBackend, WordTiming, register_backend
from perception.speech.grammar import Grammar

FRAME_S = 0.01  # PocketSphinx frame rate 100/s


@dataclass(slots=True)
class PocketSphinxOptions:
    n_best: int = 5
    # N-best list when decoding incrementally: building the lattice for it costs ~90 ms per utterance on
    # this 2-core machine under load (measured by profiling `cuekit bench speech`), a third of the
    # 250 ms budget, so the streaming path reports the best path only unless asked
    stream_n_best: int = 0
    phone_loop: bool = True  # second pass for the rejection margin (doubles decode time)
    # margin (ln score per second, grammar minus phone loop) at which confidence is 0.5, and its spread.
    # Measured: real in-grammar speech >= -0.024 clean and >= -0.051 at 6 dB SNR; time-reversed
    # utterances (speech-like, out of grammar) -0.13 to -0.26.
    margin_mid: float = -0.08
    margin_scale: float = 0.03
    # wider than PocketSphinx's defaults (1e-48 / 7e-29): measured +8 points at 6 dB SNR, +1.7 at 12 dB,
    # none lost clean, for about 1.4x decode time
    beam: float | None = 1e-80
    wbeam: float | None = 1e-60
    hmm: str | None = None  # acoustic model directory (default: the wheel's en-us)
    dict: str | None = None  # pronunciation dictionary (default: the wheel's cmudict-en-us)


def default_model_dir() -> str:
    return os.path.join(ps.get_model_path(), "en-us")


def make_decoder(options: PocketSphinxOptions | None = None, **extra) -> ps.Decoder:
    o = options or PocketSphinxOptions()
    kw = {"lm": None, "loglevel": "FATAL", "bestpath": False, "samprate": 16000}
    if o.hmm:
        kw["hmm"] = o.hmm
    if o.dict:
        kw["dict"] = o.dict
    if o.beam is not None:
        kw["beam"] = o.beam
    if o.wbeam is not None:
        kw["wbeam"] = o.wbeam
    kw.update(extra)
    return ps.Decoder(**kw)


def missing_words(decoder: ps.Decoder, words: set[str]) -> list[str]:
    return sorted(w for w in words if decoder.lookup_word(w) is None)


class PocketSphinxGrammarBackend(SpeechBackend):
    name = "pocketsphinx"
    grammar_constrained = True

    def __init__(self, grammar: Grammar, options: PocketSphinxOptions | None = None) -> None:
        self.grammar = grammar
        self.options = options or PocketSphinxOptions()
        self.decoder = make_decoder(self.options)
        missing = missing_words(self.decoder, grammar.words)
        if missing:
            raise ValueError(
                f"words not in the pronunciation dictionary: {missing} "
                "(add them with Decoder.add_word or pick other phrasing)"
            )
        self._install(grammar)
        if self.options.phone_loop:
            self.decoder.add_allphone_file("phones", _phone_lm())
        # streaming has its own decoders: incremental input puts a decoder's cepstral normalisation in
        # live mode, and whole-segment decodes on the same decoder afterwards were measured worse
        # (35 vs 40 of 60 Speech Commands clips), so the batch decoder never sees streamed audio
        self._stream_decoder: ps.Decoder | None = None
        self._phone_decoder: ps.Decoder | None = None

    def _install(self, grammar: Grammar) -> None:
        for d in (self.decoder, self._stream_decoder if hasattr(self, "_stream_decoder") else None):
            if d is not None:
                d.add_fsg("grammar", d.create_fsg("grammar", 0, grammar.final, grammar.fsg_transitions()))
        self.grammar = grammar

    def set_grammar(self, grammar: Grammar) -> list[str]:
        """Swap in a recompiled grammar (new slot values) without reloading the acoustic model. Returns
        the grammar's words missing from the dictionary; with any missing nothing is swapped."""
        missing = missing_words(self.decoder, grammar.words)
        if not missing:
            self._install(grammar)
        return missing

    def open_stream(self) -> PocketSphinxStream:
        """Incremental decoding: feed audio while the user speaks, read partial text, finish cheaply."""
        self.prepare_streaming()
        return PocketSphinxStream(self)

    def _run(self, pcm: bytes, search: str):
        d = self.decoder
        d.activate_search(search)
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        return d.hyp()

    def decode(self, segment_audio: np.ndarray, sample_rate: int) -> list[Hypothesis]:
        if segment_audio.ndim != 1:
            raise ValueError(f"speech backend takes mono audio, got shape {segment_audio.shape}")
        x = resample(segment_audio, sample_rate, 16000)
        if len(x) < 1600:
            return []
        pcm = to_int16(x).tobytes()
        h = self._run(pcm, "grammar")
        if h is None or not h.hypstr.strip():
            return []
        phone_score = None
        if self.options.phone_loop:
            grammar_result = self._read(h)
            hp = self._run(pcm, "phones")
            phone_score = _ln(hp.score) if hp is not None else None
            return self._hypotheses(*grammar_result, phone_score)
        return self._hypotheses(*self._read(h), None)

    def prepare_streaming(self) -> None:
        """Load the streaming decoders now rather than at the first word."""
        if self._stream_decoder is None:
            self._stream_decoder = make_decoder(self.options, cmn="live")
            g = self.grammar
            self._stream_decoder.add_fsg(
                "grammar", self._stream_decoder.create_fsg("grammar", 0, g.final, g.fsg_transitions())
            )
            self._stream_decoder.activate_search("grammar")
        if self.options.phone_loop and self._phone_decoder is None:
            self._phone_decoder = make_decoder(self.options, cmn="live")
            self._phone_decoder.add_allphone_file("phones", _phone_lm())
            self._phone_decoder.activate_search("phones")

    def _read(self, h, n_best: int | None = None, decoder: ps.Decoder | None = None) -> tuple:
        """The grammar decoder's best path, words and N-best (before another search runs)."""
        n_best = self.options.n_best if n_best is None else n_best
        d = decoder or self.decoder
        n_frames = max(1, d.n_frames())
        words = [
            WordTiming(_base(s.word), s.start_frame * FRAME_S, (s.end_frame + 1) * FRAME_S, float(s.prob))
            for s in d.seg()
            if _is_word(s.word)
        ]
        nbest: list[tuple[str, float]] = []
        seen = set()
        for i, nb in enumerate(d.nbest() if n_best > 0 else ()):
            if i >= 8 * n_best or len(nbest) >= n_best:
                break
            if nb is None or not nb.hypstr:
                continue
            text = " ".join(_base(w) for w in nb.hypstr.split() if _is_word(w))
            if text and text not in seen:
                seen.add(text)
                nbest.append((text, _ln(nb.score)))
        best_text = " ".join(w.word for w in words) or h.hypstr
        return best_text, _ln(h.score), n_frames, words, nbest

    def _hypotheses(
        self,
        best_text: str,
        best_score: float,
        n_frames: int,
        words: list[WordTiming],
        nbest: list[tuple[str, float]],
        phone_score: float | None,
    ) -> list[Hypothesis]:
        feats = {
            "grammar_ln_score": best_score,
            "frames": float(n_frames),
            "mean_word_prob": float(np.mean([w.confidence for w in words])) if words else 0.0,
        }
        conf = 1.0
        if self.options.phone_loop:
            lph = best_score if phone_score is None else phone_score
            margin = (best_score - lph) / (n_frames * FRAME_S)
            feats["phone_ln_score"] = lph
            feats["margin_per_s"] = margin
            conf = 1.0 / (1.0 + math.exp(-(margin - self.options.margin_mid) / self.options.margin_scale))
        hyps = [Hypothesis(best_text, best_score, conf, words, feats)]
        for text, sc in nbest:
            if text != best_text:
                # alternatives: confidence scaled by their score gap to the best path
                hyps.append(Hypothesis(text, sc, conf * math.exp(min(0.0, sc - best_score) / 0.05), [], {}))
        return hyps

    def close(self) -> None:
        self.decoder = None


class PocketSphinxStream:
    """One utterance decoded as it arrives: the grammar search and the phone loop (for the rejection
    margin) each run in their own decoder, so finishing costs only the last frames and a backtrace."""

    def __init__(self, backend: PocketSphinxGrammarBackend) -> None:
        self.backend = backend
        self._grammar = backend._stream_decoder
        self._grammar.activate_search("grammar")
        self._phones = backend._phone_decoder
        for d in (self._grammar, self._phones):
            if d is not None:
                # incremental input means live cepstral mean normalisation, whose estimate would carry
                # over from earlier utterances: restart it from the model's initial value every time,
                # so a command decodes the same whatever came before (streaming == batch)
                d.set_cmn(d.config["cmninit"])
                d.start_utt()
        self.samples = 0

    def feed(self, samples: np.ndarray) -> None:
        pcm = to_int16(samples).tobytes()
        self._grammar.process_raw(pcm, full_utt=False)
        if self._phones is not None:
            self._phones.process_raw(pcm, full_utt=False)
        self.samples += len(samples)

    def partial(self) -> str:
        h = self._grammar.hyp()
        return " ".join(_base(w) for w in h.hypstr.split() if _is_word(w)) if h is not None else ""

    def finish(self) -> list[Hypothesis]:
        self._grammar.end_utt()
        phone_score = None
        if self._phones is not None:
            self._phones.end_utt()
            hp = self._phones.hyp()
            phone_score = _ln(hp.score) if hp is not None else None
        h = self._grammar.hyp()
        if self.samples < 1600 or h is None or not h.hypstr.strip():
            return []
        b = self.backend
        return b._hypotheses(*b._read(h, b.options.stream_n_best, self._grammar), phone_score)


def _phone_lm() -> str:
    return os.path.join(default_model_dir(), "en-us-phone.lm.bin")


def _ln(x: float) -> float:
    return math.log(max(float(x), 1e-300))


def _is_word(w: str) -> bool:
    return not (w.startswith(("<", "[", "++", "(")))


def _base(w: str) -> str:
    """Drop the alternate-pronunciation suffix: "a(2)" -> "a"."""
    i = w.find("(")
    return w[:i] if i > 0 else w


register_backend("pocketsphinx", lambda grammar, **kw: PocketSphinxGrammarBackend(grammar, **kw))
