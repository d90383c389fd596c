#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tools/llama-compare/synthetic_gguf.py, at its tiny size: the GGUF it writes has
Gemma 2's tensors in the asked types and shapes, every block's scale is the fixed
small one, the same seed gives the same bytes and another seed other ones, and
gemma2 opens the file (its GGUF import) and gives finite, varied logits.

usage: test_synthetic_gguf.py GEMMA2 OUT_DIR    Exit 0 on success, 1 on failure,
77 without numpy."""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import numpy as np
except ImportError:
    sys.exit(77)
import gguf_file as G  # noqa: E402

SCRIPT = os.path.join(HERE, "..", "..", "tools", "llama-compare", "synthetic_gguf.py")
# tiny: hidden 256, 2 layers, 4 heads / 2 KV heads of 64, ffn 512, vocabulary 1024
SHAPES = {"token_embd": (256, 1024), "attn_q": (256, 256), "attn_k": (256, 128), "attn_v": (256, 128),
          "attn_output": (256, 256), "ffn_gate": (256, 512), "ffn_up": (256, 512), "ffn_down": (512, 256)}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def write(out, qtype, *extra):
    subprocess.run([sys.executable, SCRIPT, out, "--size", "tiny", "--type", qtype, *extra], check=True)
    return G.read_gguf(out)


def block_scales(raw, qtype):
    """Each block's f16 scale d (Q6_K: d and its 16 int8 sub-scales)."""
    if qtype == "Q8_0":
        return raw.reshape(-1, 34)[:, 0:2].copy().view(np.float16).ravel(), None
    if qtype == "Q4_0":
        return raw.reshape(-1, 18)[:, 0:2].copy().view(np.float16).ravel(), None
    b = raw.reshape(-1, 210)
    return b[:, 208:210].copy().view(np.float16).ravel(), b[:, 192:208].view(np.int8)


def main():
    gemma2, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    for qtype, embed, want_embed in (("Q8_0", None, "Q8_0"), ("Q4_0", None, "Q6_K"), ("Q4_0", "Q4_0", "Q4_0")):
        name = f"{qtype}-{embed or 'default'}"
        path = os.path.join(out_dir, f"synthetic-{name}.gguf")
        f = write(path, qtype, *(["--embed-type", embed] if embed else []))
        md = f.metadata
        check(md["general.architecture"][1] == "gemma2", f"{name}: architecture")
        check(md["gemma2.block_count"][1] == 2, f"{name}: block_count")
        check(len(md["tokenizer.ggml.tokens"][1][1]) == 1024, f"{name}: vocabulary size")
        tensors = {t.name: t for t in f.tensors}
        check(len(tensors) == 2 + 2 * 11, f"{name}: {len(tensors)} tensors")
        for t in tensors.values():
            kind = t.name.split(".")[-2] if t.name.startswith("blk.") else t.name.split(".")[0]
            if kind.endswith("norm"):
                check(t.type == "F32" and np.all(f.array(t) == 1), f"{name}: {t.name} is not F32 ones")
                continue
            want = want_embed if kind == "token_embd" else qtype
            check(t.type == want, f"{name}: {t.name} is {t.type}, want {want}")
            check(tuple(t.ne) == SHAPES[kind], f"{name}: {t.name} has ne {tuple(t.ne)}")
            d, sub = block_scales(np.frombuffer(f.raw(t), np.uint8), t.type)
            want_d = np.float16(0.002) / (np.float16(16) if t.type == "Q6_K" else 1)
            check(np.all(d == want_d), f"{name}: {t.name} has block scales other than {want_d}")
            if sub is not None:
                check(np.all(sub == 16), f"{name}: {t.name} has Q6_K sub-scales other than 16")
        # gemma2 opens it: shapes, the types it came in, finite logits that vary
        info = subprocess.run([gemma2, "info", path], capture_output=True, text=True)
        check(info.returncode == 0, f"{name}: gemma2 info exit {info.returncode}: {info.stderr}")
        check("heads / kv heads:      4 / 2" in info.stdout, f"{name}: gemma2 info heads")
        check(f"({want_embed} in the file)" in info.stdout, f"{name}: gemma2 info embedding type")
        logits = subprocess.run([gemma2, "logits", path, "--tokens", "2,10,20,30", "--out", "-", "-t", "1"],
                                capture_output=True)
        check(logits.returncode == 0, f"{name}: gemma2 logits exit {logits.returncode}")
        v = np.frombuffer(logits.stdout, "<f4")
        check(v.size == 4 * 1024 and np.all(np.isfinite(v)) and np.ptp(v) > 0,
              f"{name}: {v.size} logits, finite {np.all(np.isfinite(v))}")
    # seeds
    a, b, c = (os.path.join(out_dir, f"seed-{i}.gguf") for i in "abc")
    for p, seed in ((a, "1"), (b, "1"), (c, "2")):
        write(p, "Q8_0", "--seed", seed)
    with open(a, "rb") as fa, open(b, "rb") as fb, open(c, "rb") as fc:
        da, db, dc = fa.read(), fb.read(), fc.read()
    check(da == db, "the same seed gave different files")
    check(da != dc and len(da) == len(dc), "another seed gave the same file")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
