#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The converter's input paths: F32/F16/BF16 and sharded checkpoints rewritten
from tiny-a, and bad checkpoints, configs and paths.

Usage: python3 test_cli_convert.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)
"""
import array
import math
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import (CheckpointTest, bf16_to_f32_bytes, f16_bytes,  # noqa: E402
                     f16_exact, f32_values, tmp_path)


# ---- converter input paths -------------------------------------------------------
class TestConverter(CheckpointTest):
    def test_f32_single_file(self):
        src = self.checkpoint('f32-one', self.f32_tensors())
        out = self.convert_and_check(src, 'f32-one')  # default dtype
        self.assertRegex(self.g2('info', out, code=0).out, r'weight type:\s+f32')
        # same weights, same options, same folder name: the same file as BF16 --dtype f32
        self.assertEqual(self.info_digest(out),
                         self.info_digest(self.model('tiny-a', '--dtype', 'f32')))
        out16 = tmp_path('conv', 'f32-one-bf16.g2')
        self.convert(src, out16, '--dtype', 'bf16')
        self.assertEqual(self.info_digest(out16),
                         self.info_digest(self.model('tiny-a', '--dtype', 'bf16')))

    def test_f32_three_shards(self):
        src = self.checkpoint('f32-shards', self.f32_tensors(), shards=3)
        out = self.convert_and_check(src, 'f32-shards')
        self.assertEqual(self.info_digest(out),
                         self.info_digest(self.model('tiny-a', '--dtype', 'f32')))

    def test_bf16_reordered_shards(self):
        # tensor order in the source does not matter
        src = self.checkpoint('bf16-rev', list(reversed(self.tensors)), shards=2)
        out = self.convert_and_check(src, 'bf16-rev')
        self.assertEqual(self.info_digest(out), self.info_digest(self.model('tiny-a')))

    def test_f16_exact_tensors_mixed_with_f32(self):
        # tensors whose values are all exact in binary16 are stored as F16, the rest
        # as F32: the weights are the golden ones, so everything matches exactly
        mixed, n16 = [], 0
        for n, dt, s, b in self.tensors:
            vals = f32_values(bf16_to_f32_bytes(b))
            if f16_exact(vals):
                mixed.append((n, 'F16', s, f16_bytes(vals)))
                n16 += 1
            else:
                mixed.append((n, 'F32', s, vals.tobytes()))
        self.assertGreater(n16, 10)
        src = self.checkpoint('f16-mixed', mixed)
        out = self.convert_and_check(src, 'f16-mixed')
        self.assertEqual(self.info_digest(out),
                         self.info_digest(self.model('tiny-a', '--dtype', 'f32')))

    def test_f16_all_tensors(self):
        # all F16 (values rounded to binary16, a few to subnormals): conversion must
        # equal that of an F32 checkpoint holding the same rounded values, in both
        # output types
        f16, f32r = [], []
        for n, dt, s, b in self.tensors:
            vals = f32_values(bf16_to_f32_bytes(b))
            packed = f16_bytes(vals)
            f16.append((n, 'F16', s, packed))
            f32r.append((n, 'F32', s,
                         array.array('f', struct.unpack('<%de' % len(vals), packed)).tobytes()))
        src16 = self.checkpoint('f16-all', f16)
        src32 = self.checkpoint('f16-as-f32', f32r)
        for dtype in ('f32', 'bf16'):
            with self.subTest(dtype=dtype):
                a = tmp_path('conv', 'f16-all-%s.g2' % dtype)
                b = tmp_path('conv', 'f16-as-f32-%s.g2' % dtype)
                self.convert(src16, a, '--dtype', dtype)
                self.convert(src32, b, '--dtype', dtype)
                self.assertEqual(self.info_digest(a), self.info_digest(b),
                                 'F16 -> %s differs from the same values given as F32' % dtype)
                self.g2('verify', a, code=0)
                blob = self.logits(a, 'tiny-a', 'f16-all-%s.f32' % dtype)
                self.assertTrue(all(math.isfinite(x) for x in f32_values(blob)))

    def test_lm_head_is_ignored(self):
        # a tied lm_head.weight copy is accepted (with a note) and not stored
        emb = next(t for t in self.tensors if t[0] == 'model.embed_tokens.weight')
        src = self.checkpoint('lm-head', self.tensors + [('lm_head.weight',) + emb[1:]])
        out = tmp_path('conv', 'lm-head.g2')
        r = self.convert(src, out)
        self.assertIn('lm_head', r.err)
        self.assertEqual(self.info_digest(out), self.info_digest(self.model('tiny-a')))

    def test_missing_tensor(self):
        for name in ('model.layers.1.mlp.down_proj.weight', 'model.norm.weight',
                     'model.embed_tokens.weight'):
            with self.subTest(tensor=name):
                src = self.checkpoint('missing', [t for t in self.tensors if t[0] != name])
                self.convert_fails(src, re.escape(name), r'missing')
        # the same from a sharded checkpoint
        name = 'model.layers.3.self_attn.k_proj.weight'
        src = self.checkpoint('missing-sharded', [t for t in self.tensors if t[0] != name],
                              shards=3)
        self.convert_fails(src, re.escape(name))

    def test_wrong_shape(self):
        cases = {
            'transposed': ('model.layers.0.self_attn.k_proj.weight', lambda s: s[::-1]),
            'extra-dim': ('model.layers.2.mlp.up_proj.weight', lambda s: s + [1]),
            'norm-2d': ('model.layers.1.input_layernorm.weight', lambda s: [1] + s),
        }
        for what, (name, reshape) in cases.items():
            with self.subTest(what=what):
                ts = [(n, dt, reshape(s) if n == name else s, b) for n, dt, s, b in self.tensors]
                src = self.checkpoint('shape', ts)
                self.convert_fails(src, re.escape(name), r'shape')

    def test_size_not_matching_shape(self):
        # data_offsets that disagree with shape x dtype
        name = 'model.layers.0.mlp.gate_proj.weight'
        ts = [(n, dt, s, b[:-2] if n == name else b) for n, dt, s, b in self.tensors]
        self.convert_fails(self.checkpoint('size', ts), re.escape(name))

    def test_unsupported_dtype(self):
        name = 'model.layers.0.input_layernorm.weight'
        ts = []
        for n, dt, s, b in self.tensors:
            if n == name:
                vals = f32_values(bf16_to_f32_bytes(b))
                ts.append((n, 'F64', s, struct.pack('<%dd' % len(vals), *vals)))
            else:
                ts.append((n, dt, s, b))
        self.convert_fails(self.checkpoint('f64', ts), re.escape(name), r'F64')

    def test_wrong_model_type(self):
        cfg = dict(self.config, model_type='llama')
        self.convert_fails(self.checkpoint('llama', config=cfg), r'model_type|llama')

    def test_bad_configs(self):
        bad = {
            'no-vocab': {k: v for k, v in self.config.items() if k != 'vocab_size'},
            'layers-mismatch': dict(self.config, num_hidden_layers=5),
            'hidden-mismatch': dict(self.config, hidden_size=64),
            'heads-not-divisible': dict(self.config, num_key_value_heads=3),
            'activation': dict(self.config, hidden_activation='relu', hidden_act='relu'),
        }
        for what, cfg in bad.items():
            with self.subTest(what=what):
                self.convert_fails(self.checkpoint('cfg', config=cfg))
        d = self.checkpoint('cfg-json')
        with open(os.path.join(d, 'config.json'), 'w') as f:
            f.write('{"model_type": "gemma2",')
        self.convert_fails(d, r'config\.json')
        os.remove(os.path.join(d, 'config.json'))
        self.convert_fails(d, r'config\.json')

    def test_truncated_safetensors(self):
        src = self.checkpoint('trunc')
        path = os.path.join(src, 'model.safetensors')
        with open(path, 'rb') as f:
            full = f.read()
        for size in (len(full) - 1, len(full) // 2, 100, 8, 3, 0):
            with self.subTest(size=size):
                with open(path, 'wb') as f:
                    f.write(full[:size])
                self.convert_fails(src, r'model\.safetensors')
        # a header length pointing past the end of the file
        with open(path, 'wb') as f:
            f.write(struct.pack('<Q', len(full)) + full[8:])
        self.convert_fails(src, r'model\.safetensors')

    def test_index_with_missing_shard(self):
        extra = {'model.layers.9.foo.weight': 'model-00004-of-00003.safetensors'}
        src = self.checkpoint('index-missing', shards=3, index_extra=extra)
        self.convert_fails(src, r'model-00004-of-00003\.safetensors')
        # an index whose shard file was deleted
        src = self.checkpoint('shard-deleted', shards=3)
        os.remove(os.path.join(src, 'model-00002-of-00003.safetensors'))
        self.convert_fails(src, r'model-00002-of-00003\.safetensors')

    def test_unknown_extra_tensor(self):
        emb = self.tensors[1]
        for name in ('model.layers.0.self_attn.q_norm.weight', 'model.layers.4.input_layernorm.weight',
                     'model.layers.01.input_layernorm.weight', 'vision_tower.weight'):
            with self.subTest(tensor=name):
                src = self.checkpoint('extra', self.tensors + [(name,) + emb[1:]])
                self.convert_fails(src, re.escape(name))

    def test_bad_src_and_out(self):
        self.convert_fails(tmp_path('nope', 'no-such-dir'))
        self.convert_fails(os.path.join(clitest.DATA, 'tiny-a', 'config.json'))
        empty = os.path.dirname(tmp_path('empty-ckpt', 'x'))
        self.convert_fails(empty)
        src = os.path.join(clitest.DATA, 'tiny-a')
        self.fails('convert', src, clitest.TMP)  # OUT is a directory
        self.fails('convert', src, os.path.join(clitest.TMP, 'really-missing', 'x.g2'))

    def test_option_forms(self):
        # --dtype=X, options before the operands, and "--" are the same conversion
        src = os.path.join(clitest.DATA, 'tiny-a')
        want = self.info_digest(self.model('tiny-a', '--dtype', 'f32', '--compress'))
        for i, args in enumerate((('--dtype=f32', '--compress', src),
                                  ('--compress', '--dtype', 'f32', '--', src))):
            with self.subTest(args=' '.join(args)):
                out = tmp_path('conv', 'forms-%d.g2' % i)
                self.g2('convert', *(args + (out,)), code=0)
                self.assertEqual(self.info_digest(out), want)

    def test_embed_dtype(self):
        # --embed-dtype changes the tied embedding's type and nothing else
        src = os.path.join(clitest.DATA, 'tiny-a')
        for dtype, embed in (('q4', 'q4'), ('q8', 'bf16'), ('f32', 'q8')):
            with self.subTest(dtype=dtype, embed=embed):
                out = tmp_path('conv', 'embed-%s-%s.g2' % (dtype, embed))
                self.g2('convert', src, out, '--dtype', dtype, '--embed-dtype=' + embed, code=0)
                info = self.g2('info', out, code=0).out
                self.assertRegex(info, r'\n  model\.embed_tokens\.weight\s+%s\s' % embed)
                self.assertRegex(info, r'\n  model\.layers\.0\.mlp\.up_proj\.weight\s+%s\s' % dtype)
                blob = self.logits(out, 'tiny-a', 'embed-%s-%s.f32' % (dtype, embed))
                self.assertTrue(all(math.isfinite(x) for x in f32_values(blob)))
        out = tmp_path('conv', 'embed-bad.g2')
        for args in (('--embed-dtype',), ('--embed-dtype', 'f16'), ('--embed-dtype=',)):
            with self.subTest(args=' '.join(args)):
                self.usage_error('convert', src, out, *args)
        self.assertFalse(os.path.exists(out))

    def test_failed_convert_keeps_existing_out(self):
        out = tmp_path('conv', 'keep.g2')
        self.convert(os.path.join(clitest.DATA, 'tiny-a'), out)
        with open(out, 'rb') as f:
            before = f.read()
        src = self.checkpoint('keep', [t for t in self.tensors if t[0] != 'model.norm.weight'])
        self.fails('convert', src, out)
        with open(out, 'rb') as f:
            self.assertTrue(f.read() == before, 'a failed convert changed the existing OUT')


if __name__ == '__main__':
    sys.exit(clitest.main())
