"""GGUF files: write small valid ones (tests) and read their metadata (the stand-in).

A file written here is a well-formed GGUF v3: header, metadata key/values, one
int8 tensor whose data fills the file to the size asked for. Real tools can
read it; the stand-in reads its metadata the way Ollama does when it creates
a model from a GGUF (architecture, parameter count, file type) and for
``/api/show``'s model_info.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
ALIGNMENT = 32
_GGML_TYPE_I8 = 24

# value types of GGUF metadata
_U8, _I8, _U16, _I16, _U32, _I32, _F32, _BOOL, _STR, _ARR, _U64, _I64, _F64 = range(13)
_SCALAR = {_U8: "<B", _I8: "<b", _U16: "<H", _I16: "<h", _U32: "<I", _I32: "<i",
           _F32: "<f", _BOOL: "<?", _U64: "<Q", _I64: "<q", _F64: "<d"}

# llama.cpp's file types (llama_ftype), as Ollama names them
FILE_TYPES = ["F32", "F16", "Q4_0", "Q4_1", "Q4_1_F16", "Q4_2", "Q4_3", "Q8_0", "Q5_0",
              "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S",
              "Q5_K_M", "Q6_K", "IQ2_XXS", "IQ2_XS", "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S",
              "IQ4_NL", "IQ3_S", "IQ3_M", "IQ2_S", "IQ2_M", "IQ4_XS", "IQ1_M", "BF16"]

# the types Ollama's own loader insists on for these keys
_KEY_TYPES = {"general.parameter_count": _U64, "general.file_type": _U32,
              "general.quantization_version": _U32, "general.alignment": _U32}


def file_type_name(code: int) -> str:
    return FILE_TYPES[code] if 0 <= code < len(FILE_TYPES) else "unknown"


def file_type_code(name: str) -> int:
    try:
        return FILE_TYPES.index(name.upper())
    except ValueError:
        raise ValueError(f"unknown quantization {name!r}; one of {', '.join(FILE_TYPES)}") from None


def _pack_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _value_type(key: str, value: Any) -> int:
    if key in _KEY_TYPES:
        return _KEY_TYPES[key]
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _U32 if 0 <= value < 2**32 else _I64
    if isinstance(value, float):
        return _F32
    if isinstance(value, str):
        return _STR
    if isinstance(value, (list, tuple)):
        return _ARR
    raise TypeError(f"GGUF metadata {key}: unsupported value {value!r}")


def _pack_value(vtype: int, value: Any, key: str) -> bytes:
    if vtype == _STR:
        return _pack_string(value)
    if vtype == _ARR:
        items = list(value)
        etype = _value_type(key + "[]", items[0]) if items else _U32
        body = b"".join(_pack_value(etype, item, key) for item in items)
        return struct.pack("<IQ", etype, len(items)) + body
    return struct.pack(_SCALAR[vtype], value)


def header_bytes(metadata: dict[str, Any], data_size: int) -> bytes:
    """Everything before the tensor data, padded to the alignment."""
    out = bytearray(MAGIC + struct.pack("<IQQ", 3, 1, len(metadata)))
    for key, value in metadata.items():
        vtype = _value_type(key, value)
        out += _pack_string(key) + struct.pack("<I", vtype) + _pack_value(vtype, value, key)
    out += _pack_string("token_embd.weight") + struct.pack("<IQIQ", 1, data_size, _GGML_TYPE_I8, 0)
    out += b"\0" * (-len(out) % ALIGNMENT)
    return bytes(out)


def write(path: Path, metadata: dict[str, Any], size: int, seed: str = "") -> None:
    """Write a GGUF of exactly ``size`` bytes; the filler is seeded, so same seed, same bytes."""
    probe = header_bytes(metadata, 0)
    data_size = size - len(probe)
    if data_size < 1:
        raise ValueError(f"gguf size {size} is too small: the header alone takes {len(probe)} bytes")
    head = header_bytes(metadata, data_size)
    rng = random.Random(seed or repr(sorted(metadata.items())))
    with open(path, "wb") as fh:
        fh.write(head)
        left = data_size
        while left:
            chunk = min(left, 1 << 22)
            fh.write(rng.randbytes(chunk))
            left -= chunk


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    raw = fh.read(size)
    if len(raw) != size:
        raise ValueError("truncated GGUF")
    return struct.unpack(fmt, raw)[0]


def _read_value(fh: BinaryIO, vtype: int, keep_arrays: bool) -> Any:
    if vtype == _STR:
        return fh.read(_read(fh, "<Q")).decode(errors="replace")
    if vtype == _ARR:
        etype, count = _read(fh, "<I"), _read(fh, "<Q")
        items = [_read_value(fh, etype, keep_arrays) for _ in range(count)]
        return items if keep_arrays or len(items) <= 5 else []
    if vtype not in _SCALAR:
        raise ValueError(f"bad GGUF value type {vtype}")
    return _read(fh, _SCALAR[vtype])


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == MAGIC
    except OSError:
        return False


def read_metadata(path: Path, keep_arrays: bool = False) -> dict[str, Any]:
    """The metadata key/values; arrays longer than 5 come back empty, as /api/show does."""
    with open(path, "rb") as fh:
        if fh.read(4) != MAGIC:
            raise ValueError("not a GGUF file")
        version = _read(fh, "<I")
        count_fmt = "<I" if version == 1 else "<Q"
        _read(fh, count_fmt)  # tensor count
        n_kv = _read(fh, count_fmt)
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = fh.read(_read(fh, "<Q")).decode(errors="replace")
            meta[key] = _read_value(fh, _read(fh, "<I"), keep_arrays)
    return meta
