//! Transports: Rust objects that own a socket and call the Python protocol.

mod rawbuf;
pub(crate) mod stream;
mod sys;
