//! The PyO3 layer of oxloop: the asyncio-facing objects built on the
//! pure-Rust `reactor` crate.
#![deny(unsafe_op_in_unsafe_fn)]

mod callbacks;
mod empty_context;
mod errors;
mod event_loop;
mod executors;
mod fast_call;
mod gil_cell;
mod handle;
mod handle_alloc;
mod loop_clock;
mod metrics;
mod pycall;
mod running_future;
mod transports;

use pyo3::prelude::*;

/// The native module `oxloop._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<event_loop::CoreLoop>()?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<handle::TimerHandle>()?;
    m.add_class::<metrics::MetricsSnapshot>()?;
    handle_alloc::install(m.py())?;
    m.add_class::<transports::stream::SocketTransport>()?;
    m.add_class::<transports::datagram::DatagramTransport>()?;
    m.add_class::<transports::read_pipe::ReadPipeTransport>()?;
    m.add_class::<transports::write_pipe::WritePipeTransport>()?;
    m.add_class::<executors::thread_pool::ThreadPool>()?;
    m.add_class::<executors::worker_threads::WorkerThread>()?;
    m.add_class::<executors::worker_threads::WorkerThreads>()?;
    m.add_class::<executors::process_pool::ProcessPool>()?;
    m.add_function(wrap_pyfunction!(executors::frames::read_frame, m)?)?;
    m.add_function(wrap_pyfunction!(executors::frames::write_frame, m)?)?;
    m.add_function(wrap_pyfunction!(executors::at_exit::executors_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(
        executors::future_class::install_future_class,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        executors::at_exit::executors_after_fork_in_child,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(
        transports::subclass_methods::install_subclass_methods,
        m
    )?)?;
    fast_call::install(m.py())?;
    transports::install_raw_methods(m.py())?;
    Ok(())
}
