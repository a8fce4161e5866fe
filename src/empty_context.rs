//! The loop's reusable empty context, where callbacks scheduled from a
//! context with no variables set run.
//!
//! asyncio runs a callback scheduled without `context=` in a copy of the
//! caller's context. When that context holds no variables (worker threads
//! feeding `call_soon_threadsafe`, and every program that uses no context
//! variables), each copy is an empty `Context`: allocating one per callback,
//! holding it while the callback waits and freeing it after was a third of
//! what scheduling a callback cost. A handle records only that its context
//! was empty (`Parts::new`), and the loop runs it in an empty context of its
//! own, reused from one callback to the next.
//!
//! Nobody can tell the difference:
//! - no Python API hands out the context a callback runs in
//!   (`contextvars.copy_context()` and `Task` copy it);
//! - a handle asked for its context (`get_context()`) gets a fresh empty one,
//!   which it keeps and runs in from then on;
//! - a callback that sets a variable leaves the shared context non-empty, so
//!   the loop lets go of it after that callback and makes a new one for the
//!   next.

use pyo3::ffi;
use pyo3::prelude::*;

/// The empty context the loop runs "empty" handles in, made on first use.
#[derive(Default)]
pub(crate) struct EmptyContext(Option<Py<PyAny>>);

impl EmptyContext {
    /// The context to run an "empty" handle in.
    pub(crate) fn get(&mut self, py: Python<'_>) -> PyResult<&Py<PyAny>> {
        let ctx = match self.0.take() {
            Some(ctx) => ctx,
            None => new_empty_context(py)?,
        };
        Ok(self.0.insert(ctx))
    }

    /// Called after a callback ran in the context: one that is no longer
    /// empty is let go of, so that the next callback starts empty again.
    pub(crate) fn after_run(&mut self, py: Python<'_>) {
        if self
            .0
            .as_ref()
            .is_some_and(|ctx| !is_empty(py, ctx.bind(py)))
        {
            self.0 = None;
        }
    }
}

/// A new, empty `contextvars.Context`.
pub(crate) fn new_empty_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: the GIL is held; PyContext_New returns a new reference or NULL with an
    // exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_New()) }.map(Bound::unbind)
}

/// Whether `ctx` (a `contextvars.Context`) holds no variables.
pub(crate) fn is_empty(py: Python<'_>, ctx: &Bound<'_, PyAny>) -> bool {
    // SAFETY: the GIL is held and `ctx` is a live object; a failed size (which a
    // Context never reports) is cleared and counted as "not empty".
    let len = unsafe { ffi::PyObject_Size(ctx.as_ptr()) };
    if len < 0 {
        drop(PyErr::take(py));
    }
    len == 0
}
