//! `CoreLoop`: the Rust half of `oxloop.Loop`, and the one dispatch loop.
//!
//! The Python class `oxloop.Loop` derives from this and from
//! `asyncio.AbstractEventLoop`. Everything that runs per callback lives
//! here: scheduling, the timer heap, readiness, the cross-thread queue and
//! [`CoreLoop::_run_forever_core`], the only place callbacks are called.
//! The Python side sets up and tears down a run (running-loop registration,
//! async generator hooks) and implements the rarely called API.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PySystemExit, PyTypeError};
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use reactor::{monotonic, Events, Reactor, Side};

use crate::callbacks::{check_callable, check_callback, fileobj_to_fd};
use crate::empty_context::EmptyContext;
use crate::errors::{loop_closed, os_error};
use crate::gil_cell::GilCell;
use crate::handle::{Handle, HandleRef, TimerHandle};
use crate::loop_clock::{class_clock, Clock};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::pycall::vectorcall;
use crate::running_future::{self, Kind};
use crate::task_kwargs;

/// `object.__setattr__(obj, name, value)`, or `object.__delattr__` for `None`.
fn generic_setattr(
    obj: &Bound<'_, CoreLoop>,
    name: &Bound<'_, PyString>,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let value = value.map_or(std::ptr::null_mut(), Bound::as_ptr);
    // SAFETY: the GIL is held and all three are live objects (a NULL value asks for
    // deletion); the call returns 0, or -1 with an exception set.
    let rc = unsafe { pyo3::ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value) };
    if rc < 0 {
        Err(PyErr::fetch(obj.py()))
    } else {
        Ok(())
    }
}

/// The reactor specialised to Python handles.
pub type PyReactor = Reactor<HandleRef>;

/// Pending handlers from which the loop is "crowded": new handles then keep
/// their private context copy off the collector's list (see
/// `CallContext::Private` in `handle.rs`), use the loop's empty context, and
/// timer handles are not tracked.
const CROWDED: usize = 256;

/// Most handles kept for reuse while the loop is busy: enough for the
/// bursts of a producer thread feeding `call_soon_threadsafe` (about 8 MiB
/// at most, memory the burst itself already needed).
const POOL_CAPACITY: usize = 65536;

/// Handles kept once the loop has gone idle (a poll that waited and found
/// nothing): a burst's worth of retired handles is given back then.
const POOL_IDLE_CAPACITY: usize = 1024;

/// Events read per `epoll_wait`.
const EVENTS_CAPACITY: usize = 1024;

/// Bytes a turn hands to protocols (`note_delivered`) before the rest of
/// its I/O callbacks wait for the next turn, if callbacks are already queued
/// for it (the tasks those bytes woke, typically).
///
/// A streams server woken for many connections at once otherwise reads all
/// of them before any task runs: each `StreamReader` holds its message in a
/// `bytearray` meanwhile. With 10 connections of 100 KiB messages that was
/// ~1 MiB allocated and freed per turn at the top of the heap, which glibc
/// gave back to the kernel (`brk`) and faulted in again: ~20 page faults
/// and 0.65 `brk` calls per request, half the server's CPU time. Running the
/// woken tasks first keeps about one message in flight; small messages
/// (under this budget per turn) keep their batching.
const TURN_READ_BUDGET: usize = 64 * 1024;

/// The scheduling core of an oxloop event loop.
#[pyclass(subclass, frozen, weakref, module = "oxloop._core", name = "CoreLoop")]
pub struct CoreLoop {
    reactor: Arc<PyReactor>,
    stopping: AtomicBool,
    closed: AtomicBool,
    debug: AtomicBool,
    /// `pthread_self()` of the thread running the loop, 0 when not running.
    thread_id: AtomicU64,
    slow_callback_duration: AtomicU64,
    /// Bytes handed to protocols since the current turn's batch started.
    delivered: AtomicUsize,
    events: Mutex<Option<Events>>,
    task_factory: GilCell<Option<Py<PyAny>>>,
    /// Handles that ran and that nothing else refers to, ready for reuse.
    pool: GilCell<Vec<Py<Handle>>>,
    /// Where handles scheduled from an empty context run (`empty_context.rs`).
    empty_context: EmptyContext,
    /// `time()` as the loop sees it (`loop_clock.rs`).
    clock: Clock,
    /// What a run looks up once, while the loop runs (`RunScope`).
    run_scope: GilCell<Option<RunScope>>,
    /// Off unless asked for (`metrics.rs`).
    metrics: Metrics,
}

/// The `__dict__`s of `asyncio.futures` and `asyncio.tasks` (see `asyncio_class`).
static FUTURES_DICT: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static TASKS_DICT: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// Keyword-name tuples for vectorcalls, built once: index bit 0 adds
/// `name`, bit 1 adds `context`, after `loop`.
static KWNAMES: [PyOnceLock<Py<PyTuple>>; 4] = [const { PyOnceLock::new() }; 4];

fn kwnames(py: Python<'_>, index: usize) -> PyResult<&Bound<'_, PyTuple>> {
    let cell = KWNAMES
        .get(index)
        .ok_or_else(|| pyo3::exceptions::PySystemError::new_err("bad kwnames index"))?;
    cell.get_or_try_init(py, || {
        let mut names = vec!["loop"];
        if index & 1 != 0 {
            names.push("name");
        }
        if index & 2 != 0 {
            names.push("context");
        }
        Ok::<_, PyErr>(PyTuple::new(py, names)?.unbind())
    })
    .map(|t| t.bind(py))
}

/// `module.name` as it is now (`asyncio.futures.Future`, `asyncio.tasks.Task`),
/// looked up on every call as asyncio's own loop does: tests and programs
/// replace them (3.14's `test_graph` swaps in the pure-Python `_PyTask`).
/// One lookup in the module's cached `__dict__`.
fn asyncio_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyDict>>,
    module: &str,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    let dict = cell.get_or_try_init(py, || Ok::<_, PyErr>(py.import(module)?.dict().unbind()))?;
    dict.bind(py).get_item(name)?.ok_or_else(|| {
        pyo3::exceptions::PyAttributeError::new_err(format!("{module} has no attribute {name}"))
    })
}

/// Looked up when a run starts, for the futures and tasks made during it:
/// `{"loop": self}` (`running_future.rs`) and `asyncio.futures.Future` /
/// `asyncio.tasks.Task` as they are then. asyncio's loop looks the classes
/// up on every call; a dict lookup from Rust was ~180 instructions per
/// future (7% of a streams echo request), so a class replaced in the middle
/// of a run is used from the next run on (tests replace them between runs).
struct RunScope {
    kwargs: Py<PyDict>,
    future: Py<PyAny>,
    task: Py<PyAny>,
}

fn current_thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    unsafe { libc::pthread_self() as u64 }
}

/// Takes a new handle off the garbage collector's list (see `handle.rs`:
/// handles are not tracked, and let go of their callback instead).
fn untracked<T>(obj: Py<T>) -> Py<T> {
    // SAFETY: `obj` is a live object of a GC-enabled type (every pyclass is), owned here;
    // untracking only removes it from the collector's list, and CPython's dealloc skips
    // the untrack step for objects that are not tracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

fn is_fatal(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py)
}

impl CoreLoop {
    fn check_closed(&self) -> PyResult<()> {
        if self.closed.load(Relaxed) {
            Err(loop_closed())
        } else {
            Ok(())
        }
    }

    /// asyncio's debug-mode `_check_thread`.
    fn check_thread(&self) -> PyResult<()> {
        let owner = self.thread_id.load(Relaxed);
        if owner != 0 && owner != current_thread_id() {
            return Err(PyRuntimeError::new_err(
                "Non-thread-safe operation invoked on an event loop other than the current one",
            ));
        }
        Ok(())
    }

    /// Non-callables are always refused; in debug mode, as in asyncio, so
    /// are coroutine functions and (for `same_thread` methods) calls from a
    /// thread other than the loop's.
    fn check_callback(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        method: &str,
        same_thread: bool,
    ) -> PyResult<()> {
        if self.debug.load(Relaxed) {
            if same_thread {
                self.check_thread()?;
            }
            check_callback(py, callback, method)
        } else {
            check_callable(py, callback, method)
        }
    }

    /// `call_soon_threadsafe`'s work; `fast_call` unpacks the arguments.
    pub(crate) fn call_soon_threadsafe_impl(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let handle = self.ready_handle(py, callback, args, context, "call_soon_threadsafe")?;
        self.reactor
            .call_soon_threadsafe(HandleRef(handle.clone_ref(py)))
            .map_err(os_error)?;
        Ok(handle)
    }

    /// `call_later`'s work; `fast_call` unpacks the arguments.
    pub(crate) fn call_later_impl(
        &self,
        py: Python<'_>,
        delay: Bound<'_, PyAny>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        if delay.is_none() {
            return Err(PyTypeError::new_err("delay must not be None"));
        }
        let delay: f64 = delay.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "unsupported operand type(s) for +: 'float' and '{}'",
                delay
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        self.check_closed()?;
        self.check_callback(py, &callback, "call_at", true)?;
        self.schedule_at(py, self.clock.now(py)? + delay, callback, args, context)
    }

    /// `call_at`'s work; `fast_call` unpacks the arguments.
    pub(crate) fn call_at_impl(
        &self,
        py: Python<'_>,
        when: Bound<'_, PyAny>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        if when.is_none() {
            return Err(PyTypeError::new_err("when cannot be None"));
        }
        let when: f64 = when.extract()?;
        self.check_closed()?;
        self.check_callback(py, &callback, "call_at", true)?;
        self.schedule_at(py, when, callback, args, context)
    }

    /// `call_soon`'s work; `fast_call` unpacks the arguments.
    pub(crate) fn call_soon_impl(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let handle = self.ready_handle(py, callback, args, context, "call_soon")?;
        self.reactor.call_soon(HandleRef(handle.clone_ref(py)));
        Ok(handle)
    }

    /// The checks and the handle shared by `call_soon` and
    /// `call_soon_threadsafe` (only the former is bound to the loop's thread).
    fn ready_handle(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        method: &str,
    ) -> PyResult<Py<Handle>> {
        self.check_closed()?;
        self.check_callback(py, &callback, method, method == "call_soon")?;
        // SAFETY: the closure only moves a value out of the pool.
        let recycled = unsafe { self.pool.with(py, Vec::pop) };
        if let Some(h) = recycled {
            let crowded = self.is_crowded();
            let tb = self.source_traceback(py)?;
            h.get().reinit(py, callback, args, context, tb, crowded)?;
            return Ok(h);
        }
        Ok(untracked(Py::new(
            py,
            self.new_handle(py, callback, args, context, self.is_crowded())?,
        )?))
    }

    /// Keeps a handle that ran, and that nothing else refers to, for reuse
    /// (inlined into both dispatch variants, see `Handle::run`).
    #[inline(always)]
    fn recycle(&self, py: Python<'_>, h: Py<Handle>) {
        if !Handle::is_recyclable(&h) {
            return;
        }
        h.get().retire(py);
        // SAFETY: the closure only moves values; a handle the full pool refuses is
        // handed back and dropped after.
        let refused = unsafe {
            self.pool.with(py, |pool| {
                if pool.len() < POOL_CAPACITY {
                    pool.push(h);
                    None
                } else {
                    Some(h)
                }
            })
        };
        drop(refused);
    }

    /// Gives back the retired handles beyond what an idle loop keeps.
    fn trim_pool(&self, py: Python<'_>) {
        // SAFETY: the closure only moves values out; they are dropped afterwards.
        let excess = unsafe {
            self.pool.with(py, |pool| {
                if pool.len() > POOL_IDLE_CAPACITY {
                    pool.split_off(POOL_IDLE_CAPACITY)
                } else {
                    Vec::new()
                }
            })
        };
        drop(excess);
    }

    /// Where a handle was made, in debug mode (None otherwise).
    #[inline]
    fn source_traceback(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if !self.debug.load(Relaxed) {
            return Ok(None);
        }
        self.debug_source_traceback(py)
    }

    #[cold]
    fn debug_source_traceback(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let sys = py.import("sys")?;
        // Rust adds no frame: frame 0 is the Python code that called the loop.
        let frame = sys.call_method1("_getframe", (0,))?;
        let tb = py
            .import("asyncio.format_helpers")?
            .call_method1("extract_stack", (frame,))?;
        Ok(Some(tb.unbind()))
    }

    fn new_handle(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        crowded: bool,
    ) -> PyResult<Handle> {
        Handle::new(
            py,
            callback,
            args,
            context,
            self.source_traceback(py)?,
            crowded,
        )
    }

    /// Whether enough is pending that per-handle bookkeeping for the
    /// collector costs more than it is worth (see `CROWDED`).
    fn is_crowded(&self) -> bool {
        self.reactor.pending_len() >= CROWDED
    }

    fn schedule_at(
        &self,
        py: Python<'_>,
        when: f64,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        let crowded = self.is_crowded();
        let base = self
            .new_handle(py, callback, args, context, crowded)?
            .for_timer(Arc::downgrade(&self.reactor));
        // Timer handles are tracked by the collector (see `handle.rs`), except
        // when the loop is crowded: 100k pending timers made every collection
        // walk them all (a quarter of the time of a timer-heavy run).
        let th = Bound::new(py, (TimerHandle::new(when), base))?.unbind();
        let th = if crowded { untracked(th) } else { th }.into_bound(py);
        let as_handle: Bound<'_, Handle> = th.as_super().clone();
        self.reactor.call_at(when, HandleRef(as_handle.unbind()));
        Ok(th.unbind())
    }

    pub(crate) fn set_io(
        &self,
        py: Python<'_>,
        fd: &Bound<'_, PyAny>,
        side: Side,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        method: &str,
    ) -> PyResult<Py<Handle>> {
        self.set_io_in(py, fd, side, callback, args, None, method)
    }

    /// `set_io` whose handler runs in `context` (a transport's, Python 3.15+)
    /// rather than in a copy of the caller's.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_io_in(
        &self,
        py: Python<'_>,
        fd: &Bound<'_, PyAny>,
        side: Side,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        method: &str,
    ) -> PyResult<Py<Handle>> {
        self.check_closed()?;
        let fd = fileobj_to_fd(fd)?;
        self.check_callback(py, &callback, method, true)?;
        let handle = untracked(Py::new(
            py,
            self.new_handle(py, callback, args, context, false)?
                .repeating(),
        )?);
        match self
            .reactor
            .set_io(fd, side, HandleRef(handle.clone_ref(py)))
        {
            Ok(Some(old)) => {
                old.0.get().cancel_quietly(py);
                drop(old);
            }
            Ok(None) => {}
            Err((e, h)) => {
                drop(h);
                return Err(os_error(e));
            }
        }
        Ok(handle)
    }

    pub(crate) fn remove_io(&self, fd: &Bound<'_, PyAny>, side: Side) -> PyResult<bool> {
        let fd_py = fd.py();
        if self.closed.load(Relaxed) {
            return Ok(false);
        }
        let fd = fileobj_to_fd(fd)?;
        if self.debug.load(Relaxed) {
            self.check_thread()?;
        }
        match self.reactor.remove_io(fd, side).map_err(os_error)? {
            Some(h) => {
                h.0.get().cancel_quietly(fd_py);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// `create_future()` (a raw method: see `fast_call.rs`): a new
    /// `asyncio.Future` bound to this loop.
    pub(crate) fn create_future_impl<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let future = match slf.get().run_scope(py, Kind::Future) {
            Some((kw, future)) => {
                let future = future.into_bound(py);
                let args = PyTuple::empty(py);
                if let Some(f) = running_future::make(&future, Kind::Future, &args, kw.bind(py))? {
                    return Ok(f);
                }
                future
            }
            None => asyncio_class(py, &FUTURES_DICT, "asyncio.futures", intern!(py, "Future"))?,
        };
        vectorcall(&future, &[slf.as_ptr()], Some(kwnames(py, 0)?))
    }

    /// While the loop runs: its `{"loop": self}` and the class of `kind`
    /// (`RunScope`).
    fn run_scope(&self, py: Python<'_>, kind: Kind) -> Option<(Py<PyDict>, Py<PyAny>)> {
        // SAFETY: the closure only increments reference counts.
        unsafe {
            self.run_scope.with(py, |scope| {
                scope.as_ref().map(|s| {
                    let class = match kind {
                        Kind::Future => &s.future,
                        Kind::Task => &s.task,
                    };
                    (s.kwargs.clone_ref(py), class.clone_ref(py))
                })
            })
        }
    }

    fn set_run_scope(&self, py: Python<'_>, scope: Option<RunScope>) {
        // SAFETY: the closure only moves values; the displaced one is dropped after.
        let old = unsafe { self.run_scope.with(py, |s| std::mem::replace(s, scope)) };
        drop(old);
    }

    /// `get_debug()` (a raw method: see `fast_call.rs`; the C `Future`
    /// calls it for every future it makes).
    pub(crate) fn debug_enabled(&self) -> bool {
        self.debug.load(Relaxed)
    }

    /// One loop turn: poll, collect, then run this turn's batch. `METERED`
    /// turns record metrics (`metrics.rs`); the plain variant has no trace of
    /// them, and the choice is made once per turn.
    fn run_once<const METERED: bool>(
        &self,
        slf: &Bound<'_, Self>,
        events: &mut Events,
        batch: &mut VecDeque<HandleRef>,
        dead: &mut Vec<HandleRef>,
    ) -> PyResult<()> {
        let py = slf.py();
        // A clock replaced from Python is read here, since the reactor's closures
        // must not run Python code; the monotonic clock is read only when needed.
        let now = self.clock.replaced_now(py)?;
        let prepared = self.reactor.prepare(
            || now.unwrap_or_else(monotonic),
            self.stopping.load(Relaxed),
            batch,
            dead,
        );
        dead.clear();

        if prepared.needs_poll {
            if METERED {
                self.metrics.begin_turn(py, self.reactor.ready_len());
            }
            events.clear();
            let reactor = &*self.reactor;
            let res = if prepared.timeout_ms == Some(0) {
                reactor.poll(events, Some(0))
            } else {
                let timeout = prepared.timeout_ms;
                py.detach(|| reactor.poll(events, timeout))
            };
            match res {
                Ok(0) if prepared.timeout_ms != Some(0) => self.trim_pool(py),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    // A signal arrived: run its Python handler now. Ctrl+C's default
                    // handler raises KeyboardInterrupt out of run_forever, as in asyncio.
                    py.check_signals()?;
                }
                Err(e) => return Err(os_error(e)),
            }
            if METERED {
                self.metrics.polled(py, self.reactor.ready_len());
            }
            let now = self.clock.replaced_now(py)?;
            self.reactor
                .collect(
                    events,
                    || now.unwrap_or_else(monotonic),
                    batch,
                    dead,
                    |h| HandleRef(h.0.clone_ref(py)),
                )
                .map_err(os_error)?;
            dead.clear();
            if METERED {
                self.metrics.batch_len(py, batch.len());
            }
        } else if METERED {
            // `prepare` took the batch already: one metrics call starts the turn.
            self.metrics.begin_turn_with_batch(py, batch.len());
        }
        self.run_batch::<METERED>(slf, batch)
    }

    /// A transport handed `n` bytes to its protocol (see `TURN_READ_BUDGET`).
    pub(crate) fn note_delivered(&self, n: usize) {
        self.delivered
            .store(self.delivered.load(Relaxed).saturating_add(n), Relaxed);
    }

    /// Leaves `first` and the batch's other I/O (reader and writer) handlers
    /// for the next turn; timers and callbacks stay in the batch.
    fn defer_io(&self, first: Py<Handle>, batch: &mut VecDeque<HandleRef>) {
        let mut io = VecDeque::from([HandleRef(first)]);
        let mut rest = VecDeque::with_capacity(batch.len());
        for h in batch.drain(..) {
            if h.0.get().is_one_shot() {
                rest.push_back(h);
            } else {
                io.push_back(h);
            }
        }
        *batch = rest;
        self.reactor.defer_io(&mut io);
    }

    /// Runs this turn's batch, in order.
    fn run_batch<const METERED: bool>(
        &self,
        slf: &Bound<'_, Self>,
        batch: &mut VecDeque<HandleRef>,
    ) -> PyResult<()> {
        let py = slf.py();
        let debug = self.debug.load(Relaxed);
        let clock_replaced = METERED && self.clock.is_replaced();
        let ticks = METERED.then(|| self.metrics.ticks(py));
        self.delivered.store(0, Relaxed);
        while let Some(HandleRef(h)) = batch.pop_front() {
            let handle = h.get();
            if handle.is_cancelled() {
                if METERED {
                    self.metrics.skipped(py);
                }
                continue;
            }
            if !handle.is_one_shot()
                && self.delivered.load(Relaxed) >= TURN_READ_BUDGET
                && self.reactor.ready_len() > 0
            {
                self.defer_io(h, batch);
                if METERED {
                    self.metrics.batch_left_now(py, batch.len());
                }
                continue;
            }
            let t0 = if debug { monotonic() } else { 0.0 };
            // Debug mode keeps the callback through the run, for the slow-callback report.
            let take = handle.is_one_shot() && !debug;
            // Metered turns keep a taken callback until it is timed (to name it).
            let mut kept = None;
            let ran = handle.run::<METERED>(py, take, &self.empty_context, &mut kept);
            // Metered: the callback's end, read before anything else (`loop_metrics.rs`).
            let ended = match ticks {
                Some(t) if METERED => t.now(),
                _ => 0,
            };
            if let Err(err) = ran {
                if is_fatal(py, &err) {
                    self.reactor.requeue_front(batch);
                    return Err(err);
                }
                let res = slf.call_method1(
                    intern!(py, "_handle_callback_error"),
                    (h.clone_ref(py), err.into_value(py)),
                );
                if let Err(e) = res {
                    self.reactor.requeue_front(batch);
                    return Err(e);
                }
            }
            if METERED {
                let ready_len = || self.reactor.ready_len();
                self.metrics
                    .callback_ran(py, &h, kept, ended, ready_len, clock_replaced);
            }
            if debug {
                let dt = monotonic() - t0;
                if dt >= f64::from_bits(self.slow_callback_duration.load(Relaxed)) {
                    slf.call_method1(intern!(py, "_log_slow_callback"), (h.clone_ref(py), dt))?;
                }
            }
            if handle.is_one_shot() {
                handle.release(py);
                self.recycle(py, h);
            }
        }
        Ok(())
    }
}

impl Handle {
    /// Cancels without counting a timer: used for reader and writer handles.
    pub(crate) fn cancel_quietly(&self, py: Python<'_>) {
        if !self.cancel_flag().swap(true, Relaxed) {
            self.release(py);
        }
    }
}

#[pymethods]
impl CoreLoop {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn py_new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        // SAFETY: every CoreLoop and Handle method that reaches the reactor's state is a
        // Python method, so it runs with the GIL held, which serialises the calls; the
        // dispatch loop releases the GIL only around `poll`, which touches no state; and
        // no closure passed to the reactor runs Python code (the `clone` closure only
        // increments a reference count, `monotonic` reads the clock), while handlers
        // removed from the state are dropped only after the reactor call returned.
        let reactor = unsafe { Reactor::new_externally_serialized() }.map_err(os_error)?;
        Ok(CoreLoop {
            reactor: Arc::new(reactor),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            thread_id: AtomicU64::new(0),
            slow_callback_duration: AtomicU64::new(0.1f64.to_bits()),
            delivered: AtomicUsize::new(0),
            events: Mutex::new(None),
            task_factory: GilCell::new(None),
            pool: GilCell::new(Vec::new()),
            empty_context: EmptyContext::default(),
            clock: Clock::default(),
            run_scope: GilCell::new(None),
            metrics: Metrics::default(),
        })
    }

    /// The loop's clock: `time.monotonic()`.
    fn time(&self) -> PyResult<f64> {
        Ok(monotonic())
    }

    /// Sets an attribute; assigning `time` also replaces the clock the loop
    /// goes by (`loop_clock.rs`).
    fn __setattr__(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyString>,
        value: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        generic_setattr(slf, name, Some(&value))?;
        if name.to_str()? == "time" {
            slf.get().clock.set(slf.py(), Some(value.unbind()));
        }
        Ok(())
    }

    /// Deletes an attribute; deleting an assigned `time` gives the loop its
    /// class's clock back.
    fn __delattr__(slf: &Bound<'_, Self>, name: &Bound<'_, PyString>) -> PyResult<()> {
        generic_setattr(slf, name, None)?;
        if name.to_str()? == "time" {
            slf.get().clock.set(slf.py(), class_clock(slf)?);
        }
        Ok(())
    }

    /// Takes the clock of the loop's class: a subclass's own `time()`, if it
    /// has one (called by `Loop.__init__`).
    fn _reset_clock(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.get().clock.set(slf.py(), class_clock(slf)?);
        Ok(())
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_reader(
        &self,
        py: Python<'_>,
        fd: Bound<'_, PyAny>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        self.set_io(py, &fd, Side::Read, callback, args, "add_reader")
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_writer(
        &self,
        py: Python<'_>,
        fd: Bound<'_, PyAny>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        self.set_io(py, &fd, Side::Write, callback, args, "add_writer")
    }

    fn remove_reader(&self, fd: Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_io(&fd, Side::Read)
    }

    fn remove_writer(&self, fd: Bound<'_, PyAny>) -> PyResult<bool> {
        self.remove_io(&fd, Side::Write)
    }

    /// The reader or writer handle installed for `fd`, if any (for transports).
    fn _get_io_handle(
        &self,
        py: Python<'_>,
        fd: Bound<'_, PyAny>,
        write: bool,
    ) -> PyResult<Option<Py<Handle>>> {
        let fd = fileobj_to_fd(&fd)?;
        let side = if write { Side::Write } else { Side::Read };
        Ok(self
            .reactor
            .with_io(fd, side, |h| h.map(|h| h.0.clone_ref(py))))
    }

    /// Wraps `coro` in a task on this loop (through the task factory, if set).
    /// The keywords reach the factory or `Task` as the running Python version's
    /// asyncio passes them (`task_kwargs.rs`).
    #[pyo3(signature = (coro, **kwargs))]
    fn create_task<'py>(
        slf: &Bound<'py, Self>,
        coro: Bound<'py, PyAny>,
        kwargs: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        this.check_closed()?;
        let kwargs = kwargs.filter(|k| !k.is_empty());
        let rules = task_kwargs::rules(py);
        // SAFETY: the closure only increments a reference count.
        let factory = unsafe {
            this.task_factory
                .with(py, |f| f.as_ref().map(|f| f.clone_ref(py)))
        };
        if let Some(factory) = factory {
            return task_kwargs::call_factory(rules, factory.bind(py), slf, &coro, kwargs.as_ref());
        }
        let scope = this.run_scope(py, Kind::Task);
        let task_type = &match &scope {
            Some((_, task)) => task.bind(py).clone(),
            None => asyncio_class(py, &TASKS_DICT, "asyncio.tasks", intern!(py, "Task"))?,
        };
        let (name, context, rest) = match &kwargs {
            None => (None, None, None),
            Some(kw) => {
                let split = task_kwargs::split(rules, kw)?;
                (split.name, split.context, split.rest)
            }
        };
        // The common call, `create_task(coro)` on the running loop, skips the keyword
        // dict (`running_future.rs`); debug mode keeps the path below, which trims the
        // creation traceback.
        if kwargs.is_none() && !this.debug.load(Relaxed) {
            if let Some((kw, _)) = &scope {
                let args = PyTuple::new(py, [&coro])?;
                if let Some(task) = running_future::make(task_type, Kind::Task, &args, kw.bind(py))?
                {
                    return Ok(task);
                }
            }
        }
        let task = if let Some(rest) = rest {
            // Keywords beyond name/context (3.13.3+, e.g. eager_start on 3.14).
            rest.set_item(intern!(py, "loop"), slf)?;
            if let Some(name) = &name {
                rest.set_item(intern!(py, "name"), name)?;
            }
            if let Some(c) = &context {
                rest.set_item(intern!(py, "context"), c)?;
            }
            task_type.call((&coro,), Some(&rest))?
        } else {
            let mut args = [
                coro.as_ptr(),
                slf.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ];
            let mut n = 2;
            let mut variant = 0;
            if let Some(name) = &name {
                args[n] = name.as_ptr();
                n += 1;
                variant |= 1;
            }
            if let Some(c) = &context {
                args[n] = c.as_ptr();
                n += 1;
                variant |= 2;
            }
            vectorcall(task_type, &args[..n], Some(kwnames(py, variant)?))?
        };
        if this.debug.load(Relaxed) {
            // Drop the frame of this call from the creation traceback, as asyncio does.
            let tb = task.getattr(intern!(py, "_source_traceback"))?;
            if tb.is_truthy()? {
                tb.del_item(-1)?;
            }
        }
        Ok(task)
    }

    fn set_task_factory(&self, py: Python<'_>, factory: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let factory = factory.filter(|f| !f.is_none());
        if let Some(f) = &factory {
            if !f.is_callable() {
                return Err(PyTypeError::new_err(
                    "task factory must be a callable or None",
                ));
            }
        }
        let new = factory.map(Bound::unbind);
        // SAFETY: the closure only swaps values; the old factory is dropped afterwards.
        let old = unsafe { self.task_factory.with(py, |f| std::mem::replace(f, new)) };
        drop(old);
        Ok(())
    }

    fn get_task_factory(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // SAFETY: the closure only increments a reference count.
        Ok(unsafe {
            self.task_factory
                .with(py, |f| f.as_ref().map(|f| f.clone_ref(py)))
        })
    }

    /// Asks the running loop to stop after the current turn.
    fn stop(&self) -> PyResult<()> {
        self.stopping.store(true, Relaxed);
        Ok(())
    }

    fn is_running(&self) -> PyResult<bool> {
        Ok(self.thread_id.load(Relaxed) != 0)
    }

    fn is_closed(&self) -> PyResult<bool> {
        Ok(self.closed.load(Relaxed))
    }

    fn _set_debug_flag(&self, enabled: bool) -> PyResult<()> {
        self.debug.store(enabled, Relaxed);
        Ok(())
    }

    #[getter]
    fn get_slow_callback_duration(&self) -> PyResult<f64> {
        Ok(f64::from_bits(self.slow_callback_duration.load(Relaxed)))
    }

    #[setter]
    fn set_slow_callback_duration(&self, value: f64) -> PyResult<()> {
        self.slow_callback_duration.store(value.to_bits(), Relaxed);
        Ok(())
    }

    #[getter]
    fn _stopping(&self) -> PyResult<bool> {
        Ok(self.stopping.load(Relaxed))
    }

    #[getter]
    fn _thread_id(&self) -> PyResult<Option<u64>> {
        let id = self.thread_id.load(Relaxed);
        Ok(if id == 0 { None } else { Some(id) })
    }

    /// Raises asyncio's error when called on a thread other than the loop's.
    fn _check_thread(&self) -> PyResult<()> {
        self.check_thread()
    }

    /// Raises `RuntimeError('Event loop is closed')` on a closed loop.
    fn _check_closed(&self) -> PyResult<()> {
        self.check_closed()
    }

    /// Wakes the loop if it is blocked in the poller (from any thread).
    fn _write_to_self(&self) -> PyResult<()> {
        self.reactor.wake().map_err(os_error)
    }

    /// Runs turns until `stop()`; the Python `run_forever` wraps this with
    /// the running-loop bookkeeping.
    fn _run_forever_core(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.get();
        let py = slf.py();
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "loop"), slf)?;
        let scope = RunScope {
            kwargs: kwargs.unbind(),
            future: asyncio_class(py, &FUTURES_DICT, "asyncio.futures", intern!(py, "Future"))?
                .unbind(),
            task: asyncio_class(py, &TASKS_DICT, "asyncio.tasks", intern!(py, "Task"))?.unbind(),
        };
        let tid = current_thread_id();
        if this
            .thread_id
            .compare_exchange(0, tid, Relaxed, Relaxed)
            .is_err()
        {
            return Err(PyRuntimeError::new_err(
                "This event loop is already running",
            ));
        }
        let mut events = this
            .events
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .unwrap_or_else(|| Events::with_capacity(EVENTS_CAPACITY));
        let mut batch = VecDeque::new();
        let mut dead = Vec::new();
        this.set_run_scope(py, Some(scope));
        this.metrics.run_starts(py);
        let result = loop {
            let turn = if this.metrics.is_on() {
                this.run_once::<true>(slf, &mut events, &mut batch, &mut dead)
            } else {
                this.run_once::<false>(slf, &mut events, &mut batch, &mut dead)
            };
            if let Err(e) = turn {
                break Err(e);
            }
            if this.stopping.load(Relaxed) {
                break Ok(());
            }
        };
        this.set_run_scope(py, None);
        this.stopping.store(false, Relaxed);
        this.thread_id.store(0, Relaxed);
        if let Ok(mut slot) = this.events.lock() {
            *slot = Some(events);
        }
        result
    }

    /// Marks the loop closed and drops every pending handle.
    fn _close_core(&self, py: Python<'_>) -> PyResult<()> {
        if self.thread_id.load(Relaxed) != 0 {
            return Err(PyRuntimeError::new_err("Cannot close a running event loop"));
        }
        if self.closed.swap(true, Relaxed) {
            return Ok(());
        }
        let handles = self.reactor.clear();
        drop(handles);
        // The epoll fd and eventfd go back now, as asyncio closes its selector.
        // SAFETY: the GIL is held and the loop is not running (checked above), so no
        // poll is in progress; every other reactor call is made with the GIL held.
        unsafe { self.reactor.close_fds() };
        // SAFETY: the closure only moves the pool out; it is dropped afterwards.
        let pooled = unsafe { self.pool.with(py, std::mem::take) };
        drop(pooled);
        Ok(())
    }

    /// The loop holds its pending handles; the collector must see through
    /// them for an unclosed loop whose callbacks refer back to it to be
    /// collected (asyncio warns and closes such a loop in `__del__`).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // SAFETY: the collector runs traversals with the GIL held.
        let py = unsafe { Python::assume_attached() };
        // SAFETY: the closure only hands a pointer to the collector's visit function,
        // which runs no Python code.
        unsafe {
            self.task_factory
                .with(py, |f| f.as_ref().map_or(Ok(()), |f| visit.call(f)))?;
        }
        // A traversal in the middle of a reactor access (which never runs Python
        // code, so should not happen) skips the handles: they then count as held
        // from outside, which only delays collection.
        self.clock.traverse(py, &visit)?;
        // SAFETY: the closure only hands a pointer to the collector's visit function.
        unsafe {
            self.run_scope.with(py, |s| {
                s.as_ref().map_or(Ok(()), |s| {
                    visit.call(&s.kwargs)?;
                    visit.call(&s.future)?;
                    visit.call(&s.task)
                })
            })?;
        }
        self.reactor
            .try_visit_handlers(|h| Handle::visit_held(&h.0, &visit))
            .map(|_| ())
    }

    /// Breaks a reference cycle through pending handles (drops them all) or
    /// through a clock that refers to the loop.
    fn __clear__(&self) {
        let handles = self.reactor.clear();
        drop(handles);
        // SAFETY: the collector calls tp_clear with the GIL held.
        let py = unsafe { Python::assume_attached() };
        self.clock.set(py, None);
        self.set_run_scope(py, None);
    }

    /// Counts of pending work, for tests and leak checks:
    /// (ready handles, timers, watched fds).
    fn _pending_counts(&self) -> PyResult<(usize, usize, usize)> {
        Ok((
            self.reactor.ready_len(),
            self.reactor.timers_len(),
            self.reactor.io_len(),
        ))
    }

    /// Turns metrics on or off, from the next loop turn (`metrics.rs`).
    fn set_metrics(&self, py: Python<'_>, enabled: bool) -> PyResult<()> {
        self.metrics.set(py, enabled);
        Ok(())
    }

    /// Whether metrics are on.
    fn get_metrics(&self) -> PyResult<bool> {
        Ok(self.metrics.is_on())
    }

    /// A snapshot of the loop's metrics (all zero but `pending` if they were
    /// never on).
    fn metrics(&self, py: Python<'_>) -> PyResult<MetricsSnapshot> {
        let running = self.thread_id.load(Relaxed) != 0;
        Ok(self
            .metrics
            .snapshot(py, self.reactor.pending_len(), running))
    }

    /// Starts a new metrics window: counters, histograms and the slowest
    /// list start from zero.
    fn reset_metrics(&self, py: Python<'_>) -> PyResult<()> {
        self.metrics.reset(py);
        Ok(())
    }

    /// Number of retired handles kept for reuse, for tests of the pool's bounds.
    fn _pooled_handles(&self, py: Python<'_>) -> PyResult<usize> {
        // SAFETY: the closure only reads a length.
        Ok(unsafe { self.pool.with(py, |pool| pool.len()) })
    }
}
