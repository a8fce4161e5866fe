//! The loop's clock: the monotonic clock, unless Python replaced `time`.
//!
//! asyncio asks `self.time()` which timers are due and what `call_later`'s
//! delay is relative to, so a program (or a test suite: aiohttp's freezes
//! time with `mock.patch.object(loop, "time")`) can drive the loop's timers
//! by replacing `time`, on the instance or in a subclass. oxloop reads the
//! clock in Rust. To see a replacement without looking `time` up on every
//! turn, the loop learns of one when it happens: `CoreLoop.__setattr__` and
//! `__delattr__` catch assignments to `time` on the instance, and
//! `Loop.__init__` asks for a subclass's own `time` ([`class_clock`]).
//! Unless one of these happened, the core reads the clock itself and the
//! check costs one load; `loop.time()` stays a plain method call.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::prelude::*;
use reactor::monotonic;

use crate::event_loop::CoreLoop;
use crate::gil_cell::GilCell;

/// The clock of one loop.
#[derive(Default)]
pub(crate) struct Clock {
    /// Whether `callable` holds a replacement (read on every turn, hence apart).
    replaced: AtomicBool,
    /// The zero-argument callable the loop calls instead of the monotonic clock.
    callable: GilCell<Option<Py<PyAny>>>,
}

impl Clock {
    /// The loop's time: `time.monotonic()`, or the replacement's result.
    #[inline]
    pub(crate) fn now(&self, py: Python<'_>) -> PyResult<f64> {
        match self.replaced_now(py)? {
            Some(t) => Ok(t),
            None => Ok(monotonic()),
        }
    }

    /// The replacement's time, or None when the monotonic clock is in use.
    #[inline]
    pub(crate) fn replaced_now(&self, py: Python<'_>) -> PyResult<Option<f64>> {
        if !self.replaced.load(Relaxed) {
            return Ok(None);
        }
        // SAFETY: the closure only increments a reference count.
        let callable = unsafe {
            self.callable
                .with(py, |c| c.as_ref().map(|f| f.clone_ref(py)))
        };
        match callable {
            Some(f) => f.bind(py).call0()?.extract().map(Some),
            None => Ok(None),
        }
    }

    /// Whether Python replaced the clock (timers are then due on its time).
    #[inline]
    pub(crate) fn is_replaced(&self) -> bool {
        self.replaced.load(Relaxed)
    }

    /// Replaces the clock (`None`: back to the monotonic clock).
    pub(crate) fn set(&self, py: Python<'_>, callable: Option<Py<PyAny>>) {
        self.replaced.store(callable.is_some(), Relaxed);
        // SAFETY: the closure only moves values; the displaced one is dropped after.
        let old = unsafe { self.callable.with(py, |c| std::mem::replace(c, callable)) };
        drop(old);
    }

    pub(crate) fn traverse(
        &self,
        py: Python<'_>,
        visit: &PyVisit<'_>,
    ) -> Result<(), PyTraverseError> {
        // SAFETY: the closure only hands a pointer to the collector's visit function.
        unsafe {
            self.callable
                .with(py, |c| c.as_ref().map_or(Ok(()), |f| visit.call(f)))
        }
    }
}

/// The clock `loop`'s class gives it: `loop.time` bound, if the class (a
/// subclass of `Loop`) has a `time` of its own; `None` for `CoreLoop.time`.
pub(crate) fn class_clock(slf: &Bound<'_, CoreLoop>) -> PyResult<Option<Py<PyAny>>> {
    let py = slf.py();
    let ours = py
        .get_type::<CoreLoop>()
        .getattr(pyo3::intern!(py, "time"))?;
    let theirs = slf.get_type().getattr(pyo3::intern!(py, "time"))?;
    if theirs.is(&ours) {
        return Ok(None);
    }
    // The instance may hold an assigned `time`: bind the class's own.
    Ok(Some(
        theirs
            .call_method1(pyo3::intern!(py, "__get__"), (slf, slf.get_type()))?
            .unbind(),
    ))
}
