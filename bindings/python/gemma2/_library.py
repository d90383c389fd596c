# SPDX-License-Identifier: Apache-2.0
"""Facts about the loaded library: its version, ABI and CPU kernels, and type names."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_size_t

from . import _ffi
from ._common import lib
from ._errors import check

__all__ = ['version', 'version_number', 'abi_version', 'cpu_kernels', 'cpu_describe', 'type_name']


def version() -> str:
    """The loaded library's version string, e.g. "0.1.0" (gemma2_version_string)."""
    return lib.gemma2_version_string().decode()


def version_number() -> int:
    """The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH (gemma2_version)."""
    return int(lib.gemma2_version())


def abi_version() -> int:
    """The loaded library's ABI major (gemma2_abi_version); the binding needs 1."""
    return int(lib.gemma2_abi_version())


def cpu_kernels() -> str:
    """The kernel table a model opened now would use, e.g. "avx512"."""
    return lib.gemma2_cpu_kernels().decode()


def cpu_describe() -> str:
    """A few lines describing the CPU features seen and the kernels chosen."""
    n = c_size_t(0)
    st = lib.gemma2_cpu_describe(None, 0, byref(n))
    if st not in (_ffi.OK, _ffi.ERR_BUFFER_TOO_SMALL):
        check(st)
    buf = ctypes.create_string_buffer(n.value + 1)
    check(lib.gemma2_cpu_describe(buf, len(buf), byref(n)))
    return buf.raw[:n.value].decode('utf-8', 'replace')


def type_name(type_id: int) -> str:
    """The name of a GEMMA2_TYPE_* value: "f32", "bf16", "q8", "q4" or "unknown"."""
    return lib.gemma2_type_name(int(type_id)).decode()
