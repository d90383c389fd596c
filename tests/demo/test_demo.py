#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the embedded demo model, models/demo-q8.g2 (tools/train-demo/README.md).

usage: test_demo.py CHECK GEMMA2 MODEL DATA_DIR
  CHECK     sha256 | verify | logits | text | all
  GEMMA2    the gemma2 CLI
  MODEL     models/demo-q8.g2 (its digest is in MODEL.sha256)
  DATA_DIR  tests/data/demo: reference.json, reference-logits.f32, kjv-words.txt.gz,
            kjv-bigrams.txt.gz

- sha256: the file's SHA-256 equals MODEL.sha256 (sha256sum format): the committed
  model is the one the reference data and the README describe.
- verify: `gemma2 verify` passes (header and tensor digests).
- logits: `gemma2 logits` equals the logits of a second implementation, our PyTorch
  forward over the same dequantized q8 weights in float64
  (tools/train-demo/export_logits.py), within the error gemma2's activation
  quantization explains. The bound and its reasoning are in export_logits.py's
  docstring; they are those of tests/quant/dequant_match.py. With D = gemma2 - reference
  over every stored logit:
      rms(D) <= 2 rms(N) + 3 rms(F),   max|D| <= 3 max|N| + 3 max|F| + max|R| 2^-24
  where N is the error model's effect (4 seeds) and F float32 rounding, both measured
  by the exporter and stored in reference.json; and at each stored position where the
  reference's top-1 leads the runner-up by more than twice the max bound, gemma2's
  top-1 is the same token. One prompt is longer than the sliding window, so the local
  layers' mask is checked too.
- text: `gemma2 run MODEL --raw -p "And God said" -n 40` (greedy) and a sampled run
  print at least 20 words, 10 of them different, at least 90% of them words of the
  training text, and at least 75% of their adjacent word pairs occur in it at least
  twice. Garbage fails: random tokens (a broken tokenizer, sampler or forward pass)
  make non-words, word salad makes pairs the text never has (a barely trained model's
  "add to,::, the the them and things nought" has 100% known words but only 50% known
  pairs; the demo model's text has 97-100%), and a stuck model repeats one word.

Standard library only. Exit 0 on success, 1 on failure, 2 on usage errors."""
import array
import gzip
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

WORD_SHARE = 0.90   # at least this share of the generated words are in the text's vocabulary
PAIR_SHARE = 0.75   # and this share of adjacent word pairs occur in the text at least twice
MIN_WORDS = 20
MIN_DISTINCT = 10   # different words: a word repeated ("verily verily ...") is no text
FLOAT_STORE = 2.0 ** -24  # storing the float64 reference as float32: relative rounding


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def check_sha256(gemma2, model, data_dir):
    with open(model + ".sha256") as f:
        want, name = f.read().split()
    if name.lstrip("*") != os.path.basename(model):
        return [f"{model}.sha256 names {name}, not {os.path.basename(model)}"]
    h = hashlib.sha256()
    with open(model, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    got = h.hexdigest()
    print(f"sha256 {got} ({os.path.getsize(model)} bytes)")
    return [] if got == want else [f"sha256 {got} is not the {want} of {model}.sha256"]


def check_verify(gemma2, model, data_dir):
    r = subprocess.run([gemma2, "verify", model, "-t", "2"], capture_output=True, text=True)
    print(r.stdout.strip())
    return [] if r.returncode == 0 else [f"gemma2 verify failed ({r.returncode}): {r.stderr.strip()}"]


def read_f32(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def check_logits(gemma2, model, data_dir):
    with open(os.path.join(data_dir, "reference.json")) as f:
        ref = json.load(f)
    with open(model, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != ref["model_sha256"]:
            return ["the reference logits were made for another model file "
                    "(rerun tools/train-demo/train.sh OUTDIR --install)"]
    V = ref["vocab_size"]
    R = read_f32(os.path.join(data_dir, ref["file"]))
    if len(R) != ref["rows"] * V:
        return [f"{ref['file']}: {len(R)} floats, expected {ref['rows']} x {V}"]
    e = ref["error_model"]
    rms_bound = 2 * e["rms_N"] + 3 * e["rms_F"]
    max_bound = 3 * e["max_N"] + 3 * e["max_F"] + e["max_abs_R"] * FLOAT_STORE
    sq, worst, n, row, problems = 0.0, 0.0, 0, 0, []
    token_lines, long_prompt = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for p in ref["prompts"]:
            out = os.path.join(tmp, p["name"] + ".f32")
            run([gemma2, "logits", model, "--tokens", ",".join(map(str, p["ids"])), "--out", out, "-t", "2"])
            L = read_f32(out)
            if len(L) != len(p["ids"]) * V:
                return [f"{p['name']}: gemma2 logits wrote {len(L)} floats for {len(p['ids'])} tokens"]
            first, stop = p["positions"]
            long_prompt |= stop > ref["sliding_window"]
            p_sq, p_max, agree, required = 0.0, 0.0, 0, 0
            for pos in range(first, stop):
                g = L[pos * V:(pos + 1) * V]
                r = R[row * V:(row + 1) * V]
                row += 1
                for a, b in zip(g, r):
                    d = a - b
                    p_sq += d * d
                    p_max = max(p_max, abs(d))
                top = max(range(V), key=r.__getitem__)
                lead = r[top] - max(r[i] for i in range(V) if i != top)
                gtop = max(range(V), key=g.__getitem__)
                agree += gtop == top
                if lead > 2 * max_bound:
                    required += 1
                    if gtop != top:
                        problems.append(f"{p['name']} position {pos}: gemma2's top-1 is {gtop}, the "
                                        f"reference's {top} (lead {lead:.3g})")
            cnt = (stop - first) * V
            sq, worst, n = sq + p_sq, max(worst, p_max), n + cnt
            token_lines.append(f"  {p['name']}: positions {first}..{stop - 1}, rms|D| {math.sqrt(p_sq / cnt):.3g}, "
                               f"max|D| {p_max:.3g}, top-1 agrees at {agree}/{stop - first} "
                               f"({required} with a clear lead)")
    rms_d = math.sqrt(sq / n)
    print(f"{ref['rows']} positions x {V} logits, gemma2 q8 against the float64 PyTorch forward over the "
          f"same dequantized weights (D = gemma2 - reference)")
    print("\n".join(token_lines))
    print(f"  rms|D| {rms_d:.3g} (bound {rms_bound:.3g}), max|D| {worst:.3g} (bound {max_bound:.3g}); "
          f"error model rms {e['rms_N']:.3g} max {e['max_N']:.3g}; D / error model: rms "
          f"{rms_d / e['rms_N']:.2f}, max {worst / e['max_N']:.2f}; logit spread {e['logit_spread']:.3g}")
    if rms_d > rms_bound:
        problems.append(f"rms|D| {rms_d:.3g} exceeds {rms_bound:.3g}")
    if worst > max_bound:
        problems.append(f"max|D| {worst:.3g} exceeds {max_bound:.3g}")
    if not long_prompt:
        problems.append("no stored position lies past the sliding window")
    return problems


def words_of(text):
    """Lower-case runs of letters and apostrophes: how kjv-words.txt.gz was cut
    (tools/train-demo/train.sh)."""
    return [w.lower() for w in re.findall(r"[A-Za-z']+", text)]


def read_lines(path):
    with gzip.open(path, "rt", encoding="ascii") as f:
        return set(f.read().splitlines())


def check_text(gemma2, model, data_dir):
    vocab = read_lines(os.path.join(data_dir, "kjv-words.txt.gz"))
    known_pairs = read_lines(os.path.join(data_dir, "kjv-bigrams.txt.gz"))
    problems = []
    for label, extra in (("greedy", []), ("sampled", ["--temp", "0.8", "--top-k", "40", "--seed", "7"])):
        cmd = [gemma2, "run", model, "--raw", "-p", "And God said", "-n", "40", "-t", "2"] + extra
        text = run(cmd).stdout.decode("utf-8")
        words = words_of(text)
        share = sum(w in vocab for w in words) / max(1, len(words))
        # pairs within a line: the list holds pairs within a verse
        pairs = [f"{a} {b}" for line in text.splitlines() for a, b in zip(words_of(line), words_of(line)[1:])]
        pair_share = sum(p in known_pairs for p in pairs) / max(1, len(pairs))
        unknown = sorted({w for w in words if w not in vocab})
        print(f"{label}: {text.strip()!r}")
        print(f"  {len(words)} words ({len(set(words))} different), {share:.0%} in the training text's vocabulary"
              + (f" (not: {', '.join(unknown[:10])})" if unknown else "")
              + f"; {pair_share:.0%} of {len(pairs)} adjacent pairs occur in it at least twice")
        distinct = len(set(words))
        if len(words) < MIN_WORDS or distinct < MIN_DISTINCT or share < WORD_SHARE or pair_share < PAIR_SHARE:
            problems.append(f"{label}: {len(words)} words ({distinct} different), {share:.0%} known, "
                            f"{pair_share:.0%} of pairs known (need {MIN_WORDS} ({MIN_DISTINCT}), "
                            f"{WORD_SHARE:.0%} and {PAIR_SHARE:.0%})")
    return problems


CHECKS = {"sha256": check_sha256, "verify": check_verify, "logits": check_logits, "text": check_text}


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in list(CHECKS) + ["all"]:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    which, gemma2, model, data_dir = sys.argv[1:]
    problems = []
    for name, fn in CHECKS.items():
        if which in (name, "all"):
            print(f"== {name}")
            problems += fn(gemma2, model, data_dir)
    for p in problems:
        print("FAIL: " + p)
    print("FAIL" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
