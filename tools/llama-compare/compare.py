#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""gemma2 bench and llama.cpp, run alternately on synthetic Gemma 2 2B models.

usage: compare.py [--rounds 4] [-t 2] [-p 512] [-n 64] [--types q8,q4] [--same-bits]
                  [--no-mmap] [--gemma2 PATH] [--work DIR]

Sets up, once, in --work (default ~/.cache/gemma2/llama-compare): node-llama-cpp
(pinned, its prebuilt llama.cpp CPU libraries) from the npm registry, the Gemma
tokenizer.json, GGUF files from synthetic_gguf.py and gemma2 models from `gemma2
convert --synthetic 2b`. Then each round runs, per type, `gemma2 bench` and
llama_bench.mjs one after the other (the order flips every round), one repetition
each, and prints both engines' tok/s and their ratio. The memory bandwidth of these
machines drifts from minute to minute, so only ratios from one round mean much; the
summary gives each ratio's median and range over the rounds.

The embedding: by default each engine gets its own default (gemma2's q4 keeps the
tied embedding in q8, llama-quantize gives Q4_0 models a Q6_K one), so the files
differ in size; decode is then also compared per byte (tok/s × file bytes).
--same-bits puts both at 4.5 (q4 / Q4_0) or 8.5 (q8 / Q8_0) bits for every matrix.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE_LLAMA_CPP = "node-llama-cpp@3.22.1"
GGUF_TYPE = {"q8": "Q8_0", "q4": "Q4_0"}


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def setup_node(work):
    node_dir = os.path.join(work, "node")
    marker = os.path.join(node_dir, "node_modules", "node-llama-cpp", "package.json")
    if not os.path.isfile(marker):
        os.makedirs(node_dir, exist_ok=True)
        with open(os.path.join(node_dir, "package.json"), "w") as f:
            json.dump({"name": "llama-compare", "private": True, "type": "module"}, f)
        # --ignore-scripts: the prebuilt binaries come as optional dependencies; no build
        run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", NODE_LLAMA_CPP], cwd=node_dir)
    with open(marker) as f:
        version = json.load(f)["version"]
    if version != NODE_LLAMA_CPP.split("@")[1]:
        sys.exit(f"compare.py: {marker} is version {version}, want {NODE_LLAMA_CPP}")
    shutil.copy(os.path.join(HERE, "llama_bench.mjs"), node_dir)
    return node_dir


def setup_models(args, work):
    tok = subprocess.run(["sh", os.path.join(ROOT, "tests", "tokenizer", "fetch_gemma_tokenizer.sh"),
                          os.path.join(work, "tokenizer")], check=True, capture_output=True, text=True)
    tokenizer = tok.stdout.strip()
    models = {}
    for q in args.types:
        # q8 files are the same with or without --same-bits: both embeddings are 8.5 bits
        suffix = "-same" if args.same_bits and q == "q4" else ""
        gguf = os.path.join(work, f"2b-{GGUF_TYPE[q]}{suffix}.gguf")
        g2 = os.path.join(work, f"2b-{q}{suffix}.g2")
        if not os.path.isfile(gguf):
            extra = ["--embed-type", GGUF_TYPE[q]] if args.same_bits else []
            run([args.python, os.path.join(HERE, "synthetic_gguf.py"), gguf + ".tmp", "--tokenizer", tokenizer,
                 "--type", GGUF_TYPE[q]] + extra)
            os.replace(gguf + ".tmp", gguf)
        if not os.path.isfile(g2):
            extra = ["--embed-dtype", q] if args.same_bits else []
            run([args.gemma2, "convert", "--synthetic", "2b", "--dtype", q, "--tokenizer", tokenizer]
                + extra + [g2])
        models[q] = (g2, gguf)
    return models


def gemma2_bench(args, model):
    out = run([args.gemma2, "bench", model, "-t", str(args.t), "-p", str(args.p), "-n", str(args.n),
               "-r", "1", "--json"], capture_output=True, text=True).stdout
    j = json.loads(out)
    return j.get("prefill_tok_s"), j.get("decode_tok_s")


def llama_bench(args, node_dir, model):
    cmd = ["node", "llama_bench.mjs", model, "-t", str(args.t), "-p", str(args.p), "-n", str(args.n), "-r", "1"]
    if args.no_mmap:
        cmd.append("--no-mmap")
    out = run(cmd, cwd=node_dir, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    return j.get("prefill_tok_s"), j.get("decode_tok_s")


def ratio_line(name, values):
    if not values:
        return f"{name}: no data"
    return (f"{name}: median {statistics.median(values):.2f}, range {min(values):.2f}-{max(values):.2f} "
            f"({len(values)} rounds)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("--types", default="q8,q4")
    ap.add_argument("--same-bits", action="store_true")
    ap.add_argument("--no-mmap", action="store_true", help="llama.cpp reads the weights into memory")
    ap.add_argument("--gemma2", default=None, help="the gemma2 CLI (default build-rel/gemma2, else build/gemma2)")
    ap.add_argument("--python", default="/usr/bin/python3", help="a python3 with numpy")
    ap.add_argument("--work", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                   os.path.expanduser("~/.cache"), "gemma2", "llama-compare"))
    args = ap.parse_args(argv)
    args.types = [q for q in args.types.split(",") if q]
    if any(q not in GGUF_TYPE for q in args.types):
        ap.error("--types takes q8 and q4")
    if args.gemma2 is None:
        for b in ("build-rel", "build"):
            if os.access(os.path.join(ROOT, b, "gemma2"), os.X_OK):
                args.gemma2 = os.path.join(ROOT, b, "gemma2")
                break
        else:
            ap.error("no gemma2 CLI found: build it or pass --gemma2")
    os.makedirs(args.work, exist_ok=True)
    node_dir = setup_node(args.work)
    models = setup_models(args, args.work)
    ratios = {(q, k): [] for q in args.types for k in ("prefill", "decode", "decode_per_byte")}
    print(f"{'round':>5} {'type':>4} {'engine':>9} {'pp tok/s':>9} {'tg tok/s':>9}")
    for r in range(args.rounds):
        for q in args.types:
            g2, gguf = models[q]
            order = ("gemma2", "llama.cpp") if r % 2 == 0 else ("llama.cpp", "gemma2")
            res = {}
            for engine in order:
                res[engine] = gemma2_bench(args, g2) if engine == "gemma2" else llama_bench(args, node_dir, gguf)
                pp, tg = res[engine]
                print(f"{r + 1:>5} {q:>4} {engine:>9} {pp or 0:9.2f} {tg or 0:9.2f}", flush=True)
            (gp, gt), (lp, lt) = res["gemma2"], res["llama.cpp"]
            if gp and lp:
                ratios[(q, "prefill")].append(gp / lp)
            if gt and lt:
                ratios[(q, "decode")].append(gt / lt)
                ratios[(q, "decode_per_byte")].append(gt * os.path.getsize(g2) / (lt * os.path.getsize(gguf)))
    print(f"gemma2 / llama.cpp, {args.t} threads, pp{args.p}, tg{args.n}"
          + (", same bits" if args.same_bits else "") + (", llama.cpp without mmap" if args.no_mmap else ""))
    for q in args.types:
        g2, gguf = models[q]
        print(f"{q}: gemma2 {os.path.getsize(g2) / 1e9:.2f} GB, llama.cpp {GGUF_TYPE[q]} "
              f"{os.path.getsize(gguf) / 1e9:.2f} GB")
        for k in ("prefill", "decode", "decode_per_byte"):
            print("  " + ratio_line(k, ratios[(q, k)]))


if __name__ == "__main__":
    main()
