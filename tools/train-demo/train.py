# SPDX-License-Identifier: Apache-2.0
"""Trains the demo Gemma 2 model on the King James Bible and writes a Hugging Face
checkpoint folder (config.json, model.safetensors, tokenizer.model) that
`gemma2 convert` reads. Run by train.sh, which prepares the text and the tokenizer.

usage: train.py TEXT TOKENIZER_MODEL GEMMA2 OUT_DIR [--steps N] [--threads N]

Reproducible: every random choice (initial weights, batch order) comes from fixed
seeds, the batch schedule is a number of steps (not a time budget), and the thread
count is fixed, so the same machine and packages give the same weights bit for bit.
Another CPU or BLAS build may round differently and end a little elsewhere."""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
from tensorfiles import write_safetensors  # noqa: E402

SEED = 20240611
# The model: Gemma 2's architecture at a size whose q8 file stays under 10 MB and that
# two cores train in about 25 minutes. Every matrix dimension is a multiple of 64, so
# rows split into whole q8 blocks of 32.
CONFIG = dict(
    vocab=4096,        # the SentencePiece vocabulary (train.sh: spm_train --vocab_size)
    hidden=256,
    ffn=768,
    layers=4,          # local (window 64), global, local, global: Gemma 2's alternation
    heads=4,
    kv_heads=2,        # grouped-query attention, 2 query heads per KV head
    head_dim=64,
    context=256,       # max_position_embeddings: the training sequence length
    window=64,         # sliding window of the local layers
    query_pre_attn_scalar=64,  # = head_dim, as Gemma 2 2B and 9B
)
BATCH = 4               # sequences of CONFIG["context"] tokens per step
STEPS = 1100
PEAK_LR, FINAL_LR, WARMUP = 3e-3, 1e-4, 60
WEIGHT_DECAY = 0.1      # on matrices (and the embedding), not on norm weights
LOG_EVERY = 100         # steps between held-out evaluations
HOLDOUT_EVERY = 50      # one block of 100 verses in 50 is held out to measure loss
BLOCK = 100
SPECIAL = {"pad": 0, "eos": 1, "bos": 2, "unk": 3}  # spm_train --pad_id/--eos_id/...


def tokenize(gemma2, tokenizer, data):
    """The ids of data (bytes), from gemma2's own tokenizer (so training sees exactly
    the ids gemma2 gives at inference), in plain mode: no special piece is parsed."""
    out = subprocess.run([gemma2, "tokenize", tokenizer, "--plain"], input=data, check=True,
                         capture_output=True).stdout
    return np.array([int(t) for t in out.split(b",")], dtype=np.int64)


def check_with_sentencepiece(tokenizer, text_path, ids):
    """Cross-checks gemma2's ids against the SentencePiece library (Debian
    python3-sentencepiece) on the whole text, when that module is installed."""
    try:
        import sentencepiece
    except ImportError:
        print("python3-sentencepiece not installed: the ids are not cross-checked")
        return
    sp = sentencepiece.SentencePieceProcessor(model_file=tokenizer)
    with open(text_path, encoding="utf-8") as f:
        theirs = sp.encode(f.read())
    if list(ids) != theirs:
        raise SystemExit("gemma2 tokenize and SentencePiece disagree on the training text")
    print(f"tokenizer: gemma2 and SentencePiece give the same {len(ids)} ids")


def split_verses(ids, newline_id):
    """The token stream cut after each newline: a list of verses, each ending with its
    newline token, so that a sample starts where a verse starts (as a prompt does)."""
    ends = np.nonzero(ids == newline_id)[0] + 1
    return np.split(ids, ends)[:-1] if ends[-1] == len(ids) else np.split(ids, ends)


def make_stream(verses):
    """(token stream, start offsets of the verses in it)."""
    lengths = np.array([len(v) for v in verses])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(verses), starts


def batch(stream, starts, gen, n, T):
    """n sequences of T + 1 tokens: <bos>, then the stream from a random verse start
    (the last ones are drawn among verses with T tokens after them)."""
    ok = starts[starts + T <= len(stream)]
    pick = torch.randint(len(ok), (n,), generator=gen).numpy()
    rows = [np.concatenate([[SPECIAL["bos"]], stream[ok[p]:ok[p] + T]]) for p in pick]
    return torch.from_numpy(np.stack(rows))


def lr_at(step, steps):
    """Linear warm-up, then a cosine from PEAK_LR down to FINAL_LR."""
    if step < WARMUP:
        return PEAK_LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, steps - WARMUP)
    return FINAL_LR + 0.5 * (PEAK_LR - FINAL_LR) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(model, val_batches):
    model.eval()
    losses = [M.loss_fn(model(b[:, :-1]), b[:, 1:]).item() for b in val_batches]
    model.train()
    return float(np.mean(losses))


def blas_library():
    """The BLAS shared library this process loaded (train.sh points torch at OpenBLAS;
    Debian's default libblas.so.3 is the reference BLAS, about 8 times slower)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    return ", ".join(sorted(libs)) or "none found"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("text")
    ap.add_argument("tokenizer")
    ap.add_argument("gemma2")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)  # fail rather than train irreproducibly
    print(f"torch {torch.__version__}, {args.threads} threads, BLAS: {blas_library()}")

    with open(args.text, "rb") as f:
        ids = tokenize(args.gemma2, args.tokenizer, f.read())
    check_with_sentencepiece(args.tokenizer, args.text, ids)
    (newline,) = tokenize(args.gemma2, args.tokenizer, b"\n")  # the byte piece <0x0A>
    verses = split_verses(ids, newline)
    held = [i for i in range(len(verses)) if (i // BLOCK) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    held_set = set(held)
    train_stream, train_starts = make_stream([v for i, v in enumerate(verses) if i not in held_set])
    val_stream, val_starts = make_stream([verses[i] for i in held])
    T = CONFIG["context"]
    print(f"data: {len(ids)} tokens, {len(verses)} verses; train {len(train_stream)} tokens, "
          f"held out {len(val_stream)} ({len(held)} verses)")

    cfg = M.Config(**CONFIG)
    model = M.Gemma2(cfg)
    model.init_weights(torch.Generator().manual_seed(SEED))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters ({n_params - cfg.vocab * cfg.hidden} besides the embedding)")
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=PEAK_LR, betas=(0.9, 0.95))
    data_gen = torch.Generator().manual_seed(SEED + 1)
    val_gen = torch.Generator().manual_seed(SEED + 2)
    val_batches = [batch(val_stream, val_starts, val_gen, 8, T) for _ in range(8)]  # 64 fixed sequences

    log, t0, recent = [], time.time(), []
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps)
        b = batch(train_stream, train_starts, data_gen, BATCH, T)
        loss = M.loss_fn(model(b[:, :-1]), b[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent.append(loss.item())
        if (step + 1) % LOG_EVERY == 0 or step + 1 == args.steps:
            val = evaluate(model, val_batches)
            entry = dict(step=step + 1, train_loss=float(np.mean(recent)), val_loss=val,
                         lr=lr_at(step, args.steps), seconds=round(time.time() - t0, 1))
            log.append(entry)
            recent = []
            print(f"step {entry['step']:5d}  train {entry['train_loss']:.3f}  held-out {val:.3f}  "
                  f"lr {entry['lr']:.2e}  {entry['seconds']:.0f} s", flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg.hf_config(SPECIAL["bos"], SPECIAL["eos"], SPECIAL["pad"]), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(args.out, "model.safetensors"),
                      {k: v.numpy() for k, v in model.hf_state_dict().items()})
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    with open(os.path.join(args.out, "train-log.json"), "w") as f:
        json.dump(dict(config=CONFIG, batch=BATCH, steps=args.steps, seed=SEED, threads=args.threads,
                       peak_lr=PEAK_LR, final_lr=FINAL_LR, warmup=WARMUP, weight_decay=WEIGHT_DECAY,
                       parameters=n_params, tokens_seen=args.steps * BATCH * T,
                       train_tokens=int(len(train_stream)), heldout_tokens=int(len(val_stream)),
                       torch=torch.__version__, log=log), f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {time.time() - t0:.0f} s of training")


if __name__ == "__main__":
    main()
