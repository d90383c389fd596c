#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every SIMD path and thread count computes the same bits: for the q8 and q4 models of
a golden checkpoint, the logits of the whole golden prompt (`gemma2 logits`) and 24
greedy tokens after it (`gemma2 generate`), and 24 tokens sampled with a fixed seed
(temperature, top-k, top-p, min-p and a repetition penalty: docs/sampling.md), are
compared byte for byte with the scalar path on one thread, for GEMMA2_ISA forced to each table (one this CPU lacks falls back
lower, which then compares a table with itself) and 1 and 2 threads. The kernels
follow one canonical order of operations (lib/tensor/quant.h), so this is exact.
usage: same_tokens.py GEMMA2 CHECKPOINT_DIR"""
import json
import os
import subprocess
import sys
import tempfile

ISAS = ["scalar", "avx2", "avxvnni", "avx512", "avx512vbmi", "amx", "neon"]
SAMPLING = ["--temp", "1.5", "--top-k", "40", "--top-p", "0.95", "--min-p", "0.01", "--repeat-penalty", "1.1",
            "--seed", "7"]


def main():
    gemma2, ckpt = sys.argv[1], sys.argv[2]
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
                    out = os.path.join(tmp, "logits.f32")
                    subprocess.run([gemma2, "logits", model, "--tokens", tokens, "--out", out, "-t", threads],
                                   env=env, check=True)
                    with open(out, "rb") as f:
                        logits = f.read()
                    generated = subprocess.run(
                        [gemma2, "generate", model, "--tokens", tokens, "-n", "24", "-t", threads], env=env,
                        check=True, capture_output=True, text=True).stdout.strip()
                    sampled = subprocess.run(
                        [gemma2, "generate", model, "--tokens", tokens, "-n", "24", "-t", threads] + SAMPLING,
                        env=env, check=True, capture_output=True, text=True).stdout.strip()
                    runs[(isa, threads)] = (logits, generated, sampled)
            reference = runs[("scalar", "1")]
            if reference[2] == reference[1]:
                failed += 1
                print(f"{dtype}: the sampled tokens equal the greedy ones: the sampler did nothing")
            for (isa, threads), (logits, generated, sampled) in runs.items():
                if logits != reference[0]:
                    failed += 1
                    print(f"{dtype} GEMMA2_ISA={isa} -t {threads}: logits differ from the scalar path's")
                if generated != reference[1]:
                    failed += 1
                    print(f"{dtype} GEMMA2_ISA={isa} -t {threads}: {generated}\n  scalar: {reference[1]}")
                if sampled != reference[2]:
                    failed += 1
                    print(f"{dtype} GEMMA2_ISA={isa} -t {threads} sampled: {sampled}\n  scalar: {reference[2]}")
            print(f"{dtype}: {len(runs)} runs, {'all the same' if not failed else 'DIFFERENT'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
