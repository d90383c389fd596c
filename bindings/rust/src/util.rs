// SPDX-License-Identifier: Apache-2.0
//! Helpers of the FFI calls shared by the other modules.
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::Path;
use std::ptr;

use crate::error::{Error, Result, Status};
use crate::sys;

/// # Safety
/// `s` must be a non-NULL NUL-terminated string that lives for the whole program.
pub(crate) unsafe fn static_str(s: *const c_char) -> &'static str {
    if s.is_null() {
        return "";
    }
    CStr::from_ptr(s).to_str().unwrap_or("")
}

/// A count as the C library's `int`, saturating at `i32::MAX`.
pub(crate) fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// A path as a NUL-terminated C string; [`Status::InvalidArgument`] if it holds a NUL
/// byte (or, off Unix, is not Unicode).
pub(crate) fn path_cstring(path: &Path) -> Result<CString> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = match path.to_str() {
        Some(s) => s.as_bytes().to_vec(),
        None => return Err(Error::new(Status::InvalidArgument, "the path is not valid Unicode")),
    };
    CString::new(bytes).map_err(|_| Error::new(Status::InvalidArgument, "the path contains a NUL byte"))
}

/// Calls `f(buffer, cap, &mut n)` first with no buffer to learn the size, then with one
/// of that size: the library's convention for variable-size outputs.
pub(crate) fn sized_output<T: Copy + Default>(
    mut f: impl FnMut(*mut T, usize, &mut usize) -> i32,
) -> Result<Vec<T>> {
    let mut n = 0usize;
    let st = f(ptr::null_mut(), 0, &mut n);
    if st == sys::GEMMA2_OK {
        return Ok(Vec::new());
    }
    if st != sys::GEMMA2_ERR_BUFFER_TOO_SMALL {
        return Err(Error::last(st));
    }
    loop {
        let mut buf = vec![T::default(); n];
        let cap = buf.len();
        let st = f(buf.as_mut_ptr(), cap, &mut n);
        if st == sys::GEMMA2_OK {
            buf.truncate(n.min(cap));
            return Ok(buf);
        }
        if st != sys::GEMMA2_ERR_BUFFER_TOO_SMALL || n <= cap {
            return Err(Error::last(st));
        }
    }
}
