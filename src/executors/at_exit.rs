//! Interpreter exit and `fork()` for the executors.
//!
//! CPython joins its pools' threads from `threading._register_atexit`, before
//! the interpreter starts finalizing; `oxloop._executors` registers
//! [`executors_at_exit`] there. Every pool registers itself here, so even a
//! pool whose Python object was collected (its workers still finishing
//! queued work) is joined. After `fork()` the child has none of the parent's
//! worker threads: [`executors_after_fork_in_child`] makes the pools forget
//! them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use pyo3::prelude::*;

use crate::executors::sync::lock;

/// What a pool does at interpreter exit and in a forked child.
pub trait ExitHooks: Send + Sync {
    /// Lets queued work finish, stops the workers and waits for them.
    fn shutdown_and_join(&self, py: Python<'_>);
    /// Forgets workers that exist only in the parent process.
    fn forget_workers_after_fork(&self);
}

static EXITING: AtomicBool = AtomicBool::new(false);
/// Every pool, with the pid of the process that created it: a forked child
/// (multiprocessing's `fork` workers run `threading._shutdown()` too) must
/// leave its parent's pools alone, their locks may have been copied held.
static POOLS: Mutex<Vec<(u32, Weak<dyn ExitHooks>)>> = Mutex::new(Vec::new());

/// True once the interpreter has started exiting: submits are refused.
pub fn interpreter_exiting() -> bool {
    EXITING.load(Ordering::Acquire)
}

/// Records a pool so that interpreter exit joins its workers.
pub fn register(pool: Arc<dyn ExitHooks>) {
    let mut pools = lock(&POOLS);
    pools.retain(|(_, p)| p.strong_count() > 0);
    pools.push((std::process::id(), Arc::downgrade(&pool)));
}

/// The live pools this process created.
fn own_live_pools() -> Vec<Arc<dyn ExitHooks>> {
    let pid = std::process::id();
    lock(&POOLS)
        .iter()
        .filter(|(owner, _)| *owner == pid)
        .filter_map(|(_, p)| p.upgrade())
        .collect()
}

/// Called from `threading._register_atexit`: refuse new work, let queued
/// work finish and join every worker of every pool.
#[pyfunction]
pub fn executors_at_exit(py: Python<'_>) -> PyResult<()> {
    EXITING.store(true, Ordering::Release);
    for pool in own_live_pools() {
        pool.shutdown_and_join(py);
    }
    Ok(())
}

/// Called through `os.register_at_fork(after_in_child=...)`.
#[pyfunction]
pub fn executors_after_fork_in_child() -> PyResult<()> {
    // A lock held by a thread that did not survive the fork can never be
    // taken again; leave such pools alone rather than deadlock.
    let pools: Vec<Arc<dyn ExitHooks>> = match POOLS.try_lock() {
        Ok(pools) => pools.iter().filter_map(|(_, p)| p.upgrade()).collect(),
        Err(_) => return Ok(()),
    };
    for pool in pools {
        pool.forget_workers_after_fork();
    }
    Ok(())
}
