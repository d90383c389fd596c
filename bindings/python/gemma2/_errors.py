# SPDX-License-Identifier: Apache-2.0
"""Exceptions: one class per gemma2_status, all derived from gemma2.Error."""
from __future__ import annotations

from typing import Dict, NoReturn, Optional, Type

from . import _ffi

__all__ = [
    'Error', 'InvalidArgumentError', 'UnsupportedError', 'OutOfMemoryError', 'InputOutputError', 'FormatError',
    'VersionError', 'ChecksumError', 'TokenOutOfRangeError', 'ContextFullError', 'BufferTooSmallError',
    'StateError', 'CancelledError', 'SystemFailureError', 'InternalError', 'ClosedError', 'status_name',
    'error_class',
]


def status_name(status: int) -> str:
    """The library's English name of a status code (gemma2_status_string)."""
    return _ffi.lib.gemma2_status_string(int(status)).decode('utf-8', 'replace')


class Error(Exception):
    """A failed libgemma2 call.

    status:  the gemma2_status code (int; gemma2.ERR_* / include/gemma2.h)
    name:    the library's name of that code (gemma2_status_string), e.g. "context full"
    message: gemma2_last_error() read right after the failing call (may be empty)
    """

    status: int
    name: str
    message: str

    def __init__(self, status: int, message: str = '') -> None:
        self.status = int(status)
        self.name = status_name(self.status)
        self.message = message
        super().__init__(status, message)

    def __str__(self) -> str:
        if self.message:
            return '%s (status %d: %s)' % (self.message, self.status, self.name)
        return '%s (status %d)' % (self.name, self.status)

    def __repr__(self) -> str:
        return '%s(%d, %r)' % (type(self).__name__, self.status, self.message)


class InvalidArgumentError(Error, ValueError):
    """GEMMA2_ERR_INVALID_ARGUMENT: a NULL handle or pointer, a value out of range."""


class UnsupportedError(Error):
    """GEMMA2_ERR_UNSUPPORTED: unknown option bytes, or a feature not available (such as
    text on a model without a tokenizer)."""


class OutOfMemoryError(Error, MemoryError):
    """GEMMA2_ERR_OUT_OF_MEMORY."""


class InputOutputError(Error):
    """GEMMA2_ERR_IO: open, read, stat or mmap failed."""


class FormatError(Error):
    """GEMMA2_ERR_FORMAT: not a gemma2 model file (or state), or malformed."""


class VersionError(Error):
    """GEMMA2_ERR_VERSION: a file format version this library does not read."""


class ChecksumError(Error):
    """GEMMA2_ERR_CHECKSUM: a BLAKE2b digest does not match."""


class TokenOutOfRangeError(Error, ValueError):
    """GEMMA2_ERR_TOKEN_OUT_OF_RANGE: a token id < 0 or >= the vocabulary size."""


class ContextFullError(Error):
    """GEMMA2_ERR_CONTEXT_FULL: the session's context cannot take more tokens."""


class BufferTooSmallError(Error):
    """GEMMA2_ERR_BUFFER_TOO_SMALL (the binding sizes its buffers: should not be seen)."""


class StateError(Error):
    """GEMMA2_ERR_STATE: the call is not valid now, e.g. a step before anything was fed."""


class CancelledError(Error):
    """GEMMA2_ERR_CANCELLED: the call was cancelled by Session.cancel(); the session is
    as before it."""


class SystemFailureError(Error):
    """GEMMA2_ERR_SYSTEM: the operating system refused, e.g. thread creation."""


class InternalError(Error):
    """GEMMA2_ERR_INTERNAL: a bug in gemma2."""


class ClosedError(InvalidArgumentError):
    """A method of a Model, Session or Tokenizer that was closed. Its status is
    GEMMA2_ERR_INVALID_ARGUMENT, what the library returns for a NULL handle; no library
    call is made."""

    def __init__(self, what: str) -> None:
        super().__init__(_ffi.ERR_INVALID_ARGUMENT, '%s is closed' % what)
        self.args = (what,)  # so that it pickles and copies


_BY_STATUS: Dict[int, Type[Error]] = {
    _ffi.ERR_INVALID_ARGUMENT: InvalidArgumentError,
    _ffi.ERR_UNSUPPORTED: UnsupportedError,
    _ffi.ERR_OUT_OF_MEMORY: OutOfMemoryError,
    _ffi.ERR_IO: InputOutputError,
    _ffi.ERR_FORMAT: FormatError,
    _ffi.ERR_VERSION: VersionError,
    _ffi.ERR_CHECKSUM: ChecksumError,
    _ffi.ERR_TOKEN_OUT_OF_RANGE: TokenOutOfRangeError,
    _ffi.ERR_CONTEXT_FULL: ContextFullError,
    _ffi.ERR_BUFFER_TOO_SMALL: BufferTooSmallError,
    _ffi.ERR_STATE: StateError,
    _ffi.ERR_CANCELLED: CancelledError,
    _ffi.ERR_SYSTEM: SystemFailureError,
    _ffi.ERR_INTERNAL: InternalError,
}


def error_class(status: int) -> Type[Error]:
    """The Error subclass of a status (Error itself for a code this binding does not know)."""
    return _BY_STATUS.get(int(status), Error)


def make_error(status: int, message: Optional[str] = None) -> Error:
    """The exception for status, with message, or else gemma2_last_error(): call it right
    after the failing call, on the same thread, before any other gemma2 call."""
    if message is None:
        raw = _ffi.lib.gemma2_last_error()
        message = raw.decode('utf-8', 'replace') if raw else ''
    return error_class(status)(status, message)


def check(status: int) -> None:
    """Raises the Error of a nonzero status returned by the call just made."""
    if status != _ffi.OK:
        raise make_error(status)


def fail(status: int, message: str) -> NoReturn:
    """Raises the Error of status with a message of the binding's own."""
    raise error_class(status)(status, message)
