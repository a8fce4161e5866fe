//! Futures and tasks of the running loop, made without a keyword dict.
//!
//! asyncio's C `Future` and `Task` types have no vectorcall entry: calling
//! `Future(loop=loop)` goes through `type_call`, which turns the keyword
//! into a new dict that the argument parser then searches. For a 1 KiB
//! streams echo that was about 1,100 of the ~1,700 instructions of
//! `create_future()` (one per request, `StreamReader._wait_for_data`).
//!
//! While the loop runs it keeps one `{"loop": loop}` dict
//! (`RunScope` in `event_loop.rs`), and when the class is the C type the loop calls
//! its `tp_new` and `tp_init` itself with that dict, as `type_call` would
//! with a new one: the same object and the same `__init__` (which still
//! calls `loop.get_debug()` and records the creation traceback in debug
//! mode). The dict is dropped when the run ends (it refers to the loop).
//! Otherwise, or if `asyncio.Future`/`asyncio.Task` are not the C types,
//! the caller falls back to calling the class with `loop=`.
//!
//! (Made with no `loop` argument instead, a C future looks the running loop
//! up, and CPython 3.11's lookup calls `getpid()`: a system call per future,
//! two per streams echo request, invisible to instruction counts.)

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The C accelerator's `Future` and `Task` types; `None` if `_asyncio` is
/// not available.
struct CAsyncio {
    future: Py<PyType>,
    task: Py<PyType>,
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

/// `cls(*args, **loop_kwargs)` for the C future or task type `cls`, where
/// `loop_kwargs` is the running loop's `{"loop": loop}`. `Ok(None)`: `cls`
/// is not the C type of `kind`; call it the ordinary way.
pub(crate) fn make<'py>(
    cls: &Bound<'py, PyAny>,
    kind: Kind,
    args: &Bound<'py, PyTuple>,
    loop_kwargs: &Bound<'py, PyDict>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = cls.py();
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
    let tp = expected.as_ptr().cast::<ffi::PyTypeObject>();
    let kw = loop_kwargs.as_ptr();
    // SAFETY: `tp` is a live type object (held by `C_ASYNCIO`); reading its slots is
    // reading a static C struct. `tp_new` returns a new reference or NULL with an
    // exception set, and `tp_init` is called on the object `tp_new` made of that very
    // type, with the same arguments, as `type_call` does; both get a valid tuple and
    // a valid dict, which the C types' argument parsers only read.
    unsafe {
        let (Some(new), Some(init)) = ((*tp).tp_new, (*tp).tp_init) else {
            return Ok(None);
        };
        let obj = Bound::from_owned_ptr_or_err(py, new(tp, args.as_ptr(), kw))?;
        if init(obj.as_ptr(), args.as_ptr(), kw) < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(Some(obj))
    }
}
