# SPDX-License-Identifier: Apache-2.0
"""Reference logits of the demo model from a second implementation: our PyTorch
forward (model.py) over the weights of models/demo-q8.g2 as stored, for
tests/demo/test_demo.py to compare `gemma2 logits` with.

usage: export_logits.py GEMMA2 MODEL.g2 OUT_DIR [--checkpoint DIR]

The q8 matrices are dequantized exactly (tensorfiles.G2File) and the forward runs in
float64, so the reference R differs from gemma2's q8 logits L only by what gemma2 does
differently on purpose or by rounding:

(a) activation quantization: gemma2 stores each matmul input in blocks of 32 as
    d * (256 hi + lo), d = max|x_b| / 127 / 256 (docs/quantization.md), moving every
    input element by up to d/2 (d at an exact tie), which the layers then propagate;
(b) float32 rounding in gemma2.

As tests/quant/dequant_match.py argues for the same comparison, no closed formula
bounds how (a) grows through the layers, so we propagate its error model: N_s = R_s - R
for seeds s = 0..3, where R_s is the float64 forward with every element of every matmul
input (q/k/v and gate/up sharing one draw, as they share one quantization; the output
projection included, the embedding lookup not) moved by an independent uniform error in
[-d/2, d/2] of its block. gemma2's D = L - R is one more draw of that random field, plus
(b), estimated by F = R32 - R, our own forward in float32 against float64. The test
requires, with N pooled over the seeds and everything over the stored logits,

    rms(D) <= 2 rms(N) + 3 rms(F),     max|D| <= 3 max|N| + 3 max|F| + max|R| 2^-24

dequant_match.py's factors (2 and 3, 1.5x and 1.85x the worst of its further draws),
with F's factor 2 raised to 3 because D here also holds gemma2's own float32 rounding
(about rms(F): the existing test measures that separately), and the last term for
storing R as float32. F is 1-2% of N, so this loosens the bound by about that.

Stored: the logits of every position of three short prompts, and of the last positions
of a prompt longer than the sliding window (so local layers mask), float32
little-endian, rows in the order of reference.json's "prompts"; reference.json holds the
ids, shapes, error-model statistics, and the model file's sha256."""
import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
from tensorfiles import TYPE_Q8, G2File, read_safetensors  # noqa: E402

QK = 32
ACT_UNIT = 1.0 / (127 * 256)  # an activation step relative to its block's largest |x|
SEEDS = 4
# (name, text, number of final positions stored; None = all): well-known verses, short
# to keep the stored logits small (16 KB a position), and one past the sliding window.
PROMPTS = [
    ("genesis", "And God said, Let there be light", None),
    ("john", "In the beginning was the Word", None),
    ("matthew", "Blessed are the poor in spirit", None),
    ("psalm", "The LORD is my shepherd; I shall not want. He maketh me to lie down in green "
              "pastures: he leadeth me beside the still waters. He restoreth my soul: he leadeth "
              "me in the paths of righteousness for his name's sake. Yea, though I walk through "
              "the valley of the shadow of death, I will fear no evil: for thou art with me.", 12),
]


def model_from_g2(g2, dtype):
    c = g2.config
    cfg = M.Config(vocab=c["vocab_size"], hidden=c["hidden_size"], ffn=c["ffn_size"], layers=c["n_layers"],
                   heads=c["n_heads"], kv_heads=c["n_kv_heads"], head_dim=c["head_dim"],
                   context=c["context_length"], window=c["sliding_window"], eps=c["rms_norm_eps"],
                   rope_theta=c["rope_theta"], query_pre_attn_scalar=c["query_pre_attn_scalar"],
                   attn_softcap=c["attn_softcap"], final_softcap=c["final_softcap"], kinds=c["layer_kinds"])
    m = M.Gemma2(cfg).to(dtype)
    m.load_hf_state_dict(g2.hf_tensors())  # float32 values, exact in float64
    m.eval()
    return m


def check_against_checkpoint(g2, checkpoint):
    """Every dequantized q8 weight is a nearest value of its block's grid to the trained
    float weight: pins our reading of the layout (and the converter's rounding)."""
    orig = read_safetensors(os.path.join(checkpoint, "model.safetensors"))
    worst = 0.0
    for t in g2.tensors:
        w = orig[t["name"]].astype(np.float64)
        deq = g2.tensor(t).astype(np.float64)
        if t["type"] != TYPE_Q8:
            assert np.array_equal(w, deq), t["name"]
            continue
        rows, cols = w.shape
        assert cols % QK == 0, t["name"]
        nblk = rows * cols // QK  # the f16 scales follow the nblk * 32 int8 quants
        d = np.frombuffer(g2.raw(t), "<f2", nblk, nblk * QK).astype(np.float64).reshape(rows, -1)
        d = np.repeat(d, QK, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            best = np.abs(w - np.where(d > 0, np.clip(np.rint(w / d), -127, 127), 0) * d)
        worst = max(worst, float((np.abs(w - deq) - best).max() / np.abs(w).max()))
    if worst > 1e-6:
        raise SystemExit(f"a dequantized weight is not the nearest q8 value (excess {worst:.2e} of max|w|)")
    print("checkpoint: every q8 weight of the file is the nearest grid value to the trained weight")


class ActivationNoise:
    """model.matmul_input under the error model: each element moved by an independent
    uniform error in [-d/2, d/2], d = max|x_b| / 127 / 256 per block of 32 (no error
    where max|x_b| < 2^-100, which gemma2 quantizes to zero)."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, x):
        n = x.shape[-1]
        assert n % QK == 0
        xb = x.reshape(x.shape[:-1] + (n // QK, QK))
        amax = xb.abs().to(torch.float32).amax(dim=-1, keepdim=True).to(x.dtype)
        d = torch.where(amax >= 2.0 ** -100, amax * ACT_UNIT, torch.zeros_like(amax))
        u = torch.rand(xb.shape, generator=self.gen, dtype=x.dtype) - 0.5
        return (xb + d * u).reshape(x.shape)


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gemma2")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--checkpoint", help="the trained checkpoint, to check the dequantized weights against")
    args = ap.parse_args()
    torch.set_num_threads(2)
    g2 = G2File(args.model)
    if args.checkpoint:
        check_against_checkpoint(g2, args.checkpoint)
    m64, m32 = model_from_g2(g2, torch.float64), model_from_g2(g2, torch.float32)
    bos = g2.config["bos_id"]

    rows_R, rows_F, rows_N, prompts = [], [], [], []
    for name, text, last in PROMPTS:
        enc = subprocess.run([args.gemma2, "tokenize", args.model, "--plain"], input=text.encode(),
                             check=True, capture_output=True).stdout
        ids = [bos] + [int(t) for t in enc.split(b",")]
        keep = slice(0, len(ids)) if last is None else slice(len(ids) - last, len(ids))
        x = torch.tensor([ids])
        with torch.no_grad():
            R = m64(x)[0].numpy()
            R32 = m32(x)[0].double().numpy()
            N = []
            for seed in range(SEEDS):
                m64.matmul_input = ActivationNoise(1000 * len(prompts) + seed)
                N.append(m64(x)[0].numpy() - R)
            m64.matmul_input = lambda v: v
        rows_R.append(R[keep])
        rows_F.append((R32 - R)[keep])
        rows_N.append(np.stack(N)[:, keep])
        prompts.append(dict(name=name, text=text, ids=ids, positions=[keep.start, keep.stop],
                            rows=keep.stop - keep.start))
        print(f"{name}: {len(ids)} tokens, stored positions {keep.start}..{keep.stop - 1}")
    R, F, N = np.concatenate(rows_R), np.concatenate(rows_F), np.concatenate(rows_N, axis=1)
    window = g2.config["sliding_window"]
    assert any(p["positions"][1] > window for p in prompts), "no prompt exercises the sliding window"

    os.makedirs(args.out, exist_ok=True)
    R.astype("<f4").tofile(os.path.join(args.out, "reference-logits.f32"))
    with open(args.model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    spread = rms(R - R.mean(axis=1, keepdims=True))
    info = dict(
        what="logits of our PyTorch forward (tools/train-demo/model.py) in float64 over the dequantized "
             "weights of the model file, stored as float32 little-endian, [rows, vocab_size], rows = the "
             "stored positions of each prompt in order",
        made_by="tools/train-demo/export_logits.py (see its docstring for the error model and bound)",
        model=os.path.basename(args.model), model_sha256=sha, vocab_size=int(R.shape[1]), rows=int(R.shape[0]),
        sliding_window=window, file="reference-logits.f32", prompts=prompts,
        error_model=dict(seeds=SEEDS, rms_N=rms(N), max_N=float(np.abs(N).max()),
                         per_seed_rms_N=[rms(n) for n in N], rms_F=rms(F), max_F=float(np.abs(F).max()),
                         max_abs_R=float(np.abs(R).max()), logit_spread=spread),
        bound=dict(rms="2 rms_N + 3 rms_F", max="3 max_N + 3 max_F + max_abs_R * 2^-24",
                   tokens="argmax equal where the reference's top-1 leads by more than 2 x the max bound"),
    )
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    e = info["error_model"]
    print(f"wrote {R.shape[0]} x {R.shape[1]} logits; error model rms {e['rms_N']:.3g} max {e['max_N']:.3g}, "
          f"float32 vs float64 rms {e['rms_F']:.2g} max {e['max_F']:.2g}, logit spread {spread:.3g}")


if __name__ == "__main__":
    main()
