//! The slowest callbacks seen: a short list of (duration, label), worst
//! first, one entry per label.
//!
//! Labels (a callback's name and place) cost a Python call to make, so the
//! caller first asks [`Slowest::beats`] (one comparison, on every callback)
//! and makes the label only for a duration that may enter. A label already
//! listed raises the bar for everything else to that duration: a loop that
//! keeps running the same few callbacks then stops describing them after a
//! handful of new records, instead of on every callback while the list is
//! not yet full.

/// At most `capacity` entries, sorted by duration, longest first.
pub struct Slowest<L> {
    entries: Vec<(u64, L)>,
    capacity: usize,
    /// Durations at or below this cannot change the list (or are not worth
    /// describing, see the module notes).
    bar: u64,
    /// The bar raised by repeats of a listed label.
    floor: u64,
}

impl<L: PartialEq> Slowest<L> {
    /// An empty list of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Slowest {
            entries: Vec::with_capacity(capacity),
            capacity,
            bar: 0,
            floor: 0,
        }
    }

    /// Whether a callback that took `d` is worth describing and offering.
    #[inline]
    pub fn beats(&self, d: u64) -> bool {
        d > self.bar
    }

    /// Adds or updates the entry for `label`.
    pub fn offer(&mut self, d: u64, label: L) {
        if self.capacity == 0 {
            return;
        }
        if let Some(e) = self.entries.iter_mut().find(|e| e.1 == label) {
            e.0 = e.0.max(d);
            self.floor = self.floor.max(d);
        } else if self.entries.len() < self.capacity {
            self.entries.push((d, label));
        } else if let Some(last) = self.entries.last_mut() {
            if d > last.0 {
                *last = (d, label);
            }
        }
        self.entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let full_min = if self.entries.len() == self.capacity {
            self.entries.last().map_or(0, |e| e.0)
        } else {
            0
        };
        self.bar = full_min.max(self.floor);
    }

    /// The entries, longest first.
    pub fn entries(&self) -> &[(u64, L)] {
        &self.entries
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bar = 0;
        self.floor = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_longest_per_label_worst_first() {
        let mut s = Slowest::new(3);
        for (d, l) in [(5, "a"), (9, "b"), (7, "c"), (1, "d")] {
            if s.beats(d) {
                s.offer(d, l);
            }
        }
        assert_eq!(s.entries(), &[(9, "b"), (7, "c"), (5, "a")]);
        assert!(!s.beats(5));
        s.offer(8, "a");
        assert_eq!(s.entries(), &[(9, "b"), (8, "a"), (7, "c")]);
        s.offer(20, "e");
        assert_eq!(s.entries(), &[(20, "e"), (9, "b"), (8, "a")]);
        s.clear();
        assert!(s.entries().is_empty());
        assert!(s.beats(1));
    }

    #[test]
    fn a_repeated_label_raises_the_bar() {
        let mut s = Slowest::new(10);
        s.offer(5, "chain");
        assert!(s.beats(6));
        s.offer(6, "chain");
        assert!(
            !s.beats(6),
            "not describing the same callback again for less"
        );
        assert!(s.beats(7));
        assert_eq!(s.entries(), &[(6, "chain")]);
    }
}
