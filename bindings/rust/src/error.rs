// SPDX-License-Identifier: Apache-2.0
//! Errors: the status codes of the C library ([`Status`]), the [`Error`] of a failed
//! call and [`Result`].
use std::ffi::CStr;
use std::fmt;

use crate::sys;
use crate::util::static_str;

/// Status code of a failed call (`GEMMA2_ERR_*`). Codes are never renumbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// `GEMMA2_ERR_INVALID_ARGUMENT`: NULL handle or pointer, value out of range.
    InvalidArgument,
    /// `GEMMA2_ERR_UNSUPPORTED`: unknown option bytes, feature not available (e.g.
    /// text calls on a model without a tokenizer).
    Unsupported,
    /// `GEMMA2_ERR_OUT_OF_MEMORY`.
    OutOfMemory,
    /// `GEMMA2_ERR_IO`: open, read, stat or mmap failed.
    Io,
    /// `GEMMA2_ERR_FORMAT`: not a gemma2 model file (or state), or malformed.
    Format,
    /// `GEMMA2_ERR_VERSION`: file format version not supported. Also used by these
    /// bindings when the loaded library has another ABI or struct layout.
    Version,
    /// `GEMMA2_ERR_CHECKSUM`: a BLAKE2b digest does not match.
    Checksum,
    /// `GEMMA2_ERR_TOKEN_OUT_OF_RANGE`: token id < 0 or >= vocabulary size.
    TokenOutOfRange,
    /// `GEMMA2_ERR_CONTEXT_FULL`: the session's context cannot take more tokens.
    ContextFull,
    /// `GEMMA2_ERR_BUFFER_TOO_SMALL` (the bindings size their buffers, so rare).
    BufferTooSmall,
    /// `GEMMA2_ERR_STATE`: call not valid now (e.g. step with no logits).
    State,
    /// `GEMMA2_ERR_CANCELLED`: the call was cancelled ([`Cancel`](crate::Cancel)).
    Cancelled,
    /// `GEMMA2_ERR_SYSTEM`: the OS refused (e.g. thread creation).
    System,
    /// `GEMMA2_ERR_INTERNAL`: a bug in gemma2.
    Internal,
    /// A code these bindings do not know (a newer library).
    Other(i32),
}

impl Status {
    /// The status of a `GEMMA2_ERR_*` code.
    pub fn from_code(code: i32) -> Status {
        match code {
            sys::GEMMA2_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::GEMMA2_ERR_UNSUPPORTED => Status::Unsupported,
            sys::GEMMA2_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::GEMMA2_ERR_IO => Status::Io,
            sys::GEMMA2_ERR_FORMAT => Status::Format,
            sys::GEMMA2_ERR_VERSION => Status::Version,
            sys::GEMMA2_ERR_CHECKSUM => Status::Checksum,
            sys::GEMMA2_ERR_TOKEN_OUT_OF_RANGE => Status::TokenOutOfRange,
            sys::GEMMA2_ERR_CONTEXT_FULL => Status::ContextFull,
            sys::GEMMA2_ERR_BUFFER_TOO_SMALL => Status::BufferTooSmall,
            sys::GEMMA2_ERR_STATE => Status::State,
            sys::GEMMA2_ERR_CANCELLED => Status::Cancelled,
            sys::GEMMA2_ERR_SYSTEM => Status::System,
            sys::GEMMA2_ERR_INTERNAL => Status::Internal,
            other => Status::Other(other),
        }
    }

    /// The C code (`GEMMA2_ERR_*`).
    pub fn code(self) -> i32 {
        match self {
            Status::InvalidArgument => sys::GEMMA2_ERR_INVALID_ARGUMENT,
            Status::Unsupported => sys::GEMMA2_ERR_UNSUPPORTED,
            Status::OutOfMemory => sys::GEMMA2_ERR_OUT_OF_MEMORY,
            Status::Io => sys::GEMMA2_ERR_IO,
            Status::Format => sys::GEMMA2_ERR_FORMAT,
            Status::Version => sys::GEMMA2_ERR_VERSION,
            Status::Checksum => sys::GEMMA2_ERR_CHECKSUM,
            Status::TokenOutOfRange => sys::GEMMA2_ERR_TOKEN_OUT_OF_RANGE,
            Status::ContextFull => sys::GEMMA2_ERR_CONTEXT_FULL,
            Status::BufferTooSmall => sys::GEMMA2_ERR_BUFFER_TOO_SMALL,
            Status::State => sys::GEMMA2_ERR_STATE,
            Status::Cancelled => sys::GEMMA2_ERR_CANCELLED,
            Status::System => sys::GEMMA2_ERR_SYSTEM,
            Status::Internal => sys::GEMMA2_ERR_INTERNAL,
            Status::Other(code) => code,
        }
    }

    /// The library's English name of the code (`gemma2_status_string`), e.g.
    /// "token id out of range".
    pub fn name(self) -> &'static str {
        // SAFETY: gemma2_status_string returns a static NUL-terminated string, never NULL.
        unsafe { static_str(sys::gemma2_status_string(self.code())) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed call: its status and the library's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error made by these bindings (not reported by the library).
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    /// The error of a call that just returned `code`, with `gemma2_last_error()`.
    pub(crate) fn last(code: i32) -> Error {
        // SAFETY: gemma2_last_error never returns NULL; the string stays valid until the
        // next gemma2 call on this thread, and it is copied at once.
        let message = unsafe { CStr::from_ptr(sys::gemma2_last_error()) }.to_string_lossy().into_owned();
        Error { status: Status::from_code(code), message }
    }

    /// The status code.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The numeric C status code (`GEMMA2_ERR_*`).
    pub fn code(&self) -> i32 {
        self.status.code()
    }

    /// The library's message for this failure (`gemma2_last_error()` right after the
    /// call); may be empty.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "gemma2: {}", self.status.name())
        } else {
            write!(f, "gemma2: {} ({})", self.message, self.status.name())
        }
    }
}

impl std::error::Error for Error {}

/// `Ok(())` for `GEMMA2_OK`, else the error with the library's message. Must be called
/// right after the C call, before any other gemma2 call on this thread.
pub(crate) fn check(code: i32) -> Result<()> {
    if code == sys::GEMMA2_OK {
        Ok(())
    } else {
        Err(Error::last(code))
    }
}
