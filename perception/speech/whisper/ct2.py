"""Read a CTranslate2 `model.bin` (binary format 6) into numpy arrays, without CTranslate2.

Layout, as written by ctranslate2.specs.ModelSpec.save: u32 version, string spec name, u32 revision,
u32 n_variables, then per variable: string name, u8 rank, u32 dims, u8 dtype id, u32 byte count, raw
little-endian data; then u32 n_aliases and (alias, target) string pairs. Strings are u16 length
(including a NUL) + bytes + NUL.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# ctranslate2.specs.model_spec: the dtype id is the index in this tuple
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # bfloat16 not supported here
SUPPORTED_VERSIONS = (5, 6)
MAX_VARIABLES = 100_000


class Ct2FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


def read_ct2_model(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, variables by name; aliases resolved). Scalars come back as 0-d arrays."""
    buf = memoryview(Path(path).read_bytes())
    off = 0

    def take(fmt: str):
        nonlocal off
        if off + struct.calcsize(fmt) > len(buf):
            raise Ct2FormatError(f"{path}: truncated at byte {off}")
        (v,) = struct.unpack_from(fmt, buf, off)
        off += struct.calcsize(fmt)
        return v

    def text() -> str:
        nonlocal off
        n = take("<H")
        s = bytes(buf[off : off + n - 1]).decode("utf-8")
        off += n
        return s

    version = take("<I")
    if version not in SUPPORTED_VERSIONS:
        raise Ct2FormatError(f"{path}: binary version {version}, expected one of {SUPPORTED_VERSIONS}")
    spec = text()
    take("<I")  # spec revision
    count = take("<I")
    if count > MAX_VARIABLES:
        raise Ct2FormatError(f"{path}: {count} variables is not plausible")
    out: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = text()
        rank = take("<B")
        shape = tuple(take("<I") for _ in range(rank))
        dtype_id = take("<B")
        nbytes = take("<I")
        if dtype_id >= len(_DTYPES) or _DTYPES[dtype_id] is None:
            raise Ct2FormatError(f"{path}: {name} has unsupported dtype id {dtype_id}")
        dtype = np.dtype(_DTYPES[dtype_id]).newbyteorder("<")
        if nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or off + nbytes > len(buf):
            raise Ct2FormatError(f"{path}: {name} shape {shape} does not match its {nbytes} bytes")
        out[name] = np.frombuffer(buf[off : off + nbytes], dtype=dtype).reshape(shape)
        off += nbytes
    if off < len(buf):
        for _ in range(take("<I")):
            alias, target = text(), text()
            out[alias] = out[target]
    return spec, out
