//! What a loop records about its own turns when metrics are on: turns,
//! callbacks and their durations, time in the poller, how late callbacks
//! start, and the slowest callbacks. Pure Rust, fed by the dispatch loop.
//!
//! # Implementation notes
//! Time is read in ticks ([`crate::sys::cycles`]) once per callback
//! boundary: the end of one callback is the start of the next, and the
//! poller's return starts the batch after a poll. So every tick between two
//! reads goes to a callback or to the poller, and per callback the cost is
//! one read, two histogram samples and a few comparisons. Seconds are
//! computed only for a snapshot.
//!
//! Lag is how late a handler starts: for a timer, after its deadline; for
//! a ready callback, after it was queued ([`EnqueueTimes`]). I/O handlers
//! have no due time and add no lag sample. Lag samples go to a sliding
//! window ([`LAG_WINDOW_SLOTS`] slots of [`LAG_SLOT_SECONDS`]), which
//! also keeps their count and sum since the last reset (for exporters) as
//! slots leave it: one histogram sample per callback, nothing more.

use crate::enqueue_times::EnqueueTimes;
use crate::histogram::LogHistogram;
use crate::sliding_histogram::SlidingHistogram;
use crate::slowest::Slowest;
use crate::sys::clock::monotonic;
use crate::sys::cycles::{seconds_per_tick, Ticks};

/// Entries in the slowest-callbacks list.
pub const SLOWEST: usize = 10;
/// Slots of the lag window.
pub const LAG_WINDOW_SLOTS: usize = 6;
/// Length of one slot of the lag window: lag quantiles cover the last 50
/// to 60 seconds.
pub const LAG_SLOT_SECONDS: f64 = 10.0;
/// At most one callback no slower than a repeat of a listed one is named
/// per this many seconds (`slowest.rs`): naming is a Python call.
pub const DESCRIBE_SPACING_SECONDS: f64 = 0.01;

/// How a popped handler counts for lag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Popped {
    /// A ready callback, queued by `call_soon` and friends.
    Ready,
    /// A timer due at this time on the monotonic clock.
    Timer(f64),
    /// An I/O handler, a cancelled handler, or a timer on a replaced clock.
    NoLag,
}

/// One loop's metrics; `L` labels a callback in the slowest list.
pub struct LoopMetrics<L> {
    iterations: u64,
    poll_ticks: u64,
    durations: LogHistogram,
    lag_window: SlidingHistogram,
    slowest: Slowest<L>,
    enqueued: EnqueueTimes,
    /// Ticks at the last callback boundary (or the poller's return).
    last: u64,
    /// `last` is unusable: a run starts, or metrics were just turned on.
    stale: bool,
    /// (ticks, monotonic seconds) read for the first timer of a batch.
    anchor: Option<(u64, f64)>,
    batch_len: usize,
    position: usize,
    seconds_per_tick: f64,
    clock: Ticks,
}

/// Seconds of `t` ticks.
fn seconds(t: u64, spt: f64) -> f64 {
    t as f64 * spt
}

impl<L: PartialEq> Default for LoopMetrics<L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: PartialEq> LoopMetrics<L> {
    /// Empty metrics (measures the tick rate first, if not done yet).
    pub fn new() -> Self {
        let clock = Ticks::source();
        let spt = seconds_per_tick();
        let now = clock.now();
        LoopMetrics {
            iterations: 0,
            poll_ticks: 0,
            durations: LogHistogram::new(),
            lag_window: SlidingHistogram::new(
                LAG_WINDOW_SLOTS,
                (LAG_SLOT_SECONDS / spt) as u64,
                now,
            ),
            slowest: Slowest::new(SLOWEST, (DESCRIBE_SPACING_SECONDS / spt) as u64),
            enqueued: EnqueueTimes::default(),
            last: now,
            stale: true,
            anchor: None,
            batch_len: 0,
            position: 0,
            seconds_per_tick: spt,
            clock,
        }
    }

    /// The loop starts running, or metrics were turned on: what is queued
    /// now counts as queued now.
    pub fn restart(&mut self, ready_len: usize) {
        self.enqueued.clear();
        self.last = self.clock.now();
        self.stale = false;
        self.enqueued.note(ready_len, self.last);
        self.batch_len = 0;
        self.position = 0;
    }

    /// Marks the tick reading stale: the next turn reads the clock afresh.
    pub fn set_stale(&mut self) {
        self.stale = true;
        self.enqueued.clear();
    }

    /// A turn starts; `ready_len` is asked only after a restart. What is
    /// queued now is the front of this turn's batch.
    #[inline]
    pub fn begin_turn(&mut self, ready_len: impl FnOnce() -> usize) {
        if self.stale {
            self.restart(ready_len());
        }
        self.iterations += 1;
        self.lag_window.rotate(self.last);
        self.enqueued.start_batch();
        self.position = 0;
        self.batch_len = 0;
        self.anchor = None;
    }

    /// The poller returned; `ready_len` handlers are queued (some perhaps
    /// from other threads while it waited: they join this turn's batch).
    #[inline]
    pub fn polled(&mut self, ready_len: usize) {
        let now = self.clock.now();
        self.poll_ticks += now.wrapping_sub(self.last);
        self.last = now;
        self.enqueued.note_for_batch(ready_len, now);
    }

    /// The turn's batch holds `len` handlers.
    #[inline]
    pub fn batch_len(&mut self, len: usize) {
        self.batch_len = len;
    }

    /// The batch's handlers not popped yet are now `left` (some were
    /// handed back to the reactor); positions already popped stay.
    pub fn set_batch_left(&mut self, left: usize) {
        self.batch_len = self.position + 1 + left;
        self.position += 1;
    }

    /// The next handler of the batch was not run (cancelled).
    #[inline]
    pub fn skipped(&mut self) {
        self.position += 1;
    }

    /// The next handler of the batch ran (from the last boundary to now)
    /// and left `ready_len` handlers queued; returns how many ticks it ran.
    #[inline]
    pub fn callback_ran(&mut self, kind: Popped, ready_len: usize) -> u64 {
        let start = self.last;
        let now = self.clock.now();
        self.last = now;
        let d = now.wrapping_sub(start);
        self.durations.record(d);
        let i = self.position;
        self.position += 1;
        let lag = match kind {
            Popped::Ready => self.enqueued.queued_at(i).map(|t| start.saturating_sub(t)),
            Popped::Timer(when) => Some(self.timer_lag(start, when)),
            Popped::NoLag => None,
        };
        if let Some(lag) = lag {
            self.lag_window.record(lag);
        }
        self.enqueued.note(ready_len, now);
        d
    }

    /// How late a timer due at `when` (monotonic seconds) started at `start`.
    fn timer_lag(&mut self, start: u64, when: f64) -> u64 {
        let clock = self.clock;
        let (at, mono) = *self
            .anchor
            .get_or_insert_with(|| (clock.now(), monotonic()));
        let started = mono - seconds(at.saturating_sub(start), self.seconds_per_tick);
        let late = started - when;
        if late > 0.0 {
            (late / self.seconds_per_tick) as u64
        } else {
            0
        }
    }

    /// Whether a callback that ran `d` ticks may enter the slowest list
    /// (worth making its label).
    #[inline]
    pub fn is_slow(&self, d: u64) -> bool {
        self.slowest.beats(d, self.last)
    }

    /// Offers a callback that ran `d` ticks (the last one) to the slowest list.
    pub fn offer_slow(&mut self, d: u64, label: L) {
        self.slowest.offer(d, label, self.last);
    }

    /// Reads the clock afresh for the next boundary: what ran since the last
    /// one (e.g. describing a slow callback) counts for nobody.
    pub fn restart_clock(&mut self) {
        self.last = self.clock.now();
    }

    /// Starts a new window: forgets every figure (not the dispatch state).
    pub fn reset(&mut self) {
        self.iterations = 0;
        self.poll_ticks = 0;
        self.durations.clear();
        self.lag_window.clear(self.clock.now());
        self.slowest.clear();
    }

    /// Loop turns since the last reset.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Callbacks run since the last reset.
    pub fn callbacks(&self) -> u64 {
        self.durations.count()
    }

    /// Seconds spent in (or on the way to) the poller.
    pub fn poll_seconds(&self) -> f64 {
        seconds(self.poll_ticks, self.seconds_per_tick)
    }

    /// Seconds spent running callbacks.
    pub fn callback_seconds(&self) -> f64 {
        seconds(self.durations.sum(), self.seconds_per_tick)
    }

    /// Handlers of the running batch after the one running now (a snapshot
    /// can only be taken from a callback, or while the loop polls).
    pub fn batch_left(&self) -> usize {
        self.batch_len.saturating_sub(self.position + 1)
    }

    /// Lag quantiles over the window, in seconds, for each `q`, and the
    /// window's maximum.
    pub fn lag_quantiles(&self, qs: &[f64]) -> (Vec<f64>, f64) {
        let w = self.lag_window.merged();
        let spt = self.seconds_per_tick;
        let values = qs.iter().map(|&q| seconds(w.quantile(q), spt)).collect();
        (values, seconds(w.max(), spt))
    }

    /// The slowest callbacks, worst first, in seconds.
    pub fn slowest(&self) -> impl Iterator<Item = (f64, &L)> {
        let spt = self.seconds_per_tick;
        self.slowest
            .entries()
            .iter()
            .map(move |(d, l)| (seconds(*d, spt), l))
    }

    /// Callback durations since the last reset (in ticks).
    pub fn durations(&self) -> &LogHistogram {
        &self.durations
    }

    /// Lag samples over the window (in ticks).
    pub fn lag_window(&self) -> LogHistogram {
        self.lag_window.merged()
    }

    /// Lag samples since the last reset: how many, and their sum in seconds.
    pub fn lag_total(&self) -> (u64, f64) {
        let (n, sum) = self.lag_window.total();
        (n, seconds(sum, self.seconds_per_tick))
    }

    /// Seconds per tick of the histograms.
    pub fn seconds_per_tick(&self) -> f64 {
        self.seconds_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::sleep;
    use std::time::Duration;

    #[test]
    fn a_blocking_callback_delays_the_ones_behind_it() {
        let mut m: LoopMetrics<&str> = LoopMetrics::new();
        m.restart(3); // three callbacks queued before the run
        m.begin_turn(|| 3);
        m.batch_len(3);
        for (name, ms) in [("blocker", 30), ("a", 0), ("b", 0)] {
            sleep(Duration::from_millis(ms));
            let d = m.callback_ran(Popped::Ready, 0);
            if m.is_slow(d) {
                m.offer_slow(d, name);
            }
        }
        assert_eq!(m.callbacks(), 3);
        assert_eq!(m.iterations(), 1);
        let (slowest, _) = m.slowest().next().unwrap();
        assert!(slowest >= 0.03, "{slowest}");
        assert_eq!(m.slowest().next().map(|(_, l)| *l), Some("blocker"));
        let (q, max) = m.lag_quantiles(&[0.5, 0.99]);
        assert!(q[1] >= 0.03 && max >= 0.03, "{q:?} {max}");
        assert!(m.callback_seconds() >= 0.03);
        assert_eq!(m.batch_left(), 0);
        assert_eq!(m.lag_total().0, 3);
        m.reset();
        assert_eq!((m.callbacks(), m.iterations()), (0, 0));
        assert_eq!(m.slowest().count(), 0);
        assert_eq!(m.lag_quantiles(&[0.99]).1, 0.0);
    }

    #[test]
    fn timer_lag_counts_from_the_deadline() {
        let mut m: LoopMetrics<&str> = LoopMetrics::new();
        m.restart(0);
        let due = monotonic();
        sleep(Duration::from_millis(20));
        m.begin_turn(|| 0);
        m.polled(0);
        m.batch_len(3);
        m.callback_ran(Popped::Timer(due), 0);
        m.skipped();
        m.callback_ran(Popped::Timer(monotonic() + 5.0), 0); // not late at all
        let late = m.lag_window().max() as f64 * m.seconds_per_tick();
        assert!((0.02..0.5).contains(&late), "{late}");
        assert_eq!(m.lag_window().count(), 2);
        let (n, sum) = m.lag_total();
        assert_eq!(n, 2);
        assert!((sum - late).abs() < 1e-3, "{sum} {late}");
        assert!(m.poll_seconds() >= 0.02);
    }
}
