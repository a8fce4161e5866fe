//! The syscalls the transports make (socket and pipe I/O), as `io::Result`s.
//!
//! `Ok(None)` means "would block" (or interrupted): try again when the fd
//! is ready. Every other error is the kernel's, for `errors::os_error`.

use std::io;
use std::os::fd::RawFd;

/// At most this many buffers go into one `writev`.
pub(crate) const MAX_IOV: usize = 1024;

fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn check(n: isize) -> io::Result<Option<usize>> {
    if n >= 0 {
        return Ok(Some(n.unsigned_abs()));
    }
    let e = io::Error::last_os_error();
    if retryable(&e) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// `recv(fd, buf)`.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the call.
    check(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// `recv` into raw memory (a Python buffer).
///
/// # Safety
/// `ptr` must point to `len` writable bytes that stay valid for the call.
pub(crate) unsafe fn recv_raw(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<Option<usize>> {
    // SAFETY: guaranteed by the caller.
    check(unsafe { libc::recv(fd, ptr.cast(), len, 0) })
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a vanished peer gives EPIPE, not SIGPIPE.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes for the call.
    check(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// One `sendmsg` of several buffers (a `writev` that does not raise SIGPIPE).
pub(crate) fn sendv(fd: RawFd, bufs: &[&[u8]]) -> io::Result<Option<usize>> {
    let mut iov: Vec<libc::iovec> = bufs
        .iter()
        .take(MAX_IOV)
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    // SAFETY: `msg` points to `iov`, whose entries describe the live, readable slices
    // of `bufs`; both outlive the call, and sendmsg does not write through them.
    check(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// `shutdown(fd, SHUT_WR)`.
pub(crate) fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes plain integers and touches no memory.
    if unsafe { libc::shutdown(fd, libc::SHUT_WR) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `read(fd, buf)`: for pipes and character devices, which `recv` refuses.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the call.
    check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(fd, buf)`. Python ignores SIGPIPE, so a closed reader gives EPIPE.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes for the call.
    check(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// `recvfrom(fd, buf)`: the datagram's length (truncated to `buf`), its
/// sender written into `from`.
pub(crate) fn recvfrom(
    fd: RawFd,
    buf: &mut [u8],
    from: &mut super::datagram_addr::RawAddr,
) -> io::Result<Option<usize>> {
    from.len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes, and `from.storage`
    // one of `from.len` bytes, for the call; the kernel writes at most that much.
    check(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut from.storage as *mut libc::sockaddr_storage).cast(),
            &mut from.len,
        )
    })
}

/// `sendto(fd, buf, to)`: one datagram.
pub(crate) fn sendto(
    fd: RawFd,
    buf: &[u8],
    to: &super::datagram_addr::RawAddr,
) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes, and `to.storage`
    // holds an address of `to.len` bytes; the kernel only reads them.
    check(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            (&to.storage as *const libc::sockaddr_storage).cast(),
            to.len,
        )
    })
}
