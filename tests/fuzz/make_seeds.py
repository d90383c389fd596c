#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/), kept in the
tree so that every build replays them. Run it again after a format change:

    python3 tests/fuzz/make_seeds.py build/gemma2 tests/fuzz/corpus

It makes micro Gemma 2 checkpoints (2 layers, hidden 32) with our converter in several
types, with and without the small SentencePiece tokenizer, session states saved by the
Python bindings, texts, id sequences, safetensors files and config.json files.

The gguf seeds are micro Gemma 2 GGUF files (tests/gguf/test_hostile.py's micro_gguf:
64-token vocabulary with byte tokens) in every tensor type gemma2 reads, each under
40 KB; they need no CLI, and only they are rewritten with

    python3 tests/fuzz/make_seeds.py - tests/fuzz/corpus gguf"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'cli'))
from clitest import write_safetensors  # noqa: E402

SPM = os.path.join(ROOT, 'tests', 'data', 'tokenizer', 'spm_small.model')


def micro_checkpoint(folder, vocab, seed):
    with open(os.path.join(ROOT, 'tests', 'data', 'tiny-a', 'config.json')) as f:
        config = json.load(f)
    config.update(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
                  sliding_window=4, max_position_embeddings=64)
    rng = random.Random(seed)

    def tensor(name, shape, std=0.1):
        n = 1
        for d in shape:
            n *= d
        return (name, 'F32', list(shape), struct.pack('<%df' % n, *[rng.gauss(0, std) for _ in range(n)]))

    h, f, q, kv = 32, 64, 32, 16
    tensors = [tensor('model.embed_tokens.weight', (vocab, h)), tensor('model.norm.weight', (h,))]
    for layer in range(2):
        p = 'model.layers.%d.' % layer
        tensors += [tensor(p + 'self_attn.q_proj.weight', (q, h)), tensor(p + 'self_attn.k_proj.weight', (kv, h)),
                    tensor(p + 'self_attn.v_proj.weight', (kv, h)), tensor(p + 'self_attn.o_proj.weight', (h, q)),
                    tensor(p + 'mlp.gate_proj.weight', (f, h)), tensor(p + 'mlp.up_proj.weight', (f, h)),
                    tensor(p + 'mlp.down_proj.weight', (h, f))]
        tensors += [tensor(p + n + '.weight', (h,)) for n in ('input_layernorm', 'post_attention_layernorm',
                                                              'pre_feedforward_layernorm', 'post_feedforward_layernorm')]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'config.json'), 'w') as fh:
        json.dump(config, fh, indent=1)
    write_safetensors(os.path.join(folder, 'model.safetensors'), tensors, {'format': 'pt'})
    return folder


def tokenizer_blob(model_path):
    """The "tokenizer" record of a model file's metadata (docs/format.md), decompressed
    with libzstd through ctypes."""
    import ctypes
    data = open(model_path, 'rb').read()
    meta_offset, meta_size, meta_raw = struct.unpack_from('<QQQ', data, 40)
    zstd = ctypes.CDLL('libzstd.so.1')
    zstd.ZSTD_decompress.restype = ctypes.c_size_t
    zstd.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    out = ctypes.create_string_buffer(meta_raw)
    frame = data[meta_offset:meta_offset + meta_size]
    if zstd.ZSTD_decompress(out, meta_raw, frame, meta_size) != meta_raw:
        raise RuntimeError('cannot decompress the metadata of %s' % model_path)
    raw, at = out.raw, 0
    while at < len(raw):
        key_len, value_len = struct.unpack_from('<II', raw, at)
        key = raw[at + 8:at + 8 + key_len]
        if key == b'tokenizer':
            return raw[at + 8 + key_len:at + 8 + key_len + value_len]
        at += 8 + key_len + value_len
    raise RuntimeError('%s has no tokenizer' % model_path)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def gguf_seeds(out):
    """Micro GGUF files: float types at hidden 16 (so they stay small), the 32-element
    block types at hidden 32, and the 256-element ones on ffn_down (ffn 256, one layer)
    beside a 32-element type, as llama-quantize's fallbacks mix them."""
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'gguf'))
    import gguf_file as G
    from test_hostile import micro_gguf
    small = dict(hidden=16, heads=2, kv_heads=1, head_dim=8, ffn=32)
    k = dict(ffn=256, layers=1)
    seeds = {
        'f32': ('F32', None, small), 'f16': ('F16', None, small), 'bf16': ('BF16', None, small),
        'q8_0': ('Q8_0', None, {}), 'q4_0': ('Q4_0', None, {}), 'q4_1': ('Q4_1', None, {}),
        'q5_0': ('Q5_0', None, {}), 'q5_1': ('Q5_1', None, {}), 'iq4_nl': ('IQ4_NL', None, {}),
        'q4_k': ('Q5_0', {'ffn_down': 'Q4_K'}, k), 'q5_k': ('Q5_1', {'ffn_down': 'Q5_K'}, k),
        'q6_k': ('Q8_0', {'ffn_down': 'Q6_K'}, k), 'q2_k': ('Q4_0', {'ffn_down': 'Q2_K'}, k),
        'q3_k': ('Q4_0', {'ffn_down': 'Q3_K'}, k), 'iq4_xs': ('IQ4_NL', {'ffn_down': 'IQ4_XS'}, k),
        'q4_0-no-vocab': ('Q4_0', None, dict(tokenizer=False)),
        'mixed-align64': ('Q4_0', {'token_embd': 'Q8_0', 'attn_v': 'BF16', 'attn_output': 'F16', 'attn_norm': 'BF16',
                                   'output_norm': 'F16'}, {}),
        'bf16-huge-v2': ('BF16', None, small),
        'q4_0-edges': ('Q4_0', None, dict(layers=3)),
    }
    os.makedirs(os.path.join(out, 'gguf'), exist_ok=True)
    for i, (name, (mat_type, types, kw)) in enumerate(seeds.items()):
        md, tensors = micro_gguf(mat_type, types=types, seed=i, **kw)
        extra = {}
        if name == 'mixed-align64':  # also the per-layer forms of the metadata
            extra['alignment'] = 64
            md['gemma2.attention.sliding_window_pattern'] = G.array(G.BOOL, [True, False])
            md['gemma2.attention.head_count_kv'] = G.array(G.UINT32, [1, 1])
        if name == 'q4_0-edges':  # the smallest context and window, no soft-caps, every 3rd layer global
            md.update({'gemma2.context_length': G.u32(3), 'gemma2.attention.sliding_window': G.u32(1),
                       'gemma2.attn_logit_softcapping': G.f32(0), 'gemma2.final_logit_softcapping': G.f32(0),
                       'gemma2.attention.sliding_window_pattern': G.u32(3), 'gemma2.rope.freq_base': G.f32(500.0)})
        if name == 'bf16-huge-v2':  # finite weights whose products overflow: NaN logits
            import numpy as np
            from ggml_quant import quantize
            tensors = [t._replace(data=quantize(np.full(len(t.data) // 2, 3e38, np.float32), 'BF16'))
                       if t.type == 'BF16' else t for t in tensors]
        path = os.path.join(out, 'gguf', name + '.gguf')
        G.write_gguf(path, md, tensors, **extra)
        if name.endswith('-v2'):  # GGUF v2 has v3's layout (v3 only allows big-endian files)
            with open(path, 'r+b') as f:
                f.seek(4)
                f.write(struct.pack('<I', 2))
        if os.path.getsize(path) > 40 << 10:
            raise RuntimeError('%s: %d bytes, keep seeds under 40 KB' % (path, os.path.getsize(path)))


def main():
    cli, out = sys.argv[1], sys.argv[2]
    if sys.argv[3:]:  # only the named sections (so far: gguf)
        if sys.argv[3:] != ['gguf']:
            sys.exit('make_seeds.py: the only section that can be made alone is gguf')
        gguf_seeds(out)
        return 0
    gguf_seeds(out)
    tmp = tempfile.mkdtemp()
    try:
        plain = micro_checkpoint(os.path.join(tmp, 'plain'), 64, 1)
        tok = micro_checkpoint(os.path.join(tmp, 'tok'), 2048, 2)
        shutil.copy(SPM, os.path.join(tok, 'tokenizer.model'))
        models = {}
        for name, src, flags in [('micro-f32', plain, ['--dtype', 'f32']), ('micro-bf16', plain, ['--dtype', 'bf16']),
                                 ('micro-q8', plain, ['--dtype', 'q8']), ('micro-q4', plain, ['--dtype', 'q4']),
                                 ('micro-zstd', plain, ['--dtype', 'bf16', '--compress']),
                                 ('micro-tok-q8', tok, ['--dtype', 'q8', '--compress'])]:
            path = os.path.join(out, 'model', name + '.g2')
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.run([cli, 'convert', src, path] + flags, check=True, stdout=subprocess.DEVNULL)
            models[name] = path
        # the model the state and tokenizer targets use, beside the corpora
        shutil.copy(models['micro-tok-q8'], os.path.join(out, '..', 'micro-tok.g2'))

        write(os.path.join(out, 'tokenizer', 'spm-small.blob'), tokenizer_blob(models['micro-tok-q8']))
        sys.path.insert(0, os.path.join(ROOT, 'bindings', 'python'))
        import gemma2
        with gemma2.Model(models['micro-tok-q8']) as model:
            for i, (ids, temp) in enumerate([([2], 0.0), ([2, 10, 300, 40], 0.0), ([2] + list(range(50, 80)), 0.8)]):
                with gemma2.Session(model, n_ctx=64, temperature=temp, seed=i) as s:
                    s.feed(ids)
                    if i:
                        s.step()
                    write(os.path.join(out, 'state', 'state-%d' % i), s.save())
        for i, text in enumerate(['Hello world', 'a  b\tc\n\nd', '<start_of_turn>user\nhi<end_of_turn>\n',
                                  'caf\u00e9 \u65e5\u672c\u8a9e \U0001f600', '\x00\xff', ' ' * 40]):
            data = text.encode('utf-8', 'surrogatepass') if isinstance(text, str) else text
            write(os.path.join(out, 'tokenize', 'text-%d' % i), bytes([i % 2]) + data)
        for i, ids in enumerate([[2, 100, 200], list(range(0, 300, 7)), [6 + 0xe6, 6 + 0x97, 6 + 0xa5, 1999],
                                 [5, 4, 3, 2, 1, 0]]):
            write(os.path.join(out, 'detokenize', 'ids-%d' % i), bytes([i % 2]) + struct.pack('<%di' % len(ids), *ids))
        write(os.path.join(out, 'safetensors', 'micro.safetensors'),
              open(os.path.join(plain, 'model.safetensors'), 'rb').read()[:4096])
        write(os.path.join(out, 'safetensors', 'tiny-b-shard'),
              open(os.path.join(ROOT, 'tests', 'data', 'tiny-b', 'model-00002-of-00002.safetensors'), 'rb').read()[:4096])
        for name in ('tiny-a', 'tiny-b'):
            write(os.path.join(out, 'config', name + '.json'),
                  open(os.path.join(ROOT, 'tests', 'data', name, 'config.json'), 'rb').read())
        write(os.path.join(out, 'config', 'micro.json'), open(os.path.join(plain, 'config.json'), 'rb').read())
    finally:
        shutil.rmtree(tmp)
    return 0


if __name__ == '__main__':
    sys.exit(main())
