//! A descriptor that its owner can close while others still hold the
//! object it lives in: a closed event loop gives back its epoll instance and
//! eventfd at once, as asyncio's `close()` does, even if the loop object
//! itself stays referenced for a while.

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering::AcqRel, Ordering::Acquire};

/// An owned descriptor, or nothing once closed (every use then fails with
/// `EBADF`, and no stale number is ever handed out).
#[derive(Debug)]
pub struct ClosableFd(AtomicI32);

impl ClosableFd {
    /// Takes ownership of `fd`.
    pub fn new(fd: OwnedFd) -> Self {
        ClosableFd(AtomicI32::new(fd.into_raw_fd()))
    }

    /// The descriptor, or `EBADF` once closed.
    pub fn get(&self) -> io::Result<RawFd> {
        let fd = self.0.load(Acquire);
        if fd < 0 {
            Err(io::Error::from_raw_os_error(libc::EBADF))
        } else {
            Ok(fd)
        }
    }

    /// Whether [`ClosableFd::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.0.load(Acquire) < 0
    }

    /// Closes the descriptor now; later calls to [`ClosableFd::get`] fail.
    ///
    /// # Safety
    /// No other thread may be between a `get` and the syscall it feeds, or
    /// that syscall could reach whatever file reuses the number.
    pub unsafe fn close(&self) {
        let fd = self.0.swap(-1, AcqRel);
        if fd >= 0 {
            // SAFETY: `fd` was owned by this object (taken in `new`) and the swap
            // above made this the only place that still has it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

impl Drop for ClosableFd {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody else can be using the descriptor.
        unsafe { self.close() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn is_open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only queries the descriptor table.
        unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
    }

    #[test]
    fn close_releases_the_descriptor_and_later_uses_fail() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = a.as_raw_fd();
        let fd = ClosableFd::new(OwnedFd::from(a));
        assert_eq!(fd.get().unwrap(), raw);
        // SAFETY: single-threaded test.
        unsafe { fd.close() };
        assert!(fd.is_closed());
        assert!(!is_open(raw));
        assert_eq!(fd.get().unwrap_err().raw_os_error(), Some(libc::EBADF));
        // A second close, and the drop, do nothing.
        // SAFETY: as above.
        unsafe { fd.close() };
    }

    #[test]
    fn drop_closes() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = a.as_raw_fd();
        drop(ClosableFd::new(OwnedFd::from(a)));
        assert!(!is_open(raw));
    }
}
