#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""verify, and damaged or hostile model files (flipped bytes, truncation, invalid
fields behind a valid header digest, random mutations) through verify, info,
logits and generate.

Usage: python3 test_cli_files.py GEMMA2_BINARY DATA_DIR [unittest options]
(shared helpers and DATA_DIR: clitest.py)
"""
import hashlib
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import (CASES, CliTest, E_OFF, H_OFF, OPTION_SETS,  # noqa: E402
                     flip_tensor, parse_model, reseal, tmp_path)


# ---- verify and damaged files ----------------------------------------------------
def older_layout(data, version):
    """A version 3 file rewritten as `version` (1 or 2): q8 tensors, and for version 1
    also q4 ones, with each row's blocks in order and their scales row-major (the
    inverse of lib/tensor/quant.h's g2_q_byte_at and g2_q_scale_at), digests redone."""
    data = bytearray(data)
    h, entries = parse_model(data)
    for e in entries:
        if not (e['type'] == 2 or (e['type'] == 3 and version < 2)):
            continue
        assert e['compression'] == 0, e['name']
        rows, cols = e['dims'][0], e['dims'][1]
        nb, bb = (cols + 31) // 32, 32 if e['type'] == 2 else 16
        base = h['data_offset'] + e['offset']
        stored = bytes(data[base:base + e['raw_size']])
        qbytes = rows * nb * bb
        plain = bytearray(e['raw_size'])
        for r in range(rows):
            s0 = r - r % 4
            n = min(4, rows - s0)
            for b in range(nb):
                g, k = b // 16, b % 16
                m = min(16, nb - 16 * g)
                block = bb * (s0 * nb + n * 16 * g + (r - s0) * m)
                scale = s0 * nb + n * 16 * g + (r - s0) * m + k
                at = (r * nb + b) * bb
                for j in range(0, bb, 4):
                    src = block + 4 * m * (j // 4) + 4 * k
                    plain[at + j:at + j + 4] = stored[src:src + 4]
                plain[qbytes + 2 * (r * nb + b):qbytes + 2 * (r * nb + b) + 2] = \
                    stored[qbytes + 2 * scale:qbytes + 2 * scale + 2]
        data[base:base + e['raw_size']] = plain
        data[e['entry_pos'] + E_OFF['digest']:e['entry_pos'] + E_OFF['digest'] + 32] = \
            hashlib.blake2b(bytes(plain), digest_size=32).digest()
    struct.pack_into('<I', data, H_OFF['version'], version)
    return reseal(data)


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
                    bad = flip_tensor(self, m, target, 'w%g' % where, where)
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

    def test_no_mmap_reads_the_same_file(self):
        """--no-mmap (a private copy instead of a mapping) computes the same logits and
        catches the same damage."""
        m = self.model('tiny-a', '--dtype', 'q8')
        outs = []
        for flags in ((), ('--no-mmap',)):
            out = tmp_path('logits', 'nommap-%d.f32' % len(flags))
            self.g2('logits', m, '--tokens', '2,3,4,5', '--out', out, *flags, code=0)
            outs.append(self.read(out))
        self.assertEqual(outs[0], outs[1])
        bad = flip_tensor(self, m, 'model.layers.1.self_attn.k_proj.weight', 'nommap', 0.5)
        self.fails('verify', bad, '--no-mmap', patterns=[r'k_proj'], one_line=False)
        data = self.read(m)
        p = self.write('nommap-trunc.g2', data[:len(data) // 2])
        self.fails('info', p, '--no-mmap', patterns=[r'truncated|too small'])

    def test_not_a_model_file(self):
        for f in (os.path.join(clitest.DATA, 'tiny-a', 'config.json'),
                  os.path.join(clitest.DATA, 'tiny-a', 'model.safetensors'),
                  os.path.join(clitest.DATA, 'tiny-a', 'logits.f32')):
            with self.subTest(file=os.path.basename(f)):
                for cmd in (('verify', f), ('info', f),
                            ('logits', f, '--tokens', '2', '--out', tmp_path('logits', 'x.f32')),
                            ('generate', f, '--tokens', '2')):
                    self.fails(*cmd, patterns=[r'not a gemma2 model file'])

    def test_missing_and_odd_paths(self):
        missing = tmp_path('nope', 'missing.g2')
        self.fails('verify', missing, patterns=[re.escape(missing)])
        self.fails('info', missing, patterns=[re.escape(missing)])
        self.fails('info', clitest.TMP)  # a directory
        self.fails('verify', '/dev/null')

    def test_unknown_version(self):
        data = self.read(self.model('tiny-a', '--dtype', 'bf16'))
        struct.pack_into('<I', data, H_OFF['version'], 4)
        p = self.write('v4.g2', reseal(data))
        self.fails('verify', p, patterns=[r'version 4'])
        self.fails('info', p, patterns=[r'version 4'])

    def test_version_1(self):
        """Version 1 files open (their quantized tensors laid out again, below)."""
        data = self.read(self.model('tiny-a', '--dtype', 'bf16'))
        struct.pack_into('<I', data, H_OFF['version'], 1)
        self.g2('verify', self.write('v1-bf16.g2', reseal(data)))

    def test_older_layouts(self):
        """Versions 1 and 2 stored q8 rows (and version 1 q4 rows) with their blocks in
        order. Such files open, their tensors laid out again in memory, give the same
        logits as the version 3 file, and their digests, over the stored bytes, still
        catch damage: at open too, as the copy would hide it from a later verify."""
        for dtype, version in (('q8', 2), ('q4', 1)):
            with self.subTest(dtype=dtype, version=version):
                new = self.model('tiny-a', '--dtype', dtype)
                old = self.write('v%d-%s.g2' % (version, dtype), older_layout(self.read(new), version))
                outs = []
                for f in (new, old):
                    out = tmp_path('logits', 'layout-%s-%s.f32' % (dtype, os.path.basename(f)))
                    self.g2('logits', f, '--tokens', '2,3,4,5', '--out', out, code=0)
                    outs.append(self.read(out))
                self.assertEqual(outs[0], outs[1])
                self.g2('verify', old)
                again = tmp_path('logits', 'layout-%s-again.g2' % dtype)  # convert rewrites it as version 3
                self.g2('convert', old, again)
                self.assertEqual(parse_model(self.read(again))[0]['version'], 3)
                out = tmp_path('logits', 'layout-%s-again.f32' % dtype)
                self.g2('logits', again, '--tokens', '2,3,4,5', '--out', out, code=0)
                self.assertEqual(self.read(out), outs[0])
                bad = flip_tensor(self, old, 'model.layers.1.self_attn.k_proj.weight', 'layout-' + dtype, 0.3)
                self.fails('verify', bad, patterns=[r'k_proj'], one_line=False)
                self.fails('info', bad, patterns=[r'k_proj'], one_line=False)  # opens skipping verify

    @unittest.skipUnless(shutil.which('zstd'), 'needs the zstd program')
    def test_older_layout_compressed(self):
        """A version 2 file whose q8 tensors are zstd frames: each is decompressed, checked
        and laid out again at open, with the same logits as the version 3 file."""
        new = self.model('tiny-a', '--dtype', 'q8')
        data = bytearray(older_layout(self.read(new), 2))
        h, entries = parse_model(data)
        out, section = bytearray(data[:h['data_offset']]), bytearray()
        raw_path = tmp_path('logits', 'layout-raw.bin')
        for e in entries:
            start = h['data_offset'] + e['offset']
            with open(raw_path, 'wb') as f:
                f.write(data[start:start + e['raw_size']])
            frame = subprocess.run(['zstd', '-q', '-f', '-c', raw_path], capture_output=True, check=True).stdout
            section += bytes(-len(section) % 64)
            struct.pack_into('<QQ', out, e['entry_pos'] + E_OFF['offset'], len(section), len(frame))
            struct.pack_into('<I', out, e['entry_pos'] + E_OFF['compression'], 1)
            section += frame
        out += section
        struct.pack_into('<I', out, H_OFF['flags'], struct.unpack_from('<I', out, H_OFF['flags'])[0] | 1)
        struct.pack_into('<Q', out, H_OFF['data_size'], len(section))
        struct.pack_into('<Q', out, H_OFF['file_size'], len(out))
        old = self.write('v2-q8-zstd.g2', reseal(out))
        outs = []
        for f in (new, old):
            path = tmp_path('logits', 'layout-zstd-%s.f32' % os.path.basename(f))
            self.g2('logits', f, '--tokens', '2,3,4,5', '--out', path, code=0)
            outs.append(self.read(path))
        self.assertEqual(outs[0], outs[1])
        self.g2('verify', old)

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


if __name__ == '__main__':
    sys.exit(clitest.main())
