"""Whisper encoder and one-step decoder as ONNX graphs (onnx.helper), from CTranslate2 weights.

Encoder: log-mel [1, 80, F] (any even F up to 3000, so a command-sized window is encoded, not 30 s)
-> two convolutions (GELU, second one stride 2) + the first F/2 rows of the positional table -> pre-norm
transformer -> final LayerNorm; it also emits every decoder layer's cross-attention keys and values,
computed once per utterance instead of once per decoding step.
Decoder step: tokens [B, 1], self-attention cache [B, H, P, dh] per layer (P = tokens so far, 0 at the
start) -> log-probabilities [B, vocab] and the grown cache. Beams are reordered outside the graph.
Attention scores use 1/sqrt(dh) (Whisper scales q and k by dh^-1/4 each); GELU is the exact erf form.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
LN_EPS = 1e-5


class _G:
    """A small graph builder: unique names, float32 initializers."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, value: np.ndarray, dtype=np.float32) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype=dtype)), n))
        return n

    def op(self, op_type: str, inputs: list[str], base: str | None = None, n_out: int = 1, **attrs) -> str | list[str]:
        outs = [self.name(base or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def linear(self, x: str, w: np.ndarray, b: np.ndarray | None, base: str) -> str:
        y = self.op("MatMul", [x, self.const(base + "_w", np.asarray(w, np.float32).T)])
        return self.op("Add", [y, self.const(base + "_b", b)]) if b is not None else y

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray, base: str) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.const(base + "_g", gamma), self.const(base + "_b", beta)],
            axis=-1,
            epsilon=LN_EPS,
        )

    def gelu(self, x: str) -> str:
        e = self.op("Erf", [self.op("Mul", [x, self.const("rsqrt2", np.float32(1 / np.sqrt(2)))])])
        h = self.op("Add", [e, self.const("one", np.float32(1.0))])
        return self.op("Mul", [self.op("Mul", [x, h]), self.const("half", np.float32(0.5))])

    def heads(self, x: str, n_heads: int, dh: int) -> str:
        """[B, L, D] -> [B, H, L, dh]"""
        r = self.op("Reshape", [x, self.const("shape", np.array([0, -1, n_heads, dh]), np.int64)])
        return self.op("Transpose", [r], perm=[0, 2, 1, 3])

    def merge_heads(self, x: str, d: int) -> str:
        t = self.op("Transpose", [x], perm=[0, 2, 1, 3])
        return self.op("Reshape", [t, self.const("shape", np.array([0, -1, d]), np.int64)])

    def attend(self, q: str, k_t: str, v: str, dh: int) -> str:
        """softmax(q k^T / sqrt(dh)) v with k given transposed ([.., dh, L])."""
        s = self.op("Mul", [self.op("MatMul", [q, k_t]), self.const("scale", np.float32(1 / np.sqrt(dh)))])
        return self.op("MatMul", [self.op("Softmax", [s], axis=-1), v])

    def ffn(self, x: str, w: dict, p: str) -> str:
        h = self.layer_norm(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"], "ffn_ln")
        h = self.gelu(self.linear(h, w[p + "ffn/linear_0/weight"], w[p + "ffn/linear_0/bias"], "ffn0"))
        return self.op("Add", [x, self.linear(h, w[p + "ffn/linear_1/weight"], w[p + "ffn/linear_1/bias"], "ffn1")])

    def model(self, inputs, outputs, name: str, doc: str) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cuekit")
        m.doc_string = doc
        m.ir_version = 8
        return m


def _f32(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in w.items()}


def _layers(w: dict, prefix: str) -> int:
    return len({k.split("/")[1] for k in w if re.match(prefix + r"/layer_\d+/", k)})


def dims(w: dict[str, np.ndarray]) -> dict[str, int]:
    d = int(w["encoder/conv1/weight"].shape[0])
    return {
        "d_model": d,
        "n_mels": int(w["encoder/conv1/weight"].shape[1]),
        "enc_heads": int(w["encoder/num_heads"]),
        "dec_heads": int(w["decoder/num_heads"]),
        "enc_layers": _layers(w, "encoder"),
        "dec_layers": _layers(w, "decoder"),
        "vocab": int(w["decoder/embeddings/weight"].shape[0]),
        "max_frames": 2 * int(w["encoder/position_encodings/encodings"].shape[0]),
        "max_tokens": int(w["decoder/position_encodings/encodings"].shape[0]),
    }


def build_encoder(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    w, dm = _f32(weights), dims(weights)
    d, H = dm["d_model"], dm["enc_heads"]
    dh = d // H
    g = _G()
    x = g.op(
        "Conv",
        ["mel", g.const("conv1_w", w["encoder/conv1/weight"]), g.const("conv1_b", w["encoder/conv1/bias"])],
        kernel_shape=[3],
        pads=[1, 1],
    )
    x = g.gelu(x)
    x = g.op(
        "Conv",
        [x, g.const("conv2_w", w["encoder/conv2/weight"]), g.const("conv2_b", w["encoder/conv2/bias"])],
        kernel_shape=[3],
        pads=[1, 1],
        strides=[2],
    )
    x = g.op("Transpose", [g.gelu(x)], perm=[0, 2, 1])  # [1, T, d]
    n_frames = g.op(
        "Slice", [g.op("Shape", [x]), g.const("i1", np.array([1]), np.int64), g.const("i2", np.array([2]), np.int64)]
    )
    pos = g.op(
        "Slice",
        [
            g.const("enc_pos", w["encoder/position_encodings/encodings"]),
            g.const("i0", np.array([0]), np.int64),
            n_frames,
            g.const("i0", np.array([0]), np.int64),
        ],
    )
    x = g.op("Add", [x, pos])
    for i in range(dm["enc_layers"]):
        p = f"encoder/layer_{i}/"
        h = g.layer_norm(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"], "ln")
        wq, wk, wv = np.split(w[p + "self_attention/linear_0/weight"], 3)
        bq, bk, bv = np.split(w[p + "self_attention/linear_0/bias"], 3)
        q = g.heads(g.linear(h, wq, bq, "q"), H, dh)
        k_t = g.op("Transpose", [g.heads(g.linear(h, wk, bk, "k"), H, dh)], perm=[0, 1, 3, 2])
        v = g.heads(g.linear(h, wv, bv, "v"), H, dh)
        a = g.merge_heads(g.attend(q, k_t, v, dh), d)
        x = g.op(
            "Add", [x, g.linear(a, w[p + "self_attention/linear_1/weight"], w[p + "self_attention/linear_1/bias"], "o")]
        )
        x = g.ffn(x, w, p)
    enc = g.layer_norm(x, w["encoder/layer_norm/gamma"], w["encoder/layer_norm/beta"], "enc_ln")
    g.nodes.append(helper.make_node("Identity", [enc], ["encoder_out"]))
    outputs = [helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, [1, "T", d])]
    Hd, dhd = dm["dec_heads"], d // dm["dec_heads"]
    for i in range(dm["dec_layers"]):
        p = f"decoder/layer_{i}/attention/"
        wk, wv = np.split(w[p + "linear_1/weight"], 2)
        bk, bv = np.split(w[p + "linear_1/bias"], 2)
        k_t = g.op("Transpose", [g.heads(g.linear(enc, wk, bk, "ck"), Hd, dhd)], perm=[0, 1, 3, 2])
        v = g.heads(g.linear(enc, wv, bv, "cv"), Hd, dhd)
        g.nodes.append(helper.make_node("Identity", [k_t], [f"cross_k_{i}"]))
        g.nodes.append(helper.make_node("Identity", [v], [f"cross_v_{i}"]))
        outputs += [
            helper.make_tensor_value_info(f"cross_k_{i}", TensorProto.FLOAT, [1, Hd, dhd, "T"]),
            helper.make_tensor_value_info(f"cross_v_{i}", TensorProto.FLOAT, [1, Hd, "T", dhd]),
        ]
    inputs = [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, dm["n_mels"], "F"])]
    return g.model(
        inputs,
        outputs,
        "whisper_encoder",
        "Whisper encoder: mel [1, n_mels, F] -> cross-attention K (transposed) and V per decoder layer",
    )


def build_decoder(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    w, dm = _f32(weights), dims(weights)
    d, H = dm["d_model"], dm["dec_heads"]
    dh = d // H
    g = _G()
    emb = g.const("token_embedding", w["decoder/embeddings/weight"])
    x = g.op("Gather", [emb, "tokens"], axis=0)  # [B, 1, d]
    past_len = g.op(
        "Slice",
        [g.op("Shape", ["past_k_0"]), g.const("i2", np.array([2]), np.int64), g.const("i3", np.array([3]), np.int64)],
    )
    x = g.op(
        "Add", [x, g.op("Gather", [g.const("dec_pos", w["decoder/position_encodings/encodings"]), past_len], axis=0)]
    )
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["B", 1])]
    outputs = [helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["B", dm["vocab"]])]
    cross_inputs = []
    for i in range(dm["dec_layers"]):
        p = f"decoder/layer_{i}/"
        inputs += [
            helper.make_tensor_value_info(f"past_k_{i}", TensorProto.FLOAT, ["B", H, "P", dh]),
            helper.make_tensor_value_info(f"past_v_{i}", TensorProto.FLOAT, ["B", H, "P", dh]),
        ]
        cross_inputs += [
            helper.make_tensor_value_info(f"cross_k_{i}", TensorProto.FLOAT, [1, H, dh, "T"]),
            helper.make_tensor_value_info(f"cross_v_{i}", TensorProto.FLOAT, [1, H, "T", dh]),
        ]
        h = g.layer_norm(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"], "ln")
        wq, wk, wv = np.split(w[p + "self_attention/linear_0/weight"], 3)
        bq, bk, bv = np.split(w[p + "self_attention/linear_0/bias"], 3)
        q = g.heads(g.linear(h, wq, bq, "q"), H, dh)
        k_all = g.op("Concat", [f"past_k_{i}", g.heads(g.linear(h, wk, bk, "k"), H, dh)], axis=2)
        v_all = g.op("Concat", [f"past_v_{i}", g.heads(g.linear(h, wv, bv, "v"), H, dh)], axis=2)
        g.nodes.append(helper.make_node("Identity", [k_all], [f"present_k_{i}"]))
        g.nodes.append(helper.make_node("Identity", [v_all], [f"present_v_{i}"]))
        outputs += [
            helper.make_tensor_value_info(f"present_k_{i}", TensorProto.FLOAT, ["B", H, "P1", dh]),
            helper.make_tensor_value_info(f"present_v_{i}", TensorProto.FLOAT, ["B", H, "P1", dh]),
        ]
        a = g.attend(q, g.op("Transpose", [k_all], perm=[0, 1, 3, 2]), v_all, dh)
        x = g.op(
            "Add",
            [
                x,
                g.linear(
                    g.merge_heads(a, d),
                    w[p + "self_attention/linear_1/weight"],
                    w[p + "self_attention/linear_1/bias"],
                    "o",
                ),
            ],
        )
        pa = p + "attention/"
        h = g.layer_norm(x, w[pa + "layer_norm/gamma"], w[pa + "layer_norm/beta"], "cln")
        q = g.heads(g.linear(h, w[pa + "linear_0/weight"], w[pa + "linear_0/bias"], "cq"), H, dh)
        a = g.attend(q, f"cross_k_{i}", f"cross_v_{i}", dh)
        x = g.op("Add", [x, g.linear(g.merge_heads(a, d), w[pa + "linear_2/weight"], w[pa + "linear_2/bias"], "co")])
        x = g.ffn(x, w, p)
    x = g.layer_norm(x, w["decoder/layer_norm/gamma"], w["decoder/layer_norm/beta"], "dec_ln")
    x2 = g.op("Reshape", [x, g.const("shape", np.array([-1, d]), np.int64)])
    logits = g.op("Gemm", [x2, emb], transB=1)  # the output projection is tied to the embedding
    g.nodes.append(helper.make_node("LogSoftmax", [logits], ["logprobs"], axis=-1))
    return g.model(
        inputs + cross_inputs,
        outputs,
        "whisper_decoder_step",
        "Whisper decoder, one token per beam with a self-attention cache -> log-probabilities",
    )
