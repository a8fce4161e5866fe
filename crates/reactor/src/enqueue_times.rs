//! When the handlers of a batch were queued, without a timestamp per
//! handler: the ready queue is first in, first out, so it is enough to
//! note how long the queue was at each callback boundary.
//!
//! While batch *k* runs, the dispatch loop reports the ready queue's
//! length after each callback ([`EnqueueTimes::note`]): the handlers at
//! positions `[previous length, new length)` were queued during that
//! callback, and get its end as their queueing time. That queue becomes
//! the front of batch *k + 1* ([`EnqueueTimes::start_batch`]), where the
//! handler popped at position `i` looks its time up
//! ([`EnqueueTimes::queued_at`], a cursor that only moves forward).
//! Handlers past the noted lengths (timers, I/O, handlers queued from
//! another thread after the last note) have no time here.
//!
//! This keeps `call_soon` free of any metrics work: a per-handle stamp
//! would cost every call, metrics on or off.

/// Queue lengths and the ticks at which they were reached.
#[derive(Default)]
pub struct EnqueueTimes {
    /// (queue length, ticks) noted during the running batch.
    noting: Vec<(usize, u64)>,
    /// The last noted length.
    noted_len: usize,
    /// The previous batch's notes: what the running batch looks up.
    lookup: Vec<(usize, u64)>,
    cursor: usize,
}

impl EnqueueTimes {
    /// Forgets everything (a new run, or metrics turned on).
    pub fn clear(&mut self) {
        self.noting.clear();
        self.noted_len = 0;
        self.lookup.clear();
        self.cursor = 0;
    }

    /// The ready queue holds `len` handlers at `now`: those beyond the last
    /// noted length were queued by then.
    #[inline]
    pub fn note(&mut self, len: usize, now: u64) {
        if len > self.noted_len {
            self.noting.push((len, now));
            self.noted_len = len;
        }
    }

    /// The ready queue was handed over as the next batch.
    pub fn start_batch(&mut self) {
        std::mem::swap(&mut self.noting, &mut self.lookup);
        self.noting.clear();
        self.noted_len = 0;
        self.cursor = 0;
    }

    /// Like [`EnqueueTimes::note`], for handlers queued after the batch was
    /// started but before it runs (from other threads, while the poller
    /// waited): they join the batch.
    #[inline]
    pub fn note_for_batch(&mut self, len: usize, now: u64) {
        if self.lookup.last().is_none_or(|&(last, _)| len > last) {
            self.lookup.push((len, now));
        }
    }

    /// When the handler at position `i` of the running batch was queued, if
    /// known. Positions must be asked in increasing order.
    #[inline]
    pub fn queued_at(&mut self, i: usize) -> Option<u64> {
        while let Some(&(len, t)) = self.lookup.get(self.cursor) {
            if i < len {
                return Some(t);
            }
            self.cursor += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_the_callback_that_queued_them() {
        let mut e = EnqueueTimes::default();
        e.note(2, 100); // two queued before the run
        e.note(2, 150); // nothing new
        e.note(3, 200);
        e.start_batch();
        assert_eq!(e.queued_at(0), Some(100));
        assert_eq!(e.queued_at(1), Some(100));
        e.note(1, 250); // the running batch queues for the next one
        assert_eq!(e.queued_at(2), Some(200));
        assert_eq!(e.queued_at(3), None, "a timer after the ready handlers");
        e.start_batch();
        assert_eq!(e.queued_at(0), Some(250));
        e.start_batch();
        e.note_for_batch(0, 300);
        e.note_for_batch(2, 310);
        assert_eq!(e.queued_at(0), Some(310));
        assert_eq!(e.queued_at(2), None);
        e.note(4, 1);
        e.clear();
        e.start_batch();
        assert_eq!(e.queued_at(0), None);
    }
}
