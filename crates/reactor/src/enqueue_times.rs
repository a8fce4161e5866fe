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

/// Notes kept before the consumed ones are dropped (amortised: a turn
/// costs two stores, not a buffer swap).
const COMPACT_AFTER: usize = 1024;

/// Queue lengths and the ticks at which they were reached.
#[derive(Default)]
pub struct EnqueueTimes {
    /// (queue length, ticks): `[..lookup_end]` are the running batch's notes
    /// (from `cursor` on, not passed yet), `[lookup_end..]` the next one's.
    notes: Vec<(usize, u64)>,
    lookup_end: usize,
    cursor: usize,
    /// The last length noted for the next batch.
    noted_len: usize,
}

impl EnqueueTimes {
    /// Forgets everything (a new run, or metrics turned on).
    pub fn clear(&mut self) {
        self.notes.clear();
        self.lookup_end = 0;
        self.cursor = 0;
        self.noted_len = 0;
    }

    /// The ready queue holds `len` handlers at `now`: those beyond the last
    /// noted length were queued by then.
    #[inline]
    pub fn note(&mut self, len: usize, now: u64) {
        if len > self.noted_len {
            self.notes.push((len, now));
            self.noted_len = len;
        }
    }

    /// The ready queue was handed over as the next batch.
    #[inline]
    pub fn start_batch(&mut self) {
        if self.lookup_end >= COMPACT_AFTER {
            self.compact();
        }
        self.cursor = self.lookup_end;
        self.lookup_end = self.notes.len();
        self.noted_len = 0;
    }

    #[cold]
    fn compact(&mut self) {
        self.notes.drain(..self.lookup_end);
        self.lookup_end = 0;
    }

    /// Like [`EnqueueTimes::note`], for handlers queued after the batch was
    /// started but before it runs (from other threads, while the poller
    /// waited): they join the batch.
    #[inline]
    pub fn note_for_batch(&mut self, len: usize, now: u64) {
        if self.notes.len() != self.lookup_end {
            return; // a callback ran since `start_batch`: not before the batch
        }
        let last = if self.lookup_end > self.cursor {
            self.notes.last().map_or(0, |n| n.0)
        } else {
            0
        };
        if len > last {
            self.notes.push((len, now));
            self.lookup_end += 1;
        }
    }

    /// When the handler at position `i` of the running batch was queued, if
    /// known. Positions must be asked in increasing order.
    #[inline]
    pub fn queued_at(&mut self, i: usize) -> Option<u64> {
        while self.cursor < self.lookup_end {
            let &(len, t) = self.notes.get(self.cursor)?;
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

    #[test]
    fn old_notes_are_dropped_as_batches_go_by() {
        let mut e = EnqueueTimes::default();
        for turn in 0..5000u64 {
            e.note(1, turn);
            e.note(2, turn + 1);
            e.start_batch();
            assert_eq!(e.queued_at(0), Some(turn));
            assert_eq!(e.queued_at(1), Some(turn + 1));
            assert_eq!(e.queued_at(2), None);
        }
        assert!(e.notes.len() <= COMPACT_AFTER + 2);
    }
}
