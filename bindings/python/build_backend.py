# SPDX-License-Identifier: Apache-2.0
"""A PEP 517 / PEP 660 build backend for the gemma2 package, standard library only, so
that `pip install bindings/python` works with no network and nothing else installed
(the package is pure Python: a wheel is a zip of gemma2/ and its metadata).

pyproject.toml names it with backend-path = ["."]. The project facts below are the
[project] table's; keep the two in step."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

NAME = 'gemma2'
VERSION = '0.1.0'
SUMMARY = 'Python bindings (ctypes) of libgemma2: Gemma 2 inference on CPUs'
REQUIRES_PYTHON = '>=3.9'
LICENSE = 'Apache-2.0'
HERE = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = '%s-%s.dist-info' % (NAME, VERSION)
TAG = 'py3-none-any'
SDIST_FILES = ['pyproject.toml', 'README.md', 'build_backend.py']


def _metadata() -> str:
    lines = ['Metadata-Version: 2.1', 'Name: ' + NAME, 'Version: ' + VERSION, 'Summary: ' + SUMMARY,
             'License: ' + LICENSE, 'Requires-Python: ' + REQUIRES_PYTHON,
             'Classifier: Programming Language :: Python :: 3', 'Classifier: Typing :: Typed']
    readme = os.path.join(HERE, 'README.md')
    if os.path.exists(readme):
        with open(readme, encoding='utf-8') as f:
            lines += ['Description-Content-Type: text/markdown', '', f.read()]
    return '\n'.join(lines) + '\n'


def _wheel_info() -> str:
    return 'Wheel-Version: 1.0\nGenerator: gemma2 build_backend\nRoot-Is-Purelib: true\nTag: %s\n' % TAG


def _package_files() -> List[Tuple[str, str]]:
    """(path in the archive, path on disk) of the package's files."""
    out = []
    pkg = os.path.join(HERE, NAME)
    for name in sorted(os.listdir(pkg)):
        if name.endswith('.py') or name == 'py.typed':
            out.append(('%s/%s' % (NAME, name), os.path.join(pkg, name)))
    return out


def _record_hash(data: bytes) -> str:
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def _write_wheel(directory: str, files: Dict[str, bytes]) -> str:
    files = dict(files)
    files[DIST_INFO + '/METADATA'] = _metadata().encode()
    files[DIST_INFO + '/WHEEL'] = _wheel_info().encode()
    record = ''.join('%s,%s,%d\n' % (n, _record_hash(d), len(d)) for n, d in files.items())
    files[DIST_INFO + '/RECORD'] = (record + DIST_INFO + '/RECORD,,\n').encode()
    name = '%s-%s-%s.whl' % (NAME, VERSION, TAG)
    with zipfile.ZipFile(os.path.join(directory, name), 'w', zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, d)
    return name


def _read(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


# ---- PEP 517 -------------------------------------------------------------------------------
def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[dict] = None) -> str:
    d = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'METADATA'), 'w', encoding='utf-8') as f:
        f.write(_metadata())
    with open(os.path.join(d, 'WHEEL'), 'w', encoding='utf-8') as f:
        f.write(_wheel_info())
    return DIST_INFO


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[dict] = None,
                metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, {n: _read(p) for n, p in _package_files()})


def build_editable(wheel_directory: str, config_settings: Optional[dict] = None,
                   metadata_directory: Optional[str] = None) -> str:
    """A wheel with a .pth file putting this folder on sys.path (PEP 660)."""
    return _write_wheel(wheel_directory, {'_%s_editable.pth' % NAME: (HERE + '\n').encode()})


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    base = '%s-%s' % (NAME, VERSION)
    name = base + '.tar.gz'
    with tarfile.open(os.path.join(sdist_directory, name), 'w:gz', format=tarfile.PAX_FORMAT) as tar:
        def add(arcname: str, data: bytes) -> None:
            info = tarfile.TarInfo('%s/%s' % (base, arcname))
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        for n in SDIST_FILES:
            add(n, _read(os.path.join(HERE, n)))
        for n, p in _package_files():
            add(n, _read(p))
        add('PKG-INFO', _metadata().encode())
    return name
