//! `ThreadPoolExecutor._threads`: the pool's worker threads, as a live view.
//!
//! `concurrent.futures` keeps a `set` of the `threading.Thread`s it started
//! (it only grows) and programs read it to size a pool or join its threads
//! after `shutdown(wait=False)`. oxloop's workers are Rust threads, so each
//! one is described by a [`WorkerRecord`] (name, thread id, exited flag) and
//! shown to Python as a [`WorkerThread`] with the `threading.Thread` methods
//! such code uses (`name`, `ident`, `is_alive()`, `join(timeout)`). The view
//! ([`WorkerThreads`]) holds only the registry, not the pool: keeping it does
//! not keep a pool alive, and a collected pool's threads can still be joined.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::executors::sync::{lock, wait};

/// Where a worker thread is in its life.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Starting,
    Running,
    Exited,
}

/// One worker thread, from its start to its exit.
pub struct WorkerRecord {
    name: String,
    /// `threading.get_ident()` of the thread, set when it starts running.
    ident: OnceLock<u64>,
    phase: Mutex<Phase>,
    phase_changed: Condvar,
}

impl WorkerRecord {
    pub fn new(name: String) -> Arc<Self> {
        Arc::new(WorkerRecord {
            name,
            ident: OnceLock::new(),
            phase: Mutex::new(Phase::Starting),
            phase_changed: Condvar::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Called on the worker thread once it is attached to Python.
    pub fn mark_running(&self) {
        // SAFETY: pthread_self has no preconditions; it is what CPython's
        // `threading.get_ident()` returns on POSIX.
        let ident = unsafe { libc::pthread_self() } as u64;
        let _ = self.ident.set(ident);
        self.advance(Phase::Running);
    }

    /// Called last on the worker thread, after it let go of Python.
    pub fn mark_exited(&self) {
        self.advance(Phase::Exited);
    }

    fn advance(&self, to: Phase) {
        let mut phase = lock(&self.phase);
        if *phase < to {
            *phase = to;
        }
        drop(phase);
        self.phase_changed.notify_all();
    }

    fn has_exited(&self) -> bool {
        *lock(&self.phase) == Phase::Exited
    }

    /// Waits (call without the GIL) until the thread runs Python code or
    /// has exited, as `threading.Thread.start()` waits for its thread.
    pub fn wait_running(&self) {
        self.wait_for(Phase::Running, None);
    }

    /// Waits until the thread exited or `timeout` passed; true if it exited.
    fn wait_exited(&self, timeout: Option<Duration>) -> bool {
        self.wait_for(Phase::Exited, timeout)
    }

    fn wait_for(&self, wanted: Phase, timeout: Option<Duration>) -> bool {
        // A timeout too long to represent waits forever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut phase = lock(&self.phase);
        while *phase < wanted {
            match deadline {
                None => phase = wait(&self.phase_changed, phase),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    phase = self
                        .phase_changed
                        .wait_timeout(phase, deadline - now)
                        .map_or_else(|e| e.into_inner().0, |(guard, _)| guard);
                }
            }
        }
        true
    }

    fn is_current_thread(&self) -> bool {
        // SAFETY: as in `mark_started`.
        let me = unsafe { libc::pthread_self() } as u64;
        self.ident.get() == Some(&me)
    }
}

/// Every worker a pool started in this process, in start order.
#[derive(Default)]
pub struct WorkerRegistry {
    records: Mutex<Vec<Arc<WorkerRecord>>>,
}

impl WorkerRegistry {
    pub fn add(&self, record: Arc<WorkerRecord>) {
        lock(&self.records).push(record);
    }

    /// After `fork()`: the parent's threads do not exist in the child.
    pub fn forget_all(&self) {
        if let Ok(mut records) = self.records.try_lock() {
            records.clear();
        }
    }

    fn snapshot(&self) -> Vec<Arc<WorkerRecord>> {
        lock(&self.records).clone()
    }

    fn len(&self) -> usize {
        lock(&self.records).len()
    }
}

/// A worker thread of an `oxloop.ThreadPoolExecutor`, as `_threads` shows it.
#[pyclass(frozen, module = "oxloop._core", name = "WorkerThread")]
pub struct WorkerThread {
    record: Arc<WorkerRecord>,
}

#[pymethods]
impl WorkerThread {
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.record.name.clone())
    }

    /// `threading.get_ident()` of the thread, None until it has started.
    #[getter]
    fn ident(&self) -> PyResult<Option<u64>> {
        Ok(self.record.ident.get().copied())
    }

    /// Worker threads do not keep the interpreter alive on their own; it
    /// joins them at exit, as `concurrent.futures` does.
    #[getter]
    fn daemon(&self) -> PyResult<bool> {
        Ok(false)
    }

    fn is_alive(&self) -> PyResult<bool> {
        Ok(!self.record.has_exited())
    }

    /// `Thread.join(timeout=None)`: waits, without the GIL, until the
    /// thread has exited or `timeout` seconds have passed.
    #[pyo3(signature = (timeout = None))]
    fn join(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        if self.record.is_current_thread() {
            return Err(PyRuntimeError::new_err("cannot join current thread"));
        }
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_nan() => {
                return Err(PyValueError::new_err("timeout must be a number"));
            }
            Some(t) => Some(Duration::try_from_secs_f64(t.max(0.0)).unwrap_or(Duration::MAX)),
        };
        let record = Arc::clone(&self.record);
        py.detach(move || record.wait_exited(timeout));
        Ok(())
    }

    fn __repr__(&self) -> PyResult<String> {
        let status = if self.record.has_exited() {
            "stopped"
        } else {
            "started"
        };
        let ident = self
            .record
            .ident
            .get()
            .map_or_else(String::new, |i| format!(" {i}"));
        Ok(format!(
            "<WorkerThread({}, {status}{ident})>",
            self.record.name
        ))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(other
            .cast::<WorkerThread>()
            .is_ok_and(|o| Arc::ptr_eq(&o.get().record, &self.record)))
    }

    fn __hash__(&self) -> PyResult<isize> {
        Ok(Arc::as_ptr(&self.record) as isize)
    }
}

/// `pool._threads`: the pool's worker threads (every one it started, as the
/// stdlib's set), read live on each `len()`, iteration or `in`.
#[pyclass(frozen, module = "oxloop._core", name = "WorkerThreads")]
pub struct WorkerThreads {
    registry: Arc<WorkerRegistry>,
}

impl WorkerThreads {
    pub fn new(registry: Arc<WorkerRegistry>) -> Self {
        WorkerThreads { registry }
    }

    fn threads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let threads = self
            .registry
            .snapshot()
            .into_iter()
            .map(|record| WorkerThread { record })
            .collect::<Vec<_>>();
        PyList::new(py, threads)
    }
}

#[pymethods]
impl WorkerThreads {
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.registry.len())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.threads(py)?.as_any().try_iter().map(Bound::into_any)
    }

    fn __contains__(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(thread) = item.cast::<WorkerThread>() else {
            return Ok(false);
        };
        let wanted = &thread.get().record;
        Ok(self
            .registry
            .snapshot()
            .iter()
            .any(|r| Arc::ptr_eq(r, wanted)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let items = self
            .threads(py)?
            .iter()
            .map(|t| t.repr().map(|r| r.to_string()))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("{{{}}}", items.join(", ")))
    }
}
