# SPDX-License-Identifier: Apache-2.0
"""The two weight files the demo pipeline touches, read and written with numpy:

- safetensors (the Hugging Face checkpoint we export): an 8-byte little-endian header
  length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw bytes;
- a gemma2 model file (.g2, docs/format.md), read back so the reference forward runs
  on exactly the weights gemma2 multiplies: q8 and q4 matrices are dequantized as
  lib/tensor/quant.h defines them (structure of arrays: all blocks' quants, then all
  f16 scales; w = d * q, or d * K[nibble] for q4), which is exact in float32 (an
  11-bit significand times an integer below 128).
"""
import hashlib
import json
import struct

import numpy as np

MAGIC = b"\x89G2M\r\n\x1a\n"
TYPE_F32, TYPE_BF16, TYPE_Q8, TYPE_Q4 = 0, 1, 2, 3  # lib/model/format.h
QK = 32  # weights per quantization block
Q4_LEVELS = (-123, -99, -79, -62, -46, -32, -19, -6, 6, 19, 32, 46, 62, 79, 99, 123)  # G2_Q4_CODEBOOK

# The config block (docs/format.md, "Config block"): field name, struct code.
CONFIG_FIELDS = (
    ("vocab_size", "I"), ("hidden_size", "I"), ("n_layers", "I"), ("n_heads", "I"),
    ("n_kv_heads", "I"), ("head_dim", "I"), ("ffn_size", "I"), ("context_length", "I"),
    ("sliding_window", "I"), ("bos_id", "i"), ("eos_id", "i"), ("pad_id", "i"),
    ("rms_norm_eps", "f"), ("rope_theta", "f"), ("query_pre_attn_scalar", "f"),
    ("attn_softcap", "f"), ("final_softcap", "f"), ("flags", "I"), ("activation", "I"),
    ("reserved", "I"),
)


def write_safetensors(path, tensors):
    """tensors: {name: float32 numpy array}, written in sorted name order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: float32 numpy array} of an F32 safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data, "<f4", (b - a) // 4, 8 + n + a).reshape(e["shape"]).copy()
    return out


def block_order(rows, nb, block_bytes):
    """Indices into a quantized tensor's quant bytes (q4 from format version 2, q8 from
    3; block_bytes 16 or 32) that give them in plain order, [rows][nb][block_bytes]:
    rows in sets of 4 (the last set has the rows left over), a set stored group by group
    (16 blocks; the last group has m = nb % 16 when that is not 0) with its rows one
    after another in each group, and in a group of m blocks byte j of block k at
    4m * (j // 4) + 4k + j % 4 (lib/tensor/quant.h)."""
    r = np.arange(rows)[:, None, None]
    b = np.arange(nb)[None, :, None]
    j = np.arange(block_bytes)[None, None, :]
    s0 = r - r % 4
    n = np.minimum(4, rows - s0)
    g, k = b // 16, b % 16
    m = np.minimum(16, nb - 16 * g)
    return (block_bytes * (s0 * nb + n * 16 * g + (r - s0) * m) + 4 * m * (j // 4) + 4 * k + j % 4).reshape(-1)


def scale_order(rows, nb):
    """The same for the scales, [rows][nb]: interleaved like the quants, m per row and
    group."""
    r = np.arange(rows)[:, None]
    b = np.arange(nb)[None, :]
    s0 = r - r % 4
    n = np.minimum(4, rows - s0)
    g, k = b // 16, b % 16
    m = np.minimum(16, nb - 16 * g)
    return (s0 * nb + n * 16 * g + (r - s0) * m + k).reshape(-1)


def blake2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


class G2File:
    """A parsed gemma2 model file: .config (dict of the config block plus 'layer_kinds'),
    .tensors (list of directory entries as dicts) and .data (the file's bytes). The
    header digest is checked; tensor digests are checked when a tensor is read."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = d = f.read()
        if d[:8] != MAGIC:
            raise ValueError(f"{path}: not a gemma2 model file")
        version, flags, file_size = struct.unpack_from("<IIQ", d, 8)
        if version not in (1, 2, 3) or file_size != len(d):
            raise ValueError(f"{path}: version {version} or size {file_size} not supported")
        self.version = version
        (cfg_off, cfg_size, _meta_off, _meta_size, _meta_raw, dir_off, _dir_size, n_tensors,
         entry_size, self.data_offset, _data_size) = struct.unpack_from("<QQQQQQQIIQQ", d, 24)
        digest = d[104:136]
        if blake2b(d[:104] + bytes(32) + d[136:self.data_offset]) != digest:
            raise ValueError(f"{path}: header digest mismatch")
        vals = struct.unpack_from("<" + "".join(c for _, c in CONFIG_FIELDS), d, cfg_off)
        self.config = dict(zip((n for n, _ in CONFIG_FIELDS), vals))
        n_layers = self.config["n_layers"]
        assert cfg_size == 80 + n_layers and entry_size == 256
        self.config["layer_kinds"] = list(d[cfg_off + 80:cfg_off + 80 + n_layers])
        self.compressed = bool(flags & 1)
        self.tensors = []
        for i in range(n_tensors):
            e = dir_off + i * entry_size
            name = d[e:e + 128].split(b"\0", 1)[0].decode()
            ttype, n_dims = struct.unpack_from("<II", d, e + 128)
            dims = struct.unpack_from("<4Q", d, e + 136)[:n_dims]
            offset, stored, raw, compression = struct.unpack_from("<QQQI", d, e + 168)
            self.tensors.append(dict(name=name, type=ttype, dims=list(dims), offset=offset, stored_size=stored,
                                     raw_size=raw, compression=compression, digest=d[e + 200:e + 232]))

    def raw(self, t):
        """The raw bytes of tensor entry t, digest-checked. Compressed tensors are not
        supported: the demo model is stored uncompressed."""
        if t["compression"] != 0:
            raise ValueError(f"{t['name']}: zstd-compressed tensors are not supported here")
        start = self.data_offset + t["offset"]
        b = self.data[start:start + t["raw_size"]]
        if blake2b(b) != t["digest"]:
            raise ValueError(f"{t['name']}: tensor digest mismatch")
        return b

    def tensor(self, t):
        """Tensor entry t as a float32 numpy array of its shape (dequantized if q8/q4)."""
        b = self.raw(t)
        if t["type"] == TYPE_F32:
            return np.frombuffer(b, "<f4").reshape(t["dims"]).copy()
        if t["type"] == TYPE_BF16:
            u = np.frombuffer(b, "<u2").astype(np.uint32) << 16
            return u.view(np.float32).reshape(t["dims"])
        rows, cols = t["dims"]
        nb = (cols + QK - 1) // QK  # blocks per row; a ragged last block is zero-padded
        nblk = rows * nb
        lanes = self.version >= (3 if t["type"] == TYPE_Q8 else 2)  # row sets in lane order
        if t["type"] == TYPE_Q8:
            qbytes = nblk * QK
            q = np.frombuffer(b, np.int8, qbytes)
            if lanes:
                q = q[block_order(rows, nb, QK)]
            q = q.astype(np.float32).reshape(nblk, QK)
        elif t["type"] == TYPE_Q4:  # byte j of a block: element j low nibble, j + 16 high
            qbytes = nblk * QK // 2
            p = np.frombuffer(b, np.uint8, qbytes)
            if lanes:
                p = p[block_order(rows, nb, QK // 2)]
            p = p.reshape(nblk, QK // 2)
            q = np.array(Q4_LEVELS, np.float32)[np.concatenate([p & 15, p >> 4], axis=1)]
        else:
            raise ValueError(f"{t['name']}: unknown type {t['type']}")
        assert qbytes + 2 * nblk == len(b), t["name"]
        scale = np.frombuffer(b, "<f2", nblk, qbytes).astype(np.float32)
        if lanes:
            scale = scale[scale_order(rows, nb)]
        return (q * scale[:, None]).reshape(rows, nb * QK)[:, :cols]

    def hf_tensors(self):
        """{name: float32 array} of every tensor (names are the Hugging Face ones)."""
        return {t["name"]: self.tensor(t) for t in self.tensors}
