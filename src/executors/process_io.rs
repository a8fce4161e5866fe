//! The I/O thread of a process pool: a Rust thread, never a Python one.
//!
//! Each turn it (1) hands queued tasks to workers with spare capacity,
//! (2) sleeps in `poll()` on the result pipes, the task pipes it has bytes
//! for and the pool's waker, (3) writes and reads frames (non-blocking, no
//! GIL) and notices workers whose result pipe reached end of file, then
//! (4) attaches to Python once for the whole turn to mark handed-out futures
//! running, unpickle results into futures and, if a worker died, break the
//! pool. It exits once the pool is shut down (or broken) and every worker
//! has exited, after joining their processes.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;

use crate::executors::frames::{encode, Frame, KIND_EXCEPTION, KIND_RESULT, KIND_STOP};
use crate::executors::future;
use crate::executors::process_pool::{Shared, Worker, FUTURE_BROKEN, IO_THREAD_OF, POOL_BROKEN};
use crate::executors::py_objects::{broken_process_pool, hooks, pickle_loads};
use crate::executors::sync::lock;

/// Bytes read from a result pipe per `read()`.
const READ_CHUNK: usize = 64 * 1024;

/// A task handed to a worker, waiting to be marked running.
struct Handout {
    worker: usize,
    id: u64,
    frame: Vec<u8>,
}

/// What one turn's I/O found.
#[derive(Default)]
struct Harvest {
    frames: Vec<Frame>,
    broke: bool,
    replacements: usize,
}

pub fn io_main(shared: Arc<Shared>) {
    IO_THREAD_OF.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    // Attached for the thread's whole life (one thread state), detached for
    // everything but the Python work of a turn.
    let attached = Python::try_attach(|py| {
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        let mut targets: Vec<(usize, bool)> = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let (handouts, exit_now) = py.detach(|| plan_turn(&shared, &mut pollfds, &mut targets));
            if exit_now {
                finish(py, &shared);
                return;
            }
            if !handouts.is_empty() {
                mark_running(py, &shared, handouts);
                continue;
            }
            let harvest = py.detach(|| {
                // SAFETY: `pollfds` is a live, initialised array of `pollfds.len()` entries.
                let ready =
                    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, -1) };
                if ready < 0 {
                    return Harvest::default(); // EINTR; the next turn polls again
                }
                do_io(&shared, &pollfds, &targets, &mut buf)
            });
            if !harvest.frames.is_empty() || harvest.broke || harvest.replacements > 0 {
                settle(py, &shared, harvest);
            }
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
) -> (Vec<Handout>, bool) {
    let max_tasks = shared.max_tasks();
    let mut state = lock(&shared.state);
    let state = &mut *state;
    let mut handouts = Vec::new();
    if state.broken.is_none() {
        for (index, worker) in state.workers.iter_mut().enumerate() {
            for _ in 0..worker.capacity(max_tasks) {
                let Some((id, frame)) = state.pending.pop_front() else {
                    break;
                };
                worker.in_flight.push(id);
                worker.sent += 1;
                handouts.push(Handout {
                    worker: index,
                    id,
                    frame,
                });
            }
        }
    }
    let finishing = state.shutdown || state.broken.is_some();
    if finishing && state.pending.is_empty() && handouts.is_empty() {
        for worker in state.workers.iter_mut().filter(|w| !w.stopping && !w.eof) {
            worker
                .out
                .extend(encode(0, KIND_STOP, b"").unwrap_or_default());
            worker.stopping = true;
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
    (handouts, exit_now)
}

/// Writes as much of the worker's queued bytes as the pipe takes.
fn flush(worker: &mut Worker) {
    while !worker.out.is_empty() {
        let fd = worker.task_fd.as_raw_fd();
        // SAFETY: `out` is a live buffer of `out.len()` bytes.
        let n = unsafe { libc::write(fd, worker.out.as_ptr().cast(), worker.out.len()) };
        if n >= 0 {
            worker.out.drain(..n as usize);
            continue;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return,
            // EPIPE and the like: the worker is gone; its result pipe will say so.
            _ => {
                worker.out.clear();
                return;
            }
        }
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
    if harvest.broke && state.broken.is_none() {
        state.broken = Some(POOL_BROKEN);
    } else {
        harvest.broke = false;
    }
    if retired_by_quota > 0 {
        while shared.claim_worker_start(&mut state) {
            harvest.replacements += 1;
        }
    }
    harvest
}

/// Attached: marks handed-out futures running (dropping cancelled ones) and
/// queues the frames of the others for their workers.
fn mark_running(py: Python<'_>, shared: &Shared, handouts: Vec<Handout>) {
    let mut outcomes = Vec::with_capacity(handouts.len());
    for handout in handouts {
        let future = lock(&shared.state)
            .futures
            .get(&handout.id)
            .map(|f| f.clone_ref(py));
        let running = match future {
            Some(future) => {
                let future = future.bind(py);
                match future::set_running_or_notify_cancel(py, future) {
                    Ok(running) => running,
                    Err(err) => {
                        err.write_unraisable(py, Some(future));
                        false
                    }
                }
            }
            None => false,
        };
        outcomes.push((handout, running));
    }
    let mut dropped = Vec::new();
    let mut state = lock(&shared.state);
    for (handout, running) in outcomes {
        let Some(worker) = state.workers.get_mut(handout.worker) else {
            continue;
        };
        if running {
            worker.out.extend_from_slice(&handout.frame);
        } else {
            if let Some(pos) = worker.in_flight.iter().position(|id| *id == handout.id) {
                worker.in_flight.remove(pos);
            }
            worker.sent -= 1;
            dropped.extend(state.futures.remove(&handout.id));
        }
    }
    drop(state);
    drop(dropped);
}

/// Stores one result frame into its future.
fn complete(py: Python<'_>, future: &Bound<'_, PyAny>, frame: &Frame) -> PyResult<()> {
    let outcome = match frame.kind {
        KIND_RESULT => pickle_loads(py, &frame.payload).map(Ok),
        KIND_EXCEPTION => pickle_loads(py, &frame.payload)
            .and_then(|pair| {
                hooks(py)?.call_method1(intern!(py, "exception_with_remote_traceback"), (pair,))
            })
            .map(Err),
        _ => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "process pool worker sent a frame of unknown kind",
        )),
    };
    match outcome {
        Ok(Ok(value)) => future::set_result(py, future, &value),
        Ok(Err(exc)) => future::set_exception(py, future, &exc),
        Err(err) => future::set_exception(py, future, err.value(py)),
    }
}

/// Attached: completes the turn's futures, breaks the pool if a worker
/// died, starts replacement workers.
fn settle(py: Python<'_>, shared: &Arc<Shared>, harvest: Harvest) {
    for frame in &harvest.frames {
        let future = lock(&shared.state).futures.remove(&frame.id);
        if let Some(future) = future {
            let future = future.bind(py);
            if let Err(err) = complete(py, future, frame) {
                err.write_unraisable(py, Some(future));
            }
        }
    }
    if harvest.broke {
        break_pool(py, shared);
    }
    for _ in 0..harvest.replacements {
        if let Err(err) = shared.start_worker(py) {
            err.write_unraisable(py, None);
            lock(&shared.state).broken = Some(POOL_BROKEN);
            break_pool(py, shared);
            break;
        }
    }
}

/// Fails every pending and running future with `BrokenProcessPool` and
/// terminates the remaining workers.
fn break_pool(py: Python<'_>, shared: &Shared) {
    let (futures, processes) = {
        let mut state = lock(&shared.state);
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
        let futures: Vec<Py<PyAny>> = state.futures.drain().map(|(_, f)| f).collect();
        (futures, processes)
    };
    for future in futures {
        let future = future.bind(py);
        let done = future::done(py, future).unwrap_or(true);
        if done {
            continue;
        }
        let exc = broken_process_pool(py, FUTURE_BROKEN).into_value(py);
        if let Err(err) = future::set_exception(py, future, exc.bind(py)) {
            err.write_unraisable(py, Some(future));
        }
    }
    for process in processes {
        if let Err(err) = process.bind(py).call_method0(intern!(py, "terminate")) {
            err.write_unraisable(py, None);
        }
    }
}

/// Joins the exited workers' processes and reports the thread done.
fn finish(py: Python<'_>, shared: &Shared) {
    let exited = std::mem::take(&mut lock(&shared.state).exited);
    for process in exited {
        if let Err(err) = process.bind(py).call_method0(intern!(py, "join")) {
            err.write_unraisable(py, None);
        }
    }
    lock(&shared.state).io_done = true;
    shared.io_finished.notify_all();
}
