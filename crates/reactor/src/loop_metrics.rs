//! What a loop records about its own turns when metrics are on: turns,
//! callbacks and their durations, time in the poller, how late callbacks
//! start, and the slowest callbacks. Pure Rust, fed by the dispatch loop.
//!
//! # Implementation notes
//! Time is read in ticks ([`crate::sys::cycles`]) once per callback
//! boundary, by the dispatch loop as soon as the callback returns (see
//! [`LoopMetrics::callback_ran`]): the end of one callback is the start of
//! the next, and the poller's return starts the batch after a poll. So
//! every tick between two reads goes to a callback or to the poller, and
//! per callback the cost is one read, two histogram samples and a few
//! comparisons. Seconds are computed only for a snapshot.
//!
//! The per-callback path is kept to that: the duration's maximum and the
//! slowest list are behind one threshold ([`Slowest::gates`], never above
//! the maximum), the enqueue-time lookup is one comparison until the
//! position passes the current note, a zero lag (the common case of a
//! callback queued by the one just before it) is one increment, and the
//! per-turn checks (a stale clock, the lag window's next slot, the gate's
//! next step down) are one comparison against `turn_check`.
//!
//! Lag is how late a handler starts: for a timer, after its deadline; for
//! a ready callback, after it was queued ([`EnqueueTimes`]). I/O handlers
//! have no due time and add no lag sample. The ready queue's length is
//! noted when a batch is handed over, and inside a batch only at the end
//! of a callback that ends at least [`NOTE_SPACING_SECONDS`] after the
//! previous note; what was queued since counts as queued at that
//! callback's start. So a ready callback counts as queued less than that
//! much after the end of the callback that queued it, unless that one ran
//! long: then from its start (the callbacks it delayed see its whole
//! length either way). A batch of short callbacks takes no note but its
//! last, and the per-callback cost is one comparison. Lag samples go to a
//! sliding window ([`LAG_WINDOW_SLOTS`] slots of [`LAG_SLOT_SECONDS`]),
//! which also keeps their count and sum since the last reset (for
//! exporters) as slots leave it: one histogram sample per callback,
//! nothing more.

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
/// Inside a batch, the ready queue's length is noted at the end of a
/// callback that ends this long after the previous note: a ready
/// callback's lag may be short by up to this much.
pub const NOTE_SPACING_SECONDS: f64 = 20e-6;

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
    /// Ticks at the last callback boundary (or the poller's return).
    last: u64,
    /// Position in the running batch of the next handler popped.
    position: usize,
    /// A duration that is at most `gate` is neither a new maximum nor worth
    /// describing. It steps down to `gate_after` at the first turn from tick
    /// `gate_until` on.
    gate: u64,
    gate_after: u64,
    gate_until: u64,
    /// A callback ending after this tick notes the ready queue's length
    /// ([`EnqueueTimes`]): the last note's tick plus `note_spacing`.
    note_due: u64,
    /// [`NOTE_SPACING_SECONDS`] in ticks.
    note_spacing: u64,
    durations: LogHistogram,
    lag_window: SlidingHistogram,
    enqueued: EnqueueTimes,
    /// A turn starting at or after this tick has checks to make (the lag
    /// window's slot ended, the gate steps down, or the clock is stale:
    /// then 0).
    turn_check: u64,
    iterations: u64,
    poll_ticks: u64,
    slowest: Slowest<L>,
    /// `last` is unusable: a run starts, or metrics were just turned on.
    stale: bool,
    /// (ticks, monotonic seconds) read for the first timer of a batch.
    anchor: Option<(u64, f64)>,
    batch_len: usize,
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
            last: now,
            position: 0,
            gate: 0,
            gate_after: 0,
            gate_until: 0,
            note_due: now,
            note_spacing: (NOTE_SPACING_SECONDS / spt) as u64,
            iterations: 0,
            poll_ticks: 0,
            turn_check: 0,
            durations: LogHistogram::new(),
            lag_window: SlidingHistogram::new(
                LAG_WINDOW_SLOTS,
                (LAG_SLOT_SECONDS / spt) as u64,
                now,
            ),
            slowest: Slowest::new(SLOWEST, (DESCRIBE_SPACING_SECONDS / spt) as u64),
            enqueued: EnqueueTimes::default(),
            stale: true,
            anchor: None,
            batch_len: 0,
            seconds_per_tick: spt,
            clock,
        }
    }

    /// The loop starts running, or metrics were turned on: what is queued
    /// now counts as queued now (the turn starting notes it).
    pub fn restart(&mut self) {
        self.enqueued.clear();
        self.last = self.clock.now();
        self.stale = false;
        self.batch_len = 0;
        self.position = 0;
        self.turn_check = 0;
    }

    /// Marks the tick reading stale: the next turn reads the clock afresh.
    pub fn set_stale(&mut self) {
        self.stale = true;
        self.turn_check = 0;
        self.enqueued.clear();
    }

    /// A turn starts with `ready_len` handlers queued: they are the front
    /// of this turn's batch, queued by the end of the last callback.
    #[inline]
    pub fn begin_turn(&mut self, ready_len: usize) {
        if self.last >= self.turn_check {
            self.turn_checks();
        }
        self.iterations += 1;
        self.enqueued.begin(ready_len, self.last);
        self.note_due = self.last.wrapping_add(self.note_spacing);
        self.position = 0;
        self.batch_len = 0;
        self.anchor = None;
    }

    /// A turn starts with its batch of `len` handlers taken, without a poll
    /// ([`LoopMetrics::begin_turn`] and [`LoopMetrics::batch_len`] in one).
    #[inline]
    pub fn begin_turn_with_batch(&mut self, len: usize) {
        self.begin_turn(len);
        self.batch_len = len;
    }

    /// What a turn checks only now and then: a stale clock, a new slot of
    /// the lag window, the gate's step down.
    #[cold]
    fn turn_checks(&mut self) {
        if self.stale {
            self.restart();
        }
        self.lag_window.rotate(self.last);
        self.turn_check = self.lag_window.slot_end();
        if self.last >= self.gate_until {
            self.gate = self.gate_after;
        } else {
            self.turn_check = self.turn_check.min(self.gate_until);
        }
    }

    /// The poller returned; `ready_len` handlers are queued (some perhaps
    /// from other threads while it waited: they join this turn's batch).
    #[inline]
    pub fn polled(&mut self, ready_len: usize) {
        let now = self.clock.now();
        self.poll_ticks += now.wrapping_sub(self.last);
        self.last = now;
        self.note_due = now.saturating_add(self.note_spacing);
        self.enqueued.note_for_batch(ready_len, now);
    }

    /// The turn's batch holds `len` handlers, and is about to run.
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

    /// The tick source, for the caller of [`LoopMetrics::callback_ran`].
    pub fn ticks(&self) -> Ticks {
        self.clock
    }

    /// The next handler of the batch ran, from the last boundary to `now`
    /// (read from [`LoopMetrics::ticks`] by the caller); `ready_len` tells
    /// how many handlers are queued now, if asked. Returns how many ticks it
    /// ran if that may enter the slowest list (worth making its label for
    /// [`LoopMetrics::offer_slow`]).
    ///
    /// The caller reads `now` as the callback returns, before any other
    /// work: on the benchmark VM the counter read waits for the work in
    /// flight, and right after the interpreter returns it costs a fraction
    /// of what it costs a few loads later (in a call_soon chain step ~1.5%
    /// against ~5%, by alternating runs in one process).
    #[inline(always)]
    pub fn callback_ran(
        &mut self,
        kind: Popped,
        now: u64,
        ready_len: impl FnOnce() -> usize,
    ) -> Option<u64> {
        let start = self.last;
        self.last = now;
        let d = now.wrapping_sub(start);
        self.durations.add(d);
        let i = self.position;
        self.position = i + 1;
        match kind {
            Popped::Ready => {
                if let Some(t) = self.enqueued.queued_at(i) {
                    match start.saturating_sub(t) {
                        0 => self.lag_window.record_zero(),
                        lag => self.lag_window.record(lag),
                    }
                }
            }
            Popped::Timer(when) => {
                let lag = self.timer_lag(start, when);
                self.lag_window.record(lag);
            }
            Popped::NoLag => {}
        }
        if now > self.note_due {
            self.note_queue(start, ready_len(), now);
        }
        if d > self.gate {
            self.over_gate(d, now)
        } else {
            None
        }
    }

    /// Notes that the `ready_len` handlers queued now were queued by
    /// `start`, the start of the callback that just ended at `now`.
    #[cold]
    fn note_queue(&mut self, start: u64, ready_len: usize, now: u64) {
        self.enqueued.note(ready_len, start);
        self.note_due = now.saturating_add(self.note_spacing);
    }

    /// A duration above the gate: a new maximum, or one for the slowest list.
    #[cold]
    fn over_gate(&mut self, d: u64, now: u64) -> Option<u64> {
        self.durations.raise_max(d);
        let slow = self.slowest.beats(d, now);
        self.set_gates();
        slow.then_some(d)
    }

    /// Copies the slowest list's thresholds, capped by the maximum duration
    /// (so a new maximum always passes the gate). The lower one applies
    /// from the first turn at or after `until`.
    fn set_gates(&mut self) {
        let (gate, after, until) = self.slowest.gates();
        let max = self.durations.max();
        self.gate_after = after.min(max);
        self.gate_until = until;
        if self.last < until {
            self.gate = gate.min(max);
            self.turn_check = self.turn_check.min(until);
        } else {
            self.gate = self.gate_after;
        }
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

    /// Offers a callback that ran `d` ticks (the last one) to the slowest list.
    pub fn offer_slow(&mut self, d: u64, label: L) {
        self.slowest.offer(d, label, self.last);
        self.set_gates();
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
        self.set_gates();
        self.turn_check = 0;
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
        m.restart();
        m.begin_turn(3); // three callbacks queued before the run
        m.batch_len(3);
        for (name, ms) in [("blocker", 30), ("a", 0), ("b", 0)] {
            sleep(Duration::from_millis(ms));
            if let Some(d) = m.callback_ran(Popped::Ready, m.ticks().now(), || 0) {
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
        m.restart();
        let due = monotonic();
        sleep(Duration::from_millis(20));
        m.begin_turn(0);
        m.polled(0);
        m.batch_len(3);
        m.callback_ran(Popped::Timer(due), m.ticks().now(), || 0);
        m.skipped();
        m.callback_ran(Popped::Timer(monotonic() + 5.0), m.ticks().now(), || 0); // not late at all
        let late = m.lag_window().max() as f64 * m.seconds_per_tick();
        assert!((0.02..0.5).contains(&late), "{late}");
        assert_eq!(m.lag_window().count(), 2);
        let (n, sum) = m.lag_total();
        assert_eq!(n, 2);
        assert!((sum - late).abs() < 1e-3, "{sum} {late}");
        assert!(m.poll_seconds() >= 0.02);
    }

    /// Starts a new window, then runs the head of the next batch: its lag
    /// in seconds (it must be the window's only sample).
    fn lag_of_next_head(m: &mut LoopMetrics<&str>) -> f64 {
        m.reset();
        m.begin_turn(1);
        m.batch_len(1);
        m.callback_ran(Popped::Ready, m.ticks().now(), || 0);
        let w = m.lag_window();
        assert_eq!(w.count(), 1);
        w.max() as f64 * m.seconds_per_tick()
    }

    #[test]
    fn a_callback_queued_before_a_long_one_waits_for_it() {
        let mut m: LoopMetrics<&str> = LoopMetrics::new();
        m.restart();
        m.begin_turn(2);
        m.batch_len(2);
        m.callback_ran(Popped::Ready, m.ticks().now(), || 1); // queues one handler, quickly
        sleep(Duration::from_millis(30));
        m.callback_ran(Popped::Ready, m.ticks().now(), || 1); // runs long, queues nothing
        let late = lag_of_next_head(&mut m);
        assert!((0.03..0.5).contains(&late), "{late}");
    }

    #[test]
    fn a_callback_queued_during_a_long_one_counts_from_its_start() {
        let mut m: LoopMetrics<&str> = LoopMetrics::new();
        m.restart();
        m.begin_turn(1);
        m.batch_len(1);
        sleep(Duration::from_millis(30));
        m.callback_ran(Popped::Ready, m.ticks().now(), || 1); // runs long and queues one
        let late = lag_of_next_head(&mut m);
        assert!((0.03..0.5).contains(&late), "{late}");
    }

    #[test]
    fn short_callbacks_queued_by_the_one_before_have_no_lag() {
        let mut m: LoopMetrics<&str> = LoopMetrics::new();
        m.restart();
        for _ in 0..1000 {
            m.begin_turn_with_batch(1);
            m.callback_ran(Popped::Ready, m.ticks().now(), || 1);
        }
        let w = m.lag_window();
        assert_eq!(w.count(), 1000);
        assert!(w.quantile(0.99) as f64 * m.seconds_per_tick() < 1e-3);
        assert_eq!(m.iterations(), 1000);
        assert_eq!(m.callbacks(), 1000);
    }
}
