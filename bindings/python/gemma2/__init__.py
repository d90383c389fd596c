# SPDX-License-Identifier: Apache-2.0
"""Python bindings of libgemma2: Gemma 2 inference on CPUs (ctypes, standard library only).

    import gemma2
    with gemma2.Model('model.g2') as model, gemma2.Session(model) as session:
        print(session.chat([{'role': 'user', 'content': 'Hello'}]))

The library is found through GEMMA2_LIBRARY (a path), then the installed libgemma2, then
build/ of the repository this package is in (gemma2._ffi). See bindings/python/README.md.
"""
from __future__ import annotations

from . import _ffi
from ._common import Message
from ._errors import (BufferTooSmallError, CancelledError, ChecksumError, ClosedError, ContextFullError, Error,
                      FormatError, InputOutputError, InternalError, InvalidArgumentError, OutOfMemoryError,
                      StateError, SystemFailureError, TokenOutOfRangeError, UnsupportedError, VersionError,
                      error_class, status_name)
from ._ffi import (ABI_VERSION, DIGEST_BYTES, ERR_BUFFER_TOO_SMALL, ERR_CANCELLED, ERR_CHECKSUM,
                   ERR_CONTEXT_FULL, ERR_FORMAT, ERR_INTERNAL, ERR_INVALID_ARGUMENT, ERR_IO, ERR_OUT_OF_MEMORY,
                   ERR_STATE, ERR_SYSTEM, ERR_TOKEN_OUT_OF_RANGE, ERR_UNSUPPORTED, ERR_VERSION, OK, TOKEN_BOS,
                   TOKEN_END_OF_TURN, TOKEN_EOS, TOKEN_PAD, TOKEN_START_OF_TURN, TOKEN_UNK, library_path)
from ._library import abi_version, cpu_describe, cpu_kernels, type_name, version, version_number
from ._model import Model, ModelInfo, TensorInfo
from ._sampler import Sampler
from ._session import Session, Token
from ._tokenizer import Tokenizer

__version__ = '0.1.0'

__all__ = [
    'Model', 'ModelInfo', 'TensorInfo', 'Tokenizer', 'Session', 'Sampler', 'Token', 'Message',
    'Error', 'InvalidArgumentError', 'UnsupportedError', 'OutOfMemoryError', 'InputOutputError', 'FormatError',
    'VersionError', 'ChecksumError', 'TokenOutOfRangeError', 'ContextFullError', 'BufferTooSmallError',
    'StateError', 'CancelledError', 'SystemFailureError', 'InternalError', 'ClosedError',
    'error_class', 'status_name', 'version', 'version_number', 'abi_version', 'cpu_kernels', 'cpu_describe',
    'type_name', 'library_path', 'ABI_VERSION', 'DIGEST_BYTES',
    'OK', 'ERR_INVALID_ARGUMENT', 'ERR_UNSUPPORTED', 'ERR_OUT_OF_MEMORY', 'ERR_IO', 'ERR_FORMAT', 'ERR_VERSION',
    'ERR_CHECKSUM', 'ERR_TOKEN_OUT_OF_RANGE', 'ERR_CONTEXT_FULL', 'ERR_BUFFER_TOO_SMALL', 'ERR_STATE',
    'ERR_CANCELLED', 'ERR_SYSTEM', 'ERR_INTERNAL',
    'TOKEN_BOS', 'TOKEN_EOS', 'TOKEN_PAD', 'TOKEN_UNK', 'TOKEN_START_OF_TURN', 'TOKEN_END_OF_TURN',
]
