//! A histogram over a sliding window of time: the last few slots of a
//! fixed length, the oldest dropped as a new one starts.
//!
//! The window covers between `(slots - 1) * slot_len` and
//! `slots * slot_len` of the most recent time. Recording touches only the
//! current slot; [`SlidingHistogram::rotate`] (once per loop turn) is one
//! comparison unless a slot boundary passed; the merged view is built only
//! when asked for.

use crate::histogram::LogHistogram;

/// Recent samples, in `slots` histograms of `slot_len` ticks each.
pub struct SlidingHistogram {
    /// Samples that left the window: how many, and their sum.
    retired: (u64, u64),
    slots: Vec<LogHistogram>,
    current: usize,
    slot_start: u64,
    slot_len: u64,
}

impl SlidingHistogram {
    /// A window of `slots` slots (at least 1) of `slot_len` ticks (at least
    /// 1), the first starting at `now`.
    pub fn new(slots: usize, slot_len: u64, now: u64) -> Self {
        SlidingHistogram {
            retired: (0, 0),
            slots: (0..slots.max(1)).map(|_| LogHistogram::new()).collect(),
            current: 0,
            slot_start: now,
            slot_len: slot_len.max(1),
        }
    }

    /// Adds a sample to the current slot.
    #[inline]
    pub fn record(&mut self, v: u64) {
        if let Some(h) = self.slots.get_mut(self.current) {
            h.record(v);
        }
    }

    /// Starts new slots (dropping the oldest) for every slot length that
    /// passed since the current slot started.
    #[inline]
    pub fn rotate(&mut self, now: u64) {
        let elapsed = now.saturating_sub(self.slot_start);
        if elapsed >= self.slot_len {
            self.advance(elapsed / self.slot_len);
        }
    }

    #[cold]
    fn advance(&mut self, passed: u64) {
        let n = self.slots.len();
        for _ in 0..passed.min(n as u64) {
            self.current = (self.current + 1) % n;
            if let Some(h) = self.slots.get_mut(self.current) {
                self.retired.0 += h.count();
                self.retired.1 = self.retired.1.wrapping_add(h.sum());
                h.clear();
            }
        }
        self.slot_start = self
            .slot_start
            .saturating_add(passed.saturating_mul(self.slot_len));
    }

    /// Forgets every sample; the window starts again at `now`.
    pub fn clear(&mut self, now: u64) {
        self.retired = (0, 0);
        self.slots.iter_mut().for_each(LogHistogram::clear);
        self.current = 0;
        self.slot_start = now;
    }

    /// Every sample since the last clear, in or out of the window: how
    /// many, and their sum (kept as slots are dropped, not per sample).
    pub fn total(&self) -> (u64, u64) {
        self.slots.iter().fold(self.retired, |(n, s), h| {
            (n + h.count(), s.wrapping_add(h.sum()))
        })
    }

    /// The window's samples as one histogram.
    pub fn merged(&self) -> LogHistogram {
        let mut all = LogHistogram::new();
        for h in &self.slots {
            all.merge(h);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_slots_fall_out_of_the_window() {
        let mut w = SlidingHistogram::new(3, 10, 0);
        w.record(100);
        w.rotate(9);
        w.record(200);
        assert_eq!(w.merged().count(), 2);
        w.rotate(10); // slot 2 starts
        w.record(300);
        w.rotate(25); // slot 3
        assert_eq!(w.merged().count(), 3);
        w.rotate(30); // slot 4: slot 1 (100, 200) is dropped
        let m = w.merged();
        assert_eq!((m.count(), m.max()), (1, 300));
        w.rotate(1_000); // long idle: everything is dropped
        assert_eq!(w.merged().count(), 0);
        assert_eq!(w.total(), (3, 600), "but still counted since the start");
        w.record(5);
        w.clear(2_000);
        assert_eq!(w.merged().count(), 0);
        assert_eq!(w.total(), (0, 0));
    }
}
