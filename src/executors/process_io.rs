//! The I/O thread of a process pool: a Rust thread, never a Python one.
//!
//! Each turn it (1) hands queued tasks to workers with room
//! (`process_dispatch.rs`), (2) sleeps in `poll()` on the result pipes, the
//! task pipes it has bytes for and the pool's waker, (3) writes and reads
//! frames (non-blocking, no GIL) and notices workers whose result pipe
//! reached end of file, then (4) attaches to Python once for the whole turn
//! to unpickle results into futures and, if a worker died or a result could
//! not be unpickled, break the pool. It exits once the pool is shut down
//! (or broken) and every worker has exited, after joining their processes.
//!
//! A worker's death is seen as end of file on its result pipe, whatever
//! killed it (`os._exit`, a signal, a crash, an exception while it read its
//! task). The pool then breaks as `concurrent.futures` does: every future
//! not done gets `BrokenProcessPool`, the other workers are terminated
//! (and killed if they are still there [`KILL_AFTER`] later), and exited
//! workers are reaped as they go, so no zombie outlives a turn for long.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;

use crate::executors::frames::{encode, Frame, KIND_EXCEPTION, KIND_RESULT, KIND_STOP};
use crate::executors::future;
use crate::executors::process_dispatch::{flush, mark_running, queue_frames, take_handouts};
use crate::executors::process_pool::{Shared, Worker, FUTURE_BROKEN, IO_THREAD_OF, POOL_BROKEN};
use crate::executors::py_objects::{broken_process_pool, hooks, pickle_loads};
use crate::executors::sync::lock;

/// Bytes read from a result pipe per `read()`.
const READ_CHUNK: usize = 64 * 1024;

/// How long workers terminated by a broken pool have before `SIGKILL`.
const KILL_AFTER: Duration = Duration::from_secs(1);

/// How often exited workers not yet reaped are looked at again.
const REAP_EVERY_MS: i32 = 20;

/// What one turn's I/O found.
#[derive(Default)]
struct Harvest {
    frames: Vec<Frame>,
    broke: bool,
    replacements: usize,
}

/// What one turn plans, under the lock.
struct Plan {
    handouts: Vec<crate::executors::process_dispatch::Handout>,
    exit_now: bool,
    /// `poll()` timeout in milliseconds (-1: none).
    timeout_ms: i32,
    /// Pids of workers alive past their kill deadline.
    kill_now: Vec<libc::pid_t>,
}

pub fn io_main(shared: Arc<Shared>) {
    IO_THREAD_OF.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    // Attached for the thread's whole life (one thread state), detached for
    // everything but the Python work of a turn.
    let attached = Python::try_attach(|py| {
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        let mut targets: Vec<(usize, bool)> = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut exited: Vec<Py<PyAny>> = Vec::new();
        loop {
            let plan = py.detach(|| plan_turn(&shared, &mut pollfds, &mut targets, &exited));
            for pid in plan.kill_now {
                // SAFETY: plain syscall. The worker has not closed its
                // result pipe, so it is alive or a zombie not yet reaped by
                // us: its pid cannot have been reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if plan.exit_now {
                finish(py, &shared, exited);
                return;
            }
            if !plan.handouts.is_empty() {
                let outcomes = mark_running(py, &shared, plan.handouts);
                let (dropped, _) = queue_frames(&mut lock(&shared.state), outcomes);
                drop(dropped);
                continue;
            }
            let harvest = py.detach(|| {
                // SAFETY: `pollfds` is a live, initialised array of `pollfds.len()` entries.
                let ready = unsafe {
                    libc::poll(
                        pollfds.as_mut_ptr(),
                        pollfds.len() as libc::nfds_t,
                        plan.timeout_ms,
                    )
                };
                if ready < 0 {
                    return Harvest::default(); // EINTR; the next turn polls again
                }
                do_io(&shared, &pollfds, &targets, &mut buf)
            });
            if !harvest.frames.is_empty() || harvest.broke || harvest.replacements > 0 {
                settle(py, &shared, harvest);
            }
            exited.append(&mut std::mem::take(&mut lock(&shared.state).exited));
            reap(py, &mut exited);
        }
    });
    if attached.is_none() {
        lock(&shared.state).io_done = true;
        shared.io_finished.notify_all();
    }
}

/// Under the lock: hands out tasks, queues stop frames when the pool is
/// done, decides whether to exit and builds the poll set.
fn plan_turn(
    shared: &Shared,
    pollfds: &mut Vec<libc::pollfd>,
    targets: &mut Vec<(usize, bool)>,
    unreaped: &[Py<PyAny>],
) -> Plan {
    let mut state = lock(&shared.state);
    let state = &mut *state;
    let handouts = take_handouts(state, shared.max_tasks());
    let finishing = state.shutdown || state.broken.is_some();
    if finishing && state.pending.is_empty() && handouts.is_empty() {
        for worker in state.workers.iter_mut().filter(|w| !w.stopping && !w.eof) {
            worker
                .out
                .extend(encode(0, KIND_STOP, b"").unwrap_or_default());
            worker.stopping = true;
        }
    }
    let mut kill_now = Vec::new();
    let mut timeout_ms = if unreaped.is_empty() {
        -1
    } else {
        REAP_EVERY_MS
    };
    if let Some(deadline) = state.kill_deadline {
        let now = Instant::now();
        if now >= deadline {
            state.kill_deadline = None;
            kill_now.extend(state.workers.iter().map(|w| w.pid));
        } else {
            let left = (deadline - now).as_millis().min(i32::MAX as u128) as i32 + 1;
            timeout_ms = if timeout_ms < 0 {
                left
            } else {
                timeout_ms.min(left)
            };
        }
    }
    let exit_now = finishing
        && state.pending.is_empty()
        && state.workers.is_empty()
        && state.starting == 0
        && handouts.is_empty();
    if handouts.is_empty() && !exit_now {
        shared.waker.arm();
        pollfds.clear();
        targets.clear();
        pollfds.push(libc::pollfd {
            fd: shared.waker.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for (index, worker) in state.workers.iter().enumerate() {
            if worker.eof {
                continue;
            }
            pollfds.push(libc::pollfd {
                fd: worker.result_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            targets.push((index, false));
            if !worker.out.is_empty() {
                pollfds.push(libc::pollfd {
                    fd: worker.task_fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                });
                targets.push((index, true));
            }
        }
    }
    Plan {
        handouts,
        exit_now,
        timeout_ms,
        kill_now,
    }
}

/// Reads everything available from the worker's result pipe.
fn drain_results(worker: &mut Worker, buf: &mut [u8], frames: &mut Vec<Frame>) {
    loop {
        let fd = worker.result_fd.as_raw_fd();
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            worker.reader.feed(&buf[..n as usize]);
            continue;
        }
        if n < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => break,
                _ => worker.eof = true,
            }
        } else {
            worker.eof = true;
        }
        break;
    }
    while let Some(frame) = worker.reader.next_frame() {
        if let Some(pos) = worker.in_flight.iter().position(|id| *id == frame.id) {
            worker.in_flight.remove(pos);
        }
        frames.push(frame);
    }
}

/// Under the lock: the turn's reads and writes, then retires exited workers.
fn do_io(
    shared: &Shared,
    pollfds: &[libc::pollfd],
    targets: &[(usize, bool)],
    buf: &mut [u8],
) -> Harvest {
    let max_tasks = shared.max_tasks();
    let mut harvest = Harvest::default();
    let mut state = lock(&shared.state);
    if pollfds.first().is_some_and(|p| p.revents != 0) {
        let _ = shared.waker.clear_signal();
    }
    for (pollfd, &(index, is_task_pipe)) in pollfds.iter().skip(1).zip(targets) {
        if pollfd.revents == 0 {
            continue;
        }
        let Some(worker) = state.workers.get_mut(index) else {
            continue;
        };
        if is_task_pipe {
            flush(worker);
        } else {
            drain_results(worker, buf, &mut harvest.frames);
        }
    }
    let mut retired_by_quota = 0;
    let mut index = 0;
    while index < state.workers.len() {
        let worker = &state.workers[index];
        if !worker.eof {
            index += 1;
            continue;
        }
        let quota_done = max_tasks.is_some_and(|max| worker.sent >= max);
        let expected = worker.in_flight.is_empty()
            && !worker.reader.has_partial()
            && (worker.stopping || quota_done);
        if !expected {
            harvest.broke = true;
        } else if quota_done && !worker.stopping {
            retired_by_quota += 1;
        }
        let worker = state.workers.remove(index);
        state.exited.push(worker.process);
    }
    state.idle_credits += harvest.frames.len();
    if harvest.broke && state.broken.is_none() {
        state.broken = Some(POOL_BROKEN);
    } else {
        harvest.broke = false;
    }
    if retired_by_quota > 0 {
        harvest.replacements = shared.claim_replacements(&mut state);
    }
    harvest
}

/// Unpickles one result frame: the value or the exception the call gave.
fn outcome<'py>(
    py: Python<'py>,
    frame: &Frame,
) -> PyResult<Result<Bound<'py, PyAny>, Bound<'py, PyAny>>> {
    match frame.kind {
        KIND_RESULT => pickle_loads(py, &frame.payload).map(Ok),
        KIND_EXCEPTION => pickle_loads(py, &frame.payload)
            .and_then(|pair| {
                hooks(py)?.call_method1(intern!(py, "exception_with_remote_traceback"), (pair,))
            })
            .map(Err),
        _ => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "process pool worker sent a frame of unknown kind",
        )),
    }
}

/// Attached: completes the turn's futures, breaks the pool if a worker
/// died or a result could not be unpickled, starts replacement workers.
fn settle(py: Python<'_>, shared: &Arc<Shared>, harvest: Harvest) {
    let mut cause: Option<PyErr> = None;
    for frame in &harvest.frames {
        let future = lock(&shared.state).futures.remove(&frame.id);
        let Some(future) = future else {
            continue;
        };
        let future = future.bind(py);
        let done = match outcome(py, frame) {
            Ok(Ok(value)) => future::set_result(py, future, &value),
            Ok(Err(exc)) => future::set_exception(py, future, &exc),
            Err(err) => {
                // As `concurrent.futures`: a result that cannot be read
                // breaks the pool, and this future fails with the others.
                let mut state = lock(&shared.state);
                state.futures.insert(frame.id, future.clone().unbind());
                state.broken.get_or_insert(POOL_BROKEN);
                cause.get_or_insert(err);
                Ok(())
            }
        };
        if let Err(err) = done {
            err.write_unraisable(py, Some(future));
        }
    }
    if harvest.broke || cause.is_some() {
        break_pool(py, shared, cause);
        return;
    }
    if harvest.replacements > 0 {
        if let Err(err) = shared.start_workers(py, harvest.replacements) {
            err.write_unraisable(py, None);
            lock(&shared.state).broken = Some(POOL_BROKEN);
            break_pool(py, shared, None);
        }
    }
}

/// Fails every pending and running future with `BrokenProcessPool` (its
/// `__cause__` the formatted `cause`, if any) and terminates the remaining
/// workers.
fn break_pool(py: Python<'_>, shared: &Shared, cause: Option<PyErr>) {
    let (futures, processes, ended) = {
        let mut state = lock(&shared.state);
        // The workers whose end of file broke the pool (not reaped yet).
        let ended: Vec<Py<PyAny>> = state.exited.iter().map(|p| p.clone_ref(py)).collect();
        state.pending.clear();
        for worker in &mut state.workers {
            worker.in_flight.clear();
            worker.out.clear();
            worker.stopping = true;
        }
        let processes: Vec<Py<PyAny>> = state
            .workers
            .iter()
            .map(|w| w.process.clone_ref(py))
            .collect();
        if !processes.is_empty() {
            state.kill_deadline = Some(Instant::now() + KILL_AFTER);
        }
        let futures: Vec<Py<PyAny>> = state.futures.drain().map(|(_, f)| f).collect();
        (futures, processes, ended)
    };
    // 3.15 (gh-139462): with no exception to blame, the error's `__cause__`
    // names the workers that exited with a nonzero code.
    let exits: Option<Py<PyAny>> = if cause.is_none() && py.version_info() >= (3, 15) {
        match hooks(py).and_then(|h| h.call_method1(intern!(py, "abrupt_exits"), (ended,))) {
            Ok(text) if !text.is_none() => Some(text.unbind()),
            Ok(_) => None,
            Err(err) => {
                err.write_unraisable(py, None);
                None
            }
        }
    } else {
        None
    };
    // One `BrokenProcessPool` per future, as `concurrent.futures` makes them
    // since 3.14 (and 3.13.x): a shared one would gather a traceback frame
    // for every `result()` that raised it.
    let cause = cause.map(|cause| cause.into_value(py));
    let make_error = || -> Bound<'_, PyAny> {
        let error = match (&cause, &exits) {
            (Some(cause), _) => hooks(py).and_then(|h| {
                h.call_method1(
                    intern!(py, "broken_pool_error"),
                    (FUTURE_BROKEN, cause.clone_ref(py)),
                )
            }),
            (None, Some(text)) => hooks(py).and_then(|h| {
                h.call_method1(
                    intern!(py, "broken_pool_error_text"),
                    (FUTURE_BROKEN, text.clone_ref(py)),
                )
            }),
            (None, None) => Ok(broken_process_pool(py, FUTURE_BROKEN)
                .into_value(py)
                .into_bound(py)
                .into_any()),
        };
        error.unwrap_or_else(|err| err.into_value(py).into_bound(py).into_any())
    };
    for future in futures {
        let future = future.bind(py);
        if future::done(py, future).unwrap_or(true) {
            continue;
        }
        if let Err(err) = future::set_exception(py, future, &make_error()) {
            err.write_unraisable(py, Some(future));
        }
    }
    for process in processes {
        if let Err(err) = process.bind(py).call_method0(intern!(py, "terminate")) {
            err.write_unraisable(py, None);
        }
    }
}

/// Attached: joins the exited workers whose process has ended (reading
/// `exitcode` reaps without blocking); keeps the others for a later turn.
fn reap(py: Python<'_>, exited: &mut Vec<Py<PyAny>>) {
    exited.retain(|process| {
        let process = process.bind(py);
        match process.getattr(intern!(py, "exitcode")) {
            Ok(code) if code.is_none() => true,
            Ok(_) => {
                if let Err(err) = process.call_method0(intern!(py, "join")) {
                    err.write_unraisable(py, None);
                }
                false
            }
            Err(err) => {
                err.write_unraisable(py, None);
                false
            }
        }
    });
}

/// Joins the exited workers' processes and reports the thread done.
fn finish(py: Python<'_>, shared: &Shared, mut exited: Vec<Py<PyAny>>) {
    exited.append(&mut std::mem::take(&mut lock(&shared.state).exited));
    for process in exited {
        if let Err(err) = process.bind(py).call_method0(intern!(py, "join")) {
            err.write_unraisable(py, None);
        }
    }
    lock(&shared.state).io_done = true;
    shared.io_finished.notify_all();
}
