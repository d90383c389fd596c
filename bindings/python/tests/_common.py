# SPDX-License-Identifier: Apache-2.0
"""Shared paths and helpers of the binding tests.

The files come from the environment (bindings/python/meson.build sets them):
  GEMMA2_LIBRARY          libgemma2 (read by the package itself)
  GEMMA2_TEST_CLI         the gemma2 command
  GEMMA2_TEST_MODEL       tests/tiny-a-bf16.g2: golden random weights, no tokenizer
  GEMMA2_TEST_CHAT_MODEL  tests/chat-model.g2: with a tokenizer (tests/common/make_chat_model.py)
  GEMMA2_TEST_HEADER      include/gemma2.h
Run by hand, they default to the repository's build/ directory.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import unittest
import warnings
from typing import List, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
BINDINGS = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(BINDINGS))
BUILD = os.path.join(REPO, 'build')

if BINDINGS not in sys.path:
    sys.path.insert(0, BINDINGS)


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


CLI = _env('GEMMA2_TEST_CLI', os.path.join(BUILD, 'gemma2'))
MODEL = _env('GEMMA2_TEST_MODEL', os.path.join(BUILD, 'tests', 'tiny-a-bf16.g2'))
CHAT_MODEL = _env('GEMMA2_TEST_CHAT_MODEL', os.path.join(BUILD, 'tests', 'chat-model.g2'))
HEADER = _env('GEMMA2_TEST_HEADER', os.path.join(REPO, 'include', 'gemma2.h'))

# One compute thread: the machine is shared, and results do not depend on it.
THREADS = 1


def cli(*args: object, stdin: bytes = b'', check: bool = True) -> subprocess.CompletedProcess:
    """Runs the gemma2 command; stdout and stderr as bytes."""
    r = subprocess.run([CLI] + [str(a) for a in args], input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError('gemma2 %s: exit %d\n%s' % (' '.join(map(str, args)), r.returncode,
                                                         r.stderr.decode(errors='replace')))
    return r


def ids_arg(ids: Sequence[int]) -> str:
    return ','.join(str(i) for i in ids)


def parse_ids(text: str) -> List[int]:
    text = text.strip()
    return [int(x) for x in text.split(',')] if text else []


def cli_generate(model: str, ids: Sequence[int], n: int, *flags: object) -> List[int]:
    """The ids `gemma2 generate MODEL --tokens IDS -n N FLAGS` prints."""
    return parse_ids(cli('generate', model, '--tokens', ids_arg(ids), '-n', n, '-t', THREADS, *flags)
                     .stdout.decode())


class TestCase(unittest.TestCase):
    """Fails a test that leaves a ResourceWarning behind (an unclosed Model or Session)."""

    def setUp(self) -> None:
        for path in (MODEL, CHAT_MODEL):
            if not os.path.exists(path):
                self.fail('missing test model %s (build it, or set GEMMA2_TEST_MODEL / '
                          'GEMMA2_TEST_CHAT_MODEL)' % path)
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter('always', ResourceWarning)

    def tearDown(self) -> None:
        gc.collect()
        self._warnings.__exit__(None, None, None)
        leaked = [str(w.message) for w in self._caught if issubclass(w.category, ResourceWarning)]
        self.assertEqual(leaked, [], 'ResourceWarnings: unclosed handles')
