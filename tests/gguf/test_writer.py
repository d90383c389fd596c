#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Dev-time self check of gguf_file / ggml_quant / make_gguf against llama.cpp itself.

Needs what the project's tests may not use: llama.cpp's gguf-py (GGUFReader,
gguf.quants), the sentencepiece module, and convert_hf_to_gguf.py (torch). Run:

  PYTHONPATH=/tmp/nlc/llama.cpp/gguf-py /usr/bin/python3 tests/gguf/test_writer.py

Checks, for tiny-a and tiny-b and every type: gguf-py reads back our metadata (keys,
value types, values) and tensor infos; gguf.quants.dequantize of every tensor equals
ours bit for bit; the weights are the checkpoint's (+1 on norms) within the type's
error; --dequantized-out holds exactly the GGUF's weights. Then against files made by
llama.cpp's converter: same metadata (except the naming fields and the documented
tokenizer-default differences), same tensor names/shapes/types, identical bytes for
F32/F16/BF16; and with Gemma 2 style tokenizer files, identical tokenizer metadata.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402  (llama.cpp's gguf-py)
import gguf_file as G  # noqa: E402
import make_gguf  # noqa: E402
from ggml_quant import TYPES, dequantize, quantize  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data")
SPM = os.path.join(DATA, "tokenizer", "spm_small.model")
LLAMA = os.environ.get("LLAMA_CPP", "/tmp/nlc/llama.cpp")
NAMING = {"general.name", "general.size_label", "general.type", "general.basename",
          "general.finetune", "general.version"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def gguf_py_fields(path):
    """key -> (value types as names, value) the way llama.cpp's reader sees them."""
    r = gguf.GGUFReader(path)
    out = {}
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        out[k] = ([gguf.GGUFValueType(t).name for t in f.types], f.contents())
    return r, out


def our_fields(path):
    g = G.read_gguf(path)
    out = {}
    for k, (vt, v) in g.metadata.items():
        if vt == G.ARRAY:
            out[k] = (["ARRAY", G.VALUE_TYPE_NAMES[v[0]]], v[1])
        else:
            out[k] = ([G.VALUE_TYPE_NAMES[vt]], v)
    return g, out


def same_value(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return np.float32(a).tobytes() == np.float32(b).tobytes()
    return a == b


# ------------------------------------------------------------------ quantizers alone

def test_quant_formats():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((48, 512)).astype(np.float32)
    x *= np.exp(rng.standard_normal((48, 1))).astype(np.float32) * np.float32(0.05)
    x[0] = 0
    x[1] = 0.25
    x[2, ::5] = -3
    x[3] = rng.uniform(0, 1, 512)
    for t in TYPES:
        q = quantize(x, t)
        qt = gguf.GGMLQuantizationType[t]
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        check((bs, ts) == TYPES[t][1:], f"{t}: block geometry")
        mine = dequantize(q, t, x.size).reshape(x.shape)
        ref = gguf.quants.dequantize(q.reshape(48, -1), qt)
        check(np.array_equal(mine.view(np.uint32), ref.view(np.uint32)), f"{t}: dequant bits")
        err = np.sqrt(np.mean((mine - x) ** 2))
        note = ""
        try:  # gguf-py quantizes the 32-block types: ours must be no worse
            theirs = gguf.quants.dequantize(gguf.quants.quantize(x, qt), qt)
            err_ref = np.sqrt(np.mean((theirs - x) ** 2))
            check(err <= err_ref * 1.02 + 1e-12, f"{t}: error {err} > llama.cpp's {err_ref}")
            note = f" (gguf-py quantizer {err_ref:.3g})"
        except NotImplementedError:
            pass
        print(f"  {t:5s} rms error {err:.3g}{note}")


def test_file_format(tmp):
    """Every value type, nested arrays, a non-default alignment, read by gguf-py."""
    md = {"general.architecture": G.string("test")}
    for vt, v in ((G.UINT8, 200), (G.INT8, -100), (G.UINT16, 60000), (G.INT16, -30000),
                  (G.UINT32, 4000000000), (G.INT32, -2000000000), (G.FLOAT32, 0.1),
                  (G.BOOL, True), (G.STRING, "héllo"), (G.UINT64, 2 ** 63 + 5),
                  (G.INT64, -2 ** 62), (G.FLOAT64, 0.1)):
        md[f"t.{G.VALUE_TYPE_NAMES[vt].lower()}"] = (vt, v)
        if vt != G.STRING:
            md[f"t.arr_{G.VALUE_TYPE_NAMES[vt].lower()}"] = G.array(vt, [v, v])
    md["t.arr_str"] = G.array(G.STRING, ["a", "", "▁b"])
    x = np.arange(3 * 64, dtype=np.float32).reshape(3, 64)
    for align in (32, 64):
        path = os.path.join(tmp, f"fmt{align}.gguf")
        G.write_gguf(path, md, [G.Tensor("a", "Q8_0", (64, 3), quantize(x, "Q8_0")),
                                G.Tensor("b", "F32", (7,), np.ones(7, np.float32).view(np.uint8))],
                     alignment=align)
        r, theirs = gguf_py_fields(path)
        g, ours = our_fields(path)
        check(r.alignment == align == g.alignment, f"alignment {align}")
        check(set(theirs) == set(ours) == set(md) | ({"general.alignment"} if align != 32 else set()),
              "format: keys")
        for k in ours:
            check(theirs[k][0] == ours[k][0] and same_value(theirs[k][1], ours[k][1]),
                  f"format: {k} {theirs[k]} vs {ours[k]}")
        for t in r.tensors:
            check(t.data_offset % align == 0 and t.data_offset == g.data_offset + g.tensor(t.name).offset,
                  f"format: offset of {t.name}")
        check(np.array_equal(gguf.quants.dequantize(r.tensors[0].data, r.tensors[0].tensor_type),
                             g.array("a")), "format: tensor data")
        m2, t2 = g.as_write_args()  # re-writing a read file reproduces it byte for byte
        G.write_gguf(path + ".2", m2, t2)
        check(open(path, "rb").read() == open(path + ".2", "rb").read(), "format: rewrite")


# ------------------------------------------------------------------ make_gguf

def expected_type(name, shape, qtype):
    if len(shape) == 1:
        return "F32"
    return make_gguf.pick_type(name, shape, qtype, None)


def test_checkpoint(ckpt, tmp):
    src = {hf: load() for hf, _, load in make_gguf.checkpoint_tensors(ckpt)}
    errs = {}
    for t in TYPES:
        out = os.path.join(tmp, f"{os.path.basename(ckpt)}-{t}.gguf")
        deq = out + ".deq"
        make_gguf.convert(ckpt, out, t, SPM, None, deq)
        r, theirs = gguf_py_fields(out)
        g, ours = our_fields(out)
        check(set(theirs) == set(ours), f"{out}: key sets")
        for k in ours:
            check(theirs[k][0] == ours[k][0] and same_value(theirs[k][1], ours[k][1]), f"{out}: {k}")
        deq_t = dict((hf, ld()) for hf, _, ld in make_gguf.checkpoint_tensors(deq))
        check(len(r.tensors) == len(src) - ("lm_head.weight" in src), f"{out}: tensor count")
        worst = 0.0
        for rt, gt in zip(r.tensors, g.tensors):
            hf = next(h for h in src if h != "lm_head.weight" and make_gguf.gguf_name(h) == rt.name)
            x = src[hf] + (np.float32(1) if hf.endswith("norm.weight") else np.float32(0))
            check(rt.name == gt.name and list(rt.shape) == list(reversed(x.shape))
                  and rt.tensor_type.name == gt.type == expected_type(rt.name, x.shape, t),
                  f"{out}: {rt.name} info")
            ref = gguf.quants.dequantize(rt.data, rt.tensor_type).reshape(x.shape)
            mine = g.array(gt)
            check(np.array_equal(ref.view(np.uint32), mine.view(np.uint32)), f"{out}: {rt.name} bits")
            back = mine - np.float32(1) if hf.endswith("norm.weight") else mine
            check(np.array_equal(deq_t[hf].view(np.uint32), back.view(np.uint32)),
                  f"{out}: dequantized-out {hf}")
            if gt.type in ("F32", "BF16"):  # bf16 checkpoints: both exact
                check(np.array_equal(mine, x), f"{out}: {rt.name} exact")
            worst = max(worst, float(np.sqrt(np.mean((mine - x) ** 2) / np.mean(x ** 2))))
        errs[t] = worst
        check(json.load(open(os.path.join(deq, "config.json"))) ==
              json.load(open(os.path.join(ckpt, "config.json"))), f"{deq}: config")
        if t in ("F32", "BF16"):  # lossless: the float32 copy is the checkpoint itself
            check(all(np.array_equal(deq_t[h], src[h]) for h in deq_t), f"{deq}: not the source")
            make_gguf.convert(deq, out + ".2", t, SPM, name=g.value("general.name"))
            check(open(out, "rb").read() == open(out + ".2", "rb").read(), f"{out}: round trip")
    print("  worst relative rms error per type:",
          " ".join(f"{t}={e:.2g}" for t, e in errs.items()))
    for t, bound in (("F16", 1e-3), ("Q8_0", 0.01), ("Q6_K", 0.03), ("Q5_0", 0.06),
                     ("Q5_1", 0.06), ("Q5_K", 0.06), ("Q4_0", 0.12), ("Q4_1", 0.12), ("Q4_K", 0.12)):
        check(errs[t] < bound, f"{ckpt}: {t} error {errs[t]} >= {bound}")


def test_tokenizer(tmp):
    """Our vocabulary vs the sentencepiece library run through llama.cpp's rules."""
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor()
    sp.LoadFromFile(SPM)
    for n_vocab in (512, sp.vocab_size(), sp.vocab_size() + 7):
        md = make_gguf.tokenizer_metadata(SPM, tmp, {"vocab_size": n_vocab})
        toks, scores, types = (md[k][1][1] for k in ("tokenizer.ggml.tokens",
                               "tokenizer.ggml.scores", "tokenizer.ggml.token_type"))
        for i in range(n_vocab):
            if i < sp.vocab_size():
                tt = (2 if sp.IsUnknown(i) else 3 if sp.IsControl(i) else 5 if sp.IsUnused(i)
                      else 6 if sp.IsByte(i) else 1)
                want = (sp.IdToPiece(i), sp.GetScore(i), tt)
            else:
                want = (f"[PAD{i}]", -10000.0, 5)
            if (toks[i], np.float32(scores[i]), types[i]) != (want[0], np.float32(want[1]), want[2]):
                check(False, f"vocab {n_vocab}: token {i} {toks[i], scores[i], types[i]} vs {want}")
                break
        check(len(toks) == n_vocab, f"vocab {n_vocab}: size")
        ids = [md[f"tokenizer.ggml.{k}_token_id"][1] for k in ("bos", "eos", "unknown", "padding")]
        check(ids == [sp.bos_id(), sp.eos_id(), sp.unk_id(), sp.pad_id()], f"special ids {ids}")


# ------------------------------------------------------------------ vs llama.cpp

def convert_llama(model_dir, outtype, out):
    env = dict(os.environ, PYTHONPATH=f"/tmp/nlc/shim:{LLAMA}/gguf-py")
    subprocess.run([sys.executable, "convert_hf_to_gguf.py", model_dir, "--outtype", outtype,
                    "--outfile", out], cwd=LLAMA, env=env, check=True, capture_output=True)


def compare_with_llama(ckpt, model_dir, tmp, outtypes, expect_extra):
    """expect_extra: keys we write and llama.cpp does not for this directory."""
    for ot in outtypes:
        theirs_path = os.path.join(tmp, f"llama-{os.path.basename(model_dir)}-{ot}.gguf")
        ours_path = os.path.join(tmp, f"ours-{os.path.basename(model_dir)}-{ot}.gguf")
        convert_llama(model_dir, ot, theirs_path)
        make_gguf.convert(model_dir, ours_path, ot.upper(), os.path.join(model_dir, "tokenizer.model"))
        rt, theirs = gguf_py_fields(theirs_path)
        ro, ours = gguf_py_fields(ours_path)
        only_t = set(theirs) - set(ours) - NAMING
        only_o = set(ours) - set(theirs) - NAMING
        check(not only_t, f"{ot}: llama.cpp writes {only_t}, we do not")
        check(only_o == set(expect_extra), f"{ot}: we write {only_o}, llama.cpp does not")
        for k in set(theirs) & set(ours) - NAMING:
            check(theirs[k][0] == ours[k][0] and same_value(theirs[k][1], ours[k][1]),
                  f"{ot}: {k}: llama.cpp {theirs[k][0]} {str(theirs[k][1])[:80]}"
                  f" ours {ours[k][0]} {str(ours[k][1])[:80]}")
        tt = [(t.name, list(t.shape), t.tensor_type.name) for t in rt.tensors]
        to = [(t.name, list(t.shape), t.tensor_type.name) for t in ro.tensors]
        check(tt == to, f"{ot}: tensor infos differ")
        for a, b in zip(rt.tensors, ro.tensors):
            if ot in ("f32", "f16", "bf16"):
                check(bytes(a.data) == bytes(b.data), f"{ot}: {a.name} bytes")
            else:  # our quantizer is not theirs: compare errors against the source
                da = gguf.quants.dequantize(a.data, a.tensor_type)
                db = gguf.quants.dequantize(b.data, b.tensor_type)
                check(np.abs(da - db).max() <= 2 * np.abs(da).max() / 127, f"{ot}: {a.name} values")
        print(f"  llama.cpp --outtype {ot}: {len(tt)} tensors, {len(theirs)} keys compared")


def compare_with_quantize(ckpt, tmp, quantize_bin):
    """Our --type T file vs `llama-quantize --pure` (and --token-embedding-type) run on
    our F32 file: same metadata and tensor types; F16/BF16 bytes identical; quantized
    weights about as close to the F32 ones as llama.cpp's own quantizer gets them."""
    base = os.path.join(tmp, os.path.basename(ckpt))
    make_gguf.convert(ckpt, base + "-F32.gguf", "F32", SPM)
    f32 = {t.name: np.array(t.data) for t in gguf.GGUFReader(base + "-F32.gguf").tensors}
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(quantize_bin))
    cases = [(t, None) for t in ("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                 "Q4_K", "Q5_K", "Q6_K")]
    if json.load(open(os.path.join(ckpt, "config.json")))["hidden_size"] % 256 == 0:
        cases += [("Q4_K", "Q6_K"), ("Q4_0", "Q8_0")]  # llama-quantize aborts on a misfit
    for t, emb in cases:
        theirs, ours = f"{base}-lq-{t}-{emb}.gguf", f"{base}-{t}-{emb}.gguf"
        cmd = [quantize_bin, "--pure", base + "-F32.gguf", theirs, t]
        if emb:
            cmd[1:1] = ["--token-embedding-type", emb.lower()]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        make_gguf.convert(ckpt, ours, t, SPM, emb)
        ra, fa = gguf_py_fields(theirs)
        rb, fb = gguf_py_fields(ours)
        check(set(fa) == set(fb), f"quantize {t}/{emb}: key sets {set(fa) ^ set(fb)}")
        for k in set(fa) & set(fb):
            check(fa[k][0] == fb[k][0] and same_value(fa[k][1], fb[k][1]),
                  f"quantize {t}/{emb}: {k} {fa[k][1] if k[:9] != 'tokenizer' else ''}"
                  f" vs {fb[k][1] if k[:9] != 'tokenizer' else ''}")
        mine = {x.name: x for x in rb.tensors}
        ratio = 0.0
        for a in ra.tensors:
            b = mine[a.name]
            check(a.tensor_type == b.tensor_type and list(a.shape) == list(b.shape),
                  f"quantize {t}/{emb}: {a.name} {a.tensor_type.name} vs {b.tensor_type.name}")
            if a.tensor_type.name in ("F32", "F16", "BF16"):
                check(bytes(a.data) == bytes(b.data), f"quantize {t}: {a.name} bytes")
                continue
            x = f32[a.name].reshape(-1)
            ea = np.sqrt(np.mean((gguf.quants.dequantize(a.data, a.tensor_type).reshape(-1) - x) ** 2))
            eb = np.sqrt(np.mean((gguf.quants.dequantize(b.data, b.tensor_type).reshape(-1) - x) ** 2))
            ratio = max(ratio, eb / ea)
        check(ratio < 1.2, f"quantize {t}/{emb}: our error up to {ratio:.3f} x llama.cpp's")
        print(f"  llama-quantize --pure {t}" + (f" --token-embedding-type {emb}" if emb else "")
              + f": same metadata and types; our rms error <= {ratio:.3f} x theirs")


def gemma_tokenizer_dir(src, tmp):
    """A copy of src with tokenizer files shaped like google/gemma-2's (the parts the
    converter reads): tokenizer.json added_tokens, tokenizer_config.json flags."""
    d = os.path.join(tmp, os.path.basename(src) + "-gemmatok")
    shutil.copytree(src, d)
    shutil.copyfile(SPM, os.path.join(d, "tokenizer.model"))
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    added = [{"id": i, "content": s, "special": True} for i, s in enumerate(specials)]
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump({"added_tokens": added, "model": {"type": "BPE"}}, f)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<bos>",
                   "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>",
                   "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
                   "added_tokens_decoder": {str(a["id"]): a for a in added}}, f)
    return d


def main():
    tmp = tempfile.mkdtemp(prefix="gguf-writer-")
    try:
        print("quantizers vs gguf.quants:")
        test_quant_formats()
        print("file format vs GGUFReader:")
        test_file_format(tmp)
        print("sentencepiece vocabulary:")
        test_tokenizer(tmp)
        for name in ("tiny-a", "tiny-b"):
            print(f"make_gguf on {name}:")
            test_checkpoint(os.path.join(DATA, name), tmp)
        if os.path.exists(os.path.join(LLAMA, "convert_hf_to_gguf.py")):
            for name in ("tiny-a", "tiny-b"):
                d = os.path.join(tmp, name)
                shutil.copytree(os.path.join(DATA, name), d)
                shutil.copyfile(SPM, os.path.join(d, "tokenizer.model"))
                print(f"vs llama.cpp's converter on {name} (no tokenizer_config.json):")
                # without tokenizer_config.json / tokenizer.json llama.cpp has no unk id and
                # no add_bos/add_eos: we write Gemma 2's values (see README)
                compare_with_llama(name, d, tmp, ("f32", "f16", "bf16", "q8_0"), {
                    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token",
                    "tokenizer.ggml.add_eos_token"})
            print("vs llama.cpp's converter with Gemma 2 style tokenizer files:")
            compare_with_llama("tiny-a", gemma_tokenizer_dir(os.path.join(DATA, "tiny-a"), tmp),
                               tmp, ("f32",), set())
        else:
            print("llama.cpp not found: converter comparison skipped")
        qbin = os.path.join(LLAMA, "build", "bin", "llama-quantize")
        if os.path.exists(qbin):
            for name in ("tiny-a", "tiny-b"):
                print(f"vs llama-quantize on {name}:")
                compare_with_quantize(os.path.join(DATA, name), tmp, qbin)
        else:
            print("llama-quantize not found: skipped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED:" if failures else "all checks passed", len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
