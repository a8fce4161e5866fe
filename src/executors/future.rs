//! The state machine of `oxloop._future.Future`, the `concurrent.futures.Future`
//! subclass both pools return.
//!
//! A `concurrent.futures.Future` builds a `threading.Condition` (an `RLock`,
//! bound methods, a deque) when it is created, and takes it, in Python, for
//! every state change and every read. Ours keeps the same attributes
//! (`_state`, `_result`, `_exception`) in slots and makes the `Condition`,
//! the waiter list and the callback list only when something asks for them
//! (`future_class.rs` installs getters named `_condition`, `_waiters` and
//! `_done_callbacks` that create them).
//!
//! The `Condition` is there for threads that block and for
//! `concurrent.futures.wait`/`as_completed`, which take `f._condition` and
//! then register in `f._waiters`. So while a future has no `Condition`,
//! nobody waits on it, nobody is registered, and nobody is in the middle of
//! one of the stdlib's check-then-set sequences (those run under the
//! `Condition`, which they create first). Then a state change needs no lock:
//! the GIL already serialises it, provided no Python code can run between
//! reading the state and writing the new one. Every fast path below keeps to
//! that: it reads `_lazy_condition` and `_state` and writes the new values
//! with nothing but slot reads and writes in between (no allocation of a GC
//! object, which could start a collection and run finalizers; no drop of a
//! value whose destructor could run Python code: the old values are held
//! until the section is over). Once the `Condition` exists, or when the
//! future is a subclass, every method runs `concurrent.futures.Future`'s own
//! code instead.

use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

/// `oxloop._future.Future`, recorded by `install_future_class`.
static FAST_FUTURE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CF_FUTURE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATES: PyOnceLock<States> = PyOnceLock::new();
static CONDITION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The state strings of `concurrent.futures._base`; a future's `_state` is
/// always one of these objects, so they are compared by identity.
struct States {
    pending: Py<PyString>,
    running: Py<PyString>,
    cancelled: Py<PyString>,
    cancelled_and_notified: Py<PyString>,
    finished: Py<PyString>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Running,
    Cancelled,
    CancelledAndNotified,
    Finished,
    /// Not one of the five objects (someone assigned `_state`): left to the
    /// stdlib code.
    Unknown,
}

impl State {
    pub fn is_done(self) -> bool {
        matches!(
            self,
            State::Cancelled | State::CancelledAndNotified | State::Finished
        )
    }
}

fn states(py: Python<'_>) -> PyResult<&States> {
    STATES.get_or_try_init(py, || {
        let base = py.import("concurrent.futures._base")?;
        let get = |name: &str| -> PyResult<Py<PyString>> {
            Ok(base.getattr(name)?.cast_into::<PyString>()?.unbind())
        };
        Ok(States {
            pending: get("PENDING")?,
            running: get("RUNNING")?,
            cancelled: get("CANCELLED")?,
            cancelled_and_notified: get("CANCELLED_AND_NOTIFIED")?,
            finished: get("FINISHED")?,
        })
    })
}

impl States {
    fn get<'py>(&self, py: Python<'py>, state: State) -> Option<&Bound<'py, PyString>> {
        match state {
            State::Pending => Some(self.pending.bind(py)),
            State::Running => Some(self.running.bind(py)),
            State::Cancelled => Some(self.cancelled.bind(py)),
            State::CancelledAndNotified => Some(self.cancelled_and_notified.bind(py)),
            State::Finished => Some(self.finished.bind(py)),
            State::Unknown => None,
        }
    }

    fn classify(&self, value: &Bound<'_, PyAny>) -> State {
        let ptr = value.as_ptr();
        if ptr == self.pending.as_ptr() {
            State::Pending
        } else if ptr == self.running.as_ptr() {
            State::Running
        } else if ptr == self.finished.as_ptr() {
            State::Finished
        } else if ptr == self.cancelled.as_ptr() {
            State::Cancelled
        } else if ptr == self.cancelled_and_notified.as_ptr() {
            State::CancelledAndNotified
        } else {
            State::Unknown
        }
    }
}

/// `concurrent.futures.Future`, whose methods run whenever a fast path does not apply.
pub fn cf_future_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CF_FUTURE.import(py, "concurrent.futures._base", "Future")
}

fn fast_future_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    if FAST_FUTURE.get(py).is_none() {
        // Importing the module defines the class and installs it.
        py.import("oxloop._future")?;
    }
    FAST_FUTURE
        .get(py)
        .map(|ty| ty.bind(py))
        .ok_or_else(|| PyRuntimeError::new_err("oxloop._future.Future is not installed"))
}

/// Records `cls` as the class whose exact instances take the fast paths.
pub fn set_fast_future_type(py: Python<'_>, cls: &Bound<'_, PyType>) -> PyResult<()> {
    states(py)?;
    let recorded = FAST_FUTURE.get_or_init(py, || cls.clone().unbind());
    if !recorded.bind(py).is(cls) {
        return Err(PyRuntimeError::new_err(
            "a different oxloop Future class is already installed",
        ));
    }
    Ok(())
}

/// True for an exact `oxloop._future.Future` (a subclass may override
/// attribute access, so it always gets the stdlib code).
fn is_fast(py: Python<'_>, future: &Bound<'_, PyAny>) -> bool {
    FAST_FUTURE
        .get(py)
        .is_some_and(|ty| future.get_type_ptr() == ty.as_ptr().cast::<ffi::PyTypeObject>())
}

fn read_state(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<State> {
    let value = future.getattr(intern!(py, "_state"))?;
    Ok(states(py)?.classify(&value))
}

fn has_condition(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(!future.getattr(intern!(py, "_lazy_condition"))?.is_none())
}

/// Writes `_state`. The old value (one of the state strings) stays alive
/// in `states`, so the write drops nothing.
fn write_state(py: Python<'_>, future: &Bound<'_, PyAny>, state: State) -> PyResult<()> {
    match states(py)?.get(py, state) {
        Some(value) => future.setattr(intern!(py, "_state"), value),
        None => Err(PyRuntimeError::new_err(
            "cannot store an unknown future state",
        )),
    }
}

/// The state, if `future` may change state without its `Condition`: an
/// exact fast future that has none. Part of a critical section: reads only.
fn lock_free_state(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<Option<State>> {
    if !is_fast(py, future) || has_condition(py, future)? {
        return Ok(None);
    }
    Ok(Some(read_state(py, future)?))
}

/// Calls `concurrent.futures.Future.<name>(future, *args)`.
fn stdlib<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyString>,
    future: &Bound<'py, PyAny>,
    args: &[&Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyAny>> {
    let method = cf_future_type(py)?.getattr(name)?;
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(future.clone());
    all.extend(args.iter().map(|arg| (*arg).clone()));
    method.call1(PyTuple::new(py, all)?)
}

/// A new pending future, made without running Python code.
pub fn new_future(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let ty = fast_future_type(py)?;
    let pending = states(py)?.pending.bind(py);
    let tp = ty.as_ptr().cast::<ffi::PyTypeObject>();
    // SAFETY: `tp` is a live type object (held by FAST_FUTURE); its `tp_new` is
    // `object.__new__` (the class defines no `__new__`), called with an empty
    // argument tuple as `type.__call__` would; the result is a new reference or NULL
    // with an exception set.
    let future = unsafe {
        let new = (*tp)
            .tp_new
            .ok_or_else(|| PyRuntimeError::new_err("Future type has no tp_new"))?;
        Bound::from_owned_ptr_or_err(
            py,
            new(tp, PyTuple::empty(py).as_ptr(), std::ptr::null_mut()),
        )?
    };
    future.setattr(intern!(py, "_state"), pending)?;
    let none = py.None();
    for slot in [
        intern!(py, "_result"),
        intern!(py, "_exception"),
        intern!(py, "_lazy_condition"),
        intern!(py, "_lazy_waiters"),
        intern!(py, "_lazy_callbacks"),
    ] {
        future.setattr(slot, &none)?;
    }
    Ok(future)
}

/// Returns the value in `slot`, first storing `make()` there if it holds
/// None. Two threads racing here agree on one object: `make` may run Python
/// code, so the slot is read again after it, and the read and the write
/// have nothing between them.
fn get_or_create<'py>(
    future: &Bound<'py, PyAny>,
    slot: &Bound<'py, PyString>,
    make: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let current = future.getattr(slot)?;
    if !current.is_none() {
        return Ok(current);
    }
    let made = make()?;
    let current = future.getattr(slot)?;
    if !current.is_none() {
        return Ok(current);
    }
    future.setattr(slot, &made)?;
    Ok(made)
}

/// `future._condition`: a `threading.Condition`, made on first use.
pub fn condition<'py>(py: Python<'py>, future: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    get_or_create(future, intern!(py, "_lazy_condition"), || {
        CONDITION.import(py, "threading", "Condition")?.call0()
    })
}

/// `future._waiters`: made on first use, after the `Condition` (whoever
/// registers a waiter has made the future leave the lock-free paths).
pub fn waiters<'py>(py: Python<'py>, future: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    condition(py, future)?;
    get_or_create(future, intern!(py, "_lazy_waiters"), || {
        Ok(PyList::empty(py).into_any())
    })
}

/// `future._done_callbacks`: made on first use.
pub fn done_callbacks<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    get_or_create(future, intern!(py, "_lazy_callbacks"), || {
        Ok(PyList::empty(py).into_any())
    })
}

/// Calls `callback(future)`; an `Exception` is logged as
/// `concurrent.futures` logs it, a `BaseException` propagates.
fn call_callback<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
    callback: &Bound<'py, PyAny>,
) -> PyResult<()> {
    let Err(err) = callback.call1((future,)) else {
        return Ok(());
    };
    if !err.is_instance_of::<PyException>(py) {
        return Err(err);
    }
    let logger = LOGGER.import(py, "concurrent.futures._base", "LOGGER")?;
    let kwargs = PyDict::new(py);
    // `into_value` attaches the traceback to the exception, which logging prints.
    kwargs.set_item(intern!(py, "exc_info"), err.into_value(py))?;
    logger.call_method(
        intern!(py, "exception"),
        ("exception calling callback for %r", future),
        Some(&kwargs),
    )?;
    Ok(())
}

/// Runs the callbacks registered before the future finished.
fn invoke_callbacks<'py>(py: Python<'py>, future: &Bound<'py, PyAny>) -> PyResult<()> {
    let callbacks = future.getattr(intern!(py, "_lazy_callbacks"))?;
    if callbacks.is_none() {
        return Ok(());
    }
    for callback in callbacks.try_iter()? {
        call_callback(py, future, &callback?)?;
    }
    Ok(())
}

/// `set_running_or_notify_cancel()`: Some(outcome), or None if the stdlib
/// code must run.
pub fn fast_set_running_or_notify_cancel(
    py: Python<'_>,
    future: &Bound<'_, PyAny>,
) -> PyResult<Option<bool>> {
    // Critical section: no waiter can be registered without a Condition, so
    // a cancelled future has nobody to notify.
    match lock_free_state(py, future)? {
        Some(State::Pending) => {
            write_state(py, future, State::Running)?;
            Ok(Some(true))
        }
        Some(State::Cancelled) => {
            write_state(py, future, State::CancelledAndNotified)?;
            Ok(Some(false))
        }
        _ => Ok(None),
    }
}

/// `set_result(value)` (`slot` `_result`) or `set_exception(value)`
/// (`slot` `_exception`): Some(()) once done, None if the stdlib code must run.
pub fn fast_finish<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
    slot: &Bound<'py, PyString>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Option<()>> {
    // Critical section. `previous` keeps the slot's old value (None unless
    // someone assigned it) alive until the section is over.
    let previous;
    match lock_free_state(py, future)? {
        Some(State::Pending | State::Running) => {
            previous = future.getattr(slot)?;
            future.setattr(slot, value)?;
            write_state(py, future, State::Finished)?;
        }
        _ => return Ok(None),
    }
    drop(previous);
    invoke_callbacks(py, future)?;
    Ok(Some(()))
}

/// `cancel()`: Some(outcome), or None if the stdlib code must run.
pub fn fast_cancel(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
    match lock_free_state(py, future)? {
        Some(State::Running | State::Finished) => Ok(Some(false)),
        Some(State::Cancelled | State::CancelledAndNotified) => Ok(Some(true)),
        Some(State::Pending) => {
            // Critical section ends with the write: nobody waits (no Condition).
            write_state(py, future, State::Cancelled)?;
            invoke_callbacks(py, future)?;
            Ok(Some(true))
        }
        Some(State::Unknown) | None => Ok(None),
    }
}

/// `add_done_callback(callback)`: Some(()) once done, None if the stdlib
/// code must run.
pub fn fast_add_done_callback<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
    callback: &Bound<'py, PyAny>,
) -> PyResult<Option<()>> {
    if !is_fast(py, future) {
        return Ok(None);
    }
    let slot = intern!(py, "_lazy_callbacks");
    // Allocated before the critical section (allocating can collect garbage).
    let fresh = future.getattr(slot)?.is_none().then(|| PyList::empty(py));
    // Critical section: from reading the state to appending.
    let Some(state) = lock_free_state(py, future)? else {
        return Ok(None);
    };
    match state {
        State::Pending | State::Running => {
            let current = future.getattr(slot)?;
            let list = if current.is_none() {
                let Some(list) = fresh else { return Ok(None) };
                future.setattr(slot, &list)?;
                list
            } else {
                match current.cast_into::<PyList>() {
                    Ok(list) => list,
                    Err(_) => return Ok(None),
                }
            };
            list.append(callback)?;
            Ok(Some(()))
        }
        State::Cancelled | State::CancelledAndNotified | State::Finished => {
            drop(fresh);
            call_callback(py, future, callback)?;
            Ok(Some(()))
        }
        State::Unknown => Ok(None),
    }
}

/// The state of an exact fast future (None for anything else), read
/// without the `Condition`: one read is atomic under the GIL.
pub fn fast_state(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<Option<State>> {
    if !is_fast(py, future) {
        return Ok(None);
    }
    Ok(Some(read_state(py, future)?).filter(|s| *s != State::Unknown))
}

/// `result()` of a finished fast future: Some(Ok(value)) or Some(Err(the
/// exception)); None if the stdlib code must run (not finished, cancelled,
/// or an `_exception` that is not an exception instance, or is falsy).
pub fn fast_result<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if fast_state(py, future)? != Some(State::Finished) {
        return Ok(None);
    }
    let exception = future.getattr(intern!(py, "_exception"))?;
    if exception.is_none() {
        return Ok(Some(future.getattr(intern!(py, "_result"))?));
    }
    // SAFETY: `exception` is a valid object pointer; the check reads its type.
    if unsafe { ffi::PyExceptionInstance_Check(exception.as_ptr()) } == 0 {
        return Ok(None);
    }
    // A falsy exception instance: 3.11-3.13 return the result, 3.14+ raise
    // it (`is not None`); the running version's stdlib code decides.
    if !exception.is_truthy()? {
        return Ok(None);
    }
    Err(PyErr::from_value(exception))
}

/// `exception()` of a finished fast future; None if the stdlib code must run.
pub fn fast_exception<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if fast_state(py, future)? != Some(State::Finished) {
        return Ok(None);
    }
    Ok(Some(future.getattr(intern!(py, "_exception"))?))
}

// -- what the pools call ------------------------------------------------------------------

/// `future.set_running_or_notify_cancel()`.
pub fn set_running_or_notify_cancel(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<bool> {
    match fast_set_running_or_notify_cancel(py, future)? {
        Some(running) => Ok(running),
        None => stdlib(py, intern!(py, "set_running_or_notify_cancel"), future, &[])?.is_truthy(),
    }
}

/// `future.set_result(value)`.
pub fn set_result<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
) -> PyResult<()> {
    if fast_finish(py, future, intern!(py, "_result"), value)?.is_none() {
        stdlib(py, intern!(py, "set_result"), future, &[value])?;
    }
    Ok(())
}

/// `future.set_exception(exception)`.
pub fn set_exception<'py>(
    py: Python<'py>,
    future: &Bound<'py, PyAny>,
    exception: &Bound<'py, PyAny>,
) -> PyResult<()> {
    if fast_finish(py, future, intern!(py, "_exception"), exception)?.is_none() {
        stdlib(py, intern!(py, "set_exception"), future, &[exception])?;
    }
    Ok(())
}

/// `future.cancel()`.
pub fn cancel(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<bool> {
    match fast_cancel(py, future)? {
        Some(cancelled) => Ok(cancelled),
        None => stdlib(py, intern!(py, "cancel"), future, &[])?.is_truthy(),
    }
}

/// `future.done()`.
pub fn done(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<bool> {
    match fast_state(py, future)? {
        Some(state) => Ok(state.is_done()),
        None => stdlib(py, intern!(py, "done"), future, &[])?.is_truthy(),
    }
}
