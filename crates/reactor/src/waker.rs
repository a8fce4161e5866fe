//! The cross-thread waker: how another thread gets a sleeping loop to look
//! at its ready queue.
//!
//! A thread that queues work (through the reactor's own serialised state)
//! then calls [`Waker::wake`], which writes the eventfd the loop's poller
//! watches, but only the first wake after the loop last looked does so:
//! bursts cost one syscall.
//!
//! # Implementation notes
//! The loop calls [`Waker::arm`] only when it is about to sleep, after it
//! found its queues empty and while it still holds the state the producers
//! queue into; a producer queues first and only then swaps `wake_pending`.
//! Either the producer queued before the loop looked (and the loop does not
//! sleep), or it queues after the arm and sees `wake_pending == false`, and
//! writes the eventfd. No wake-up is lost, and while the loop is busy the
//! flag stays set, so producers make no syscalls.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use crate::sys::eventfd::EventFd;

/// An eventfd plus the flag that coalesces wake-ups.
pub struct Waker {
    wake_pending: AtomicBool,
    efd: EventFd,
}

impl Waker {
    /// A waker with a fresh eventfd.
    pub fn new() -> io::Result<Self> {
        Ok(Waker {
            wake_pending: AtomicBool::new(false),
            efd: EventFd::new()?,
        })
    }

    /// Wakes the loop if it may be asleep. Call after queueing the work.
    /// A closed waker has nobody to wake: nothing happens.
    pub fn wake(&self) -> io::Result<()> {
        // Still pending since the last notify: the loop has not armed again,
        // so it will look at its queue before it sleeps. A plain load spares
        // a busy producer the locked read-modify-write.
        if self.wake_pending.load(SeqCst) {
            return Ok(());
        }
        if !self.wake_pending.swap(true, SeqCst) && !self.efd.is_closed() {
            self.efd.notify()?;
        }
        Ok(())
    }

    /// Closes the eventfd now; later wakes do nothing.
    ///
    /// # Safety
    /// No other thread may be waking or polling at the same time.
    pub unsafe fn close(&self) {
        // SAFETY: forwarded to our caller.
        unsafe { self.efd.close() }
    }

    /// Called by the loop at the top of each turn, before it looks for work.
    pub fn arm(&self) {
        if self.wake_pending.load(SeqCst) {
            self.wake_pending.store(false, SeqCst);
        }
    }

    /// Consumes the eventfd's readiness after the poller reported it.
    pub fn clear_signal(&self) -> io::Result<()> {
        self.efd.drain().map(|_| ())
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interest::Interest;
    use crate::sys::epoll::{Epoll, Events};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn wakes_coalesce_and_none_is_lost() {
        let w = Arc::new(Waker::new().unwrap());
        let queued = Arc::new(AtomicUsize::new(0));
        let ep = Epoll::new().unwrap();
        ep.add(w.as_raw_fd(), Interest::READABLE, 1).unwrap();
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (w, queued) = (Arc::clone(&w), Arc::clone(&queued));
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        queued.fetch_add(1, SeqCst);
                        w.wake().unwrap();
                    }
                })
            })
            .collect();
        let mut events = Events::with_capacity(4);
        let mut seen = 0;
        while seen < 4000 {
            w.arm();
            let now = queued.load(SeqCst);
            if now == seen {
                ep.wait(&mut events, Some(1000)).unwrap();
                assert!(!events.is_empty(), "lost wake-up");
                w.clear_signal().unwrap();
            }
            seen = now;
        }
        for p in producers {
            p.join().unwrap();
        }
    }
}
