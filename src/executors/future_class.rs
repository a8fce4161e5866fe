//! `oxloop._future.Future`'s methods and lazy attributes as C descriptors.
//!
//! The class is defined in Python (`python/oxloop/_future.py`, a subclass of
//! `concurrent.futures.Future` with slots); `install_future_class` puts raw
//! `METH_FASTCALL | METH_KEYWORDS` methods for the hot methods and getters
//! for `_condition`, `_waiters` and `_done_callbacks` into its type dict.
//! Each method tries the fast path of `future.rs` for the argument shape it
//! knows and otherwise forwards the call, arguments untouched, to
//! `concurrent.futures.Future`'s function of the same name, so argument
//! errors, the blocking waits and every state the fast paths leave alone
//! behave exactly as the stdlib's.

use std::ffi::{c_void, CStr};
use std::ptr;

use pyo3::exceptions::{PySystemError, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString, PyTuple, PyType};

use crate::executors::future::{self, State};

/// The slots `future.rs` relies on: with them, reading and writing the
/// state never allocates.
const SLOTS: [&str; 6] = [
    "_state",
    "_result",
    "_exception",
    "_lazy_condition",
    "_lazy_waiters",
    "_lazy_callbacks",
];

/// A `PyMethodDef` that can live in a `static`.
struct MethodDef(ffi::PyMethodDef);

// SAFETY: the definition is immutable after construction and only holds pointers to
// 'static C strings and to a function; CPython reads it from any thread under the GIL.
unsafe impl Sync for MethodDef {}

/// A `PyGetSetDef` that can live in a `static`.
struct GetSetDef(ffi::PyGetSetDef);

// SAFETY: as for `MethodDef`: immutable, 'static strings and a function, a null closure.
unsafe impl Sync for GetSetDef {}

/// What a fast path (a function taking the future and its one argument, None
/// if called with none) gives: None to have `concurrent.futures.Future`'s
/// method run instead.
type FastOutcome<'py> = PyResult<Option<Bound<'py, PyAny>>>;

fn boolean(py: Python<'_>, value: bool) -> Bound<'_, PyAny> {
    PyBool::new(py, value).to_owned().into_any()
}

fn state_test<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
    test: fn(State) -> bool,
) -> FastOutcome<'py> {
    if arg.is_some() {
        return Ok(None);
    }
    Ok(future::fast_state(py, fut)?.map(|state| boolean(py, test(state))))
}

fn done<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    state_test(py, fut, arg, State::is_done)
}

fn cancelled<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    state_test(py, fut, arg, |s| {
        matches!(s, State::Cancelled | State::CancelledAndNotified)
    })
}

fn running<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    state_test(py, fut, arg, |s| s == State::Running)
}

/// `result(timeout=None)`: the timeout does not matter once finished.
fn result<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    _timeout: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    future::fast_result(py, fut)
}

fn exception<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    _timeout: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    future::fast_exception(py, fut)
}

fn cancel<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    if arg.is_some() {
        return Ok(None);
    }
    Ok(future::fast_cancel(py, fut)?.map(|c| boolean(py, c)))
}

fn set_running_or_notify_cancel<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    if arg.is_some() {
        return Ok(None);
    }
    Ok(future::fast_set_running_or_notify_cancel(py, fut)?.map(|r| boolean(py, r)))
}

fn add_done_callback<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    let Some(callback) = arg else { return Ok(None) };
    Ok(future::fast_add_done_callback(py, fut, callback)?.map(|()| py.None().into_bound(py)))
}

fn set_result<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    let Some(value) = arg else { return Ok(None) };
    let slot = intern!(py, "_result");
    Ok(future::fast_finish(py, fut, slot, value)?.map(|()| py.None().into_bound(py)))
}

fn set_exception<'py>(
    py: Python<'py>,
    fut: &Bound<'py, PyAny>,
    arg: Option<&Bound<'py, PyAny>>,
) -> FastOutcome<'py> {
    let Some(value) = arg else { return Ok(None) };
    let slot = intern!(py, "_exception");
    Ok(future::fast_finish(py, fut, slot, value)?.map(|()| py.None().into_bound(py)))
}

/// Runs `body` as the implementation of a raw method or getter: Rust panics
/// become a `SystemError`, errors are set as the current exception and NULL
/// returned.
fn guard(
    py: Python<'_>,
    name: &str,
    body: impl FnOnce() -> PyResult<*mut ffi::PyObject>,
) -> *mut ffi::PyObject {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let result = outcome.unwrap_or_else(|_| {
        Err(PySystemError::new_err(format!(
            "oxloop: internal error (Rust panic) in Future.{name}"
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

/// The one argument a fast path can take: Some(None) for no arguments,
/// Some(Some(arg)) for one positional (or, if `timeout_keyword`, a lone
/// `timeout=` keyword); None for any other shape.
///
/// # Safety
/// `args` must hold `nargs + len(kwnames)` valid object pointers and
/// `kwnames` be NULL or a tuple of strings (CPython's vectorcall contract).
unsafe fn single_argument<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    timeout_keyword: bool,
) -> PyResult<Option<Option<Bound<'py, PyAny>>>> {
    // SAFETY (whole block): guaranteed by this function's contract; only indices
    // below `nargs + len(kwnames)` are read.
    unsafe {
        if kwnames.is_null() {
            return Ok(match nargs {
                0 => Some(None),
                1 => Some(Some(Bound::from_borrowed_ptr(py, *args))),
                _ => None,
            });
        }
        let names = Bound::from_borrowed_ptr(py, kwnames).cast_into_unchecked::<PyTuple>();
        if !timeout_keyword || nargs != 0 || names.len() != 1 {
            return Ok(None);
        }
        let name = names.get_item(0)?;
        let is_timeout = name
            .cast::<PyString>()
            .is_ok_and(|n| n.to_str().is_ok_and(|s| s == "timeout"));
        Ok(is_timeout.then(|| Some(Bound::from_borrowed_ptr(py, *args))))
    }
}

/// Calls `concurrent.futures.Future.<name>(slf, *args, **kwargs)` with the
/// vectorcall arguments as received.
///
/// # Safety
/// As `single_argument`; `slf` must be a valid object pointer.
unsafe fn forward(
    py: Python<'_>,
    name: &Bound<'_, PyString>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    let method = future::cf_future_type(py)?.getattr(name)?;
    // SAFETY (whole block): the argument array holds `nargs + nkw` pointers (the
    // function's contract); `stack` borrows them for the duration of the call, and
    // `method` stays alive across it.
    unsafe {
        let nkw = if kwnames.is_null() {
            0
        } else {
            ffi::PyTuple_GET_SIZE(kwnames)
        };
        let total = usize::try_from(nargs + nkw).unwrap_or(0);
        let mut stack = Vec::with_capacity(total + 1);
        stack.push(slf);
        for i in 0..total {
            stack.push(*args.add(i));
        }
        let positional = usize::try_from(nargs).unwrap_or(0) + 1;
        let out = ffi::PyObject_Vectorcall(method.as_ptr(), stack.as_ptr(), positional, kwnames);
        if out.is_null() {
            Err(PyErr::fetch(py))
        } else {
            Ok(out)
        }
    }
}

/// Defines the raw method `$fn_name` and its definition `$def`, taking the
/// fast path `$fast` when it applies and forwarding otherwise.
macro_rules! future_method {
    ($def:ident, $fn_name:ident, $name:literal, $cname:literal, $cdoc:literal, $timeout_kw:expr, $fast:path) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargsf: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls a METH_FASTCALL method with the GIL held.
            let py = unsafe { Python::assume_attached() };
            guard(py, $name, || {
                // SAFETY: the method descriptor checks that `slf` is a Future before
                // calling; the argument array and kwnames follow the vectorcall contract
                // that `single_argument` and `forward` require.
                unsafe {
                    let nargs = ffi::PyVectorcall_NARGS(nargsf as usize);
                    let fut = Bound::from_borrowed_ptr(py, slf);
                    if let Some(arg) = single_argument(py, args, nargs, kwnames, $timeout_kw)? {
                        if let Some(out) = $fast(py, &fut, arg.as_ref())? {
                            return Ok(out.into_ptr());
                        }
                    }
                    forward(py, intern!(py, $name), slf, args, nargs, kwnames)
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

future_method!(
    DONE_DEF,
    done_raw,
    "done",
    c"done",
    c"done($self, /)\n--\n\nReturn True if the future was cancelled or finished executing.",
    false,
    done
);
future_method!(
    CANCELLED_DEF,
    cancelled_raw,
    "cancelled",
    c"cancelled",
    c"cancelled($self, /)\n--\n\nReturn True if the future was cancelled.",
    false,
    cancelled
);
future_method!(
    RUNNING_DEF,
    running_raw,
    "running",
    c"running",
    c"running($self, /)\n--\n\nReturn True if the future is currently executing.",
    false,
    running
);
future_method!(
    RESULT_DEF,
    result_raw,
    "result",
    c"result",
    c"result($self, timeout=None)\n--\n\nReturn the result of the call that the future represents.",
    true,
    result
);
future_method!(EXCEPTION_DEF, exception_raw, "exception", c"exception", c"exception($self, timeout=None)\n--\n\nReturn the exception raised by the call that the future represents.", true, exception);
future_method!(
    CANCEL_DEF,
    cancel_raw,
    "cancel",
    c"cancel",
    c"cancel($self, /)\n--\n\nCancel the future if possible; return True if it is cancelled.",
    false,
    cancel
);
future_method!(ADD_DONE_CALLBACK_DEF, add_done_callback_raw, "add_done_callback", c"add_done_callback", c"add_done_callback($self, fn)\n--\n\nAttach a callable to be called with the future when it is cancelled or finishes.", false, add_done_callback);
future_method!(
    SET_RUNNING_DEF,
    set_running_raw,
    "set_running_or_notify_cancel",
    c"set_running_or_notify_cancel",
    c"set_running_or_notify_cancel($self, /)\n--\n\nMark the future as running or process any cancel notifications.",
    false,
    set_running_or_notify_cancel
);
future_method!(SET_RESULT_DEF, set_result_raw, "set_result", c"set_result", c"set_result($self, result)\n--\n\nSet the return value of the work associated with the future.", false, set_result);
future_method!(SET_EXCEPTION_DEF, set_exception_raw, "set_exception", c"set_exception", c"set_exception($self, exception)\n--\n\nSet the result of the future as being the given exception.", false, set_exception);

/// Defines the getter `$fn_name` and its definition `$def` for `future::$make`.
macro_rules! lazy_getter {
    ($def:ident, $fn_name:ident, $name:literal, $cname:literal, $cdoc:literal, $make:ident) => {
        unsafe extern "C" fn $fn_name(
            slf: *mut ffi::PyObject,
            _closure: *mut c_void,
        ) -> *mut ffi::PyObject {
            // SAFETY: CPython calls a getter with the GIL held.
            let py = unsafe { Python::assume_attached() };
            guard(py, $name, || {
                // SAFETY: the getset descriptor checks that `slf` is a Future, a valid
                // object, before calling.
                let fut = unsafe { Bound::from_borrowed_ptr(py, slf) };
                Ok(future::$make(py, &fut)?.into_ptr())
            })
        }

        static $def: GetSetDef = GetSetDef(ffi::PyGetSetDef {
            name: $cname.as_ptr(),
            get: Some($fn_name),
            set: None,
            doc: $cdoc.as_ptr(),
            closure: ptr::null_mut(),
        });
    };
}

lazy_getter!(
    CONDITION_DEF,
    condition_get,
    "_condition",
    c"_condition",
    c"The future's threading.Condition, made on first use.",
    condition
);
lazy_getter!(
    WAITERS_DEF,
    waiters_get,
    "_waiters",
    c"_waiters",
    c"The waiters of concurrent.futures.wait/as_completed, made on first use.",
    waiters
);
lazy_getter!(
    CALLBACKS_DEF,
    callbacks_get,
    "_done_callbacks",
    c"_done_callbacks",
    c"The callbacks to run when the future is done, made on first use.",
    done_callbacks
);

/// `install_future_class(cls)`: gives `oxloop._future.Future` its Rust
/// methods and lazy attributes and makes it the class the pools return.
#[pyfunction]
pub fn install_future_class(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let py = cls.py();
    if !cls.is_subclass(future::cf_future_type(py)?)? {
        return Err(PyTypeError::new_err(
            "expected a concurrent.futures.Future subclass",
        ));
    }
    let member = py.import("types")?.getattr("MemberDescriptorType")?;
    for slot in SLOTS {
        if !cls.getattr(slot)?.is_instance(&member)? {
            return Err(PyTypeError::new_err(format!(
                "the Future class needs a slot named {slot}"
            )));
        }
    }
    let tp = cls.as_ptr().cast::<ffi::PyTypeObject>();
    for def in [
        &DONE_DEF,
        &CANCELLED_DEF,
        &RUNNING_DEF,
        &RESULT_DEF,
        &EXCEPTION_DEF,
        &CANCEL_DEF,
        &ADD_DONE_CALLBACK_DEF,
        &SET_RUNNING_DEF,
        &SET_RESULT_DEF,
        &SET_EXCEPTION_DEF,
    ] {
        // SAFETY: the definition is 'static and `tp` a live type object; the descriptor
        // is a new reference (or NULL with an exception set); `ml_name` is a valid
        // NUL-terminated string.
        let (descr, name) = unsafe {
            let raw = ptr::addr_of!(def.0).cast_mut();
            let descr = Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(tp, raw))?;
            (descr, CStr::from_ptr(def.0.ml_name))
        };
        cls.setattr(
            name.to_str()
                .map_err(|e| PySystemError::new_err(e.to_string()))?,
            descr,
        )?;
    }
    for def in [&CONDITION_DEF, &WAITERS_DEF, &CALLBACKS_DEF] {
        // SAFETY: as above, for a getset definition.
        let (descr, name) = unsafe {
            let raw = ptr::addr_of!(def.0).cast_mut();
            let descr = Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewGetSet(tp, raw))?;
            (descr, CStr::from_ptr(def.0.name))
        };
        cls.setattr(
            name.to_str()
                .map_err(|e| PySystemError::new_err(e.to_string()))?,
            descr,
        )?;
    }
    future::set_fast_future_type(py, cls)
}
