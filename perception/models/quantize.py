"""Static int8 QDQ variants, calibrated on real crops, with the accuracy check that decides if they ship.

Dynamic int8 on convolutions was unusable in the probe (25 px landmark error); static QDQ with
per-channel weights holds on the hand landmark models. The palm detector loses too much (scores move
by up to 0.8), so `registry.ModelSpec.int8_candidate` limits the attempt to the landmark models.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)


@dataclass
class Options:
    per_channel: bool = True
    activation_type: QuantType = QuantType.QUInt8
    weight_type: QuantType = QuantType.QInt8
    calibrate_method: CalibrationMethod = CalibrationMethod.MinMax
    # nodes whose name contains one of these stay float (the converter names nodes "<op index>_<op kind>_...")
    exclude_name_parts: tuple[str, ...] = ("_fully_connected",)
    # acceptance for landmark models: mean drift over hand crops, pixels of the crop
    max_mean_drift_px: float = 2.0


@dataclass
class Result:
    model: onnx.ModelProto
    excluded_nodes: list[str] = field(default_factory=list)
    calibration_count: int = 0


class _Reader(CalibrationDataReader):
    def __init__(self, input_name: str, tensors: list[np.ndarray]):
        self._it = iter([{input_name: t} for t in tensors])

    def get_next(self):
        return next(self._it, None)


def session(model: onnx.ModelProto | bytes | str | Path, threads: int = 1) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    if isinstance(src, Path):
        src = str(src)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def quantize(model: onnx.ModelProto, calibration: list[np.ndarray], options: Options | None = None) -> Result:
    """Static int8 QDQ copy of `model` calibrated on `calibration` (inputs for its only input)."""
    opt = options or Options()
    if not calibration:
        raise ValueError("int8 calibration needs at least one input tensor")
    excluded = [n.name for n in model.graph.node if any(part in n.name for part in opt.exclude_name_parts)]
    input_name = model.graph.input[0].name
    root_logger = logging.getLogger()
    level = root_logger.level
    # quantize_static logs a generic "consider pre-processing" advice on the root logger every call
    root_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            onnx.save(model, src)
            quantize_static(
                src,
                dst,
                _Reader(input_name, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=opt.per_channel,
                activation_type=opt.activation_type,
                weight_type=opt.weight_type,
                calibrate_method=opt.calibrate_method,
                nodes_to_exclude=excluded,
                extra_options={"ActivationSymmetric": False},
            )
            q = onnx.load(dst)
    finally:
        root_logger.setLevel(level)
    return Result(model=q, excluded_nodes=excluded, calibration_count=len(calibration))


def landmark_drift(fp32: ort.InferenceSession, int8: ort.InferenceSession, crops: list[np.ndarray]) -> dict[str, float]:
    """Per-landmark 2-D distance (pixels of the crop) between the fp32 and int8 models' landmarks."""
    return pooled_landmark_drift(fp32, [(int8, crops)])


def pooled_landmark_drift(
    fp32: ort.InferenceSession, folds: list[tuple[ort.InferenceSession, list[np.ndarray]]]
) -> dict[str, float]:
    """`landmark_drift` pooled over folds: each fold's crops run through that fold's int8 model (a
    model calibrated without them), so every crop is checked by a model that never saw it."""
    name = fp32.get_inputs()[0].name
    d, dp, dh = [], [], []
    for int8, crops in folds:
        for x in crops:
            a = fp32.run(None, {name: x})
            b = int8.run(None, {name: x})
            la, lb = a[0].reshape(-1, 3)[:, :2], b[0].reshape(-1, 3)[:, :2]
            d.append(np.linalg.norm(la - lb, axis=1))
            dp.append(abs(float(a[1].ravel()[0]) - float(b[1].ravel()[0])))
            dh.append(abs(float(a[2].ravel()[0]) - float(b[2].ravel()[0])))
    all_d = np.concatenate(d) if d else np.zeros(1)
    per_crop = np.array([x.mean() for x in d]) if d else np.zeros(1)
    return {
        "crops": len(d),
        "mean_px": float(all_d.mean()),
        "median_crop_mean_px": float(np.median(per_crop)),
        "p95_px": float(np.percentile(all_d, 95)),
        "max_px": float(all_d.max()),
        "worst_crop_mean_px": float(per_crop.max()),
        "presence_max_abs_diff": float(max(dp, default=0.0)),
        "handedness_max_abs_diff": float(max(dh, default=0.0)),
    }
