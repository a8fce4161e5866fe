//! oxloop's reactor: the part of an asyncio event loop that needs no Python.
//!
//! It owns the ready queue, the timer heap, the fd table over a
//! level-triggered epoll, and the eventfd-backed queue that other threads use
//! to hand work to the loop. Handlers are a type parameter, so the unit tests
//! drive it with plain Rust values and the PyO3 layer with Python handles.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod enqueue_times;
mod guarded;
pub mod histogram;
pub mod interest;
pub mod loop_metrics;
pub mod reactor;
pub mod registry;
pub mod sliding_histogram;
pub mod slowest;
pub mod sys;
pub mod timers;
pub mod waker;

pub use interest::Interest;
pub use loop_metrics::{LoopMetrics, Popped};
pub use reactor::{Handler, Prepared, Reactor};
pub use registry::Side;
pub use sys::clock::monotonic;
pub use sys::epoll::Events;
