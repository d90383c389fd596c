# SPDX-License-Identifier: Apache-2.0
"""The bindings against the gemma2 command on the same models: greedy and seeded tokens
(`generate`), replies and stop strings (`run`), multi-turn chat (`chat`) and logits
(`logits`). The CLI is C code over the same library, so everything must be identical."""
from __future__ import annotations

import array
import os
import re
import tempfile
import unittest
from typing import List, Sequence

from _common import CHAT_MODEL, MODEL, THREADS, TestCase, cli, cli_generate, ids_arg, parse_ids

import gemma2

PROMPTS = ['Hello', 'Hi', 'Once upon a time', 'What is two plus two?', 'Tell me a story']
SAMPLING = dict(temperature=1.5, top_k=50, top_p=0.98, min_p=0.01, repeat_penalty=1.1, seed=7)
SAMPLING_FLAGS = ['--temp', '1.5', '--top-k', '50', '--top-p', '0.98', '--min-p', '0.01',
                  '--repeat-penalty', '1.1', '--seed', '7']


def run_reply(prompt: str, n: int, *flags: object) -> str:
    """What `gemma2 run` prints for prompt, without its final newline."""
    out = cli('run', CHAT_MODEL, '-p', prompt, '-n', n, '-t', THREADS, *flags).stdout.decode()
    assert out.endswith('\n'), out
    return out[:-1]


class TokensTest(TestCase):
    def steps(self, session: gemma2.Session, prompt: Sequence[int], n: int) -> List[int]:
        session.feed(prompt)
        return [session.step().id for _ in range(n)]

    def test_greedy_tokens_equal_generate(self) -> None:
        for path, prompt in ((MODEL, [2, 17, 5, 301]), (MODEL, [2]), (CHAT_MODEL, [2, 4, 626, 16, 1118]),
                             (CHAT_MODEL, [2, 5, 7])):
            want = cli_generate(path, prompt, 24)
            self.assertEqual(len(want), 24)
            with gemma2.Model(path, threads=THREADS) as m, gemma2.Session(m, threads=THREADS) as s:
                self.assertEqual(self.steps(s, prompt, 24), want, (path, prompt))
                # generate_tokens with a list of ids: the same tokens, up to the end of the turn
                s.reset()
                got = [t.id for t in s.generate_tokens(prompt, max_tokens=24)]
                ends = {m.tokenizer.eos_id, m.tokenizer.end_of_turn_id} if m.has_tokenizer else {m.eos_id}
                cut = next((i + 1 for i, t in enumerate(want) if t in ends), 24)
                self.assertEqual(got, want[:cut])

    def test_seeded_tokens_equal_generate(self) -> None:
        prompt = [2, 4, 626, 16, 1118, 292]
        want = cli_generate(CHAT_MODEL, prompt, 20, *SAMPLING_FLAGS)
        greedy = cli_generate(CHAT_MODEL, prompt, 20)
        self.assertNotEqual(want, greedy)
        with gemma2.Model(CHAT_MODEL, threads=THREADS) as m, gemma2.Session(m, threads=THREADS, **SAMPLING) as s:
            self.assertEqual(self.steps(s, prompt, 20), want)
        want = cli_generate(MODEL, [2, 17], 20, *SAMPLING_FLAGS)
        with gemma2.Model(MODEL, threads=THREADS) as m, gemma2.Session(m, threads=THREADS, **SAMPLING) as s:
            self.assertEqual(self.steps(s, [2, 17], 20), want)

    def test_logits_equal_the_logits_command(self) -> None:
        for path, prompt in ((MODEL, [2, 17, 5, 301, 44]), (CHAT_MODEL, [2, 4, 626, 16])):
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, 'logits.f32')
                cli('logits', path, '--tokens', ids_arg(prompt), '--out', out, '-t', THREADS)
                want = array.array('f')
                with open(out, 'rb') as f:
                    want.frombytes(f.read())
            with gemma2.Model(path, threads=THREADS) as m, gemma2.Session(m, threads=THREADS) as s:
                v = m.vocab_size
                self.assertEqual(len(want), len(prompt) * v)
                rows = s.feed_all_logits(prompt)
                self.assertEqual(len(rows), len(prompt))
                for i, row in enumerate(rows):
                    self.assertEqual(row.tobytes(), want[i * v:(i + 1) * v].tobytes(), 'row %d' % i)
                self.assertEqual(len(s.logits), v)
                self.assertEqual(s.logits.tobytes(), want[-v:].tobytes())
                s.reset()
                s.feed(prompt)  # a plain feed keeps the same last logits
                self.assertEqual(s.logits.tobytes(), want[-v:].tobytes())


class TextTest(TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.model = gemma2.Model(CHAT_MODEL, threads=THREADS)
        self.addCleanup(self.model.close)

    def session(self, **kw: object) -> gemma2.Session:
        s = gemma2.Session(self.model, threads=THREADS, **kw)
        self.addCleanup(s.close)
        return s

    def test_chat_equals_run(self) -> None:
        s = self.session()
        ended = set()
        for prompt in PROMPTS:
            want = run_reply(prompt, 40)
            got = s.chat([{'role': 'user', 'content': prompt}], max_tokens=40)
            self.assertEqual(got, want, prompt)
            ended.add(s.stop_reason)
            # the streaming variant, in a fresh session
            with gemma2.Session(self.model, threads=THREADS) as s2:
                self.assertEqual(''.join(s2.chat_stream([('user', prompt)], max_tokens=40)), want)
        self.assertEqual(ended, {'end_of_turn', 'max_tokens'})  # the model does both

    def test_raw_generate_equals_run_raw(self) -> None:
        for prompt in ('Once upon a time', 'Hello'):
            want = run_reply(prompt, 30, '--raw')
            with gemma2.Session(self.model, threads=THREADS) as s:
                self.assertEqual(''.join(s.generate(prompt, max_tokens=30)), want)
                self.assertEqual(s.tokens[:1], [self.model.tokenizer.bos_id])
            with gemma2.Session(self.model, threads=THREADS) as s:
                self.assertEqual(s.generate_all(prompt, max_tokens=30), want)

    def test_stop_strings_equal_run(self) -> None:
        cases = 0
        for prompt in PROMPTS:
            full = run_reply(prompt, 40)
            # stop strings cut from the reply: inside a piece, across pieces, never found
            stops = [full[3:5], full[len(full) // 2:len(full) // 2 + 3], 'zzz-never']
            for stop in stops:
                if not stop:
                    continue
                want = run_reply(prompt, 40, '--stop', stop)
                with gemma2.Session(self.model, threads=THREADS) as s:
                    got = s.chat([('user', prompt)], max_tokens=40, stop=stop)
                    self.assertEqual(got, want, (prompt, stop))
                    self.assertEqual(s.stop_reason == 'stop_string', stop in full, (prompt, stop))
                with gemma2.Session(self.model, threads=THREADS) as s:
                    ids = self.model.chat_template([('user', prompt)])
                    self.assertEqual(s.generate_all(ids, max_tokens=40, stop=[stop, 'zzz']), want)
                cases += 1
        self.assertGreater(cases, 10)

    def test_seeded_reply_equals_run(self) -> None:
        for prompt in PROMPTS[:3]:
            want = run_reply(prompt, 30, *SAMPLING_FLAGS)
            with gemma2.Session(self.model, threads=THREADS, **SAMPLING) as s:
                self.assertEqual(s.chat([('user', prompt)], max_tokens=30), want, prompt)

    def test_multi_turn_equals_chat(self) -> None:
        """`gemma2 chat` keeps one session and feeds each turn after the reply's tokens;
        feeding the same ids by hand in one session gives the same replies."""
        turns = ['Hello', 'Tell me a story', 'Hi']
        r = cli('chat', CHAT_MODEL, '-n', 20, '-t', THREADS, '--show-ids', stdin='\n'.join(turns).encode())
        replies = r.stdout.decode().split('\n')[:len(turns)]
        fed = [parse_ids(m) for m in re.findall(r'fed \d+ ids at position \d+: ([\d,]+)', r.stderr.decode())]
        self.assertEqual(len(fed), len(turns))
        tok = self.model.tokenizer
        s = self.session()
        for i, text in enumerate(turns):
            if i == 0:
                ids = self.model.chat_template([('user', text)])
            else:  # the end of the model's turn (if cut short), then the user's turn
                ids = ([] if s.generated[-1] == tok.end_of_turn_id else [tok.end_of_turn_id]) + tok.tokenize('\n') \
                    + tok.chat_template([('user', text)], bos=False)
            self.assertEqual(ids, fed[i], 'turn %d' % i)
            self.assertEqual(''.join(s.generate(ids, max_tokens=20)), replies[i], 'turn %d' % i)


if __name__ == '__main__':
    unittest.main()
