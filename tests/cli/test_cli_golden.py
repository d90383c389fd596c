#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Golden checkpoints through the CLI: convert, then logits and generate against the
PyTorch reference (golden.json, logits.f32); info contents and deterministic
conversion.

Usage: python3 test_cli_golden.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import (CASES, CliTest, OPTION_SETS, f32_values, flip_tensor,  # noqa: E402
                     golden, header_digest, parse_model, read_safetensors, tmp_path)


# ---- conversion of the golden checkpoints, logits, generate ----------------------
class TestGolden(CliTest):
    def test_logits_and_generate_match_golden(self):
        for case in CASES:
            for opts in OPTION_SETS:
                with self.subTest(case=case, opts=' '.join(opts) or '(default)'):
                    m = self.model(case, *opts)
                    self.assert_golden_logits(self.logits(m, case), case,
                                              '%s %s' % (case, ' '.join(opts)))
                    self.assert_golden_generate(m, case)

    def test_compressed_logits_bit_identical(self):
        for case in CASES:
            for dtype in ('f32', 'bf16'):
                with self.subTest(case=case, dtype=dtype):
                    plain = self.logits(self.model(case, '--dtype', dtype), case)
                    packed = self.logits(self.model(case, '--dtype', dtype, '--compress'), case)
                    self.assertTrue(plain == packed, '%s %s: --compress changes the logits'
                                    % (case, dtype))

    def test_default_dtype_of_bf16_source_is_bf16(self):
        # all-BF16 source: the default keeps bf16 (convert --help); the file is the
        # same as with an explicit --dtype bf16
        m = self.model('tiny-a')
        r = self.g2('info', m, code=0)
        self.assertRegex(r.out, r'weight type:\s+bf16')
        self.assertEqual(self.info_digest(m), self.info_digest(self.model('tiny-a', '--dtype', 'bf16')))

    def test_logits_to_stdout_and_threads(self):
        case = 'tiny-a'
        g = golden(case)
        m = self.model(case, '--dtype', 'bf16')
        # no -t: the default thread count (all CPUs)
        r = self.g2('logits', m, '--tokens', g['_tokens'], '--out', '-', code=0)
        self.assert_golden_logits(r.stdout, case, 'logits --out - (default threads)')
        blob = self.logits(m, case, 'to-file.f32', '-t', '1')
        self.assertTrue(r.stdout == blob, '--out - differs from --out FILE')
        for t in ('2', '3', '0'):
            blob = self.logits(m, case, 't%s.f32' % t, '-t', t)
            self.assert_golden_logits(blob, case, 'logits -t ' + t)
        g = golden(case)
        r = self.g2('generate', m, '--tokens', g['_tokens'], '-n', len(g['greedy_ids']), code=0)
        self.assertEqual(r.out, ','.join(str(t) for t in g['greedy_ids']) + '\n',
                         'generate with default threads')
        self.assert_golden_generate(m, case, '-t', '3')

    def test_generate_prefix_and_short_runs(self):
        # fewer tokens generated = a prefix of the golden ids; -n 0 prints an empty line
        case = 'tiny-a'
        g = golden(case)
        m = self.model(case, '--dtype', 'f32')
        r = self.g2('generate', m, '--tokens', g['_tokens'], '-n', '5', code=0)
        self.assertEqual(r.out, ','.join(str(t) for t in g['greedy_ids'][:5]) + '\n')
        r = self.g2('generate', m, '--tokens', g['_tokens'], '-n', '0', code=0)
        self.assertEqual(r.out.strip(), '')

    def test_logits_prefix_rows(self):
        # logits of a prefix = the first rows of the golden logits (causality)
        case = 'tiny-a'
        g = golden(case)
        m = self.model(case, '--dtype', 'f32')
        k = 5
        out = tmp_path('logits', 'prefix.f32')
        self.g2('logits', m, '--tokens', ','.join(map(str, g['input_ids'][:k])), '--out', out,
                code=0)
        with open(out, 'rb') as f:
            got = f32_values(f.read())
        vocab = g['_vocab']
        self.assertEqual(len(got), k * vocab)
        worst = max(abs(a - b) for a, b in zip(got, g['_logits'][:k * vocab]))
        self.assertLessEqual(worst, g['_atol'])


# ---- info ------------------------------------------------------------------------
class TestInfo(CliTest):
    def check_info(self, case, opts, matrix_type):
        m = self.model(case, *opts)
        r = self.g2('info', m, code=0)
        g = golden(case)
        cfg = g['model']
        self.assertRegex(r.out, r'vocab_size:\s+%d\b' % cfg['vocab_size'])
        self.assertRegex(r.out, r'layers:\s+%d\b' % cfg['num_hidden_layers'])
        self.assertRegex(r.out, r'hidden_size:\s+%d\b' % cfg['hidden_size'])
        kinds = ''.join('L' if k == 'sliding' else 'G' for k in cfg['layer_types'])
        self.assertRegex(r.out, r'layer kinds:\s+%s\b' % kinds)
        listed = dict(re.findall(r'^\s+(model\.\S+)\s+(f32|bf16)\s', r.out, re.M))
        # every source tensor (there is no lm_head in the golden checkpoints) is listed
        names = set()
        for fname in os.listdir(os.path.join(clitest.DATA, case)):
            if fname.endswith('.safetensors'):
                names |= {t[0] for t in read_safetensors(os.path.join(clitest.DATA, case, fname))[0]}
        self.assertEqual(set(listed), names, 'info tensor list')
        for name, typ in listed.items():
            want = 'f32' if name.endswith('norm.weight') else matrix_type
            self.assertEqual(typ, want, '%s type' % name)
        self.assertRegex(r.out, r'tensors:\s+%d\b' % len(names))
        # the printed digest is the header digest of the file (format.md "Digests")
        digest = self.info_digest(m)
        with open(m, 'rb') as f:
            data = f.read()
        h, entries = parse_model(data)
        self.assertEqual(digest, h['header_digest'].hex())
        self.assertEqual(digest, header_digest(data).hex())
        if '--compress' in opts:
            self.assertIn('stored)', r.out)
            self.assertTrue(any(e['compression'] == 1 for e in entries))
        return digest

    def test_info_contents(self):
        for case in CASES:
            for opts, mt in ((('--dtype', 'f32'), 'f32'), (('--dtype', 'bf16'), 'bf16'),
                             (('--dtype', 'bf16', '--compress'), 'bf16')):
                with self.subTest(case=case, opts=' '.join(opts)):
                    self.check_info(case, opts, mt)

    def test_conversion_is_deterministic(self):
        for case in CASES:
            for opts in (('--dtype', 'f32'), ('--dtype', 'bf16'), ('--dtype', 'bf16', '--compress')):
                with self.subTest(case=case, opts=' '.join(opts)):
                    first = self.model(case, *opts)
                    again = tmp_path('again', case + '-'.join(opts) + '.g2')
                    self.convert(os.path.join(clitest.DATA, case), again, *opts)
                    self.assertEqual(self.info_digest(first), self.info_digest(again),
                                     'two conversions of the same input differ in digest')
                    with open(first, 'rb') as a, open(again, 'rb') as b:
                        self.assertTrue(a.read() == b.read(),
                                        'two conversions are not byte-identical')

    def test_options_change_digest(self):
        case = 'tiny-a'
        digests = {opts: self.info_digest(self.model(case, *opts))
                   for opts in OPTION_SETS[:4]}
        self.assertEqual(len(set(digests.values())), 4, digests)

    def test_info_does_not_check_tensor_digests(self):
        # info's usage: "Digests are not checked here" -> a corrupt tensor still lists
        m = self.model('tiny-a', '--dtype', 'bf16')
        bad = flip_tensor(self, m, 'model.layers.1.mlp.up_proj.weight', 'info')
        self.g2('info', bad, code=0)


if __name__ == '__main__':
    sys.exit(clitest.main())
