//! A non-blocking `eventfd(2)`: the kernel object behind the cross-thread waker.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::closable_fd::ClosableFd;

/// An owned, non-blocking, close-on-exec eventfd counter.
#[derive(Debug)]
pub struct EventFd {
    fd: ClosableFd,
}

impl EventFd {
    /// Creates a counter starting at zero.
    pub fn new() -> io::Result<Self> {
        let raw = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: eventfd just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(EventFd {
            fd: ClosableFd::new(fd),
        })
    }

    /// Adds one to the counter, making the fd readable. A full counter
    /// (`EAGAIN`) already reads as readable, so it counts as success.
    pub fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        let ptr = (&one as *const u64).cast::<libc::c_void>();
        match syscall!(write(self.fd.get()?, ptr, 8)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Resets the counter to zero. Returns whether it was non-zero.
    pub fn drain(&self) -> io::Result<bool> {
        let mut value: u64 = 0;
        let ptr = (&mut value as *mut u64).cast::<libc::c_void>();
        match syscall!(read(self.fd.get()?, ptr, 8)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl EventFd {
    /// Closes the descriptor now (see [`ClosableFd::close`]).
    ///
    /// # Safety
    /// No other thread may be using the eventfd at the same time.
    pub unsafe fn close(&self) {
        // SAFETY: forwarded to our caller.
        unsafe { self.fd.close() }
    }

    /// Whether [`EventFd::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.fd.is_closed()
    }
}

impl AsRawFd for EventFd {
    /// The descriptor, or -1 once closed.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get().unwrap_or(-1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_then_drain() {
        let efd = EventFd::new().unwrap();
        assert!(!efd.drain().unwrap());
        efd.notify().unwrap();
        efd.notify().unwrap();
        assert!(efd.drain().unwrap());
        assert!(!efd.drain().unwrap());
    }
}
