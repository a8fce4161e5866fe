//! The stream transport's per-message methods as raw C methods: `write`,
//! the reader callback `_read_ready`, and `is_closing` (which
//! `StreamWriter.drain()` calls after every write).
//!
//! Each runs once per message; PyO3's trampoline and generic argument
//! parser cost more than the checks and the syscall around them, so they
//! are installed into the type dict when the module loads (as the
//! scheduling methods are, see `fast_call.rs`). `write` unpacks its one
//! argument itself and accepts what a PyO3 method would: `write(data)` or
//! `write(data=...)`.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyTuple};

use super::stream::{self, SocketTransport};
use crate::fast_call::{guard, install_methods, MethodDef};

/// The one argument of `write(data)` from a vectorcall argument array.
///
/// # Safety
/// `args` must point to `nargs + len(kwnames)` valid object pointers, and
/// `kwnames` must be NULL or a tuple of strings, as CPython guarantees for a
/// `METH_FASTCALL | METH_KEYWORDS` method. The GIL must be held.
unsafe fn data_arg<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    let names = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-NULL kwnames is a tuple (this function's contract).
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>() })
    };
    let nkw = names.as_ref().map_or(0, |n| n.len());
    let npos = usize::try_from(nargs).unwrap_or(0);
    // The messages of a Python `def write(self, data)`, as asyncio's transports have.
    if npos > 1 {
        return Err(PyTypeError::new_err(format!(
            "write() takes 2 positional arguments but {} were given",
            npos + 1
        )));
    }
    if npos + nkw == 0 {
        return Err(PyTypeError::new_err(
            "write() missing 1 required positional argument: 'data'",
        ));
    }
    if npos == 1 && nkw > 0 {
        return Err(PyTypeError::new_err(
            "write() got multiple values for argument 'data'",
        ));
    }
    if let Some(names) = names {
        for name in names.iter() {
            if !(name.is(pyo3::intern!(py, "data")) || name.eq("data")?) {
                return Err(PyTypeError::new_err(format!(
                    "write() got an unexpected keyword argument '{name}'"
                )));
            }
        }
        if nkw > 1 {
            return Err(PyTypeError::new_err(
                "write() got multiple values for argument 'data'",
            ));
        }
    }
    // SAFETY: exactly one argument pointer is in the array (checked above: one
    // positional, or no positional and the one keyword `data`).
    Ok(unsafe { Bound::from_borrowed_ptr(py, *args) })
}

unsafe extern "C" fn write_vectorcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guard(py, "write", || {
        // SAFETY: the method descriptor installed on SocketTransport checks that `slf`
        // is a SocketTransport before calling, so the unchecked cast holds; the argument
        // array and kwnames satisfy `data_arg`'s contract.
        unsafe {
            let slf = Bound::from_borrowed_ptr(py, slf);
            let transport = slf.cast_unchecked::<SocketTransport>();
            let nargs = ffi::PyVectorcall_NARGS(nargsf as usize);
            let data = data_arg(py, args, nargs, kwnames)?;
            stream::write(transport, &data)?;
            Ok(py.None().into_ptr())
        }
    })
}

static WRITE_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"write".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunctionFastWithKeywords: write_vectorcall,
    },
    ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
    ml_doc:
        c"write($self, data)\n--\n\nSends data, buffering what the socket does not take at once."
            .as_ptr(),
});

unsafe extern "C" fn read_ready_noargs(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_NOARGS method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guard(py, "_read_ready", || {
        // SAFETY: the method descriptor installed on SocketTransport checks that `slf`
        // is a SocketTransport before calling, so the unchecked cast holds.
        unsafe {
            let slf = Bound::from_borrowed_ptr(py, slf);
            stream::read_ready(slf.cast_unchecked::<SocketTransport>())?;
            Ok(py.None().into_ptr())
        }
    })
}

static READ_READY_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"_read_ready".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: read_ready_noargs,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"_read_ready($self, /)\n--\n\nReader callback: reads once and hands the data to the protocol."
        .as_ptr(),
});

unsafe extern "C" fn is_closing_noargs(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_NOARGS method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guard(py, "is_closing", || {
        // SAFETY: the method descriptor installed on SocketTransport checks that `slf`
        // is a SocketTransport before calling, so the unchecked cast holds.
        let slf =
            unsafe { Bound::from_borrowed_ptr(py, slf).cast_into_unchecked::<SocketTransport>() };
        let closing = stream::is_closing(&slf)?;
        Ok(PyBool::new(py, closing).to_owned().into_ptr())
    })
}

static IS_CLOSING_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"is_closing".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: is_closing_noargs,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"is_closing($self, /)\n--\n\nWhether the transport is closing or closed.".as_ptr(),
});

/// Installs the raw methods into `SocketTransport`'s type dict.
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    install_methods(
        &py.get_type::<SocketTransport>(),
        &[&WRITE_DEF, &READ_READY_DEF, &IS_CLOSING_DEF],
    )
}
