//! The `bytes` object handed to `data_received`, reused once the protocol
//! let go of it.
//!
//! A read makes one `bytes` object. Above 512 bytes CPython takes it from
//! `malloc`, and with glibc a 1 KiB chunk misses the thread cache: making
//! and freeing it cost about a third of the instructions of a 1 KiB echo
//! request, more than the rest of the transport. Most protocols do not keep
//! the object (they copy it into a buffer, parse it or write it back), so
//! when the transport holds the only reference after `data_received`
//! returned, it keeps the object and fills the next read into it.
//!
//! Nobody can tell: an object with one reference, which is ours, is
//! unreachable from Python code (CPython's own `_PyBytes_Resize` relies on
//! the same rule). Its cached hash is reset and its size set to the new
//! length. To bound the memory a shorter message can pin, an object is only
//! reused for a length between three quarters of its capacity and all of it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::gil_cell::GilCell;

/// A `bytes` object only the transport refers to, and the length it was
/// allocated for.
struct Spare {
    obj: Py<PyBytes>,
    capacity: usize,
}

/// One spare for the whole process: the GIL serialises reads, and reads of
/// one size tend to follow each other.
static SPARE: GilCell<Option<Spare>> = GilCell::new(None);

/// Data for `data_received`: a `bytes` copy of `data`, and the capacity to
/// hand back to [`recycle`].
pub(crate) struct Data {
    pub(crate) obj: Py<PyBytes>,
    capacity: usize,
}

fn fits(capacity: usize, len: usize) -> bool {
    len <= capacity && len >= capacity - capacity / 4
}

/// A `bytes` object holding `data`: the spare when it fits, else a new one.
/// `data` must not be empty (reads of 0 bytes are EOF and make no object).
pub(crate) fn bytes_for(py: Python<'_>, data: &[u8]) -> Data {
    let len = data.len();
    // SAFETY: the closure only moves the spare out or leaves it in place.
    let spare = unsafe {
        SPARE.with(py, |slot| {
            if slot.as_ref().is_some_and(|s| fits(s.capacity, len)) {
                slot.take()
            } else {
                None
            }
        })
    };
    let Some(spare) = spare else {
        return Data {
            obj: PyBytes::new(py, data).unbind(),
            capacity: len,
        };
    };
    let raw = spare.obj.as_ptr().cast::<ffi::PyBytesObject>();
    // SAFETY: the GIL is held and the object is an exact `bytes` that only `spare`
    // refers to (checked by `recycle`, and nothing can have taken a reference since: it
    // was unreachable), allocated for `capacity >= len` bytes plus the trailing NUL. So
    // writing `len` bytes and a NUL into `ob_sval`, shrinking `ob_size` and clearing the
    // cached hash (-1: not computed) changes an object nobody else can see.
    #[allow(deprecated)] // ob_shash: still the hash cache in CPython 3.11
    unsafe {
        let sval = std::ptr::addr_of_mut!((*raw).ob_sval).cast::<u8>();
        std::ptr::copy_nonoverlapping(data.as_ptr(), sval, len);
        *sval.add(len) = 0;
        (*raw).ob_shash = -1;
        (*raw).ob_base.ob_size = len as ffi::Py_ssize_t;
    }
    Data {
        obj: spare.obj,
        capacity: spare.capacity,
    }
}

/// Keeps `data` for the next read if the caller's reference is the only one.
pub(crate) fn recycle(py: Python<'_>, data: Data) {
    // SAFETY: reading the reference count of a live object we hold.
    if unsafe { ffi::Py_REFCNT(data.obj.as_ptr()) } != 1 {
        return;
    }
    let spare = Spare {
        obj: data.obj,
        capacity: data.capacity,
    };
    // SAFETY: the closure only swaps values; the previous spare is dropped after.
    let old = unsafe { SPARE.with(py, |slot| slot.replace(spare)) };
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::fits;

    #[test]
    fn reuse_is_bounded_to_a_quarter_of_waste() {
        assert!(fits(1024, 1024));
        assert!(fits(1024, 768));
        assert!(!fits(1024, 767));
        assert!(!fits(1024, 1025));
        assert!(fits(1, 1));
    }
}
