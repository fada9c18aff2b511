"""A small 1-D CNN for wrist-gesture windows, trained in numpy with hand-written backprop, exported to ONNX.

Architecture (input (B, C, T), T a multiple of 4):
  conv k5 C->24, ReLU, maxpool 2 -> conv k5 24->48, ReLU, maxpool 2 -> conv k3 48->64, ReLU
  -> global average pool (the 64-d embedding, used for few-shot prototypes) -> dense -> softmax.
About 17k parameters: it trains in well under a minute on two cores and runs in well under a millisecond per window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

CONV_SPEC = ((24, 5), (48, 5), (64, 3))  # (filters, kernel)


@dataclass
class CnnParams:
    convs: list[tuple[np.ndarray, np.ndarray]]  # W (F, C, k), b (F,)
    dense_w: np.ndarray  # (E, K)
    dense_b: np.ndarray  # (K,)

    @property
    def embedding_dim(self) -> int:
        return int(self.dense_w.shape[0])

    def arrays(self) -> list[np.ndarray]:
        out = []
        for w, b in self.convs:
            out += [w, b]
        return out + [self.dense_w, self.dense_b]

    @classmethod
    def init(cls, in_channels: int, n_classes: int, rng: np.random.Generator) -> CnnParams:
        convs = []
        c = in_channels
        for f, k in CONV_SPEC:
            convs.append((rng.normal(0, np.sqrt(2.0 / (c * k)), (f, c, k)).astype(np.float32), np.zeros(f, np.float32)))
            c = f
        # float32 throughout: twice the speed of float64 and what ONNX Runtime computes in anyway
        return cls(
            convs=convs,
            dense_w=rng.normal(0, np.sqrt(1.0 / c), (c, n_classes)).astype(np.float32),
            dense_b=np.zeros(n_classes, np.float32),
        )


def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """(B, C, T) -> (B*T, C*k) with 'same' zero padding."""
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=2)  # (B, C, T, k)
    b, c, t, _ = win.shape
    return np.ascontiguousarray(win.transpose(0, 2, 1, 3)).reshape(b * t, c * k)


@dataclass
class _Cache:
    items: list = field(default_factory=list)


def forward(
    params: CnnParams, x: np.ndarray, train: bool = False, dropout: float = 0.0, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, _Cache]:
    """Returns (logits (B,K), embedding (B,E), cache for backward)."""
    cache = _Cache()
    h = x
    for i, (w, b) in enumerate(params.convs):
        bsz, c, t = h.shape
        f, _, k = w.shape
        cols = _im2col(h, k)
        y = (cols @ w.reshape(f, c * k).T + b).reshape(bsz, t, f).transpose(0, 2, 1)
        a = np.maximum(y, 0.0)
        pooled = i < len(params.convs) - 1
        if pooled:
            r = a.reshape(bsz, f, t // 2, 2)
            idx = r.argmax(axis=3)
            out = np.take_along_axis(r, idx[..., None], axis=3)[..., 0]
        else:
            idx, out = None, a
        cache.items.append((cols, h.shape, y, idx))
        h = out
    emb = h.mean(axis=2)
    mask = None
    if train and dropout > 0:
        mask = ((rng.random(emb.shape) >= dropout) / (1.0 - dropout)).astype(emb.dtype)
        emb_d = emb * mask
    else:
        emb_d = emb
    logits = emb_d @ params.dense_w + params.dense_b
    cache.items.append((h.shape, emb_d, mask))
    return logits, emb, cache


def backward(params: CnnParams, cache: _Cache, dlogits: np.ndarray) -> list[np.ndarray]:
    """Gradients in the order of `params.arrays()`."""
    h_shape, emb_d, mask = cache.items[-1]
    g_dw = emb_d.T @ dlogits
    g_db = dlogits.sum(axis=0)
    demb = dlogits @ params.dense_w.T
    if mask is not None:
        demb = demb * mask
    bsz, f, t = h_shape
    dh = np.repeat(demb[:, :, None], t, axis=2) / t
    grads_conv: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(len(params.convs) - 1, -1, -1):
        w, _ = params.convs[i]
        cols, in_shape, y, idx = cache.items[i]
        f, c, k = w.shape
        if idx is not None:
            da = np.zeros((bsz, f, y.shape[2] // 2, 2), dtype=dh.dtype)
            np.put_along_axis(da, idx[..., None], dh[..., None], axis=3)
            da = da.reshape(bsz, f, y.shape[2])
        else:
            da = dh
        dy = da * (y > 0)
        dyr = dy.transpose(0, 2, 1).reshape(-1, f)
        gw = (dyr.T @ cols).reshape(f, c, k)
        gb = dyr.sum(axis=0)
        grads_conv.append((gw, gb))
        if i > 0:
            dcols = (dyr @ w.reshape(f, c * k)).reshape(bsz, in_shape[2], c, k)
            p = k // 2
            dxp = np.zeros((bsz, c, in_shape[2] + 2 * p), dtype=dcols.dtype)
            for j in range(k):
                dxp[:, :, j : j + in_shape[2]] += dcols[:, :, :, j].transpose(0, 2, 1)
            dh = dxp[:, :, p : p + in_shape[2]]
        bsz = in_shape[0]
    out = []
    for gw, gb in reversed(grads_conv):
        out += [gw, gb]
    return out + [g_dw, g_db]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Adam:
    def __init__(self, arrays: list[np.ndarray], lr: float = 3e-3, wd: float = 1e-4) -> None:
        self.lr, self.wd = lr, wd
        self.m = [np.zeros_like(a) for a in arrays]
        self.v = [np.zeros_like(a) for a in arrays]
        self.t = 0

    def step(self, arrays: list[np.ndarray], grads: list[np.ndarray], lr: float | None = None) -> None:
        self.t += 1
        lr = self.lr if lr is None else lr
        b1, b2 = 0.9, 0.999
        for a, g, m, v in zip(arrays, grads, self.m, self.v):
            if a.ndim > 1:
                g = g + self.wd * a
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mh = m / (1 - b1**self.t)
            vh = v / (1 - b2**self.t)
            a -= lr * mh / (np.sqrt(vh) + 1e-8)


def to_onnx(params: CnnParams, in_channels: int, window: int, metadata: dict) -> bytes:
    """ONNX graph: input 'x' (N, C, T) float32 -> 'probs' (N, K), 'embedding' (N, E)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    h = "x"
    for i, (w, b) in enumerate(params.convs):
        k = int(w.shape[2])
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"conv{i}_w"),
            numpy_helper.from_array(b.astype(np.float32), f"conv{i}_b"),
        ]
        nodes.append(
            helper.make_node(
                "Conv", [h, f"conv{i}_w", f"conv{i}_b"], [f"conv{i}"], kernel_shape=[k], pads=[k // 2, k // 2]
            )
        )
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        h = f"relu{i}"
        if i < len(params.convs) - 1:
            nodes.append(helper.make_node("MaxPool", [h], [f"pool{i}"], kernel_shape=[2], strides=[2]))
            h = f"pool{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["embedding"], axis=1))
    inits += [
        numpy_helper.from_array(params.dense_w.astype(np.float32), "dense_w"),
        numpy_helper.from_array(params.dense_b.astype(np.float32), "dense_b"),
    ]
    nodes.append(helper.make_node("Gemm", ["embedding", "dense_w", "dense_b"], ["logits"]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    k_out = int(params.dense_w.shape[1])
    graph = helper.make_graph(
        nodes,
        "cuekit_wrist_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_channels, window])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", k_out]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", params.embedding_dim]),
        ],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="cuekit perception/wrist/train.py"
    )
    model.ir_version = 8
    helper.set_model_props(model, {"cuekit": json.dumps(metadata)})
    onnx.checker.check_model(model)
    return model.SerializeToString()
