# SPDX-License-Identifier: Apache-2.0
"""What the Pythonic layer shares: the loaded library, the argument type aliases, and the
conversions of Python arguments to C ones."""
from __future__ import annotations

import ctypes
import os
import warnings
from ctypes import c_int32
from typing import Iterable, Mapping, Sequence, Tuple, Union

from . import _ffi
from ._errors import fail

__all__ = ['Message', 'PathLike', 'Text']

lib = _ffi.lib

PathLike = Union[str, bytes, 'os.PathLike[str]', 'os.PathLike[bytes]']
Text = Union[str, bytes]
#: A chat turn: {'role': ..., 'content': ...} or (role, content). Roles: "user", "model"
#: (or "assistant"), "system".
Message = Union[Mapping[str, Text], Tuple[str, Text], Sequence[Text]]


def _ids(values: Iterable[int]) -> 'ctypes.Array[c_int32]':
    """A C int32_t array of token ids; TokenOutOfRangeError for an id outside int32_t."""
    try:
        return _ffi.int32_array(values)
    except OverflowError as e:
        fail(_ffi.ERR_TOKEN_OUT_OF_RANGE, 'token id out of range: %s' % e)


def _bytes(text: Text, what: str = 'text') -> bytes:
    if isinstance(text, str):
        return text.encode('utf-8')
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError('%s must be str or bytes, not %s' % (what, type(text).__name__))


def _path(path: PathLike) -> bytes:
    data = os.fsencode(path)
    if b'\0' in data:
        fail(_ffi.ERR_INVALID_ARGUMENT, 'path has an embedded NUL byte: %r' % (path,))
    return data


def _c_string(text: Text, what: str) -> bytes:
    """text for a NUL-terminated C string (a NUL inside would cut it short)."""
    data = _bytes(text, what)
    if b'\0' in data:
        fail(_ffi.ERR_INVALID_ARGUMENT, '%s has an embedded NUL byte: %r' % (what, text))
    return data


def _warn_unclosed(obj: object) -> None:
    warnings.warn('unclosed %r' % (obj,), ResourceWarning, stacklevel=3)

