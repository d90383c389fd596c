#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Weight-only baselines in llama.cpp's Q8_0 and Q4_0 on a golden checkpoint: rounds every
weight matrix (*proj.weight and the tied embed_tokens.weight; not the norms) through the
format's reference quantizer and back (blocks of 32 along each row, ragged last block padded
with zeros), writes that fake-quantized copy as F32 safetensors, runs it through `gemma2
convert --dtype f32` and `gemma2 logits`, and reports top-1 agreement and mean |Δlogit|
against the float32 golden logits, next to our own q8 and q4 (quality.py's measurement),
as a Markdown table. Activations stay float32 in the baselines, so they isolate the weight
rounding. Needs numpy (exits 77, skip, without it).
usage: weight_only.py GEMMA2 CHECKPOINT_DIR"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import measure  # noqa: E402

try:
    import numpy as np
except ImportError:
    print("weight_only.py: numpy is required, skipping")
    sys.exit(77)

QK = 32
F32 = np.float32


def read_safetensors(path):
    """All tensors of one file as float32 arrays, by name (F32, BF16 and F16 only)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        data = raw[8 + n + begin:8 + n + end]
        if info["dtype"] == "F32":
            a = np.frombuffer(data, "<f4")
        elif info["dtype"] == "BF16":  # the top half of a float32
            a = (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(F32)
        elif info["dtype"] == "F16":
            a = np.frombuffer(data, "<f2").astype(F32)
        else:
            raise SystemExit(f"{path}: {name}: unsupported dtype {info['dtype']}")
        tensors[name] = a.reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, "<f4").tobytes())


def f16(x):
    """GGML_FP32_TO_FP16 then back: round to nearest even, as numpy does."""
    return x.astype(np.float16).astype(F32)


def blocks(w):
    """[rows, cols] -> [rows * nblocks, 32], the ragged last block of each row zero-padded."""
    rows, cols = w.shape
    pad = np.zeros((rows, -cols % QK), F32)
    return np.concatenate([w.astype(F32), pad], axis=1).reshape(-1, QK)


def unblocks(b, shape):
    rows, cols = shape
    return b.reshape(rows, -1)[:, :cols]


def reciprocal(d):
    """id = d ? 1.0f/d : 0.0f, in float32."""
    with np.errstate(divide="ignore"):
        return np.where(d != 0, F32(1) / d, F32(0)).astype(F32)


def q8_0(w):
    """llama.cpp quantize_row_q8_0_ref, then dequantize_row_q8_0."""
    x = blocks(w)
    d = (np.abs(x).max(axis=1, keepdims=True) / F32(127)).astype(F32)
    v = x * reciprocal(d)  # scaled by the float32 d; only the stored d is f16
    q = np.sign(v) * np.floor(np.abs(v) + F32(0.5))  # roundf: half away from zero
    return unblocks(q * f16(d), w.shape)


def q4_0(w):
    """llama.cpp quantize_row_q4_0_ref, then dequantize_row_q4_0."""
    x = blocks(w)
    # the value of largest magnitude with its sign (the first one on ties), d = max / -8
    mx = np.take_along_axis(x, np.abs(x).argmax(axis=1)[:, None], axis=1)
    d = (mx / F32(-8)).astype(F32)
    v = x * reciprocal(d) + F32(8.5)
    q = np.minimum(15, np.trunc(v))  # MIN(15, (int8_t)(x0 + 8.5f)); v >= 0.5, so no underflow
    return unblocks((q - 8) * f16(d), w.shape)


def fake_quantize(ckpt, out, scheme, embed_scheme=None):
    """Copy of the checkpoint in ckpt with every weight matrix rounded through scheme (the
    tied embedding through embed_scheme if given), in out. golden.json and logits.f32
    come along, so quality.measure reads them from there."""
    os.makedirs(out)
    tensors = {}
    for name in sorted(os.listdir(ckpt)):
        path = os.path.join(ckpt, name)
        if name.endswith(".safetensors"):
            tensors.update(read_safetensors(path))
        elif name in ("config.json", "golden.json", "logits.f32") or name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(path, out)
    for name, a in tensors.items():
        if name.endswith("embed_tokens.weight"):
            tensors[name] = (embed_scheme or scheme)(a)
        elif name.endswith("proj.weight"):
            tensors[name] = scheme(a)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("usage: ")[1], file=sys.stderr)
        return 2
    gemma2, ckpt = sys.argv[1], sys.argv[2]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # The last row keeps the tied embedding in Q8_0, as gemma2's q4 does.
        for label, scheme, embed in (("Q8_0 (weight-only)", q8_0, None), ("Q4_0 (weight-only)", q4_0, None),
                                     ("Q4_0, embedding Q8_0 (weight-only)", q4_0, q8_0)):
            fake = os.path.join(tmp, scheme.__name__ + ("_embed8" if embed else ""))
            fake_quantize(ckpt, fake, scheme, embed)
            rows.append((label,) + measure(gemma2, fake, "f32", fake))
        for dtype in ("q8", "q4"):
            rows.append((f"gemma2 {dtype}",) + measure(gemma2, ckpt, dtype, tmp))
    print(f"\n{os.path.basename(os.path.normpath(ckpt))}:\n")
    print("| scheme | top-1 | mean abs Δlogit |\n|---|---|---|")
    for label, top1, mad in rows:
        print(f"| {label} | {top1:.3f} | {mad:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
