# SPDX-License-Identifier: Apache-2.0
"""Model and Tokenizer: opening (and its errors), facts against `gemma2 info`, closing,
and text against `gemma2 tokenize` / `detokenize`."""
from __future__ import annotations

import gc
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import warnings

from _common import CHAT_MODEL, MODEL, THREADS, TestCase, cli, ids_arg, parse_ids

import gemma2


def cli_info(path: str) -> dict:
    out = cli('info', path).stdout.decode()
    info = {}
    for key in ('vocab_size', 'hidden_size', 'layers', 'head_dim', 'ffn_size', 'context_length', 'sliding_window'):
        info[key] = int(re.search(r'^%s:\s+(\d+)' % key, out, re.M).group(1))
    info['heads'], info['kv_heads'] = map(int, re.search(r'^heads / kv heads:\s+(\d+) / (\d+)', out, re.M).groups())
    info['weight_type'] = re.search(r'^weight type:\s+(\S+)', out, re.M).group(1)
    info['digest'] = re.search(r'^digest:\s+([0-9a-f]{64})', out, re.M).group(1)
    info['n_tensors'] = int(re.search(r'^tensors:\s+(\d+)', out, re.M).group(1))
    info['kinds'] = re.search(r'^layer kinds:\s+([LG]+)', out, re.M).group(1)
    info['tensor_names'] = re.findall(r'^  (\S+)\s+(?:f32|bf16|q8|q4)\s', out, re.M)
    return info


class OpenTest(TestCase):
    def test_facts_match_gemma2_info(self) -> None:
        for path in (MODEL, CHAT_MODEL):
            want = cli_info(path)
            with gemma2.Model(path, threads=THREADS) as m:
                self.assertEqual(m.vocab_size, want['vocab_size'])
                self.assertEqual(m.hidden_size, want['hidden_size'])
                self.assertEqual(m.n_layers, want['layers'])
                self.assertEqual((m.n_heads, m.n_kv_heads), (want['heads'], want['kv_heads']))
                self.assertEqual(m.head_dim, want['head_dim'])
                self.assertEqual(m.ffn_size, want['ffn_size'])
                self.assertEqual(m.context_length, want['context_length'])
                self.assertEqual(m.sliding_window, want['sliding_window'])
                self.assertEqual(m.weight_type, want['weight_type'])
                self.assertEqual(m.digest.hex(), want['digest'])
                self.assertEqual(len(m.digest), gemma2.DIGEST_BYTES)
                self.assertEqual(''.join(k[0].upper() for k in m.layer_kinds), want['kinds'])
                self.assertEqual(m.info.n_tensors, want['n_tensors'])
                self.assertEqual(m.info.file_size, os.path.getsize(path))
                tensors = m.tensors()
                self.assertEqual([t.name for t in tensors], want['tensor_names'])
                self.assertEqual(tensors[0].dims, (m.vocab_size, m.hidden_size))
                self.assertEqual(sum(t.n_bytes for t in tensors), m.info.weight_bytes)
                m.verify(threads=THREADS)
                m.verify_tensor(0)
                with self.assertRaises(gemma2.InvalidArgumentError):
                    m.verify_tensor(len(tensors))

    def test_open_options(self) -> None:
        with gemma2.Model(MODEL, threads=THREADS) as m:
            digest = m.digest
        for kw in ({'verify': False}, {'mmap': False}, {'expected_digest': digest},
                   {'expected_digest': digest.hex()}):
            with gemma2.Model(MODEL, threads=THREADS, **kw) as m:
                self.assertEqual(m.digest, digest, kw)
        wrong = bytes(32)
        with self.assertRaises(gemma2.ChecksumError) as cm:
            gemma2.Model(MODEL, threads=THREADS, expected_digest=wrong)
        self.assertEqual(cm.exception.status, gemma2.ERR_CHECKSUM)
        self.assertTrue(cm.exception.message)
        with self.assertRaises(gemma2.InvalidArgumentError):
            gemma2.Model(MODEL, expected_digest=digest[:16])

    def test_missing_file(self) -> None:
        path = os.path.join(tempfile.gettempdir(), 'gemma2-no-such-dir', 'missing.g2')
        with self.assertRaises(gemma2.InputOutputError) as cm:
            gemma2.Model(path)
        e = cm.exception
        self.assertIsInstance(e, gemma2.Error)
        self.assertEqual(e.status, gemma2.ERR_IO)
        self.assertEqual(e.name, gemma2.status_name(gemma2.ERR_IO))
        self.assertIn('missing.g2', e.message)  # the library's own message
        self.assertIn(e.message, str(e))

    def test_not_a_model(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'junk.g2')
            with open(path, 'wb') as f:
                f.write(b'this is not a gemma2 model file' * 100)
            with self.assertRaises(gemma2.FormatError) as cm:
                gemma2.Model(path)
            self.assertEqual(cm.exception.status, gemma2.ERR_FORMAT)
            self.assertTrue(cm.exception.message)
            # a flipped byte in the tensor data: the digest check at open names the tensor
            damaged = os.path.join(tmp, 'damaged.g2')
            shutil.copy(MODEL, damaged)
            with open(damaged, 'r+b') as f:
                f.seek(-100, os.SEEK_END)
                b = f.read(1)
                f.seek(-100, os.SEEK_END)
                f.write(bytes([b[0] ^ 0xFF]))
            with self.assertRaises(gemma2.ChecksumError) as cm:
                gemma2.Model(damaged, threads=THREADS)
            self.assertIn('model.', cm.exception.message)
            with gemma2.Model(damaged, threads=THREADS, verify=False) as m:  # unchecked: opens
                with self.assertRaises(gemma2.ChecksumError):
                    m.verify(threads=THREADS)

    def test_path_like(self) -> None:
        import pathlib
        with gemma2.Model(pathlib.Path(MODEL), threads=THREADS) as m:
            self.assertEqual(m.path, MODEL)
        with self.assertRaises(gemma2.InvalidArgumentError):  # not silently cut at the NUL
            gemma2.Model(MODEL + '\0junk')


class SaveTest(TestCase):
    def test_save_writes_the_model_as_loaded(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'saved.g2')
            with gemma2.Model(CHAT_MODEL, threads=THREADS) as m:
                m.save(path)
                with gemma2.Model(path, threads=THREADS) as copy:
                    self.assertEqual(copy.info.source, 'gemma2')
                    self.assertTrue(copy.info.has_checksums)
                    self.assertEqual(copy.info.qpas_source, 'config')
                    self.assertEqual([(t.name, t.type, t.dims, t.digest) for t in copy.tensors()],
                                     [(t.name, t.type, t.dims, t.digest) for t in m.tensors()])
                    self.assertEqual(copy.tokenize('In the beginning'), m.tokenize('In the beginning'))
                    self.assertTrue(all(t.file_type == t.type for t in copy.tensors()))
                    copy.verify()
                with self.assertRaises(gemma2.Error):
                    m.save(os.path.join(tmp, 'missing-dir', 'x.g2'))


class CloseTest(TestCase):
    def test_closed_model_raises(self) -> None:
        m = gemma2.Model(CHAT_MODEL, threads=THREADS)
        tok = m.tokenizer
        self.assertFalse(m.closed)
        m.close()
        self.assertTrue(m.closed)
        m.close()  # idempotent
        for call in (lambda: m.vocab_size, lambda: m.digest, lambda: m.info, m.tensors, m.verify,
                     lambda: m.tokenize('x'), lambda: m.detokenize([5]), lambda: m.tokenizer,
                     lambda: m.chat_template([('user', 'x')]), lambda: gemma2.Session(m),
                     lambda: tok.tokenize('x'), lambda: tok.vocab_size):
            with self.assertRaises(gemma2.ClosedError) as cm:
                call()
            self.assertEqual(cm.exception.status, gemma2.ERR_INVALID_ARGUMENT)
            self.assertIn('closed', str(cm.exception))
        self.assertIn('closed', repr(m))

    def test_context_manager_closes(self) -> None:
        with gemma2.Model(MODEL, threads=THREADS) as m:
            self.assertFalse(m.closed)
        self.assertTrue(m.closed)
        try:
            with gemma2.Model(MODEL, threads=THREADS) as m:
                raise KeyError('x')
        except KeyError:
            pass
        self.assertTrue(m.closed)

    def test_unclosed_model_warns(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            m = gemma2.Model(MODEL, threads=THREADS)
            del m
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) and 'Model' in str(w.message)
                            for w in caught), [str(w.message) for w in caught])


class TokenizerTest(TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.model = gemma2.Model(CHAT_MODEL, threads=THREADS)
        self.addCleanup(self.model.close)

    def test_no_tokenizer(self) -> None:
        with gemma2.Model(MODEL, threads=THREADS) as m:
            self.assertIsNone(m.tokenizer)
            self.assertFalse(m.has_tokenizer)
            with self.assertRaises(gemma2.UnsupportedError) as cm:
                m.tokenize('hello')
            self.assertEqual(cm.exception.status, gemma2.ERR_UNSUPPORTED)
            self.assertIn('tokenizer', cm.exception.message)

    def test_tokenize_matches_the_cli(self) -> None:
        texts = ['Hello world', 'Say <start_of_turn>user\nhi<end_of_turn> and <bos> then',
                 'caf\u00e9 \u65e5\u672c\u8a9e \U0001F600', '', '  two  spaces\n\ttab']
        for text in texts:
            plain = parse_ids(cli('tokenize', CHAT_MODEL, '--plain', stdin=text.encode()).stdout.decode())
            special = parse_ids(cli('tokenize', CHAT_MODEL, stdin=text.encode()).stdout.decode())
            self.assertEqual(self.model.tokenize(text), plain, text)
            self.assertEqual(self.model.tokenize(text.encode()), plain, text)
            self.assertEqual(self.model.tokenize(text, special=True), special, text)
            self.assertEqual(self.model.detokenize(plain), text)
            self.assertEqual(self.model.detokenize(special), text)
        ids = self.model.tokenize('<start_of_turn>x<end_of_turn>', special=True)
        self.assertEqual(ids[0], self.model.tokenizer.start_of_turn_id)
        self.assertEqual(self.model.detokenize(ids, skip_special=True), 'x')
        want = cli('detokenize', CHAT_MODEL, '--ids', ids_arg(ids), '--skip-special').stdout.decode()
        self.assertEqual(self.model.detokenize(ids, skip_special=True), want)

    def test_bytes_round_trip(self) -> None:
        tok = self.model.tokenizer
        data = b'\xff\x00abc\xc3'
        ids = tok.tokenize(data)
        self.assertEqual(tok.detokenize_bytes(ids), data)
        self.assertEqual(tok.detokenize(ids), data.decode('utf-8', 'replace'))

    def test_detokenize_out_of_range(self) -> None:
        for bad in ([5, 100000], [-1], [2 ** 40]):
            with self.assertRaises(gemma2.TokenOutOfRangeError) as cm:
                self.model.detokenize(bad)
            self.assertEqual(cm.exception.status, gemma2.ERR_TOKEN_OUT_OF_RANGE)
            self.assertTrue(cm.exception.message)
        with self.assertRaises(TypeError):
            self.model.detokenize(['a'])  # type: ignore[list-item]

    def test_specials_and_pieces(self) -> None:
        tok = self.model.tokenizer
        self.assertEqual(tok.vocab_size, 2000)
        self.assertEqual((tok.pad_id, tok.eos_id, tok.bos_id, tok.unk_id, tok.start_of_turn_id, tok.end_of_turn_id),
                         (0, 1, 2, 3, 4, 5))
        self.assertEqual(tok.piece(2), '<bos>')
        self.assertEqual(tok.find('<end_of_turn>'), 5)
        self.assertEqual(tok.piece(6), '<0x00>')
        self.assertTrue(tok.is_end_of_turn(5) and tok.is_end_of_turn(1))
        self.assertFalse(tok.is_end_of_turn(2))
        with self.assertRaises(gemma2.InvalidArgumentError):
            tok.find('no such piece \u2603\u2603')

    def test_chat_template(self) -> None:
        tok = self.model.tokenizer
        sot, eot, bos = tok.start_of_turn_id, tok.end_of_turn_id, tok.bos_id
        nl = tok.tokenize('\n')

        def turn(role: str, text: str) -> list:
            return [sot] + tok.tokenize(role + '\n' + text) + [eot] + nl

        ids = self.model.chat_template([{'role': 'user', 'content': 'Hello'}])
        self.assertEqual(ids, [bos] + turn('user', 'Hello') + [sot] + tok.tokenize('model\n'))
        # what `gemma2 run` feeds for the same prompt
        r = cli('run', CHAT_MODEL, '-p', 'Hello', '-n', 1, '-t', THREADS, '--show-ids')
        fed = re.search(r'fed \d+ ids at position 0: ([\d,]+)', r.stderr.decode()).group(1)
        self.assertEqual(ids, parse_ids(fed))
        msgs = [('user', 'Hi'), ('assistant', 'Hello!'), ('user', 'How are you?')]
        ids = self.model.chat_template(msgs, add_generation_prompt=False, bos=False)
        self.assertEqual(ids, turn('user', 'Hi') + turn('model', 'Hello!') + turn('user', 'How are you?'))
        # a system message goes before the next user turn's text
        ids = self.model.chat_template([{'role': 'system', 'content': 'Be brief.'}, ('user', 'Hi')])
        self.assertEqual(ids, [bos] + turn('user', 'Be brief.\n\nHi') + [sot] + tok.tokenize('model\n'))
        # markers in the text are text
        ids = self.model.chat_template([('user', '<end_of_turn>')], add_generation_prompt=False)
        self.assertEqual(ids.count(eot), 1)
        with self.assertRaises(gemma2.InvalidArgumentError) as cm:
            self.model.chat_template([('robot', 'hi')])
        self.assertIn('role', cm.exception.message)
        with self.assertRaises(gemma2.InvalidArgumentError):
            self.model.chat_template([{'role': 'user'}])
        with self.assertRaises(gemma2.InvalidArgumentError):
            self.model.chat_template([('user\0model', 'x')])
        ids = self.model.chat_template([('user', 'a\0b')])  # NUL in the text is text
        self.assertIn(tok.find('<0x00>'), ids)

    def test_standalone_tokenizer(self) -> None:
        blob = tokenizer_blob(CHAT_MODEL)
        with gemma2.Tokenizer.load(blob) as tok:
            self.assertEqual(tok.vocab_size, 2000)
            for text in ('Hello world', 'caf\u00e9 <bos>'):
                self.assertEqual(tok.tokenize(text), self.model.tokenize(text))
                self.assertEqual(tok.tokenize(text, special=True), self.model.tokenize(text, special=True))
            self.assertEqual(tok.chat_template([('user', 'x')]), self.model.chat_template([('user', 'x')]))
        self.assertTrue(tok.closed)
        with self.assertRaises(gemma2.ClosedError):
            tok.tokenize('x')
        with self.assertRaises(gemma2.Error) as cm:
            gemma2.Tokenizer.load(blob[:len(blob) // 2])
        self.assertIn(cm.exception.status, (gemma2.ERR_FORMAT, gemma2.ERR_VERSION))
        self.assertTrue(cm.exception.message)
        # an unclosed loaded tokenizer warns
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            t = gemma2.Tokenizer.load(blob)
            del t
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) for w in caught))


def tokenizer_blob(path: str) -> bytes:
    """The "tokenizer" metadata record of a model file (docs/format.md), through the zstd
    command."""
    zstd = shutil.which('zstd')
    if not zstd:
        raise unittest.SkipTest('no zstd command to read the metadata frame')
    with open(path, 'rb') as f:
        head = f.read(160)
        meta_offset, meta_size = struct.unpack_from('<QQ', head, 40)
        f.seek(meta_offset)
        frame = f.read(meta_size)
    raw = subprocess.run([zstd, '-d', '-c', '-q'], input=frame, stdout=subprocess.PIPE, check=True).stdout
    at = 0
    while at < len(raw):
        klen, vlen = struct.unpack_from('<II', raw, at)
        key = raw[at + 8:at + 8 + klen]
        value = raw[at + 8 + klen:at + 8 + klen + vlen]
        if key == b'tokenizer':
            return value
        at += 8 + klen + vlen
    raise AssertionError('%s has no tokenizer record' % path)

if __name__ == '__main__':
    unittest.main()
