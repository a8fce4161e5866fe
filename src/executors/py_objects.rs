//! Python objects the executors use, imported once.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyType};

static BROKEN_THREAD_POOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BROKEN_PROCESS_POOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static HOOKS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// `concurrent.futures.thread.BrokenThreadPool(message)` as an error.
pub fn broken_thread_pool(py: Python<'_>, message: &str) -> PyErr {
    match BROKEN_THREAD_POOL
        .import(py, "concurrent.futures.thread", "BrokenThreadPool")
        .and_then(|ty| ty.call1((message,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// `concurrent.futures.process.BrokenProcessPool(message)` as an error.
pub fn broken_process_pool(py: Python<'_>, message: &str) -> PyErr {
    match BROKEN_PROCESS_POOL
        .import(py, "concurrent.futures.process", "BrokenProcessPool")
        .and_then(|ty| ty.call1((message,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// `pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)`.
pub fn pickle_dumps<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let dumps = PICKLE_DUMPS.import(py, "pickle", "dumps")?;
    Ok(dumps.call1((obj, -1))?.cast_into::<PyBytes>()?)
}

/// `pickle.loads(data)`.
pub fn pickle_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let loads = PICKLE_LOADS.import(py, "pickle", "loads")?;
    loads.call1((PyBytes::new(py, data),))
}

/// `oxloop._executor_hooks`: the few Python-side helpers the Rust pools call
/// (thread naming, initializer logging, pickling, process start).
pub fn hooks(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    HOOKS
        .get_or_try_init(py, || Ok(py.import("oxloop._executor_hooks")?.unbind()))
        .map(|m| m.bind(py))
}
