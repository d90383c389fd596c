#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile GGUF files: `GEMMA2 info FILE` must refuse each one with exit status 1 (an
error, not a crash: no signal, no sanitizer report) and a message naming the problem.

A valid micro Gemma 2 GGUF (2 layers, hidden 32, 2 heads, 1 kv head, head_dim 16, ffn
64, a 64-token SentencePiece-like vocabulary with byte tokens) is written with our own
writer (gguf_file.py), then mutated: truncations, header fields, metadata keys and
values, tensor infos, tensor data, vocabulary. The unmutated file, the file with
alignment 64 and the file with its keys in another order must open (exit 0).

When the library beside the CLI (libgemma2.so) can be loaded by this Python (not a
sanitized build), each case's gemma2_model_open status is checked too, in a child
process; otherwise that check is skipped with a note. Files are written to OUT_DIR.

usage: test_hostile.py GEMMA2_CLI OUT_DIR      one line per case; exit 1 if any fails

micro_gguf() is also used by tests/fuzz/make_seeds.py for the seeds of the gguf target."""
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402

import gguf_file as G  # noqa: E402
import ggml_quant as Q  # noqa: E402

OK, UNSUPPORTED, FORMAT, VERSION = 0, 2, 5, 6  # GEMMA2_ERR_*
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Block types ggml_quant.py has no quantizer for: seeds get random blocks whose f16
# scales (at these byte offsets) are small and finite. name -> (id, elems, bytes, scales)
RAW_TYPES = {"Q2_K": (10, 256, 84, (80, 82)), "Q3_K": (11, 256, 110, (108,)),
             "IQ4_NL": (20, 32, 18, (0,)), "IQ4_XS": (23, 256, 136, (0,))}


def register_raw_types():
    """Teaches gguf_file's writer the sizes of RAW_TYPES (their data come from raw_blocks)."""
    for name, (tid, elems, size, _) in RAW_TYPES.items():
        Q.TYPES.setdefault(name, (tid, elems, size))
        Q.TYPE_NAMES.setdefault(tid, name)


def raw_blocks(t, n, rng):
    tid, elems, size, scales = RAW_TYPES[t]
    b = rng.integers(0, 256, (n // elems, size), dtype=np.uint8)
    for at in scales:
        b[:, at:at + 2] = np.frombuffer(struct.pack("<e", 0.002), np.uint8)
    return b.reshape(-1)


# ------------------------------------------------------------------ the micro model

def vocabulary(n=64):
    """(tokens, scores, types): Gemma's specials, a few byte tokens, pieces that merge."""
    v = [("<pad>", 0.0, CONTROL), ("<eos>", 0.0, CONTROL), ("<bos>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN),
         ("<start_of_turn>", 0.0, CONTROL), ("<end_of_turn>", 0.0, CONTROL), ("<mask>", -1000.0, USER_DEFINED),
         ("<unused0>", 0.0, UNUSED)]
    v += [("<0x%02X>" % b, 0.0, BYTE) for b in (0x00, 0x09, 0x0A, 0x20, 0x41, 0xC3, 0xA9, 0xFF)]
    pieces = ["\u2581", "e", "t", "a", "o", "l", "H", "w", "r", "d", ",", "!", "\u00e9", "\u65e5", "\u672c",
              "\u2581t", "he", "\u2581the", "\u2581a", "in", "er", "on", "\u2581w", "or", "ld", "\u2581wor",
              "\u2581world", "He", "ll", "llo", "Hello", "\u2581Hello", "lo", "el", "\u65e5\u672c", "ca", "f",
              "c", "caf", "\u2581caf", "h", "i", "n", "s", "\u2581\u2581", "\u2581\u2581\u2581\u2581", "z", "y"]
    v += [(p, -float(i + 1), NORMAL) for i, p in enumerate(pieces)]
    assert len(v) >= n and len({t for t, _, _ in v}) == len(v)
    return v[:n]


def tokenizer_metadata(n=64):
    v = vocabulary(n)
    return G.spm_vocab_metadata([t for t, _, _ in v], [s for _, s, _ in v], [k for _, _, k in v])


LAYER_TENSORS = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "post_attention_norm", "ffn_norm",
                 "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm"]


def micro_gguf(mat_type="F32", types=None, layers=2, hidden=32, heads=2, kv_heads=1, head_dim=16, ffn=64,
               vocab=64, tokenizer=True, seed=0):
    """(metadata, tensors) of a micro Gemma 2 for gguf_file.write_gguf. Every 2-D tensor is
    mat_type and every norm F32, unless types (GGUF name without "blk.N." and ".weight"
    -> type) says otherwise."""
    register_raw_types()
    types = types or {}
    rng = np.random.default_rng(seed)
    md = {
        "general.architecture": G.string("gemma2"),
        "general.type": G.string("model"),
        "general.name": G.string("Micro"),
        "gemma2.context_length": G.u32(64),
        "gemma2.embedding_length": G.u32(hidden),
        "gemma2.block_count": G.u32(layers),
        "gemma2.feed_forward_length": G.u32(ffn),
        "gemma2.attention.head_count": G.u32(heads),
        "gemma2.attention.head_count_kv": G.u32(kv_heads),
        "gemma2.attention.layer_norm_rms_epsilon": G.f32(1e-6),
        "gemma2.attention.key_length": G.u32(head_dim),
        "gemma2.attention.value_length": G.u32(head_dim),
        "gemma2.attn_logit_softcapping": G.f32(50.0),
        "gemma2.final_logit_softcapping": G.f32(30.0),
        "gemma2.attention.sliding_window": G.u32(4),
        "general.quantization_version": G.u32(2),
    }
    if tokenizer:
        md.update(tokenizer_metadata(vocab))

    def tensor(name, shape):  # shape outermost first, as Hugging Face's
        short = name.split(".", 2)[2] if name.startswith("blk.") else name
        short = short[:-len(".weight")]
        if len(shape) == 1:
            t, x = types.get(short, "F32"), 1.0 + rng.normal(0, 0.1, shape)
        else:
            t, x = types.get(short, mat_type), rng.normal(0, 0.1, shape)
        n = int(np.prod(shape))
        data = raw_blocks(t, n, rng) if t in RAW_TYPES else Q.quantize(x.astype(np.float32), t)
        return G.Tensor(name, t, tuple(reversed(shape)), data)

    q, kv = heads * head_dim, kv_heads * head_dim
    shapes = {"attn_norm": (hidden,), "attn_q": (q, hidden), "attn_k": (kv, hidden), "attn_v": (kv, hidden),
              "attn_output": (hidden, q), "post_attention_norm": (hidden,), "ffn_norm": (hidden,),
              "ffn_gate": (ffn, hidden), "ffn_up": (ffn, hidden), "ffn_down": (hidden, ffn),
              "post_ffw_norm": (hidden,)}
    tensors = [tensor("token_embd.weight", (vocab, hidden)), tensor("output_norm.weight", (hidden,))]
    for layer in range(layers):
        tensors += [tensor(f"blk.{layer}.{s}.weight", shapes[s]) for s in LAYER_TENSORS]
    return md, tensors


def gguf_bytes(md, tensors, path, **kw):
    """The bytes write_gguf writes (through path, removed after)."""
    G.write_gguf(path, md, tensors, **kw)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


# ------------------------------------------------------------------ binary surgery

def layout(data):
    """Where things are: {"kv": {key: dict(start, type_at, value_at, end)},
    "tensors": {name: dict(start, ndims_at, ne_at, type_at, offset_at)}, "data": offset}."""
    at = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)

    def string(at):
        n = struct.unpack_from("<Q", data, at)[0]
        return data[at + 8:at + 8 + n], at + 8 + n

    def value(vtype, at):
        if vtype == G.STRING:
            return string(at)[1]
        if vtype == G.ARRAY:
            etype, count = struct.unpack_from("<IQ", data, at)
            at += 12
            for _ in range(count):
                at = value(etype, at)
            return at
        return at + struct.calcsize("<" + G._FMT[vtype])

    out = {"kv": {}, "tensors": {}}
    for _ in range(n_kv):
        start = at
        key, at = string(at)
        vtype = struct.unpack_from("<I", data, at)[0]
        end = value(vtype, at + 4)
        out["kv"][key.decode()] = dict(start=start, type_at=at, value_at=at + 4, end=end)
        at = end
    for _ in range(n_tensors):
        start = at
        name, at = string(at)
        n_dims = struct.unpack_from("<I", data, at)[0]
        rec = dict(start=start, ndims_at=at, ne_at=at + 4, type_at=at + 4 + 8 * n_dims,
                   offset_at=at + 8 + 8 * n_dims)
        out["tensors"][name.decode()] = rec
        at = rec["offset_at"] + 8
    out["data"] = at + (-at) % 32
    return out


def patch(data, at, fmt, *values):
    b = bytearray(data)
    struct.pack_into("<" + fmt, b, at, *values)
    return bytes(b)


# ------------------------------------------------------------------ the cases

TRUNCATED = ("truncated", "too small", "past the end", "outside the file", "ends before",
             "more pairs or tensors than the file")


def cases(tmp):
    """(name, file bytes, substrings of which one must be in stderr, status or None); a
    None substring list means the file must open."""
    md, tensors = micro_gguf()
    base_path = os.path.join(tmp, "base.gguf")
    base = gguf_bytes(md, tensors, base_path)
    lay = layout(base)
    kv, ti = lay["kv"], lay["tensors"]
    out = [("valid", base, None, OK)]

    def variant(name, md2=None, tensors2=None, **kw):
        return gguf_bytes(md if md2 is None else md2, tensors if tensors2 is None else tensors2,
                          os.path.join(tmp, name + ".src.gguf"), **kw)

    out.append(("valid alignment 64", variant("align64", alignment=64), None, OK))
    out.append(("valid keys reversed", variant("reversed", dict(reversed(list(md.items())))), None, OK))
    out.append(("valid tensors reversed", variant("treversed", tensors2=tensors[::-1]), None, OK))
    m = dict(md)
    m["gemma2.attention.sliding_window_pattern"] = G.array(G.BOOL, [True, False])
    m["gemma2.attention.head_count_kv"] = G.array(G.UINT32, [1, 1])
    out.append(("valid per-layer arrays", variant("perlayer", m), None, OK))

    # truncations
    for i in range(20):
        n = len(base) * i // 20
        out.append((f"truncated at {n}", base[:n], TRUNCATED, None))
    for n in range(24):
        out.append((f"header truncated at {n}", base[:n], TRUNCATED, None))
    out.append(("truncated in the last tensor", base[:-100], ("outside the file",), FORMAT))
    infos_end = max(r["offset_at"] for r in ti.values()) + 8
    assert infos_end % 32, "the micro file needs padding before its data"
    out.append(("truncated after the tensor infos", base[:infos_end], ("ends before its data section",), FORMAT))

    # header
    out.append(("bad magic", b"GGUX" + base[4:], ("bad magic",), FORMAT))
    for v in (0, 1, 4):
        out.append((f"version {v}", patch(base, 4, "I", v), (f"GGUF version {v} is not supported",), VERSION))
    out.append(("n_tensors 2^62", patch(base, 8, "Q", 1 << 62), ("more pairs or tensors",), FORMAT))
    out.append(("n_kv 2^62", patch(base, 16, "Q", 1 << 62), ("more pairs or tensors",), FORMAT))
    out.append(("n_kv 2^64-1", patch(base, 16, "Q", (1 << 64) - 1), ("more pairs or tensors",), FORMAT))
    out.append(("n_kv one too many", patch(base, 16, "Q", len(kv) + 1), TRUNCATED, FORMAT))

    # metadata pairs
    first = kv["general.architecture"]
    out.append(("key length 2^63", patch(base, first["start"], "Q", 1 << 63), ("metadata key",), FORMAT))
    out.append(("key length 0", patch(base, first["start"], "Q", 0), ("metadata key",), FORMAT))
    name = kv["general.name"]
    out.append(("string length past the end",
                patch(base, name["value_at"], "Q", len(base) - name["value_at"] - 8 + 1),
                ("runs past the end",), FORMAT))
    out.append(("string length 2^64-1", patch(base, name["value_at"], "Q", (1 << 64) - 1),
                ("runs past the end",), FORMAT))
    toks = kv["tokenizer.ggml.tokens"]
    out.append(("string array count 2^60", patch(base, toks["value_at"] + 4, "Q", 1 << 60),
                ("runs past the end",), FORMAT))
    scores = kv["tokenizer.ggml.scores"]
    out.append(("f32 array count 2^62", patch(base, scores["value_at"] + 4, "Q", 1 << 62),
                ("runs past the end",), FORMAT))
    out.append(("f32 array count 2^64-1", patch(base, scores["value_at"] + 4, "Q", (1 << 64) - 1),
                ("runs past the end",), FORMAT))
    out.append(("value type 13", patch(base, name["type_at"], "I", 13), ("value type",), FORMAT))
    out.append(("value type 2^32-1", patch(base, name["type_at"], "I", 0xFFFFFFFF), ("value type",), FORMAT))
    out.append(("array element type 13", patch(base, toks["value_at"], "I", 13), ("element type",), FORMAT))
    m = dict(md)
    m["general.nested"] = (G.ARRAY, (G.ARRAY, [(G.UINT32, [1, 2])]))
    out.append(("nested array", variant("nested", m), ("nested arrays",), FORMAT))

    # architecture and hyperparameters
    def edit(label, expect, status, drop=(), **values):
        m = dict(md)
        for k in drop:
            del m[k]
        m.update({k.replace("__", "."): v for k, v in values.items()})
        out.append((label, variant(label.replace(" ", "_"), m), expect, status))

    m = dict(md)
    m["gemma2.block_count"] = (G.UINT8, 2)
    m["gemma2.attention.head_count"] = (G.INT16, 2)
    m["gemma2.attention.head_count_kv"] = (G.INT8, 1)
    m["gemma2.feed_forward_length"] = (G.UINT16, 64)
    m["gemma2.context_length"] = (G.INT64, 64)
    m["gemma2.attention.layer_norm_rms_epsilon"] = (G.FLOAT64, 1e-6)
    out.append(("valid integer widths and an f64", variant("widths", m), None, OK))
    m2 = dict(md)
    m2["gemma2.attention.head_count"] = (G.INT16, -2)
    out.append(("head_count -2 as i16", variant("i16", m2), ("attention.head_count' is out of range",), FORMAT))
    m2 = dict(md)
    m2["gemma2.attention.layer_norm_rms_epsilon"] = (G.FLOAT64, 1e300)
    out.append(("rms epsilon f64 1e300", variant("f64", m2), ("layer_norm_rms_epsilon' is out of range",), FORMAT))
    mn, tn = micro_gguf(types={"attn_norm": "BF16", "output_norm": "F16", "ffn_norm": "Q8_0"})
    out.append(("valid BF16, F16 and Q8_0 norms", variant("norms", mn, tn), None, OK))
    edit("architecture llama", ("is not Gemma 2",), UNSUPPORTED, general__architecture=G.string("llama"))
    edit("architecture a number", ("general.architecture' is not a string",), FORMAT,
         general__architecture=G.u32(2))
    edit("architecture missing", ("general.architecture is missing",), FORMAT, drop=["general.architecture"])
    edit("block_count missing", ("'gemma2.block_count' is missing",), FORMAT, drop=["gemma2.block_count"])
    edit("block_count 0", ("n_layers = 0 is out of range",), FORMAT, gemma2__block_count=G.u32(0))
    edit("block_count 100000", ("n_layers = 100000 is out of range",), FORMAT,
         gemma2__block_count=G.u32(100000))
    edit("block_count negative", ("gemma2.block_count' is out of range",), FORMAT,
         gemma2__block_count=G.i32(-2))
    edit("block_count 3", ("tensor 'blk.2.attn_norm.weight' is missing",), FORMAT, gemma2__block_count=G.u32(3))
    edit("block_count 1", ("'blk.1.", "not part of a Gemma 2 model of 1 layers"), FORMAT,
         gemma2__block_count=G.u32(1))
    edit("block_count a string", ("gemma2.block_count' is not an integer",), FORMAT,
         gemma2__block_count=G.string("2"))
    edit("head_count 0", ("head_count is 0",), FORMAT, gemma2__attention__head_count=G.u32(0))
    edit("head_count_kv not dividing", ("not a multiple of n_kv_heads",), FORMAT,
         gemma2__attention__head_count_kv=G.u32(3))
    edit("head_count_kv per layer differs", ("differs between layers",), FORMAT,
         gemma2__attention__head_count_kv=G.array(G.UINT32, [1, 2]))
    edit("head_count_kv 0", ("n_kv_heads = 0 is out of range",), FORMAT, gemma2__attention__head_count_kv=G.u32(0))
    edit("head_count_kv empty array", ("is not a non-empty array",), FORMAT,
         gemma2__attention__head_count_kv=G.array(G.UINT32, []))
    edit("head_count_kv array of strings", ("is not a non-empty array",), FORMAT,
         gemma2__attention__head_count_kv=G.array(G.STRING, ["1", "1"]))
    edit("context_length 2^32-1", ("context_length = 4294967295 is out of range",), FORMAT,
         gemma2__context_length=G.u64((1 << 32) - 1))
    edit("context_length 2^32", ("gemma2.context_length' is out of range",), FORMAT,
         gemma2__context_length=G.u64(1 << 32))
    edit("key_length odd", ("must be even",), FORMAT, gemma2__attention__key_length=G.u32(15),
         gemma2__attention__value_length=G.u32(15))
    edit("value_length differs", ("value_length 8 differs",), UNSUPPORTED,
         gemma2__attention__value_length=G.u32(8))
    edit("embedding_length 0", ("hidden_size = 0 is out of range",), FORMAT,
         gemma2__embedding_length=G.u32(0))
    edit("rms epsilon NaN", ("non-finite",), FORMAT,
         gemma2__attention__layer_norm_rms_epsilon=G.f32(float("nan")))
    edit("softcap infinite", ("non-finite",), FORMAT, gemma2__final_logit_softcapping=G.f32(float("inf")))
    edit("rope scaling", ("RoPE scaling",), UNSUPPORTED, gemma2__rope__scaling__factor=G.f32(2.0))
    edit("sliding_window 0", ("sliding_window = 0 is out of range",), FORMAT,
         gemma2__attention__sliding_window=G.u32(0))
    edit("sliding_window_pattern wrong length", ("not one bool per layer",), FORMAT,
         gemma2__attention__sliding_window_pattern=G.array(G.BOOL, [True, False, True]))
    edit("sliding_window_pattern 0", ("sliding_window_pattern is 0",), FORMAT,
         gemma2__attention__sliding_window_pattern=G.u32(0))

    # alignment (the writer aligns to the key's value, so write 32 and patch the value)
    m = dict(md)
    m["general.alignment"] = G.u32(32)
    aligned = variant("alignment32", m)
    at = layout(aligned)["kv"]["general.alignment"]["value_at"]
    for a in (3, 0, 1 << 31):
        out.append((f"alignment {a}", patch(aligned, at, "I", a), ("general.alignment must be a power of two",),
                    FORMAT))
    m["general.alignment"] = G.u64(32)
    out.append(("alignment as u64", variant("alignment64bit", m), ("general.alignment must be",), FORMAT))

    # tensor infos
    def retensor(label, expect, status, change=None, add=()):
        ts = [change(t) if change else t for t in tensors]
        ts = [t for t in ts if t is not None] + list(add)
        out.append((label, variant(label.replace(" ", "_"), tensors2=ts), expect, status))

    rng = np.random.default_rng(7)

    def f32_tensor(name, ne):
        return G.Tensor(name, "F32", ne, rng.normal(0, 0.1, int(np.prod(ne))).astype(np.float32))

    retensor("wrong shape", ("'blk.0.attn_q.weight' has the wrong shape",), FORMAT,
             lambda t: f32_tensor(t.name, (16, 64)) if t.name == "blk.0.attn_q.weight" else t)
    retensor("1-D where 2-D", ("'blk.0.attn_k.weight' has the wrong shape",), FORMAT,
             lambda t: f32_tensor(t.name, (512,)) if t.name == "blk.0.attn_k.weight" else t)
    retensor("extra unknown tensor", ("'blk.0.foo.weight' is not part of a Gemma 2 model",), FORMAT,
             add=[f32_tensor("blk.0.foo.weight", (32,))])
    retensor("layer number leading zero", ("'blk.01.attn_norm.weight' is not part",), FORMAT,
             lambda t: f32_tensor("blk.01.attn_norm.weight", (32,)) if t.name == "blk.1.attn_norm.weight" else t)
    retensor("output.weight", ("untied output.weight is not supported",), UNSUPPORTED,
             add=[f32_tensor("output.weight", (32, 64))])
    retensor("output.weight instead of a tensor", ("untied output.weight is not supported",), UNSUPPORTED,
             lambda t: f32_tensor("output.weight", (32, 64)) if t.name == "blk.1.ffn_up.weight" else t)
    retensor("missing tensor", ("tensor 'blk.1.ffn_up.weight' is missing",), FORMAT,
             lambda t: None if t.name == "blk.1.ffn_up.weight" else t)
    retensor("missing output_norm", ("tensor 'output_norm.weight' is missing",), FORMAT,
             lambda t: None if t.name == "output_norm.weight" else t)
    retensor("missing token_embd", ("'token_embd.weight' is missing",), FORMAT,
             lambda t: None if t.name == "token_embd.weight" else t)
    retensor("no tensors", ("'token_embd.weight' is missing",), FORMAT, lambda t: None)
    # the same name twice: write another name of the same length, then rename it
    for label, change, add in (
            ("same tensor twice", lambda t: t._replace(name="blk.0.attn_q.weighX")
             if t.name == "blk.1.attn_q.weight" else t, ()),
            ("same tensor twice, one extra", None, [f32_tensor("blk.0.attn_q.weighX", (32, 32))])):
        ts = [change(t) if change else t for t in tensors] + list(add)
        data = variant("twice", tensors2=ts)
        at = layout(data)["tensors"]["blk.0.attn_q.weighX"]["start"] + 8
        data = data[:at] + b"blk.0.attn_q.weight" + data[at + 19:]
        out.append((label, data, ("'blk.0.attn_q.weight' appears twice",), FORMAT))

    q = ti["blk.0.attn_q.weight"]
    off = struct.unpack_from("<Q", base, q["offset_at"])[0]
    out.append(("tensor offset misaligned", patch(base, q["offset_at"], "Q", off + 1), ("misaligned",), FORMAT))
    out.append(("tensor offset past the end", patch(base, q["offset_at"], "Q", 1 << 40),
                ("outside the file",), FORMAT))
    out.append(("tensor offset 2^64-32", patch(base, q["offset_at"], "Q", (1 << 64) - 32),
                ("outside the file",), FORMAT))
    last = max(ti.values(), key=lambda r: struct.unpack_from("<Q", base, r["offset_at"])[0])
    out.append(("tensor data past the end", patch(base, last["offset_at"], "Q", len(base) - lay["data"]),
                ("outside the file",), FORMAT))
    for ne in (0, 1 << 41, (1 << 64) - 1):
        out.append((f"tensor ne {ne}", patch(base, q["ne_at"], "Q", ne), ("absurd dimension",), FORMAT))
    out.append(("tensor ne product 2^80", patch(patch(base, q["ne_at"], "Q", 1 << 40), q["ne_at"] + 8, "Q", 1 << 40),
                ("absurd dimension",), FORMAT))
    out.append(("tensor n_dims 0", patch(base, q["ndims_at"], "I", 0), ("dimensions",), FORMAT))
    out.append(("tensor n_dims 5", patch(base, q["ndims_at"], "I", 5), ("dimensions",), FORMAT))
    out.append(("tensor name length 2^63", patch(base, q["start"], "Q", 1 << 63), ("tensor info",), FORMAT))
    out.append(("tensor name with NUL", patch(base, q["start"] + 8, "B", 0), ("NUL",), FORMAT))
    out.append(("ggml type 99", patch(base, q["type_at"], "I", 99), ("unknown type 99",), UNSUPPORTED))
    out.append(("ggml type IQ2_XXS", patch(base, q["type_at"], "I", 16), ("type IQ2_XXS",), UNSUPPORTED))
    out.append(("ggml type Q4_K on 32 columns", patch(base, q["type_at"], "I", 12),
                ("not a whole number of Q4_K blocks",), FORMAT))

    # tensor values
    mq, tq = micro_gguf("Q8_0")
    q8 = variant("q8", mq, tq)
    out.append(("valid Q8_0", q8, None, OK))
    lq = layout(q8)
    at = lq["data"] + struct.unpack_from("<Q", q8, lq["tensors"]["token_embd.weight"]["offset_at"])[0]
    out.append(("Q8_0 NaN scale in token_embd", patch(q8, at, "H", 0x7E00), ("NaN or infinite",), FORMAT))
    out.append(("Q8_0 infinite scale in token_embd", patch(q8, at, "H", 0x7C00), ("NaN or infinite",), FORMAT))
    mb, tb = micro_gguf("BF16")
    bf = variant("bf16", mb, tb)
    out.append(("valid BF16", bf, None, OK))
    lb = layout(bf)
    at = lb["data"] + struct.unpack_from("<Q", bf, lb["tensors"]["blk.1.ffn_down.weight"]["offset_at"])[0]
    out.append(("BF16 NaN in ffn_down", patch(bf, at + 6, "H", 0x7FC0), ("NaN or infinite",), FORMAT))
    out.append(("BF16 infinity in ffn_down", patch(bf, at + 6, "H", 0xFF80), ("NaN or infinite",), FORMAT))
    at = lay["data"] + struct.unpack_from("<Q", base, ti["output_norm.weight"]["offset_at"])[0]
    out.append(("F32 infinity in output_norm", patch(base, at + 4, "f", float("inf")), ("NaN or infinite",), FORMAT))
    mk, tk = micro_gguf("Q4_0", types={"ffn_down": "Q4_K"}, ffn=256)
    qk = variant("q4k", mk, tk)
    out.append(("valid Q4_K", qk, None, OK))
    lk = layout(qk)
    at = lk["data"] + struct.unpack_from("<Q", qk, lk["tensors"]["blk.0.ffn_down.weight"]["offset_at"])[0]
    out.append(("Q4_K NaN dmin", patch(qk, at + 2, "H", 0x7E00), ("NaN or infinite",), FORMAT))

    # vocabulary
    v = vocabulary()

    def vocab(label, expect, status, tokens=None, scores=None, ttypes=None, **values):
        m = dict(md)
        if tokens is not None:
            m["tokenizer.ggml.tokens"] = G.array(G.STRING, tokens)
        if scores is not None:
            m["tokenizer.ggml.scores"] = G.array(G.FLOAT32, scores)
        if ttypes is not None:
            m["tokenizer.ggml.token_type"] = ttypes
        m.update({k.replace("__", "."): x for k, x in values.items()})
        out.append((label, variant(label.replace(" ", "_"), m), expect, status))

    toks = [t for t, _, _ in v]
    sc = [s for _, s, _ in v]
    ty = [k for _, _, k in v]
    vocab("tokenizer gpt2", ("tokenizer model 'gpt2' is not supported",), UNSUPPORTED,
          tokenizer__ggml__model=G.string("gpt2"))
    vocab("tokens count != scores count", ("tokenizer.ggml.scores' is not an array of 64",), FORMAT,
          scores=sc[:-1])
    vocab("tokens count != token_type count", ("tokenizer.ggml.token_type' is not an array of 64",), FORMAT,
          ttypes=G.array(G.INT32, ty + [1]))
    vocab("scores not f32", ("tokenizer.ggml.scores' is not an array",), FORMAT,
          tokenizer__ggml__scores=G.array(G.FLOAT64, sc))
    vocab("tokens not strings", ("tokenizer.ggml.tokens is missing or not a list",), FORMAT,
          tokenizer__ggml__tokens=G.array(G.UINT32, range(64)))
    vocab("tokens empty", ("tokenizer.ggml.tokens is missing or not a list",), FORMAT, tokens=[], scores=[],
          ttypes=G.array(G.INT32, []))
    vocab("more tokens than token_embd rows", ("more than the 64 rows",), FORMAT,
          tokens=toks + ["\u2581x"], scores=sc + [-99.0], ttypes=G.array(G.INT32, ty + [1]))
    vocab("token invalid UTF-8", ("not valid UTF-8",), FORMAT, tokens=toks[:20] + [b"\xc3\x28"] + toks[21:])
    vocab("token overlong UTF-8", ("not valid UTF-8",), FORMAT, tokens=toks[:20] + [b"\xc0\xaf"] + toks[21:])
    vocab("token empty", ("0 bytes",), FORMAT, tokens=toks[:20] + [""] + toks[21:])
    vocab("token 2000 bytes", ("too long",), FORMAT, tokens=toks[:20] + ["x" * 2000] + toks[21:])
    vocab("two identical tokens", ("are both",), FORMAT, tokens=toks[:21] + [toks[20]] + toks[22:])
    vocab("token_type 9", ("unknown token type",), FORMAT, ttypes=G.array(G.INT32, ty[:30] + [9] + ty[31:]))
    vocab("token_type -1", ("unknown token type",), FORMAT, ttypes=G.array(G.INT32, ty[:30] + [-1] + ty[31:]))
    vocab("NaN score", ("NaN score",), FORMAT, scores=sc[:30] + [float("nan")] + sc[31:])
    vocab("byte token <0xZZ>", ("not <0xHH>",), FORMAT, tokens=toks[:8] + ["<0xZZ>"] + toks[9:])
    vocab("byte token lower-case", ("not <0xHH>",), FORMAT, tokens=toks[:8] + ["<0xff>"] + toks[9:])
    vocab("bos id past the vocab", ("outside the vocabulary",), FORMAT,
          tokenizer__ggml__bos_token_id=G.u32(1000))
    vocab("unknown id past the vocab", ("unknown_token_id = 64 is not a token id",), FORMAT,
          tokenizer__ggml__unknown_token_id=G.u32(64))
    vocab("add_space_prefix not a bool", ("add_space_prefix' is not a bool",), FORMAT,
          tokenizer__ggml__add_space_prefix=G.u32(1))
    return out


# ------------------------------------------------------------------ running them

STATUS_CHILD = r"""
import ctypes, json, sys
lib = ctypes.CDLL(sys.argv[1])
lib.gemma2_model_open.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
lib.gemma2_model_close.argtypes = [ctypes.c_void_p]
out = []
for path in sys.argv[2:]:
    m = ctypes.c_void_p()
    out.append(lib.gemma2_model_open(path.encode(), None, ctypes.byref(m)))
    lib.gemma2_model_close(m)
print(json.dumps(out))
"""


def statuses(cli, paths):
    """gemma2_model_open's status of each path, or None if the library cannot be loaded
    here (a sanitized build)."""
    lib = os.path.join(os.path.dirname(os.path.realpath(cli)), "libgemma2.so")
    if not os.path.exists(lib):
        return None
    r = subprocess.run([sys.executable, "-c", STATUS_CHILD, lib] + paths, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


SANITIZER = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error")


def main():
    if len(sys.argv) != 3:
        print("usage: test_hostile.py GEMMA2_CLI OUT_DIR", file=sys.stderr)
        return 2
    cli, out_dir = sys.argv[1:3]
    os.makedirs(out_dir, exist_ok=True)
    all_cases = cases(out_dir)
    paths = []
    for i, (name, data, _, _) in enumerate(all_cases):
        path = os.path.join(out_dir, "%03d-%s.gguf" % (i, "".join(c if c.isalnum() else "_" for c in name)))
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    got_status = statuses(cli, paths)
    if got_status is None:
        print("note: libgemma2.so beside the CLI cannot be loaded here: open statuses not checked")
    failed = 0
    for i, ((name, data, expect, status), path) in enumerate(zip(all_cases, paths)):
        try:
            r = subprocess.run([cli, "info", path], capture_output=True, text=True, errors="replace", timeout=120)
            code, err = r.returncode, r.stderr
        except subprocess.TimeoutExpired:
            code, err = None, "timed out"
        problems = []
        if expect is None:
            if code != 0:
                problems.append(f"exit {code}, expected 0")
        else:
            if code != 1:
                problems.append(f"exit {code}, expected 1")
            if not any(e in err for e in expect):
                problems.append("stderr names none of " + " / ".join(repr(e) for e in expect))
        if any(s in err for s in SANITIZER):
            problems.append("sanitizer report")
        if got_status is not None and status is not None and got_status[i] != status:
            problems.append(f"status {got_status[i]}, expected {status}")
        elif got_status is not None and status is None and expect is not None and got_status[i] == OK:
            problems.append("opens through the API")
        msg = err.strip().splitlines()[-1] if err.strip() else ""
        print(("ok   " if not problems else "FAIL ") + f"{name}: " + ("; ".join(problems) + " | " if problems else "")
              + msg[:200])
        if problems:
            failed += 1
            if any(s in err for s in SANITIZER) or code is None or (code or 0) < 0:
                print(err[-3000:])
    print(f"{len(all_cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
