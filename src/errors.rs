//! The one place where Rust errors become Python exceptions.
//!
//! `OSError(errno, strerror)` picks its subclass from the errno
//! (`ConnectionResetError`, `BlockingIOError`, ...), and asyncio code reads
//! `exc.errno`, so an `io::Error` is never turned into a bare message.

use std::io;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::PyErr;

/// `OSError` (or the subclass its errno selects) for a kernel error.
pub fn os_error(e: io::Error) -> PyErr {
    match e.raw_os_error() {
        Some(errno) => {
            // SAFETY: strerror returns a pointer to a static or thread-local NUL-terminated
            // string that stays valid until the next strerror call on this thread; it is
            // copied into an owned String right away.
            let msg = unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }
                .to_string_lossy()
                .into_owned();
            PyOSError::new_err((errno, msg))
        }
        None => PyOSError::new_err(e.to_string()),
    }
}

/// asyncio's error for any use of a closed loop.
pub fn loop_closed() -> PyErr {
    PyRuntimeError::new_err("Event loop is closed")
}
