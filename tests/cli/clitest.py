#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the gemma2 command-line tests (tests/cli/test_cli_*.py).

Each test module runs standalone: python3 test_cli_X.py GEMMA2_BINARY DATA_DIR
[unittest options], and imports this module from its own directory.

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

# Option sets of the golden conversions (TestGolden, TestInfo, TestVerify).
OPTION_SETS = (('--dtype', 'f32'), ('--dtype', 'bf16'), ('--dtype', 'f32', '--compress'),
               ('--dtype', 'bf16', '--compress'), ())


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


# ---- damaging a converted model ---------------------------------------------------
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


# ---- source checkpoints rewritten from tiny-a -------------------------------------
class CheckpointTest(CliTest):
    """Base class of the tests that convert checkpoints made from tiny-a's tensors."""

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


def main():
    """Runs the unittest classes of the calling __main__ module; the exit status is
    0 (all passed), 1 (a failure), 2 (bad arguments) or 77 (skipped)."""
    global BIN, DATA, TMP
    prog_name = os.path.basename(sys.argv[0])
    if len(sys.argv) < 3:
        sys.stderr.write('usage: %s GEMMA2_BINARY DATA_DIR [unittest options]\n' % prog_name)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    DATA = os.path.abspath(sys.argv[2])
    if sys.byteorder != 'little':
        sys.stderr.write('%s: little-endian hosts only (as the library)\n' % prog_name)
        return 77  # meson/automake "skipped"
    TMP = tempfile.mkdtemp(prefix='gemma2-cli-test-')
    try:
        prog = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
