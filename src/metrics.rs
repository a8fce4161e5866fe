//! Loop metrics on the Python side: the per-loop switch and state, the
//! dispatch loop's hooks, and the `MetricsSnapshot` that `loop.metrics()`
//! returns. The recording itself is pure Rust (`reactor::loop_metrics`).
//!
//! Off (the default) costs one load per turn: the dispatch loop picks its
//! metered or plain variant once per turn (`CoreLoop::run_once`), and the
//! plain one has no metrics code at all. Nothing per handle either: ready
//! callbacks' queueing times come from the ready queue's length at callback
//! boundaries (`reactor::enqueue_times`), not from a stamp in `call_soon`.
//!
//! Ownership: the state is in a `GilCell`, so the GIL protects it. It is
//! touched by the loop's thread in the dispatch loop and by whoever calls
//! `metrics()`/`reset_metrics()`/`set_metrics()` (any thread, holding the
//! GIL); no access runs Python code. A free-threaded build needs a lock
//! around it (taken once per callback boundary, uncontended).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use reactor::histogram::LogHistogram;
use reactor::sys::cycles::Ticks;
use reactor::{LoopMetrics, Popped};

use crate::gil_cell::GilCell;
use crate::handle::{Handle, TimerHandle};

/// A callback in the slowest list: its name and where it is defined.
#[derive(PartialEq, Clone)]
pub(crate) struct Label {
    name: String,
    place: String,
}

/// `oxloop._metrics.describe_callback`.
static DESCRIBE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The quantiles `lag` reports.
const LAG_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// One loop's metrics switch and figures.
#[derive(Default)]
pub(crate) struct Metrics {
    on: AtomicBool,
    /// Made the first time metrics are turned on, kept after they are turned
    /// off (a snapshot still shows what was recorded).
    state: GilCell<Option<Box<LoopMetrics<Label>>>>,
}

impl Metrics {
    /// Whether the next turn is metered.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Runs `f` on the state, if any.
    #[inline(always)]
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut LoopMetrics<Label>) -> R) -> Option<R> {
        // SAFETY: every closure passed here only does arithmetic on the state, moves
        // Rust strings, or reads the clock; none runs Python code.
        unsafe { self.state.with(py, |s| s.as_deref_mut().map(f)) }
    }

    /// Turns metrics on or off (from the next turn on).
    pub(crate) fn set(&self, py: Python<'_>, enabled: bool) {
        if enabled {
            // Made outside the cell: `new` may measure the tick rate (2 ms, once).
            let fresh = if self.with(py, |_| ()).is_none() {
                Some(Box::new(LoopMetrics::new()))
            } else {
                None
            };
            // SAFETY: the closure only moves a Rust value.
            unsafe {
                self.state.with(py, |s| {
                    if s.is_none() {
                        *s = fresh;
                    }
                })
            };
            self.with(py, |m| m.set_stale());
        }
        self.on.store(enabled, Relaxed);
    }

    /// A run starts: the first turn reads the clock afresh.
    pub(crate) fn run_starts(&self, py: Python<'_>) {
        self.with(py, |m| m.set_stale());
    }

    pub(crate) fn reset(&self, py: Python<'_>) {
        self.with(py, |m| m.reset());
    }

    /// A turn starts, with `ready_len` handlers queued.
    #[inline]
    pub(crate) fn begin_turn(&self, py: Python<'_>, ready_len: usize) {
        self.with(py, |m| m.begin_turn(ready_len));
    }

    /// A turn starts with its batch of `len` handlers already taken (no poll).
    #[inline]
    pub(crate) fn begin_turn_with_batch(&self, py: Python<'_>, len: usize) {
        self.with(py, |m| m.begin_turn_with_batch(len));
    }

    #[inline]
    pub(crate) fn polled(&self, py: Python<'_>, ready_len: usize) {
        self.with(py, |m| m.polled(ready_len));
    }

    #[inline]
    pub(crate) fn batch_len(&self, py: Python<'_>, len: usize) {
        self.with(py, |m| m.batch_len(len));
    }

    /// The rest of the batch was cut to `left` handlers (I/O deferred).
    pub(crate) fn batch_left_now(&self, py: Python<'_>, left: usize) {
        self.with(py, |m| m.set_batch_left(left));
    }

    /// The dispatch loop popped a handler it does not run now.
    #[inline]
    pub(crate) fn skipped(&self, py: Python<'_>) {
        self.with(py, |m| m.skipped());
    }

    /// The tick source the dispatch loop reads for [`Metrics::callback_ran`]
    /// (a metered turn has the state).
    #[inline]
    pub(crate) fn ticks(&self, py: Python<'_>) -> Ticks {
        self.with(py, |m| m.ticks()).unwrap_or_else(Ticks::source)
    }

    /// `h` ran (its callback taken out for the run, or still in it) until
    /// `now`, read from [`Metrics::ticks`] as it returned;
    /// `ready_len` tells how many handlers are queued now (asked rarely). `clock_replaced`: timers'
    /// deadlines are not on the monotonic clock. A callback slow enough for
    /// the slowest list is described (a Python call, rare).
    #[inline(always)]
    pub(crate) fn callback_ran(
        &self,
        py: Python<'_>,
        h: &Py<Handle>,
        taken: Option<Py<PyAny>>,
        now: u64,
        ready_len: impl FnOnce() -> usize,
        clock_replaced: bool,
    ) {
        let handle = h.get();
        let kind = if !handle.is_one_shot() {
            Popped::NoLag
        } else if handle.is_timer() {
            match h.bind(py).cast::<TimerHandle>() {
                Ok(t) if !clock_replaced => Popped::Timer(t.get().when_due()),
                _ => Popped::NoLag,
            }
        } else {
            Popped::Ready
        };
        if let Some(Some(d)) = self.with(py, |m| m.callback_ran(kind, now, ready_len)) {
            self.offer_slow(py, handle, taken.as_ref(), d);
        }
        drop(taken);
    }

    #[cold]
    fn offer_slow(&self, py: Python<'_>, handle: &Handle, taken: Option<&Py<PyAny>>, d: u64) {
        let callback = match taken {
            Some(cb) => Some(cb.clone_ref(py)),
            None => handle.call_parts(py).map(|(cb, _)| cb),
        };
        let label = describe(py, callback).unwrap_or_else(|_| Label {
            name: "?".to_owned(),
            place: "?".to_owned(),
        });
        // The description's own time is nobody's: the next callback starts now.
        self.with(py, |m| {
            m.offer_slow(d, label);
            m.restart_clock();
        });
    }

    /// A snapshot of the figures; `pending` counts the loop's queued
    /// handlers (and, while a batch runs, the rest of the batch).
    pub(crate) fn snapshot(
        &self,
        py: Python<'_>,
        pending: usize,
        running: bool,
    ) -> MetricsSnapshot {
        let enabled = self.is_on();
        let taken = self.with(py, |m| {
            let (q, max) = m.lag_quantiles(&LAG_QUANTILES);
            MetricsSnapshot {
                enabled,
                iterations: m.iterations(),
                callbacks: m.callbacks(),
                pending: pending + if running { m.batch_left() } else { 0 },
                poll_seconds: m.poll_seconds(),
                callback_seconds: m.callback_seconds(),
                lag: [
                    q.first().copied().unwrap_or(0.0),
                    q.get(1).copied().unwrap_or(0.0),
                    q.get(2).copied().unwrap_or(0.0),
                    max,
                ],
                slowest: m
                    .slowest()
                    .map(|(s, l)| (l.name.clone(), l.place.clone(), s))
                    .collect(),
                durations: m.durations().clone(),
                lag_samples: m.lag_window(),
                lag_total: m.lag_total(),
                seconds_per_tick: m.seconds_per_tick(),
            }
        });
        taken.unwrap_or_else(|| MetricsSnapshot {
            enabled,
            iterations: 0,
            callbacks: 0,
            pending,
            poll_seconds: 0.0,
            callback_seconds: 0.0,
            lag: [0.0; 4],
            slowest: Vec::new(),
            durations: LogHistogram::new(),
            lag_samples: LogHistogram::new(),
            lag_total: (0, 0.0),
            seconds_per_tick: 1e-9,
        })
    }
}

/// The name and place of a callback (`oxloop._metrics`).
fn describe(py: Python<'_>, callback: Option<Py<PyAny>>) -> PyResult<Label> {
    let Some(callback) = callback else {
        return Ok(Label {
            name: "?".to_owned(),
            place: "?".to_owned(),
        });
    };
    let f = DESCRIBE.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("oxloop._metrics")?
                .getattr("describe_callback")?
                .unbind(),
        )
    })?;
    let (name, place): (String, String) = f.bind(py).call1((callback,))?.extract()?;
    Ok(Label { name, place })
}

/// What `loop.metrics()` returns: the loop's figures at one moment.
#[pyclass(frozen, module = "oxloop._core", name = "MetricsSnapshot")]
pub struct MetricsSnapshot {
    enabled: bool,
    iterations: u64,
    callbacks: u64,
    pending: usize,
    poll_seconds: f64,
    callback_seconds: f64,
    /// p50, p90, p99, max.
    lag: [f64; 4],
    /// (name, where, seconds), worst first.
    slowest: Vec<(String, String, f64)>,
    durations: LogHistogram,
    /// The lag window's samples.
    lag_samples: LogHistogram,
    /// Lag samples since the last reset: count, sum in seconds.
    lag_total: (u64, f64),
    seconds_per_tick: f64,
}

impl MetricsSnapshot {
    /// Cumulative counts of `h` at `bounds` (seconds, ascending).
    fn counts(&self, h: &LogHistogram, bounds: Vec<f64>) -> PyResult<Vec<u64>> {
        if bounds.windows(2).any(|w| w[0] > w[1]) || bounds.iter().any(|b| b.is_nan()) {
            return Err(PyValueError::new_err("bounds must be ascending numbers"));
        }
        let ticks: Vec<u64> = bounds
            .iter()
            .map(|b| (b / self.seconds_per_tick).max(0.0) as u64)
            .collect();
        Ok(h.cumulative(&ticks))
    }
}

#[pymethods]
impl MetricsSnapshot {
    /// Whether metrics were on when the snapshot was taken.
    #[getter]
    fn enabled(&self) -> PyResult<bool> {
        Ok(self.enabled)
    }

    /// Loop turns since the last reset.
    #[getter]
    fn iterations(&self) -> PyResult<u64> {
        Ok(self.iterations)
    }

    /// Callbacks run since the last reset.
    #[getter]
    fn callbacks(&self) -> PyResult<u64> {
        Ok(self.callbacks)
    }

    /// Handles waiting: ready, timers (cancelled ones included), deferred.
    #[getter]
    fn pending(&self) -> PyResult<usize> {
        Ok(self.pending)
    }

    /// Seconds spent waiting in the poller.
    #[getter]
    fn poll_seconds(&self) -> PyResult<f64> {
        Ok(self.poll_seconds)
    }

    /// Seconds spent running callbacks.
    #[getter]
    fn callback_seconds(&self) -> PyResult<f64> {
        Ok(self.callback_seconds)
    }

    /// How late callbacks and timers started, over the sliding window:
    /// `{"p50", "p90", "p99", "max"}` in seconds.
    #[getter]
    fn lag<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in ["p50", "p90", "p99", "max"].iter().zip(self.lag) {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The slowest callbacks since the last reset, worst first: dicts with
    /// `name`, `where` and `seconds`.
    #[getter]
    fn slowest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (name, place, seconds) in &self.slowest {
            let d = PyDict::new(py);
            d.set_item("name", name)?;
            d.set_item("where", place)?;
            d.set_item("seconds", seconds)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// How many callbacks ran at most each bound (seconds, ascending).
    fn callback_counts(&self, bounds: Vec<f64>) -> PyResult<Vec<u64>> {
        self.counts(&self.durations, bounds)
    }

    /// How many lag samples of the window were at most each bound.
    fn lag_counts(&self, bounds: Vec<f64>) -> PyResult<Vec<u64>> {
        self.counts(&self.lag_samples, bounds)
    }

    /// Lag samples since the last reset.
    #[getter]
    fn lag_count(&self) -> PyResult<u64> {
        Ok(self.lag_total.0)
    }

    /// Sum of the lag samples since the last reset, in seconds.
    #[getter]
    fn lag_sum(&self) -> PyResult<f64> {
        Ok(self.lag_total.1)
    }

    /// The figures as a plain dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("iterations", self.iterations)?;
        d.set_item("callbacks", self.callbacks)?;
        d.set_item("pending", self.pending)?;
        d.set_item("poll_seconds", self.poll_seconds)?;
        d.set_item("callback_seconds", self.callback_seconds)?;
        d.set_item("lag", self.lag(py)?)?;
        d.set_item("slowest", self.slowest(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> PyResult<String> {
        let slowest = self.slowest.first().map_or(String::new(), |(n, _, s)| {
            format!(" slowest={n:?} {:.3}ms", s * 1e3)
        });
        Ok(format!(
            "<MetricsSnapshot iterations={} callbacks={} pending={} poll={:.3}s \
             callback_time={:.3}s lag_p99={:.3}ms lag_max={:.3}ms{slowest}{}>",
            self.iterations,
            self.callbacks,
            self.pending,
            self.poll_seconds,
            self.callback_seconds,
            self.lag[2] * 1e3,
            self.lag[3] * 1e3,
            if self.enabled { "" } else { " (off)" },
        ))
    }
}
