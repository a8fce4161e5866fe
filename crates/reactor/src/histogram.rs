//! A log-linear histogram of `u64` samples (durations in ticks): constant
//! work per sample, quantiles within 1/16 of the true value.
//!
//! Values below 16 get a bucket each; above, every power of two is split
//! into 16 equal buckets (the HDR histogram layout with 4 significant
//! bits). 976 buckets cover the whole `u64` range, so no sample is ever
//! clamped, and recording is a leading-zero count, a shift and an add.

/// Sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Buckets for every `u64`: 16 exact ones, then 16 per power of two from 2^4.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;
/// The bucket array's length: a power of two, so that masking an index
/// proves it in bounds (the buckets past `BUCKETS` stay empty).
const SLOTS: usize = BUCKETS.next_power_of_two();

/// The bucket holding `v`.
#[inline]
fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let top = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = top - SUB_BITS;
    let sub = (v >> shift) as usize & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// The smallest and largest value of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, i as u64);
    }
    let shift = (i / SUB - 1) as u32;
    let low = ((SUB + i % SUB) as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

/// Counts of samples per bucket, with their sum and maximum (the number
/// of samples is added up when asked for: one add less per sample).
#[derive(Clone)]
pub struct LogHistogram {
    counts: Box<[u64; SLOTS]>,
    sum: u64,
    max: u64,
}

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: Box::new([0; SLOTS]),
            sum: 0,
            max: 0,
        }
    }
}

impl LogHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[index(v) & (SLOTS - 1)] += 1;
        self.sum = self.sum.wrapping_add(v);
        self.max = self.max.max(v);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the samples (wraps after 2^64: 190 years of TSC ticks).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The largest sample, 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.sum = 0;
        self.max = 0;
    }

    /// Adds `other`'s samples to this histogram.
    pub fn merge(&mut self, other: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.sum = self.sum.wrapping_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// The value below which a fraction `q` (0..=1) of the samples lie: the
    /// top of the bucket holding that rank, but never above the maximum.
    /// 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().take(BUCKETS).enumerate() {
            seen += c;
            if seen >= rank {
                return bounds(i).1.min(self.max);
            }
        }
        self.max
    }

    /// For each bound (ascending), how many samples are at most that bound,
    /// to bucket resolution: a bucket counts once its largest value is, so
    /// no sample above a bound is counted under it.
    pub fn cumulative(&self, bounds_asc: &[u64]) -> Vec<u64> {
        let mut out = Vec::with_capacity(bounds_asc.len());
        let mut seen = 0;
        let mut i = 0;
        for &b in bounds_asc {
            while i < BUCKETS && bounds(i).1 <= b {
                seen += self.counts[i];
                i += 1;
            }
            out.push(seen);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_whole_range() {
        assert_eq!(index(0), 0);
        assert_eq!(index(15), 15);
        assert_eq!(index(16), 16);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (lo, hi) = bounds(i);
            assert_eq!(lo, next, "bucket {i} starts where the last ended");
            assert_eq!(index(lo), i);
            assert_eq!(index(hi), i);
            next = hi.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
    }

    #[test]
    fn quantiles_are_within_a_sixteenth() {
        let mut h = LogHistogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [(0.5, 5_000_000.0), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = h.quantile(q) as f64;
            assert!(
                got >= want && got <= want * (1.0 + 1.0 / 16.0),
                "{q}: {got}"
            );
        }
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.sum(), 1000 * 10_000 * 10_001 / 2);
    }

    #[test]
    fn empty_merge_clear_and_cumulative() {
        let mut a = LogHistogram::new();
        assert_eq!(a.quantile(0.99), 0);
        a.record(3);
        let mut b = LogHistogram::new();
        b.record(1000);
        b.record(100_000);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), 100_000);
        assert_eq!(
            a.cumulative(&[2, 3, 1000, 1023, u64::MAX]),
            vec![0, 1, 1, 2, 3]
        );
        a.clear();
        assert_eq!((a.count(), a.sum(), a.max()), (0, 0, 0));
        assert_eq!(a.cumulative(&[u64::MAX]), vec![0]);
    }
}
