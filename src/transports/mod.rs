//! Transports: Rust objects that own a socket or pipe and call the Python protocol.

mod common;
pub(crate) mod datagram;
mod datagram_addr;
mod extra;
mod pipe_base;
mod rawbuf;
pub(crate) mod read_pipe;
mod recycled_bytes;
pub(crate) mod stream;
mod stream_raw;
pub(crate) mod subclass_methods;
mod sys;

pub(crate) use stream_raw::install as install_raw_methods;
pub(crate) mod write_pipe;
