//! A Python object's bytes through the buffer protocol, held for one call.

use pyo3::ffi;
use pyo3::prelude::*;

/// A C-contiguous buffer exported by a Python object, released on drop.
/// Only lives inside one method call, with the GIL held throughout.
pub(crate) struct RawBuf {
    view: Box<ffi::Py_buffer>,
}

impl RawBuf {
    /// The object's bytes; `writable` asks for a buffer `recv` may fill.
    pub(crate) fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<RawBuf> {
        let mut view: Box<ffi::Py_buffer> = Box::new(ffi::Py_buffer::new());
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: the GIL is held, `obj` is live and `view` points to writable storage
        // for one Py_buffer; on failure nothing is filled in and an exception is set.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) } < 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(RawBuf { view })
    }

    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.view.buf.cast()
    }

    /// The bytes, read-only.
    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.len() == 0 || self.view.buf.is_null() {
            return &[];
        }
        // SAFETY: a PyBUF_SIMPLE/WRITABLE export is one contiguous region of `len` bytes
        // that stays valid until PyBuffer_Release, which only runs in `drop`.
        unsafe { std::slice::from_raw_parts(self.view.buf.cast::<u8>(), self.len()) }
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: the view was filled by a successful PyObject_GetBuffer and is released
        // exactly once; RawBuf never leaves the method (and the GIL) it was made in.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) };
    }
}
