//! `CoreLoop.call_soon` as a raw vectorcall method.
//!
//! `call_soon` runs once per callback in every asyncio program (each task
//! step and each future callback goes through it), so it skips PyO3's generic
//! argument parser and trampoline: CPython hands it the arguments as a C
//! array, it builds the `*args` tuple directly and looks for the one keyword
//! it accepts. The method is installed into `CoreLoop`'s type dict when the
//! module loads. Everything it does after unpacking is the same
//! `CoreLoop::call_soon_impl` that the rest of the crate uses.

use std::ptr;

use pyo3::exceptions::{PySystemError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::event_loop::CoreLoop;

/// A `PyMethodDef` that can live in a `static`.
struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definition is immutable after construction and only holds pointers to
// 'static C strings and to a function; CPython reads it from any thread under the GIL.
unsafe impl Sync for MethodDef {}

static CALL_SOON_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"call_soon".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunctionFastWithKeywords: call_soon_vectorcall,
    },
    ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
    ml_doc: c"call_soon(callback, *args, context=None)\n--\n\nArrange for callback(*args) to be called on the next loop turn.".as_ptr(),
});

/// `call_soon`'s arguments: the callback, its positional arguments, `context`.
type CallSoonArgs<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyTuple>,
    Option<Bound<'py, PyAny>>,
);

/// Unpacks `(callback, *args, context=None)` from a vectorcall argument array.
///
/// # Safety
/// `args` must point to `nargs + len(kwnames)` valid object pointers, and
/// `kwnames` must be NULL or a tuple of strings, as CPython guarantees for a
/// `METH_FASTCALL | METH_KEYWORDS` method. The GIL must be held.
unsafe fn unpack<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<CallSoonArgs<'py>> {
    if nargs < 1 {
        return Err(PyTypeError::new_err(
            "call_soon() missing 1 required positional argument: 'callback'",
        ));
    }
    // SAFETY (whole block): guaranteed by this function's contract; every pointer read
    // lies within the `nargs + nkw` array, and borrowed references are turned into owned
    // ones before anything can release them.
    unsafe {
        let callback = Bound::from_borrowed_ptr(py, *args);
        let rest = nargs - 1;
        let tuple = ffi::PyTuple_New(rest);
        let tuple = Bound::from_owned_ptr_or_err(py, tuple)?;
        for i in 0..rest {
            let item = *args.offset(i + 1);
            ffi::Py_INCREF(item);
            // PyTuple_SET_ITEM steals the reference just taken.
            ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i, item);
        }
        let tuple = tuple.cast_into_unchecked::<PyTuple>();

        let mut context = None;
        if !kwnames.is_null() {
            let names = Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>();
            let context_name = pyo3::intern!(py, "context");
            for (i, name) in names.iter().enumerate() {
                // Keyword names are normally interned: the pointer test settles it.
                let is_context = name.is(context_name) || name.eq(context_name)?;
                if !is_context {
                    return Err(PyTypeError::new_err(format!(
                        "call_soon() got an unexpected keyword argument '{name}'"
                    )));
                }
                if context.is_some() {
                    return Err(PyTypeError::new_err(
                        "call_soon() got multiple values for argument 'context'",
                    ));
                }
                context = Some(Bound::from_borrowed_ptr(
                    py,
                    *args.offset(nargs + i as isize),
                ));
            }
        }
        Ok((callback, tuple, context))
    }
}

unsafe extern "C" fn call_soon_vectorcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> PyResult<*mut ffi::PyObject> {
            // SAFETY: the method descriptor installed on CoreLoop checks that `slf` is a
            // CoreLoop (or subclass) instance before calling, so the unchecked cast holds;
            // the argument array and kwnames satisfy `unpack`'s contract (CPython's).
            unsafe {
                let slf = Bound::from_borrowed_ptr(py, slf);
                let core = slf.cast_unchecked::<CoreLoop>();
                let nargs = ffi::PyVectorcall_NARGS(nargsf as usize);
                let (callback, tuple, context) = unpack(py, args, nargs, kwnames)?;
                let handle = core.get().call_soon_impl(py, callback, tuple, context)?;
                Ok(handle.into_ptr())
            }
        },
    ));
    let result = match outcome {
        Ok(r) => r,
        Err(_) => Err(PySystemError::new_err(
            "oxloop: internal error (Rust panic) in call_soon",
        )),
    };
    match result {
        Ok(p) => p,
        Err(e) => {
            e.restore(py);
            ptr::null_mut()
        }
    }
}

/// Installs the raw `call_soon` into `CoreLoop`'s type dict.
pub fn install(py: Python<'_>) -> PyResult<()> {
    let tp = py.get_type::<CoreLoop>();
    // SAFETY: the definition is 'static, and `tp` is a live type object; the descriptor
    // returned is a new reference (or NULL with an exception set).
    let descr = unsafe {
        let def = ptr::addr_of!(CALL_SOON_DEF.0).cast_mut();
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyDescr_NewMethod(tp.as_ptr().cast::<ffi::PyTypeObject>(), def),
        )?
    };
    tp.setattr("call_soon", descr)?;
    Ok(())
}
