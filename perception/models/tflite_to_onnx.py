"""The project's own TFLite -> ONNX converter, for the op set of MediaPipe's hand, face and iris models.

The flatbuffer is read with the generated accessors of the `tflite` package; the graph is written with
`onnx.helper`. Activations are kept NCHW inside the graph (onnxruntime's native layout) with one
transpose at the input, so the model still takes the original NHWC float32 tensor [1, H, W, 3].
4-D tensors go back to NHWC before a RESHAPE (the flattening order is NHWC's) and at graph outputs.

The output is a *faithful* translation: fp16 weights stay fp16 behind a Cast (TFLite's DEQUANTIZE) and
PRELU stays PRelu. `rewrites.py` then folds and rewrites for speed, so both can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.Padding import Padding
from tflite.TensorType import TensorType

# Bump when the produced files change (conversion, rewrites, int8 calibration): cached builds made by
# another version are rebuilt on next use.
from .registry import CONVERTER_VERSION  # noqa: E402 - kept importable from here

OPSET = 17

_OP_NAMES = {v: k for k, v in vars(Op).items() if not k.startswith("_")}
_TFL_DTYPES = {
    TensorType.FLOAT32: np.float32,
    TensorType.FLOAT16: np.float16,
    TensorType.INT32: np.int32,
    TensorType.INT64: np.int64,
    TensorType.INT8: np.int8,
    TensorType.UINT8: np.uint8,
}
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)
_NHWC_AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


class ConversionError(ValueError):
    """The TFLite model uses something this converter does not translate (named in the message)."""


@dataclass
class Options:
    # graph input/output names to use instead of the TFLite tensor names, in TFLite order
    input_names: list[str] | None = None
    output_names: list[str] | None = None
    graph_name: str = "converted"
    doc_string: str = ""


@dataclass
class Result:
    model: onnx.ModelProto
    op_counts: dict[str, int] = field(default_factory=dict)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    output_shapes: dict[str, list[int]] = field(default_factory=dict)


def _same_pads(
    in_hw: tuple[int, int], k_hw: tuple[int, int], s_hw: tuple[int, int], d_hw: tuple[int, int] = (1, 1)
) -> list[int]:
    # TFLite SAME: the odd pixel goes bottom/right (matters at stride 2)
    begins, ends = [], []
    for size, k, s, d in zip(in_hw, k_hw, s_hw, d_hw):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


class _Converter:
    def __init__(self, data: bytes, options: Options):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError(f"expected one subgraph, found {self.model.SubgraphsLength()}")
        self.g = self.model.Subgraphs(0)
        self.opt = options
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.names: dict[int, str] = {}
        self.nchw: set[int] = set()  # tensors held NCHW in the ONNX graph
        self.op_counts: dict[str, int] = {}
        # tensor index -> (array, was_fp16) for constants, including DEQUANTIZE outputs
        self.consts: dict[int, tuple[np.ndarray, bool]] = {}
        self._uid = 0
        self._dequantized: set[str] = set()

    # ---- tensors -------------------------------------------------------------------------------
    def shape(self, t: int) -> list[int]:
        return [int(v) for v in self.g.Tensors(t).ShapeAsNumpy()]

    def buffer_array(self, t: int) -> np.ndarray | None:
        tensor = self.g.Tensors(t)
        buf = self.model.Buffers(tensor.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        dtype = _TFL_DTYPES.get(tensor.Type())
        if dtype is None:
            raise ConversionError(f"tensor {tensor.Name().decode()!r} has unsupported type {tensor.Type()}")
        raw = buf.DataAsNumpy().tobytes()
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape(t)).copy()

    def const(self, t: int) -> np.ndarray | None:
        if t in self.consts:
            return self.consts[t][0]
        arr = self.buffer_array(t)
        if arr is not None:
            self.consts[t] = (arr, False)
        return arr

    def name(self, t: int) -> str:
        if t not in self.names:
            self.names[t] = f"t{t}"
        return self.names[t]

    def fresh(self, stem: str) -> str:
        self._uid += 1
        return f"{stem}__{self._uid}"

    def node(self, op_type: str, inputs: list[str], outputs: list[str], stem: str, **attrs) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(stem), **attrs))

    def init(self, name: str, arr: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(arr, name)
        return name

    def weight(self, t: int, transform, tag: str) -> str:
        """A constant input in ONNX layout; fp16 weights stay fp16 behind a Cast (the DEQUANTIZE)."""
        arr = self.const(t)
        if arr is None:
            raise ConversionError(f"tensor {self.g.Tensors(t).Name().decode()!r} must be constant")
        was_fp16 = self.consts[t][1]
        out = np.ascontiguousarray(transform(arr))
        key = f"w{t}_{tag}"
        if not was_fp16:
            return self.init(key, out.astype(np.float32) if out.dtype == np.float64 else out)
        if key not in self._dequantized:
            self._dequantized.add(key)
            self.init(key + "_f16", out.astype(np.float16))
            self.node("Cast", [key + "_f16"], [key + "_f32"], f"dequantize_{t}", to=TensorProto.FLOAT)
        return key + "_f32"

    def pre_activation(self, out_t: int, fused: int, stem: str) -> str:
        """Where the op writes: its final tensor when nothing is fused, else a temporary."""
        return self.name(out_t) if fused == Act.NONE else self.fresh(stem)

    def activation(self, out_t: int, pre: str, fused: int, stem: str) -> None:
        final = self.name(out_t)
        if fused == Act.NONE:
            return
        elif fused == Act.RELU:
            self.node("Relu", [pre], [final], stem + "_relu")
        elif fused == Act.RELU6:
            self.node(
                "Clip",
                [pre, self.init("c_zero", np.array(0, np.float32)), self.init("c_six", np.array(6, np.float32))],
                [final],
                stem + "_relu6",
            )
        elif fused == Act.RELU_N1_TO_1:
            self.node(
                "Clip",
                [pre, self.init("c_mone", np.array(-1, np.float32)), self.init("c_one", np.array(1, np.float32))],
                [final],
                stem + "_relu1",
            )
        elif fused == Act.TANH:
            self.node("Tanh", [pre], [final], stem + "_tanh")
        else:
            raise ConversionError(f"fused activation {fused} is not supported")

    def as_nhwc(self, t: int, stem: str) -> str:
        if t not in self.nchw:
            return self.name(t)
        out = self.fresh(self.name(t) + "_nhwc")
        self.node("Transpose", [self.name(t)], [out], stem + "_to_nhwc", perm=list(_NCHW_TO_NHWC))
        return out

    # ---- ops -----------------------------------------------------------------------------------
    def convert_op(self, idx: int) -> None:
        op = self.g.Operators(idx)
        code_t = self.model.OperatorCodes(op.OpcodeIndex())
        code = max(code_t.BuiltinCode(), code_t.DeprecatedBuiltinCode())
        kind = _OP_NAMES.get(code, f"#{code}")
        self.op_counts[kind] = self.op_counts.get(kind, 0) + 1
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()]
        handler = getattr(self, f"op_{kind.lower()}", None)
        if handler is None:
            raise ConversionError(f"TFLite op {kind} (operator {idx}) is not supported by this converter")
        handler(op, ins, outs, f"{idx:03d}_{kind.lower()}")

    def _options(self, op, cls):
        table = op.BuiltinOptions()
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def op_dequantize(self, op, ins, outs, stem):
        arr = self.const(ins[0])
        if arr is None:
            raise ConversionError("DEQUANTIZE of a non-constant tensor (quantized activations) is not supported")
        if arr.dtype != np.float16:
            raise ConversionError(f"DEQUANTIZE from {arr.dtype} is not supported (only fp16 weights)")
        self.consts[outs[0]] = (arr, True)

    def _conv(self, op, ins, outs, stem, depthwise: bool):
        o = self._options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
        x_shape, w_shape = self.shape(ins[0]), self.shape(ins[1])
        kh, kw = w_shape[1], w_shape[2]
        strides = [o.StrideH(), o.StrideW()]
        dil = [o.DilationHFactor(), o.DilationWFactor()]
        if depthwise:
            # [1, H, W, C*m] -> [C*m, 1, H, W], one group per input channel
            w = self.weight(ins[1], lambda a: a.transpose(3, 0, 1, 2), "dw")
            group = x_shape[3]
        else:
            w = self.weight(ins[1], lambda a: a.transpose(0, 3, 1, 2), "oihw")
            group = 1
        inputs = [self.name(ins[0]), w]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.weight(ins[2], lambda a: a, "b"))
        pads = (
            _same_pads((x_shape[1], x_shape[2]), (kh, kw), strides, dil)
            if o.Padding() == Padding.SAME
            else [0, 0, 0, 0]
        )
        pre = self.pre_activation(outs[0], o.FusedActivationFunction(), stem)
        self.node(
            "Conv", inputs, [pre], stem, kernel_shape=[kh, kw], strides=strides, dilations=dil, pads=pads, group=group
        )
        self.activation(outs[0], pre, o.FusedActivationFunction(), stem)
        self.nchw.add(outs[0])

    def op_conv_2d(self, op, ins, outs, stem):
        self._conv(op, ins, outs, stem, depthwise=False)

    def op_depthwise_conv_2d(self, op, ins, outs, stem):
        self._conv(op, ins, outs, stem, depthwise=True)

    def op_max_pool_2d(self, op, ins, outs, stem):
        o = self._options(op, tflite.Pool2DOptions)
        x_shape = self.shape(ins[0])
        k, s = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
        pads = _same_pads((x_shape[1], x_shape[2]), k, s) if o.Padding() == Padding.SAME else [0, 0, 0, 0]
        pre = self.pre_activation(outs[0], o.FusedActivationFunction(), stem)
        self.node("MaxPool", [self.name(ins[0])], [pre], stem, kernel_shape=k, strides=s, pads=pads)
        self.activation(outs[0], pre, o.FusedActivationFunction(), stem)
        self.nchw.add(outs[0])

    def op_prelu(self, op, ins, outs, stem):
        def to_nchw(a):
            if a.ndim == 1:
                return a.reshape(-1, 1, 1)
            if a.ndim == 3:  # [H, W, C] broadcast over NHWC -> [C, H, W]
                return a.transpose(2, 0, 1)
            if a.ndim == 4:
                return a.transpose(*_NHWC_TO_NCHW)
            raise ConversionError(f"PRELU alpha of rank {a.ndim} is not supported")

        alpha = self.weight(ins[1], to_nchw, "alpha")
        self.node("PRelu", [self.name(ins[0]), alpha], [self.name(outs[0])], stem)
        self.nchw.add(outs[0])

    def _operand(self, t: int, out_is_nchw: bool, tag: str) -> str:
        if self.const(t) is None:
            return self.name(t)

        def layout(a):
            if out_is_nchw and a.ndim == 4:
                return a.transpose(*_NHWC_TO_NCHW)
            if out_is_nchw and a.ndim == 1 and a.size > 1:
                return a.reshape(-1, 1, 1)
            return a

        return self.weight(t, layout, tag)

    def op_add(self, op, ins, outs, stem):
        o = self._options(op, tflite.AddOptions)
        is_nchw = len(self.shape(outs[0])) == 4
        a, b = (self._operand(t, is_nchw, f"add{i}") for i, t in enumerate(ins))
        for t in ins:
            if self.const(t) is None and is_nchw and t not in self.nchw:
                raise ConversionError("ADD of a 4-D tensor held NHWC is not supported")
        pre = self.pre_activation(outs[0], o.FusedActivationFunction(), stem)
        self.node("Add", [a, b], [pre], stem)
        self.activation(outs[0], pre, o.FusedActivationFunction(), stem)
        if is_nchw:
            self.nchw.add(outs[0])

    def op_relu(self, op, ins, outs, stem):
        self.node("Relu", [self.name(ins[0])], [self.name(outs[0])], stem)
        if ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def op_logistic(self, op, ins, outs, stem):
        self.node("Sigmoid", [self.name(ins[0])], [self.name(outs[0])], stem)
        if ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def op_pad(self, op, ins, outs, stem):
        pads = self.const(ins[1])
        if pads is None:
            raise ConversionError("PAD with non-constant paddings is not supported")
        pads = np.asarray(pads, np.int64).reshape(-1, 2)
        if ins[0] in self.nchw:
            pads = pads[list(_NHWC_TO_NCHW)]  # the channel pad (residual widening) moves to axis 1
        onnx_pads = np.concatenate([pads[:, 0], pads[:, 1]]).astype(np.int64)
        p = self.init(f"pads_{outs[0]}", onnx_pads)
        self.node("Pad", [self.name(ins[0]), p], [self.name(outs[0])], stem, mode="constant")
        if ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def op_resize_bilinear(self, op, ins, outs, stem):
        o = self._options(op, tflite.ResizeBilinearOptions)
        if o.AlignCorners():
            mode = "align_corners"
        elif o.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        n, h, w, c = self.shape(outs[0])
        sizes = self.init(f"sizes_{outs[0]}", np.array([n, c, h, w], np.int64))
        self.node(
            "Resize",
            [self.name(ins[0]), "", "", sizes],
            [self.name(outs[0])],
            stem,
            mode="linear",
            coordinate_transformation_mode=mode,
        )
        self.nchw.add(outs[0])

    def op_reshape(self, op, ins, outs, stem):
        src = self.as_nhwc(ins[0], stem)
        new_shape = self.shape(outs[0])
        shape = self.init(f"shape_{outs[0]}", np.array(new_shape, np.int64))
        if len(new_shape) == 4:
            mid = self.fresh(stem)
            self.node("Reshape", [src, shape], [mid], stem)
            self.node("Transpose", [mid], [self.name(outs[0])], stem + "_to_nchw", perm=list(_NHWC_TO_NCHW))
            self.nchw.add(outs[0])
        else:
            self.node("Reshape", [src, shape], [self.name(outs[0])], stem)

    def op_concatenation(self, op, ins, outs, stem):
        o = self._options(op, tflite.ConcatenationOptions)
        rank = len(self.shape(outs[0]))
        axis = o.Axis() % rank
        is_nchw = all(t in self.nchw for t in ins) and rank == 4
        if rank == 4 and not is_nchw:
            raise ConversionError("CONCATENATION of mixed-layout 4-D tensors is not supported")
        if is_nchw:
            axis = _NHWC_AXIS_TO_NCHW[axis]
        pre = self.pre_activation(outs[0], o.FusedActivationFunction(), stem)
        self.node("Concat", [self.name(t) for t in ins], [pre], stem, axis=axis)
        self.activation(outs[0], pre, o.FusedActivationFunction(), stem)
        if is_nchw:
            self.nchw.add(outs[0])

    def op_mean(self, op, ins, outs, stem):
        o = self._options(op, tflite.ReducerOptions)
        axes = [int(a) for a in np.atleast_1d(self.const(ins[1]))]
        rank = len(self.shape(ins[0]))
        axes = [a % rank for a in axes]
        keep = bool(o.KeepDims())
        if ins[0] in self.nchw:
            axes = [_NHWC_AXIS_TO_NCHW[a] for a in axes]
            if not keep and sorted(axes) != [2, 3]:
                raise ConversionError("MEAN without keep_dims must reduce H and W of a 4-D tensor")
        self.node("ReduceMean", [self.name(ins[0])], [self.name(outs[0])], stem, axes=axes, keepdims=int(keep))
        if keep and ins[0] in self.nchw:
            self.nchw.add(outs[0])

    def op_fully_connected(self, op, ins, outs, stem):
        o = self._options(op, tflite.FullyConnectedOptions)
        k = self.shape(ins[1])[1]
        x = self.name(ins[0])
        if len(self.shape(ins[0])) != 2:
            x_nhwc = self.as_nhwc(ins[0], stem)
            x = self.fresh(stem + "_flat")
            self.node("Reshape", [x_nhwc, self.init(f"flat_{k}", np.array([-1, k], np.int64))], [x], stem + "_flat")
        inputs = [x, self.weight(ins[1], lambda a: a, "fc")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.weight(ins[2], lambda a: a, "b"))
        pre = self.pre_activation(outs[0], o.FusedActivationFunction(), stem)
        self.node("Gemm", inputs, [pre], stem, transB=1)
        self.activation(outs[0], pre, o.FusedActivationFunction(), stem)

    # ---- graph ---------------------------------------------------------------------------------
    def run(self) -> Result:
        g = self.g
        in_ts = [int(g.Inputs(i)) for i in range(g.InputsLength())]
        out_ts = [int(g.Outputs(i)) for i in range(g.OutputsLength())]
        in_names = self.opt.input_names or [g.Tensors(t).Name().decode() for t in in_ts]
        out_names = self.opt.output_names or [g.Tensors(t).Name().decode() for t in out_ts]
        if len(in_names) != len(in_ts) or len(out_names) != len(out_ts):
            raise ConversionError(
                f"the model has {len(in_ts)} inputs and {len(out_ts)} outputs; "
                f"names given for {len(in_names)} and {len(out_names)}"
            )
        graph_inputs, graph_outputs = [], []
        for t, nm in zip(in_ts, in_names):
            shape = self.shape(t)
            if g.Tensors(t).Type() != TensorType.FLOAT32:
                raise ConversionError(f"input {nm!r} is not float32")
            graph_inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shape))
            if len(shape) == 4:
                self.node("Transpose", [nm], [self.name(t)], "input_to_nchw", perm=list(_NHWC_TO_NCHW))
                self.nchw.add(t)
            else:
                self.names[t] = nm
        for i in range(g.OperatorsLength()):
            self.convert_op(i)
        for t, nm in zip(out_ts, out_names):
            shape = self.shape(t)
            if t in self.nchw:
                self.node("Transpose", [self.name(t)], [nm], "output_to_nhwc", perm=list(_NCHW_TO_NHWC))
            else:
                self.node("Identity", [self.name(t)], [nm], "output")
            graph_outputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shape))
        graph = helper.make_graph(
            self.nodes, self.opt.graph_name, graph_inputs, graph_outputs, initializer=list(self.inits.values())
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="cuekit.tflite_to_onnx",
            producer_version=CONVERTER_VERSION,
            doc_string=self.opt.doc_string,
        )
        model.ir_version = 8
        onnx.checker.check_model(model)
        return Result(
            model=model,
            op_counts=dict(sorted(self.op_counts.items())),
            input_shapes={n: self.shape(t) for t, n in zip(in_ts, in_names)},
            output_shapes={n: self.shape(t) for t, n in zip(out_ts, out_names)},
        )


def convert(tflite_bytes: bytes, options: Options | None = None) -> Result:
    """Translate a TFLite flatbuffer into a faithful ONNX model (see the module doc)."""
    return _Converter(tflite_bytes, options or Options()).run()
