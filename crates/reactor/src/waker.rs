//! The cross-thread waker and the queue other threads feed.
//!
//! Another thread pushes work with [`RemoteQueue::push`]; the loop thread
//! collects it with [`RemoteQueue::take`]. A push wakes a loop blocked in
//! `epoll_wait` by writing the eventfd, but only the first push after the loop
//! last looked does so: bursts of pushes cost one syscall.
//!
//! # Implementation notes
//! The loop clears `wake_pending` at the top of every turn (if it is set: a
//! clear flag already guarantees the next push notifies) and only then looks
//! at `has_items`; a producer sets `has_items` and only then swaps
//! `wake_pending`. With sequentially consistent ordering, either the loop sees
//! the items before it decides how long to sleep, or the producer sees
//! `wake_pending == false` and writes the eventfd. No wake-up is lost.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;

use crate::sys::eventfd::EventFd;

/// Items pushed from any thread, plus the eventfd that wakes the loop.
pub struct RemoteQueue<T> {
    items: Mutex<Vec<T>>,
    has_items: AtomicBool,
    wake_pending: AtomicBool,
    efd: EventFd,
}

impl<T> RemoteQueue<T> {
    /// A queue with a fresh eventfd.
    pub fn new() -> io::Result<Self> {
        Ok(RemoteQueue {
            items: Mutex::new(Vec::new()),
            has_items: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            efd: EventFd::new()?,
        })
    }

    /// Queues `item` and wakes the loop if it may be asleep.
    pub fn push(&self, item: T) -> io::Result<()> {
        {
            let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
            items.push(item);
        }
        self.has_items.store(true, SeqCst);
        self.wake()
    }

    /// Wakes the loop without queueing anything.
    pub fn wake(&self) -> io::Result<()> {
        if !self.wake_pending.swap(true, SeqCst) {
            self.efd.notify()?;
        }
        Ok(())
    }

    /// Called by the loop at the top of each turn, before it looks for items.
    pub fn arm(&self) {
        // Already clear means the next push notifies anyway: skip the write.
        if self.wake_pending.load(SeqCst) {
            self.wake_pending.store(false, SeqCst);
        }
    }

    /// Whether items may be waiting (cheap; no lock).
    pub fn has_items(&self) -> bool {
        self.has_items.load(SeqCst)
    }

    /// Moves every queued item to the end of `out`.
    pub fn take_into(&self, out: &mut impl Extend<T>) {
        if !self.has_items.load(SeqCst) || !self.has_items.swap(false, SeqCst) {
            return;
        }
        let taken = {
            let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *items)
        };
        out.extend(taken);
    }

    /// Consumes the eventfd's readiness after the poller reported it.
    pub fn clear_signal(&self) -> io::Result<()> {
        self.efd.drain().map(|_| ())
    }
}

impl<T> AsRawFd for RemoteQueue<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interest::Interest;
    use crate::sys::epoll::{Epoll, Events};
    use std::sync::Arc;

    #[test]
    fn pushes_from_threads_arrive_and_wake() {
        let q = Arc::new(RemoteQueue::new().unwrap());
        let ep = Epoll::new().unwrap();
        ep.add(q.as_raw_fd(), Interest::READABLE, u64::MAX).unwrap();
        let mut got: Vec<u32> = Vec::new();
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        q.push(t * 1000 + i).unwrap();
                    }
                })
            })
            .collect();
        let mut events = Events::with_capacity(4);
        while got.len() < 4000 {
            q.arm();
            if !q.has_items() {
                ep.wait(&mut events, Some(1000)).unwrap();
                if events.is_empty() {
                    panic!("lost wake-up");
                }
                q.clear_signal().unwrap();
            }
            q.take_into(&mut got);
        }
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 4000);
    }
}
