//! Handing queued tasks of a process pool to its workers.
//!
//! Two threads do it: `submit` (so a task given to a worker with room is
//! marked running before `submit` returns, as the stdlib's manager thread
//! marks the calls it queues) and the pool's I/O thread (when a result
//! frees room). Both follow the same three steps: under the state lock take
//! tasks off the queue and record them as in flight ([`take_handouts`]);
//! with the lock released mark their futures running, which runs Python
//! code ([`mark_running`]); under the lock again append the frames of the
//! running ones to their worker's output, writing at once when the pipe
//! has room ([`queue_frames`]). Workers are named by id, not by position:
//! the I/O thread may retire workers between the steps.

use std::os::fd::AsRawFd;

use pyo3::prelude::*;

use crate::executors::future;
use crate::executors::process_pool::{Shared, State, Worker};
use crate::executors::sync::lock;

/// A task taken off the queue for one worker.
pub struct Handout {
    pub worker: u64,
    pub id: u64,
    pub frame: Vec<u8>,
}

/// Under the lock: gives queued tasks to workers with room, one to each
/// idle worker first (a task queued behind a busy worker waits for it),
/// then up to each worker's capacity. Nothing while the pool is broken.
pub fn take_handouts(state: &mut State, max_tasks: Option<usize>) -> Vec<Handout> {
    let mut handouts = Vec::new();
    if state.broken.is_some() || state.pending.is_empty() {
        return handouts;
    }
    for idle_only in [true, false] {
        for worker in state.workers.iter_mut() {
            let room = worker.capacity(max_tasks);
            let room = if idle_only {
                room.min(usize::from(worker.in_flight.is_empty()))
            } else {
                room
            };
            for _ in 0..room {
                let Some((id, frame)) = state.pending.pop_front() else {
                    return handouts;
                };
                worker.in_flight.push(id);
                worker.sent += 1;
                handouts.push(Handout {
                    worker: worker.id,
                    id,
                    frame,
                });
            }
        }
    }
    handouts
}

/// Attached, lock released: marks each handed-out future running. Returns
/// the handouts with whether their future now runs (false: it was
/// cancelled, or the pool broke meanwhile and failed it).
pub fn mark_running(
    py: Python<'_>,
    shared: &Shared,
    handouts: Vec<Handout>,
) -> Vec<(Handout, bool)> {
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
    outcomes
}

/// Under the lock: queues the frames of running tasks (writing what the
/// pipe takes now) and forgets the others. Returns the futures to drop
/// once the lock is released, and whether the I/O thread has bytes left
/// to write.
pub fn queue_frames(state: &mut State, outcomes: Vec<(Handout, bool)>) -> (Vec<Py<PyAny>>, bool) {
    let mut dropped = Vec::new();
    let mut leftover = false;
    let broken = state.broken.is_some();
    for (handout, running) in outcomes {
        let worker = state.workers.iter_mut().find(|w| w.id == handout.worker);
        let Some(worker) = worker.filter(|_| !broken) else {
            // The pool broke meanwhile and failed the future.
            continue;
        };
        if running {
            worker.out.extend_from_slice(&handout.frame);
            flush(worker);
            leftover |= !worker.out.is_empty();
        } else {
            if let Some(pos) = worker.in_flight.iter().position(|id| *id == handout.id) {
                worker.in_flight.remove(pos);
            }
            worker.sent = worker.sent.saturating_sub(1);
            dropped.extend(state.futures.remove(&handout.id));
        }
    }
    (dropped, leftover)
}

/// Attached: the three steps for whatever the queue holds now. Called by
/// `submit`; wakes the I/O thread when bytes are left to write.
pub fn dispatch(py: Python<'_>, shared: &Shared) {
    let handouts = take_handouts(&mut lock(&shared.state), shared.max_tasks());
    if handouts.is_empty() {
        return;
    }
    let outcomes = mark_running(py, shared, handouts);
    let (dropped, leftover) = queue_frames(&mut lock(&shared.state), outcomes);
    drop(dropped);
    if leftover {
        shared.wake();
    }
}

/// Writes as much of the worker's queued bytes as its task pipe takes.
pub fn flush(worker: &mut Worker) {
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
