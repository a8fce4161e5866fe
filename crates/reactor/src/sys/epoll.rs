//! The level-triggered `epoll(7)` backend.
//!
//! asyncio's readers and writers are level-triggered: a callback runs on every
//! loop iteration while its fd stays ready, so this backend never sets
//! `EPOLLET`. Each registration carries a caller-chosen `u64` token.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::closable_fd::ClosableFd;
use crate::interest::Interest;

/// One readiness report: the token given at registration and what is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the fd was registered with.
    pub token: u64,
    /// Readable, or hung up / in error (asyncio wakes a reader for those too).
    pub readable: bool,
    /// Writable, or hung up / in error.
    pub writable: bool,
}

/// A reusable buffer of kernel events, allocated once per loop.
pub struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl Events {
    /// A buffer that receives at most `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            len: 0,
        }
    }

    /// Forgets the last wait's events.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Number of events the last wait filled in.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait reported nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The event at `index`, if the last wait filled it in.
    pub fn get(&self, index: usize) -> Option<Event> {
        if index >= self.len {
            return None;
        }
        let raw = self.buf[index];
        let bits = raw.events;
        // selectors.EpollSelector's rule: anything but EPOLLIN alone counts as
        // writable, anything but EPOLLOUT alone counts as readable.
        let readable = bits & !(libc::EPOLLOUT as u32) != 0;
        let writable = bits & !(libc::EPOLLIN as u32) != 0;
        Some(Event {
            token: raw.u64,
            readable,
            writable,
        })
    }

    /// Iterates over the events the last wait filled in.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }
}

/// An owned epoll instance.
#[derive(Debug)]
pub struct Epoll {
    fd: ClosableFd,
}

fn interest_bits(interest: Interest) -> u32 {
    let mut bits = 0u32;
    if interest.is_readable() {
        bits |= libc::EPOLLIN as u32;
    }
    if interest.is_writable() {
        bits |= libc::EPOLLOUT as u32;
    }
    bits
}

impl Epoll {
    /// Creates a close-on-exec epoll instance.
    pub fn new() -> io::Result<Self> {
        let raw = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Epoll {
            fd: ClosableFd::new(fd),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest_bits(interest),
            u64: token,
        };
        syscall!(epoll_ctl(self.fd.get()?, op, fd, &mut ev))?;
        Ok(())
    }

    /// Starts watching `fd`.
    pub fn add(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, token)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, token)
    }

    /// Adds `fd`, or modifies it when the kernel already watches it (a stale
    /// registration left behind by a closed and reused descriptor number).
    pub fn add_or_modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        match self.add(fd, interest, token) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self.modify(fd, interest, token),
            other => other,
        }
    }

    /// Modifies `fd`, or adds it when the kernel forgot it (the fd was closed,
    /// which silently drops it from the interest list, and its number reused).
    pub fn modify_or_add(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        match self.modify(fd, interest, token) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.add(fd, interest, token),
            other => other,
        }
    }

    /// Stops watching `fd`. An fd the kernel no longer knows (closed already)
    /// is not an error: the goal, not being watched, holds.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        match syscall!(epoll_ctl(self.fd.get()?, libc::EPOLL_CTL_DEL, fd, &mut ev)) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EBADF)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits for readiness. `timeout_ms` of `None` blocks, `Some(0)` polls.
    /// An interrupted wait (`EINTR`) returns `ErrorKind::Interrupted` so the
    /// caller can run signal handlers before deciding what to do.
    pub fn wait(&self, events: &mut Events, timeout_ms: Option<i32>) -> io::Result<usize> {
        let timeout = timeout_ms.unwrap_or(-1);
        let cap = i32::try_from(events.buf.len()).unwrap_or(i32::MAX);
        events.len = 0;
        let n = syscall!(epoll_wait(
            self.fd.get()?,
            events.buf.as_mut_ptr(),
            cap,
            timeout
        ))?;
        // epoll_wait never reports more than `cap` events, and n >= 0 here.
        events.len = (n as usize).min(events.buf.len());
        Ok(events.len)
    }
}

impl Epoll {
    /// Closes the epoll instance now (see [`ClosableFd::close`]); every later
    /// call fails with `EBADF`.
    ///
    /// # Safety
    /// No other thread may be using the instance at the same time.
    pub unsafe fn close(&self) {
        // SAFETY: forwarded to our caller.
        unsafe { self.fd.close() }
    }
}

impl AsRawFd for Epoll {
    /// The descriptor, or -1 once closed.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get().unwrap_or(-1)
    }
}

/// Converts a timeout in seconds into epoll's milliseconds, rounding up so a
/// short positive timeout never turns into a busy poll, and capping it.
pub fn timeout_to_ms(timeout: Option<f64>) -> Option<i32> {
    match timeout {
        None => None,
        Some(t) if t.is_nan() || t <= 0.0 => Some(0),
        Some(t) => {
            let ms = (t * 1000.0).ceil();
            if ms >= i32::MAX as f64 {
                Some(i32::MAX)
            } else {
                Some(ms as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::eventfd::EventFd;

    #[test]
    fn rounding_up_keeps_short_timeouts_positive() {
        assert_eq!(timeout_to_ms(None), None);
        assert_eq!(timeout_to_ms(Some(0.0)), Some(0));
        assert_eq!(timeout_to_ms(Some(-1.0)), Some(0));
        assert_eq!(timeout_to_ms(Some(0.0001)), Some(1));
        assert_eq!(timeout_to_ms(Some(1.0)), Some(1000));
        assert_eq!(timeout_to_ms(Some(1e12)), Some(i32::MAX));
    }

    #[test]
    fn eventfd_readiness_is_reported_with_its_token() {
        let ep = Epoll::new().unwrap();
        let efd = EventFd::new().unwrap();
        ep.add(efd.as_raw_fd(), Interest::READABLE, 42).unwrap();
        let mut events = Events::with_capacity(8);
        assert_eq!(ep.wait(&mut events, Some(0)).unwrap(), 0);
        efd.notify().unwrap();
        assert_eq!(ep.wait(&mut events, Some(100)).unwrap(), 1);
        let ev = events.get(0).unwrap();
        assert_eq!(ev.token, 42);
        assert!(ev.readable);
        assert!(!ev.writable);
        ep.delete(efd.as_raw_fd()).unwrap();
        ep.delete(efd.as_raw_fd()).unwrap();
        assert_eq!(ep.wait(&mut events, Some(0)).unwrap(), 0);
    }

    #[test]
    fn add_or_modify_tolerates_existing_registration() {
        let ep = Epoll::new().unwrap();
        let efd = EventFd::new().unwrap();
        ep.add_or_modify(efd.as_raw_fd(), Interest::READABLE, 1)
            .unwrap();
        ep.add_or_modify(efd.as_raw_fd(), Interest::BOTH, 2)
            .unwrap();
        let mut events = Events::with_capacity(4);
        ep.wait(&mut events, Some(0)).unwrap();
        let ev = events.get(0).unwrap();
        assert_eq!(ev.token, 2);
        assert!(ev.writable);
    }
}
