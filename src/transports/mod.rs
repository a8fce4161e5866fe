//! Transports: Rust objects that own a socket or pipe and call the Python protocol.

mod common;
pub(crate) mod datagram;
mod extra;
mod pipe_base;
mod rawbuf;
pub(crate) mod read_pipe;
pub(crate) mod stream;
mod sys;
pub(crate) mod write_pipe;
