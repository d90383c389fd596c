#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a GGUF file at Gemma 2 2B's shapes with random weights, in llama.cpp's own
block layouts, for timing llama.cpp against `gemma2 convert --synthetic 2b` models.

usage: synthetic_gguf.py OUT.gguf --type Q8_0|Q4_0 [--tokenizer TOKENIZER_JSON]
                         [--embed-type TYPE] [--size 2b|tiny] [--seed N]

The weights are random quants with small scales, not a quantized network: speed does
not depend on their values. With --tokenizer the vocabulary is the real Gemma
tokenizer.json's (256000 pieces), so llama.cpp loads it as it loads a converted
Gemma 2; without, placeholder pieces (with the specials and byte pieces llama.cpp
looks for). --size tiny writes a small model of the same layout (for tests). --embed-type defaults
to what `llama-quantize` gives the tied embedding: Q8_0 for Q8_0 and Q6_K for Q4_0
(a 2.78 GB and a 1.62 GB file, the sizes the issue's llama.cpp runs used).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "gguf"))
import gguf_file as G  # noqa: E402
from ggml_quant import row_bytes  # noqa: E402

SHAPES = {
    "2b": {"hidden": 2304, "layers": 26, "heads": 8, "kv_heads": 4, "head_dim": 256, "ffn": 9216,
           "vocab": 256000, "context": 8192, "window": 4096},
    "tiny": {"hidden": 256, "layers": 2, "heads": 4, "kv_heads": 2, "head_dim": 64, "ffn": 512,
             "vocab": 1024, "context": 1024, "window": 256},
}
FILE_TYPES = {"Q4_0": 2, "Q8_0": 7}
NORMAL, CONTROL, BYTE = 1, 3, 6
SCALE = np.float16(0.002)  # every block's d: activations stay small and finite


def random_blocks(rng, qtype, rows, cols):
    """rows × cols weights of qtype as raw bytes: random quants, every scale SCALE."""
    n = row_bytes(qtype, cols) * rows
    raw = rng.integers(0, 256, size=n, dtype=np.uint8)
    if qtype in ("Q8_0", "Q4_0"):  # d (f16) first in each block
        size = 34 if qtype == "Q8_0" else 18
        raw.reshape(-1, size)[:, 0:2] = np.frombuffer(SCALE.tobytes(), np.uint8)
    elif qtype == "Q6_K":  # ql[128] qh[64] scales[16] (int8), d (f16) last
        b = raw.reshape(-1, 210)
        b[:, 192:208] = 16  # small positive sub-block scales
        b[:, 208:210] = np.frombuffer((SCALE / np.float16(16)).tobytes(), np.uint8)
    else:
        raise ValueError(f"unsupported type {qtype}")
    return raw


def vocab_metadata(tokenizer_json, n):
    """n pieces: tokenizer.json's first n, or placeholders."""
    tok = {"added_tokens": [{"id": i, "content": t, "special": True}
                            for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>"])]}
    tokens = [f"[PAD{i}]" for i in range(n)]
    if tokenizer_json:
        with open(tokenizer_json, encoding="utf-8") as f:
            tok = json.load(f)
        for piece, i in tok["model"]["vocab"].items():
            if 0 <= i < n:
                tokens[i] = piece
    else:
        for b in range(256):
            tokens[4 + b] = "<0x%02X>" % b
        for added in tok["added_tokens"]:
            tokens[added["id"]] = added["content"]
    types = [BYTE if t.startswith("<0x") and len(t) == 6 else NORMAL for t in tokens]
    for added in tok.get("added_tokens", []):
        if added["id"] < n and added.get("special"):
            types[added["id"]] = CONTROL
    return G.spm_vocab_metadata(tokens, [-float(i) for i in range(n)], types)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="Gemma's tokenizer.json")
    ap.add_argument("--size", choices=sorted(SHAPES), default="2b")
    ap.add_argument("--type", required=True, choices=sorted(FILE_TYPES))
    ap.add_argument("--embed-type", choices=["Q8_0", "Q4_0", "Q6_K"])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    embed_type = args.embed_type or ("Q8_0" if args.type == "Q8_0" else "Q6_K")
    s, arch = SHAPES[args.size], "gemma2"
    md = {
        "general.architecture": G.string(arch),
        "general.type": G.string("model"),
        "general.name": G.string(f"synthetic gemma2 {args.size} {args.type}"),
        "general.file_type": G.u32(FILE_TYPES[args.type]),
        "general.quantization_version": G.u32(2),
        f"{arch}.context_length": G.u32(s["context"]),
        f"{arch}.embedding_length": G.u32(s["hidden"]),
        f"{arch}.block_count": G.u32(s["layers"]),
        f"{arch}.feed_forward_length": G.u32(s["ffn"]),
        f"{arch}.attention.head_count": G.u32(s["heads"]),
        f"{arch}.attention.head_count_kv": G.u32(s["kv_heads"]),
        f"{arch}.attention.layer_norm_rms_epsilon": G.f32(1e-6),
        f"{arch}.attention.key_length": G.u32(s["head_dim"]),
        f"{arch}.attention.value_length": G.u32(s["head_dim"]),
        f"{arch}.attn_logit_softcapping": G.f32(50.0),
        f"{arch}.final_logit_softcapping": G.f32(30.0),
        f"{arch}.attention.sliding_window": G.u32(s["window"]),
    }
    md.update(vocab_metadata(args.tokenizer, s["vocab"]))
    rng = np.random.default_rng(args.seed)
    h, q, kv, f = s["hidden"], s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"], s["ffn"]

    def matrix(name, rows, cols, qtype):  # ne is innermost first: (cols, rows)
        return G.Tensor(name, qtype, (cols, rows), lambda: random_blocks(rng, qtype, rows, cols))

    def norm(name):
        return G.Tensor(name, "F32", (h,), np.ones(h, np.float32))  # llama.cpp stores 1 + w

    tensors = [matrix("token_embd.weight", s["vocab"], h, embed_type), norm("output_norm.weight")]
    for i in range(s["layers"]):
        p, t = f"blk.{i}.", args.type
        tensors += [norm(p + "attn_norm.weight"), matrix(p + "attn_q.weight", q, h, t),
                    matrix(p + "attn_k.weight", kv, h, t), matrix(p + "attn_v.weight", kv, h, t),
                    matrix(p + "attn_output.weight", h, q, t), norm(p + "post_attention_norm.weight"),
                    norm(p + "ffn_norm.weight"), matrix(p + "ffn_gate.weight", f, h, t),
                    matrix(p + "ffn_up.weight", f, h, t), matrix(p + "ffn_down.weight", h, f, t),
                    norm(p + "post_ffw_norm.weight")]
    G.write_gguf(args.out, md, tensors)


if __name__ == "__main__":
    main()
