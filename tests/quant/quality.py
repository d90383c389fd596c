#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Quantization quality on a golden checkpoint: converts it with --dtype q8 and q4
(and q4 with --embed-dtype q4 too, "q4e4": 4.5 bits for every matrix), runs `gemma2 logits` over the golden input (teacher forcing), and reports top-1
agreement and mean |Δlogit| against the float32 golden logits. With --check, fails
unless each format reaches the minimum given (top-1 agreement).
usage: quality.py GEMMA2 CHECKPOINT_DIR [--check q8=0.979,q4=0.5]"""
import json
import os
import struct
import subprocess
import sys
import tempfile


FORMATS = {"q8": ["--dtype", "q8"], "q4": ["--dtype", "q4"], "q4e4": ["--dtype", "q4", "--embed-dtype", "q4"]}


def measure(gemma2, ckpt, dtype, tmp):
    golden = json.load(open(os.path.join(ckpt, "golden.json")))
    vocab = golden["model"]["vocab_size"]
    ids = golden["input_ids"]
    model = os.path.join(tmp, dtype + ".g2")
    subprocess.run([gemma2, "convert", ckpt, model] + FORMATS[dtype], check=True)
    out = os.path.join(tmp, dtype + ".f32")
    subprocess.run([gemma2, "logits", model, "--tokens", ",".join(map(str, ids)), "--out", out, "-t", "1"],
                   check=True)
    ours = struct.unpack("<%df" % (len(ids) * vocab), open(out, "rb").read())
    raw = open(os.path.join(ckpt, "logits.f32"), "rb").read()
    ref = struct.unpack("<%df" % (len(raw) // 4), raw)
    agree, diff = 0, 0.0
    for i in range(len(ids)):
        a, b = ours[i * vocab:(i + 1) * vocab], ref[i * vocab:(i + 1) * vocab]
        agree += max(range(vocab), key=a.__getitem__) == max(range(vocab), key=b.__getitem__)
        diff += sum(abs(x - y) for x, y in zip(a, b)) / vocab
    return agree / len(ids), diff / len(ids)


def main():
    gemma2, ckpt = sys.argv[1], sys.argv[2]
    minimum = {}
    if len(sys.argv) > 4 and sys.argv[3] == "--check":
        minimum = {k: float(v) for k, v in (kv.split("=") for kv in sys.argv[4].split(","))}
    failed = 0
    dtypes = [d for d in FORMATS if not minimum or d in minimum]
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in dtypes:
            top1, mad = measure(gemma2, ckpt, dtype, tmp)
            ok = top1 >= minimum.get(dtype, 0.0)
            failed += not ok
            print(f"{os.path.basename(ckpt)} {dtype}: top-1 agreement {top1:.3f}, mean |dlogit| {mad:.4f}"
                  + ("" if dtype not in minimum else f" (minimum {minimum[dtype]:.3f}: {'ok' if ok else 'FAIL'})"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
