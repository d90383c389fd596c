#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Usage, help and exit codes: usage errors (exit 2), runtime errors (exit 1) for
tokens, context and output files.

Usage: python3 test_cli_usage.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import CliTest, tmp_path  # noqa: E402


# ---- usage -----------------------------------------------------------------------
class TestUsage(CliTest):
    def test_no_args_and_unknown_command(self):
        self.usage_error()
        self.usage_error('frobnicate')
        self.usage_error('--frobnicate')

    def test_help_and_version(self):
        for args in (('--help',), ('-h',), ('help',)):
            r = self.g2(*args, code=0)
            self.assertIn('usage', r.out.lower())
            for cmd in ('convert', 'info', 'verify', 'logits', 'generate'):
                self.assertIn(cmd, r.out)
        for cmd in ('convert', 'info', 'verify', 'logits', 'generate'):
            for flag in ('--help', '-h'):
                with self.subTest(cmd=cmd, flag=flag):
                    r = self.g2(cmd, flag, code=0)
                    self.assertIn('usage', r.out.lower())
                    self.assertIn(cmd, r.out)
                    self.assertEqual(r.err, '')
        r = self.g2('--version', code=0)
        self.assertRegex(r.out, r'^gemma2 \d+\.\d+\.\d+')

    def test_info_cpu(self):
        r = self.g2('info', '--cpu', code=0)
        self.assertRegex(r.out, r'(?m)^kernels: (scalar|avx2|avx512|amx|neon)')
        forced = os.environ.get('GEMMA2_ISA')
        try:
            os.environ['GEMMA2_ISA'] = 'scalar'  # forcing can always lower to scalar
            r = self.g2('info', '--cpu', code=0)
            self.assertRegex(r.out, r'(?m)^kernels: scalar')
        finally:
            if forced is None:
                del os.environ['GEMMA2_ISA']
            else:
                os.environ['GEMMA2_ISA'] = forced

    def test_usage_errors(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        src = os.path.join(clitest.DATA, 'tiny-a')
        out = tmp_path('usage', 'out.f32')
        cases = [
            ('convert',), ('convert', src), ('convert', src, 'x.g2', '--bogus'),
            ('convert', src, 'x.g2', '--dtype', 'f16'), ('convert', src, 'x.g2', '--dtype'),
            ('convert', src, 'x.g2', 'extra'),
            ('info',), ('info', m, '--bogus'), ('info', m, m), ('info', m, '-t', 'abc'),
            ('verify',), ('verify', m, '--bogus'), ('verify', m, '-t'),
            ('logits', m, '--tokens', '2'), ('logits', m, '--out', out), ('logits', '--tokens', '2', '--out', out),
            ('logits', m, '--tokens', '2', '--out', out, '--bogus'),
            ('logits', m, '--tokens', 'abc', '--out', out),
            ('logits', m, '--tokens', '', '--out', out),
            ('logits', m, '--tokens', '2,x', '--out', out),
            ('logits', m, '--tokens', '2.5', '--out', out),
            ('logits', m, '--tokens', '2', '--out', out, '--ctx', '0'),
            ('logits', m, '--tokens', '2', '--out', out, '--ctx', 'big'),
            ('logits', m, '--tokens', '2', '--out', out, '--ctx'),
            ('logits', m, '--tokens'),
            ('generate', m), ('generate', m, '--tokens', 'abc'), ('generate', m, '--tokens', ','),
            ('generate', m, '--tokens', '2', '--bogus'), ('generate', m, '--tokens', '2', '-n', 'x'),
            ('generate', m, '--tokens', '2', '-n', '-1'), ('generate', m, '--tokens', '2', '-n'),
            ('generate', m, '--tokens', '2', '-t', '-3'),
            ('generate', '--tokens', '2'),
        ]
        for args in cases:
            with self.subTest(args=' '.join(args)):
                self.usage_error(*args)
        self.assertFalse(os.path.exists(out))

    def test_tokens_outside_vocabulary(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        out = tmp_path('usage', 'vocab.f32')
        for toks in ('99999', '2,512', '-1', '2,3,2147483647'):
            with self.subTest(tokens=toks):
                self.fails('logits', m, '--tokens', toks, '--out', out, patterns=[r'vocab'])
                self.fails('generate', m, '--tokens', toks, '-n', '2', patterns=[r'vocab'])

    def test_context_too_small_for_prompt(self):
        # the prompt alone does not fit in --ctx: the message should say "context"
        m = self.model('tiny-a', '--dtype', 'bf16')
        r = self.fails('generate', m, '--tokens', '2,3,4,5,6', '--ctx', '4', '-n', '1',
                       patterns=[r'context'])
        self.assertEqual(r.out.strip(), '', 'generate printed ids for a prompt it rejected')
        self.fails('logits', m, '--tokens', '2,3,4,5,6', '--ctx', '4', '--out',
                   tmp_path('usage', 'ctx.f32'), patterns=[r'context'])

    def test_context_full_while_generating(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        # the prompt fits, the generated tokens do not
        self.fails('generate', m, '--tokens', '2,3', '--ctx', '4', '-n', '5',
                   patterns=[r'context'])
        # more than the model's context_length (512), explicitly or by -n
        self.fails('generate', m, '--tokens', '2', '--ctx', '100000', '-n', '1',
                   patterns=[r'context'])
        self.fails('logits', m, '--tokens', '2', '--ctx', '513', '--out',
                   tmp_path('usage', 'ctx.f32'), patterns=[r'context'])
        # default context = prompt + n, at most context_length: 510 + 5 > 512
        self.fails('generate', m, '--tokens', ','.join(['7'] * 510), '-n', '5',
                   patterns=[r'context'])
        # exactly full is fine
        r = self.g2('generate', m, '--tokens', '2,3', '--ctx', '4', '-n', '2', code=0)
        self.assertRegex(r.out, r'^\d+,\d+\n$')

    def test_output_file_errors(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        self.fails('logits', m, '--tokens', '2', '--out', tmp_path('nodir', 'x') + '/no/such.f32')
        self.fails('logits', m, '--tokens', '2', '--out', clitest.TMP)
        if os.path.exists('/dev/full'):
            self.fails('logits', m, '--tokens', '2,3,4', '--out', '/dev/full')


if __name__ == '__main__':
    sys.exit(clitest.main())
