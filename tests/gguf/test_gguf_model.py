#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A GGUF model as a whole, beyond its weights (docs/gguf.md):

- query_pre_attn_scalar, which GGUF does not store, is derived as llama.cpp derives it:
  hidden / heads for a 46-layer model (Gemma 2 27B), head_dim otherwise. A random
  46-layer checkpoint whose config says hidden / heads (≠ head_dim) must give, as GGUF,
  the logits of its direct conversion bit for bit, and those of the same checkpoint
  with query_pre_attn_scalar = head_dim must differ; a 4-layer one the other way round.
  `gemma2 info` names the source of the value.
- the vocabulary: a GGUF with the small SentencePiece model of tests/data/tokenizer,
  written as llama.cpp writes it, tokenizes the golden corpus exactly as that
  tokenizer.model does (plain text; llama.cpp's converter stores user-defined pieces as
  normal ones, so only control tokens are special in a GGUF), and decodes back; and a
  GGUF made by llama.cpp's converter gives, in both modes, the ids llama.cpp's own
  llama-tokenize gave (tests/data/gguf/chat-spm.llama-tokens.jsonl).
- checksums: `gemma2 info` says the file has none, the computed digest is the same on
  every open and differs between files, `gemma2 verify` says there is nothing to
  verify, and `--expected-digest`-style checks work through gemma2_model_open.
- `gemma2 generate` on the GGUF gives the ids of its converted twin.

usage: test_gguf_model.py GEMMA2 DATA_DIR    Exit 0 on success, 1 on failure, 77 without numpy."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "train-demo"))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
try:
    import numpy as np
except ImportError:
    sys.exit(77)
import make_gguf  # noqa: E402
import tensorfiles  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=kw.get("text", True),
                          input=kw.get("input"))


def logits(gemma2, model, ids, tmp):
    out = os.path.join(tmp, "l.f32")
    run(gemma2, "logits", model, "--tokens", ",".join(map(str, ids)), "--out", out, "-t", "1")
    return np.fromfile(out, "<f4")


def random_checkpoint(folder, layers, qpas, seed):
    """Random Gemma 2 weights, float32: hidden 64, 2 heads of 16 (hidden / heads = 32)."""
    rng = np.random.default_rng(seed)
    hidden, heads, kv, hd, ffn, vocab = 64, 2, 1, 16, 128, 96
    config = {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": vocab,
              "hidden_size": hidden, "intermediate_size": ffn, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": hd,
              "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 64,
              "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "query_pre_attn_scalar": qpas,
              "sliding_window": 8, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
              "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "tie_word_embeddings": True}
    w = {"model.embed_tokens.weight": rng.normal(0, 0.5, (vocab, hidden)),
         "model.norm.weight": rng.normal(0, 0.1, hidden)}
    for l in range(layers):
        p = f"model.layers.{l}."
        for name, shape in (("self_attn.q_proj", (heads * hd, hidden)), ("self_attn.k_proj", (kv * hd, hidden)),
                            ("self_attn.v_proj", (kv * hd, hidden)), ("self_attn.o_proj", (hidden, heads * hd)),
                            ("mlp.gate_proj", (ffn, hidden)), ("mlp.up_proj", (ffn, hidden)),
                            ("mlp.down_proj", (hidden, ffn))):
            w[p + name + ".weight"] = rng.normal(0, 0.15, shape)
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"):
            w[p + name + ".weight"] = rng.normal(0, 0.1, hidden)
    os.makedirs(folder, exist_ok=True)
    tensorfiles.write_safetensors(os.path.join(folder, "model.safetensors"),
                                  {k: v.astype(np.float32) for k, v in w.items()})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    return folder


def qpas(gemma2, tmp):
    ids = [2, 17, 33, 5, 60, 71, 8, 9, 40, 41, 3, 90]
    for layers, derived, other, label in ((46, 32, 16, "hidden / heads"), (4, 16, 32, "head_dim")):
        right = random_checkpoint(os.path.join(tmp, f"q{layers}-right"), layers, derived, layers)
        wrong = random_checkpoint(os.path.join(tmp, f"q{layers}-wrong"), layers, other, layers)
        gguf = os.path.join(tmp, f"q{layers}.gguf")
        make_gguf.convert(right, gguf, "F32")
        got = logits(gemma2, gguf, ids, tmp)
        results = {}
        for name, folder in (("right", right), ("wrong", wrong)):
            g2 = os.path.join(tmp, f"q{layers}-{name}.g2")
            run(gemma2, "convert", folder, g2, "--dtype", "f32")
            results[name] = logits(gemma2, g2, ids, tmp)
        check(np.array_equal(got.view(np.uint32), results["right"].view(np.uint32)),
              f"{layers} layers: GGUF logits equal the conversion with query_pre_attn_scalar {derived} ({label})")
        check(not np.array_equal(got, results["wrong"]),
              f"{layers} layers: and differ from query_pre_attn_scalar {other} (the test can tell)")
        info = run(gemma2, "info", gguf).stdout
        line = next((l for l in info.splitlines() if l.startswith("query_pre_attn_scalar:")), "")
        check(line.split()[1:2] == [str(derived)] and label in line and "not in GGUF" in line,
              f"{layers} layers: info says '{line.strip()}'")


def vocabulary(gemma2, data, tmp):
    import clitest
    import test_cli_text
    clitest.DATA = data
    spm = os.path.join(data, "tokenizer", "spm_small.model")
    folder = test_cli_text.random_checkpoint(os.path.join(tmp, "chat"))
    gguf = os.path.join(tmp, "chat.gguf")
    make_gguf.convert(folder, gguf, "Q8_0", tokenizer=spm)
    corpus = open(os.path.join(data, "tokenizer", "spm_small_public.jsonl"), "rb").read()
    mine = run(gemma2, "tokenize", gguf, "--jsonl", "--plain", input=corpus, text=False).stdout
    theirs = run(gemma2, "tokenize", spm, "--jsonl", "--plain", input=corpus, text=False).stdout
    lines = mine.count(b"\n")
    check(mine == theirs and lines > 100,
          f"GGUF vocabulary tokenizes the {lines} lines of the spm_small corpus as tokenizer.model does")
    text = "The quick brown fox, 2×3 = 6 ✓ — naïve café 🚀\n\tend"
    ids = run(gemma2, "tokenize", gguf, "--plain", input=text.encode(), text=False).stdout.decode().strip()
    back = run(gemma2, "detokenize", gguf, "--ids", ids, text=False).stdout.decode()
    check(back == text, "GGUF vocabulary decodes its own ids back to the text")
    # the converted twin: same ids for generation
    g2 = os.path.join(tmp, "chat.g2")
    run(gemma2, "convert", gguf, g2)
    outs = [run(gemma2, "generate", m, "--tokens", "2,300,301,302", "-n", "12").stdout for m in (gguf, g2)]
    check(outs[0] == outs[1] and outs[0].strip(), "generate on the GGUF gives the ids of its conversion")
    run(gemma2, "verify", g2)
    check(True, "the conversion verifies (digests written)")
    return gguf


def checksums(gemma2, gguf, other, tmp):
    info = run(gemma2, "info", gguf).stdout
    check("checksums:             none in the file (GGUF)" in info, "info says a GGUF has no checksums")
    check("(GGUF v3" in info or "GGUF v3" in info, "info names the GGUF version")
    digests = [next(l for l in run(gemma2, "info", m).stdout.splitlines() if l.startswith("digest:"))
               for m in (gguf, gguf, other)]
    check(digests[0] == digests[1] and digests[0] != digests[2],
          "the computed digest is the same on every open and differs between files")
    out = run(gemma2, "verify", gguf).stdout
    check("no checksums in the file (GGUF)" in out, "verify says there is nothing to check against")


def bench_pages(gemma2, gguf):
    """bench's "pages:" line is about a mapped model file; a GGUF's weights are
    converted into memory at open, so it has none."""
    out = run(gemma2, "bench", gguf, "-p", "4", "-n", "0", "-r", "1", "-t", "1", "--bw-mib", "64").stdout
    check("pp4" in out and "pages:" not in out, "bench of a GGUF prints no file pages line")


def llama_tokens(gemma2, data):
    """llama.cpp's own tokenization (llama-tokenize, with and without special parsing) of
    the spm_small corpus with a GGUF its converter made (tests/data/gguf/README.md)."""
    folder = os.path.join(data, "gguf")
    gguf = os.path.join(folder, "chat-spm.q8_0.gguf")
    records = [json.loads(l) for l in open(os.path.join(folder, "chat-spm.llama-tokens.jsonl"), encoding="utf-8")]
    feed = "".join(json.dumps({"text": r["text"]}) + "\n" for r in records).encode()
    for mode, flags in (("plain", ["--plain"]), ("special", [])):
        out = run(gemma2, "tokenize", gguf, "--jsonl", *flags, input=feed, text=False).stdout.decode().splitlines()
        mine = [json.loads(l)["ids"] for l in out]
        differ = [r["text"] for r, ids in zip(records, mine) if ids != r[mode]]
        check(len(mine) == len(records) and not differ,
              f"{mode} mode: the ids of llama.cpp's tokenizer for all {len(records)} texts"
              f"{'' if not differ else ' (first differing: %r)' % differ[0][:60]}")


def overflow(gemma2, data):
    """Huge but finite BF16 weights open (they are valid numbers) but give NaN logits:
    a step must say so, not blame the logit bias."""
    seed = os.path.join(data, "..", "fuzz", "corpus", "gguf", "bf16-huge-v2.gguf")
    r = subprocess.run([gemma2, "generate", seed, "--tokens", "1,2", "-n", "2"], capture_output=True, text=True)
    check(r.returncode == 1 and "every logit is NaN" in r.stderr,
          f"a model whose activations overflow: step fails naming NaN logits ({r.stderr.strip()})")


def main():
    gemma2, data = sys.argv[1:3]
    with tempfile.TemporaryDirectory() as tmp:
        qpas(gemma2, tmp)
        gguf = vocabulary(gemma2, data, tmp)
        checksums(gemma2, gguf, os.path.join(tmp, "q4.gguf"), tmp)
        bench_pages(gemma2, gguf)
        overflow(gemma2, data)
        llama_tokens(gemma2, data)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
