#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hugging Face Gemma2ForCausalLM checkpoint -> GGUF, as llama.cpp's converter
(convert_hf_to_gguf.py, Gemma2Model) followed by llama-quantize --pure would make it.

usage: make_gguf.py CHECKPOINT_DIR OUT.gguf --type TYPE [--tokenizer tokenizer.model]
                    [--embed-type TYPE] [--dequantized-out DIR] [--name NAME]

--type applies to every 2-D tensor; 1-D tensors and norms are F32. A tensor whose row
length is not a whole number of the type's blocks falls back as llama-quantize does
(Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16). --embed-type overrides the type
of token_embd.weight. --dequantized-out writes a float32 HF checkpoint holding exactly
the GGUF's weights (dequantized, norms with the converter's +1 taken back off).
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_file as G  # noqa: E402
from ggml_quant import TYPES, block_size, quantize  # noqa: E402

# HF name inside model.layers.N -> GGUF name inside blk.N (gguf-py tensor_mapping.py)
LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}

# general.file_type (llama_ftype) per --type: what `llama-quantize --pure IN OUT TYPE`
# writes (its "Q4_K" / "Q5_K" mean Q4_K_M / Q5_K_M)
FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
              "Q4_K": 15, "Q5_K": 17, "Q6_K": 18, "BF16": 32}
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}  # llama-quant.cpp
GGML_QUANT_VERSION = 2

# SentencePiece piece type -> GGUF token type, as _create_vocab_sentencepiece asks
# sentencepiece: only UNKNOWN, CONTROL, UNUSED and BYTE are told apart (USER_DEFINED -> NORMAL)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPM_TO_GGUF = {1: NORMAL, 2: UNKNOWN, 3: CONTROL, 4: NORMAL, 5: UNUSED, 6: BYTE}


# ------------------------------------------------------------------ safetensors

def _safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def _load_tensor(path, info, data_start):
    """One safetensors tensor as float32 (bf16 widened by a 16-bit shift: exact)."""
    dtype = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}.get(info["dtype"])
    if dtype is None:
        raise ValueError(f"{path}: unsupported dtype {info['dtype']}")
    begin, end = info["data_offsets"]
    count = (end - begin) // np.dtype(dtype).itemsize
    a = np.fromfile(path, dtype=dtype, count=count, offset=data_start + begin)
    if info["dtype"] == "BF16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32, copy=False).reshape(info["shape"])


def checkpoint_tensors(ckpt):
    """[(hf_name, shape, loader)] of a single-file or sharded checkpoint; shard files in
    name order and tensors by name within each, the order llama.cpp's converter reads."""
    single = os.path.join(ckpt, "model.safetensors")
    if os.path.exists(single):
        files = [single]
    else:
        with open(os.path.join(ckpt, "model.safetensors.index.json")) as f:
            files = sorted({os.path.join(ckpt, v) for v in json.load(f)["weight_map"].values()})
    out = []
    for path in files:
        header, start = _safetensors_header(path)
        for name in sorted(header):
            info = header[name]
            out.append((name, tuple(info["shape"]),
                        lambda p=path, i=info, s=start: _load_tensor(p, i, s)))
    return out


def write_safetensors(path, tensors):
    """tensors: [(name, shape, loader -> float32 array)], streamed one at a time."""
    header, pos = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in tensors:
        n = 4 * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [pos, pos + n]}
        pos += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the format pads the header with spaces to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape, load in tensors:
            a = np.ascontiguousarray(load(), dtype=np.float32)
            assert a.shape == tuple(shape), name
            f.write(a.tobytes())


# ------------------------------------------------------------------ sentencepiece

def _varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, pos


def _fields(buf):
    """Yield (field number, value) of a protobuf message: int or bytes (fixed32 as bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _varint(buf, pos)
        elif wire == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            v, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"sentencepiece model: unsupported wire type {wire}")
        yield num, v


def _int32(v):
    return v - (1 << 64) if v >= 1 << 63 else v  # negative int32 are 10-byte varints


def read_spm(path):
    """SentencePiece ModelProto -> dict(pieces=[(text, score, type)], unk_id, bos_id,
    eos_id, pad_id, add_dummy_prefix), with the proto's defaults for absent fields."""
    with open(path, "rb") as f:
        buf = f.read()
    spm = {"pieces": [], "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1,
           "add_dummy_prefix": True}
    for num, v in _fields(buf):
        if num == 1:  # SentencePiece: piece=1, score=2 (float), type=3
            p = {1: b"", 2: b"\0\0\0\0", 3: 1}
            p.update(_fields(v))
            spm["pieces"].append((p[1].decode("utf-8"), struct.unpack("<f", p[2])[0], p[3]))
        elif num == 2:  # TrainerSpec: unk_id=40, bos_id=41, eos_id=42, pad_id=43
            ids = dict(_fields(v))
            for k, fn in (("unk_id", 40), ("bos_id", 41), ("eos_id", 42), ("pad_id", 43)):
                spm[k] = _int32(ids.get(fn, spm[k]))
        elif num == 3:  # NormalizerSpec: add_dummy_prefix=3
            spm["add_dummy_prefix"] = bool(dict(_fields(v)).get(3, 1))
    return spm


def _looks_special(text):
    # convert_hf_to_gguf does_token_look_special, the part that can hit a Gemma vocabulary
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<unused") and text.endswith(">")))


def tokenizer_metadata(spm_path, ckpt, config):
    """What _set_vocab_sentencepiece + Gemma2Model.set_vocab write."""
    spm = read_spm(spm_path)
    n_vocab = config.get("vocab_size") or len(spm["pieces"])
    # ids past the pieces keep "[PAD{id}]", score -10000, UNUSED; pieces past n_vocab drop
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-10000.0] * n_vocab
    types = [UNUSED] * n_vocab
    for i, (text, score, ptype) in enumerate(spm["pieces"][:n_vocab]):
        tokens[i], scores[i], types[i] = text, score, SPM_TO_GGUF.get(ptype, NORMAL)

    def load(name):  # llama.cpp reads these from the model directory
        p = os.path.join(ckpt, name)
        if not os.path.isfile(p):
            return {}
        with open(p, encoding="utf-8") as f:
            return json.load(f)

    for text, i in load("added_tokens.json").items():
        if i < n_vocab:
            tokens[i], scores[i], types[i] = text, -1000.0, USER_DEFINED
    tok_config = load("tokenizer_config.json")
    for i, tok in tok_config.get("added_tokens_decoder", {}).items():
        i, text = int(i), tok["content"]
        if i >= n_vocab:
            continue
        if tok.get("special") or _looks_special(text):
            types[i] = CONTROL
        else:
            text, types[i] = text.replace("\u2581", " "), USER_DEFINED
        tokens[i], scores[i] = text, -1000.0

    md = {
        "tokenizer.ggml.model": G.string("llama"),
        "tokenizer.ggml.pre": G.string("default"),
        "tokenizer.ggml.tokens": G.array(G.STRING, tokens),
        "tokenizer.ggml.scores": G.array(G.FLOAT32, scores),
        "tokenizer.ggml.token_type": G.array(G.INT32, types),
    }
    # special ids: the tokenizer's own first, then config.json's (SpecialVocab's order)
    for kind, key in (("bos", "bos_token_id"), ("eos", "eos_token_id"),
                      ("unk", "unknown_token_id"), ("pad", "padding_token_id")):
        i = spm[kind + "_id"]
        if not 0 <= i < n_vocab:
            i = config.get(kind + "_token_id")
        if isinstance(i, int) and 0 <= i < n_vocab:
            md["tokenizer.ggml." + key] = G.u32(i)
    # Gemma 2's tokenizer_config.json says add_bos_token true, add_eos_token false
    for kind, default in (("bos", True), ("eos", False)):
        v = tok_config.get(f"add_{kind}_token", default)
        md[f"tokenizer.ggml.add_{kind}_token"] = G.boolean(v if isinstance(v, bool) else default)
    if isinstance(tok_config.get("chat_template"), str):
        md["tokenizer.chat_template"] = G.string(tok_config["chat_template"])
    md["tokenizer.ggml.add_space_prefix"] = G.boolean(False)  # Gemma2Model.set_vocab
    return md


# ------------------------------------------------------------------ model

def gguf_name(hf):
    if hf in TOP_NAMES:
        return TOP_NAMES[hf]
    parts = hf.split(".")
    if len(parts) >= 4 and parts[:2] == ["model", "layers"] and parts[2].isdecimal() \
            and parts[-1] == "weight" and ".".join(parts[3:-1]) in LAYER_NAMES:
        return f"blk.{int(parts[2])}.{LAYER_NAMES['.'.join(parts[3:-1])]}.weight"
    raise ValueError(f"can not map tensor {hf!r}")


def pick_type(name, shape, qtype, embed_type, fallbacks=None):
    """GGUF type of a tensor; fallbacks (a dict) counts the demotions made."""
    if len(shape) <= 1 or name.endswith("_norm.weight"):
        return "F32"
    t = embed_type if name == "token_embd.weight" and embed_type else qtype
    ncols = shape[-1]
    if ncols % block_size(t):
        fb = FALLBACK.get(t, t)
        if ncols % block_size(fb):
            fb = "F16"
        if fallbacks is not None:
            fallbacks[(t, fb)] = fallbacks.get((t, fb), 0) + 1
        t = fb
    return t


def model_metadata(config, qtype, name):
    hp = config

    def need(key):
        if hp.get(key) is None:
            raise ValueError(f"config.json: {key} is required")
        return hp[key]

    arch = "gemma2"
    return {
        "general.architecture": G.string(arch),
        "general.type": G.string("model"),
        "general.name": G.string(name),
        f"{arch}.context_length": G.u32(need("max_position_embeddings")),
        f"{arch}.embedding_length": G.u32(need("hidden_size")),
        f"{arch}.block_count": G.u32(need("num_hidden_layers")),
        f"{arch}.feed_forward_length": G.u32(need("intermediate_size")),
        f"{arch}.attention.head_count": G.u32(need("num_attention_heads")),
        f"{arch}.attention.head_count_kv": G.u32(hp.get("num_key_value_heads")
                                                 or need("num_attention_heads")),
        f"{arch}.attention.layer_norm_rms_epsilon": G.f32(need("rms_norm_eps")),
        f"{arch}.attention.key_length": G.u32(need("head_dim")),
        f"{arch}.attention.value_length": G.u32(need("head_dim")),
        "general.file_type": G.u32(FILE_TYPES[qtype]),
        f"{arch}.attn_logit_softcapping": G.f32(need("attn_logit_softcapping")),
        f"{arch}.final_logit_softcapping": G.f32(need("final_logit_softcapping")),
        f"{arch}.attention.sliding_window": G.u32(need("sliding_window")),
        "general.quantization_version": G.u32(GGML_QUANT_VERSION),
    }


def _prepare(load, name, t):
    w = load()
    if name.endswith("norm.weight"):
        w = w + np.float32(1)  # Gemma's RMSNorm scales by (1 + w); llama.cpp stores 1 + w
    return quantize(w, t)


def convert(ckpt, out, qtype, tokenizer=None, embed_type=None, dequantized_out=None, name=None):
    with open(os.path.join(ckpt, "config.json")) as f:
        config = json.load(f)
    if name is None:
        name = " ".join(w.capitalize() for w in os.path.basename(
            os.path.normpath(ckpt)).replace("_", "-").split("-") if w)
    md = model_metadata(config, qtype, name)
    if tokenizer:
        md.update(tokenizer_metadata(tokenizer, ckpt, config))
    tensors, hf_of, fallbacks = [], {}, {}
    for hf, shape, load in checkpoint_tensors(ckpt):
        if hf == "lm_head.weight":  # tied to the embeddings; llama.cpp skips it
            continue
        gn = gguf_name(hf)
        t = pick_type(gn, shape, qtype, embed_type, fallbacks)
        hf_of[gn] = (hf, shape)
        tensors.append(G.Tensor(gn, t, tuple(reversed(shape)),
                                lambda ld=load, n=hf, t=t: _prepare(ld, n, t)))
    for (a, b), n in fallbacks.items():
        print(f"make_gguf: {n} tensor(s) with rows not a multiple of the {a} block -> {b}",
              file=sys.stderr)
    G.write_gguf(out, md, tensors)
    if dequantized_out:
        write_dequantized(out, hf_of, ckpt, dequantized_out)


def write_dequantized(path, hf_of, ckpt, out_dir):
    """The GGUF's weights back under their HF names, float32, norms minus the +1."""
    g = G.read_gguf(path)
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(ckpt, "config.json"), os.path.join(out_dir, "config.json"))

    def load(t, hf):
        w = g.array(t)
        return w - np.float32(1) if hf.endswith("norm.weight") else w

    tensors = []
    for t in g.tensors:
        hf, shape = hf_of[t.name]
        tensors.append((hf, shape, lambda t=t, hf=hf, s=shape: load(t, hf).reshape(s)))
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--type", required=True, choices=sorted(TYPES))
    ap.add_argument("--tokenizer", help="SentencePiece tokenizer.model")
    ap.add_argument("--embed-type", choices=sorted(TYPES), help="type of token_embd.weight")
    ap.add_argument("--dequantized-out", metavar="DIR")
    ap.add_argument("--name", help="general.name (default: from the directory name)")
    a = ap.parse_args(argv)
    convert(a.checkpoint, a.out, a.type, a.tokenizer, a.embed_type, a.dequantized_out, a.name)


if __name__ == "__main__":
    main()
