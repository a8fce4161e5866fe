//! Peer addresses of a datagram transport: the kernel's `sockaddr` on one
//! side, the Python object `datagram_received` gets and `sendto` takes on
//! the other.
//!
//! The socket module builds a new address tuple (and its host string) for
//! every datagram it receives, and parses the tuple back into a `sockaddr`
//! for every datagram it sends. A UDP server mostly talks to the same few
//! peers, and an echo answers to the very tuple it was given. So each
//! transport remembers the last [`CAPACITY`] peers, both ways: a datagram
//! from a known peer gets the same tuple (tuples are immutable, so sharing
//! one is invisible), and `sendto` given one of those tuples (the same
//! object) reuses its `sockaddr`. Any other address goes through the socket
//! object, as in asyncio.
//!
//! Only `AF_INET` and `AF_INET6` addresses are built here, as the socket
//! module builds them: `(host, port)` and `(host, port, flowinfo,
//! scope_id)`, the host by `inet_ntop` (without a `%scope` suffix, as since
//! Python 3.7).

use std::mem::{size_of, zeroed};

use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

/// Peers remembered per transport.
pub(crate) const CAPACITY: usize = 16;

/// A socket address as the kernel gives and takes it.
#[derive(Clone, Copy)]
pub(crate) struct RawAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl RawAddr {
    /// An empty address, for `recvfrom` to fill.
    pub(crate) fn empty() -> Self {
        RawAddr {
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    fn v4(&self) -> Option<&libc::sockaddr_in> {
        let fits = self.len as usize >= size_of::<libc::sockaddr_in>();
        // SAFETY: an AF_INET address of at least sockaddr_in's size is a sockaddr_in;
        // sockaddr_storage is large and aligned enough for any address type.
        (self.family() == libc::AF_INET && fits)
            .then(|| unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) })
    }

    fn v6(&self) -> Option<&libc::sockaddr_in6> {
        let fits = self.len as usize >= size_of::<libc::sockaddr_in6>();
        // SAFETY: as in `v4`, for AF_INET6 and sockaddr_in6.
        (self.family() == libc::AF_INET6 && fits)
            .then(|| unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) })
    }

    /// Whether both name the same peer (every field the Python address has).
    fn same_peer(&self, other: &RawAddr) -> bool {
        match (self.v4(), other.v4(), self.v6(), other.v6()) {
            (Some(a), Some(b), _, _) => {
                a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr
            }
            (_, _, Some(a), Some(b)) => {
                a.sin6_port == b.sin6_port
                    && a.sin6_addr.s6_addr == b.sin6_addr.s6_addr
                    && a.sin6_flowinfo == b.sin6_flowinfo
                    && a.sin6_scope_id == b.sin6_scope_id
            }
            _ => false,
        }
    }

    /// The Python address, as the socket module makes it; `None` for a
    /// family built only by the socket module.
    fn python_address<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(a) = self.v4() {
            let host = ntop(py, libc::AF_INET, &a.sin_addr as *const _ as *const _)?;
            let port = u16::from_be(a.sin_port);
            return Ok(Some(
                PyTuple::new(py, [host, port.into_pyobject(py)?.into_any()])?.into_any(),
            ));
        }
        if let Some(a) = self.v6() {
            let host = ntop(py, libc::AF_INET6, &a.sin6_addr as *const _ as *const _)?;
            let items = [
                host,
                u16::from_be(a.sin6_port).into_pyobject(py)?.into_any(),
                u32::from_be(a.sin6_flowinfo).into_pyobject(py)?.into_any(),
                a.sin6_scope_id.into_pyobject(py)?.into_any(),
            ];
            return Ok(Some(PyTuple::new(py, items)?.into_any()));
        }
        Ok(None)
    }
}

extern "C" {
    /// The C library's `inet_ntop` (which the `libc` crate does not declare):
    /// the function the socket module formats hosts with.
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// `inet_ntop(family, addr)` as a Python string.
fn ntop<'py>(
    py: Python<'py>,
    family: i32,
    addr: *const libc::c_void,
) -> PyResult<Bound<'py, PyAny>> {
    let mut text = [0 as libc::c_char; 64];
    // SAFETY: `addr` points to an in_addr (AF_INET) or in6_addr (AF_INET6) inside a
    // live sockaddr; `text` has room for the longest address (46 bytes with the NUL).
    let made = unsafe { inet_ntop(family, addr, text.as_mut_ptr(), text.len() as _) };
    if made.is_null() {
        return Err(crate::errors::os_error(std::io::Error::last_os_error()));
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string into `text`.
    let s = unsafe { std::ffi::CStr::from_ptr(text.as_ptr()) };
    Ok(PyString::new(py, &s.to_string_lossy()).into_any())
}

/// The peers a transport remembers (see the module notes).
#[derive(Default)]
pub(crate) struct PeerCache {
    entries: Vec<(RawAddr, Py<PyAny>)>,
    /// The entry the next new peer replaces once the cache is full.
    next: usize,
}

impl PeerCache {
    /// The Python address for `raw`, remembered or made; `None` when this
    /// family's addresses are left to the socket module.
    pub(crate) fn address_for(
        &mut self,
        py: Python<'_>,
        raw: &RawAddr,
    ) -> PyResult<Option<Py<PyAny>>> {
        if let Some((_, obj)) = self.entries.iter().find(|(r, _)| r.same_peer(raw)) {
            return Ok(Some(obj.clone_ref(py)));
        }
        let Some(obj) = raw.python_address(py)? else {
            return Ok(None);
        };
        let obj = obj.unbind();
        let entry = (*raw, obj.clone_ref(py));
        if self.entries.len() < CAPACITY {
            self.entries.push(entry);
        } else {
            let old = std::mem::replace(&mut self.entries[self.next], entry);
            self.next = (self.next + 1) % CAPACITY;
            drop(old);
        }
        Ok(Some(obj))
    }

    /// The `sockaddr` of `addr` if it is (the very object of) a remembered
    /// peer's address.
    pub(crate) fn raw_of(&self, addr: &Bound<'_, PyAny>) -> Option<RawAddr> {
        let ptr = addr.as_ptr();
        self.entries
            .iter()
            .find(|(_, obj)| obj.as_ptr() == ptr)
            .map(|(raw, _)| *raw)
    }

    /// The Python objects held, for the garbage collector.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Py<PyAny>> {
        self.entries.iter().map(|(_, obj)| obj)
    }

    /// Forgets every peer.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.next = 0;
    }
}
