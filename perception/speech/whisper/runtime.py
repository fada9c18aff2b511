"""onnxruntime sessions of the converted Whisper encoder and decoder step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from perception.speech.whisper.features import HOP, log_mel


class WhisperOnnx:
    """Encoder + cached decoder step. `threads` = onnxruntime intra-op threads (1 on the shared machine)."""

    def __init__(self, model_dir: str | Path, threads: int = 1) -> None:
        model_dir = Path(model_dir)
        self.config = json.loads((model_dir / "whisper.json").read_text())
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.encoder = ort.InferenceSession(str(model_dir / "encoder.onnx"), so, providers=["CPUExecutionProvider"])
        self.decoder = ort.InferenceSession(str(model_dir / "decoder.onnx"), so, providers=["CPUExecutionProvider"])
        d = self.config["dims"]
        self.n_layers, self.n_heads = d["dec_layers"], d["dec_heads"]
        self.d_head = d["d_model"] // d["dec_heads"]
        self.n_mels, self.max_frames = d["n_mels"], d["max_frames"]
        self.ids: dict[str, int] = self.config["ids"]
        self.no_speech_id: int | None = self.ids.get("no_speech")
        self.suppress_ids: list[int] = self.config.get("suppress_ids", [])

    def frames_for(self, n_samples: int, min_s: float = 0.0) -> int:
        """Mel frames covering the audio (even, at least min_s, at most Whisper's 30 s)."""
        f = max(-(-n_samples // HOP), int(min_s * 100))
        return int(min(self.max_frames, f + (f % 2)))

    def encode(self, audio: np.ndarray, n_frames: int | None = None) -> dict[str, np.ndarray]:
        mel = log_mel(audio, self.n_mels, n_frames or self.frames_for(len(audio)))[None]
        names = [o.name for o in self.encoder.get_outputs()]
        return dict(zip(names, self.encoder.run(None, {"mel": mel}), strict=True))

    def empty_cache(self, batch: int) -> dict[str, np.ndarray]:
        z = np.zeros((batch, self.n_heads, 0, self.d_head), np.float32)
        return {f"past_{kv}_{i}": z for i in range(self.n_layers) for kv in "kv"}

    def step(
        self, tokens: np.ndarray, cache: dict[str, np.ndarray], enc: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Log-probabilities [B, vocab] after feeding tokens [B] and the grown cache."""
        feeds = {"tokens": np.asarray(tokens, np.int64).reshape(-1, 1), **cache}
        for i in range(self.n_layers):
            feeds[f"cross_k_{i}"] = enc[f"cross_k_{i}"]
            feeds[f"cross_v_{i}"] = enc[f"cross_v_{i}"]
        out = self.decoder.run(None, feeds)
        names = [o.name for o in self.decoder.get_outputs()]
        res = dict(zip(names, out, strict=True))
        new = {f"past_{kv}_{i}": res[f"present_{kv}_{i}"] for i in range(self.n_layers) for kv in "kv"}
        return res["logprobs"], new

    def greedy(
        self,
        enc: dict[str, np.ndarray],
        prompt: list[int],
        eot: int,
        max_tokens: int = 40,
        suppress: list[int] | None = None,
    ) -> tuple[list[int], float]:
        """Free (unconstrained) greedy decoding: tokens after the prompt and their summed log-prob."""
        cache = self.empty_cache(1)
        for t in prompt[:-1]:
            _, cache = self.step(np.array([t]), cache, enc)
        tok, out, total = prompt[-1], [], 0.0
        for _ in range(max_tokens):
            lp, cache = self.step(np.array([tok]), cache, enc)
            lp = lp[0].copy()
            if suppress:
                lp[suppress] = -np.inf
            tok = int(np.argmax(lp))
            total += float(lp[tok])
            if tok == eot:
                break
            out.append(tok)
        return out, total
