//! Transports: Rust objects that own a socket and call the Python protocol.

mod common;
pub(crate) mod datagram;
mod extra;
mod rawbuf;
pub(crate) mod stream;
mod sys;
