#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The q8 / q4 forward pass equals a float32 forward over the same dequantized weights,
within the error that activation quantization explains.

For dtype q8 and q4: `gemma2 convert --dtype DTYPE`; every quantized tensor of the .g2 file
is dequantized exactly (w = f16 scale * q, or f16 scale * K[nibble]: an 11-bit significand
times an integer below 128, exact in float32; lib/tensor/quant.h) into a float32 copy of
the checkpoint under the Hugging Face names, the norms copied bit for bit from the
original; that copy goes through `gemma2 convert --dtype f32`. Both models run `gemma2
logits` on the golden input_ids. The quantized model then multiplies the very same weights
(checked: the f32 model holds exactly the dequantized values, and every dequantized weight
is the nearest representable value to the checkpoint's, which pins the packing), so

    D = L_q - L_f   (logits [T][V] of the quantized and of the float32 model)

can come only from (a) the quantization of each matmul input and (b) float rounding.

Error model. (a) Each matmul input is cut into blocks of 32 and stored as
d * (256 hi + lo) with d = max|x_b| / 127 / 256. Inputs of q8 matrices have two digits:
the lo digit is x / d rounded to the nearest integer, so every input value is moved by
an error uniform in [-d/2, d/2] (up to d at an exact tie), at most 1/32512 = 2^-15 of
its block's largest value. Inputs read only by q4 matrices have one digit (lo = 0): hi
is x / (256 d) rounded, an error uniform in [-128 d, 128 d], 2^-8 of the largest value.
A matmul output row r moves by sum_i w_ri delta_i, |.| <= sum_b d_b sum_{i in b} |w_ri|.
(b) Float32 rounding: gemma2's float32 forward over the dequantized weights differs
from a float64 forward over them (tests/reference/gemma2_ref.py) by F = L_f - R_f; the
quantized path's float work (one fmaf per block, float32 scales) is of the same order.

How much an input error of 2^-15 grows by the logits depends on the model: max|D| is
about 20 x 2^-15 of the logits' spread on tiny-a and about 1000 x on tiny-b, whose
attention scores run far past the soft-cap (rms|D|: 3-4 x and 100 x). No closed formula
serves both, so the bound propagates the error model itself: N_s = R_s - R_f for seeds
s = 0..3, where R_s is the float64 reference forward over the dequantized weights with
every element of every quantized matmul input (q/k/v and gate/up sharing one draw, as
they share one quantization; the final logit matmul included; the embedding lookup,
which reads an exactly dequantized row, not) moved by an independent uniform error of
its block's step, as above for the matrix's type. gemma2's D is then one more draw of the same random field
(its roundings cannot be predicted one by one: float32 noise of 2^-20 or so in the
activations already decides many lo digits), so its size must match the N_s. The bound,
with N pooling the four seeds:

    rms(D)   <= 2 rms(N)  + 2 rms(F)       (rms over all T x V logits)
    max|D|   <= 3 max|N|  + 2 max|F|

Margins: on tiny-a and tiny-b, q8 (two digits), twelve further seeds, each a legitimate
draw, reach 0.81..1.35 x rms(N) and 0.30..1.62 x max|N| (tiny-b's heavy tail); q4 (one
digit) 0.95..1.16 and 0.69..1.21. gemma2 measures 0.90..1.19 and 0.53..0.81 (q8),
0.96..1.10 and 0.87..0.97 (q4). So the factors are at least 1.5 x and 1.85 x the worst
legitimate draw. Errors add in quadrature, so the rms bound fails on any extra error
source of rms above sqrt(3) rms(N). With two-digit inputs (q8, and q4 when it had
them), planted in the float32 copy, one f16 ulp on every scale of the embedding (or
of every matrix), one q4 codebook level off by one, or a single int8 activation digit
failed on both checkpoints; one ulp on every scale of one layer's q_proj failed on
tiny-a only; one ulp on a single block's scale passed (it is below what activation
quantization does anyway). q4's one-digit N is 120..250 x larger, so its run catches
only errors of that size: the q8 run keeps the fine check of everything the two
share, and the nearest-grid check above pins the q4 weights themselves. F gets a factor 2 because both gemma2 runs
round in float32; it is 1% (tiny-b) or less of N.

Greedy tokens: where the float32 model's top-1 logit leads the runner-up by more than
2 x the max bound, the quantized model must pick the same token at that position (on
tiny-a; a near-tie closer than that may flip, and is listed). tiny-b is ill-conditioned
(golden.json "stress"): its agreement is reported, only the bounds are required.

Exit 0 when every bound holds, 1 otherwise, 77 (skip) without numpy.
usage: dequant_match.py GEMMA2 CHECKPOINT_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train-demo"))

try:
    import numpy as np
except ImportError:
    print("dequant_match.py: numpy is required, skipping")
    sys.exit(77)

import gemma2_ref  # noqa: E402
from clitest import parse_model  # noqa: E402
from weight_only import read_safetensors, write_safetensors  # noqa: E402
from tensorfiles import block_order, scale_order  # noqa: E402  (the format, in numpy)

F32 = np.float32
QK = 32
TYPE_F32, TYPE_Q8, TYPE_Q4 = 0, 2, 3  # lib/model/format.h
Q4_CODEBOOK = (-123, -99, -79, -62, -46, -32, -19, -6, 6, 19, 32, 46, 62, 79, 99, 123)  # G2_Q4_CODEBOOK
ACT_UNIT = 1.0 / (127 * 256)  # an activation's step, relative to its block's largest |x|
ACT_STEP = {"q8": ACT_UNIT, "q4": 256 * ACT_UNIT}  # two digits for q8 inputs, one for q4 (quant.h)
SHARED_INPUTS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))  # one quantization each
SEEDS = 4
RMS_FACTOR, MAX_FACTOR, FLOAT_FACTOR = 2.0, 3.0, 2.0


def dequantize(data, h, e):
    """The float32 [rows, cols] a quantized directory entry stands for, and its f16
    scales (as float32, one per block of 32, row-major)."""
    rows, cols = e["dims"][0], e["dims"][1]
    assert e["n_dims"] == 2 and e["compression"] == 0, e["name"]
    nblk = rows * ((cols + QK - 1) // QK)
    base = h["data_offset"] + e["offset"]
    if e["type"] == TYPE_Q8:
        q = np.frombuffer(data, np.int8, nblk * QK, base)
        q = q[block_order(rows, nblk // rows, QK)].astype(F32).reshape(nblk, QK)
        qbytes = nblk * QK
    else:  # byte j of a block: element j in the low nibble, j + 16 in the high one
        b = np.frombuffer(data, np.uint8, nblk * QK // 2, base)
        b = b[block_order(rows, nblk // rows, QK // 2)].reshape(nblk, QK // 2)
        q = np.array(Q4_CODEBOOK, F32)[np.concatenate([b & 15, b >> 4], axis=1)]
        qbytes = nblk * QK // 2
    assert qbytes + 2 * nblk == e["raw_size"], e["name"]
    d = np.frombuffer(data, "<f2", nblk, base + qbytes).astype(F32)[scale_order(rows, nblk // rows)]
    return (q * d[:, None]).reshape(rows, -1)[:, :cols], d


def nearest_gap(w, deq, d, type_):
    """max over weights of |w - deq| minus the distance from w to its nearest value in
    the block's grid (0 when every dequantized weight is a nearest one)."""
    rows, cols = w.shape
    pad = -cols % QK
    wb = np.concatenate([w, np.zeros((rows, pad), F32)], axis=1).reshape(-1, QK).astype(np.float64)
    db = np.concatenate([deq, np.zeros((rows, pad), F32)], axis=1).reshape(-1, QK).astype(np.float64)
    s = d.astype(np.float64)[:, None]
    if type_ == TYPE_Q8:
        with np.errstate(divide="ignore", invalid="ignore"):
            grid = np.where(s > 0, np.clip(np.rint(wb / s), -127, 127), 0) * s
        best = np.abs(wb - grid)
    else:
        best = np.abs(wb[:, :, None] - s[:, :, None] * np.array(Q4_CODEBOOK, np.float64)).min(axis=2)
    return float((np.abs(wb - db) - best).max() / max(float(np.abs(wb).max()), 1e-30))


def read_checkpoint_f32(ckpt):
    tensors = {}
    for name in sorted(os.listdir(ckpt)):
        if name.endswith(".safetensors"):
            tensors.update(read_safetensors(os.path.join(ckpt, name)))
    return tensors


def logits(gemma2, model, ids, out, vocab):
    subprocess.run([gemma2, "logits", model, "--tokens", ",".join(map(str, ids)), "--out", out, "-t", "1"],
                   check=True)
    return np.fromfile(out, "<f4").reshape(len(ids), vocab)


def prepare(gemma2, ckpt, dtype, tmp, orig, ids, vocab):
    """Converts ckpt to dtype, writes and converts the dequantized float32 copy; returns
    (L_q, L_f, the copy's folder, the quantized matrices' types, notes, problems)."""
    model = os.path.join(tmp, dtype + ".g2")
    subprocess.run([gemma2, "convert", ckpt, model, "--dtype", dtype], check=True)
    with open(model, "rb") as f:
        data = f.read()
    h, entries = parse_model(data)
    problems, deq, kinds, worst = [], {}, {}, 0.0
    if sorted(e["name"] for e in entries) != sorted(orig):
        problems.append("the .g2 tensor names are not the checkpoint's")
    for e in entries:
        name, w = e["name"], orig.get(e["name"])
        if w is None:
            continue
        if e["type"] in (TYPE_Q8, TYPE_Q4):
            if tuple(e["dims"][:2]) != w.shape:
                problems.append(f"{name}: shape {e['dims'][:2]} is not the checkpoint's {w.shape}")
                continue
            deq[name], d = dequantize(data, h, e)
            worst = max(worst, nearest_gap(w, deq[name], d, e["type"]))
            kinds[name] = "q8" if e["type"] == TYPE_Q8 else "q4"
        elif e["type"] == TYPE_F32:  # norms: as the checkpoint has them
            stored = np.frombuffer(data, "<f4", e["raw_size"] // 4, h["data_offset"] + e["offset"])
            if not np.array_equal(stored.view("<u4"), np.ascontiguousarray(w, "<f4").reshape(-1).view("<u4")):
                problems.append(f"{name}: the {dtype} model's f32 tensor is not the checkpoint's")
            deq[name] = w
        else:
            problems.append(f"{name}: unexpected type {e['type']} in a {dtype} model")
    # Every dequantized weight is a nearest grid value of the checkpoint's weight (to
    # float64 rounding): a wrong nibble order, codebook or scale placement is not.
    if worst > 1e-6:
        problems.append(f"a dequantized {dtype} weight is not the nearest grid value (excess {worst:.2e} of max|w|)")
    for name in kinds:  # the error model gives a shared input one step
        for group in SHARED_INPUTS:
            if name.endswith(group[0] + ".weight"):
                mates = {kinds.get(name.replace(group[0], g)) for g in group}
                if len(mates) != 1:
                    problems.append(f"{name}: matrices sharing its input differ in type ({sorted(map(str, mates))})")
    counts = {k: sum(1 for v in kinds.values() if v == k) for k in ("q8", "q4")}
    emb = kinds.get("model.embed_tokens.weight")
    notes = f"{counts['q8']} q8 + {counts['q4']} q4 matrices (embedding {emb}), {len(deq) - len(kinds)} f32 norms"

    folder = os.path.join(tmp, dtype + "-dequantized")
    os.makedirs(folder)
    for name in os.listdir(ckpt):
        if name == "config.json" or name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(os.path.join(ckpt, name), folder)
    write_safetensors(os.path.join(folder, "model.safetensors"), {k: deq[k] for k in orig if k in deq})
    fmodel = os.path.join(tmp, dtype + "-dequantized.g2")
    subprocess.run([gemma2, "convert", folder, fmodel, "--dtype", "f32"], check=True)
    with open(fmodel, "rb") as f:
        fdata = f.read()
    fh, fentries = parse_model(fdata)
    for e in fentries:  # the float32 model multiplies exactly the dequantized values
        stored = np.frombuffer(fdata, "<f4", e["raw_size"] // 4, fh["data_offset"] + e["offset"])
        if e["type"] != TYPE_F32 or e["name"] not in deq or not np.array_equal(
                stored.view("<u4"), np.ascontiguousarray(deq[e["name"]], "<f4").reshape(-1).view("<u4")):
            problems.append(f"{e['name']}: the f32 model does not hold the dequantized values")
    lq = logits(gemma2, model, ids, os.path.join(tmp, dtype + ".f32"), vocab)
    lf = logits(gemma2, fmodel, ids, os.path.join(tmp, dtype + "-dequantized.f32"), vocab)
    return lq.astype(np.float64), lf.astype(np.float64), folder, kinds, notes, problems


class _Noisy:
    """A weight matrix whose `x @ W.T` first moves every element of x by the error
    model of an activation quantization: uniform in [-d/2, d/2], d = max|x_b| * step
    per block of 32 of each row (quant.h; no error where max|x| < 2^-100). The
    same x (q/k/v, gate/up) gets the same draw."""
    __array_ufunc__ = None  # numpy defers `x @ self` to __rmatmul__

    def __init__(self, a, rng, memo, step, transposed=False):
        self.a, self.rng, self.memo, self.step, self.transposed = a, rng, memo, step, transposed

    @property
    def T(self):
        return _Noisy(self.a, self.rng, self.memo, self.step, not self.transposed)

    def __getitem__(self, index):  # the embedding lookup reads exact rows
        return self.a[index]

    def __rmatmul__(self, x):
        assert self.transposed
        if self.memo.get("x") is not x:
            n = x.shape[-1]
            xb = np.concatenate([x, np.zeros(x.shape[:-1] + (-n % QK,))], axis=-1)
            xb = xb.reshape(x.shape[:-1] + (-1, QK))
            amax = np.abs(xb.astype(F32)).max(axis=-1, keepdims=True).astype(np.float64)
            d = np.where(amax >= 2.0 ** -100, amax * self.step, 0.0)
            noisy = xb + d * self.rng.uniform(-0.5, 0.5, xb.shape)
            self.memo.update(x=x, q=noisy.reshape(x.shape[:-1] + (-1,))[..., :n])
        return self.memo["q"] @ self.a.T


def reference(folder, ids, kinds=None, seed=None):
    """Float64 logits over the checkpoint in folder; with a seed, under the error model
    of the quantized matrices in kinds (name -> "q8" or "q4")."""
    m = gemma2_ref.Model(folder)
    if seed is not None:
        rng, memo, plain = np.random.default_rng(seed), {}, m.w

        def noisy(name, dtype):
            a = plain(name, dtype)
            return _Noisy(a, rng, memo, ACT_STEP[kinds[name]]) if name in kinds else a
        m.w = noisy
    return gemma2_ref.forward(m, ids)


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def check(dtype, lq, lf, noise, floor, require_tokens):
    """Compares D = lq - lf with the bound; returns (report lines, failed)."""
    D = lq - lf
    N = np.stack(noise)
    rms_bound = RMS_FACTOR * rms(N) + FLOAT_FACTOR * rms(floor)
    max_bound = MAX_FACTOR * float(np.abs(N).max()) + FLOAT_FACTOR * float(np.abs(floor).max())
    rms_d, max_d = rms(D), float(np.abs(D).max())
    spread = rms(lf - lf.mean(axis=1, keepdims=True))
    lines = [
        f"  rms|D| {rms_d:.3g} (bound {rms_bound:.3g}: {'ok' if rms_d <= rms_bound else 'FAIL'}), "
        f"max|D| {max_d:.3g} (bound {max_bound:.3g}: {'ok' if max_d <= max_bound else 'FAIL'})",
        f"  error model: rms {rms(N):.3g}, max {float(np.abs(N).max()):.3g} over {len(noise)} seeds; "
        f"float32 vs float64: rms {rms(floor):.2g}, max {float(np.abs(floor).max()):.2g}",
        f"  in units of 2^-15 of the logits' spread ({spread:.3g}): rms|D| {rms_d / (ACT_UNIT * spread):.1f}, "
        f"max|D| {max_d / (ACT_UNIT * spread):.0f}; "
        f"D / error model: rms {rms_d / rms(N):.2f}, max {max_d / float(np.abs(N).max()):.2f}",
    ]
    failed = rms_d > rms_bound or max_d > max_bound
    top2 = np.sort(lf, axis=1)[:, -2:]
    lead = top2[:, 1] - top2[:, 0]
    differ = np.nonzero(lq.argmax(axis=1) != lf.argmax(axis=1))[0]
    ties = np.nonzero(lead <= 2 * max_bound)[0]
    bad = [int(t) for t in differ if lead[t] > 2 * max_bound]
    line = f"  greedy tokens agree at {len(lf) - len(differ)}/{len(lf)} positions"
    if len(differ):
        line += " (differ at " + ", ".join(f"{t} [lead {lead[t]:.2g}]" for t in differ[:8])
        line += (", ..." if len(differ) > 8 else "") + ")"
    line += f"; near-ties (lead <= {2 * max_bound:.3g}): {len(ties)}"
    if require_tokens:
        line += ": ok" if not bad else ": FAIL"
        failed = failed or bool(bad)
    else:
        line += " (ill-conditioned checkpoint: reported only)"
    lines.append(line)
    return lines, failed


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("usage: ")[1], file=sys.stderr)
        return 2
    gemma2, ckpt = sys.argv[1], sys.argv[2]
    with open(os.path.join(ckpt, "golden.json")) as f:
        golden = json.load(f)
    ids, vocab = golden["input_ids"], golden["model"]["vocab_size"]
    require_tokens = not golden.get("stress", False)
    orig = read_checkpoint_f32(ckpt)
    failed = False
    print(f"{os.path.basename(os.path.normpath(ckpt))}: {len(ids)} tokens, gemma2 q8/q4 against float32 "
          f"over the same dequantized weights (D = L_q - L_f)")
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("q8", "q4"):
            lq, lf, folder, kinds, notes, problems = prepare(gemma2, ckpt, dtype, tmp, orig, ids, vocab)
            r_f = reference(folder, ids)
            noise = [reference(folder, ids, kinds, seed) - r_f for seed in range(SEEDS)]
            lines, bad = check(dtype, lq, lf, noise, lf - r_f, require_tokens)
            print(f"{dtype}: {notes}")
            for p in problems:
                print(f"  FAIL: {p}")
            print("\n".join(lines))
            failed = failed or bad or bool(problems)
    print("FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
