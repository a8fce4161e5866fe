//! Every libc call the reactor makes lives under `sys/`.
//!
//! Each backend file wraps one kernel facility and turns its C return
//! convention into an `io::Result`, through the `syscall!` macro.

/// Calls a libc function and maps a `-1` return to `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller passes arguments that satisfy the libc function's contract;
        // each call site documents why its pointers and descriptors are valid.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

pub mod clock;
pub mod closable_fd;
pub mod cycles;
pub mod epoll;
pub mod eventfd;
