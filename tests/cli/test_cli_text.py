#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The text commands: tokenize, detokenize, run, chat and bench-tokenizer.

Usage: python3 test_cli_text.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)

Tokenizer checks use DATA_DIR/tokenizer/spm_small.model (2,000 pieces: <pad> 0,
<eos> 1, <bos> 2, <unk> 3, <start_of_turn> 4, <end_of_turn> 5, bytes 6-261) and its
golden ids spm_small_public.jsonl. run and chat use a random Gemma 2 checkpoint
written here (vocab_size 2048, spm_small.model as its tokenizer.model) and
converted with `gemma2 convert`. Its embedding rows of the control pieces, the byte
pieces and the ids past the tokenizer are zero, so greedy decoding (tied output
projection) only ever picks whole-character pieces: the streamed text of a
generation then equals `detokenize --skip-special` of the ids `generate` gives for
the prompt ids the command should have fed, which is how the fed ids are checked.
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import CliTest, tmp_path, write_safetensors  # noqa: E402

PAD, EOS, BOS, UNK, SOT, EOT = 0, 1, 2, 3, 4, 5
BYTE0 = 6          # <0x00>
N_PIECES = 2000
VOCAB = 2048       # the checkpoint's vocab_size: larger than the tokenizer
EOT_SCALE = 3.0    # a longer <end_of_turn> embedding row: replies sometimes end


def spm():
    return os.path.join(clitest.DATA, 'tokenizer', 'spm_small.model')


def golden_lines():
    with open(os.path.join(clitest.DATA, 'tokenizer', 'spm_small_public.jsonl'), 'rb') as f:
        return [json.loads(line) for line in f if line.strip()]


def ids_text(ids):
    return ','.join(str(i) for i in ids)


def parse_ids(out):
    out = out.strip()
    return [int(x) for x in out.split(',')] if out else []


def shown_ids(err, cmd):
    """The --show-ids lines of standard error: [(position, ids fed)], [ids generated]."""
    fed = [(int(m.group(1)), parse_ids(m.group(2)))
           for m in re.finditer(r'^gemma2 %s: fed \d+ ids at position (\d+): ([\d,]*)$' % cmd, err, re.M)]
    gen = [parse_ids(m.group(1)) for m in re.finditer(r'^gemma2 %s: generated \d+ ids: ([\d,]*)$' % cmd, err, re.M)]
    return fed, gen


def random_checkpoint(folder):
    """A random Gemma 2 checkpoint with tiny-a's shapes but VOCAB rows, F32."""
    with open(os.path.join(clitest.DATA, 'tiny-a', 'config.json')) as f:
        config = json.load(f)
    config['vocab_size'] = VOCAB
    hidden, ffn = config['hidden_size'], config['intermediate_size']
    q, kv = config['num_attention_heads'] * config['head_dim'], config['num_key_value_heads'] * config['head_dim']
    rng = random.Random(0)  # with it, some replies end with <end_of_turn> early, some do not

    def tensor(name, shape, std=0.05, zero_rows=(), scaled_rows=()):
        n = 1
        for d in shape:
            n *= d
        vals = [rng.gauss(0.0, std) for _ in range(n)]
        for r in zero_rows:
            vals[r * shape[1]:(r + 1) * shape[1]] = [0.0] * shape[1]
        for r in scaled_rows:
            vals[r * shape[1]:(r + 1) * shape[1]] = [v * EOT_SCALE for v in vals[r * shape[1]:(r + 1) * shape[1]]]
        return (name, 'F32', list(shape), struct.pack('<%df' % n, *vals))

    zero = list(range(PAD, UNK + 1)) + list(range(BYTE0, BYTE0 + 256)) + list(range(N_PIECES, VOCAB))
    tensors = [tensor('model.embed_tokens.weight', (VOCAB, hidden), 0.05, zero, [EOT]),
               tensor('model.norm.weight', (hidden,), 0.1)]
    for layer in range(config['num_hidden_layers']):
        p = 'model.layers.%d.' % layer
        tensors += [tensor(p + 'self_attn.q_proj.weight', (q, hidden)),
                    tensor(p + 'self_attn.k_proj.weight', (kv, hidden)),
                    tensor(p + 'self_attn.v_proj.weight', (kv, hidden)),
                    tensor(p + 'self_attn.o_proj.weight', (hidden, q)),
                    tensor(p + 'mlp.gate_proj.weight', (ffn, hidden)),
                    tensor(p + 'mlp.up_proj.weight', (ffn, hidden)),
                    tensor(p + 'mlp.down_proj.weight', (hidden, ffn))]
        tensors += [tensor(p + n + '.weight', (hidden,), 0.1)
                    for n in ('input_layernorm', 'post_attention_layernorm',
                              'pre_feedforward_layernorm', 'post_feedforward_layernorm')]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(config, f, indent=1)
    write_safetensors(os.path.join(folder, 'model.safetensors'), tensors, {'format': 'pt'})
    shutil.copy(spm(), os.path.join(folder, 'tokenizer.model'))
    return folder


class TextTest(CliTest):
    def g2_in(self, *args, stdin=b'', code=None):
        """g2() with bytes on standard input."""
        r = subprocess.run([clitest.BIN] + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=clitest.TIMEOUT)
        cmd = ' '.join(['gemma2'] + [str(a) for a in args])
        self.assertGreaterEqual(r.returncode, 0, '%s: killed by signal %d; stderr: %s'
                                % (cmd, -r.returncode, r.stderr.decode(errors='replace')))
        r.out = r.stdout.decode(errors='replace')
        r.err = r.stderr.decode(errors='replace')
        r.cmd = cmd
        if code is not None:
            self.assertEqual(r.returncode, code, '%s: exit %d, expected %d\nstdout: %s\nstderr: %s'
                             % (cmd, r.returncode, code, r.out[:2000], r.err[:2000]))
        return r

    def tokenize(self, source, data, *opts):
        if isinstance(data, str):
            data = data.encode()
        r = self.g2_in('tokenize', source, *opts, stdin=data, code=0)
        self.assertTrue(r.out.endswith('\n') and r.out.count('\n') == 1, r.out)
        return parse_ids(r.out)

    def detokenize(self, source, ids, *opts):
        return self.g2('detokenize', source, '--ids', ids_text(ids), *opts, code=0).stdout


# ---- tokenize / detokenize ----------------------------------------------------------
class TestTokenize(TextTest):
    def test_golden_lines_on_stdin(self):
        lines = golden_lines()
        self.assertGreater(len(lines), 100)
        for g in lines[::15] + [lines[-1]]:
            with self.subTest(text=g['text'][:40]):
                self.assertEqual(self.tokenize(spm(), g['text'].encode('utf-8', 'surrogatepass')), g['ids'])
        # --ids is the default output, accepted
        self.assertEqual(self.tokenize(spm(), lines[7]['text'], '--ids'), lines[7]['ids'])

    def test_jsonl_whole_golden_file(self):
        with open(os.path.join(clitest.DATA, 'tokenizer', 'spm_small_public.jsonl'), 'rb') as f:
            data = f.read()
        r = self.g2_in('tokenize', spm(), '--jsonl', stdin=data, code=0)
        got = [json.loads(line)['ids'] for line in r.stdout.decode().splitlines()]
        want = [g['ids'] for g in golden_lines()]
        self.assertEqual(len(got), len(want))
        for i, (a, b) in enumerate(zip(got, want)):
            self.assertEqual(a, b, 'line %d' % (i + 1))

    def test_jsonl_bad_line_is_named(self):
        data = b'{"text": "a"}\n{"text": "b"}\n{"text": 3}\n{"text": "c"}\n'
        r = self.g2_in('tokenize', spm(), '--jsonl', stdin=data, code=1)
        self.assertRegex(r.err, r'error: .*line 3\b')
        self.assertEqual(len(r.err.strip().splitlines()), 1)
        self.assertEqual([json.loads(x)['ids'] for x in r.out.splitlines()], [[1352], [1356]])
        r = self.g2_in('tokenize', spm(), '--jsonl', stdin=b'{"text": "a"}\nnot json\n', code=1)
        self.assertRegex(r.err, r'line 2\b')

    def test_plain_mode_parses_no_special_token(self):
        text = 'Say <start_of_turn>user\nhi<end_of_turn> and <bos> then'
        special = self.tokenize(spm(), text)
        self.assertIn(SOT, special)
        self.assertIn(EOT, special)
        plain = self.tokenize(spm(), text, '--plain')
        for tok in (BOS, SOT, EOT):
            self.assertNotIn(tok, plain)
        self.assertEqual(self.detokenize(spm(), plain), text.encode())
        self.assertEqual(self.detokenize(spm(), special), text.encode())

    def test_round_trips(self):
        for g in golden_lines()[::9]:
            data = g['text'].encode('utf-8', 'surrogatepass')
            if '\u2581' in g['text']:
                continue  # '▁' decodes as a space
            with self.subTest(text=g['text'][:40]):
                self.assertEqual(self.detokenize(spm(), self.tokenize(spm(), data, '--plain')), data)

    def test_binary_stdin_with_nul_bytes(self):
        data = b'nul\x00in\x00\x00the middle\x00' + bytes(range(256)) * 3 + b'\x00'
        ids = self.tokenize(spm(), data)
        self.assertIn(BYTE0, ids)  # <0x00>
        self.assertEqual(self.detokenize(spm(), ids), data)
        # the same text through --jsonl (JSON's \u0000)
        line = json.dumps({'text': 'a\x00b'}).encode() + b'\n'
        r = self.g2_in('tokenize', spm(), '--jsonl', stdin=line, code=0)
        self.assertEqual(json.loads(r.out)['ids'], self.tokenize(spm(), b'a\x00b'))
        # a large input in one piece
        big = (b'The quick brown fox jumps over the lazy dog. \x00\xff ' * 40000)
        ids = self.tokenize(spm(), big, '--plain')
        self.assertGreater(len(ids), 40000)
        self.assertEqual(self.tokenize(spm(), b''), [])

    def test_invalid_utf8(self):
        data = b'\xff\xfe ok \xc3 \xe2\x82 \xf0\x9f\x98 end \xc0\xaf\xed\xa0\x80'
        for mode in ((), ('--plain',)):
            ids = self.tokenize(spm(), data, *mode)
            self.assertIn(BYTE0 + 0xff, ids)
            self.assertEqual(self.detokenize(spm(), ids), data)

    def test_detokenize_skip_special(self):
        ids = self.tokenize(spm(), '<start_of_turn>user\nhello<end_of_turn>')
        self.assertEqual(self.detokenize(spm(), ids, '--skip-special'), b'user\nhello')
        self.assertEqual(self.g2('detokenize', spm(), '--ids', '', code=0).stdout, b'')

    def test_errors(self):
        self.fails('tokenize', tmp_path('none', 'no-such.model'), patterns=[r'no-such'])
        empty = os.path.dirname(tmp_path('empty-dir', 'x'))
        self.fails('tokenize', empty, patterns=[r'tokenizer'])
        junk = tmp_path('junk', 'junk.model')
        with open(junk, 'wb') as f:
            f.write(b'\x01\x02not a protobuf at all\xff' * 10)
        self.fails('tokenize', junk)
        self.fails('detokenize', spm(), '--ids', '1,99999', patterns=[r'99999', r'vocabulary'])
        self.fails('detokenize', spm(), '--ids', '-1', patterns=[r'vocabulary'])
        self.fails('detokenize', tmp_path('none', 'no-such.model'), '--ids', '1')
        for args in (('tokenize',), ('tokenize', spm(), '--bogus'), ('tokenize', spm(), spm()),
                     ('detokenize', spm()), ('detokenize', spm(), '--ids'),
                     ('detokenize', spm(), '--ids', '1,x'), ('detokenize', spm(), '--ids', '1,,2'),
                     ('detokenize', spm(), '--ids', '1', '--bogus'), ('detokenize', '--ids', '1'),
                     ('bench-tokenizer', spm()), ('bench-tokenizer', spm(), spm(), '-r', '0'),
                     ('bench-tokenizer', spm(), spm(), '--bogus'),
                     ('run', 'm.g2'), ('run', '-p', 'x'), ('run', 'm.g2', '-p', 'x', '-n', 'x'),
                     ('run', 'm.g2', '-p', 'x', '--bogus'), ('run', 'm.g2', '-p'),
                     ('run', 'm.g2', '-p', 'x', '--ctx', '0'),
                     ('chat',), ('chat', 'm.g2', '--bogus'), ('chat', 'm.g2', '-n', '-2'),
                     ('chat', 'm.g2', '--system')):
            with self.subTest(args=' '.join(args)):
                self.usage_error(*args)

    def test_help(self):
        for cmd in ('tokenize', 'detokenize', 'run', 'chat', 'bench-tokenizer'):
            r = self.g2(cmd, '--help', code=0)
            self.assertIn('usage: gemma2 ' + cmd, r.out)
            self.assertEqual(r.err, '')
            self.assertIn(cmd, self.g2('--help', code=0).out)

    def test_bench_tokenizer(self):
        text = os.path.join(clitest.DATA, 'tokenizer', 'spm_small_public.jsonl')
        r = self.g2('bench-tokenizer', spm(), text, '-r', '2', '--json', code=0)
        j = json.loads(r.out)
        self.assertEqual(j['bytes'], os.path.getsize(text))
        self.assertGreater(j['ids'], 1000)
        self.assertGreater(j['mb_s_best'], 0)
        self.assertGreaterEqual(j['mb_s_best'], j['mb_s_mean'])
        self.assertIn('tokenizer_rss_mb', j)
        r = self.g2('bench-tokenizer', spm(), text, '-r', '1', code=0)
        self.assertRegex(r.out, r'MB/s')
        self.assertRegex(r.out, r'RSS')
        empty = tmp_path('bench', 'empty.txt')
        open(empty, 'wb').close()
        self.fails('bench-tokenizer', spm(), empty, patterns=[r'empty'])
        self.fails('bench-tokenizer', spm(), tmp_path('bench', 'missing.txt'))


# ---- run / chat on a random model ----------------------------------------------------
class TestGenerateText(TextTest):
    @classmethod
    def setUpClass(cls):
        cls.folder = random_checkpoint(os.path.dirname(tmp_path('random-ckpt', 'x')))
        cls.model_file = tmp_path('models', 'random-2048.g2')
        r = subprocess.run([clitest.BIN, 'convert', cls.folder, cls.model_file], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=clitest.TIMEOUT)
        if r.returncode != 0:
            raise RuntimeError('convert failed: ' + r.stderr.decode(errors='replace'))

    def plain(self, text):
        return self.tokenize(self.folder, text, '--plain')

    def template(self, user, bos=True):
        """gemma2_chat_tokenize([user], ADD_GENERATION_PROMPT), built by hand."""
        return (([BOS] if bos else []) + [SOT] + self.plain('user\n' + user) + [EOT] + self.plain('\n')
                + [SOT] + self.plain('model\n'))

    def generate(self, ids, n):
        r = self.g2('generate', self.model_file, '--tokens', ids_text(ids), '-n', n, '--stop-at-eos',
                    '-t', clitest.THREADS, code=0)
        return parse_ids(r.out)

    def text_of(self, ids):
        return self.detokenize(self.folder, ids, '--skip-special')

    def run_cmd(self, *args, stdin=b'', code=0):
        return self.g2_in('run', self.model_file, '-t', clitest.THREADS, *args, stdin=stdin, code=code)

    def test_template_ids(self):
        # what the chat template gives, with the markers parsed from text in special mode:
        # SentencePiece parses its user-defined pieces (<start_of_turn>, <end_of_turn>) in
        # text, not its control pieces such as <bos>
        s = '<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n'
        self.assertEqual([BOS] + self.tokenize(self.folder, s), self.template('Hello'))
        self.assertNotEqual(self.tokenize(self.folder, '<bos>')[:1], [BOS])

    def test_tokenize_sources_agree(self):
        texts = [g['text'].encode('utf-8', 'surrogatepass') for g in golden_lines()[::40]]
        for data in texts + [b'<start_of_turn>x<end_of_turn>']:
            want = self.tokenize(spm(), data)
            self.assertEqual(self.tokenize(self.folder, data), want)
            self.assertEqual(self.tokenize(self.model_file, data), want)
        self.assertEqual(self.detokenize(self.model_file, want), b'<start_of_turn>x<end_of_turn>')

    def test_run_chat_prompt(self):
        r = self.run_cmd('-p', 'Hello', '-n', 8)
        text = r.stdout.decode('utf-8')  # valid UTF-8
        self.assertTrue(text.endswith('\n'))
        self.assertEqual(r.err, '')
        gen = self.generate(self.template('Hello'), 8)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n', 'run fed other ids than the chat template')
        r = self.run_cmd('-p', 'Hello', '-n', 8, '--show-ids')
        self.assertEqual(shown_ids(r.err, 'run'), ([(0, self.template('Hello'))], [gen]))

    def test_run_raw(self):
        r = self.run_cmd('--raw', '-p', 'Once upon a time', '-n', 6, '--show-ids')
        r.stdout.decode('utf-8')
        gen = self.generate([BOS] + self.plain('Once upon a time'), 6)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n')
        self.assertEqual(shown_ids(r.err, 'run'), ([(0, [BOS] + self.plain('Once upon a time'))], [gen]))
        # plain mode: a marker in a raw prompt is text
        r = self.run_cmd('--raw', '-p', '<start_of_turn>', '-n', 3)
        self.assertEqual(r.stdout, self.text_of(self.generate([BOS] + self.plain('<start_of_turn>'), 3)) + b'\n')

    def test_run_prompt_from_stdin(self):
        prompt = 'Line one\nline two <end_of_turn> \xe9t\xe9'.encode()
        r = self.run_cmd('-p', '-', '-n', 5, stdin=prompt)
        gen = self.generate(self.template(prompt.decode()), 5)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n')
        # invalid UTF-8 and NULs in the prompt are fine too
        self.run_cmd('-p', '-', '-n', 2, stdin=b'\xff\x00abc')

    def test_run_context_full(self):
        n_prompt = len(self.template('Hi'))
        gen = self.generate(self.template('Hi'), 2)
        r = self.run_cmd('-p', 'Hi', '-n', 50, '--ctx', n_prompt + 2)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n')
        if len(gen) == 2 and gen[-1] != EOT:
            self.assertRegex(r.err, r'context is full')
        # the prompt alone does not fit: an error
        self.fails('run', self.model_file, '-p', 'Hi', '--ctx', 4, patterns=[r'context'])
        r = self.run_cmd('-p', 'Hi', '-n', 0)
        self.assertEqual(r.stdout, b'\n')

    def test_step_text(self):
        # the library's text of each step (gemma2_step_result.text) is the detokenized
        # text of the generated ids, special pieces left out
        for prompt in (self.template('Hello'), [BOS] + self.plain('Once upon a time')):
            gen = self.generate(prompt, 20)
            r = self.g2_in('generate', self.model_file, '--tokens', ids_text(prompt), '-n', 20, '--stop-at-eos',
                           '--text', '-t', clitest.THREADS, stdin=b'', code=0)
            self.assertEqual(r.stdout, self.text_of(gen) + b'\n')
        m = self.model('tiny-a', '--dtype', 'bf16')
        self.fails('generate', m, '--tokens', '2,3', '--text', patterns=[r'no tokenizer'])

    def test_run_sampling_flags(self):
        # a seed repeats; another seed (almost surely) differs; --temp 0 is greedy
        args = ('-p', 'Hello', '-n', 12, '--temp', '1.5', '--top-k', '50', '--top-p', '0.98', '--min-p', '0.01',
                '--repeat-penalty', '1.1', '--repeat-last-n', '32')
        a = self.run_cmd(*args, '--seed', 11, '--show-ids')
        b = self.run_cmd(*args, '--seed', 11, '--show-ids')
        c = self.run_cmd(*args, '--seed', 12, '--show-ids')
        self.assertEqual(a.stdout, b.stdout)
        ids_a, ids_c = shown_ids(a.err, 'run')[1], shown_ids(c.err, 'run')[1]
        self.assertNotEqual(ids_a, ids_c, 'seeds 11 and 12 gave the same 12 tokens')
        greedy = self.generate(self.template('Hello'), 12)
        self.assertNotEqual(ids_a, [greedy], 'sampling at temperature 1.5 gave the greedy tokens')
        r = self.run_cmd('-p', 'Hello', '-n', 12, '--temp', '0', '--seed', 5, '--show-ids')
        self.assertEqual(shown_ids(r.err, 'run')[1], [greedy])
        # generate takes the same flags, and --greedy overrides --temp
        g = self.g2('generate', self.model_file, '--tokens', ids_text(self.template('Hello')), '-n', 12,
                    '--temp', '1.5', '--top-k', '50', '--top-p', '0.98', '--min-p', '0.01', '--repeat-penalty',
                    '1.1', '--repeat-last-n', '32', '--seed', 11, '--stop-at-eos', '-t', clitest.THREADS, code=0)
        self.assertEqual([parse_ids(g.out)], ids_a)
        g = self.g2('generate', self.model_file, '--tokens', ids_text(self.template('Hello')), '-n', 12,
                    '--temp', '1.5', '--greedy', '--stop-at-eos', code=0)
        self.assertEqual(parse_ids(g.out), greedy)
        for bad in (('--temp', '-1'), ('--temp', 'x'), ('--top-p', '1.5'), ('--top-k', '-2'), ('--min-p', '2'),
                    ('--repeat-penalty', '0'), ('--seed', '-3'), ('--seed',), ('--stop', ''), ('--stop',)):
            with self.subTest(bad=bad):
                self.usage_error('run', self.model_file, '-p', 'x', *bad)
        self.usage_error('generate', self.model_file, '--tokens', '2', '--stop', 'x')

    def test_run_stop_strings(self):
        # greedy output, then stop strings cut from it: the output is what came before
        # the first occurrence, whether or not the stop text spans tokens
        for prompt in ('Once upon a time', 'The', 'Hello'):
            args = ('--raw', '-p', prompt, '-n', 40)
            full = self.run_cmd(*args).stdout[:-1]
            text = full.decode('utf-8')
            if len(text) > 12:
                break
        self.assertGreater(len(text), 12, 'the greedy texts are too short to cut stop strings from')
        for start, length in ((1, 3), (4, 5), (9, 2), (len(text) - 3, 3)):
            stop = text[start:start + length]
            if not stop.strip():
                continue
            with self.subTest(stop=stop):
                r = self.run_cmd(*args, '--stop', stop)
                self.assertEqual(r.stdout, text[:text.find(stop)].encode() + b'\n')
        # several stops: the earliest in the text wins; one never seen changes nothing
        r = self.run_cmd(*args, '--stop', text[6:9], '--stop', text[2:4], '--stop', 'zzzqqq')
        self.assertEqual(r.stdout, text[:min(text.find(text[6:9]), text.find(text[2:4]))].encode() + b'\n')
        r = self.run_cmd(*args, '--stop', 'zzzqqq')
        self.assertEqual(r.stdout, full + b'\n')
        # chat: a stop ends the reply, and the next turn closes it with <end_of_turn>
        reply = self.chat(['Hello'], '-n', 24).stdout.split(b'\n')[0].decode('utf-8')
        self.assertGreater(len(reply), 4)
        stop = reply[2:4]
        r = self.chat(['Hello', 'Again'], '-n', 24, '--stop', stop, '--show-ids')
        self.assertTrue(r.stdout.startswith(reply[:reply.find(stop)].encode() + b'\n'), r.stdout)
        fed, gen = shown_ids(r.err, 'chat')
        self.assertEqual(len(fed), 2, 'the second turn was not fed')
        self.assertEqual(fed[1][1][0], EOT)

    def test_model_without_tokenizer(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        self.fails('run', m, '-p', 'Hello', patterns=[r'no tokenizer'])
        r = self.g2_in('chat', m, stdin=b'Hello\n', code=1)
        self.assertRegex(r.err, r'no tokenizer')
        self.fails('tokenize', m, patterns=[r'no tokenizer'])
        self.fails('run', tmp_path('none', 'missing.g2'), '-p', 'x')

    def chat(self, lines, *args, code=0):
        stdin = ''.join(line + '\n' for line in lines).encode()
        return self.g2_in('chat', self.model_file, '-t', clitest.THREADS, *args, stdin=stdin, code=code)

    def test_chat_save_and_load(self):
        # /load goes on exactly where /save was: the next turn's ids and reply are the same
        path = tmp_path('chat-state', 'conv.g2state')
        a = self.chat(['Hello', '/save ' + path, 'Again', 'More'], '-n', 8, '--show-ids',
                      '--temp', '1.2', '--seed', 4)
        b = self.chat(['/load ' + path, 'Again', 'More'], '-n', 8, '--show-ids', '--temp', '0.5', '--seed', 99)
        fed_a, gen_a = shown_ids(a.err, 'chat')
        fed_b, gen_b = shown_ids(b.err, 'chat')
        self.assertEqual(fed_b, fed_a[1:], 'the turns after /load were fed differently')
        self.assertEqual(gen_b, gen_a[1:], 'the replies after /load differ (the sampler is part of the state)')
        self.assertTrue(a.stdout.endswith(b.stdout), 'the text after /load differs')
        # errors are reported and the chat goes on
        r = self.chat(['/load ' + tmp_path('chat-state', 'missing.g2state'), 'Hi'], '-n', 4)
        self.assertRegex(r.err, r'/load failed: cannot open')
        self.assertTrue(r.stdout.endswith(b'\n') and len(r.stdout) > 1)
        r = self.chat(['/save ' + path + '/x'], '-n', 4)  # under a file: cannot be made
        self.assertRegex(r.err, r'/save failed')

    def test_chat_history_in_one_session(self):
        r = self.chat(['Hello', 'How are you?', '/reset', 'Bye'], '-n', 8, '--show-ids')
        r.stdout.decode('utf-8')
        fed, gen = shown_ids(r.err, 'chat')
        self.assertEqual(len(fed), 3, r.err)
        self.assertEqual(len(gen), 3, r.err)
        t1 = self.template('Hello')
        self.assertEqual(fed[0], (0, t1))
        # the second turn continues the first in the same session: only the tokens that
        # close the model's turn, then the user's turn
        close = ([] if gen[0][-1] == EOT else [EOT]) + self.plain('\n')
        self.assertEqual(fed[1], (len(t1) + len(gen[0]), close + self.template('How are you?', bos=False)))
        self.assertEqual(fed[2], (0, self.template('Bye')))  # after /reset: a new conversation
        # the replies: what generate gives after the same ids, streamed as their text
        self.assertEqual(gen[0], self.generate(t1, 8))
        self.assertEqual(gen[1], self.generate(t1 + gen[0] + fed[1][1], 8))
        self.assertEqual(gen[2], self.generate(fed[2][1], 8))
        self.assertEqual(r.stdout, b''.join(self.text_of(g) + b'\n' for g in gen))
        # the first reply is what run gives; without --show-ids standard error is quiet
        self.assertTrue(r.stdout.startswith(self.run_cmd('-p', 'Hello', '-n', 8).stdout))
        self.assertEqual(self.chat(['Hello', 'Bye'], '-n', 2).err, '')

    def test_chat_system_exit_and_empty_lines(self):
        r = self.chat(['', 'Hello', '/exit', 'never read'], '-n', 3, '--system', 'Be brief.')
        gen = self.generate([BOS, SOT] + self.plain('user\nBe brief.\n\nHello') + [EOT] + self.plain('\n')
                            + [SOT] + self.plain('model\n'), 3)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n')
        self.assertEqual(self.chat([]).stdout, b'')

    def test_chat_context_full_goes_on(self):
        story = 'Tell me a long story about dragons and castles'
        ctx = len(self.template(story)) + 3
        gen = self.generate(self.template(story), 3)
        r = self.chat([story, 'And then?', '/reset', 'Hello'], '-n', 30, '--ctx', ctx, '--show-ids')
        fed, _ = shown_ids(r.err, 'chat')
        self.assertEqual([pos for pos, ids in fed], [0, len(self.template(story)) + len(gen), 0])
        if len(gen) == 3 and gen[-1] != EOT:
            self.assertRegex(r.err, r'context is full.*reply was cut short.*/reset')
        self.assertRegex(r.err, r'context is full.*this turn needs.*/reset')
        # after /reset the conversation starts over
        want = self.run_cmd('-p', 'Hello', '-n', 30, '--ctx', ctx).stdout
        r2 = self.chat([story, 'Hi'], '-n', 2, '--ctx', len(self.template('Hi')) + 2)
        self.assertRegex(r2.err, r'longer than the whole context')
        self.assertEqual(r2.stdout, self.run_cmd('-p', 'Hi', '-n', 2).stdout)
        self.assertEqual(r.stdout, self.text_of(gen) + b'\n' + want)


if __name__ == '__main__':
    sys.exit(clitest.main())
