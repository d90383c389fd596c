# SPDX-License-Identifier: Apache-2.0
"""Packaging: the in-tree build backend makes a wheel pip installs offline, with the
package's files and metadata, and the versions declared in pyproject.toml,
build_backend.py and gemma2.__version__ agree."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

from _common import BINDINGS, TestCase

import gemma2


def load_backend():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location('gemma2_build_backend', os.path.join(BINDINGS, 'build_backend.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


class InstallTest(TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='gemma2-install-')
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_versions_agree(self) -> None:
        with open(os.path.join(BINDINGS, 'pyproject.toml'), encoding='utf-8') as f:
            text = f.read()
        backend = load_backend()
        self.assertEqual(re.search(r'^version = "([^"]+)"', text, re.M).group(1), backend.VERSION)
        self.assertEqual(re.search(r'^requires-python = "([^"]+)"', text, re.M).group(1), backend.REQUIRES_PYTHON)
        self.assertEqual(re.search(r'^name = "([^"]+)"', text, re.M).group(1), backend.NAME)
        self.assertEqual(gemma2.__version__, backend.VERSION)

    def test_wheel_contents(self) -> None:
        backend = load_backend()
        name = backend.build_wheel(self.tmp)
        with zipfile.ZipFile(os.path.join(self.tmp, name)) as z:
            names = set(z.namelist())
            record = z.read('gemma2-%s.dist-info/RECORD' % backend.VERSION).decode()
        for want in ('gemma2/__init__.py', 'gemma2/_ffi.py', 'gemma2/_model.py', 'gemma2/_errors.py',
                     'gemma2/py.typed', 'gemma2-%s.dist-info/METADATA' % backend.VERSION):
            self.assertIn(want, names)
            self.assertIn(want + ',', record)
        sdist = backend.build_sdist(self.tmp)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, sdist)))

    def test_pip_installs_offline(self) -> None:
        if importlib.util.find_spec('pip') is None:
            self.skipTest('no pip')
        target = os.path.join(self.tmp, 'site')
        env = dict(os.environ, PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1')
        env.pop('PYTHONPATH', None)
        r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '--target', target,
                            BINDINGS], env=env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=240, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.exists(os.path.join(target, 'gemma2', 'py.typed')))
        env['PYTHONPATH'] = target
        r = subprocess.run([sys.executable, '-W', 'error', '-c', 'import gemma2; print(gemma2.__file__)'], env=env,
                           cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), os.path.join(target, 'gemma2', '__init__.py'))
        self.assertEqual(sorted(n for n in os.listdir(BINDINGS) if n.endswith('.egg-info') or n == 'build'), [],
                         'pip left files in the source folder')


if __name__ == '__main__':
    unittest.main()
