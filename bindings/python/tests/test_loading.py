# SPDX-License-Identifier: Apache-2.0
"""Loading the library and checking the declarations: the ABI version, struct sizes (and
that the check really fails on a wrong declaration), struct fields, constants and
function prototypes against include/gemma2.h, and where the library is looked for."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, List, Tuple

from _common import BINDINGS, HEADER, TestCase

import gemma2
from gemma2 import _ffi

C_TYPES = {
    'uint32_t': ctypes.c_uint32, 'int32_t': ctypes.c_int32, 'uint64_t': ctypes.c_uint64,
    'float': ctypes.c_float, 'uint8_t': ctypes.c_uint8, 'size_t': ctypes.c_size_t,
}


def header_text() -> str:
    with open(HEADER, encoding='utf-8') as f:
        text = f.read()
    return re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)  # comments out


def header_structs() -> Dict[str, List[Tuple[str, str]]]:
    """typedef struct NAME { fields } NAME; -> [(type, field name)] in order."""
    out = {}
    for m in re.finditer(r'typedef struct (\w+) \{(.*?)\} \1;', header_text(), re.S):
        fields = []
        for decl in m.group(2).split(';'):
            decl = ' '.join(decl.split())
            if not decl:
                continue
            fm = re.match(r'(.*?)(\w+)(\[\w+\])?$', decl)
            assert fm, decl
            fields.append((fm.group(1).strip() + (fm.group(3) or ''), fm.group(2)))
        out[m.group(1)] = fields
    return out


def header_functions() -> Dict[str, int]:
    """GEMMA2_API function name -> number of parameters."""
    out = {}
    for m in re.finditer(r'GEMMA2_API\s+[^;(]*?\b(gemma2_\w+)\s*\(([^)]*)\)\s*;', header_text(), re.S):
        params = ' '.join(m.group(2).split())
        out[m.group(1)] = 0 if params in ('void', '') else params.count(',') + 1
    return out


def header_defines() -> Dict[str, int]:
    out = {}
    for m in re.finditer(r'^#define GEMMA2_(\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b', header_text(), re.M):
        out[m.group(1)] = int(m.group(2), 0)
    return out


class StructTest(TestCase):
    def test_sizes_match_the_library(self) -> None:
        _ffi.check_struct_sizes(_ffi.lib)  # raises on a mismatch
        self.assertEqual(sorted(_ffi.STRUCTS), list(range(1, 11)))
        for which, cls in _ffi.STRUCTS.items():
            self.assertEqual(ctypes.sizeof(cls), _ffi.lib.gemma2_struct_size(which), cls.__name__)
        self.assertEqual(_ffi.lib.gemma2_struct_size(0), 0)
        self.assertEqual(_ffi.lib.gemma2_struct_size(11), 0)

    def test_a_wrong_declaration_fails_the_check(self) -> None:
        # the sampler options without their last field (the logit bias pointer)
        class gemma2_sampler_options(ctypes.Structure):
            _fields_ = _ffi.gemma2_sampler_options._fields_[:-1]

        structs = dict(_ffi.STRUCTS)
        structs[_ffi.STRUCT_SAMPLER_OPTIONS] = gemma2_sampler_options
        with self.assertRaises(ImportError) as cm:
            _ffi.check_struct_sizes(_ffi.lib, structs)
        self.assertIn('gemma2_sampler_options', str(cm.exception))
        self.assertIn('56', str(cm.exception))  # the library's size

        # a field with the wrong width: uint32_t n_ctx as uint64_t
        class gemma2_session_options(ctypes.Structure):
            _fields_ = [(n, ctypes.c_uint64 if n == 'n_ctx' else t) for n, t in _ffi.gemma2_session_options._fields_]

        structs = dict(_ffi.STRUCTS)
        structs[_ffi.STRUCT_SESSION_OPTIONS] = gemma2_session_options
        with self.assertRaisesRegex(ImportError, 'gemma2_session_options'):
            _ffi.check_struct_sizes(_ffi.lib, structs)

        # a struct number the library does not know (size 0)
        with self.assertRaisesRegex(ImportError, 'gemma2_logit_bias'):
            _ffi.check_struct_sizes(_ffi.lib, {99: _ffi.gemma2_logit_bias})

    def test_fields_mirror_the_header(self) -> None:
        structs = header_structs()
        declared = {cls.__name__: cls for cls in _ffi.STRUCTS.values()}
        self.assertEqual(set(structs), set(declared), 'public structs of the header')
        digest = header_defines()['DIGEST_BYTES']
        for name, fields in structs.items():
            cls = declared[name]
            self.assertEqual([f for _, f in fields], [f for f, _ in cls._fields_], name)
            for (ctype, fname), (_, pytype) in zip(fields, cls._fields_):
                ctype = ctype.replace('const ', '').strip()
                where = '%s.%s' % (name, fname)
                if ctype.endswith('*'):
                    self.assertEqual(ctypes.sizeof(pytype), ctypes.sizeof(ctypes.c_void_p), where)
                    self.assertTrue(pytype in (ctypes.c_void_p, ctypes.c_char_p) or hasattr(pytype, 'contents'),
                                    where)
                elif ctype.endswith(']'):
                    base, count = re.match(r'(\w+)\[(\w+)\]', ctype).groups()
                    n = digest if count == 'GEMMA2_DIGEST_BYTES' else int(count)
                    self.assertIs(pytype._type_, C_TYPES[base], where)
                    self.assertEqual(pytype._length_, n, where)
                else:
                    self.assertIs(pytype, C_TYPES[ctype], where)


class DeclarationTest(TestCase):
    def test_abi_and_version(self) -> None:
        self.assertEqual(gemma2.abi_version(), 1)
        self.assertEqual(gemma2.ABI_VERSION, header_defines()['ABI_VERSION'])
        m = re.search(r'#define GEMMA2_VERSION_STRING "([^"]+)"', header_text())
        self.assertEqual(gemma2.version(), m.group(1))
        d = header_defines()
        self.assertEqual(gemma2.version_number(),
                         d['VERSION_MAJOR'] * 10000 + d['VERSION_MINOR'] * 100 + d['VERSION_PATCH'])
        self.assertEqual(_ffi.lib.gemma2_digest_bytes(), gemma2.DIGEST_BYTES)
        self.assertIsInstance(gemma2.cpu_kernels(), str)
        self.assertIn('\n', gemma2.cpu_describe())

    def test_constants_mirror_the_header(self) -> None:
        defines = header_defines()
        checked = 0
        for name, value in defines.items():
            if hasattr(_ffi, name):
                self.assertEqual(getattr(_ffi, name), value, name)
                checked += 1
        self.assertGreater(checked, 50)
        for name in ('OK', 'ERR_INTERNAL', 'STRUCT_LOGIT_BIAS', 'STOP_ERROR', 'CHAT_NO_BOS', 'TOKEN_END_OF_TURN'):
            self.assertIn(name, defines)
            self.assertTrue(hasattr(_ffi, name), name)

    def test_every_function_is_declared(self) -> None:
        functions = header_functions()
        self.assertGreater(len(functions), 60)
        self.assertEqual(sorted(set(functions) - set(_ffi._PROTOTYPES)), [], 'header functions with no prototype')
        self.assertEqual(sorted(set(_ffi._PROTOTYPES) - set(functions)), [], 'prototypes not in the header')
        for name, n in functions.items():
            fn = getattr(_ffi.lib, name)
            self.assertEqual(len(fn.argtypes), n, name)
            self.assertEqual(fn.argtypes, _ffi._PROTOTYPES[name][1], name)

    def test_status_names(self) -> None:
        self.assertEqual(gemma2.status_name(gemma2.ERR_CONTEXT_FULL), 'context full')
        self.assertIs(gemma2.error_class(gemma2.ERR_TOKEN_OUT_OF_RANGE), gemma2.TokenOutOfRangeError)
        self.assertIs(gemma2.error_class(999), gemma2.Error)
        e = gemma2.error_class(gemma2.ERR_FORMAT)(gemma2.ERR_FORMAT, 'bad file')
        self.assertEqual((e.status, e.name, e.message), (5, 'malformed model file', 'bad file'))
        self.assertIn('bad file', str(e))
        self.assertIsInstance(gemma2.InvalidArgumentError(1, 'x'), ValueError)


def run_python(code: str, env: Dict[str, str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120, text=True)


class FindTest(TestCase):
    """Where the package looks for the library (in fresh interpreters)."""

    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='gemma2-py-')
        self.addCleanup(shutil.rmtree, self.tmp)
        self.lib = os.path.realpath(gemma2.library_path)
        # a copy of the package in a fake checkout TMP/bindings/python/gemma2
        self.pkg_parent = os.path.join(self.tmp, 'bindings', 'python')
        shutil.copytree(os.path.join(BINDINGS, 'gemma2'), os.path.join(self.pkg_parent, 'gemma2'))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ('GEMMA2_LIBRARY', 'LD_LIBRARY_PATH', 'PYTHONPATH')}
        self.env['PYTHONPATH'] = self.pkg_parent
        self.env['PYTHONDONTWRITEBYTECODE'] = '1'

    def installed(self) -> bool:
        r = run_python('import ctypes, ctypes.util, sys\n'
                       'if ctypes.util.find_library("gemma2"): sys.exit(0)\n'
                       'try: ctypes.CDLL("libgemma2.so.1")\n'
                       'except OSError: sys.exit(1)\n', self.env, self.tmp)
        return r.returncode == 0

    def test_environment_variable(self) -> None:
        env = dict(self.env, GEMMA2_LIBRARY=self.lib)
        r = run_python('import gemma2; print(gemma2.library_path)', env, self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.lib)

    def test_environment_variable_that_does_not_load(self) -> None:
        bad = os.path.join(self.tmp, 'no-such-libgemma2.so')
        env = dict(self.env, GEMMA2_LIBRARY=bad)
        r = run_python('import gemma2', env, self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('ImportError', r.stderr)
        self.assertIn('GEMMA2_LIBRARY=' + bad, r.stderr)

    def test_build_tree(self) -> None:
        if self.installed():
            self.skipTest('an installed libgemma2 comes before the build tree')
        os.makedirs(os.path.join(self.tmp, 'build'))
        link = os.path.join(self.tmp, 'build', 'libgemma2.so')
        os.symlink(self.lib, link)
        r = run_python('import gemma2; print(gemma2.library_path)', self.env, self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), link)

    def test_not_found_lists_what_was_tried(self) -> None:
        if self.installed():
            self.skipTest('libgemma2 is installed')
        r = run_python('import gemma2', self.env, self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('ImportError: gemma2: cannot find libgemma2', r.stderr)
        for tried in ('GEMMA2_LIBRARY: not set', "find_library('gemma2')", 'libgemma2.so.1',
                      os.path.join(self.tmp, 'build', 'libgemma2.so')):
            self.assertIn(tried, r.stderr)

    def test_not_libgemma2(self) -> None:
        libc = ctypes.util.find_library('c')
        if not libc:
            self.skipTest('no libc to load')
        r = run_python('import gemma2', dict(self.env, GEMMA2_LIBRARY=libc), self.tmp)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('is not libgemma2', r.stderr)


if __name__ == '__main__':
    unittest.main()
