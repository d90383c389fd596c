# SPDX-License-Identifier: Apache-2.0
"""GGUF v3 writer and reader, written from the GGUF specification (ggml docs/gguf.md).

Layout: header (magic "GGUF", u32 version, u64 tensor count, u64 kv count), the metadata
key/values, the tensor infos (name, u32 n_dims, u64 ne[n_dims] innermost first, u32
ggml_type, u64 offset relative to the data section), zero padding to the alignment, then
the tensor data, every tensor starting at a multiple of the alignment. Little-endian.

Metadata is a dict  key -> (value_type, value); for ARRAY the value is
(element_type, list), nested arrays hold (element_type, list) items. Strings are str
(arbitrary bytes round-trip through surrogateescape) or bytes.
"""
import mmap
import struct
from collections import namedtuple

import numpy as np

from ggml_quant import TYPES, TYPE_NAMES, row_bytes

MAGIC = b"GGUF"
VERSION = 3
DEFAULT_ALIGNMENT = 32

(UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY,
 UINT64, INT64, FLOAT64) = range(13)
VALUE_TYPE_NAMES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
                    "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]

# scalar value type -> numpy little-endian dtype (BOOL is one byte, 0 or 1)
_NP = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
       FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}
_FMT = {UINT8: "B", INT8: "b", UINT16: "H", INT16: "h", UINT32: "I", INT32: "i",
        FLOAT32: "f", BOOL: "?", UINT64: "Q", INT64: "q", FLOAT64: "d"}


# value constructors, so callers write  md["x"] = u32(5)
def u32(v): return (UINT32, int(v))
def i32(v): return (INT32, int(v))
def u64(v): return (UINT64, int(v))
def f32(v): return (FLOAT32, float(v))
def boolean(v): return (BOOL, bool(v))
def string(v): return (STRING, v)
def array(elem_type, values): return (ARRAY, (elem_type, list(values)))


# Tensor to write: type is a ggml type name ("Q8_0"), ne innermost first, data is
# bytes-like / uint8 array or a callable returning it (called once, while writing).
Tensor = namedtuple("Tensor", "name type ne data")
# Tensor read back: offset is relative to the data section; type is a name, or the
# raw int for a ggml type this module does not know (then nbytes is None).
TensorInfo = namedtuple("TensorInfo", "name type ne offset nbytes")


def _align(n, a):
    return n + (a - n % a) % a


def _nelem(ne):
    n = 1
    for d in ne:
        n *= int(d)
    return n


# ------------------------------------------------------------------ writer

def _str_bytes(s):
    b = s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8", "surrogateescape")
    return struct.pack("<Q", len(b)) + bytes(b)


def _value_bytes(vtype, value):
    if vtype == STRING:
        return _str_bytes(value)
    if vtype == ARRAY:
        etype, items = value
        head = struct.pack("<IQ", etype, len(items))
        if etype in _NP:  # numeric arrays in one go (token scores can be 256k long)
            return head + np.asarray(items).astype(_NP[etype]).tobytes()
        return head + b"".join(_value_bytes(etype, v) for v in items)
    if vtype not in _NP:
        raise ValueError(f"unknown GGUF value type {vtype}")
    if vtype == BOOL and value not in (0, 1, True, False):
        raise ValueError("a GGUF bool is 0 or 1")
    return struct.pack("<" + _FMT[vtype], value)  # struct rejects out-of-range values


def encode_metadata(metadata):
    """The metadata key/values section as bytes."""
    out = bytearray()
    for key, (vtype, value) in metadata.items():
        out += _str_bytes(key) + struct.pack("<I", vtype) + _value_bytes(vtype, value)
    return bytes(out)


def spm_vocab_metadata(tokens, scores, types, bos=2, eos=1, unk=3, pad=0):
    """The tokenizer.ggml.* keys of a SentencePiece ("llama") vocabulary as llama.cpp's
    converter writes them for Gemma 2: add BOS, no EOS, no space prefix."""
    return {
        "tokenizer.ggml.model": string("llama"),
        "tokenizer.ggml.pre": string("default"),
        "tokenizer.ggml.tokens": array(STRING, tokens),
        "tokenizer.ggml.scores": array(FLOAT32, scores),
        "tokenizer.ggml.token_type": array(INT32, types),
        "tokenizer.ggml.bos_token_id": u32(bos),
        "tokenizer.ggml.eos_token_id": u32(eos),
        "tokenizer.ggml.unknown_token_id": u32(unk),
        "tokenizer.ggml.padding_token_id": u32(pad),
        "tokenizer.ggml.add_bos_token": boolean(True),
        "tokenizer.ggml.add_eos_token": boolean(False),
        "tokenizer.ggml.add_space_prefix": boolean(False),
    }


def write_gguf(path, metadata, tensors, alignment=DEFAULT_ALIGNMENT):
    """Write a GGUF v3 file. alignment is used when metadata has no general.alignment,
    and then written as that key unless it is the default 32. Returns the tensor offsets."""
    metadata = dict(metadata)
    if "general.alignment" in metadata:
        alignment = int(metadata["general.alignment"][1])
    elif alignment != DEFAULT_ALIGNMENT:
        metadata["general.alignment"] = u32(alignment)
    if alignment <= 0 or alignment % 8:
        raise ValueError("general.alignment must be a positive multiple of 8")

    infos, offsets, pos = bytearray(), [], 0
    names = set()
    for t in tensors:
        if t.name in names:
            raise ValueError(f"duplicate tensor name {t.name!r}")
        names.add(t.name)
        n = row_bytes(t.type, int(t.ne[0])) * (_nelem(t.ne) // int(t.ne[0]))
        infos += _str_bytes(t.name) + struct.pack("<I", len(t.ne))
        infos += struct.pack(f"<{len(t.ne)}Q", *(int(d) for d in t.ne))
        infos += struct.pack("<IQ", TYPES[t.type][0], pos)
        offsets.append((pos, n))
        pos = _align(pos + n, alignment)

    head = MAGIC + struct.pack("<IQQ", VERSION, len(tensors), len(metadata))
    head += encode_metadata(metadata) + infos
    head += b"\0" * (_align(len(head), alignment) - len(head))
    with open(path, "wb") as f:
        f.write(head)
        for t, (off, n) in zip(tensors, offsets):
            data = t.data() if callable(t.data) else t.data
            data = np.ascontiguousarray(np.frombuffer(data, np.uint8) if not isinstance(
                data, np.ndarray) else data).reshape(-1).view(np.uint8)
            if data.size != n:
                raise ValueError(f"{t.name}: {data.size} bytes, {t.type} {list(t.ne)} needs {n}")
            f.write(data.tobytes())
            f.write(b"\0" * (_align(n, alignment) - n))
    return [off for off, _ in offsets]


# ------------------------------------------------------------------ reader

class _Cursor:
    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def many(self, fmt):
        if self.pos + struct.calcsize("<" + fmt) > len(self.buf):
            raise ValueError("GGUF truncated")
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def take(self, fmt):
        vals = self.many(fmt)
        return vals if len(vals) > 1 else vals[0]

    def bytes(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("GGUF truncated")
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def string(self):
        return self.bytes(self.take("Q")).decode("utf-8", "surrogateescape")

    def value(self, vtype):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, n = self.take("IQ")
            if etype in _NP:
                size = np.dtype(_NP[etype]).itemsize
                vals = np.frombuffer(self.bytes(n * size), _NP[etype]).tolist()
                return (etype, [bool(v) for v in vals] if etype == BOOL else vals)
            return (etype, [self.value(etype) for _ in range(n)])
        if vtype not in _NP:
            raise ValueError(f"unknown GGUF value type {vtype} at byte {self.pos - 4}")
        v = np.frombuffer(self.bytes(np.dtype(_NP[vtype]).itemsize), _NP[vtype])[0].item()
        if vtype == BOOL:
            if v not in (0, 1):
                raise ValueError(f"GGUF bool byte {v} at {self.pos - 1}")
            return bool(v)
        return v


class GGUFFile:
    """A parsed GGUF file: version, metadata, tensors (list of TensorInfo), alignment,
    data_offset (file position of the tensor data section). Tensor bytes are mmapped."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            if f.seek(0, 2) < 4:
                raise ValueError(f"{path}: not a GGUF file")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        cur = _Cursor(self._map)
        if cur.bytes(4) != MAGIC:
            raise ValueError(f"{path}: not a GGUF file")
        self.version, n_tensors, n_kv = cur.take("IQQ")
        self.metadata = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.take("I")
            self.metadata[key] = (vtype, cur.value(vtype))
        self.alignment = int(self.metadata.get("general.alignment", (UINT32, 32))[1])
        self.tensors = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.take("I")
            if n_dims > 8:  # the spec allows 4 today; refuse nonsense before allocating
                raise ValueError(f"{name}: {n_dims} dimensions")
            ne = cur.many(f"{n_dims}Q")
            tid, off = cur.take("IQ")
            t = TYPE_NAMES.get(tid, tid)
            n = None  # unknown type or a shape no block layout fits
            if isinstance(t, str) and ne and all(d > 0 for d in ne) and \
                    ne[0] % TYPES[t][1] == 0:
                n = row_bytes(t, ne[0]) * (_nelem(ne) // ne[0])
            self.tensors.append(TensorInfo(name, t, ne, off, n))
        self.header_end = cur.pos
        self.data_offset = _align(cur.pos, self.alignment)
        self._by_name = {t.name: t for t in self.tensors}

    def value(self, key, default=None):
        """The plain value of a metadata key (for arrays: the list)."""
        if key not in self.metadata:
            return default
        vtype, v = self.metadata[key]
        return v[1] if vtype == ARRAY else v

    def tensor(self, name):
        return self._by_name[name]

    def raw(self, t):
        """The bytes of tensor t (a TensorInfo or a name) as a read-only uint8 array."""
        t = self._by_name[t] if isinstance(t, str) else t
        start = self.data_offset + t.offset
        if t.nbytes is None or start + t.nbytes > len(self._map):
            raise ValueError(f"{t.name}: data out of the file or of unknown size")
        return np.frombuffer(self._map, np.uint8, t.nbytes, start)

    def array(self, t):
        """Tensor t dequantized to float32, in numpy (outermost first) shape."""
        from ggml_quant import dequantize
        t = self._by_name[t] if isinstance(t, str) else t
        return dequantize(self.raw(t), t.type, _nelem(t.ne)).reshape(tuple(reversed(t.ne)))

    def as_write_args(self):
        """(metadata, tensors) to pass to write_gguf, e.g. after editing either."""
        tensors = [Tensor(t.name, t.type, t.ne, self.raw(t)) for t in self.tensors]
        return dict(self.metadata), tensors


def read_gguf(path):
    return GGUFFile(path)
