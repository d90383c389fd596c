#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tests of the gemma2 command-line tool (convert, info, verify, logits, generate).

Usage: python3 test_cli.py GEMMA2_BINARY DATA_DIR [unittest options]

DATA_DIR holds tiny-a (one BF16 safetensors file) and tiny-b (two shards and an
index), each with golden.json and logits.f32 from the PyTorch reference. Only the
Python standard library is used. Every file the tests make lives in one temporary
directory that is removed at the end. Every command run is checked not to have died
from a signal, whatever else the test expects.
"""
import array
import hashlib
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

BIN = None   # the gemma2 binary
DATA = None  # tests/data
TMP = None   # per-run scratch directory

CASES = ('tiny-a', 'tiny-b')
TIMEOUT = 120  # seconds per command; tiny models take well under one
# Threads for the bulk of the compute runs. One thread keeps the suite quick and steady
# when meson runs other tests in parallel; the default (all CPUs) and other counts are
# exercised on their own in TestGolden.test_logits_to_stdout_and_threads.
THREADS = os.environ.get('GEMMA2_CLI_TEST_THREADS', '1')

# ---- model file layout (docs/format.md, lib/model/format.h) ----------------------
HEADER_FMT = '<8sIIQQQQQQQQIIQQ32s24s'
ENTRY_FMT = '<128sII4QQQQII32s24s'
assert struct.calcsize(HEADER_FMT) == 160 and struct.calcsize(ENTRY_FMT) == 256
HEADER_FIELDS = ('magic', 'version', 'flags', 'file_size', 'config_offset', 'config_size',
                 'meta_offset', 'meta_size', 'meta_raw_size', 'dir_offset', 'dir_size',
                 'n_tensors', 'dir_entry_size', 'data_offset', 'data_size', 'header_digest',
                 'reserved')
# byte offsets of header fields (format.md table)
H_OFF = {'version': 8, 'flags': 12, 'file_size': 16, 'config_offset': 24, 'config_size': 32,
         'meta_offset': 40, 'meta_size': 48, 'meta_raw_size': 56, 'dir_offset': 64,
         'dir_size': 72, 'n_tensors': 80, 'dir_entry_size': 84, 'data_offset': 88,
         'data_size': 96, 'header_digest': 104, 'reserved': 136}
# byte offsets of fields inside a directory entry
E_OFF = {'name': 0, 'type': 128, 'n_dims': 132, 'dims': 136, 'offset': 168, 'stored_size': 176,
         'raw_size': 184, 'compression': 192, 'reserved0': 196, 'digest': 200, 'reserved': 232}
MAGIC = b'\x89G2M\r\n\x1a\n'


def parse_header(data):
    return dict(zip(HEADER_FIELDS, struct.unpack_from(HEADER_FMT, data, 0)))


def parse_model(data):
    """Header dict and the list of directory entries (dicts) of a model file."""
    h = parse_header(data)
    entries = []
    for i in range(h['n_tensors']):
        pos = h['dir_offset'] + i * 256
        f = struct.unpack_from(ENTRY_FMT, data, pos)
        entries.append({'name': f[0].rstrip(b'\0').decode(errors='replace'), 'type': f[1], 'n_dims': f[2],
                        'dims': f[3:7], 'offset': f[7], 'stored_size': f[8], 'raw_size': f[9],
                        'compression': f[10], 'digest': f[12], 'entry_pos': pos})
    return h, entries


def header_digest(data):
    """BLAKE2b-256 of [0, data_offset) with the header_digest field zeroed."""
    h = parse_header(data)
    region = bytearray(data[:h['data_offset']])
    region[104:136] = bytes(32)
    return hashlib.blake2b(bytes(region), digest_size=32).digest()


def reseal(data):
    """Recomputes the header digest after an edit of the header region, so that the
    reader's later checks (config, directory) are the ones exercised."""
    data = bytearray(data)
    h = parse_header(data)
    if 160 <= h['data_offset'] <= len(data):
        data[104:136] = header_digest(data)
    return data


# ---- safetensors (u64 LE header length, JSON header, data) ------------------------
DTYPE_SIZE = {'BF16': 2, 'F16': 2, 'F32': 4, 'F64': 8}


def read_safetensors(path):
    """[(name, dtype, shape, bytes)] in file order, and the __metadata__ (or None)."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack_from('<Q', raw, 0)[0]
    header = json.loads(raw[8:8 + n].decode())
    meta = header.pop('__metadata__', None)
    base = 8 + n
    tensors = []
    for name, info in header.items():
        begin, end = info['data_offsets']
        tensors.append((name, info['dtype'], list(info['shape']), raw[base + begin:base + end]))
    return tensors, meta


def write_safetensors(path, tensors, meta=None, shape_override=None):
    """Writes [(name, dtype, shape, bytes)]; the header is space-padded to 8 bytes."""
    header, offset = {}, 0
    if meta is not None:
        header['__metadata__'] = meta
    for name, dtype, shape, blob in tensors:
        header[name] = {'dtype': dtype, 'shape': shape,
                        'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for t in tensors:
            f.write(t[3])


def bf16_to_f32_bytes(blob):
    h = array.array('H')
    h.frombytes(blob)
    return array.array('I', [x << 16 for x in h]).tobytes()


def f32_values(blob):
    a = array.array('f')
    a.frombytes(blob)
    return a


def f16_bytes(values):
    """Packs floats as IEEE binary16 (round to nearest even, as struct does)."""
    return struct.pack('<%de' % len(values), *values)


def f16_exact(values):
    """True if every value is exactly representable in binary16."""
    try:
        back = struct.unpack('<%de' % len(values), f16_bytes(values))
    except OverflowError:
        return False
    return all(a == b for a, b in zip(values, back))


# ---- running the binary -----------------------------------------------------------
def tmp_path(*parts):
    p = os.path.join(TMP, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def run(*args):
    """Runs gemma2 with args; stdout/stderr as bytes/str."""
    return subprocess.run([BIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=TIMEOUT)


_golden = {}


def golden(case):
    if case not in _golden:
        d = os.path.join(DATA, case)
        with open(os.path.join(d, 'golden.json')) as f:
            g = json.load(f)
        with open(os.path.join(d, 'logits.f32'), 'rb') as f:
            logits = f32_values(f.read())
        g['_logits'] = logits
        g['_vocab'] = g['model']['vocab_size']
        g['_atol'] = g['tolerances_suggested']['f32_compute']['logits_atol']
        g['_tokens'] = ','.join(str(t) for t in g['input_ids'])
        _golden[case] = g
    return _golden[case]


class CliTest(unittest.TestCase):
    """Base class: every command goes through g2(), which fails the test if the
    process died from a signal."""

    def g2(self, *args, code=None):
        r = run(*args)
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

    def fails(self, *args, patterns=(), one_line=True):
        """An error (exit 1): a message on stderr matching every pattern
        (case-insensitive); by default exactly one line of it."""
        r = self.g2(*args, code=1)
        self.assertTrue(r.err.strip(), '%s: exit 1 without a message' % r.cmd)
        lines = r.err.strip().splitlines()
        if one_line:
            self.assertEqual(len(lines), 1, '%s: error message is not one line:\n%s'
                             % (r.cmd, r.err))
        self.assertIn('error', lines[0], '%s: first stderr line: %s' % (r.cmd, lines[0]))
        for p in patterns:
            self.assertRegex(r.err, re.compile(p, re.I), r.cmd)
        return r

    def usage_error(self, *args):
        """A usage error (exit 2): a message and the usage on stderr, nothing on stdout."""
        r = self.g2(*args, code=2)
        self.assertIn('usage', r.err.lower(), '%s: no usage text on stderr' % r.cmd)
        self.assertEqual(r.out, '', '%s: wrote to stdout on a usage error' % r.cmd)
        return r

    # --- model fixtures ------------------------------------------------------
    _models = {}

    def convert(self, src, out, *opts):
        r = self.g2('convert', src, out, *opts, code=0)
        self.assertEqual(r.out, '', 'convert wrote to stdout')
        self.assertTrue(os.path.isfile(out))
        self.assertFalse(os.path.exists(out + '.tmp'), 'convert left %s.tmp' % out)
        return r

    def model(self, case, *opts):
        """The golden checkpoint `case` converted with opts (cached per run)."""
        key = (case,) + opts
        if key not in CliTest._models:
            name = case + ''.join(o.replace('--', '-') for o in opts) + '.g2'
            out = tmp_path('models', name)
            r = self.convert(os.path.join(DATA, case), out, *opts)
            # stderr is not a terminal here: no progress bar, no chatter
            self.assertEqual(r.err, '', 'convert wrote to a non-terminal stderr: %r' % r.err)
            CliTest._models[key] = out
        return CliTest._models[key]

    def logits(self, model, case, name=None, *extra):
        """Runs `logits` over the golden input ids; returns the raw bytes written."""
        g = golden(case)
        out = tmp_path('logits', name or os.path.basename(model) + '.f32')
        if '-t' not in extra:
            extra += ('-t', THREADS)
        self.g2('logits', model, '--tokens', g['_tokens'], '--out', out, *extra, code=0)
        with open(out, 'rb') as f:
            return f.read()

    def assert_golden_logits(self, blob, case, what):
        g = golden(case)
        n, vocab = len(g['input_ids']), g['_vocab']
        self.assertEqual(len(blob), n * vocab * 4, '%s: logits file size' % what)
        got = f32_values(blob)
        self.assertTrue(all(math.isfinite(x) for x in got), '%s: non-finite logits' % what)
        worst, where = 0.0, 0
        for i, (a, b) in enumerate(zip(got, g['_logits'])):
            if abs(a - b) > worst:
                worst, where = abs(a - b), i
        self.assertLessEqual(worst, g['_atol'],
                             '%s: max |logit - golden| = %g at [%d, %d] > atol %g'
                             % (what, worst, where // vocab, where % vocab, g['_atol']))

    def assert_golden_generate(self, model, case, *extra):
        g = golden(case)
        if '-t' not in extra:
            extra += ('-t', THREADS)
        r = self.g2('generate', model, '--tokens', g['_tokens'], '-n', len(g['greedy_ids']),
                    '--greedy', '--ids', *extra, code=0)
        want = ','.join(str(t) for t in g['greedy_ids']) + '\n'
        self.assertEqual(r.out, want, '%s: generated ids differ from golden greedy_ids' % r.cmd)

    def info_digest(self, model):
        r = self.g2('info', model, code=0)
        found = re.findall(r'\b[0-9a-f]{64}\b', r.out)
        self.assertEqual(len(found), 1, 'info should print one 64-hex digest:\n' + r.out)
        return found[0]


# ---- 1. conversion of the golden checkpoints, logits, generate --------------------
OPTION_SETS = (('--dtype', 'f32'), ('--dtype', 'bf16'), ('--dtype', 'f32', '--compress'),
               ('--dtype', 'bf16', '--compress'), ())


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


# ---- 2. info ------------------------------------------------------------------------
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
        for fname in os.listdir(os.path.join(DATA, case)):
            if fname.endswith('.safetensors'):
                names |= {t[0] for t in read_safetensors(os.path.join(DATA, case, fname))[0]}
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
                    self.convert(os.path.join(DATA, case), again, *opts)
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
        bad = CorruptMixin.flip_tensor(self, m, 'model.layers.1.mlp.up_proj.weight', 'info')
        self.g2('info', bad, code=0)


# ---- 3. verify and damaged files ----------------------------------------------------
class CorruptMixin:
    @staticmethod
    def flip_tensor(test, model, tensor, tag, where=0.5, mask=0x01):
        """A copy of model with one byte flipped inside tensor's stored bytes."""
        with open(model, 'rb') as f:
            data = bytearray(f.read())
        h, entries = parse_model(data)
        e = next((e for e in entries if e['name'] == tensor), None)
        test.assertIsNotNone(e, tensor + ' not in the directory')
        pos = h['data_offset'] + e['offset'] + min(int(e['stored_size'] * where), e['stored_size'] - 1)
        data[pos] ^= mask
        out = tmp_path('corrupt', '%s-%s' % (tag, os.path.basename(model)))
        with open(out, 'wb') as f:
            f.write(data)
        return out


class TestVerify(CliTest):
    def write(self, name, data):
        p = tmp_path('corrupt', name)
        with open(p, 'wb') as f:
            f.write(data)
        return p

    def read(self, path):
        with open(path, 'rb') as f:
            return bytearray(f.read())

    def test_good_files_verify(self):
        for case in CASES:
            for opts in OPTION_SETS[:4]:
                with self.subTest(case=case, opts=' '.join(opts)):
                    m = self.model(case, *opts)
                    r = self.g2('verify', m, code=0)
                    self.assertIn('OK', r.out)
                    self.assertEqual(r.err, '')

    def test_flipped_tensor_byte(self):
        target = 'model.layers.2.mlp.up_proj.weight'
        for opts in (('--dtype', 'bf16'), ('--dtype', 'f32'), ('--dtype', 'bf16', '--compress')):
            for where in (0.0, 0.5, 1.0):
                with self.subTest(opts=' '.join(opts), where=where):
                    m = self.model('tiny-a', *opts)
                    bad = CorruptMixin.flip_tensor(self, m, target, 'w%g' % where, where)
                    r = self.fails('verify', bad, patterns=[re.escape(target)], one_line=False)
                    named = set(re.findall(r"'(model\.[^']+)'", r.err))
                    self.assertEqual(named, {target}, 'verify names other tensors:\n' + r.err)
                    # commands that compute verify the digests at open
                    self.fails('logits', bad, '--tokens', '2,3', '--out',
                               tmp_path('logits', 'bad.f32'), patterns=[re.escape(target)])
                    self.fails('generate', bad, '--tokens', '2,3', '-n', '2',
                               patterns=[re.escape(target)], one_line=False)

    def test_every_bad_tensor_is_named(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        data = self.read(m)
        h, entries = parse_model(data)
        targets = [entries[0]['name'], entries[17]['name'], entries[-1]['name']]
        for e in entries:
            if e['name'] in targets:
                data[h['data_offset'] + e['offset'] + e['stored_size'] // 3] ^= 0x40
        bad = self.write('three.g2', data)
        r = self.fails('verify', bad, one_line=False)
        named = set(re.findall(r"'(model\.[^']+)'", r.err))
        self.assertEqual(named, set(targets), r.err)

    def test_flipped_header_region(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        data = self.read(m)
        h, entries = parse_model(data)
        spots = {
            'config': h['config_offset'] + 4,             # hidden_size
            'config-float': h['config_offset'] + 52,      # rope_theta
            'layer-kinds': h['config_offset'] + 80,
            'metadata': h['meta_offset'] + h['meta_size'] // 2,
            'dir-name': entries[3]['entry_pos'] + 10,
            'dir-digest': entries[5]['entry_pos'] + E_OFF['digest'] + 7,
            'padding': h['dir_offset'] + h['dir_size'] + 1,   # zero padding before data
            'stored-digest': 104,
        }
        for what, pos in spots.items():
            with self.subTest(what=what):
                self.assertLess(pos, h['data_offset'])
                bad = bytearray(data)
                bad[pos] ^= 0x01
                p = self.write('hdr-%s.g2' % what, bad)
                for cmd in (('verify', p), ('info', p),
                            ('logits', p, '--tokens', '2', '--out', tmp_path('logits', 'x.f32')),
                            ('generate', p, '--tokens', '2', '-n', '1')):
                    r = self.fails(*cmd, patterns=[r'header digest'])
                    self.assertEqual(r.out.strip(), '', '%s printed output' % r.cmd)

    def test_truncated_files(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        data = self.read(m)
        h, _ = parse_model(data)
        for size in (0, 7, 100, 159, 160, h['data_offset'] - 1, h['data_offset'],
                     len(data) // 2, len(data) - 1):
            with self.subTest(size=size):
                p = self.write('trunc-%d.g2' % size, data[:size])
                for cmd in ('verify', 'info'):
                    self.fails(cmd, p, patterns=[r'truncated|too small'])
        # appended bytes are as wrong as missing ones
        p = self.write('appended.g2', data + b'\0' * 64)
        self.fails('verify', p, patterns=[r'appended|file size'])

    def test_not_a_model_file(self):
        for f in (os.path.join(DATA, 'tiny-a', 'config.json'),
                  os.path.join(DATA, 'tiny-a', 'model.safetensors'),
                  os.path.join(DATA, 'tiny-a', 'logits.f32')):
            with self.subTest(file=os.path.basename(f)):
                for cmd in (('verify', f), ('info', f),
                            ('logits', f, '--tokens', '2', '--out', tmp_path('logits', 'x.f32')),
                            ('generate', f, '--tokens', '2')):
                    self.fails(*cmd, patterns=[r'not a gemma2 model file'])

    def test_missing_and_odd_paths(self):
        missing = tmp_path('nope', 'missing.g2')
        self.fails('verify', missing, patterns=[re.escape(missing)])
        self.fails('info', missing, patterns=[re.escape(missing)])
        self.fails('info', TMP)  # a directory
        self.fails('verify', '/dev/null')

    def test_unknown_version(self):
        data = self.read(self.model('tiny-a', '--dtype', 'bf16'))
        struct.pack_into('<I', data, H_OFF['version'], 2)
        p = self.write('v2.g2', reseal(data))
        self.fails('verify', p, patterns=[r'version'])
        self.fails('info', p, patterns=[r'version'])

    def test_invalid_fields_with_valid_digest(self):
        """Header, config and directory fields made invalid, the header digest
        recomputed: the reader's structural checks must reject each with exit 1."""
        m = self.model('tiny-a', '--dtype', 'bf16')
        base = self.read(m)
        h, entries = parse_model(base)
        c = h['config_offset']
        e = entries[4]['entry_pos']
        big = (1 << 64) - 1
        edits = {
            'flags-unknown': (H_OFF['flags'], '<I', 0x80),
            'flags-compressed-without-zstd': (H_OFF['flags'], '<I', 1),
            'file_size': (H_OFF['file_size'], '<Q', len(base) + 4096),
            'dir_offset-huge': (H_OFF['dir_offset'], '<Q', big - 7),
            'dir_offset-unaligned': (H_OFF['dir_offset'], '<Q', h['dir_offset'] + 4),
            'n_tensors-huge': (H_OFF['n_tensors'], '<I', 0xffffffff),
            'n_tensors-minus-one': (H_OFF['n_tensors'], '<I', h['n_tensors'] - 1),
            'dir_entry_size': (H_OFF['dir_entry_size'], '<I', 128),
            'data_offset-unaligned': (H_OFF['data_offset'], '<Q', h['data_offset'] + 8),
            'config_size': (H_OFF['config_size'], '<Q', h['config_size'] + 1),
            'meta_raw_size-huge': (H_OFF['meta_raw_size'], '<Q', big),
            'meta_size-zero': (H_OFF['meta_size'], '<Q', 0),
            'reserved': (H_OFF['reserved'], '<B', 1),
            'vocab-zero': (c + 0, '<I', 0),
            'vocab-huge': (c + 0, '<I', 0xffffffff),
            'hidden-odd': (c + 4, '<I', 127),
            'n_layers-huge': (c + 8, '<I', 0xffffffff),
            'n_kv_heads-3': (c + 16, '<I', 3),
            'head_dim-odd': (c + 20, '<I', 31),
            'sliding_window-zero': (c + 32, '<I', 0),
            'bos-out-of-vocab': (c + 36, '<i', 512),
            'eps-nan': (c + 48, '<f', float('nan')),
            'eps-negative': (c + 48, '<f', -1.0),
            'softcap-inf': (c + 64, '<f', float('inf')),
            'config-flags-untied': (c + 68, '<I', 0),
            'activation': (c + 72, '<I', 1),
            'layer-kind-2': (c + 80, '<B', 2),
            'tensor-type': (e + E_OFF['type'], '<I', 7),
            'tensor-n_dims-0': (e + E_OFF['n_dims'], '<I', 0),
            'tensor-n_dims-5': (e + E_OFF['n_dims'], '<I', 5),
            'tensor-dim-huge': (e + E_OFF['dims'], '<Q', 1 << 62),
            'tensor-offset-past-end': (e + E_OFF['offset'], '<Q', h['data_size']),
            'tensor-offset-huge': (e + E_OFF['offset'], '<Q', big - 63),
            'tensor-offset-unaligned': (e + E_OFF['offset'], '<Q', entries[4]['offset'] + 2),
            'tensor-overlap': (e + E_OFF['offset'], '<Q', entries[3]['offset']),
            'tensor-stored_size': (e + E_OFF['stored_size'], '<Q', entries[4]['stored_size'] - 2),
            'tensor-raw_size': (e + E_OFF['raw_size'], '<Q', entries[4]['raw_size'] * 2),
            'tensor-compression': (e + E_OFF['compression'], '<I', 9),
            'tensor-name-duplicate': (e + E_OFF['name'], '128s',
                                      entries[3]['name'].encode()),
            'tensor-name-unknown': (e + E_OFF['name'], '128s', b'model.layers.0.bogus.weight'),
            'tensor-name-no-nul': (e + E_OFF['name'], '128s', b'x' * 128),
        }
        for what, (pos, fmt, value) in edits.items():
            with self.subTest(field=what):
                data = bytearray(base)
                struct.pack_into(fmt, data, pos, value)
                p = self.write('field-%s.g2' % what, reseal(data))
                self.fails('verify', p)
                self.fails('info', p)
                self.fails('logits', p, '--tokens', '2', '--out', tmp_path('logits', 'x.f32'))

    def test_random_header_mutations_never_crash(self):
        """Random byte edits of the header region, resealed: any exit but 0/1 (or a
        signal, checked by g2) is a failure."""
        rng = random.Random(20240601)
        for path in (self.model('tiny-a', '--dtype', 'bf16'),
                     self.model('tiny-a', '--dtype', 'bf16', '--compress')):
            base = self.read(path)
            h, _ = parse_model(base)
            for i in range(60):
                data = bytearray(base)
                for _ in range(rng.randint(1, 3)):
                    pos = rng.randrange(8, h['data_offset'])
                    data[pos] = rng.choice((0, 0xff, rng.randrange(256), data[pos] ^ 0x80))
                p = self.write('rand.g2', reseal(data))
                for cmd in ('verify', 'info'):
                    r = self.g2(cmd, p)
                    self.assertIn(r.returncode, (0, 1), '%s (mutation %d): %s' % (cmd, i, r.err))

    def test_random_compressed_data_mutations(self):
        """Byte edits inside zstd frames: verify must fail (exit 1) and never crash."""
        rng = random.Random(7)
        path = self.model('tiny-a', '--dtype', 'bf16', '--compress')
        base = self.read(path)
        h, entries = parse_model(base)
        for i in range(30):
            e = rng.choice(entries)
            data = bytearray(base)
            pos = h['data_offset'] + e['offset'] + rng.randrange(e['stored_size'])
            data[pos] ^= 1 << rng.randrange(8)
            p = self.write('zrand.g2', data)
            r = self.g2('verify', p)
            self.assertEqual(r.returncode, 1, 'verify passed a flipped bit in %s' % e['name'])
            self.assertIn(e['name'], r.err)


# ---- 4. converter input paths -------------------------------------------------------
class TestConverter(CliTest):
    @classmethod
    def setUpClass(cls):
        src = os.path.join(DATA, 'tiny-a')
        cls.tensors, cls.meta = read_safetensors(os.path.join(src, 'model.safetensors'))
        with open(os.path.join(src, 'config.json')) as f:
            cls.config = json.load(f)

    def checkpoint(self, variant, tensors=None, shards=None, config=None, index_extra=None):
        """Writes a checkpoint folder TMP/ckpt/<variant>/tiny-a (the folder name is
        the same as the golden one so that general.source, and so the digest, match);
        shards > 0 writes that many shards and an index."""
        d = tmp_path('ckpt', variant, 'tiny-a', 'x')
        d = os.path.dirname(d)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(self.config if config is None else config, f, indent=1)
        tensors = self.tensors if tensors is None else tensors
        if not shards:
            write_safetensors(os.path.join(d, 'model.safetensors'), tensors, self.meta)
            return d
        weight_map, total = {}, 0
        for k in range(shards):
            part = tensors[k::shards]
            fname = 'model-%05d-of-%05d.safetensors' % (k + 1, shards)
            write_safetensors(os.path.join(d, fname), part, self.meta)
            for t in part:
                weight_map[t[0]] = fname
                total += len(t[3])
        index = {'metadata': {'total_size': total}, 'weight_map': weight_map}
        if index_extra:
            index['weight_map'].update(index_extra)
        with open(os.path.join(d, 'model.safetensors.index.json'), 'w') as f:
            json.dump(index, f, indent=1)
        return d

    def f32_tensors(self):
        return [(n, 'F32', s, bf16_to_f32_bytes(b)) for n, dt, s, b in self.tensors]

    def convert_fails(self, src, *patterns):
        out = tmp_path('conv-fail', 'out.g2')
        self.fails('convert', src, out, patterns=patterns)
        self.assertFalse(os.path.exists(out), 'failed convert left OUT behind')
        self.assertFalse(os.path.exists(out + '.tmp'), 'failed convert left OUT.tmp behind')

    def convert_and_check(self, src, name, *opts):
        out = tmp_path('conv', name + '.g2')
        self.convert(src, out, *opts)
        self.g2('verify', out, code=0)
        self.assert_golden_logits(self.logits(out, 'tiny-a'), 'tiny-a', name)
        self.assert_golden_generate(out, 'tiny-a')
        return out

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
        self.convert_fails(os.path.join(DATA, 'tiny-a', 'config.json'))
        empty = os.path.dirname(tmp_path('empty-ckpt', 'x'))
        self.convert_fails(empty)
        src = os.path.join(DATA, 'tiny-a')
        self.fails('convert', src, TMP)  # OUT is a directory
        self.fails('convert', src, os.path.join(TMP, 'really-missing', 'x.g2'))

    def test_option_forms(self):
        # --dtype=X, options before the operands, and "--" are the same conversion
        src = os.path.join(DATA, 'tiny-a')
        want = self.info_digest(self.model('tiny-a', '--dtype', 'f32', '--compress'))
        for i, args in enumerate((('--dtype=f32', '--compress', src),
                                  ('--compress', '--dtype', 'f32', '--', src))):
            with self.subTest(args=' '.join(args)):
                out = tmp_path('conv', 'forms-%d.g2' % i)
                self.g2('convert', *(args + (out,)), code=0)
                self.assertEqual(self.info_digest(out), want)

    def test_failed_convert_keeps_existing_out(self):
        out = tmp_path('conv', 'keep.g2')
        self.convert(os.path.join(DATA, 'tiny-a'), out)
        with open(out, 'rb') as f:
            before = f.read()
        src = self.checkpoint('keep', [t for t in self.tensors if t[0] != 'model.norm.weight'])
        self.fails('convert', src, out)
        with open(out, 'rb') as f:
            self.assertTrue(f.read() == before, 'a failed convert changed the existing OUT')


# ---- 5. usage -----------------------------------------------------------------------
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

    def test_usage_errors(self):
        m = self.model('tiny-a', '--dtype', 'bf16')
        src = os.path.join(DATA, 'tiny-a')
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
        self.fails('logits', m, '--tokens', '2', '--out', TMP)
        if os.path.exists('/dev/full'):
            self.fails('logits', m, '--tokens', '2,3,4', '--out', '/dev/full')


def main():
    global BIN, DATA, TMP
    if len(sys.argv) < 3:
        sys.stderr.write('usage: test_cli.py GEMMA2_BINARY DATA_DIR [unittest options]\n')
        return 2
    BIN = os.path.abspath(sys.argv[1])
    DATA = os.path.abspath(sys.argv[2])
    if sys.byteorder != 'little':
        sys.stderr.write('test_cli.py: little-endian hosts only (as the library)\n')
        return 77  # meson/automake "skipped"
    TMP = tempfile.mkdtemp(prefix='gemma2-cli-test-')
    try:
        prog = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
