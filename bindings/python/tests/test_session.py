# SPDX-License-Identifier: Apache-2.0
"""Session: stepping and generating, sampling, state, history, errors with their status and
message, closing, and cancellation from another thread."""
from __future__ import annotations

import gc
import math
import os
import tempfile
import threading
import unittest
import warnings
from typing import List

from _common import CHAT_MODEL, MODEL, THREADS, TestCase

import gemma2

PROMPT = [2, 17, 5, 301, 44, 9]


class SessionCase(TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.model = gemma2.Model(MODEL, threads=THREADS)
        self.addCleanup(self.model.close)
        self.chat_model = gemma2.Model(CHAT_MODEL, threads=THREADS)
        self.addCleanup(self.chat_model.close)

    def session(self, model: gemma2.Model = None, **kw: object) -> gemma2.Session:
        s = gemma2.Session(model or self.model, threads=THREADS, **kw)
        self.addCleanup(s.close)
        return s

    def steps(self, s: gemma2.Session, n: int) -> List[int]:
        return [s.step().id for _ in range(n)]


class StepTest(SessionCase):
    def test_step_and_position(self) -> None:
        s = self.session()
        self.assertEqual(s.position, 0)
        self.assertEqual(s.n_ctx, self.model.context_length)
        s.feed(PROMPT)
        self.assertEqual(s.position, len(PROMPT))
        t = s.step()
        self.assertIsInstance(t, gemma2.Token)
        self.assertEqual(t.text, '')  # no tokenizer
        self.assertEqual(t.end_of_turn, t.id == self.model.eos_id)
        self.assertEqual(s.position, len(PROMPT) + 1)
        self.assertEqual(s.tokens, PROMPT + [t.id])
        self.assertGreater(s.memory_bytes, 0)
        # greedy = the argmax of the logits (lowest id on ties) = the top log-probability
        logits = s.logits
        self.assertEqual(len(logits), self.model.vocab_size)
        best = max(range(len(logits)), key=lambda i: (logits[i], -i))
        top = s.top_logprobs(5)
        self.assertEqual(top[0][0], best)
        self.assertEqual(s.step().id, best)
        lps = [lp for _, lp in top]
        self.assertEqual(lps, sorted(lps, reverse=True))
        lse = math.log(sum(math.exp(x - max(logits)) for x in logits)) + max(logits)
        self.assertAlmostEqual(top[0][1], logits[best] - lse, places=3)
        self.assertEqual(len(s.top_logprobs(10 ** 6)), self.model.vocab_size)
        self.assertEqual(s.top_logprobs(0), [])

    def test_logits_are_a_copy(self) -> None:
        s = self.session()
        s.feed(PROMPT)
        before = s.logits
        s.step()
        self.assertNotEqual(before.tobytes(), s.logits.tobytes())
        self.assertEqual(before.typecode, 'f')

    def test_generate_text_equals_detokenized_steps(self) -> None:
        tok = self.chat_model.tokenizer
        for prompt in ('Hello', 'Once upon a time', 'What is two plus two?'):
            ids = self.chat_model.chat_template([('user', prompt)])
            s = self.session(self.chat_model)
            s.feed(ids)
            steps = []
            for _ in range(40):
                t = s.step()
                steps.append(t)
                if t.end_of_turn:
                    break
            step_ids = [t.id for t in steps]
            s2 = self.session(self.chat_model)
            text = ''.join(s2.generate(ids, max_tokens=40))
            self.assertEqual(s2.generated, step_ids)
            self.assertEqual(text, tok.detokenize(step_ids, skip_special=True))
            self.assertEqual(text, ''.join(t.text for t in steps))
            self.assertEqual(s2.tokens, s.tokens)
            s3 = self.session(self.chat_model)
            self.assertEqual(s3.generate_all(ids, max_tokens=40), text)
            self.assertEqual(s3.generated, step_ids)
            self.assertEqual(s3.stop_reason, s2.stop_reason)

    def test_unfinished_character_at_the_end(self) -> None:
        """A generation ending inside a UTF-8 character ends with U+FFFD, as the library's
        gemma2_session_generate does; a character split over byte tokens comes whole."""
        tok = self.chat_model.tokenizer
        ids = self.chat_model.chat_template([('user', 'Hello')])
        lead = tok.find('<0xE3>')  # the first byte of a 3-byte character
        for n in (1, 2):
            s = self.session(self.chat_model, logit_bias={lead: 1000.0})
            self.assertEqual(list(s.generate(ids, max_tokens=n)), ['\ufffd'] if n == 1 else ['\ufffd', '\ufffd'])
            s.reset()
            self.assertEqual(s.generate_all(ids, max_tokens=n), '\ufffd' * n)
            s.reset()
            s.feed(ids)
            self.assertEqual(s.step(), gemma2.Token(lead, '', False))
        # \u3042 = E3 81 82 as byte tokens: no text until the third
        s = self.session(self.chat_model)
        s.feed(ids)
        pieces = []
        for byte in (0xE3, 0x81, 0x82):
            s.set_sampler(logit_bias={tok.find('<0x%02X>' % byte): 1000.0})
            pieces.append(s.step().text)
        self.assertEqual(pieces, ['', '', '\u3042'])

    def test_generate_is_incremental(self) -> None:
        s = self.session(self.chat_model)
        ids = self.chat_model.chat_template([('user', 'Once upon a time')])
        it = s.generate(ids, max_tokens=40)
        self.assertEqual(s.position, len(ids))  # the prompt is fed at the call
        first = next(it)
        self.assertTrue(first)
        self.assertEqual(s.position, len(ids) + 1)  # one step per piece here
        it.close()  # stopping early keeps what was made
        self.assertEqual(s.position, len(ids) + 1)
        self.assertEqual(s.generated, s.tokens[len(ids):])

    def test_generate_prompt_forms(self) -> None:
        tok = self.chat_model.tokenizer
        s = self.session(self.chat_model)
        list(s.generate('Hello', max_tokens=2))
        self.assertEqual(s.tokens[:1 + len(tok.tokenize('Hello'))], [tok.bos_id] + tok.tokenize('Hello'))
        n = s.position
        list(s.generate(' more', max_tokens=1))  # not empty: no <bos>
        self.assertEqual(s.tokens[n:n + len(tok.tokenize(' more'))], tok.tokenize(' more'))
        s.reset()
        list(s.generate([17, 18], max_tokens=1, add_bos=True))
        self.assertEqual(s.tokens[:3], [tok.bos_id, 17, 18])
        n = s.position
        self.assertEqual(list(s.generate(None, max_tokens=0)), [])
        self.assertEqual((s.position, s.stop_reason), (n, 'max_tokens'))
        list(s.generate(max_tokens=3))  # from the session's logits
        self.assertEqual(s.position, n + 3)
        with self.assertRaises(gemma2.UnsupportedError):
            self.session().generate('text')  # the model has no tokenizer
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.generate(None, stop=[''])
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.generate_all(None, stop=['a\0b'])
        with self.assertRaises(gemma2.InvalidArgumentError) as cm:
            self.session().generate_all(PROMPT, stop=['x'])  # stop strings need a tokenizer
        self.assertIn('tokenizer', cm.exception.message)

    def test_context_full(self) -> None:
        s = self.session(n_ctx=8)
        self.assertEqual(s.n_ctx, 8)
        with self.assertRaises(gemma2.ContextFullError) as cm:
            s.feed(list(range(9)))
        self.assertEqual(cm.exception.status, gemma2.ERR_CONTEXT_FULL)
        self.assertTrue(cm.exception.message)
        self.assertEqual(s.position, 0)  # unchanged
        s.feed(PROMPT)
        got = list(s.generate_tokens(None, max_tokens=None))
        self.assertEqual((len(got), s.stop_reason), (2, 'context_full'))
        with self.assertRaises(gemma2.ContextFullError):
            s.step()
        c = self.session(self.chat_model, n_ctx=16)
        ids = self.chat_model.chat_template([('user', 'Tell me a story')])
        self.assertEqual(len(''.join(c.generate(ids, max_tokens=None))) > 0, True)
        self.assertEqual((c.position, c.stop_reason), (16, 'context_full'))
        c.reset()
        c.generate_all(ids, max_tokens=None)
        self.assertEqual((c.position, c.stop_reason), (16, 'context_full'))
        with self.assertRaises(gemma2.InvalidArgumentError):
            self.session(n_ctx=self.model.context_length + 1)


class SamplingTest(SessionCase):
    def test_seeded_sampling(self) -> None:
        kw = dict(temperature=1.2, top_k=40, seed=1234)
        runs = []
        for _ in range(2):
            s = self.session(**kw)
            s.feed(PROMPT)
            runs.append(self.steps(s, 24))
        self.assertEqual(runs[0], runs[1])
        g = self.session()
        g.feed(PROMPT)
        greedy = self.steps(g, 24)
        self.assertNotEqual(runs[0], greedy)
        other = self.session(**dict(kw, seed=99))
        other.feed(PROMPT)
        self.assertNotEqual(self.steps(other, 24), runs[0])
        # set_sampler replaces and reseeds: the same tokens as a session created with it
        s = self.session()
        s.feed(PROMPT)
        s.set_sampler(**kw)
        self.assertEqual(self.steps(s, 24), runs[0])
        self.assertEqual(s.sampler, gemma2.Sampler(**kw))
        s.reset()
        s.feed(PROMPT)
        s.set_sampler()  # greedy again
        self.assertEqual(self.steps(s, 24), greedy)
        s.reset()
        s.feed(PROMPT)
        s.set_sampler(gemma2.Sampler(**kw))
        self.assertEqual(self.steps(s, 24), runs[0])

    def test_logit_bias(self) -> None:
        s = self.session()
        s.feed(PROMPT)
        first = s.step().id
        b = self.session(logit_bias={first: -math.inf})
        b.feed(PROMPT)
        self.assertNotEqual(b.step().id, first)
        f = self.session(logit_bias={123: 1000.0})
        f.feed(PROMPT)
        self.assertEqual(f.step().id, 123)
        everything = {i: -math.inf for i in range(self.model.vocab_size)}
        n = self.session(logit_bias=everything)
        n.feed(PROMPT)
        with self.assertRaises(gemma2.StateError) as cm:
            n.step()
        self.assertIn('bans', cm.exception.message)

    def test_bad_sampler_values(self) -> None:
        for kw in ({'temperature': -1.0}, {'top_p': float('nan')}, {'logit_bias': {10 ** 6: 1.0}},
                   {'repeat_penalty': -2.0}):
            with self.assertRaises(gemma2.InvalidArgumentError) as cm:
                self.session(**kw)
            self.assertEqual(cm.exception.status, gemma2.ERR_INVALID_ARGUMENT)
            self.assertTrue(cm.exception.message, kw)
        s = self.session(temperature=0.7, seed=3)
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.set_sampler(temperature=-1.0)
        self.assertEqual(s.sampler.temperature, 0.7)  # unchanged on failure
        with self.assertRaises(gemma2.InvalidArgumentError):
            self.session(seed=-1)
        with self.assertRaises(gemma2.InvalidArgumentError):
            self.session(seed=2 ** 64)
        self.session(seed=2 ** 64 - 1)


class HistoryTest(SessionCase):
    def test_save_load_continues_identically(self) -> None:
        for kw in ({}, {'temperature': 1.3, 'top_p': 0.9, 'seed': 42}):
            s = self.session(**kw)
            s.feed(PROMPT)
            self.steps(s, 5)
            state = s.save()
            self.assertIsInstance(state, bytes)
            want = self.steps(s, 12)
            for n_ctx in (0, 64):
                t = self.session(n_ctx=n_ctx)  # greedy: the state brings the sampler
                t.load(state)
                self.assertIsNone(t.sampler)  # the saved one, which cannot be read back
                self.assertEqual(t.position, len(PROMPT) + 5)
                self.assertEqual(t.tokens, s.tokens[:len(PROMPT) + 5])
                self.assertEqual(self.steps(t, 12), want, (kw, n_ctx))
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'state.g2s')
                t = self.session()
                t.load(state)
                t.save_file(path)
                u = self.session()
                u.load_file(path)
                self.assertEqual(self.steps(u, 12), want)
                with self.assertRaises(gemma2.InputOutputError):
                    u.load_file(os.path.join(tmp, 'missing.g2s'))

    def test_bad_states(self) -> None:
        s = self.session()
        s.feed(PROMPT)
        state = s.save()
        t = self.session()
        t.feed([7, 8])
        for bad in (b'', b'garbage' * 10, state[:len(state) // 2]):
            with self.assertRaises(gemma2.Error) as cm:
                t.load(bad)
            self.assertIn(cm.exception.status, (gemma2.ERR_FORMAT, gemma2.ERR_INVALID_ARGUMENT, gemma2.ERR_CHECKSUM))
            self.assertTrue(cm.exception.message)
            self.assertEqual(t.tokens, [7, 8])  # unchanged
            self.assertEqual(t.sampler, gemma2.Sampler())
        damaged = bytearray(state)
        damaged[len(damaged) // 2] ^= 0x55
        with self.assertRaises((gemma2.ChecksumError, gemma2.FormatError)):
            t.load(bytes(damaged))
        other = self.session(self.chat_model)
        with self.assertRaises(gemma2.InvalidArgumentError) as cm:
            other.load(state)  # saved from another model
        self.assertTrue(cm.exception.message)
        small = self.session(n_ctx=4)
        with self.assertRaises(gemma2.ContextFullError):
            small.load(state)

    def test_rewind_reset_and_feed_prompt(self) -> None:
        s = self.session()
        s.feed(PROMPT)
        want = self.steps(s, 10)
        s.rewind(len(PROMPT) + 3)
        self.assertEqual(s.position, len(PROMPT) + 3)
        with self.assertRaises(gemma2.StateError):
            s.step()  # the logits went with the rewind
        s.rewind(len(PROMPT) - 1)
        s.feed(PROMPT[-1:])
        self.assertEqual(self.steps(s, 10), want)
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.rewind(s.position + 1)
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.rewind(-1)
        # feed_prompt keeps the common prefix
        self.assertEqual(s.feed_prompt(PROMPT + want[:4]), len(PROMPT) + 3)
        self.assertEqual(self.steps(s, 6), want[4:])
        self.assertEqual(s.feed_prompt([99]), 0)
        self.assertEqual(s.tokens, [99])
        s.reset()
        self.assertEqual((s.position, s.tokens), (0, []))
        with self.assertRaises(gemma2.StateError) as cm:
            s.step()
        self.assertEqual(cm.exception.status, gemma2.ERR_STATE)
        self.assertTrue(cm.exception.message)
        with self.assertRaises(gemma2.StateError):
            s.logits
        with self.assertRaises(gemma2.StateError):
            s.top_logprobs(3)

    def test_chat_reuses_the_conversation(self) -> None:
        s = self.session(self.chat_model)
        msgs = [{'role': 'user', 'content': 'Hello'}]
        first = s.chat(msgs, max_tokens=20)
        msgs += [{'role': 'model', 'content': first}, {'role': 'user', 'content': 'Tell me a story'}]
        second = s.chat(msgs, max_tokens=20)
        # the first turn's prompt at least was kept, not fed again
        self.assertGreaterEqual(s.reused, len(self.chat_model.chat_template(msgs[:1])))
        fresh = self.session(self.chat_model)
        self.assertEqual(fresh.chat(msgs, max_tokens=20), second)
        self.assertEqual(fresh.reused, 0)
        self.assertEqual(fresh.tokens, s.tokens)


class ErrorTest(SessionCase):
    def test_token_out_of_range(self) -> None:
        s = self.session()
        s.feed(PROMPT)
        for bad in ([5, self.model.vocab_size], [-1], [2 ** 31], [2 ** 40]):
            with self.assertRaises(gemma2.TokenOutOfRangeError) as cm:
                s.feed(bad)
            e = cm.exception
            self.assertEqual(e.status, gemma2.ERR_TOKEN_OUT_OF_RANGE)
            self.assertEqual(e.name, 'token id out of range')
            self.assertTrue(e.message)
            self.assertIsInstance(e, gemma2.Error)
            self.assertEqual(s.position, len(PROMPT))  # all or nothing
        with self.assertRaises(gemma2.TokenOutOfRangeError) as cm:
            s.feed([self.model.vocab_size])
        self.assertIn(str(self.model.vocab_size), cm.exception.message)
        with self.assertRaises(gemma2.InvalidArgumentError):
            s.feed([])
        with self.assertRaises(TypeError):
            s.feed(['x'])  # type: ignore[list-item]

    def test_callback_errors(self) -> None:
        s = self.session(self.chat_model)
        ids = self.chat_model.chat_template([('user', 'Tell me a story')])
        seen = []

        def stop_after_three(token: int, text: str) -> bool:
            seen.append(token)
            return len(seen) == 3

        s.generate_all(ids, max_tokens=30, on_text=stop_after_three)
        self.assertEqual((s.stop_reason, len(s.generated)), ('callback', 3))

        def boom(token: int, text: str) -> bool:
            raise KeyError('from the callback')

        s.reset()
        with self.assertRaisesRegex(KeyError, 'from the callback'):
            s.generate_all(ids, max_tokens=30, on_text=boom)
        self.assertEqual(s.position, len(ids) + 1)

        def reenter(token: int, text: str) -> bool:
            s.step()
            return False

        s.reset()
        with self.assertRaises(gemma2.StateError):
            s.generate_all(ids, max_tokens=5, on_text=reenter)
        s.position  # usable again


class CloseTest(SessionCase):
    def test_closed_session_raises(self) -> None:
        s = gemma2.Session(self.chat_model, threads=THREADS)
        s.feed([2, 3])
        s.close()
        s.close()
        self.assertTrue(s.closed)
        for call in (lambda: s.feed([2]), s.step, lambda: s.position, lambda: s.logits, s.save, s.reset,
                     lambda: s.rewind(0), lambda: s.top_logprobs(2), lambda: s.load(b'x'), lambda: s.tokens,
                     lambda: s.generate('x'), lambda: s.chat([('user', 'x')]), lambda: s.generate_all([2]),
                     lambda: s.set_sampler(), lambda: s.feed_prompt([2]), lambda: s.memory_bytes):
            with self.assertRaises(gemma2.ClosedError) as cm:
                call()
            self.assertIn('Session is closed', str(cm.exception))
        s.cancel()  # a no-op
        self.assertIn('closed', repr(s))

    def test_generator_after_close(self) -> None:
        s = gemma2.Session(self.chat_model, threads=THREADS)
        it = s.generate(self.chat_model.chat_template([('user', 'Tell me a story')]), max_tokens=10)
        next(it)
        s.close()
        with self.assertRaises(gemma2.ClosedError):
            next(it)

    def test_context_manager_closes(self) -> None:
        with gemma2.Session(self.model, threads=THREADS) as s:
            s.feed(PROMPT)
        self.assertTrue(s.closed)

    def test_session_outlives_closed_model(self) -> None:
        m = gemma2.Model(CHAT_MODEL, threads=THREADS)
        s = gemma2.Session(m, threads=THREADS)
        self.assertIs(s.model, m)
        ids = m.chat_template([('user', 'Hello')])
        want = self.session(self.chat_model).chat([('user', 'Hello')], max_tokens=20)
        m.close()
        with s:
            self.assertEqual(''.join(s.generate(ids, max_tokens=20)), want)

    def test_model_kept_alive_by_session(self) -> None:
        s = gemma2.Session(gemma2.Model(MODEL, threads=THREADS), threads=THREADS)
        gc.collect()
        self.assertFalse(s.model.closed)  # the session holds the Model object
        s.feed(PROMPT)
        s.step()
        s.close()
        s.model.close()

    def test_unclosed_session_warns(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            s = gemma2.Session(self.model, threads=THREADS)
            s.feed(PROMPT)
            del s
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) and 'Session' in str(w.message)
                            for w in caught), [str(w.message) for w in caught])


class CancelTest(SessionCase):
    def test_cancel_with_nothing_running_is_dropped(self) -> None:
        s = self.session()
        s.cancel()
        s.feed(PROMPT)
        s.step()

    def test_cancel_from_another_thread(self) -> None:
        s = self.session(self.chat_model, n_ctx=512)
        ids = [(i * 37) % 1990 + 6 for i in range(500)]
        s.feed(ids[:10])
        stop = threading.Event()

        def canceller() -> None:
            while not stop.is_set():
                s.cancel()

        th = threading.Thread(target=canceller)
        th.start()
        cancelled = 0
        try:
            for _ in range(50):
                try:
                    s.feed(ids[10:])
                except gemma2.CancelledError as e:
                    cancelled += 1
                    self.assertEqual(e.status, gemma2.ERR_CANCELLED)
                    self.assertEqual(s.position, 10)  # unchanged
                    continue
                s.rewind(10)
        finally:
            stop.set()
            th.join()
        if not cancelled:
            self.skipTest('no feed was cancelled in 50 tries (timing)')
        s.rewind(9)
        s.feed(ids[9:10])  # the session works after a cancelled call
        s.step()


if __name__ == '__main__':
    unittest.main()
