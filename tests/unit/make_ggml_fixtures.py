#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the fixtures of tests/unit/test_ggml_blocks.c: raw ggml blocks and the floats
gguf-py's reference numpy dequantizers make of them.

    PYTHONPATH=/path/to/llama.cpp/gguf-py python3 tests/unit/make_ggml_fixtures.py tests/data/ggml_blocks

gguf-py is needed only here; the test reads the committed files. File format:
tests/data/ggml_blocks/README.md.
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T

MAGIC = b"G2GGMLF1"
SEED = 20250117

# Byte offsets of each block's f16 fields (scales and mins): the generator sets them
# to chosen finite values, since random bytes would make NaN and infinite scales.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}
# Types gguf-py can also quantize: one block each comes from real (random normal) weights.
QUANTIZABLE = {T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}

F16_MAX = 0x7BFF        # 65504
F16_TINY = 0x0001       # 2^-24, the smallest subnormal
F16_BIG_SUB = 0x03FF    # the largest subnormal
F16_NEG_ZERO = 0x8000


def f16_bits(x):
    return int(np.array([x], dtype="<f2").view("<u2")[0])


def random_scale(rng, signed):
    """A sane f16 scale: magnitude 1e-4 .. 1, negative half the time if signed."""
    v = 10.0 ** rng.uniform(-4, 0)
    if signed and rng.random() < 0.5:
        v = -v
    return f16_bits(v)


def with_fields(block, offsets, values):
    b = bytearray(block)
    for off, v in zip(offsets, values):
        b[off:off + 2] = struct.pack("<H", v)
    return bytes(b)


def quant_blocks(rng, qtype):
    """The raw blocks of one quantized type: random and edge cases."""
    elems, size = GGML_QUANT_SIZES[qtype]
    offs = F16_FIELDS[qtype]
    nf = len(offs)
    rand = lambda: rng.integers(0, 256, size, dtype=np.uint8).tobytes()  # noqa: E731
    blocks = [
        # random quants and sub-block scales, positive f16 scales
        with_fields(rand(), offs, [random_scale(rng, False) for _ in range(nf)]),
        # ... and signed ones (a negative d flips, a negative min adds)
        with_fields(rand(), offs, [random_scale(rng, True) for _ in range(nf)]),
        with_fields(rand(), offs, [random_scale(rng, True) for _ in range(nf)]),
        # zero scales: +0 and -0 (signed zeros must come out as the reference's)
        with_fields(rand(), offs, [0x0000] * nf),
        with_fields(rand(), offs, [F16_NEG_ZERO] + [random_scale(rng, True)] * (nf - 1)),
        # every bit set: the largest quants and sub-block scales, with the largest f16
        # scale (checks nothing overflows) and a negative largest min
        with_fields(b"\xff" * size, offs, [F16_MAX, F16_MAX | 0x8000][:nf]),
        # every bit clear: the smallest quants (most negative for signed formats)
        with_fields(b"\x00" * size, offs, [random_scale(rng, True) for _ in range(nf)]),
        # subnormal scales
        with_fields(rand(), offs, [F16_TINY, F16_BIG_SUB][:nf]),
    ]
    if elems == 256:
        # keep the 256-element types' files small: drop the second signed random block
        # and the +0 one (-0 is the harder case)
        del blocks[2:4]
    if qtype == T.Q8_0:
        # the extremes of int8: +127 everywhere, then a -128 (which the q8 repack refuses)
        blocks.append(with_fields(b"\x7f" * size, offs, [random_scale(rng, True)]))
        blocks.append(with_fields(b"\x80" * size, offs, [random_scale(rng, True)]))
    if qtype in QUANTIZABLE:
        w = rng.standard_normal((2, elems)).astype(np.float32) * 0.02
        q = quants.quantize(w, qtype)
        blocks += [bytes(row) for row in q.reshape(-1, size)]
    return b"".join(blocks)


def float_data(rng, qtype):
    """Raw F32 / F16 / BF16 data: random values and the format's edge values."""
    if qtype == T.F32:
        edges = np.array([0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000,
                          0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000], dtype="<u4")
        vals = (rng.standard_normal(39) * 10.0 ** rng.uniform(-6, 6, 39)).astype("<f4")
        return edges.tobytes() + vals.tobytes()
    if qtype == T.F16:
        edges = np.array([0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00,
                          0xBC00, 0x3555], dtype="<u2")
        vals = (rng.standard_normal(38) * 10.0 ** rng.uniform(-3, 3, 38)).astype("<f2")
        return edges.tobytes() + vals.tobytes()
    if qtype == T.BF16:
        edges = np.array([0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80,
                          0xBF80, 0x3EAB], dtype="<u2")
        bits = (rng.standard_normal(38) * 10.0 ** rng.uniform(-20, 20, 38)).astype("<f4").view("<u4")
        return edges.tobytes() + (bits >> 16).astype("<u2").tobytes()
    raise ValueError(qtype)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    types = [T.F32, T.F16, T.BF16] + list(F16_FIELDS)
    for qtype in types:
        raw = float_data(rng, qtype) if qtype in (T.F32, T.F16, T.BF16) else quant_blocks(rng, qtype)
        elems, size = GGML_QUANT_SIZES[qtype]
        assert len(raw) % size == 0
        n = len(raw) // size * elems
        data = np.frombuffer(raw, dtype=np.uint8).reshape(1, -1)
        with np.errstate(all="raise"):  # the reference must not overflow on these blocks
            expected = np.asarray(quants.dequantize(data, qtype), dtype=np.float32).reshape(-1)
        assert expected.size == n and np.isfinite(expected).all(), qtype.name
        path = out / (qtype.name.lower() + ".bin")
        path.write_bytes(MAGIC + struct.pack("<III", int(qtype), n, len(raw)) + raw
                         + expected.astype("<f4").tobytes())
        print(f"{path}: {n} elements, {len(raw)} bytes of blocks")


if __name__ == "__main__":
    main()
