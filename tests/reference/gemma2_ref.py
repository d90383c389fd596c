#!/usr/bin/env python3
"""Independent numpy reference of the Gemma 2 forward pass (float64 by default).

Reads a Hugging Face checkpoint folder (config.json + model.safetensors, or
model.safetensors.index.json + shards) with a stdlib safetensors parser.
Written from the formulas in shared/DESIGN.md and shared/golden/model/README.md;
it shares no code with the C library, so the two can check each other.

  gemma2_ref.py selftest DATA_DIR...        prove the reference on golden cases
  gemma2_ref.py logits CKPT --tokens 2,5 --out FILE [--f32]
  gemma2_ref.py generate CKPT --tokens 2,5 -n N [--f32]
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- safetensors


def _decode(dtype, raw, shape):
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2")
    elif dtype == "BF16":
        # bf16 is the high half of a float32: widen exactly.
        a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4")
    else:
        raise ValueError("unsupported safetensors dtype %s" % dtype)
    n = 1
    for s in shape:
        n *= s
    if a.size != n:
        raise ValueError("tensor size %d does not match shape %s" % (a.size, shape))
    return a.astype(np.float64).reshape(shape)


def read_safetensors(path):
    """Returns {name: (float64 array, source dtype string)}."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if not (0 <= b <= e and base + e <= len(blob)):
            raise ValueError("%s: bad data_offsets for %s" % (path, name))
        out[name] = (_decode(info["dtype"], blob[base + b:base + e], info["shape"]),
                     info["dtype"])
    return out


def read_checkpoint(folder):
    """Returns (config dict, {name: float64 array})."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for fn in files:
        for k, (v, _) in read_safetensors(os.path.join(folder, fn)).items():
            if k in tensors:
                raise ValueError("tensor %s appears in two shards" % k)
            tensors[k] = v
    return cfg, tensors

# ---------------------------------------------------------------- model


class Model:
    def __init__(self, folder):
        cfg, t = read_checkpoint(folder)
        self.cfg = cfg
        self.V = cfg["vocab_size"]
        self.H = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        # Defaults only matter for hand-written configs: HF always writes these.
        self.d = cfg.get("head_dim") or self.H // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        self.qpas = cfg.get("query_pre_attn_scalar", 256)  # HF default
        self.window = cfg.get("sliding_window")
        self.attn_cap = cfg.get("attn_logit_softcapping")
        self.final_cap = cfg.get("final_logit_softcapping")
        lt = cfg.get("layer_types")
        if lt is not None:
            if len(lt) != self.L:
                raise ValueError("layer_types has %d entries, want %d" % (len(lt), self.L))
            self.local = [x == "sliding_attention" for x in lt]
        else:
            self.local = [l % 2 == 0 for l in range(self.L)]
        if self.nh % self.nkv:
            raise ValueError("heads %d not a multiple of kv heads %d" % (self.nh, self.nkv))
        self.t = t
        self._cast = {}

    def w(self, name, dtype):
        key = (name, dtype)
        if key not in self._cast:
            self._cast[key] = self.t[name].astype(dtype)
        return self._cast[key]


def rmsnorm(x, w, eps):
    # w already includes the +1 (done in the caller's dtype).
    ms = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(ms + x.dtype.type(eps)) * w


def gelu_tanh(x):
    c = x.dtype.type(math.sqrt(2.0 / math.pi))
    return x.dtype.type(0.5) * x * (1 + np.tanh(c * (x + x.dtype.type(0.044715) * x * x * x)))


def rope_tables(n, d, theta, dtype):
    # Angles in float32 as the reference implementations compute them
    # (float32 inv_freq, float32 pos*inv_freq); cos/sin then in `dtype`.
    half = d // 2
    i = np.arange(half, dtype=np.float32)
    inv = (np.float32(1.0) / (np.float32(theta) ** (np.float32(2.0) * i / np.float32(d))))
    ang = np.arange(n, dtype=np.float32)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=1).astype(dtype)
    return np.cos(ang), np.sin(ang)


def apply_rope(x, cos, sin):
    # x: [heads, T, d]; rotate-half pairs (i, i + d/2).
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def softcap(x, cap):
    if cap is None or cap == 0:
        return x
    c = x.dtype.type(cap)
    return c * np.tanh(x / c)


def forward(m, ids, dtype=np.float64, want_hidden=False, cache=None):
    """Logits [T, V] of the tokens ids, computed in dtype.

    Without cache: a prefill from position 0. With cache (a dict, start with
    {}): ids continue the sequence whose keys/values the cache holds, and the
    cache is extended -- the decode path of greedy().
    """
    ids = np.asarray(ids, dtype=np.int64)
    if ids.min() < 0 or ids.max() >= m.V:
        raise ValueError("token id out of range")
    T, d, nh, nkv = len(ids), m.d, m.nh, m.nkv
    if cache is None:
        cache = {}
    P = cache.get("pos", 0)  # positions already cached
    f = dtype
    one = f(1)
    # Normalizer sqrt(H) rounded to float32, as the reference does.
    x = m.w("model.embed_tokens.weight", f)[ids] * f(np.float32(math.sqrt(m.H)))
    cos, sin = rope_tables(P + T, d, m.theta, f)
    cos, sin = cos[P:], sin[P:]
    scale = f(m.qpas ** -0.5)
    i = np.arange(P, P + T)[:, None]  # query positions
    j = np.arange(P + T)[None, :]      # key positions
    causal = j <= i
    group = nh // nkv
    for l in range(m.L):
        p = "model.layers.%d." % l
        mask = causal
        if m.local[l] and m.window is not None:
            mask = causal & (i - j < m.window)
        h = rmsnorm(x, one + m.w(p + "input_layernorm.weight", f), m.eps)
        q = (h @ m.w(p + "self_attn.q_proj.weight", f).T).reshape(T, nh, d).transpose(1, 0, 2)
        k = (h @ m.w(p + "self_attn.k_proj.weight", f).T).reshape(T, nkv, d).transpose(1, 0, 2)
        v = (h @ m.w(p + "self_attn.v_proj.weight", f).T).reshape(T, nkv, d).transpose(1, 0, 2)
        q = apply_rope(q, cos, sin) * scale
        k = apply_rope(k, cos, sin)
        if P:
            k = np.concatenate([cache["k"][l], k], axis=1)
            v = np.concatenate([cache["v"][l], v], axis=1)
        cache.setdefault("k", [None] * m.L)[l] = k
        cache.setdefault("v", [None] * m.L)[l] = v
        kk = np.repeat(k, group, axis=0)  # head hh uses kv head hh // group
        vv = np.repeat(v, group, axis=0)
        s = softcap(q @ kk.transpose(0, 2, 1), m.attn_cap)
        s = np.where(mask[None], s, f(-np.inf))
        s = s - s.max(axis=-1, keepdims=True)
        e = np.exp(s)
        pr = e / e.sum(axis=-1, keepdims=True)
        o = (pr @ vv).transpose(1, 0, 2).reshape(T, nh * d)
        a = o @ m.w(p + "self_attn.o_proj.weight", f).T
        x = x + rmsnorm(a, one + m.w(p + "post_attention_layernorm.weight", f), m.eps)
        h = rmsnorm(x, one + m.w(p + "pre_feedforward_layernorm.weight", f), m.eps)
        g = gelu_tanh(h @ m.w(p + "mlp.gate_proj.weight", f).T)
        u = h @ m.w(p + "mlp.up_proj.weight", f).T
        y = (g * u) @ m.w(p + "mlp.down_proj.weight", f).T
        x = x + rmsnorm(y, one + m.w(p + "post_feedforward_layernorm.weight", f), m.eps)
    cache["pos"] = P + T
    hid = rmsnorm(x, one + m.w("model.norm.weight", f), m.eps)
    head = "lm_head.weight" if "lm_head.weight" in m.t else "model.embed_tokens.weight"
    logits = softcap(hid @ m.w(head, f).T, m.final_cap)
    return (logits, hid) if want_hidden else logits


def greedy(m, ids, n, dtype=np.float64, recompute=False):
    """n greedy ids after ids (argmax, lowest index on ties, no EOS stop).

    Decodes with the reference's KV cache, or with recompute=True by a full
    prefill of the prefix each step (slow; shares nothing with a cache).
    Returns (ids, rows, margins): rows[k] = logits that chose ids[k],
    margins[k] = top1 - top2 of that row.
    """
    cache = {}
    row = forward(m, ids, dtype, cache=cache)[-1]
    seq = list(ids)
    out, rows, margins = [], [], []
    for step in range(n):
        if step:
            if recompute:
                row = forward(m, seq, dtype)[-1]
            else:
                row = forward(m, seq[-1:], dtype, cache=cache)[-1]
        t = int(np.argmax(row))  # np.argmax returns the first maximum
        top2 = np.partition(row, -2)[-2:]
        margins.append(float(top2[1] - top2[0]))
        rows.append(row)
        out.append(t)
        seq.append(t)
    return out, np.array(rows), margins

# ---------------------------------------------------------------- self test


def selftest(dirs):
    ok = True
    for dd in dirs:
        g = json.load(open(os.path.join(dd, "golden.json")))
        m = Model(dd)
        ids = g["input_ids"]
        want = np.fromfile(os.path.join(dd, "logits.f32"), dtype="<f4").reshape(len(ids), m.V)
        tol = g["tolerances_suggested"]["f32_compute"]["logits_atol"]
        got, hid = forward(m, ids, want_hidden=True)
        diff = float(np.max(np.abs(got - want)))
        # float32 rounding noise of this same code, for scale
        noise = float(np.max(np.abs(forward(m, ids, np.float32) - got)))
        hd = os.path.join(dd, "hidden.f32")
        hdiff = None
        if os.path.exists(hd):
            wh = np.fromfile(hd, dtype="<f4").reshape(len(ids), m.H)
            hdiff = float(np.max(np.abs(hid - wh)) / np.max(np.abs(wh)))
        gids, rows, margins = greedy(m, ids, g["n_generate"])
        dl = np.fromfile(os.path.join(dd, "decode_logits.f32"), dtype="<f4")
        ddiff = float(np.max(np.abs(rows - dl.reshape(rows.shape))))
        # The cached decode must equal a plain prefill of the whole sequence.
        full = forward(m, ids + gids[:-1])[len(ids) - 1:]
        cdiff = float(np.max(np.abs(full - rows)))
        match = gids == g["greedy_ids"]
        good = diff <= tol and ddiff <= tol and match and cdiff < 1e-9
        ok &= good
        print("%s: prefill max|diff| %.3g, decode max|diff| %.3g (atol %g); "
              "f32 noise %.3g; cache vs prefill %.2g; hidden rel %.3g; greedy %s (min margin %.3g) -> %s"
              % (os.path.basename(os.path.normpath(dd)), diff, ddiff, tol,
                 noise, cdiff, hdiff if hdiff is not None else float("nan"),
                 "match" if match else "MISMATCH", min(margins), "ok" if good else "FAIL"))
    print("reference self test: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("selftest")
    s.add_argument("dirs", nargs="+")
    for name in ("logits", "generate"):
        s = sub.add_parser(name)
        s.add_argument("ckpt")
        s.add_argument("--tokens", required=True)
        s.add_argument("--f32", action="store_true", help="compute in float32")
        if name == "logits":
            s.add_argument("--out", required=True)
        else:
            s.add_argument("-n", type=int, default=16)
    a = ap.parse_args(argv)
    if a.cmd == "selftest":
        return selftest(a.dirs)
    m = Model(a.ckpt)
    ids = [int(x) for x in a.tokens.split(",")]
    dt = np.float32 if a.f32 else np.float64
    if a.cmd == "logits":
        forward(m, ids, dt).astype("<f4").tofile(a.out)
    else:
        print(",".join(str(t) for t in greedy(m, ids, a.n, dt)[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
