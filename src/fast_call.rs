//! The scheduling methods as raw vectorcall methods: `call_soon`,
//! `call_soon_threadsafe`, `call_later` and `call_at`; and `create_future`
//! and `get_debug` as raw `METH_NOARGS` methods.
//!
//! These run once per callback in every asyncio program (each task step and
//! each future callback goes through `call_soon`), so they skip PyO3's
//! generic argument parser and trampoline: CPython hands them the arguments
//! as a C array, they build the `*args` tuple directly and look for the one
//! keyword they accept (`context`). They are installed into `CoreLoop`'s type
//! dict when the module loads. The work after unpacking is done by the
//! `CoreLoop::*_impl` methods.

use std::ptr;

use pyo3::exceptions::{PySystemError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyTuple, PyType};

use crate::event_loop::CoreLoop;
use crate::gil_cell::GilCell;

/// A `PyMethodDef` that can live in a `static`.
pub(crate) struct MethodDef(pub(crate) ffi::PyMethodDef);

// SAFETY: the definition is immutable after construction and only holds pointers to
// 'static C strings and to a function; CPython reads it from any thread under the GIL.
unsafe impl Sync for MethodDef {}

/// Unpacked `(lead..., callback, *args, context=None)`: the leading
/// positional parameters (the callback last), the rest as a tuple, and the
/// context keyword.
struct Unpacked<'py, const N: usize> {
    lead: [Bound<'py, PyAny>; N],
    rest: Bound<'py, PyTuple>,
    context: Option<Bound<'py, PyAny>>,
}

/// The last keyword-name tuple seen that was exactly `("context",)`. The C
/// Task and Future pass the same tuple object on every call (whose string is
/// not interned), so one pointer comparison recognises it.
static CONTEXT_KWNAMES: GilCell<Option<Py<PyTuple>>> = GilCell::new(None);

fn is_known_context_kwnames(py: Python<'_>, kwnames: *mut ffi::PyObject) -> bool {
    // SAFETY: the closure only compares pointers.
    unsafe {
        CONTEXT_KWNAMES.with(py, |known| {
            known.as_ref().is_some_and(|k| k.as_ptr() == kwnames)
        })
    }
}

fn remember_context_kwnames(py: Python<'_>, names: &Bound<'_, PyTuple>) {
    if names.len() != 1 {
        return;
    }
    let new = Some(names.clone().unbind());
    // SAFETY: the closure only swaps values; the old tuple is dropped afterwards.
    let old = unsafe { CONTEXT_KWNAMES.with(py, |known| std::mem::replace(known, new)) };
    drop(old);
}

/// Unpacks a vectorcall argument array for a method named `method` whose
/// first `N` parameters, named `params`, are required positionals.
///
/// # Safety
/// `args` must point to `nargs + len(kwnames)` valid object pointers, and
/// `kwnames` must be NULL or a tuple of strings, as CPython guarantees for a
/// `METH_FASTCALL | METH_KEYWORDS` method. The GIL must be held.
unsafe fn unpack<'py, const N: usize>(
    py: Python<'py>,
    method: &str,
    params: [&str; N],
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Unpacked<'py, N>> {
    let n = N as ffi::Py_ssize_t;
    if nargs < n {
        let missing = &params[nargs.max(0) as usize..];
        let names: Vec<String> = missing.iter().map(|p| format!("'{p}'")).collect();
        let plural = if missing.len() == 1 {
            "argument"
        } else {
            "arguments"
        };
        return Err(PyTypeError::new_err(format!(
            "{method}() missing {} required positional {plural}: {}",
            missing.len(),
            names.join(" and ")
        )));
    }
    // SAFETY (whole block): guaranteed by this function's contract; every pointer read
    // lies within the `nargs + nkw` array, and borrowed references are turned into owned
    // ones before anything can release them.
    unsafe {
        let lead: [Bound<'py, PyAny>; N] =
            std::array::from_fn(|i| Bound::from_borrowed_ptr(py, *args.add(i)));
        let rest_len = nargs - n;
        let tuple = Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(rest_len))?;
        for i in 0..rest_len {
            let item = *args.offset(n + i);
            ffi::Py_INCREF(item);
            // PyTuple_SET_ITEM steals the reference just taken.
            ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i, item);
        }
        let rest = tuple.cast_into_unchecked::<PyTuple>();

        let mut context = None;
        if !kwnames.is_null() && is_known_context_kwnames(py, kwnames) {
            context = Some(Bound::from_borrowed_ptr(py, *args.offset(nargs)));
        } else if !kwnames.is_null() {
            let names = Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>();
            let context_name = pyo3::intern!(py, "context");
            for (i, name) in names.iter().enumerate() {
                // Keyword names are normally interned: the pointer test settles it.
                let is_context = name.is(context_name) || name.eq(context_name)?;
                if !is_context {
                    return Err(PyTypeError::new_err(format!(
                        "{method}() got an unexpected keyword argument '{name}'"
                    )));
                }
                if context.is_some() {
                    return Err(PyTypeError::new_err(format!(
                        "{method}() got multiple values for argument 'context'"
                    )));
                }
                context = Some(Bound::from_borrowed_ptr(
                    py,
                    *args.offset(nargs + i as isize),
                ));
            }
            remember_context_kwnames(py, &names);
        }
        Ok(Unpacked {
            lead,
            rest,
            context,
        })
    }
}

/// Runs `body` as the implementation of a raw method: Rust panics become a
/// `SystemError`, errors are set as the current exception and NULL returned.
pub(crate) fn guard(
    py: Python<'_>,
    method: &str,
    body: impl FnOnce() -> PyResult<*mut ffi::PyObject>,
) -> *mut ffi::PyObject {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let result = outcome.unwrap_or_else(|_| {
        Err(PySystemError::new_err(format!(
            "oxloop: internal error (Rust panic) in {method}"
        )))
    });
    match result {
        Ok(p) => p,
        Err(e) => {
            e.restore(py);
            ptr::null_mut()
        }
    }
}

/// Defines a raw vectorcall method `$fn_name` and its `PyMethodDef`
/// `$def`: it unpacks `$params` plus `*args` and `context`, then calls
/// `CoreLoop::$impl_fn(py, lead..., rest, context)`.
macro_rules! raw_method {
    ($def:ident, $fn_name:ident, $name:literal, $cname:literal, $cdoc:literal, [$($p:ident),+], $impl_fn:ident) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargsf: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
            let py = unsafe { Python::assume_attached() };
            guard(py, $name, || {
                // SAFETY: the method descriptor installed on CoreLoop checks that `slf`
                // is a CoreLoop (or subclass) instance before calling, so the unchecked
                // cast holds; the argument array and kwnames satisfy `unpack`'s contract.
                unsafe {
                    let slf = Bound::from_borrowed_ptr(py, slf);
                    let core = slf.cast_unchecked::<CoreLoop>();
                    let nargs = ffi::PyVectorcall_NARGS(nargsf as usize);
                    let u = unpack(py, $name, [$(stringify!($p)),+], args, nargs, kwnames)?;
                    let [$($p),+] = u.lead;
                    let obj = core.get().$impl_fn(py, $($p),+, u.rest, u.context)?;
                    Ok(obj.into_ptr())
                }
            })
        }

        static $def: MethodDef = MethodDef(ffi::PyMethodDef {
            ml_name: $cname.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: $fn_name,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: $cdoc.as_ptr(),
        });
    };
}

raw_method!(
    CALL_SOON_DEF,
    call_soon_vectorcall,
    "call_soon",
    c"call_soon",
    c"call_soon($self, callback, *args, context=None)\n--\n\nArrange for callback(*args) to be called on the next loop turn.",
    [callback],
    call_soon_impl
);
raw_method!(
    CALL_SOON_THREADSAFE_DEF,
    call_soon_threadsafe_vectorcall,
    "call_soon_threadsafe",
    c"call_soon_threadsafe",
    c"call_soon_threadsafe($self, callback, *args, context=None)\n--\n\nLike call_soon(), but callable from any thread; wakes the loop.",
    [callback],
    call_soon_threadsafe_impl
);
raw_method!(
    CALL_LATER_DEF,
    call_later_vectorcall,
    "call_later",
    c"call_later",
    c"call_later($self, delay, callback, *args, context=None)\n--\n\nArrange for callback(*args) to be called after delay seconds.",
    [delay, callback],
    call_later_impl
);
raw_method!(
    CALL_AT_DEF,
    call_at_vectorcall,
    "call_at",
    c"call_at",
    c"call_at($self, when, callback, *args, context=None)\n--\n\nArrange for callback(*args) to be called at loop time when.",
    [when, callback],
    call_at_impl
);

unsafe extern "C" fn create_future_noargs(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_NOARGS method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guard(py, "create_future", || {
        // SAFETY: the method descriptor installed on CoreLoop checks that `slf` is a
        // CoreLoop (or subclass) instance before calling, so the unchecked cast holds.
        let slf = unsafe { Bound::from_borrowed_ptr(py, slf).cast_into_unchecked::<CoreLoop>() };
        Ok(CoreLoop::create_future_impl(&slf)?.into_ptr())
    })
}

static CREATE_FUTURE_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"create_future".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: create_future_noargs,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"create_future($self, /)\n--\n\nA new asyncio.Future bound to this loop.".as_ptr(),
});

unsafe extern "C" fn get_debug_noargs(
    slf: *mut ffi::PyObject,
    _unused: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a METH_NOARGS method with the GIL held.
    let py = unsafe { Python::assume_attached() };
    guard(py, "get_debug", || {
        // SAFETY: the method descriptor installed on CoreLoop checks that `slf` is a
        // CoreLoop (or subclass) instance before calling, so the unchecked cast holds.
        let slf = unsafe { Bound::from_borrowed_ptr(py, slf).cast_into_unchecked::<CoreLoop>() };
        Ok(PyBool::new(py, slf.get().debug_enabled())
            .to_owned()
            .into_ptr())
    })
}

static GET_DEBUG_DEF: MethodDef = MethodDef(ffi::PyMethodDef {
    ml_name: c"get_debug".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: get_debug_noargs,
    },
    ml_flags: ffi::METH_NOARGS,
    ml_doc: c"get_debug($self, /)\n--\n\nWhether the loop runs in debug mode.".as_ptr(),
});

/// Installs the raw methods into `CoreLoop`'s type dict.
///
/// Besides the scheduling methods: `create_future` (once per `await` on a
/// stream read) and `get_debug` (which the C `Future` calls for every future
/// it makes); PyO3's trampoline was a measurable part of both.
pub fn install(py: Python<'_>) -> PyResult<()> {
    install_methods(
        &py.get_type::<CoreLoop>(),
        &[
            &CALL_SOON_DEF,
            &CALL_SOON_THREADSAFE_DEF,
            &CALL_LATER_DEF,
            &CALL_AT_DEF,
            &CREATE_FUTURE_DEF,
            &GET_DEBUG_DEF,
        ],
    )
}

/// Installs raw methods into the type dict of `tp`, replacing any of the same name.
pub(crate) fn install_methods(tp: &Bound<'_, PyType>, defs: &[&'static MethodDef]) -> PyResult<()> {
    let py = tp.py();
    for def in defs {
        // SAFETY: the definition is 'static, and `tp` is a live type object; the
        // descriptor returned is a new reference (or NULL with an exception set), and
        // `ml_name` is a valid NUL-terminated string.
        let (descr, name) = unsafe {
            let raw = ptr::addr_of!(def.0).cast_mut();
            let descr = Bound::from_owned_ptr_or_err(
                py,
                ffi::PyDescr_NewMethod(tp.as_ptr().cast::<ffi::PyTypeObject>(), raw),
            )?;
            let name = std::ffi::CStr::from_ptr(def.0.ml_name)
                .to_str()
                .map_err(|e| PySystemError::new_err(e.to_string()))?;
            (descr, name)
        };
        tp.setattr(name, descr)?;
    }
    Ok(())
}
