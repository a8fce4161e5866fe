//! `Handle` and `TimerHandle`: a callback, its arguments and the context to
//! run it in, as returned by `call_soon`, `call_later` and `call_at`.
//!
//! Invariants:
//! - a handle is immutable but for its `cancelled` flag and its callback,
//!   which it lets go of once it can never run again (after a one-shot handle
//!   ran, or on cancel), so the dispatch loop needs no borrow bookkeeping;
//! - plain handles are not tracked by the garbage collector: hundreds of
//!   thousands can be pending at once, and tracking them made every
//!   collection walk them all. Letting go of the callback is what keeps the
//!   usual cycle (`obj._timer = loop.call_later(d, obj.method)`) from
//!   outliving its use, and the loop's own traversal visits the contents of
//!   the handles only it holds, so an unclosed loop whose pending callbacks
//!   refer back to it can still be collected. Timer handles are tracked:
//!   they are usually also held by their caller (`asyncio.sleep` keeps its
//!   timer in a local), and the collector must see those edges;
//! - handles are only made by the loop; Python cannot construct one;
//! - a plain one-shot handle that nobody but the loop refers to once it ran
//!   is recycled for the next `call_soon` (`reinit`/`retire`): nobody can
//!   tell it is the same object, and allocation was a tenth of a turn;
//! - a timer handle knows its reactor weakly, so cancelling it can count it
//!   for compaction without keeping a dead loop alive.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Weak;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

use crate::empty_context::{is_empty, new_empty_context, EmptyContext};
use crate::event_loop::PyReactor;
use crate::gil_cell::GilCell;

static FORMAT_CALLBACK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The context a handle runs in.
enum CallContext {
    /// None: the handle is retired.
    Gone,
    /// Given by the caller (`context=`), or handed out by `get_context()`:
    /// others may hold it. Tracked by the collector.
    Shared(Py<PyAny>),
    /// A copy of the caller's context that only this handle refers to, kept
    /// off the collector's list (a pending batch of 200k callbacks would
    /// otherwise add 200k objects for every full collection to walk). Nothing
    /// can hold it in a reference cycle while it is private; it is tracked
    /// again before it is shared or released. Only done when the loop is
    /// crowded: with a few callbacks pending, the collector's walk is short
    /// and the untrack/track pair would cost more than it saves.
    Private(Py<PyAny>),
    /// The caller's context held no variables, and the loop was crowded: the
    /// handle runs in the loop's reusable empty context (`empty_context.rs`).
    Empty,
    /// The loop's empty context, lent to an `Empty` handle while it runs.
    Lent(Py<PyAny>),
}

impl CallContext {
    /// A copy of the current context, as asyncio makes for `context=None`.
    fn copy_current(py: Python<'_>, crowded: bool) -> PyResult<Self> {
        // SAFETY: the GIL is held; PyContext_CopyCurrent returns a new reference
        // (a tracked container) or NULL with an exception set.
        let ctx = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
        if !crowded {
            // With few callbacks pending the copy stays in CPython's small free list
            // of contexts, and keeping it is cheaper than lending the loop's.
            return Ok(CallContext::Shared(ctx.unbind()));
        }
        if is_empty(py, &ctx) {
            // The copy goes straight back to CPython's context free list.
            return Ok(CallContext::Empty);
        }
        // SAFETY: `ctx` is a live, tracked container only we refer to. Untracking it is
        // undone before anyone else can see it and before our reference goes
        // (`retrack`), so CPython's dealloc always finds it tracked.
        unsafe { ffi::PyObject_GC_UnTrack(ctx.as_ptr().cast()) };
        Ok(CallContext::Private(ctx.unbind()))
    }

    /// Turns a private copy (put back on the collector's list) or a lent
    /// context into `Shared`: it is about to be shared, or released.
    fn retrack(&mut self) {
        match std::mem::replace(self, CallContext::Gone) {
            CallContext::Private(ctx) => {
                let ptr = ctx.as_ptr();
                // SAFETY: callers hold the GIL (every path reaches here from a Python
                // method or a dealloc); `ptr` is a live context object that
                // `copy_current` untracked; it is tracked only if it is not already,
                // since tracking a tracked object aborts.
                unsafe {
                    if ffi::PyObject_GC_IsTracked(ptr) == 0 {
                        ffi::PyObject_GC_Track(ptr.cast());
                    }
                }
                *self = CallContext::Shared(ctx);
            }
            CallContext::Lent(ctx) => *self = CallContext::Shared(ctx),
            other => *self = other,
        }
    }

    /// The context for a new call: `context` when given, else a copy of
    /// the current context, as asyncio does.
    fn for_call(
        py: Python<'_>,
        context: Option<Bound<'_, PyAny>>,
        crowded: bool,
    ) -> PyResult<Self> {
        match context {
            Some(c) if !c.is_none() => Ok(CallContext::Shared(c.unbind())),
            _ => CallContext::copy_current(py, crowded),
        }
    }

    /// Lets go of the context (a private copy goes back on the collector's
    /// list first, as CPython's dealloc expects). The GIL must be held.
    fn release(mut self) {
        self.retrack();
    }

    /// The context to run in: `None` for `Empty` (the loop lends its own).
    fn for_run(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match self {
            CallContext::Shared(ctx) | CallContext::Private(ctx) | CallContext::Lent(ctx) => {
                Some(ctx.clone_ref(py))
            }
            CallContext::Empty | CallContext::Gone => None,
        }
    }
}

/// What a handle holds; a recycled handle gets new values field by field
/// (`Handle::reinit`, `Handle::retire`).
struct Parts {
    /// `callback(*args)`, until the handle can never run again.
    call: Option<(Py<PyAny>, Py<PyTuple>)>,
    /// The context to run in.
    context: CallContext,
    /// Debug mode's extras, boxed so that handles made outside debug mode
    /// stay small.
    debug: Option<Box<DebugInfo>>,
}

/// What a handle made in debug mode also holds.
struct DebugInfo {
    /// Where the handle was made.
    source_traceback: Py<PyAny>,
    /// The callback's description, kept for `repr()` once the handle is
    /// cancelled (asyncio keeps showing it there).
    cancelled_source: Option<String>,
}

impl Parts {
    /// The parts for `callback(*args)` in `context`, or in a copy of the
    /// current context when `context` is `None`, as asyncio does.
    fn new(
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        source_traceback: Option<Py<PyAny>>,
        crowded: bool,
    ) -> PyResult<Self> {
        let context = CallContext::for_call(py, context, crowded)?;
        Ok(Parts {
            call: Some((callback.unbind(), args.unbind())),
            context,
            debug: source_traceback.map(|source_traceback| {
                Box::new(DebugInfo {
                    source_traceback,
                    cancelled_source: None,
                })
            }),
        })
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        // Our reference to the context is about to go: CPython's dealloc expects a
        // tracked object. Parts are dropped with the GIL held (see `retrack`).
        self.context.retrack();
    }
}

/// A scheduled callback.
#[pyclass(subclass, frozen, weakref, module = "oxloop._core", name = "Handle")]
pub struct Handle {
    parts: GilCell<Parts>,
    cancelled: AtomicBool,
    /// False for reader/writer handles, which run on every readiness.
    one_shot: bool,
    timer_of: Option<Weak<PyReactor>>,
}

/// A handle as the reactor holds it (a newtype, so it can implement the
/// reactor's trait).
pub struct HandleRef(pub Py<Handle>);

impl reactor::Handler for HandleRef {
    fn is_cancelled(&self) -> bool {
        self.0.get().cancelled.load(Relaxed)
    }
}

impl Handle {
    /// A handle for `callback(*args)` in `context`, or in a copy of the
    /// current context when `context` is `None`, as asyncio does.
    pub(crate) fn new(
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        source_traceback: Option<Py<PyAny>>,
        crowded: bool,
    ) -> PyResult<Self> {
        let parts = Parts::new(py, callback, args, context, source_traceback, crowded)?;
        Ok(Handle {
            parts: GilCell::new(parts),
            cancelled: AtomicBool::new(false),
            one_shot: true,
            timer_of: None,
        })
    }

    /// Gives a retired handle a new callback: the recycling half of `new`.
    pub(crate) fn reinit(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        source_traceback: Option<Py<PyAny>>,
        crowded: bool,
    ) -> PyResult<()> {
        let context = CallContext::for_call(py, context, crowded)?;
        let call = Some((callback.unbind(), args.unbind()));
        let debug = source_traceback.map(|source_traceback| {
            Box::new(DebugInfo {
                source_traceback,
                cancelled_source: None,
            })
        });
        // Field by field, not a new `Parts`: a whole `Parts` dropped costs more
        // than the three (usually empty) old values. They are dropped after the
        // closure, since dropping may run Python code.
        // SAFETY: the closure only swaps values.
        let (old_call, old_context, old_debug) = unsafe {
            self.parts.with(py, |p| {
                (
                    std::mem::replace(&mut p.call, call),
                    std::mem::replace(&mut p.context, context),
                    std::mem::replace(&mut p.debug, debug),
                )
            })
        };
        old_context.release();
        drop(old_call);
        drop(old_debug);
        self.cancelled.store(false, Relaxed);
        Ok(())
    }

    /// Visits the Python objects the handle holds, for the garbage collector.
    fn visit_parts(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // SAFETY: the collector runs traversals with the GIL held.
        let py = unsafe { Python::assume_attached() };
        // SAFETY: the closure only hands pointers to the collector's visit function,
        // which runs no Python code and does not touch the handle.
        unsafe {
            self.parts.with(py, |p| {
                if let Some((f, a)) = &p.call {
                    visit.call(f)?;
                    visit.call(a)?;
                }
                if let CallContext::Shared(c) | CallContext::Lent(c) = &p.context {
                    visit.call(c)?;
                }
                if let Some(d) = &p.debug {
                    visit.call(&d.source_traceback)?;
                }
                Ok(())
            })
        }
    }

    /// For the loop's traversal: visits what a handle the loop holds refers
    /// to, on the handle's behalf.
    /// - A tracked handle (a timer handle) is visited itself: the collector
    ///   traverses it.
    /// - An untracked handle is invisible to the collector, so its contents
    ///   are visited, but only when the loop's reference is the only one:
    ///   then the handle is reachable exactly when the loop is. One that is
    ///   also held elsewhere is skipped (its contents then count as held
    ///   from outside, which is safe).
    pub(crate) fn visit_held(slf: &Py<Handle>, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        let ptr = slf.as_ptr();
        // SAFETY: `slf` is a live object; reading its tracking state and reference
        // count has no side effects.
        let (tracked, refcnt) =
            unsafe { (ffi::PyObject_GC_IsTracked(ptr) != 0, ffi::Py_REFCNT(ptr)) };
        if tracked {
            visit.call(slf)
        } else if refcnt == 1 {
            slf.get().visit_parts(visit)
        } else {
            Ok(())
        }
    }

    /// Whether the loop may recycle this handle now that it ran: a plain
    /// one-shot handle that nothing else refers to, not even weakly (a weak
    /// reference must see the handle die, not come back as another).
    pub(crate) fn is_recyclable(slf: &Py<Handle>) -> bool {
        let h = slf.get();
        let ptr = slf.as_ptr();
        // SAFETY: reading the reference count of a live object we hold.
        h.one_shot && h.timer_of.is_none() && unsafe { ffi::Py_REFCNT(ptr) } == 1 && {
            // SAFETY: `Handle` is declared `weakref`, so its type (and any subclass)
            // has a weak-reference list pointer at `tp_weaklistoffset` (> 0) inside
            // the live object; reading it has no side effects.
            unsafe {
                let offset = (*ffi::Py_TYPE(ptr)).tp_weaklistoffset;
                offset <= 0
                    || (*ptr.cast::<u8>().offset(offset).cast::<*mut ffi::PyObject>()).is_null()
            }
        }
    }

    /// Drops everything the handle holds, before it waits for reuse
    /// (inlined for the same reason as `run`).
    #[inline(always)]
    pub(crate) fn retire(&self, py: Python<'_>) {
        // SAFETY: the closure only moves values out; they are dropped afterwards.
        let (call, context, debug) = unsafe {
            self.parts.with(py, |p| {
                (
                    p.call.take(),
                    std::mem::replace(&mut p.context, CallContext::Gone),
                    p.debug.take(),
                )
            })
        };
        context.release();
        drop(call);
        drop(debug);
    }

    /// Marks the handle as one that runs each time its fd is ready.
    pub(crate) fn repeating(mut self) -> Self {
        self.one_shot = false;
        self
    }

    /// Whether the handle runs once (everything but readers and writers).
    pub(crate) fn is_one_shot(&self) -> bool {
        self.one_shot
    }

    /// The callback and its arguments, while the handle holds them.
    pub(crate) fn call_parts(&self, py: Python<'_>) -> Option<(Py<PyAny>, Py<PyTuple>)> {
        // SAFETY: the closure only increments reference counts.
        unsafe {
            self.parts.with(py, |p| {
                p.call
                    .as_ref()
                    .map(|(f, a)| (f.clone_ref(py), a.clone_ref(py)))
            })
        }
    }

    /// The context, shared: from here on others may hold it. A handle that
    /// would run in the loop's empty context gets an empty one of its own.
    fn shared_context(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // SAFETY: the closure only reads a discriminant.
        let empty = unsafe {
            self.parts
                .with(py, |p| matches!(p.context, CallContext::Empty))
        };
        // Made outside the cell: allocating can run the collector, hence Python code.
        let own = if empty {
            Some(new_empty_context(py)?)
        } else {
            None
        };
        // SAFETY: the closure only moves values, changes GC tracking and increments a
        // reference count; an unused `own` is handed back and dropped after.
        let (ctx, unused) = unsafe {
            self.parts.with(py, |p| {
                let mut own = own;
                if matches!(p.context, CallContext::Empty) {
                    if let Some(c) = own.take() {
                        p.context = CallContext::Shared(c);
                    }
                }
                p.context.retrack();
                let ctx = match &p.context {
                    CallContext::Shared(c) => Some(c.clone_ref(py)),
                    _ => None,
                };
                (ctx, own)
            })
        };
        drop(unused);
        Ok(ctx)
    }

    /// Lets go of the callback and its arguments: the handle will not run
    /// again. They are dropped after the cell is released, since dropping
    /// can run arbitrary code.
    pub(crate) fn release(&self, py: Python<'_>) {
        // SAFETY: the closure only moves the value out; it is dropped afterwards.
        let taken = unsafe { self.parts.with(py, |p| p.call.take()) };
        drop(taken);
    }

    /// Whether this is a `TimerHandle`'s base.
    pub(crate) fn is_timer(&self) -> bool {
        self.timer_of.is_some()
    }

    /// Marks the handle as a timer of `reactor`.
    pub(crate) fn for_timer(mut self, reactor: Weak<PyReactor>) -> Self {
        self.timer_of = Some(reactor);
        self
    }

    /// The flag `cancel()` sets.
    pub(crate) fn cancel_flag(&self) -> &AtomicBool {
        &self.cancelled
    }

    /// Whether `cancel()` was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Relaxed)
    }

    /// Runs the callback inside its context. The error, if any, is the
    /// callback's own (or the context's, if it is already entered elsewhere).
    /// A handle that let go of its callback does nothing.
    ///
    /// With `take`, the handle gives up its callback for the call (the
    /// dispatch loop's fast path for one-shot handles) and gets it back only
    /// if the call failed, so the error report can show it.
    /// A handle whose caller's context was empty runs in `empty`.
    /// With `KEEP`, a callback taken for a call that succeeded is handed to
    /// `kept` instead of dropped (metrics name slow callbacks after the fact).
    ///
    /// Inlined into both dispatch variants (`run_batch`), as it was into
    /// the one before metrics: called out of line it cost ~70 instructions per
    /// callback in a `call_soon` chain.
    #[inline(always)]
    pub(crate) fn run<const KEEP: bool>(
        &self,
        py: Python<'_>,
        take: bool,
        empty: &EmptyContext,
        kept: &mut Option<Py<PyAny>>,
    ) -> PyResult<()> {
        // SAFETY: the closure only moves the callback out (or increments reference
        // counts) and increments the context's reference count.
        let (call, context) = unsafe {
            self.parts.with(py, |p| {
                let call = if take {
                    p.call.take()
                } else {
                    p.call
                        .as_ref()
                        .map(|(f, a)| (f.clone_ref(py), a.clone_ref(py)))
                };
                (call, p.context.for_run(py))
            })
        };
        let Some((callback, args)) = call else {
            return Ok(());
        };
        let outcome = match context {
            Some(context) => call_in_context(py, &context, &callback, &args),
            None => self.run_in_lent_context(py, &callback, &args, empty),
        };
        if take && outcome.is_err() {
            let call = Some((callback, args));
            // SAFETY: the closure only moves values; what it hands back is dropped after.
            let leftover = unsafe {
                self.parts.with(py, |p| {
                    if p.call.is_none() {
                        std::mem::replace(&mut p.call, call)
                    } else {
                        call
                    }
                })
            };
            drop(leftover);
        } else if KEEP && take {
            *kept = Some(callback);
        }
        outcome
    }

    /// Runs an `Empty` handle's callback in the loop's empty context, lent for
    /// the call. The handle keeps the context if the callback left a variable
    /// set in it, or if it was handed out (`get_context()`) meanwhile;
    /// otherwise the loop takes it back for the next callback. Inlined like
    /// `run` (out of line: ~30 instructions more per crowded callback).
    #[inline(always)]
    fn run_in_lent_context(
        &self,
        py: Python<'_>,
        callback: &Py<PyAny>,
        args: &Py<PyTuple>,
        empty: &EmptyContext,
    ) -> PyResult<()> {
        let ctx = empty.lend(py)?;
        let lent = ctx.clone_ref(py);
        // SAFETY: the closure only moves values; what it hands back is dropped after.
        let refused = unsafe {
            self.parts.with(py, |p| {
                if matches!(p.context, CallContext::Empty) {
                    p.context = CallContext::Lent(lent);
                    None
                } else {
                    Some(lent)
                }
            })
        };
        if let Some(lent) = refused {
            // Code run by the allocation above gave the handle a context of its
            // own (`get_context()`): run in that one.
            drop(lent);
            empty.give_back(py, ctx);
            // SAFETY: the closure only increments a reference count.
            let own = unsafe { self.parts.with(py, |p| p.context.for_run(py)) };
            return match own {
                Some(own) => call_in_context(py, &own, callback, args),
                None => Ok(()),
            };
        }
        let outcome = call_in_context(py, &ctx, callback, args);
        let still_empty = is_empty(py, ctx.bind(py));
        // SAFETY: the closure only moves values; the returned context is given back
        // to the loop (or dropped) after.
        let returned = unsafe {
            self.parts.with(py, |p| {
                match std::mem::replace(&mut p.context, CallContext::Gone) {
                    CallContext::Lent(c) if still_empty => {
                        p.context = CallContext::Empty;
                        Some(c)
                    }
                    CallContext::Lent(c) => {
                        p.context = CallContext::Shared(c);
                        None
                    }
                    other => {
                        p.context = other;
                        None
                    }
                }
            })
        };
        if let Some(c) = returned {
            drop(c);
            empty.give_back(py, ctx);
        }
        outcome
    }

    fn callback_source(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let Some((callback, args)) = self.call_parts(py) else {
            return Ok(None);
        };
        let f = FORMAT_CALLBACK.get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("asyncio.format_helpers")?
                    .getattr("_format_callback_source")?
                    .unbind(),
            )
        })?;
        f.bind(py).call1((callback, args))?.extract().map(Some)
    }

    fn source_traceback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        // SAFETY: the closure only increments a reference count.
        unsafe {
            self.parts.with(py, |p| {
                p.debug.as_ref().map(|d| d.source_traceback.clone_ref(py))
            })
        }
    }

    fn repr_info(&self, py: Python<'_>, class: &str, when: Option<f64>) -> PyResult<String> {
        let mut parts: Vec<String> = vec![class.to_owned()];
        if self.is_cancelled() {
            parts.push("cancelled".to_owned());
        }
        if let Some(w) = when {
            parts.push(format!("when={}", py_float_repr(py, w)?));
        }
        if let Some(source) = self.callback_source(py)? {
            parts.push(source);
        } else {
            // SAFETY: the closure only clones a Rust string.
            let kept = unsafe {
                self.parts.with(py, |p| {
                    p.debug.as_ref().and_then(|d| d.cancelled_source.clone())
                })
            };
            parts.extend(kept);
        }
        if let Some(tb) = self.source_traceback(py) {
            let tb = tb.bind(py);
            if let Ok(last) = tb.get_item(-1) {
                let file: String = last.get_item(0)?.extract()?;
                let line: String = last.get_item(1)?.str()?.extract()?;
                parts.push(format!("created at {file}:{line}"));
            }
        }
        Ok(format!("<{}>", parts.join(" ")))
    }
}

/// Calls `callback(*args)` with `context` entered.
fn call_in_context(
    py: Python<'_>,
    context: &Py<PyAny>,
    callback: &Py<PyAny>,
    args: &Py<PyTuple>,
) -> PyResult<()> {
    let ctx = context.as_ptr();
    // SAFETY: the GIL is held; `ctx` is a live object (PyContext_Enter type-checks it
    // and fails cleanly if it is not a Context), `callback` and `args` are live and
    // owned by the caller, and `args` is a tuple. The new reference returned by the
    // call is released, and any error is fetched before the next C API call.
    unsafe {
        if ffi::PyContext_Enter(ctx) < 0 {
            return Err(PyErr::fetch(py));
        }
        let res = ffi::PyObject_Call(callback.as_ptr(), args.as_ptr(), std::ptr::null_mut());
        let outcome = if res.is_null() {
            Err(PyErr::fetch(py))
        } else {
            ffi::Py_DECREF(res);
            Ok(())
        };
        if ffi::PyContext_Exit(ctx) < 0 {
            let exit_err = PyErr::fetch(py);
            return outcome.and(Err(exit_err));
        }
        outcome
    }
}

fn py_float_repr(py: Python<'_>, v: f64) -> PyResult<String> {
    pyo3::types::PyFloat::new(py, v).repr()?.extract()
}

#[pymethods]
impl Handle {
    #[new]
    fn py_new() -> PyResult<Self> {
        Err(PyRuntimeError::new_err(
            "Handle objects are created by the event loop, not directly",
        ))
    }

    /// Cancels the callback; a cancelled handle never runs. It lets go of
    /// the callback (breaking `obj -> handle -> obj.method` cycles, which the
    /// GC cannot see through an untracked handle); a handle made in debug
    /// mode keeps its callback's description for `repr()`, as asyncio does.
    fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        if !self.cancelled.swap(true, Relaxed) {
            if let Some(r) = self.timer_of.as_ref().and_then(Weak::upgrade) {
                r.timer_cancelled();
            }
            // SAFETY: the closure only reads a flag.
            let debug_made = unsafe { self.parts.with(py, |p| p.debug.is_some()) };
            if debug_made {
                let source = self.callback_source(py)?;
                // SAFETY: the closure only stores a Rust string.
                unsafe {
                    self.parts.with(py, |p| {
                        if let Some(d) = p.debug.as_mut() {
                            d.cancelled_source = source;
                        }
                    })
                };
            }
            self.release(py);
        }
        Ok(())
    }

    fn cancelled(&self) -> PyResult<bool> {
        Ok(self.is_cancelled())
    }

    /// Only timer handles are tracked (see the module notes); the loop visits
    /// the contents of the plain handles it alone holds (`visit_held`).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.visit_parts(&visit)
    }

    fn get_context(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.shared_context(py)
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.call_parts(py).map(|(f, _)| f))
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> PyResult<Option<Py<PyTuple>>> {
        Ok(self.call_parts(py).map(|(_, a)| a))
    }

    #[getter]
    fn _context(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.shared_context(py)
    }

    #[getter]
    fn _cancelled(&self) -> PyResult<bool> {
        Ok(self.is_cancelled())
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.source_traceback(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.repr_info(py, "Handle", None)
    }
}

/// A callback scheduled for a point in time (`call_later`, `call_at`).
#[pyclass(extends = Handle, frozen, module = "oxloop._core", name = "TimerHandle")]
pub struct TimerHandle {
    when: f64,
}

impl TimerHandle {
    pub(crate) fn new(when: f64) -> Self {
        TimerHandle { when }
    }

    /// The loop time at which the callback is due.
    pub(crate) fn when_due(&self) -> f64 {
        self.when
    }
}

#[pymethods]
impl TimerHandle {
    #[new]
    fn py_new() -> PyResult<PyClassInitializer<Self>> {
        Err(PyRuntimeError::new_err(
            "TimerHandle objects are created by the event loop, not directly",
        ))
    }

    /// The absolute loop time at which the callback is due.
    fn when(&self) -> PyResult<f64> {
        Ok(self.when)
    }

    #[getter]
    fn _when(&self) -> PyResult<f64> {
        Ok(self.when)
    }

    #[getter]
    fn _scheduled(slf: &Bound<'_, Self>) -> PyResult<bool> {
        Ok(!slf.as_super().get().is_cancelled())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let when = slf.get().when;
        slf.as_super()
            .get()
            .repr_info(slf.py(), "TimerHandle", Some(when))
    }

    fn __hash__(&self) -> PyResult<isize> {
        Ok(self.when.to_bits() as isize)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other_t) = other.cast::<TimerHandle>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (slf.get().when, other_t.get().when);
        let same = slf.is(other);
        let r = match op {
            CompareOp::Lt => a < b,
            CompareOp::Le => a < b || same || a == b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a > b || same || a == b,
            CompareOp::Eq => same,
            CompareOp::Ne => !same,
        };
        Ok(pyo3::types::PyBool::new(py, r)
            .to_owned()
            .into_any()
            .unbind())
    }
}
