//! The timer queue: a binary min-heap ordered by deadline, then by insertion.
//!
//! asyncio's `_scheduled` is a heap of `TimerHandle`s keyed by `when`. This
//! queue keeps the same shape but adds a sequence number, so timers with equal
//! deadlines fire in the order they were scheduled. Cancelled timers stay in
//! the heap until they reach the top or the owner compacts with [`retain`].
//!
//! [`retain`]: TimerQueue::retain

use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<T> {
    when: f64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    // Reversed, so std's max-heap pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .when
            .total_cmp(&self.when)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Timers keyed by an absolute deadline in seconds.
pub struct TimerQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    next_seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `item` at `when`. A NaN deadline is due at once: asyncio's
    /// loop compares deadlines with `<`/`>=`, every comparison with NaN is
    /// false, so its heap never holds such a timer back (`call_later(nan, cb)`
    /// runs `cb` on the next turn). Kept as NaN, it would sort after every
    /// other deadline and never be due: a callback lost without a word.
    pub fn push(&mut self, when: f64, item: T) {
        let when = if when.is_nan() {
            f64::NEG_INFINITY
        } else {
            when
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.heap.push(Entry { when, seq, item });
    }

    /// The earliest deadline and its item, without removing it.
    pub fn peek(&self) -> Option<(f64, &T)> {
        self.heap.peek().map(|e| (e.when, &e.item))
    }

    /// Every queued item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.heap.iter().map(|e| &e.item)
    }

    /// Removes and returns the earliest timer.
    pub fn pop(&mut self) -> Option<(f64, T)> {
        self.heap.pop().map(|e| (e.when, e.item))
    }

    /// Removes and returns the earliest timer if its deadline is before `end`.
    pub fn pop_due(&mut self, end: f64) -> Option<T> {
        match self.heap.peek() {
            Some(e) if e.when < end => self.heap.pop().map(|e| e.item),
            _ => None,
        }
    }

    /// Number of timers, cancelled ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Keeps only the timers for which `keep` holds and returns the removed
    /// items, so the caller decides where they are dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) -> Vec<T> {
        let entries = std::mem::take(&mut self.heap).into_vec();
        let mut kept = Vec::with_capacity(entries.len());
        let mut removed = Vec::new();
        for e in entries {
            if keep(&e.item) {
                kept.push(e);
            } else {
                removed.push(e.item);
            }
        }
        self.heap = BinaryHeap::from(kept);
        removed
    }

    /// Removes every timer and returns the items.
    pub fn drain(&mut self) -> Vec<T> {
        std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .map(|e| e.item)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_fifo_on_ties() {
        let mut q = TimerQueue::new();
        q.push(3.0, "c");
        q.push(1.0, "a1");
        q.push(2.0, "b");
        q.push(1.0, "a2");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, t)| t)).collect();
        assert_eq!(order, vec!["a1", "a2", "b", "c"]);
    }

    #[test]
    fn pop_due_respects_end() {
        let mut q = TimerQueue::new();
        q.push(1.0, 1);
        q.push(2.0, 2);
        assert_eq!(q.pop_due(1.0), None);
        assert_eq!(q.pop_due(1.5), Some(1));
        assert_eq!(q.pop_due(1.5), None);
        assert_eq!(q.peek().map(|(w, _)| w), Some(2.0));
    }

    #[test]
    fn retain_keeps_heap_order() {
        let mut q = TimerQueue::new();
        for i in 0..100 {
            q.push(f64::from((i * 37) % 100), i);
        }
        let removed = q.retain(|i| i % 2 == 0);
        assert_eq!(removed.len(), 50);
        let mut last = f64::NEG_INFINITY;
        while let Some((w, i)) = q.pop() {
            assert!(w >= last);
            assert_eq!(i % 2, 0);
            last = w;
        }
    }

    #[test]
    fn nan_deadline_is_due_at_once() {
        let mut q = TimerQueue::new();
        q.push(1.0, "one");
        q.push(f64::NAN, "nan");
        q.push(-f64::NAN, "negative nan");
        assert_eq!(q.pop_due(0.0), Some("nan"));
        assert_eq!(q.pop_due(0.0), Some("negative nan"));
        assert_eq!(q.pop_due(0.0), None);
        assert_eq!(q.pop().map(|(_, t)| t), Some("one"));
        assert!(q.is_empty());
    }

    #[test]
    fn infinite_deadline_is_never_due() {
        let mut q = TimerQueue::new();
        q.push(f64::INFINITY, "never");
        q.push(f64::NEG_INFINITY, "now");
        assert_eq!(q.pop_due(f64::MAX), Some("now"));
        assert_eq!(q.pop_due(f64::MAX), None);
        assert_eq!(q.len(), 1);
    }
}
