//! Rust-backed `concurrent.futures` executors: the work queues, dispatch and
//! worker lifecycle of `oxloop.ThreadPoolExecutor` and
//! `oxloop.ProcessPoolExecutor` (the Python classes live in
//! `python/oxloop/_executors.py`).

pub mod at_exit;
pub mod frames;
pub mod future;
pub mod future_class;
pub mod process_dispatch;
pub mod process_io;
pub mod process_pool;
pub mod py_objects;
pub mod sync;
pub mod thread_pool;
pub mod worker_threads;
