#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Synthetic models (gemma2 convert --synthetic) and the benchmark (gemma2 bench).

A tiny synthetic model is written in each weight type, verified and inspected with
info; bench runs on it with few tokens and checks its JSON and its text; usage
errors exit 2, runtime errors 1.

Usage: python3 test_cli_bench.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)
"""
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import CliTest, tmp_path  # noqa: E402

DTYPES = ('f32', 'bf16', 'q8', 'q4')
# tiny: hidden 256, 4 layers, 4 heads / 2 kv heads of 64, ffn 1024, vocabulary 2048
TINY = {'vocab_size': 2048, 'hidden_size': 256, 'layers': 4, 'heads / kv heads': '4 / 2',
        'head_dim': 64, 'ffn_size': 1024, 'context_length': 1024, 'sliding_window': 256}
# bench --json keys the brief promises, and the numbers among them
JSON_KEYS = ('prefill_tok_s', 'prefill_tok_s_stddev', 'decode_tok_s', 'decode_tok_s_stddev',
             'bandwidth_gb_s', 'roofline_share', 'model_bytes', 'bits_per_weight', 'threads',
             'prompt_tokens', 'gen_tokens', 'reps', 'file_bytes', 'parameters', 'roofline_tok_s',
             'file_pmd_mapped_bytes')
# one thread, a short prompt; the bandwidth buffer is the default one (>= 1 GiB, what
# users get), which takes well under a second
BENCH = ('--json', '-p', '8', '-n', '4', '-r', '2', '-t', '1')


def info_fields(out):
    """The 'key: value' lines of gemma2 info, and the tensor lines {name: (type, shape)}."""
    fields, tensors = {}, {}
    for line in out.splitlines():
        m = re.match(r'^([a-z_ /]+):\s+(.*)$', line)
        if m:
            fields[m.group(1).strip()] = m.group(2).strip()
        m = re.match(r'^  (\S+)\s+(f32|bf16|q8|q4)\s+(\d+(?: x \d+)*)\s+(\d+) bytes', line)
        if m:
            tensors[m.group(1)] = (m.group(2), m.group(3), int(m.group(4)))
    return fields, tensors


class SyntheticTest(CliTest):
    _made = {}

    def synthetic(self, size, out_name, *opts):
        """convert --synthetic SIZE OUT opts: exit 0, nothing on stdout or (not a
        terminal) stderr, no OUT.tmp left."""
        key = (size,) + opts
        if key not in SyntheticTest._made:
            out = tmp_path('synthetic', out_name)
            r = self.g2('convert', '--synthetic', size, out, *opts, code=0)
            self.assertEqual(r.out, '', 'convert --synthetic wrote to stdout')
            self.assertEqual(r.err, '', 'convert --synthetic wrote to a non-terminal stderr')
            self.assertTrue(os.path.isfile(out))
            self.assertFalse(os.path.exists(out + '.tmp'))
            SyntheticTest._made[key] = out
        return SyntheticTest._made[key]

    def tiny(self, dtype):
        # q4 is the default: made without --dtype, which the test checks
        if dtype == 'q4':
            return self.synthetic('tiny', 'tiny-q4.g2')
        return self.synthetic('tiny', 'tiny-%s.g2' % dtype, '--dtype', dtype)


class TestSynthetic(SyntheticTest):
    def test_each_dtype_verifies_and_has_the_shapes(self):
        for dtype in DTYPES:
            with self.subTest(dtype=dtype):
                m = self.tiny(dtype)
                self.assertIn('OK', self.g2('verify', m, code=0).out)
                fields, tensors = info_fields(self.g2('info', m, code=0).out)
                for k, v in TINY.items():
                    self.assertEqual(fields.get(k), str(v), 'info %s' % k)
                self.assertEqual(fields['weight type'], dtype)
                self.assertEqual(fields['layer kinds'].split()[0], 'LGLG')
                self.assertRegex(fields['tokenizer'], r'^none')
                self.assertEqual(len(tensors), 2 + 4 * 11)
                embed_type = 'q8' if dtype == 'q4' else dtype
                self.assertEqual(tensors['model.embed_tokens.weight'][:2], (embed_type, '2048 x 256'))
                self.assertEqual(tensors['model.norm.weight'][:2], ('f32', '256'))
                self.assertEqual(tensors['model.layers.3.self_attn.q_proj.weight'][:2], (dtype, '256 x 256'))
                self.assertEqual(tensors['model.layers.0.self_attn.k_proj.weight'][:2], (dtype, '128 x 256'))
                self.assertEqual(tensors['model.layers.1.mlp.down_proj.weight'][:2], (dtype, '256 x 1024'))
                self.assertEqual(tensors['model.layers.2.mlp.gate_proj.weight'][:2], (dtype, '1024 x 256'))
                self.assertEqual(tensors['model.layers.2.post_feedforward_layernorm.weight'][:2], ('f32', '256'))
                self.assertEqual(int(fields['weight bytes']), sum(t[2] for t in tensors.values()))
                # it runs, and its logits are finite (random weights, but sane ones)
                out = tmp_path('synthetic', 'logits-%s.f32' % dtype)
                self.g2('logits', m, '--tokens', '2,17,1000,2047', '--out', out, '-t', '1', code=0)
                with open(out, 'rb') as f:
                    vals = clitest.f32_values(f.read())
                self.assertEqual(len(vals), 4 * 2048)
                self.assertTrue(all(math.isfinite(x) for x in vals))
                self.assertGreater(max(vals) - min(vals), 0.0)

    def test_embed_dtype(self):
        # --embed-dtype sets the tied embedding's type alone; the default keeps q4
        # models' embedding in q8 (checked above)
        sizes = {}
        for dtype, embed in (('q4', 'q4'), ('q8', 'q4'), ('q4', 'bf16'), ('f32', 'q8'), ('q8', 'q8')):
            with self.subTest(dtype=dtype, embed=embed):
                m = self.synthetic('tiny', 'tiny-%s-e%s.g2' % (dtype, embed), '--dtype', dtype,
                                   '--embed-dtype', embed)
                self.assertIn('OK', self.g2('verify', m, code=0).out)
                _, tensors = info_fields(self.g2('info', m, code=0).out)
                self.assertEqual(tensors['model.embed_tokens.weight'][:2], (embed, '2048 x 256'))
                self.assertEqual(tensors['model.layers.0.mlp.up_proj.weight'][0], dtype)
                sizes[(dtype, embed)] = os.path.getsize(m)
                out = tmp_path('synthetic', 'logits-%s-e%s.f32' % (dtype, embed))
                self.g2('logits', m, '--tokens', '2,17,1000,2047', '--out', out, '-t', '1', code=0)
                with open(out, 'rb') as f:
                    vals = clitest.f32_values(f.read())
                self.assertTrue(all(math.isfinite(x) for x in vals))
        # the same embedding type as the default gives the default's file
        self.assertEqual(self.info_digest(self.synthetic('tiny', 'tiny-q8-eq8.g2', '--dtype', 'q8',
                                                         '--embed-dtype', 'q8')),
                         self.info_digest(self.tiny('q8')))
        self.assertLess(sizes[('q4', 'q4')], os.path.getsize(self.tiny('q4')))

    def test_same_options_same_file_any_thread_count(self):
        # chunks of 2^18 weights: the embedding (2048 x 256) takes two, run in parallel
        a = self.tiny('q8')
        b = self.synthetic('tiny', 'tiny-q8-t1.g2', '--dtype', 'q8', '-t', '1', '--seed', '1')
        c = self.synthetic('tiny', 'tiny-q8-t3.g2', '--dtype=q8', '--threads', '3')
        d = self.synthetic('tiny', 'tiny-q8-seed2.g2', '--dtype', 'q8', '--seed', '2')
        digest = self.info_digest(a)
        self.assertEqual(self.info_digest(b), digest)
        self.assertEqual(self.info_digest(c), digest)
        self.assertNotEqual(self.info_digest(d), digest)
        with open(a, 'rb') as f1, open(b, 'rb') as f2:
            self.assertEqual(f1.read(), f2.read())

    def test_weight_statistics(self):
        # normal-like weights with standard deviation ~0.02
        m = self.tiny('f32')
        with open(m, 'rb') as f:
            data = f.read()
        h, entries = clitest.parse_model(data)
        e = next(e for e in entries if e['name'] == 'model.layers.0.mlp.up_proj.weight')
        start = h['data_offset'] + e['offset']
        vals = clitest.f32_values(data[start:start + e['raw_size']])
        n = len(vals)
        mean = sum(vals) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in vals) / n)
        self.assertLess(abs(mean), 0.001)
        self.assertAlmostEqual(std, 0.02, delta=0.001)
        self.assertLess(max(abs(x) for x in vals), 0.02 * 3.5)

    def test_tokenizer(self):
        spm = os.path.join(clitest.DATA, 'tokenizer', 'spm_small.model')
        m = self.synthetic('tiny', 'tiny-tok.g2', '--dtype', 'q8', '--tokenizer', spm)
        fields, _ = info_fields(self.g2('info', m, code=0).out)
        self.assertRegex(fields['tokenizer'], r'^2000 pieces')
        self.assertEqual(fields['bos / eos / pad'], '2 / 1 / 0')
        r = self.g2('detokenize', m, '--ids', '300,400,500', code=0)
        self.assertNotEqual(r.out, '')
        # a tokenizer with more pieces than the vocabulary: the real Gemma one, if the
        # tokenizer tests have cached it (no network here)
        cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        gemma = os.path.join(cache, 'gemma2', 'gemma-tokenizer.json')
        if os.path.isfile(gemma):
            out = tmp_path('synthetic', 'too-many-pieces.g2')
            self.fails('convert', '--synthetic', 'tiny', out, '--tokenizer', gemma,
                       patterns=[r'256000 pieces', r'vocabulary is 2048'])
            self.assertFalse(os.path.exists(out) or os.path.exists(out + '.tmp'))

    def test_errors(self):
        out = tmp_path('synthetic', 'err.g2')
        self.fails('convert', '--synthetic', 'tiny', out, '--tokenizer', tmp_path('synthetic', 'no-such.json'),
                   patterns=[r'tokenizer'])
        self.fails('convert', '--synthetic', 'tiny', clitest.TMP, patterns=[r'directory'])
        self.fails('convert', '--synthetic', 'tiny', tmp_path('synthetic', 'no', 'dir') + '/x.g2')
        self.assertFalse(os.path.exists(out))

    def test_usage(self):
        r = self.g2('convert', '--synthetic', '--help', code=0)
        self.assertIn('usage', r.out)
        self.assertIn('--synthetic 2b|9b|27b|tiny', r.out)
        self.assertIn('--synthetic', self.g2('convert', '--help', code=0).out)
        out = tmp_path('synthetic', 'usage.g2')
        for args in [('--synthetic',), ('--synthetic', 'tiny'), ('--synthetic', '3b', out),
                     ('--synthetic=', out), ('--synthetic', 'tiny', out, '--dtype', 'f16'),
                     ('--synthetic', 'tiny', out, '--dtype'), ('--synthetic', 'tiny', out, '--seed', '-1'),
                     ('--synthetic', 'tiny', out, '--embed-dtype'), ('--synthetic', 'tiny', out, '--embed-dtype', 'q6'),
                     ('--synthetic', 'tiny', out, '--seed', 'x'), ('--synthetic', 'tiny', out, '-t', '999'),
                     ('--synthetic', 'tiny', out, '-t'), ('--synthetic', 'tiny', out, '--tokenizer'),
                     ('--synthetic', 'tiny', out, 'extra'), ('--synthetic', 'tiny', out, '--bogus')]:
            with self.subTest(args=' '.join(args)):
                self.usage_error('convert', *args)
        self.assertFalse(os.path.exists(out))


class TestBench(SyntheticTest):
    def bench_json(self, model, *extra):
        r = self.g2('bench', model, *(BENCH + extra), code=0)
        lines = r.out.strip().splitlines()
        self.assertEqual(len(lines), 1, 'bench --json printed more than one line:\n' + r.out)
        return json.loads(lines[0])

    def test_json_each_dtype(self):
        for dtype in DTYPES:
            with self.subTest(dtype=dtype):
                m = self.tiny(dtype)
                j = self.bench_json(m)
                for k in JSON_KEYS:
                    self.assertIn(k, j)
                    self.assertIsInstance(j[k], (int, float), k)
                    self.assertTrue(math.isfinite(j[k]), k)
                for k in ('prefill_tok_s', 'decode_tok_s', 'bandwidth_gb_s', 'roofline_share', 'model_bytes',
                          'bits_per_weight', 'file_bytes', 'parameters', 'roofline_tok_s'):
                    self.assertGreater(j[k], 0, k)
                for k in ('prefill_tok_s_stddev', 'decode_tok_s_stddev'):
                    self.assertGreaterEqual(j[k], 0, k)
                self.assertGreater(j['roofline_share'], 0)
                self.assertLess(j['roofline_share'], 2)
                self.assertEqual((j['threads'], j['prompt_tokens'], j['gen_tokens'], j['reps']), (1, 8, 4, 2))
                self.assertEqual(len(j['prefill_tok_s_runs']), 2)
                self.assertEqual(len(j['decode_tok_s_runs']), 2)
                self.assertAlmostEqual(j['decode_tok_s'], sum(j['decode_tok_s_runs']) / 2, delta=1e-3)
                self.assertEqual(j['weight_type'], dtype)
                self.assertIn(j['kernels'], ('scalar', 'avx2', 'avxvnni', 'avx512', 'avx512vbmi', 'amx', 'neon'))
                # open time and memory at the end of the prefill: its session's KV cache
                # of p positions, all written (4 layers, 2 KV heads of 64, keys and values
                # in f32); the weights are all resident
                self.assertGreaterEqual(j['open_ms'], 0)
                self.assertEqual(j['kv_cache_bytes'], 2 * 4 * 8 * 2 * 64 * 4)
                if os.path.exists('/proc/self/status'):
                    self.assertGreater(j['resident_bytes'], j['model_bytes'])
                    self.assertAlmostEqual(j['resident_other_bytes'],
                                           j['resident_bytes'] - j['model_bytes'] - j['kv_cache_bytes'], delta=1)
                    self.assertGreater(j['resident_other_bytes'], 0)  # scratch, code, the pool
                # 2 MB entries of the file mapping: whole ones, within the file
                pmd = j['file_pmd_mapped_bytes']
                self.assertGreaterEqual(pmd, 0)
                self.assertLessEqual(pmd, j['file_bytes'])
                self.assertEqual(pmd % (2 << 20), 0)
                fields, _ = info_fields(self.g2('info', m, code=0).out)
                self.assertEqual(j['model_bytes'], int(fields['weight bytes']))
                self.assertEqual(j['file_bytes'], os.path.getsize(m))
                # parameters: embedding, 4 layers of q, k, v, o, gate, up, down and norms
                params = 2048 * 256 + 256 + 4 * (256 * 256 * 2 + 128 * 256 * 2 + 3 * 1024 * 256 + 4 * 256)
                self.assertEqual(j['parameters'], params)
                self.assertAlmostEqual(j['bits_per_weight'], j['model_bytes'] * 8 / params, delta=1e-3)
                lo, hi = {'f32': (32, 32), 'bf16': (16, 16.1), 'q8': (8.5, 8.6), 'q4': (4.5, 5.1)}[dtype]
                self.assertGreaterEqual(j['bits_per_weight'], lo - 1e-3)
                self.assertLessEqual(j['bits_per_weight'], hi)
                # the read test timed both of its methods and kept the faster
                methods = j['bandwidth_methods_gb_s']
                self.assertEqual(sorted(methods), ['lines', 'words'])
                for v in methods.values():
                    self.assertGreater(v, 0)
                self.assertEqual(j['bandwidth_method'], max(methods, key=methods.get))
                self.assertAlmostEqual(j['roofline_tok_s'], j['bandwidth_gb_s'] * 1e9 / j['model_bytes'],
                                       delta=j['roofline_tok_s'] * 1e-3)
                self.assertAlmostEqual(j['roofline_share'], j['decode_tok_s'] / j['roofline_tok_s'],
                                       delta=j['roofline_share'] * 1e-3)
                all_bytes = j['model_bytes'] + j['kv_bytes_per_token_f32']
                # decode starts from an empty context, as llama-bench's tg test: steps
                # at positions 0-3 read 1-4 keys and values (the window is 256), in 4
                # layers of 2 KV heads of 64 floats each; not positions 8-11 after the prompt
                self.assertEqual(j['kv_bytes_per_token_f32'], 4 * 2.5 * 2 * 2 * 64 * 4)
                self.assertAlmostEqual(j['roofline_share_kv'],
                                       j['decode_tok_s'] * all_bytes / (j['bandwidth_gb_s'] * 1e9),
                                       delta=j['roofline_share_kv'] * 1e-3)
                # the bandwidth measured again after each decode run, and the share against its mean
                between = j['bandwidth_between_runs']
                self.assertEqual(len(between), 2)
                self.assertTrue(all(b > 0 and math.isfinite(b) for b in between), between)
                self.assertAlmostEqual(j['bandwidth_between_gb_s'], sum(between) / 2,
                                       delta=j['bandwidth_between_gb_s'] * 1e-3)
                self.assertAlmostEqual(j['roofline_share_between'],
                                       j['decode_tok_s'] * j['model_bytes'] / (j['bandwidth_between_gb_s'] * 1e9),
                                       delta=j['roofline_share_between'] * 1e-3)
                # decoded once more between passes: -n 4 is one burst, so the median is
                # its share against the mean of the two passes around it
                self.assertEqual(j['paired_bursts'], 1)
                for k in ('roofline_share_paired', 'bandwidth_paired_gb_s', 'decode_tok_s_paired'):
                    self.assertGreater(j[k], 0, k)
                    self.assertTrue(math.isfinite(j[k]), k)
                self.assertAlmostEqual(j['roofline_share_paired'],
                                       j['decode_tok_s_paired'] * j['model_bytes'] / (j['bandwidth_paired_gb_s'] * 1e9),
                                       delta=j['roofline_share_paired'] * 1e-3)
                # the same positions as the timed runs, so the same KV bytes per token
                self.assertAlmostEqual(j['roofline_share_paired_kv'],
                                       j['roofline_share_paired'] * all_bytes / j['model_bytes'],
                                       delta=1e-5)  # both printed to 6 decimals

    def test_text_and_prefill_only(self):
        m = self.tiny('q8')
        r = self.g2('bench', m, '-p', '8', '-n', '4', '-r', '1', '-t', '1', code=0)
        for pat in (r'^model:\s+' + re.escape(m), r'q8, [\d.]+ M parameters, 8\.\d\d bits per weight',
                    r'threads:\s+1 \(kernels: \w+\)', r'bandwidth:\s+[\d.]+ GB/s',
                    r'^\s+reading (every word|one word per line), faster here than '
                    r'(every word|one word per line) \([\d.]+ against [\d.]+ GB/s\)$', r'^pp8\s+[\d.]+\s+[\d.]+\s+1$',
                    r'^tg4\s+[\d.]+\s+[\d.]+\s+1$', r'roofline:\s+decode [\d.]+ tok/s = [\d.]+% of',
                    r'KV cache .*\n.*; counting it, [\d.]+%$', r'^open:\s+[\d.]+ ms',
                    r'against the bandwidth after each decode run \(mean [\d.]+ GB/s of each\n'
                    r'.*best of 3 passes\), decode is [\d.]+% of the roofline$',
                    r'in 1 burst of 4 steps, each against the passes just before and\n'
                    r'.*after it \(mean [\d.]+ GB/s; [\d.]+ tok/s\), decode is [\d.]+% of the roofline\n'
                    r'.*\(the median over the bursts; counting the KV cache read, [\d.]+%\)$',
                    r'^memory:\s+[\d.]+ [kMG]B resident .* KV cache of',
                    r'^pages:\s+[\d.]+% of the file mapped with 2 MB pages'):
            self.assertRegex(r.out, re.compile(pat, re.M))
        # a file under 2 MB has no 2 MB page to map: no advice to evict it
        self.assertNotIn('evict', r.out)
        r = self.g2('bench', m, '-p', '8', '-n', '0', '-r', '1', '-t', '1', '--no-mmap', code=0)
        self.assertNotIn('pages:', r.out)  # a private copy maps no file
        j = self.bench_json(m, '-n', '0', '--no-warmup', '--seed', '7')
        self.assertEqual(j['gen_tokens'], 0)
        self.assertIsNone(j['decode_tok_s'])
        self.assertIsNone(j['roofline_share'])
        self.assertIsNone(j['roofline_share_kv'])
        self.assertIsNone(j['bandwidth_between_gb_s'])
        self.assertIsNone(j['roofline_share_between'])
        self.assertEqual(j['bandwidth_between_runs'], [])
        for k in ('roofline_share_paired', 'roofline_share_paired_kv', 'bandwidth_paired_gb_s',
                  'decode_tok_s_paired'):
            self.assertIsNone(j[k], k)
        self.assertEqual(j['paired_bursts'], 0)
        self.assertGreater(j['prefill_tok_s'], 0)
        self.assertEqual((j['warmup'], j['seed']), (False, 7))
        # bursts of 4 steps, the last one shorter
        j = self.bench_json(m, '-n', '9', '-r', '1')
        self.assertEqual((j['gen_tokens'], j['paired_bursts']), (9, 3))
        self.assertGreater(j['roofline_share_paired'], 0)

    def test_decode_only(self):
        # -p 0, as llama-bench's: no prefill test; the memory line is read at the end
        # of the decode, its session's KV cache of n positions all written
        m = self.tiny('q8')
        j = self.bench_json(m, '-p', '0', '-n', '5', '-r', '2')
        self.assertEqual((j['prompt_tokens'], j['gen_tokens']), (0, 5))
        for k in ('prefill_tok_s', 'prefill_tok_s_stddev'):
            self.assertIsNone(j[k], k)
        self.assertEqual(j['prefill_tok_s_runs'], [])
        self.assertEqual(len(j['decode_tok_s_runs']), 2)
        self.assertGreater(j['decode_tok_s'], 0)
        self.assertGreater(j['roofline_share'], 0)
        self.assertEqual(j['kv_cache_bytes'], 2 * 4 * 5 * 2 * 64 * 4)
        if os.path.exists('/proc/self/status'):
            self.assertGreater(j['resident_other_bytes'], 0)
        r = self.g2('bench', m, '-p', '0', '-n', '4', '-r', '1', '-t', '1', code=0)
        self.assertRegex(r.out, re.compile(r'^tg4\s+[\d.]+\s+[\d.]+\s+1$', re.M))
        self.assertNotRegex(r.out, re.compile(r'^pp', re.M))
        self.assertRegex(r.out, re.compile(r'^memory:\s+.* at the end of a decode = .*\(f32, 4 positions\)', re.M))

    def test_errors(self):
        m = self.tiny('q8')
        # the context length of tiny is 1024
        self.fails('bench', m, '-p', '1000', '-n', '100', '-r', '1', patterns=[r'context'])
        self.fails('bench', tmp_path('bench', 'missing.g2'), '-p', '8', '-n', '4')

    def test_usage(self):
        r = self.g2('bench', '--help', code=0)
        self.assertIn('usage: gemma2 bench MODEL', r.out)
        self.assertIn('bench', self.g2('--help', code=0).out)
        m = self.tiny('q8')
        for args in [(), ('-p', '8'), (m, '-p', '0', '-n', '0'), (m, '-p', '-1'), (m, '-p', 'x'), (m, '-p'),
                     (m, '-n', '-1'), (m, '-r', '0'), (m, '-r'), (m, '--ctx', '64'), (m, '--bogus'), (m, m),
                     (m, '-t', '-1'), (m, '-t'), (m, '--seed', '-5'), (m, '--bw-mib', '0')]:
            with self.subTest(args=' '.join(args)):
                self.usage_error('bench', *args)


if __name__ == '__main__':
    sys.exit(clitest.main())
