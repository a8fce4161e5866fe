//! A Python object's bytes through the buffer protocol, held for one call.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Where the bytes come from.
enum Source<'py> {
    /// An exact `bytes` object: its storage is immutable and lives as long
    /// as the object, so no buffer export is needed (the common case of
    /// `transport.write(data)`, and it costs no allocation).
    Bytes(Bound<'py, PyBytes>),
    /// Any other exporter, released on drop.
    View(ffi::Py_buffer),
}

/// A C-contiguous buffer exported by a Python object, released on drop.
/// Only lives inside one method call, with the GIL held throughout.
pub(crate) struct RawBuf<'py> {
    source: Source<'py>,
}

impl<'py> RawBuf<'py> {
    /// The object's bytes; `writable` asks for a buffer `recv` may fill.
    pub(crate) fn get(obj: &Bound<'py, PyAny>, writable: bool) -> PyResult<RawBuf<'py>> {
        if !writable {
            if let Ok(bytes) = obj.cast_exact::<PyBytes>() {
                return Ok(RawBuf {
                    source: Source::Bytes(bytes.clone()),
                });
            }
        }
        let mut view = ffi::Py_buffer::new();
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: the GIL is held, `obj` is live and `view` is writable storage for one
        // Py_buffer; on failure nothing is filled in and an exception is set. A filled-in
        // Py_buffer holds no pointer to itself, so it may move with the RawBuf.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, flags) } < 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(RawBuf {
            source: Source::View(view),
        })
    }

    pub(crate) fn len(&self) -> usize {
        match &self.source {
            Source::Bytes(b) => b.as_bytes().len(),
            Source::View(v) => usize::try_from(v.len).unwrap_or(0),
        }
    }

    /// The start of the bytes (for `recv` into a writable export).
    pub(crate) fn ptr(&self) -> *mut u8 {
        match &self.source {
            Source::Bytes(b) => b.as_bytes().as_ptr().cast_mut(),
            Source::View(v) => v.buf.cast(),
        }
    }

    /// The bytes, read-only.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.source {
            Source::Bytes(b) => b.as_bytes(),
            Source::View(v) => {
                let len = usize::try_from(v.len).unwrap_or(0);
                if len == 0 || v.buf.is_null() {
                    return &[];
                }
                // SAFETY: a PyBUF_SIMPLE/WRITABLE export is one contiguous region of
                // `len` bytes that stays valid until PyBuffer_Release, which only runs in
                // `drop`.
                unsafe { std::slice::from_raw_parts(v.buf.cast::<u8>(), len) }
            }
        }
    }
}

impl Drop for RawBuf<'_> {
    fn drop(&mut self) {
        if let Source::View(view) = &mut self.source {
            // SAFETY: the view was filled by a successful PyObject_GetBuffer and is
            // released exactly once; RawBuf never leaves the method (and the GIL) it was
            // made in.
            unsafe { ffi::PyBuffer_Release(view) };
        }
    }
}
