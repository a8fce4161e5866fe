//! Allocation of plain `Handle` objects outside the garbage collector's
//! allocation count.
//!
//! Every PyO3 class is a GC type, so allocating one counts toward the
//! collector's threshold. Handles are untracked from birth (`handle.rs`): the
//! collector never walks them, yet a gather of 100k coroutines, which
//! allocates 100k step handles, triggered 15% more collections than a loop
//! whose handles are not GC types, one of them a full collection: the whole
//! of a 5% gap on that benchmark.
//!
//! [`install`] gives the `Handle` type an allocator that lays an object out
//! exactly as CPython's does for a GC type (a zeroed GC header, which reads
//! as "not tracked", in front of the zeroed object), without adding it to the
//! count. Freeing is unchanged (`PyObject_GC_Del`, which expects that
//! layout; up to 3.13 it takes a free off the count while the count is
//! positive, from 3.14 only a tracked object's). Subclasses (`TimerHandle`, Python subclasses)
//! keep CPython's allocator. The layout is only assumed where it is known:
//! CPython 3.11 to 3.15 with the GIL, whose GC header is two pointers and
//! which put nothing else in front of a type without a managed dict or
//! managed weak references; elsewhere (a newer version, a free-threaded
//! build, whose objects have no GC header) the type keeps its default
//! allocator.
//!
//! 3.13 to 3.15 used the default allocator until this was checked there
//! too: each handle from `PyType_GenericAlloc` counted toward a collection
//! although it is untracked at once, and with 100k pending tasks
//! (`gather_coros`) 3.15 ran 20% more collections than a loop whose handles
//! are not GC types and spent 55-65% more time in them (0.85x rloop's
//! speed; 1.07x with this allocator).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::PyTypeInfo;

use crate::handle::Handle;

/// Bytes in front of a GC object: `PyGC_Head`, two pointers on 3.11-3.15.
const GC_HEADER: usize = 2 * std::mem::size_of::<usize>();

/// `Py_TPFLAGS_MANAGED_DICT` (3.11+), `Py_TPFLAGS_MANAGED_WEAKREF` (3.12+)
/// and `Py_TPFLAGS_INLINE_VALUES` (3.13+): a type with any of them has more
/// in front, or inside.
const MORE_LAYOUT: std::os::raw::c_ulong = (1 << 4) | (1 << 3) | (1 << 2);

/// The versions whose layout is known (see the module notes).
const KNOWN_MINORS: std::ops::RangeInclusive<u8> = 11..=15;

/// The exact `Handle` type object, once `install` ran.
static HANDLE_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(ptr::null_mut());

/// Replaces `Handle`'s `tp_alloc` where the layout above is known to hold.
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let version = py.version_info();
    if version.major != 3 || !KNOWN_MINORS.contains(&version.minor) || free_threaded(py)? {
        return Ok(());
    }
    let tp = Handle::type_object_raw(py);
    // SAFETY: `tp` is the live, fully built type object of `Handle` (the GIL is held);
    // its slots are read, and `tp_alloc` written, before any handle exists.
    unsafe {
        let expected_free = ffi::PyObject_GC_Del as *mut std::os::raw::c_void;
        let fits = (*tp).tp_itemsize == 0
            && (*tp).tp_flags & ffi::Py_TPFLAGS_HAVE_GC != 0
            && (*tp).tp_flags & MORE_LAYOUT == 0
            && (*tp).tp_free.map(|f| f as *mut std::os::raw::c_void) == Some(expected_free);
        if !fits {
            return Ok(());
        }
        HANDLE_TYPE.store(tp, Relaxed);
        (*tp).tp_alloc = Some(alloc_uncounted);
    }
    Ok(())
}

/// Whether this may be a free-threaded build ("t" in `sys.abiflags`), whose
/// objects carry their GC state in the object header instead. Without
/// `sys.abiflags` (not a POSIX build) the answer is yes: the layout is then
/// not known, and the type keeps its default allocator.
fn free_threaded(py: Python<'_>) -> PyResult<bool> {
    let flags = match py.import("sys")?.getattr("abiflags") {
        Ok(flags) => flags,
        Err(_) => return Ok(true),
    };
    Ok(flags.extract::<String>().map_or(true, |f| f.contains('t')))
}

/// `tp_alloc` for `Handle`: CPython's layout for a GC object, not tracked,
/// and not counted toward a collection.
///
/// # Safety
/// Called by CPython as a `tp_alloc` slot, with the GIL held.
unsafe extern "C" fn alloc_uncounted(
    subtype: *mut ffi::PyTypeObject,
    nitems: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    if nitems != 0 || subtype != HANDLE_TYPE.load(Relaxed) {
        // SAFETY: forwarding CPython's own call to its generic allocator.
        return unsafe { ffi::PyType_GenericAlloc(subtype, nitems) };
    }
    // SAFETY: `subtype` is the live `Handle` type (checked above); the block is
    // allocated with the object allocator `PyObject_GC_Del` frees with, zeroed like
    // CPython's allocator zeroes it (a zero GC header reads as not tracked), and the
    // object part is initialised by `PyObject_Init` (type, reference count).
    unsafe {
        let Ok(basic) = usize::try_from((*subtype).tp_basicsize) else {
            return ffi::PyErr_NoMemory();
        };
        let size = GC_HEADER + basic;
        let mem = ffi::PyObject_Malloc(size).cast::<u8>();
        if mem.is_null() {
            return ffi::PyErr_NoMemory();
        }
        ptr::write_bytes(mem, 0, size);
        let obj = mem.add(GC_HEADER).cast::<ffi::PyObject>();
        ffi::PyObject_Init(obj, subtype)
    }
}
