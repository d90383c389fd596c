#!/usr/bin/env python3
"""Write a random Gemma 2 checkpoint folder in the Hugging Face layout.

  make_checkpoint.py OUT_DIR [--seed N] [--dtype BF16|F16|F32] [--shards N]
                     [--full-f32] [--stress] [--prompt N] [--no-pad]
                     [--set key=json ...]

config.json carries every field of tests/data/tiny-a/config.json; --set
overrides one (value parsed as JSON, e.g. --set head_dim=128
--set final_logit_softcapping=null). Prints the config and prompt ids.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

BASE_CONFIG = {
    "architectures": ["Gemma2ForCausalLM"],
    "model_type": "gemma2",
    "vocab_size": 512,
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_act": "gelu_pytorch_tanh",
    "max_position_embeddings": 512,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "query_pre_attn_scalar": 32,
    "sliding_window": 16,
    "final_logit_softcapping": 30.0,
    "attn_logit_softcapping": 50.0,
    "initializer_range": 0.02,
    "bos_token_id": 2,
    "eos_token_id": 1,
    "pad_token_id": 0,
    "tie_word_embeddings": True,
    "use_cache": True,
    "cache_implementation": "hybrid",
    "torch_dtype": "bfloat16",
}

TORCH_DTYPE = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def to_bf16(a):
    """Round float32 values to the nearest bf16 (ties to even), as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def make_weights(cfg, rng, stress=False, full_f32=False, f16_safe=False):
    """Random weights scaled so the network is well conditioned.

    Scales (h = RMS-normed activations, rms ~1):
      q, k entries have std a, so a pre-cap score has std a^2 sqrt(d/qpas);
      a is chosen for score std ~2.5 (~12 with stress: past the cap of 50 in
      the tails). The embedding is small (x0 rms 0.5) and the post-norm gains
      (1 + w) ~2, so the residual is not dominated by the input token; else
      the model just predicts its input and greedy decoding repeats one id.
      Logits = final-normed x . E, so a final gain of logit_std / 0.5 gives
      logits of std ~4 (~15 with stress: past the final cap of 30).
    """
    V, H, L = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"]
    nh, nkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    F, qpas = cfg["intermediate_size"], cfg["query_pre_attn_scalar"]
    score_std, logit_std = (12.0, 15.0) if stress else (2.5, 4.0)
    a = math.sqrt(score_std / math.sqrt(d / qpas))
    emb_rms = 0.5

    def n(shape, std, mean=0.0):
        return mean + rng.standard_normal(shape) * std

    w = {"model.embed_tokens.weight": n((V, H), emb_rms / math.sqrt(H))}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "self_attn.q_proj.weight"] = n((nh * d, H), a / math.sqrt(H))
        w[p + "self_attn.k_proj.weight"] = n((nkv * d, H), a / math.sqrt(H))
        w[p + "self_attn.v_proj.weight"] = n((nkv * d, H), 1 / math.sqrt(H))
        w[p + "self_attn.o_proj.weight"] = n((H, nh * d), 1 / math.sqrt(nh * d))
        w[p + "mlp.gate_proj.weight"] = n((F, H), 1 / math.sqrt(H))
        w[p + "mlp.up_proj.weight"] = n((F, H), 1 / math.sqrt(H))
        w[p + "mlp.down_proj.weight"] = n((H, F), 1 / math.sqrt(F))
        for nm in ("input_layernorm", "pre_feedforward_layernorm"):
            w[p + nm + ".weight"] = n((H,), 0.15)
        for nm in ("post_attention_layernorm", "post_feedforward_layernorm"):
            w[p + nm + ".weight"] = n((H,), 0.15, 1.0)
    w["model.norm.weight"] = n((H,), 0.15, logit_std / emb_rms - 1)
    out = {}
    for k, v in w.items():
        v = v.astype(np.float32)
        if not full_f32:
            v = to_bf16(v)
            if f16_safe:
                # bf16 values >= 2^-17 are exact in f16 too; smaller ones are
                # rounded onto f16's subnormal grid (<= 7 significant bits, so
                # still bf16-exact). The F16 file keeps some subnormals and
                # converts to bf16 losslessly.
                small = np.abs(v) < 2.0 ** -17
                v = np.where(small, v.astype(np.float16).astype(np.float32), v)
        out[k] = v
    return out


def _encode(v, dtype):
    if dtype == "F32":
        return v.astype("<f4").tobytes()
    if dtype == "F16":
        h = v.astype("<f2")
        if not np.array_equal(h.astype(np.float32), v):
            raise ValueError("value not representable in F16")
        return h.tobytes()
    u = v.astype(np.float32).view(np.uint32)
    if np.any(u & 0xFFFF):
        raise ValueError("value not representable in BF16")
    return (u >> 16).astype("<u2").tobytes()


def write_safetensors(path, tensors, dtype, pad_header=True):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = _encode(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    if pad_header:  # HF aligns the data start to 8; the format does not require it
        hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return off


def write_checkpoint(out_dir, overrides=None, seed=0, dtype="BF16", shards=1,
                     stress=False, full_f32=False, n_prompt=32, pad_header=True):
    """Writes the folder; returns (config, prompt ids)."""
    if full_f32 and dtype != "F32":
        raise ValueError("--full-f32 needs dtype F32")
    cfg = dict(BASE_CONFIG)
    cfg.update(overrides or {})
    cfg["torch_dtype"] = TORCH_DTYPE[dtype]
    rng = np.random.default_rng(seed)
    w = make_weights(cfg, rng, stress, full_f32, f16_safe=(dtype == "F16"))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards <= 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), w, dtype, pad_header)
    else:
        # Whole layers per shard in order, balanced by size (as HF splits).
        names = list(w)
        per = sum(v.size for v in w.values()) / shards
        groups, cur, acc = [], [], 0
        for nm in names:
            if acc >= per * (len(groups) + 1) and len(groups) < shards - 1:
                groups.append(cur)
                cur = []
            cur.append(nm)
            acc += w[nm].size
        groups.append(cur)
        while len(groups) < shards:  # tiny models: keep the shard count
            groups.insert(-1, [groups[-1].pop(0)])
        wmap, total = {}, 0
        for i, g in enumerate(groups):
            fn = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
            total += write_safetensors(os.path.join(out_dir, fn), {k: w[k] for k in g}, dtype,
                                       pad_header)
            wmap.update({k: fn for k in g})
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": dict(sorted(wmap.items()))}, f, indent=2)
    ids = [cfg["bos_token_id"]] + [int(x) for x in
                                   rng.integers(3, cfg["vocab_size"], n_prompt - 1)]
    return cfg, ids


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="BF16", choices=sorted(TORCH_DTYPE))
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--stress", action="store_true")
    ap.add_argument("--full-f32", action="store_true",
                    help="F32 values that are not bf16-representable")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--no-pad", action="store_true", help="unpadded safetensors header")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    a = ap.parse_args(argv)
    over = {}
    for kv in a.set:
        k, _, v = kv.partition("=")
        over[k] = json.loads(v)
    cfg, ids = write_checkpoint(a.out, over, a.seed, a.dtype, a.shards, a.stress,
                                a.full_f32, a.prompt, not a.no_pad)
    print(json.dumps(cfg))
    print(",".join(map(str, ids)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
