# SPDX-License-Identifier: Apache-2.0
"""numpy quantizers and dequantizers for the ggml tensor types a Gemma 2 GGUF uses.

Block layouts and dequantization formulas are ggml's (ggml-common.h / ggml-quants.c);
dequantize() evaluates them in ggml's order of float32 operations, so its output is
bit-exact. The quantizers pick scales with simple max-abs / min-max rules (not
llama.cpp's error-minimising search) and then round every weight to the nearest
point of the grid the *stored* (f16-rounded) scales define, clamped to the code range.
"""
import numpy as np

QK_K = 256

# name -> (ggml_type id, elements per block, bytes per block)
TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24),
    "Q8_0": (8, 32, 34),
    "Q4_K": (12, QK_K, 144),
    "Q5_K": (13, QK_K, 176),
    "Q6_K": (14, QK_K, 210),
    "BF16": (30, 1, 2),
}
TYPE_NAMES = {v[0]: k for k, v in TYPES.items()}


def block_size(t):
    return TYPES[t][1]


def row_bytes(t, n):
    """Bytes of n elements of type t (n must be a multiple of the block size)."""
    _, bs, ts = TYPES[t]
    if n % bs:
        raise ValueError(f"{n} elements is not a whole number of {t} blocks of {bs}")
    return n // bs * ts


# ---------------------------------------------------------------- helpers

def _f16(x):
    """float32 -> (stored f16 bytes as uint8 [...,2], the f16 value back in float32)."""
    h = np.asarray(x, np.float32).astype(np.float16)
    return h.view(np.uint8).reshape(*h.shape[:-1], -1), h.astype(np.float32)


def _f16_val(b):
    """uint8 [..., 2] -> float32 [..., 1]."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _round(v):
    # ggml rounds half away from zero (roundf / nearest_int), numpy's rint does half-even
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


def _codes(x, scale, lo, hi, offset=0.0):
    """Nearest code in [lo, hi] for x ~ scale * code + offset; 0 where scale is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = _round((x - offset) / scale)
    q = np.where(scale == 0, 0, q)
    return np.clip(q, lo, hi).astype(np.int32)


def _nibbles(lo, hi):
    """Two arrays of 4-bit values -> bytes with lo in the low and hi in the high nibble."""
    return (lo & 0xF | (hi & 0xF) << 4).astype(np.uint8)


# ------------------------------------------------------- 32-element blocks

def _q_sym(x, levels):
    # ggml's sign trick: the element of largest magnitude maps to code -levels exactly
    imax = np.abs(x).argmax(axis=1)[:, None]
    d = np.take_along_axis(x, imax, axis=1) / np.float32(-levels)
    db, d = _f16(d)
    return db, _codes(x, d, -levels, levels - 1) + levels


def _q_affine(x, levels):
    mn = x.min(axis=1, keepdims=True)
    d = (x.max(axis=1, keepdims=True) - mn) / np.float32(levels)
    db, d = _f16(d)
    mb, m = _f16(mn)
    return db, mb, _codes(x, d, 0, levels, m)


def _qh_bits(q):
    """Bit 4 of each of the 32 codes -> uint32 (element j is bit j), as 4 bytes."""
    bits = (q >> 4 & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
    return bits.sum(axis=1, dtype=np.uint32)[:, None].view(np.uint8)


def _q4_0(x):
    db, q = _q_sym(x, 8)
    return np.concatenate([db, _nibbles(q[:, :16], q[:, 16:])], axis=1)


def _q4_1(x):
    db, mb, q = _q_affine(x, 15)
    return np.concatenate([db, mb, _nibbles(q[:, :16], q[:, 16:])], axis=1)


def _q5_0(x):
    db, q = _q_sym(x, 16)
    return np.concatenate([db, _qh_bits(q), _nibbles(q[:, :16], q[:, 16:])], axis=1)


def _q5_1(x):
    db, mb, q = _q_affine(x, 31)
    return np.concatenate([db, mb, _qh_bits(q), _nibbles(q[:, :16], q[:, 16:])], axis=1)


def _q8_0(x):
    db, d = _f16(np.abs(x).max(axis=1, keepdims=True) / np.float32(127))
    q = _codes(x, d, -127, 127)
    return np.concatenate([db, q.astype(np.int8).view(np.uint8)], axis=1)


def _dq_low(b, at):
    """Low/high nibbles of 16 bytes -> codes of elements 0..15 then 16..31."""
    return np.concatenate([b[:, at:at + 16] & 0xF, b[:, at:at + 16] >> 4], axis=1)


def _dq_high(b, at):
    qh = np.ascontiguousarray(b[:, at:at + 4]).view(np.uint32)
    return ((qh >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8) << 4


def _dq4_0(b):
    return _f16_val(b[:, :2]) * (_dq_low(b, 2).astype(np.float32) - np.float32(8))


def _dq4_1(b):
    return _f16_val(b[:, :2]) * _dq_low(b, 4).astype(np.float32) + _f16_val(b[:, 2:4])


def _dq5_0(b):
    q = (_dq_low(b, 6) | _dq_high(b, 2)).astype(np.float32) - np.float32(16)
    return _f16_val(b[:, :2]) * q


def _dq5_1(b):
    q = (_dq_low(b, 8) | _dq_high(b, 4)).astype(np.float32)
    return _f16_val(b[:, :2]) * q + _f16_val(b[:, 2:4])


def _dq8_0(b):
    return np.ascontiguousarray(b[:, 2:]).view(np.int8).astype(np.float32) * _f16_val(b[:, :2])


# ------------------------------------------------------- K-quants (QK_K)

def _pack_scale_min(sc, m):
    """8 six-bit scales and mins per block -> ggml's 12-byte packing (get_scale_min_k4)."""
    sc, m = sc.astype(np.uint8), m.astype(np.uint8)
    return np.concatenate([
        sc[:, :4] & 63 | (sc[:, 4:] >> 4) << 6,  # bytes 0-3: scales 0-3, top bits of 4-7
        m[:, :4] & 63 | (m[:, 4:] >> 4) << 6,    # bytes 4-7: mins 0-3, top bits of 4-7
        _nibbles(sc[:, 4:], m[:, 4:]),           # bytes 8-11: low nibbles of 4-7
    ], axis=1)


def _unpack_scale_min(s):
    sc = np.concatenate([s[:, 0:4] & 63, s[:, 8:12] & 0xF | (s[:, 0:4] >> 6) << 4], axis=1)
    m = np.concatenate([s[:, 4:8] & 63, s[:, 8:12] >> 4 | (s[:, 4:8] >> 6) << 4], axis=1)
    return sc.astype(np.float32), m.astype(np.float32)


def _qk_affine(x, levels):
    """Q4_K / Q5_K: 8 sub-blocks of 32, x ~ d*sc*q - dmin*m with 6-bit sc, m."""
    n = x.shape[0]
    s = x.reshape(n, 8, 32)
    mn = np.minimum(s.min(axis=2), 0)          # ggml keeps the offset <= 0
    scale = (s.max(axis=2) - mn) / np.float32(levels)
    db, d = _f16(scale.max(axis=1, keepdims=True) / np.float32(63))
    mb, dmin = _f16(-mn.min(axis=1, keepdims=True) / np.float32(63))
    sc = _codes(scale, d, 0, 63)
    m = _codes(-mn, dmin, 0, 63)
    step = (d * sc.astype(np.float32))[:, :, None]
    off = (dmin * m.astype(np.float32))[:, :, None]
    q = _codes(s, step, 0, levels, -off)
    return np.concatenate([db, mb, _pack_scale_min(sc, m)], axis=1), q


def _qk_low(q):
    # 64-element chunks: sub-block 2c in the low nibbles, 2c+1 in the high nibbles
    return _nibbles(q[:, 0::2], q[:, 1::2]).reshape(q.shape[0], 128)


def _q4_k(x):
    head, q = _qk_affine(x, 15)
    return np.concatenate([head, _qk_low(q)], axis=1)


def _q5_k(x):
    head, q = _qk_affine(x, 31)
    hi = (q >> 4 & 1).astype(np.uint8) << np.arange(8, dtype=np.uint8)[None, :, None]
    qh = hi.sum(axis=1, dtype=np.uint8)        # bit s of qh[l]: sub-block s, element l
    return np.concatenate([head, qh, _qk_low(q)], axis=1)


def _dqk(b, q):
    d, dmin = _f16_val(b[:, 0:2]), _f16_val(b[:, 2:4])
    sc, m = _unpack_scale_min(b[:, 4:16])
    y = (d * sc)[:, :, None] * q.astype(np.float32) - (dmin * m)[:, :, None]
    return y.reshape(b.shape[0], QK_K)


def _qk_codes_low(qs):
    qs = qs.reshape(-1, 4, 1, 32)
    return np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32)


def _dq4_k(b):
    return _dqk(b, _qk_codes_low(b[:, 16:144]))


def _dq5_k(b):
    hi = (b[:, 16:48, None] >> np.arange(8, dtype=np.uint8) & 1).transpose(0, 2, 1)
    return _dqk(b, _qk_codes_low(b[:, 48:176]) | hi << 4)


def _q6_k(x):
    n = x.shape[0]
    s = x.reshape(n, 16, 16)
    imax = np.abs(s).argmax(axis=2)[:, :, None]
    scale = np.take_along_axis(s, imax, axis=2)[:, :, 0] / np.float32(-32)
    db, d = _f16(np.abs(scale).max(axis=1, keepdims=True) / np.float32(127))
    sc = _codes(scale, d, -127, 127)
    q = _codes(s, (d * sc.astype(np.float32))[:, :, None], -32, 31) + 32
    g = q.reshape(n, 2, 4, 32)                 # two 128-halves of four 32-groups
    ql = _nibbles(g[:, :, 0:2].reshape(n, 2, 64), g[:, :, 2:4].reshape(n, 2, 64))
    qh = sum((g[:, :, k] >> 4).astype(np.uint8) << 2 * k for k in range(4))
    return np.concatenate([ql.reshape(n, 128), qh.astype(np.uint8).reshape(n, 64),
                           sc.astype(np.int8).view(np.uint8), db], axis=1)


def _dq6_k(b):
    n = b.shape[0]
    ql = b[:, :128].reshape(n, 2, 64)
    qh = b[:, 128:192].reshape(n, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8))[:, None]
    low = np.concatenate([ql & 0xF, ql >> 4], axis=2).reshape(n, 2, 4, 32)
    q = (low | (qh & 3) << 4).astype(np.float32) - np.float32(32)
    sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.float32)
    return ((_f16_val(b[:, 208:210]) * sc)[:, :, None] * q.reshape(n, 16, 16)).reshape(n, QK_K)


_QUANT = {"Q4_0": _q4_0, "Q4_1": _q4_1, "Q5_0": _q5_0, "Q5_1": _q5_1, "Q8_0": _q8_0,
          "Q4_K": _q4_k, "Q5_K": _q5_k, "Q6_K": _q6_k}
_DEQUANT = {"Q4_0": _dq4_0, "Q4_1": _dq4_1, "Q5_0": _dq5_0, "Q5_1": _dq5_1, "Q8_0": _dq8_0,
            "Q4_K": _dq4_k, "Q5_K": _dq5_k, "Q6_K": _dq6_k}

_CHUNK = 1 << 20  # elements per step: bounds the temporaries on big tensors


def _bf16(x):
    u = x.view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + (u >> 16 & 1)) >> 16       # round to nearest even
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = np.where(nan, (u >> 16) | 0x40, r)       # keep NaN a (quiet) NaN
    return r.astype(np.uint16).view(np.uint8)


def quantize(x, t):
    """float array (any shape, C order) -> uint8 bytes of type t, ggml row-major layout."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if t == "F32":
        return x.view(np.uint8).copy()
    if t == "F16":
        return x.astype(np.float16).view(np.uint8)
    if t == "BF16":
        return _bf16(x)
    _, bs, ts = TYPES[t]
    if x.size % bs:
        raise ValueError(f"{x.size} elements is not a whole number of {t} blocks of {bs}")
    step = _CHUNK // bs * bs
    parts = [_QUANT[t](x[i:i + step].reshape(-1, bs)).reshape(-1) for i in range(0, x.size, step)]
    out = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    assert out.size == x.size // bs * ts
    return out


def dequantize(raw, t, n=None):
    """uint8 bytes of type t -> float32 flat array (n elements, checked if given)."""
    raw = np.frombuffer(raw, np.uint8) if not isinstance(raw, np.ndarray) else raw.reshape(-1)
    _, bs, ts = TYPES[t]
    if t == "F32":
        y = np.ascontiguousarray(raw).view(np.float32).copy()
    elif t == "F16":
        y = np.ascontiguousarray(raw).view(np.float16).astype(np.float32)
    elif t == "BF16":
        y = (np.ascontiguousarray(raw).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        if raw.size % ts:
            raise ValueError(f"{raw.size} bytes is not a whole number of {t} blocks")
        step = _CHUNK // bs * ts
        parts = [_DEQUANT[t](raw[i:i + step].reshape(-1, ts)).reshape(-1)
                 for i in range(0, raw.size, step)]
        y = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    if n is not None and y.size != n:
        raise ValueError(f"{t}: {raw.size} bytes hold {y.size} elements, expected {n}")
    return y
