//! Futures and tasks of the running loop, made without a keyword dict.
//!
//! asyncio's C `Future` and `Task` types have no vectorcall entry: calling
//! `Future(loop=loop)` goes through `type_call`, which turns the keyword
//! into a new dict that the argument parser then searches. For a 1 KiB
//! streams echo that was about 1,100 of the ~1,700 instructions of
//! `create_future()` (one per request, `StreamReader._wait_for_data`).
//!
//! Made with no `loop` argument, a C future takes the running loop (C
//! `get_event_loop()`, a thread-state read). So when this loop is the one
//! running in this thread, the loop calls the type's `tp_new` and `tp_init`
//! itself, with no keywords: the same object and the same `__init__` (which
//! still calls `loop.get_debug()` and records the creation traceback in
//! debug mode). Otherwise, or if `asyncio.Future`/`asyncio.Task` are not the
//! C types, the caller falls back to calling the class with `loop=`.

use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

/// The C accelerator's pieces: `_asyncio.Future`, `_asyncio.Task` and
/// `_asyncio._get_running_loop`; `None` if `_asyncio` is not available.
struct CAsyncio {
    future: Py<PyType>,
    task: Py<PyType>,
    get_running_loop: Py<PyAny>,
}

static C_ASYNCIO: PyOnceLock<Option<CAsyncio>> = PyOnceLock::new();

fn c_asyncio(py: Python<'_>) -> Option<&CAsyncio> {
    C_ASYNCIO
        .get_or_init(py, || {
            let m = py.import("_asyncio").ok()?;
            Some(CAsyncio {
                future: m
                    .getattr("Future")
                    .ok()?
                    .cast_into::<PyType>()
                    .ok()?
                    .unbind(),
                task: m.getattr("Task").ok()?.cast_into::<PyType>().ok()?.unbind(),
                get_running_loop: m.getattr("_get_running_loop").ok()?.unbind(),
            })
        })
        .as_ref()
}

/// Which C type to make.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Future,
    Task,
}

/// `cls(*args)` for the C future or task type `cls`, bound to the running
/// loop, if `event_loop` is the loop running in this thread and `cls` is the
/// C type of `kind`. `Ok(None)`: not applicable, call `cls(*args, loop=...)`.
pub(crate) fn make<'py>(
    event_loop: &Bound<'py, PyAny>,
    cls: &Bound<'py, PyAny>,
    kind: Kind,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = event_loop.py();
    let Some(c) = c_asyncio(py) else {
        return Ok(None);
    };
    let expected = match kind {
        Kind::Future => &c.future,
        Kind::Task => &c.task,
    };
    if !cls.is(expected.bind(py)) {
        return Ok(None);
    }
    if !c.get_running_loop.bind(py).call0()?.is(event_loop) {
        return Ok(None);
    }
    let tp = expected.as_ptr().cast::<ffi::PyTypeObject>();
    // SAFETY: `tp` is a live type object (held by `C_ASYNCIO`); reading its slots is
    // reading a static C struct. `tp_new` returns a new reference or NULL with an
    // exception set, and `tp_init` is called on the object `tp_new` made of that very
    // type, with the same arguments, as `type_call` does; both get a valid tuple and
    // NULL keywords.
    unsafe {
        let (Some(new), Some(init)) = ((*tp).tp_new, (*tp).tp_init) else {
            return Ok(None);
        };
        let obj = Bound::from_owned_ptr_or_err(py, new(tp, args.as_ptr(), ptr::null_mut()))?;
        if init(obj.as_ptr(), args.as_ptr(), ptr::null_mut()) < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(Some(obj))
    }
}
