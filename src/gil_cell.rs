//! A cell whose contents are only touched while holding the GIL.

use std::cell::UnsafeCell;

use pyo3::Python;

/// Interior mutability for frozen pyclasses, serialised by the GIL.
pub(crate) struct GilCell<T>(UnsafeCell<T>);

// SAFETY: every access goes through `with`, which demands a GIL token and whose
// contract forbids running Python code (the only way another thread could take the GIL,
// or this thread re-enter) while the `&mut T` is alive. So accesses never overlap, and
// `T: Send` lets the value be used from whichever thread holds the GIL.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        GilCell(UnsafeCell::new(value))
    }

    /// Runs `f` with exclusive access to the value.
    ///
    /// # Safety
    /// `f` must not run Python code or release the GIL: no calls into Python,
    /// no dropping of Python objects whose destructors could run code (take
    /// values out and drop them after `with` returns). Increments of
    /// reference counts (`clone_ref`) are fine.
    #[inline]
    pub(crate) unsafe fn with<R>(&self, _py: Python<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the GIL is held (the token proves it) and, by this function's
        // contract, nothing inside `f` can start another access; so this is the only
        // reference to the value while `f` runs.
        f(unsafe { &mut *self.0.get() })
    }
}

impl<T: Default> Default for GilCell<T> {
    fn default() -> Self {
        GilCell::new(T::default())
    }
}
