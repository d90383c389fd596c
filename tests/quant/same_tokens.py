#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Greedy tokens of q8 and q4 models of a golden checkpoint, for every SIMD path
(GEMMA2_ISA forced one by one) and thread count.
  --threads  each path gives the same tokens with 1 and 2 threads (guaranteed: work is
             split by whole rows, each computed by the same code)
  --isas     every path gives the scalar path's tokens (not guaranteed yet: the tables
             sum block products in different float orders, and activation rounding can
             amplify that; see docs/quantization.md)
usage: same_tokens.py GEMMA2 CHECKPOINT_DIR --threads|--isas"""
import json
import os
import subprocess
import sys
import tempfile

ISAS = ["scalar", "avx2", "avx512", "neon"]  # a forced ISA the CPU lacks falls back lower


def main():
    gemma2, ckpt, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    golden = json.load(open(os.path.join(ckpt, "golden.json")))
    tokens = ",".join(map(str, golden["input_ids"]))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("q8", "q4"):
            model = os.path.join(tmp, dtype + ".g2")
            subprocess.run([gemma2, "convert", ckpt, model, "--dtype", dtype], check=True)
            runs = {}
            for isa in ISAS:
                for threads in ("1", "2"):
                    env = dict(os.environ, GEMMA2_ISA=isa)
                    out = subprocess.run([gemma2, "generate", model, "--tokens", tokens, "-n", "24", "-t", threads],
                                         env=env, check=True, capture_output=True, text=True).stdout.strip()
                    runs[(isa, threads)] = out
            for key, out in runs.items():
                first = runs[("scalar", "1")] if mode == "--isas" else runs[(key[0], "1")]
                if out != first:
                    failed += 1
                    print(f"{dtype} GEMMA2_ISA={key[0]} -t {key[1]}: {out}\n  reference: {first}")
            print(f"{dtype}: {len(runs)} runs, {'all the same' if not failed else 'DIFFERENT'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
