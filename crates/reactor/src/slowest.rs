//! The slowest callbacks seen: a short list of (duration, label), worst
//! first, one entry per label.
//!
//! Labels (a callback's name and place) cost a Python call to make, so the
//! caller first asks [`Slowest::beats`] (one comparison, on every callback)
//! and makes the label only for a duration that may enter. A label already
//! listed raises a floor to that duration: a loop that keeps running the
//! same few callbacks would otherwise describe them on every call while the
//! list is not full. A duration above the bar but not above the floor may
//! still be a callback not listed yet: the first [`FREE_DESCRIPTIONS`] of
//! those are described at once, later ones at most once per `spacing`
//! ticks, so the list still fills up with distinct callbacks.

/// Descriptions of durations below the floor made before spacing applies.
pub const FREE_DESCRIPTIONS: u32 = 256;

/// At most `capacity` entries, sorted by duration, longest first.
pub struct Slowest<L> {
    entries: Vec<(u64, L)>,
    capacity: usize,
    /// Durations at or below this cannot enter the full list.
    bar: u64,
    /// The bar raised by repeats of a listed label.
    floor: u64,
    /// Ticks between two descriptions of durations not above the floor.
    spacing: u64,
    /// When the next such description may happen (0 while credits last).
    next_free: u64,
    /// Descriptions below the floor left before spacing applies.
    credits: u32,
}

impl<L: PartialEq> Slowest<L> {
    /// An empty list of at most `capacity` entries, describing durations
    /// below the floor at most once per `spacing` ticks.
    pub fn new(capacity: usize, spacing: u64) -> Self {
        Slowest {
            entries: Vec::with_capacity(capacity),
            capacity,
            bar: 0,
            floor: 0,
            spacing,
            next_free: 0,
            credits: FREE_DESCRIPTIONS,
        }
    }

    /// Whether a callback that took `d`, ending at `now`, is worth
    /// describing and offering.
    #[inline]
    pub fn beats(&self, d: u64, now: u64) -> bool {
        d > self.bar && (d > self.floor || now >= self.next_free)
    }

    /// Adds or updates the entry for `label` (a callback that took `d`,
    /// described at `now`).
    pub fn offer(&mut self, d: u64, label: L, now: u64) {
        if self.capacity == 0 {
            return;
        }
        if d <= self.floor {
            if self.credits > 0 {
                self.credits -= 1;
            } else {
                self.next_free = now.saturating_add(self.spacing);
            }
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
        self.bar = full_min;
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
        self.next_free = 0;
        self.credits = FREE_DESCRIPTIONS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_longest_per_label_worst_first() {
        let mut s = Slowest::new(3, 0);
        for (d, l) in [(5, "a"), (9, "b"), (7, "c"), (1, "d")] {
            if s.beats(d, 0) {
                s.offer(d, l, 0);
            }
        }
        assert_eq!(s.entries(), &[(9, "b"), (7, "c"), (5, "a")]);
        assert!(!s.beats(5, 0));
        s.offer(8, "a", 0);
        assert_eq!(s.entries(), &[(9, "b"), (8, "a"), (7, "c")]);
        s.offer(20, "e", 0);
        assert_eq!(s.entries(), &[(20, "e"), (9, "b"), (8, "a")]);
        s.clear();
        assert!(s.entries().is_empty());
        assert!(s.beats(1, 0));
    }

    #[test]
    fn a_repeated_label_raises_a_floor_that_spacing_lets_others_under() {
        let mut s = Slowest::new(10, 100);
        s.offer(5, "chain", 0);
        assert!(s.beats(6, 1));
        s.offer(6, "chain", 1);
        assert!(s.beats(7, 2), "a new record is always described");
        for _ in 0..FREE_DESCRIPTIONS {
            assert!(s.beats(3, 2), "the first few are free");
            s.offer(3, "other", 2);
        }
        s.offer(3, "other", 2); // described below the floor: spacing starts
        assert!(!s.beats(4, 50), "below the floor, within the spacing");
        assert!(s.beats(4, 102));
        assert_eq!(s.entries(), &[(6, "chain"), (3, "other")]);
    }
}
