//! The reactor: one loop's ready queue, timers, fd table, poller and
//! cross-thread waker, generic over the handler type `H` so it carries no Python.
//!
//! A loop turn is split into phases so the binding can release the GIL
//! around the only blocking one:
//!
//! 1. [`Reactor::prepare`]: drop cancelled timers from the top of the heap
//!    and compute the poll timeout;
//! 2. [`Reactor::poll`]: wait in `epoll_wait`, holding no lock;
//! 3. [`Reactor::collect`]: turn readiness and due timers into ready
//!    handlers, then hand the whole ready queue over as this turn's batch.
//!
//! Handlers scheduled while a batch runs go to the next turn, as in asyncio.
//!
//! The caller may hand back I/O handlers of a batch that it chose not to run
//! yet ([`Reactor::defer_io`]): the next turn runs them, after the handlers
//! queued meanwhile and without polling first, as if the poller had reported
//! those fds one turn later.
//!
//! # Implementation notes
//! The state lives behind one lock (a mutex, or the GIL for the binding: see
//! [`Reactor::new_externally_serialized`]) that is never held while a handler
//! runs or is dropped: anything removed under the lock is handed back in a
//! `Vec<H>` for the caller to drop after unlocking, because dropping a
//! Python object can run arbitrary code that re-enters the loop.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use crate::guarded::Guarded;
use crate::interest::Interest;
use crate::registry::{IoRegistry, Side};
use crate::sys::epoll::{timeout_to_ms, Epoll, Events};
use crate::timers::TimerQueue;
use crate::waker::Waker;

/// The epoll token reserved for the waker's eventfd.
const WAKER_TOKEN: u64 = u64::MAX;

/// What the reactor needs to know about a handler.
pub trait Handler {
    /// Whether the handler was cancelled and must not run.
    fn is_cancelled(&self) -> bool;
}

struct State<H> {
    ready: VecDeque<H>,
    /// I/O handlers of an earlier batch left for the next turn.
    deferred_io: VecDeque<H>,
    timers: TimerQueue<H>,
    cancelled_timers: usize,
    io: IoRegistry<H>,
}

impl<H> State<H> {
    fn new() -> Self {
        State {
            ready: VecDeque::new(),
            deferred_io: VecDeque::new(),
            timers: TimerQueue::new(),
            cancelled_timers: 0,
            io: IoRegistry::new(),
        }
    }
}

/// Timers due within this much of now run now: the resolution of
/// `CLOCK_MONOTONIC`, which asyncio reads from `time.get_clock_info`.
const CLOCK_RESOLUTION: f64 = 1e-9;

/// Below this many timers the heap is never compacted (asyncio uses 100).
const MIN_TIMERS_TO_COMPACT: usize = 100;

/// One event loop's scheduling core.
pub struct Reactor<H> {
    epoll: Epoll,
    waker: Waker,
    state: Guarded<State<H>>,
}

/// The outcome of [`Reactor::prepare`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prepared {
    /// Milliseconds to wait in the poller; `None` blocks, `Some(0)` polls.
    pub timeout_ms: Option<i32>,
    /// Whether the kernel must be asked at all: false when nothing can become
    /// ready (no fd watched) and the wait would be zero. When false, prepare
    /// has already collected the turn's batch: skip poll and collect.
    pub needs_poll: bool,
}

impl<H: Handler> Reactor<H> {
    /// A reactor with its own epoll instance and eventfd, whose state is
    /// behind a mutex: any thread may call any method.
    pub fn new() -> io::Result<Self> {
        Self::build(Guarded::new_locked(State::new()))
    }

    /// A reactor whose state methods do no locking of their own.
    ///
    /// # Safety
    /// The caller must serialise every call to the methods that touch the
    /// state (all but [`Reactor::poll`], [`Reactor::call_soon_threadsafe`]
    /// and [`Reactor::wake`], which stay safe from any thread at any time),
    /// for example by only calling them while holding CPython's GIL, and
    /// must not call them from inside the `clone`/`clock` closures.
    pub unsafe fn new_externally_serialized() -> io::Result<Self> {
        // SAFETY: forwarded to our caller (see above).
        Self::build(unsafe { Guarded::new_external(State::new()) })
    }

    fn build(state: Guarded<State<H>>) -> io::Result<Self> {
        let epoll = Epoll::new()?;
        let waker = Waker::new()?;
        epoll.add(waker.as_raw_fd(), Interest::READABLE, WAKER_TOKEN)?;
        Ok(Reactor {
            epoll,
            waker,
            state,
        })
    }

    /// Queues `h` to run on the next turn.
    pub fn call_soon(&self, h: H) {
        self.state.with(|st| st.ready.push_back(h));
    }

    /// Queues `h` and wakes the loop, which may be blocked in `poll` on
    /// another thread. It goes into the same ready queue as `call_soon`, so
    /// the order of calls is kept whichever threads made them.
    pub fn call_soon_threadsafe(&self, h: H) -> io::Result<()> {
        self.state.with(|st| st.ready.push_back(h));
        self.waker.wake()
    }

    /// Wakes the loop from any thread.
    pub fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }

    /// Schedules `h` at the absolute time `when`.
    pub fn call_at(&self, when: f64, h: H) {
        self.state.with(|st| st.timers.push(when, h));
    }

    /// Notes that one queued timer was cancelled; compaction uses the count.
    pub fn timer_cancelled(&self) {
        self.state
            .with(|st| st.cancelled_timers = st.cancelled_timers.saturating_add(1));
    }

    /// Number of handlers ready for the next turn.
    pub fn ready_len(&self) -> usize {
        self.state.read(|st| st.ready.len())
    }

    /// Number of handlers waiting: ready ones, deferred I/O handlers and
    /// queued timers.
    pub fn pending_len(&self) -> usize {
        self.state
            .with(|st| st.ready.len() + st.deferred_io.len() + st.timers.len())
    }

    /// Takes the I/O handlers in `io` (in order) to run on the next turn,
    /// after the handlers queued by then, without a poll before that turn.
    pub fn defer_io(&self, io: &mut VecDeque<H>) {
        if io.is_empty() {
            return;
        }
        self.state.with(|st| st.deferred_io.append(io));
    }

    /// Number of queued timers, cancelled ones included.
    pub fn timers_len(&self) -> usize {
        self.state.with(|st| st.timers.len())
    }

    /// Number of fds with a reader or writer.
    pub fn io_len(&self) -> usize {
        self.state.with(|st| st.io.len())
    }

    /// Installs `h` as the reader or writer of `fd`; returns what it replaced.
    pub fn set_io(&self, fd: RawFd, side: Side, h: H) -> Result<Option<H>, (io::Error, H)> {
        self.state.with(|st| st.io.set(&self.epoll, fd, side, h))
    }

    /// Removes the reader or writer of `fd` and returns it.
    pub fn remove_io(&self, fd: RawFd, side: Side) -> io::Result<Option<H>> {
        self.state.with(|st| st.io.remove(&self.epoll, fd, side))
    }

    /// Calls `f` with the reader or writer of `fd`, if any.
    pub fn with_io<R>(&self, fd: RawFd, side: Side, f: impl FnOnce(Option<&H>) -> R) -> R {
        self.state.with(|st| f(st.io.get(fd, side)))
    }

    /// Phase 1: sheds cancelled timers and computes the
    /// wait. Shed handlers go to `dead`, to be dropped without the lock.
    /// `clock` is read only when a timer is pending: reading it costs more
    /// than a whole turn of a callback chain on some machines.
    pub fn prepare(
        &self,
        clock: impl Fn() -> f64,
        stopping: bool,
        batch: &mut VecDeque<H>,
        dead: &mut Vec<H>,
    ) -> Prepared {
        self.state.with(|st| {
            let n = st.timers.len();
            if n > MIN_TIMERS_TO_COMPACT && st.cancelled_timers * 2 > n {
                dead.extend(st.timers.retain(|h| !h.is_cancelled()));
                st.cancelled_timers = 0;
            } else {
                while let Some((_, h)) = st.timers.peek() {
                    if !h.is_cancelled() {
                        break;
                    }
                    if let Some((_, h)) = st.timers.pop() {
                        dead.push(h);
                    }
                    st.cancelled_timers = st.cancelled_timers.saturating_sub(1);
                }
            }
            if st.timers.is_empty() {
                st.cancelled_timers = 0;
            }

            let deferred = !st.deferred_io.is_empty();
            let timeout = if !st.ready.is_empty() || deferred || stopping {
                Some(0.0)
            } else {
                // asyncio caps a wait at one day (MAXIMUM_SELECT_TIMEOUT).
                st.timers
                    .peek()
                    .map(|(when, _)| (when - clock()).clamp(0.0, 86_400.0))
            };
            let timeout_ms = timeout_to_ms(timeout);
            if timeout_ms != Some(0) {
                // About to sleep: from here on a queued handler must wake us. Arming
                // while holding the state means a producer either queued before (and
                // the queue was not empty) or will queue after, and then notify.
                // A loop that is not going to sleep leaves the flag set, so producers
                // feeding a busy loop make no syscalls at all.
                self.waker.arm();
            }
            // Deferred I/O handlers run before the kernel is asked again: they are
            // the rest of the last poll's answer.
            let needs_poll = (timeout_ms != Some(0) || !st.io.is_empty()) && !deferred;
            if !needs_poll {
                // Nothing to ask the kernel now: collect under this lock.
                Self::take_batch(st, clock, batch);
            }
            Prepared {
                timeout_ms,
                needs_poll,
            }
        })
    }

    /// Phase 2: waits for readiness. Holds no lock, so it is safe to call with
    /// the GIL released while other threads use this reactor.
    pub fn poll(&self, events: &mut Events, timeout_ms: Option<i32>) -> io::Result<usize> {
        self.epoll.wait(events, timeout_ms)
    }

    /// Phase 3: moves ready I/O handlers and due timers into the
    /// ready queue, then swaps the queue into `batch` (which must be empty).
    /// `clock` is read only when a timer is pending. `clone` copies a handler
    /// that stays registered. Readers and writers found cancelled are
    /// unregistered into `dead`.
    pub fn collect(
        &self,
        events: &Events,
        clock: impl Fn() -> f64,
        batch: &mut VecDeque<H>,
        dead: &mut Vec<H>,
        mut clone: impl FnMut(&H) -> H,
    ) -> io::Result<()> {
        let mut woke = false;
        let mut stale: Vec<(RawFd, Side)> = Vec::new();
        self.state.with(|st| {
            {
                let State {
                    ready,
                    deferred_io,
                    io,
                    ..
                } = &mut *st;
                if !deferred_io.is_empty() {
                    ready.append(deferred_io);
                }
                for ev in events.iter() {
                    if ev.token == WAKER_TOKEN {
                        woke = true;
                        continue;
                    }
                    io.for_each_ready(ev, |fd, side, h| {
                        if h.is_cancelled() {
                            stale.push((fd, side));
                        } else {
                            ready.push_back(clone(h));
                        }
                    });
                }
            }
            for (fd, side) in stale {
                if let Ok(Some(h)) = st.io.remove(&self.epoll, fd, side) {
                    dead.push(h);
                }
            }
            if woke {
                self.waker.clear_signal()?;
            }
            Self::take_batch(st, clock, batch);
            Ok(())
        })
    }

    /// Moves deferred I/O handlers, then due timers, to the ready queue and
    /// hands the queue over.
    fn take_batch(st: &mut State<H>, clock: impl Fn() -> f64, batch: &mut VecDeque<H>) {
        if !st.deferred_io.is_empty() {
            st.ready.append(&mut st.deferred_io);
        }
        if !st.timers.is_empty() {
            let end = clock() + CLOCK_RESOLUTION;
            while let Some(h) = st.timers.pop_due(end) {
                if h.is_cancelled() {
                    st.cancelled_timers = st.cancelled_timers.saturating_sub(1);
                }
                st.ready.push_back(h);
            }
        }
        std::mem::swap(&mut st.ready, batch);
    }

    /// Puts handlers that a turn did not get to back at the front of the
    /// ready queue, in order (used when a handler raises out of the loop).
    pub fn requeue_front(&self, rest: &mut VecDeque<H>) {
        if rest.is_empty() {
            return;
        }
        self.state.with(|st| {
            while let Some(h) = rest.pop_back() {
                st.ready.push_front(h);
            }
        });
    }

    /// Calls `f` on every handler the reactor holds (ready, timers, fds)
    /// until it returns an error, which is passed on. Gives up and returns
    /// `Ok(false)` if the state is in use: for a garbage collector's
    /// traversal, which must not wait or overlap another access.
    pub fn try_visit_handlers<E>(&self, mut f: impl FnMut(&H) -> Result<(), E>) -> Result<bool, E> {
        self.state
            .try_with(|st| {
                st.ready
                    .iter()
                    .chain(st.deferred_io.iter())
                    .chain(st.timers.iter())
                    .chain(st.io.iter())
                    .try_for_each(&mut f)
            })
            .map_or(Ok(false), |r| r.map(|()| true))
    }

    /// Gives the epoll instance and the eventfd back to the kernel now, for
    /// a loop being closed: later polls fail with `EBADF`, wakes do nothing,
    /// fd registrations fail. Call [`Reactor::clear`] first.
    ///
    /// # Safety
    /// No other call on this reactor may be in progress on another thread
    /// (in particular no [`Reactor::poll`]), or it could reach whatever file
    /// reuses a descriptor number.
    pub unsafe fn close_fds(&self) {
        // SAFETY: forwarded to our caller.
        unsafe {
            self.epoll.close();
            self.waker.close();
        }
    }

    /// Removes every handler (on close) and returns them to be dropped.
    pub fn clear(&self) -> Vec<H> {
        let mut out = Vec::new();
        self.state.with(|st| {
            out.extend(st.ready.drain(..));
            out.extend(st.deferred_io.drain(..));
            out.extend(st.timers.drain());
            st.cancelled_timers = 0;
            out.extend(st.io.drain(&self.epoll));
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;

    #[derive(Clone, Debug)]
    struct H {
        name: &'static str,
        cancelled: Rc<Cell<bool>>,
    }

    // SAFETY: the tests below create, use and drop every H on one thread; the Rc is
    // never shared across threads (Send is only needed to satisfy the Mutex bound).
    unsafe impl Send for H {}

    impl Handler for H {
        fn is_cancelled(&self) -> bool {
            self.cancelled.get()
        }
    }

    fn h(name: &'static str) -> H {
        H {
            name,
            cancelled: Rc::new(Cell::new(false)),
        }
    }

    fn names(batch: &VecDeque<H>) -> Vec<&'static str> {
        batch.iter().map(|h| h.name).collect()
    }

    fn turn(r: &Reactor<H>, now: f64) -> (Prepared, VecDeque<H>) {
        let mut dead = vec![];
        let mut batch = VecDeque::new();
        let p = r.prepare(|| now, false, &mut batch, &mut dead);
        if p.needs_poll {
            let mut events = Events::with_capacity(16);
            r.poll(&mut events, Some(p.timeout_ms.unwrap_or(0).min(50)))
                .unwrap();
            r.collect(&events, || now, &mut batch, &mut dead, |h| h.clone())
                .unwrap();
        }
        (p, batch)
    }

    #[test]
    fn ready_handlers_run_next_turn_without_poll() {
        let r = Reactor::new().unwrap();
        r.call_soon(h("a"));
        r.call_soon(h("b"));
        let (p, batch) = turn(&r, 0.0);
        assert_eq!(p.timeout_ms, Some(0));
        assert!(!p.needs_poll);
        assert_eq!(names(&batch), vec!["a", "b"]);
        assert_eq!(r.ready_len(), 0);
    }

    #[test]
    fn timers_become_ready_when_due() {
        let r = Reactor::new().unwrap();
        r.call_at(10.0, h("late"));
        r.call_at(5.0, h("early"));
        let (p, batch) = turn(&r, 0.0);
        assert_eq!(p.timeout_ms, Some(5000));
        assert!(batch.is_empty());
        let (_, batch) = turn(&r, 7.0);
        assert_eq!(names(&batch), vec!["early"]);
        let (_, batch) = turn(&r, 10.0);
        assert_eq!(names(&batch), vec!["late"]);
        let (p, _) = turn(&r, 11.0);
        assert_eq!(p.timeout_ms, None);
    }

    #[test]
    fn cancelled_timers_are_shed_and_compacted() {
        let r = Reactor::new().unwrap();
        let first = h("first");
        r.call_at(1.0, first.clone());
        r.call_at(2.0, h("second"));
        first.cancelled.set(true);
        r.timer_cancelled();
        let mut dead = vec![];
        let p = r.prepare(|| 0.0, false, &mut VecDeque::new(), &mut dead);
        assert_eq!(names(&dead.into_iter().collect()), vec!["first"]);
        assert_eq!(p.timeout_ms, Some(2000));

        let many: Vec<H> = (0..300).map(|_| h("x")).collect();
        for (i, t) in many.iter().enumerate() {
            r.call_at(100.0 + i as f64, t.clone());
        }
        for t in many.iter().take(200) {
            t.cancelled.set(true);
            r.timer_cancelled();
        }
        let mut dead = vec![];
        r.prepare(|| 0.0, false, &mut VecDeque::new(), &mut dead);
        assert_eq!(dead.len(), 200);
        assert_eq!(r.timers_len(), 101);
    }

    #[test]
    fn remote_pushes_wake_a_blocked_poll() {
        let r = Arc::new(Reactor::<Token>::new().unwrap());
        let r2 = Arc::clone(&r);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            r2.call_soon_threadsafe(Token(7)).unwrap();
        });
        let mut dead = vec![];
        let p = r.prepare(|| 0.0, false, &mut VecDeque::new(), &mut dead);
        assert_eq!(p.timeout_ms, None);
        let mut events = Events::with_capacity(4);
        r.poll(&mut events, Some(5000)).unwrap();
        let mut batch = VecDeque::new();
        r.collect(&events, || 0.0, &mut batch, &mut dead, |t| Token(t.0))
            .unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].0, 7);
        t.join().unwrap();
    }

    #[derive(Debug)]
    struct Token(u32);

    impl Handler for Token {
        fn is_cancelled(&self) -> bool {
            false
        }
    }

    #[test]
    fn deferred_io_runs_next_turn_after_new_handlers_without_a_poll() {
        let r = Reactor::new().unwrap();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        r.set_io(a.as_raw_fd(), Side::Read, h("reader")).unwrap();
        std::io::Write::write_all(&mut b, b"x").unwrap();
        r.call_at(1.0, h("timer"));
        let (p, mut batch) = turn(&r, 5.0);
        assert!(p.needs_poll);
        assert_eq!(names(&batch), vec!["reader", "timer"]);
        // The reader is not run this turn; what it would have scheduled is.
        let mut io: VecDeque<H> = batch.drain(..1).collect();
        r.defer_io(&mut io);
        assert!(io.is_empty());
        assert_eq!(r.pending_len(), 1);
        r.call_soon(h("scheduled"));
        let (p, batch) = turn(&r, 5.0);
        assert_eq!(p.timeout_ms, Some(0));
        assert!(
            !p.needs_poll,
            "the rest of the last poll runs before the next poll"
        );
        assert_eq!(names(&batch), vec!["scheduled", "reader"]);
        // Nothing deferred: back to polling.
        let (p, batch) = turn(&r, 5.0);
        assert!(p.needs_poll);
        assert_eq!(names(&batch), vec!["reader"]);
        drop(r.clear());
    }

    #[test]
    fn deferred_io_is_visited_and_cleared() {
        let r = Reactor::new().unwrap();
        r.defer_io(&mut VecDeque::from(vec![h("deferred")]));
        let mut seen = vec![];
        r.try_visit_handlers(|x| {
            seen.push(x.name);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen, vec!["deferred"]);
        assert_eq!(names(&r.clear().into_iter().collect()), vec!["deferred"]);
        assert_eq!(r.pending_len(), 0);
    }

    #[test]
    fn requeue_front_preserves_order() {
        let r = Reactor::new().unwrap();
        r.call_soon(h("later"));
        let mut rest: VecDeque<H> = vec![h("x"), h("y")].into();
        r.requeue_front(&mut rest);
        let (_, batch) = turn(&r, 0.0);
        assert_eq!(names(&batch), vec!["x", "y", "later"]);
    }

    #[test]
    fn visit_handlers_sees_ready_timers_and_fds() {
        let r = Reactor::new().unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        r.call_soon(h("ready"));
        r.call_at(5.0, h("timer"));
        r.set_io(a.as_raw_fd(), Side::Read, h("reader")).unwrap();
        let mut seen = vec![];
        let complete = r
            .try_visit_handlers(|x| {
                seen.push(x.name);
                Ok::<(), ()>(())
            })
            .unwrap();
        assert!(complete);
        seen.sort();
        assert_eq!(seen, vec!["reader", "ready", "timer"]);
        // An error stops the visit and is passed on.
        assert_eq!(r.try_visit_handlers(|_| Err("stop")), Err("stop"));
        drop(r.clear());
    }

    #[test]
    fn close_fds_releases_descriptors_and_later_calls_fail_cleanly() {
        let r: Reactor<H> = Reactor::new().unwrap();
        r.call_soon(h("x"));
        drop(r.clear());
        // SAFETY: single-threaded test; nothing else uses the reactor.
        unsafe { r.close_fds() };
        let mut events = Events::with_capacity(4);
        let err = r.poll(&mut events, Some(0)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        r.wake().unwrap();
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(r.set_io(a.as_raw_fd(), Side::Read, h("r")).is_err());
    }
}
