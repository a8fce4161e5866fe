//! Exclusive access to the reactor's state: a mutex, or, for a caller that
//! already serialises every access (CPython's GIL), an unchecked cell.
//!
//! A callback chain touches the state two or three times per callback; an
//! uncontended mutex costs two atomic read-modify-writes each time, which is
//! a tenth of a turn. Under the GIL the lock is pure overhead, so the binding
//! opts out of it through the `unsafe` constructor and takes on its contract.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

/// A value behind a mutex or behind an external serialisation guarantee.
pub(crate) enum Guarded<T> {
    Locked(Mutex<T>),
    External {
        cell: UnsafeCell<T>,
        busy: AtomicBool,
    },
}

// SAFETY: the `Locked` variant is Sync through its Mutex. The `External`
// variant is only built by `new_external`, whose caller guarantees that no two
// calls to `with` overlap (every access is serialised, e.g. by the GIL), so
// the `&mut T` handed out is never aliased and T only moves between threads
// while unaliased, which `T: Send` permits.
unsafe impl<T: Send> Sync for Guarded<T> {}

impl<T> Guarded<T> {
    pub(crate) fn new_locked(value: T) -> Self {
        Guarded::Locked(Mutex::new(value))
    }

    /// # Safety
    /// Calls to [`Guarded::with`] on the result must never overlap: not from
    /// two threads at once, and not re-entrantly from inside `f`.
    pub(crate) unsafe fn new_external(value: T) -> Self {
        Guarded::External {
            cell: UnsafeCell::new(value),
            busy: AtomicBool::new(false),
        }
    }

    /// Runs `f` with exclusive access to the value. `f` must not call back
    /// into anything that could reach this value again.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        match self {
            Guarded::Locked(m) => {
                // A poisoned lock only means a panic elsewhere; the queues are
                // left consistent by every operation, so keep going.
                let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut guard)
            }
            Guarded::External { cell, busy } => {
                debug_assert!(!busy.load(Relaxed), "overlapping access to reactor state");
                busy.store(true, Relaxed);
                // SAFETY: `new_external`'s contract: no other `with` call is running, so
                // this is the only reference to the value for the duration of `f`.
                let r = f(unsafe { &mut *cell.get() });
                busy.store(false, Relaxed);
                r
            }
        }
    }
}

impl<T> Guarded<T> {
    /// Like [`Guarded::with`], for a read (a length, a flag): the
    /// `External` variant leaves the busy flag alone, since nothing can
    /// interleave with `f` (two stores less, for a query the metered
    /// dispatch loop makes after every callback).
    #[inline]
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        match self {
            Guarded::Locked(m) => f(&m.lock().unwrap_or_else(|p| p.into_inner())),
            Guarded::External { cell, busy } => {
                debug_assert!(!busy.load(Relaxed), "overlapping access to reactor state");
                // SAFETY: `new_external`'s contract: no `with` call is running (they never
                // overlap with this one), so no `&mut` to the value exists while `f` reads.
                f(unsafe { &*cell.get() })
            }
        }
    }

    /// Like [`Guarded::with`], but gives up instead of waiting or overlapping
    /// when the value is in use (returns `None` then). For code that may run
    /// in the middle of another access, such as a garbage collector's visit.
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        match self {
            Guarded::Locked(m) => match m.try_lock() {
                Ok(guard) => Some(f(&guard)),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(f(&p.into_inner())),
                Err(std::sync::TryLockError::WouldBlock) => None,
            },
            Guarded::External { cell, busy } => {
                if busy.load(Relaxed) {
                    return None;
                }
                // SAFETY: `new_external`'s contract serialises calls, and no `with`
                // call is running (`busy` is clear), so nothing mutates the value while
                // this shared reference lives.
                Some(f(unsafe { &*cell.get() }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_variants_give_exclusive_access() {
        let locked = Guarded::new_locked(1);
        locked.with(|v| *v += 1);
        assert_eq!(locked.with(|v| *v), 2);
        // SAFETY: single-threaded, and no `with` call nests in this test.
        let external = unsafe { Guarded::new_external(vec![1]) };
        external.with(|v| v.push(2));
        assert_eq!(external.with(|v| v.clone()), vec![1, 2]);
        assert_eq!(external.try_with(|v| v.len()), Some(2));
        assert_eq!(locked.try_with(|v| *v), Some(2));
    }
}
