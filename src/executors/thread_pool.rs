//! `ThreadPool`: the Rust half of `oxloop.ThreadPoolExecutor`.
//!
//! Work items wait in a `Mutex<VecDeque>`; worker threads are plain Rust
//! threads, attached to Python for their whole life (one thread state each),
//! that release the GIL only while blocked on a `Condvar`. Once woken, a
//! worker keeps running queued items until the queue is empty, so a burst of
//! small tasks costs one GIL hand-off instead of one per task. Workers start
//! lazily, up to `max_workers`: a submit starts one when more items are
//! queued or running than there are workers (as `concurrent.futures` starts
//! one when no worker is idle). A worker stops counting as busy as soon as
//! its item is done, before it lets go of the GIL, so the thread that waited
//! for that result and submits again finds it free (`test_idle_thread_reuse`).

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::executors::at_exit::{self, ExitHooks};
use crate::executors::future::{self, new_future};
use crate::executors::py_objects::{broken_thread_pool, hooks};
use crate::executors::sync::{lock, wait};
use crate::executors::worker_threads::{WorkerRecord, WorkerRegistry, WorkerThreads};

/// Stack size of a worker thread: that of a default Python thread on Linux.
const WORKER_STACK_SIZE: usize = 8 * 1024 * 1024;

const INITIALIZER_FAILED: &str =
    "A thread initializer failed, the thread pool is not usable anymore";

thread_local! {
    /// Address of the `Shared` of the pool this thread works for, 0 if none.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

/// One `submit` call: the future and the call to make.
struct WorkItem {
    future: Py<PyAny>,
    func: Py<PyAny>,
    args: Py<PyTuple>,
    kwargs: Option<Py<PyDict>>,
}

/// The constructor's arguments, set once by `_configure` (`max_workers`
/// lives in `State`: programs assign `_max_workers` to resize a pool).
struct Config {
    thread_name_prefix: String,
    initializer: Option<Py<PyAny>>,
    initargs: Py<PyTuple>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<WorkItem>,
    /// Most workers to start; read by every submit that may start one.
    max_workers: usize,
    /// Workers blocked waiting for work.
    idle: usize,
    /// Workers running an item (taken and not finished).
    busy: usize,
    /// Wake-ups sent and not yet taken by a worker: while one is
    /// outstanding, submits do not wake more workers; the woken worker wakes
    /// the next one if work is left when it takes its item.
    wake_tokens: usize,
    /// Workers started and not yet exited.
    live: usize,
    /// Workers ever started (numbers thread names).
    started: usize,
    threads: Vec<JoinHandle<()>>,
    shutdown: bool,
    broken: Option<&'static str>,
}

struct Shared {
    config: OnceLock<Config>,
    state: Mutex<State>,
    /// Signalled when work arrives or on shutdown.
    work_ready: Condvar,
    /// Signalled when a worker exits.
    worker_exited: Condvar,
    /// Every worker started, for `_threads`.
    workers: Arc<WorkerRegistry>,
}

/// (Named like the Python class so argument errors read as CPython's.)
/// The scheduling core of `oxloop.ThreadPoolExecutor`.
#[pyclass(
    subclass,
    frozen,
    weakref,
    module = "oxloop._core",
    name = "ThreadPoolExecutor"
)]
pub struct ThreadPool {
    shared: Arc<Shared>,
}

impl Shared {
    fn config(&self) -> PyResult<&Config> {
        self.config
            .get()
            .ok_or_else(|| PyRuntimeError::new_err("ThreadPool used before _configure()"))
    }

    fn is_current_workers_pool(&self) -> bool {
        CURRENT_POOL.with(|c| c.get()) == self as *const Shared as usize
    }

    /// Blocks (without the GIL) until there is work or the pool shuts down.
    fn next_item_blocking(&self) -> Option<WorkItem> {
        let mut state = lock(&self.state);
        loop {
            if let Some(item) = self.take_item(&mut state) {
                return Some(item);
            }
            if state.shutdown {
                return None;
            }
            state.idle += 1;
            state = wait(&self.work_ready, state);
            state.idle -= 1;
            state.wake_tokens = state.wake_tokens.saturating_sub(1);
        }
    }

    /// Called by a worker whose item is done (GIL held): it is no longer
    /// busy, and takes the next queued item if there is one.
    fn finish_and_take_next(&self) -> Option<WorkItem> {
        let mut state = lock(&self.state);
        state.busy -= 1;
        self.take_item(&mut state)
    }

    /// Pops an item (the caller is then busy); if more are queued and nobody
    /// is on the way to take them, wakes one idle worker (work that blocks
    /// still spreads out).
    fn take_item(&self, state: &mut State) -> Option<WorkItem> {
        let item = state.queue.pop_front()?;
        state.busy += 1;
        if !state.queue.is_empty() {
            self.wake_one(state);
        }
        Some(item)
    }

    fn wake_one(&self, state: &mut State) {
        if state.wake_tokens == 0 && state.idle > 0 {
            state.wake_tokens += 1;
            self.work_ready.notify_one();
        }
    }

    /// Starts one worker thread (the caller has counted it in `live`) and
    /// returns its record.
    fn spawn_worker(self: &Arc<Self>, number: usize) -> std::io::Result<Arc<WorkerRecord>> {
        let prefix = self
            .config
            .get()
            .map_or("ThreadPoolExecutor", |c| c.thread_name_prefix.as_str());
        let record = WorkerRecord::new(format!("{prefix}_{number}"));
        let shared = Arc::clone(self);
        let worker = Arc::clone(&record);
        let handle = std::thread::Builder::new()
            .name(record.name().to_owned())
            .stack_size(WORKER_STACK_SIZE)
            .spawn(move || worker_main(shared, worker))?;
        self.workers.add(Arc::clone(&record));
        lock(&self.state).threads.push(handle);
        Ok(record)
    }

    /// Marks the pool broken and fails every queued future.
    fn break_pool(&self, py: Python<'_>, message: &'static str) {
        let drained: Vec<WorkItem> = {
            let mut state = lock(&self.state);
            state.broken = Some(message);
            state.queue.drain(..).collect()
        };
        for item in drained {
            fail_broken(py, &item, message);
        }
    }

    /// Takes the next queued item if there is one, without waiting.
    fn try_take_item(&self) -> Option<WorkItem> {
        self.take_item(&mut lock(&self.state))
    }

    fn shutdown(&self, py: Python<'_>, wait_for_workers: bool, cancel_futures: bool) {
        let cancelled: Vec<WorkItem> = {
            let mut state = lock(&self.state);
            state.shutdown = true;
            if cancel_futures {
                state.queue.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        self.work_ready.notify_all();
        for item in cancelled {
            let future = item.future.bind(py);
            if let Err(err) = future::cancel(py, future) {
                err.write_unraisable(py, Some(future));
            }
        }
        if wait_for_workers {
            py.detach(|| self.join_workers());
        }
    }

    /// Waits until every worker (but the calling one) has exited.
    fn join_workers(&self) {
        let own = usize::from(self.is_current_workers_pool());
        let mut state = lock(&self.state);
        while state.live > own {
            state = wait(&self.worker_exited, state);
        }
        let current = std::thread::current().id();
        let (own_handle, exited): (Vec<_>, Vec<_>) = state
            .threads
            .drain(..)
            .partition(|h| h.thread().id() == current);
        state.threads = own_handle;
        drop(state);
        for handle in exited {
            // A worker that panicked has already been counted out; nothing to report.
            let _ = handle.join();
        }
    }
}

impl ExitHooks for Shared {
    fn shutdown_and_join(&self, py: Python<'_>) {
        self.shutdown(py, true, false);
    }

    fn forget_workers_after_fork(&self) {
        if let Ok(mut state) = self.state.try_lock() {
            state.idle = 0;
            state.busy = 0;
            state.live = 0;
            // The threads do not exist in this process: never join them.
            for handle in state.threads.drain(..) {
                std::mem::forget(handle);
            }
        }
        self.workers.forget_all();
    }
}

/// Fails an item's future with `BrokenThreadPool(message)`.
fn fail_broken(py: Python<'_>, item: &WorkItem, message: &str) {
    let exc = broken_thread_pool(py, message).into_value(py);
    let future = item.future.bind(py);
    if let Err(err) = future::set_exception(py, future, exc.bind(py)) {
        err.write_unraisable(py, Some(future));
    }
}

/// Runs one work item the way `concurrent.futures` does: skip it if its
/// future was cancelled, else call it and store the result or exception.
fn run_item(py: Python<'_>, item: WorkItem) {
    let future = item.future.bind(py);
    match future::set_running_or_notify_cancel(py, future) {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            err.write_unraisable(py, Some(future));
            return;
        }
    }
    let outcome = item
        .func
        .bind(py)
        .call(item.args.bind(py), item.kwargs.as_ref().map(|k| k.bind(py)));
    let stored = match outcome {
        Ok(value) => future::set_result(py, future, &value),
        Err(err) => future::set_exception(py, future, err.value(py)),
    };
    if let Err(err) = stored {
        err.write_unraisable(py, Some(future));
    }
}

/// Names the worker's `threading.current_thread()` and runs the initializer.
/// Returns false when the initializer failed (the pool is then broken).
fn start_worker(py: Python<'_>, shared: &Shared, record: &WorkerRecord) -> bool {
    let hooks = match hooks(py) {
        Ok(hooks) => hooks,
        Err(err) => {
            err.write_unraisable(py, None);
            return true;
        }
    };
    if let Err(err) = hooks.call_method1(intern!(py, "name_worker_thread"), (record.name(),)) {
        err.write_unraisable(py, None);
    }
    let Ok(config) = shared.config() else {
        return true;
    };
    let Some(initializer) = &config.initializer else {
        return true;
    };
    match initializer.bind(py).call1(config.initargs.bind(py)) {
        Ok(_) => true,
        Err(err) => {
            if let Err(log_err) = hooks.call_method1(
                intern!(py, "log_initializer_failure"),
                (err.into_value(py),),
            ) {
                log_err.write_unraisable(py, None);
            }
            shared.break_pool(py, INITIALIZER_FAILED);
            false
        }
    }
}

/// A worker thread: attached to Python for its whole life (one thread
/// state, as a `threading` thread has), detached while waiting for work.
fn worker_main(shared: Arc<Shared>, record: Arc<WorkerRecord>) {
    CURRENT_POOL.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    let _ = Python::try_attach(|py| {
        // A `threading` worker takes its work as soon as `start()` lets the
        // submitter go on; take the first item before letting it go, so a
        // `shutdown(cancel_futures=True)` right after the submit finds it
        // taken, as with the stdlib pool.
        let mut next = shared.try_take_item();
        record.mark_running();
        if start_worker(py, &shared, &record) {
            loop {
                let item = match next.take() {
                    Some(item) => item,
                    None => match py.detach(|| shared.next_item_blocking()) {
                        Some(item) => item,
                        None => break,
                    },
                };
                run_item(py, item);
                next = shared.finish_and_take_next();
            }
        } else if let Some(item) = next.take() {
            // The initializer failed: the pool is broken, and the item this
            // worker took fails like the queued ones.
            fail_broken(py, &item, INITIALIZER_FAILED);
            lock(&shared.state).busy -= 1;
        }
        if let Ok(hooks) = hooks(py) {
            if let Err(err) = hooks.call_method0(intern!(py, "forget_worker_thread")) {
                err.write_unraisable(py, None);
            }
        }
    });
    let mut state = lock(&shared.state);
    state.live -= 1;
    drop(state);
    shared.worker_exited.notify_all();
    record.mark_exited();
}

#[pymethods]
impl ThreadPool {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let shared = Arc::new(Shared {
            config: OnceLock::new(),
            state: Mutex::new(State::default()),
            work_ready: Condvar::new(),
            worker_exited: Condvar::new(),
            workers: Arc::default(),
        });
        at_exit::register(shared.clone());
        Ok(ThreadPool { shared })
    }

    /// Sets the pool's parameters once; `oxloop.ThreadPoolExecutor.__init__`
    /// validates them first.
    fn _configure(
        &self,
        max_workers: usize,
        thread_name_prefix: String,
        initializer: Option<Py<PyAny>>,
        initargs: Py<PyTuple>,
    ) -> PyResult<()> {
        if max_workers == 0 {
            return Err(PyValueError::new_err("max_workers must be greater than 0"));
        }
        self.shared
            .config
            .set(Config {
                thread_name_prefix,
                initializer,
                initargs,
            })
            .map_err(|_| PyRuntimeError::new_err("ThreadPool is already configured"))?;
        lock(&self.shared.state).max_workers = max_workers;
        Ok(())
    }

    /// `submit(fn, /, *args, **kwargs)`: schedules `fn(*args, **kwargs)` and
    /// returns its `concurrent.futures.Future`.
    #[pyo3(signature = (r#fn, /, *args, **kwargs))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        r#fn: Bound<'py, PyAny>,
        args: Bound<'py, PyTuple>,
        kwargs: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.shared.config()?;
        let future = new_future(py)?;
        let item = WorkItem {
            future: future.clone().unbind(),
            func: r#fn.unbind(),
            args: args.unbind(),
            kwargs: kwargs.map(Bound::unbind),
        };
        let new_worker = {
            let mut state = lock(&self.shared.state);
            if let Some(message) = state.broken {
                return Err(broken_thread_pool(py, message));
            }
            if state.shutdown {
                return Err(PyRuntimeError::new_err(
                    "cannot schedule new futures after shutdown",
                ));
            }
            if at_exit::interpreter_exiting() {
                return Err(PyRuntimeError::new_err(
                    "cannot schedule new futures after interpreter shutdown",
                ));
            }
            state.queue.push_back(item);
            if state.queue.len() + state.busy > state.live && state.live < state.max_workers {
                state.live += 1;
                state.started += 1;
                Some(state.started - 1)
            } else {
                self.shared.wake_one(&mut state);
                None
            }
        };
        if let Some(number) = new_worker {
            match self.shared.spawn_worker(number) {
                // As `threading.Thread.start()`, wait until the thread runs:
                // it then takes the work before this thread goes on (a
                // `shutdown(cancel_futures=True)` right after a submit
                // cancels only what no worker could take).
                Ok(record) => py.detach(|| record.wait_running()),
                Err(err) => {
                    let live = {
                        let mut state = lock(&self.shared.state);
                        state.live -= 1;
                        state.live
                    };
                    if live == 0 {
                        return Err(PyRuntimeError::new_err(format!(
                            "can't start new thread: {err}"
                        )));
                    }
                }
            }
        }
        Ok(future)
    }

    /// `shutdown(wait=True, *, cancel_futures=False)`.
    #[pyo3(signature = (wait = true, *, cancel_futures = false))]
    fn shutdown(&self, py: Python<'_>, wait: bool, cancel_futures: bool) -> PyResult<()> {
        self.shared.shutdown(py, wait, cancel_futures);
        Ok(())
    }

    /// The number of worker threads started and not yet exited.
    #[getter]
    fn _live_workers(&self) -> PyResult<usize> {
        Ok(lock(&self.shared.state).live)
    }

    /// The number of worker threads waiting for work.
    #[getter]
    fn _idle_workers(&self) -> PyResult<usize> {
        Ok(lock(&self.shared.state).idle)
    }

    #[getter]
    fn _max_workers(&self) -> PyResult<usize> {
        self.shared.config()?;
        Ok(lock(&self.shared.state).max_workers)
    }

    /// Programs resize a pool by assigning `_max_workers`, as the stdlib
    /// pool reads it on every submit; workers beyond a lowered limit finish
    /// and stay, as there.
    #[setter(_max_workers)]
    fn set_max_workers(&self, value: usize) -> PyResult<()> {
        lock(&self.shared.state).max_workers = value;
        Ok(())
    }

    /// The worker threads, a live view (`concurrent.futures` keeps a set).
    #[getter]
    fn _threads(&self) -> PyResult<WorkerThreads> {
        Ok(WorkerThreads::new(Arc::clone(&self.shared.workers)))
    }

    /// False, or the message of the `BrokenThreadPool` (as the stdlib's).
    #[getter]
    fn _broken<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match lock(&self.shared.state).broken {
            Some(message) => pyo3::types::PyString::new(py, message).into_any(),
            None => pyo3::types::PyBool::new(py, false).to_owned().into_any(),
        })
    }

    #[getter]
    fn _shutdown(&self) -> PyResult<bool> {
        Ok(lock(&self.shared.state).shutdown)
    }
}

impl Drop for ThreadPool {
    /// A pool collected without `shutdown()` lets its workers finish the
    /// queued work and exit, as `concurrent.futures` does.
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.work_ready.notify_all();
    }
}
