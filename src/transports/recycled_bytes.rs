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
//!
//! A large spare is read into directly ([`take_large`]), which also saves
//! copying the data out of the shared read buffer. Such a read asks at most
//! the spare's capacity; a read that fills it does not keep the object, so a
//! bulk transfer goes back to full-size reads instead of staying at the
//! spare's size.
//!
//! New objects of 4 KiB and more are allocated a little larger when their
//! length is within 64 bytes of a multiple of 4 KiB ([`capacity_for`]). Most
//! consumers copy the data (`StreamReader` extends its `bytearray`), often
//! into memory allocated right after ours. A `bytes` object's storage starts
//! 32 bytes into its allocation, so for such a length the copy's destination
//! lands 1 to 31 bytes past its source modulo 4 KiB, and there glibc's
//! `memcpy` (`rep movsb`) ran 25 times slower on the benchmark machine (AMD
//! EPYC): 66 us instead of 2.4 us for 100 KiB, every request of a 100 KiB
//! streams echo.

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

/// Data for `data_received`: a `bytes` object, and the capacity to hand
/// back to [`recycle`] (0: not to be kept).
pub(crate) struct Data {
    pub(crate) obj: Py<PyBytes>,
    capacity: usize,
}

impl Data {
    /// The number of bytes.
    pub(crate) fn len(&self, py: Python<'_>) -> usize {
        self.obj.bind(py).as_bytes().len()
    }
}

fn fits(capacity: usize, len: usize) -> bool {
    len <= capacity && len >= capacity - capacity / 4
}

/// The capacity to allocate for `len` bytes: `len`, plus 128 bytes when
/// `len` is within 64 bytes of a nonzero multiple of 4 KiB (see
/// the module notes: the copy of our data into a buffer allocated right
/// after it is slow for those lengths).
pub(crate) fn capacity_for(len: usize) -> usize {
    const PAGE: usize = 4096;
    const MARGIN: usize = 64;
    let r = len % PAGE;
    if len >= PAGE - MARGIN && !(MARGIN..=PAGE - MARGIN).contains(&r) {
        len + 2 * MARGIN
    } else {
        len
    }
}

/// A new `bytes` object holding `data`, allocated with [`capacity_for`].
pub(crate) fn new_bytes(py: Python<'_>, data: &[u8]) -> Py<PyBytes> {
    new_data(py, data).obj
}

/// [`new_bytes`], with the capacity to hand to [`recycle`].
fn new_data(py: Python<'_>, data: &[u8]) -> Data {
    let len = data.len();
    let capacity = capacity_for(len);
    if capacity == len {
        return Data {
            obj: PyBytes::new(py, data).unbind(),
            capacity: len,
        };
    }
    let size = ffi::Py_ssize_t::try_from(capacity).unwrap_or(ffi::Py_ssize_t::MAX);
    // SAFETY: a NULL source asks CPython for an uninitialised `bytes` of `size` bytes;
    // the result is a new reference to an exact `bytes` object, or NULL with an
    // exception set (handled below).
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))
    };
    let Ok(obj) = obj else {
        // Could not allocate the padded size: the exact one.
        return Data {
            obj: PyBytes::new(py, data).unbind(),
            capacity: len,
        };
    };
    // SAFETY: the object was just made with `capacity` bytes and nobody else refers to
    // it, which is what a `Spare` requires.
    let mut spare = Spare {
        obj: unsafe { obj.cast_into_unchecked::<PyBytes>() }.unbind(),
        capacity,
    };
    if let Some(dst) = spare.storage().get_mut(..len) {
        dst.copy_from_slice(data);
    }
    spare.into_data(len, capacity)
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
        return new_data(py, data);
    };
    let mut spare = spare;
    if let Some(dst) = spare.storage().get_mut(..len) {
        dst.copy_from_slice(data);
    }
    let capacity = spare.capacity;
    spare.into_data(len, capacity)
}

impl Spare {
    /// The address of the object's character storage.
    fn storage_addr(&self) -> usize {
        let raw = self.obj.as_ptr().cast::<ffi::PyBytesObject>();
        // SAFETY: only computes a field address inside a live object (no access).
        unsafe { std::ptr::addr_of!((*raw).ob_sval) as usize }
    }

    /// The object's character storage: `capacity` bytes, ours to write.
    fn storage(&mut self) -> &mut [u8] {
        let raw = self.obj.as_ptr().cast::<ffi::PyBytesObject>();
        // SAFETY: the object is an exact `bytes` that only this spare refers to
        // (checked by `recycle`; nothing can have taken a reference since, it was
        // unreachable), allocated for `capacity` bytes plus a trailing NUL after the
        // header. The `&mut self` borrow keeps this the only view of that storage, and
        // the GIL is held by whoever holds the spare (it is only reached through
        // `SPARE`), so no Python code can look at the object meanwhile.
        unsafe {
            let sval = std::ptr::addr_of_mut!((*raw).ob_sval).cast::<u8>();
            std::slice::from_raw_parts_mut(sval, self.capacity)
        }
    }

    /// Makes the object a valid `bytes` of its first `len` bytes.
    fn into_data(self, len: usize, keep_capacity: usize) -> Data {
        let len = len.min(self.capacity);
        let raw = self.obj.as_ptr().cast::<ffi::PyBytesObject>();
        // SAFETY: as in `storage`, nobody else can see the object; `len <= capacity`,
        // so the NUL goes into the allocation. Shrinking `ob_size` and clearing the
        // cached hash (-1: not computed) leave a consistent `bytes` object.
        #[allow(deprecated)] // ob_shash: still the hash cache in CPython 3.11
        unsafe {
            let sval = std::ptr::addr_of_mut!((*raw).ob_sval).cast::<u8>();
            *sval.add(len) = 0;
            (*raw).ob_shash = -1;
            (*raw).ob_base.ob_size = len as ffi::Py_ssize_t;
        }
        Data {
            obj: self.obj,
            capacity: keep_capacity,
        }
    }
}

/// A spare taken out of the slot to be read into directly.
pub(crate) struct Taken(Spare);

/// The spare, if its capacity is at least `min_capacity` and `good_start`
/// accepts the address of its storage.
pub(crate) fn take_large(
    py: Python<'_>,
    min_capacity: usize,
    good_start: impl Fn(usize) -> bool,
) -> Option<Taken> {
    // SAFETY: the closure only moves the spare out or leaves it in place.
    unsafe {
        SPARE.with(py, |slot| {
            if slot
                .as_ref()
                .is_some_and(|s| s.capacity >= min_capacity && good_start(s.storage_addr()))
            {
                slot.take().map(Taken)
            } else {
                None
            }
        })
    }
}

impl Taken {
    /// Where to read: the object's storage, its full capacity.
    pub(crate) fn storage(&mut self) -> &mut [u8] {
        self.0.storage()
    }

    /// The read put `len` bytes into the storage: the object itself when the
    /// length fits, else a copy (and the spare goes back for the next read).
    pub(crate) fn finish(self, py: Python<'_>, len: usize) -> Data {
        let capacity = self.0.capacity;
        if fits(capacity, len) {
            // A full read may have left more in the socket: do not keep the
            // object, so the next read of a bulk transfer asks for the full size.
            let keep = if len < capacity { capacity } else { 0 };
            return self.0.into_data(len, keep);
        }
        let mut spare = self.0;
        let data = new_data(py, spare.storage().get(..len).unwrap_or_default());
        put_back(py, spare);
        data
    }

    /// Nothing was read: the spare goes back for the next read.
    pub(crate) fn put_back(self, py: Python<'_>) {
        put_back(py, self.0);
    }
}

fn put_back(py: Python<'_>, spare: Spare) {
    // SAFETY: the closure only swaps values; whatever was in the slot is dropped after.
    let old = unsafe { SPARE.with(py, |slot| slot.replace(spare)) };
    drop(old);
}

/// Keeps `data` for the next read if the caller's reference is the only one.
pub(crate) fn recycle(py: Python<'_>, data: Data) {
    // SAFETY: reading the reference count of a live object we hold.
    if data.capacity == 0 || unsafe { ffi::Py_REFCNT(data.obj.as_ptr()) } != 1 {
        return;
    }
    put_back(
        py,
        Spare {
            obj: data.obj,
            capacity: data.capacity,
        },
    );
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

    #[test]
    fn lengths_near_a_4k_multiple_get_padding() {
        use super::capacity_for;
        assert_eq!(capacity_for(1024), 1024);
        assert_eq!(capacity_for(4095), 4095 + 128);
        assert_eq!(capacity_for(102_400), 102_400 + 128);
        assert_eq!(capacity_for(65_536 + 63), 65_536 + 63 + 128);
        assert_eq!(capacity_for(65_536 + 64), 65_536 + 64);
        assert_eq!(capacity_for(10_240), 10_240);
        assert_eq!(capacity_for(4096 - 64), 4096 - 64);
        // With glibc, the next chunk starts roundup16(capacity + 41) bytes after the
        // object: its distance from the data, modulo 4 KiB, is never 1..=31.
        for len in 4000..300_000 {
            let cs = (capacity_for(len) + 41).div_ceil(16) * 16;
            let d = (cs - 32) % 4096;
            assert!(!(1..=31).contains(&d), "len {len}: d {d}");
        }
    }
}
