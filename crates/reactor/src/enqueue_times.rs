//! When the handlers of a batch were queued, without a timestamp per
//! handler and without a note per callback: the ready queue is first in,
//! first out, so it is enough to note how long the queue was at a few
//! callback boundaries.
//!
//! While batch *k* runs, the dispatch loop notes the ready queue's length
//! now and then ([`EnqueueTimes::note`]): the handlers at positions
//! `[previous length, new length)` were queued by then. When batch *k + 1*
//! starts ([`EnqueueTimes::begin`]) it notes the queue as it was handed
//! over, at the end of batch *k*, and the handler popped at position `i`
//! looks its time up ([`EnqueueTimes::queued_at`], a cursor that only
//! moves forward). Handlers past the noted lengths (timers, I/O) have no
//! time here.
//!
//! How sparse the notes may be is the caller's choice
//! (`loop_metrics.rs` notes only when time has passed since the last note,
//! so a handler's queueing time is late by at most that much). In the
//! common case a batch took no note but the last, and starting the next
//! one is a few stores: the lookup's note is kept in two fields, and the
//! vectors are only touched when there is more than one note.
//!
//! This keeps `call_soon` free of any metrics work: a per-handle stamp
//! would cost every call, metrics on or off.

/// `EnqueueTimes::at` when no note covers the position.
const NO_TIME: u64 = u64::MAX;

/// Queue lengths and the ticks at which they were reached.
#[derive(Default)]
pub struct EnqueueTimes {
    /// Notes taken while the running batch runs, for the next one.
    pending: Vec<(usize, u64)>,
    /// The longest length noted in `pending`.
    noted_len: usize,
    /// The running batch's notes after the one in (`end`, `at`), from
    /// `cursor` on.
    rest: Vec<(usize, u64)>,
    cursor: usize,
    /// The note in effect: positions below `end` were queued at `at`
    /// ([`NO_TIME`]: none). A lookup is one comparison until the position
    /// passes `end`.
    end: usize,
    at: u64,
}

impl EnqueueTimes {
    /// Forgets everything (a new run, or metrics turned on).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.noted_len = 0;
        self.rest.clear();
        self.cursor = 0;
        self.end = 0;
        self.at = NO_TIME;
    }

    /// The ready queue holds `len` handlers at `now`: those beyond the last
    /// noted length were queued by then.
    #[inline]
    pub fn note(&mut self, len: usize, now: u64) {
        if len > self.noted_len {
            self.pending.push((len, now));
            self.noted_len = len;
        }
    }

    /// The ready queue, `len` handlers at `now`, was handed over as the
    /// next batch: its notes are complete, and the lookups start from the
    /// first one.
    #[inline]
    pub fn begin(&mut self, len: usize, now: u64) {
        self.cursor = 0;
        if self.pending.is_empty() {
            self.rest.clear();
            (self.end, self.at) = (len, now);
        } else {
            self.begin_from_notes(len, now);
        }
    }

    #[cold]
    fn begin_from_notes(&mut self, len: usize, now: u64) {
        self.note(len, now);
        std::mem::swap(&mut self.pending, &mut self.rest);
        self.pending.clear();
        self.noted_len = 0;
        (self.end, self.at) = (0, NO_TIME);
    }

    /// Handlers queued after the batch began but before it runs (from
    /// other threads, while the poller waited): up to `len`, they join the
    /// batch, queued at `now`.
    pub fn note_for_batch(&mut self, len: usize, now: u64) {
        let top = self.rest.last().map_or(self.end, |n| n.0);
        if len > top {
            self.rest.push((len, now));
        }
    }

    /// When the handler at position `i` of the running batch was queued, if
    /// known. Positions must be asked in increasing order, after
    /// [`EnqueueTimes::begin`].
    #[inline]
    pub fn queued_at(&mut self, i: usize) -> Option<u64> {
        if i >= self.end {
            self.advance(i);
        }
        (self.at != NO_TIME).then_some(self.at)
    }

    /// Moves to the note covering position `i`, or past the last one.
    #[cold]
    fn advance(&mut self, i: usize) {
        while let Some(&(len, t)) = self.rest.get(self.cursor) {
            self.cursor += 1;
            (self.end, self.at) = (len, t);
            if i < len {
                return;
            }
        }
        self.end = usize::MAX;
        self.at = NO_TIME;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_the_note_that_covers_them() {
        let mut e = EnqueueTimes::default();
        e.begin(2, 100); // two queued before the run
        assert_eq!(e.queued_at(0), Some(100));
        e.note(1, 150); // the running batch queues for the next one
        e.note(1, 160); // nothing new
        e.note(3, 200);
        assert_eq!(e.queued_at(1), Some(100));
        assert_eq!(e.queued_at(2), None, "a timer after the ready handlers");
        e.begin(4, 250);
        assert_eq!(e.queued_at(0), Some(150));
        assert_eq!(e.queued_at(1), Some(200));
        assert_eq!(e.queued_at(2), Some(200));
        assert_eq!(e.queued_at(3), Some(250));
        assert_eq!(e.queued_at(4), None);
        e.begin(1, 300);
        e.note_for_batch(1, 305); // nothing new
        e.note_for_batch(3, 310); // two more from another thread
        assert_eq!(e.queued_at(0), Some(300));
        assert_eq!(e.queued_at(2), Some(310));
        assert_eq!(e.queued_at(3), None);
        e.note(4, 1);
        e.clear();
        e.begin(0, 400);
        assert_eq!(e.queued_at(0), None);
    }

    #[test]
    fn a_lookup_may_skip_notes() {
        let mut e = EnqueueTimes::default();
        e.begin(0, 0);
        for (len, t) in [(1, 10), (2, 20), (3, 30)] {
            e.note(len, t);
        }
        e.begin(3, 40);
        assert_eq!(e.queued_at(2), Some(30));
        assert_eq!(e.queued_at(5), None);
    }

    #[test]
    fn vectors_do_not_grow_as_batches_go_by() {
        let mut e = EnqueueTimes::default();
        e.begin(0, 0);
        for turn in 0..5000u64 {
            e.note(1, turn);
            e.note(2, turn + 1);
            e.begin(2, turn + 2);
            assert_eq!(e.queued_at(0), Some(turn));
            assert_eq!(e.queued_at(1), Some(turn + 1));
            assert_eq!(e.queued_at(2), None);
        }
        assert!(e.pending.capacity() <= 4 && e.rest.capacity() <= 4);
    }
}
