//! A cheap tick counter for timing callbacks: the CPU's time-stamp counter
//! where it runs at a constant rate, else the monotonic clock in nanoseconds.
//!
//! Reading `CLOCK_MONOTONIC` costs ~18 ns on the benchmark VM (vDSO over
//! the TSC), a tenth of a callback in a `call_soon` chain; `rdtsc` alone
//! costs ~8 ns. Metrics read a counter at every callback boundary, so they
//! read ticks and convert to seconds only when a snapshot is taken.
//!
//! # Implementation notes
//! The source is chosen once per process ([`ticks`] then reads a static):
//! the TSC only if CPUID says it is invariant (constant rate, not stopped
//! in sleep states), which is also what lets Linux use it as a clocksource.
//! Its rate is measured once against `CLOCK_MONOTONIC` over 2 ms
//! ([`seconds_per_tick`]): ~1e-5 relative error, far below what a latency
//! histogram resolves.

use std::sync::OnceLock;

use super::clock::monotonic;

/// How long the TSC rate is measured against the monotonic clock.
const CALIBRATION_SECONDS: f64 = 0.002;

struct Source {
    tsc: bool,
    seconds_per_tick: f64,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

#[cfg(target_arch = "x86_64")]
fn invariant_tsc() -> bool {
    use std::arch::x86_64::__cpuid;
    // CPUID exists on every x86_64 CPU (the intrinsic is safe there); leaf 0x80000000
    // reports the highest extended leaf, and leaf 0x80000007 is only read when it exists.
    __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and has no side effects.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_tsc() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    0
}

fn monotonic_ns() -> u64 {
    (monotonic() * 1e9) as u64
}

fn source() -> &'static Source {
    SOURCE.get_or_init(|| {
        if invariant_tsc() {
            let (m0, t0) = (monotonic(), read_tsc());
            let mut m1 = monotonic();
            while m1 - m0 < CALIBRATION_SECONDS {
                m1 = monotonic();
            }
            let t1 = read_tsc();
            if t1 > t0 {
                return Source {
                    tsc: true,
                    seconds_per_tick: (m1 - m0) / (t1 - t0) as f64,
                };
            }
        }
        Source {
            tsc: false,
            seconds_per_tick: 1e-9,
        }
    })
}

/// Chooses the tick source and measures its rate, if not done yet (up to
/// 2 ms, once per process). Call before the first [`ticks`].
pub fn calibrate() {
    source();
}

/// The current tick count; ticks only go forward on one thread.
#[inline]
pub fn ticks() -> u64 {
    match SOURCE.get() {
        Some(s) if s.tsc => read_tsc(),
        _ => monotonic_ns(),
    }
}

/// [`ticks`] with the source looked up once, for a caller that reads it on
/// every callback.
#[derive(Clone, Copy, Debug)]
pub struct Ticks {
    tsc: bool,
}

impl Ticks {
    /// The calibrated source (calibrates first if needed).
    pub fn source() -> Self {
        Ticks { tsc: source().tsc }
    }

    /// The current tick count, as [`ticks`] reads it.
    #[inline]
    pub fn now(self) -> u64 {
        if self.tsc {
            read_tsc()
        } else {
            monotonic_ns()
        }
    }
}

/// Seconds per tick of [`ticks`].
pub fn seconds_per_tick() -> f64 {
    source().seconds_per_tick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_measure_seconds() {
        calibrate();
        let spt = seconds_per_tick();
        let (m0, t0) = (monotonic(), ticks());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (m1, t1) = (monotonic(), ticks());
        let measured = (t1 - t0) as f64 * spt;
        assert!(
            (measured - (m1 - m0)).abs() < 0.002,
            "{measured} vs {}",
            m1 - m0
        );
    }
}
