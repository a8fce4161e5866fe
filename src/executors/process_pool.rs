//! `ProcessPool`: the Rust half of `oxloop.ProcessPoolExecutor`.
//!
//! `submit` pickles the call on the caller's thread (the GIL is held there
//! anyway) and queues the framed bytes. One Rust I/O thread per pool
//! (`process_io.rs`; no Python thread) owns the pipes: it writes and reads
//! frames without the GIL, notices workers that died, and attaches to
//! Python only to unpickle results, complete futures and hand queued tasks
//! to workers that finished one (`process_dispatch.rs`; `submit` hands
//! tasks out too, to a worker with room). Worker processes are started
//! through the pool's `multiprocessing` context
//! (`oxloop._executor_hooks.start_worker_process`) and run
//! `oxloop._process_worker.main`.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, TryLockError};
use std::thread::JoinHandle;
use std::time::Instant;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use reactor::waker::Waker;

use crate::errors::os_error;
use crate::executors::at_exit::{self, ExitHooks};
use crate::executors::frames::{encode, FrameReader, KIND_TASK};
use crate::executors::future::{self, new_future};
use crate::executors::process_dispatch::dispatch;
use crate::executors::process_io;
use crate::executors::py_objects::{broken_process_pool, hooks, pickle_dumps};
use crate::executors::sync::{lock, wait};

/// Tasks sent to one worker before it has answered: one running, one queued
/// behind it (`concurrent.futures` keeps `max_workers + 1` calls queued).
pub const TASKS_PER_WORKER: usize = 2;

pub const POOL_BROKEN: &str =
    "A child process terminated abruptly, the process pool is not usable anymore";
pub const FUTURE_BROKEN: &str =
    "A process in the process pool was terminated abruptly while the future was running or pending.";

/// Serialises worker start-up across pools: with the `fork` start method a
/// child forked while another worker's pipe ends are still open in the
/// parent would inherit them and hide that worker's death.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    /// Address of the `Shared` whose I/O thread this is, 0 elsewhere.
    pub static IO_THREAD_OF: Cell<usize> = const { Cell::new(0) };
}

pub struct Config {
    pub max_workers: usize,
    pub mp_context: Py<PyAny>,
    pub initializer: Option<Py<PyAny>>,
    pub initargs: Py<PyTuple>,
    pub max_tasks_per_child: Option<usize>,
    /// Start all `max_workers` workers at the first `submit` and never
    /// more (the `fork` start method, as `concurrent.futures` does: a fork
    /// once the I/O thread runs would copy a process with a thread in it).
    pub prespawn: bool,
}

/// One worker process, seen from the parent.
pub struct Worker {
    /// Unique within the pool; tasks handed out name their worker by it.
    pub id: u64,
    /// The `multiprocessing.Process`.
    pub process: Py<PyAny>,
    pub pid: libc::pid_t,
    /// Parent's end of the task pipe (non-blocking).
    pub task_fd: OwnedFd,
    /// Parent's end of the result pipe (non-blocking).
    pub result_fd: OwnedFd,
    /// Bytes waiting to be written to `task_fd`.
    pub out: Vec<u8>,
    pub reader: FrameReader,
    /// Ids of tasks sent and not answered, oldest first.
    pub in_flight: Vec<u64>,
    /// Tasks ever sent (for `max_tasks_per_child`).
    pub sent: usize,
    /// A stop frame was queued: end of file is expected.
    pub stopping: bool,
    pub eof: bool,
}

impl Worker {
    /// True once the worker may take no more tasks.
    pub fn retiring(&self, max_tasks: Option<usize>) -> bool {
        self.stopping || self.eof || max_tasks.is_some_and(|max| self.sent >= max)
    }

    pub fn capacity(&self, max_tasks: Option<usize>) -> usize {
        if self.retiring(max_tasks) {
            return 0;
        }
        let quota = max_tasks.map_or(usize::MAX, |max| max - self.sent);
        TASKS_PER_WORKER
            .saturating_sub(self.in_flight.len())
            .min(quota)
    }
}

#[derive(Default)]
pub struct State {
    /// Pickled tasks not yet handed to a worker: (id, frame).
    pub pending: VecDeque<(u64, Vec<u8>)>,
    /// The future of every task not yet completed.
    pub futures: HashMap<u64, Py<PyAny>>,
    pub workers: Vec<Worker>,
    /// Processes whose worker has exited, joined when the I/O thread ends.
    pub exited: Vec<Py<PyAny>>,
    /// Workers being started (they count toward `max_workers`).
    pub starting: usize,
    /// Workers ever started.
    pub started: u64,
    /// Results received and not yet matched by a submit that found an idle
    /// worker (see `claim_starts_for_submit`).
    pub idle_credits: usize,
    /// Set when the pool breaks: workers still alive then are killed.
    pub kill_deadline: Option<Instant>,
    pub shutdown: bool,
    pub broken: Option<&'static str>,
    pub io_thread: Option<JoinHandle<()>>,
    pub io_started: bool,
    pub io_done: bool,
}

pub struct Shared {
    pub config: OnceLock<Config>,
    pub state: Mutex<State>,
    pub waker: Waker,
    pub io_finished: Condvar,
    next_id: AtomicU64,
}

/// (Named like the Python class so argument errors read as CPython's.)
/// The scheduling core of `oxloop.ProcessPoolExecutor`.
#[pyclass(
    subclass,
    frozen,
    weakref,
    module = "oxloop._core",
    name = "ProcessPoolExecutor"
)]
pub struct ProcessPool {
    shared: Arc<Shared>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on an fd this function's caller owns.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above; only adds O_NONBLOCK.
    if flags < 0
        || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Takes `mutex` with the GIL released while waiting, so a thread holding it
/// can still run Python.
fn lock_detached<'a, T>(py: Python<'_>, mutex: &'a Mutex<T>) -> std::sync::MutexGuard<'a, T> {
    loop {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                py.detach(|| std::thread::sleep(std::time::Duration::from_micros(200)))
            }
        }
    }
}

impl Shared {
    pub fn config(&self) -> PyResult<&Config> {
        self.config
            .get()
            .ok_or_else(|| PyRuntimeError::new_err("ProcessPool used before _configure()"))
    }

    pub fn max_tasks(&self) -> Option<usize> {
        self.config.get().and_then(|c| c.max_tasks_per_child)
    }

    pub fn wake(&self) {
        // The I/O thread also rechecks its state each turn; a failed write to
        // an eventfd (it cannot overflow here) loses nothing worth reporting.
        let _ = self.waker.wake();
    }

    /// Decides, under the state lock, how many workers a `submit` starts
    /// and counts them as starting. With `prespawn`: all of them the first
    /// time, never again. Otherwise, as `concurrent.futures` decides: none
    /// if a worker has come back idle since the last submit that found one
    /// (an idle credit: one per result, never more than the idle workers),
    /// else one while fewer than `max_workers` run. So a call that fails to
    /// pickle still starts a worker, as there (it pickles later, in a
    /// feeder thread).
    pub fn claim_starts_for_submit(&self, state: &mut State) -> usize {
        let Some(config) = self.config.get() else {
            return 0;
        };
        if state.shutdown || state.broken.is_some() {
            return 0;
        }
        if config.prespawn {
            if state.started > 0 || state.starting > 0 {
                return 0;
            }
            state.starting = config.max_workers;
            return config.max_workers;
        }
        let max_tasks = config.max_tasks_per_child;
        let idle = state
            .workers
            .iter()
            .filter(|w| w.in_flight.is_empty() && !w.retiring(max_tasks))
            .count();
        state.idle_credits = state.idle_credits.min(idle);
        if state.idle_credits > 0 {
            state.idle_credits -= 1;
            return 0;
        }
        self.claim_if_below_max(state)
    }

    /// Under the lock, after workers retired on reaching
    /// `max_tasks_per_child`: how many replacements to start (one per
    /// queued task no idle worker can take, up to `max_workers`).
    pub fn claim_replacements(&self, state: &mut State) -> usize {
        let max_tasks = self.max_tasks();
        let mut claimed = 0;
        loop {
            let idle = state
                .workers
                .iter()
                .filter(|w| w.in_flight.is_empty() && !w.retiring(max_tasks))
                .count()
                + state.starting;
            if state.pending.len() <= idle || self.claim_if_below_max(state) == 0 {
                return claimed;
            }
            claimed += 1;
        }
    }

    /// Counts one more worker as starting if fewer than `max_workers` are
    /// alive or starting (and the pool takes work). A worker retiring at
    /// `max_tasks_per_child` still counts until it has exited (its
    /// replacement starts then, `claim_replacements`): as in
    /// `concurrent.futures`, the pool never has more than `max_workers`
    /// processes. After `shutdown()` too: calls still queued then run
    /// (gh-119592); `submit` checks for shutdown itself.
    fn claim_if_below_max(&self, state: &mut State) -> usize {
        let Some(config) = self.config.get() else {
            return 0;
        };
        if state.broken.is_some() {
            return 0;
        }
        let active = state.workers.iter().filter(|w| !w.eof).count() + state.starting;
        if active < config.max_workers {
            state.starting += 1;
            1
        } else {
            0
        }
    }

    /// Starts `count` worker processes (the caller claimed them) and, the
    /// first time, the I/O thread. Stops at the first failure, which it
    /// returns.
    pub fn start_workers(self: &Arc<Self>, py: Python<'_>, count: usize) -> PyResult<()> {
        let mut result = Ok(());
        for started in 0..count {
            let spawned = self.spawn_process(py);
            let mut state = lock(&self.state);
            match spawned {
                Ok(mut worker) => {
                    state.starting -= 1;
                    worker.id = state.started;
                    state.started += 1;
                    state.workers.push(worker);
                }
                Err(err) => {
                    state.starting -= count - started;
                    result = Err(err);
                    break;
                }
            }
        }
        let mut state = lock(&self.state);
        let start_io = !state.io_started && !state.workers.is_empty();
        if start_io {
            state.io_started = true;
        }
        drop(state);
        if start_io {
            let shared = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("oxloop-procpool".into())
                .spawn(move || process_io::io_main(shared));
            let mut state = lock(&self.state);
            match spawned {
                Ok(handle) => state.io_thread = Some(handle),
                Err(err) => {
                    state.io_started = false;
                    return Err(os_error(err));
                }
            }
        }
        self.wake();
        result
    }

    fn spawn_process(&self, py: Python<'_>) -> PyResult<Worker> {
        let config = self.config()?;
        let _serialised = lock_detached(py, &SPAWN_LOCK);
        let (task_read, task_write) = pipe().map_err(os_error)?;
        let (result_read, result_write) = pipe().map_err(os_error)?;
        let process = hooks(py)?.call_method1(
            intern!(py, "start_worker_process"),
            (
                config.mp_context.bind(py),
                task_read.as_raw_fd(),
                result_write.as_raw_fd(),
                (task_write.as_raw_fd(), result_read.as_raw_fd()),
                config.initializer.as_ref().map(|i| i.bind(py)),
                config.initargs.bind(py),
                config.max_tasks_per_child,
            ),
        )?;
        let pid = process.getattr(intern!(py, "pid"))?.extract()?;
        // The child has its copies now; the parent keeps only its own ends.
        drop(task_read);
        drop(result_write);
        set_nonblocking(&task_write).map_err(os_error)?;
        set_nonblocking(&result_read).map_err(os_error)?;
        Ok(Worker {
            id: 0,
            process: process.unbind(),
            pid,
            task_fd: task_write,
            result_fd: result_read,
            out: Vec::new(),
            reader: FrameReader::default(),
            in_flight: Vec::new(),
            sent: 0,
            stopping: false,
            eof: false,
        })
    }

    fn shutdown(&self, py: Python<'_>, wait_for_workers: bool, cancel_futures: bool) {
        let cancelled: Vec<Py<PyAny>> = {
            let mut state = lock(&self.state);
            state.shutdown = true;
            if cancel_futures {
                let ids: Vec<u64> = state.pending.drain(..).map(|(id, _)| id).collect();
                ids.iter()
                    .filter_map(|id| state.futures.remove(id))
                    .collect()
            } else {
                Vec::new()
            }
        };
        self.wake();
        for future in cancelled {
            let future = future.bind(py);
            if let Err(err) = future::cancel(py, future) {
                err.write_unraisable(py, Some(future));
            }
        }
        let on_io_thread = IO_THREAD_OF.with(|c| c.get()) == self as *const Shared as usize;
        if wait_for_workers && !on_io_thread {
            py.detach(|| {
                let mut state = lock(&self.state);
                while state.io_started && !state.io_done {
                    state = wait(&self.io_finished, state);
                }
                let handle = state.io_thread.take();
                drop(state);
                if let Some(handle) = handle {
                    // The thread has finished; a panic in it was already reported.
                    let _ = handle.join();
                }
            });
        }
    }
}

impl ExitHooks for Shared {
    fn shutdown_and_join(&self, py: Python<'_>) {
        self.shutdown(py, true, false);
    }

    fn forget_workers_after_fork(&self) {
        if let Ok(mut state) = self.state.try_lock() {
            // The I/O thread and the workers belong to the parent.
            if let Some(handle) = state.io_thread.take() {
                std::mem::forget(handle);
            }
            // Close the parent's pipe ends to them: a copy held here would
            // hide their death, or the parent's, from the other side.
            for worker in state.workers.drain(..) {
                let Worker {
                    process,
                    task_fd,
                    result_fd,
                    ..
                } = worker;
                drop((task_fd, result_fd));
                std::mem::forget(process);
            }
            state.io_done = true;
            state.shutdown = true;
            state.broken = Some("the process pool was inherited through fork()");
        }
    }
}

#[pymethods]
impl ProcessPool {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let shared = Arc::new(Shared {
            config: OnceLock::new(),
            state: Mutex::new(State::default()),
            waker: Waker::new().map_err(os_error)?,
            io_finished: Condvar::new(),
            next_id: AtomicU64::new(0),
        });
        at_exit::register(shared.clone());
        Ok(ProcessPool { shared })
    }

    /// Sets the pool's parameters once; `oxloop.ProcessPoolExecutor.__init__`
    /// validates them first.
    #[pyo3(signature = (max_workers, mp_context, initializer, initargs, max_tasks_per_child, prespawn))]
    fn _configure(
        &self,
        max_workers: usize,
        mp_context: Py<PyAny>,
        initializer: Option<Py<PyAny>>,
        initargs: Py<PyTuple>,
        max_tasks_per_child: Option<usize>,
        prespawn: bool,
    ) -> PyResult<()> {
        if max_workers == 0 {
            return Err(PyValueError::new_err("max_workers must be greater than 0"));
        }
        if max_tasks_per_child == Some(0) {
            return Err(PyValueError::new_err("max_tasks_per_child must be >= 1"));
        }
        self.shared
            .config
            .set(Config {
                max_workers,
                mp_context,
                initializer,
                initargs,
                max_tasks_per_child,
                prespawn,
            })
            .map_err(|_| PyRuntimeError::new_err("ProcessPool is already configured"))
    }

    /// `submit(fn, /, *args, **kwargs)`: pickles the call, queues it and
    /// returns its `concurrent.futures.Future`. A call that cannot be
    /// pickled gives a future holding the pickling error.
    #[pyo3(signature = (r#fn, /, *args, **kwargs))]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        r#fn: Bound<'py, PyAny>,
        args: Bound<'py, PyTuple>,
        kwargs: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.shared.config()?;
        self.check_accepting(py)?;
        let future = new_future(py)?;
        let kwargs = match kwargs {
            Some(kwargs) => kwargs,
            None => PyDict::new(py),
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = pickle_dumps(
            py,
            PyTuple::new(py, [r#fn, args.into_any(), kwargs.into_any()])?.as_any(),
        )
        .and_then(|payload| {
            encode(id, KIND_TASK, payload.as_bytes())
                .ok_or_else(|| PyValueError::new_err("the pickled call is larger than 4 GiB"))
        });
        let (starts, pickling_error) = {
            let mut state = lock(&self.shared.state);
            if let Some(message) = state.broken {
                return Err(broken_process_pool(py, message));
            }
            if state.shutdown {
                return Err(PyRuntimeError::new_err(
                    "cannot schedule new futures after shutdown",
                ));
            }
            // Workers start whether or not the call pickled: with
            // `concurrent.futures` they start before it is pickled.
            let starts = self.shared.claim_starts_for_submit(&mut state);
            match frame {
                Ok(frame) => {
                    state.futures.insert(id, future.clone().unbind());
                    state.pending.push_back((id, frame));
                    (starts, None)
                }
                Err(err) => (starts, Some(err)),
            }
        };
        if starts > 0 {
            self.shared.start_workers(py, starts)?;
        }
        if let Some(err) = pickling_error {
            let exc =
                hooks(py)?.call_method1(intern!(py, "pickling_error"), (err.into_value(py),))?;
            future::set_exception(py, &future, &exc)?;
            return Ok(future);
        }
        dispatch(py, &self.shared);
        Ok(future)
    }

    /// `shutdown(wait=True, *, cancel_futures=False)`.
    #[pyo3(signature = (wait = true, *, cancel_futures = false))]
    fn shutdown(&self, py: Python<'_>, wait: bool, cancel_futures: bool) -> PyResult<()> {
        self.shared.shutdown(py, wait, cancel_futures);
        Ok(())
    }

    /// The worker processes (`multiprocessing.Process` objects) that have
    /// not exited; `oxloop.ProcessPoolExecutor._processes` reads it.
    fn _worker_processes(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let state = lock(&self.shared.state);
        Ok(state
            .workers
            .iter()
            .filter(|w| !w.eof)
            .map(|w| w.process.clone_ref(py))
            .collect())
    }

    #[getter]
    fn _max_workers(&self) -> PyResult<usize> {
        Ok(self.shared.config()?.max_workers)
    }

    #[getter]
    fn _broken(&self) -> PyResult<Option<&'static str>> {
        Ok(lock(&self.shared.state).broken)
    }
}

impl ProcessPool {
    fn check_accepting(&self, py: Python<'_>) -> PyResult<()> {
        let state = lock(&self.shared.state);
        if let Some(message) = state.broken {
            return Err(broken_process_pool(py, message));
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
        Ok(())
    }
}

impl Drop for ProcessPool {
    /// A pool collected without `shutdown()` finishes its queued work, then
    /// its I/O thread stops the workers and exits.
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake();
    }
}
