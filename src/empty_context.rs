//! The loop's reusable empty context, where callbacks scheduled from a
//! context with no variables set run.
//!
//! asyncio runs a callback scheduled without `context=` in a copy of the
//! caller's context. When that context holds no variables (worker threads
//! feeding `call_soon_threadsafe`, and every program that uses no context
//! variables), each copy is an empty `Context`. With many callbacks pending
//! (a producer thread's burst, a batch), allocating one per callback, holding
//! it while the callback waits and freeing it after was a third of what
//! scheduling a callback cost. A handle made while the loop is crowded
//! records only that its context was empty (`CallContext::copy_current`),
//! and the loop runs it in an empty context of its own, reused from one
//! callback to the next. (With few pending, CPython's free list of contexts
//! makes the copy cheap, and the handle keeps it.)
//!
//! Nobody can tell the difference:
//! - no Python API hands out the context a callback runs in
//!   (`contextvars.copy_context()` and `Task` copy it);
//! - while a handle runs, the loop's context is lent to it: a handle asked
//!   for its context (`get_context()`) during or after its run gets the one
//!   it ran in, and keeps it;
//! - a callback that leaves a variable set keeps the context it ran in (a
//!   reader handle sees its own changes on its next run, as in asyncio), and
//!   the loop makes a new empty one for the next callback.

use pyo3::ffi;
use pyo3::prelude::*;

use crate::gil_cell::GilCell;

/// The empty context the loop lends to "empty" handles, made on first use.
#[derive(Default)]
pub(crate) struct EmptyContext(GilCell<Option<Py<PyAny>>>);

impl EmptyContext {
    /// The context to lend to a handle for one run.
    pub(crate) fn lend(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        // SAFETY: the closure only moves the value out.
        let kept = unsafe { self.0.with(py, Option::take) };
        match kept {
            Some(ctx) => Ok(ctx),
            None => new_empty_context(py),
        }
    }

    /// Takes back a lent context that is still empty and unshared.
    pub(crate) fn give_back(&self, py: Python<'_>, ctx: Py<PyAny>) {
        // SAFETY: the closure only moves values; what it displaces (nothing, unless
        // a callback re-entered the loop) is dropped after.
        let displaced = unsafe { self.0.with(py, |slot| slot.replace(ctx)) };
        drop(displaced);
    }
}

/// A new, empty `contextvars.Context`.
pub(crate) fn new_empty_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: the GIL is held; PyContext_New returns a new reference or NULL with an
    // exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_New()) }.map(Bound::unbind)
}

/// Whether `ctx` (a `contextvars.Context`) holds no variables.
///
/// Called twice per callback of a crowded loop, so it calls the type's
/// `mp_length` slot itself instead of going through `PyObject_Size`.
#[inline]
pub(crate) fn is_empty(py: Python<'_>, ctx: &Bound<'_, PyAny>) -> bool {
    let obj = ctx.as_ptr();
    // SAFETY: the GIL is held and `obj` is a live object, so its type object and that
    // type's mapping methods (if any) are valid; `mp_length` is called as CPython
    // would call it. A failed size (which a Context never reports) is cleared and
    // counted as "not empty".
    let len = unsafe {
        let mapping = (*ffi::Py_TYPE(obj)).tp_as_mapping;
        match mapping.as_ref().and_then(|m| m.mp_length) {
            Some(length) => length(obj),
            None => ffi::PyObject_Size(obj),
        }
    };
    if len < 0 {
        drop(PyErr::take(py));
    }
    len == 0
}
