//! Message framing on the pipes between a process pool and its workers.
//!
//! A frame is a 13-byte header followed by the payload: the payload length
//! (`u32`, little endian), the task id (`u64`, little endian) and the kind
//! (`u8`, one of the `KIND_*` constants). Payloads are pickles. The parent
//! side decodes with [`FrameReader`]; the worker (Python, in the child)
//! calls [`read_frame`] and [`write_frame`].

use std::io;
use std::os::fd::RawFd;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::os_error;

/// Header length in bytes.
pub const HEADER_LEN: usize = 13;

/// Parent to worker: run the pickled `(fn, args, kwargs)`.
pub const KIND_TASK: u8 = 0;
/// Parent to worker: exit after the tasks already sent.
pub const KIND_STOP: u8 = 1;
/// Worker to parent: the payload is the pickled result.
pub const KIND_RESULT: u8 = 2;
/// Worker to parent: the payload is a pickled `(exception, traceback_text)`.
pub const KIND_EXCEPTION: u8 = 3;

/// One decoded frame.
pub struct Frame {
    pub id: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Encodes one frame; `None` if the payload is too large for the header.
pub fn encode(id: u64, kind: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&id.to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(payload);
    Some(frame)
}

/// Header fields: (payload length, id, kind).
fn decode_header(header: &[u8; HEADER_LEN]) -> (usize, u64, u8) {
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[..4]);
    let mut id = [0u8; 8];
    id.copy_from_slice(&header[4..12]);
    (
        u32::from_le_bytes(len) as usize,
        u64::from_le_bytes(id),
        header[12],
    )
}

/// Accumulates bytes read from a pipe and cuts them into frames.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// Appends bytes just read.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let available = &self.buf[self.start..];
        let header: &[u8; HEADER_LEN] = available.get(..HEADER_LEN)?.try_into().ok()?;
        let (len, id, kind) = decode_header(header);
        let payload = available.get(HEADER_LEN..HEADER_LEN + len)?.to_vec();
        self.start += HEADER_LEN + len;
        if self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(Frame { id, kind, payload })
    }

    /// True if a partial frame is buffered.
    pub fn has_partial(&self) -> bool {
        self.start < self.buf.len()
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on end of file before the
/// first byte.
fn read_exact_or_eof(fd: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a live, writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            if filled == 0 {
                return Ok(false);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "pipe closed in the middle of a frame",
            ));
        }
        filled += n as usize;
    }
    Ok(true)
}

/// Writes all of `bytes` to a blocking fd.
pub fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live buffer of `bytes.len()` bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

fn read_one_frame(fd: RawFd) -> io::Result<Option<Frame>> {
    let mut header = [0u8; HEADER_LEN];
    if !read_exact_or_eof(fd, &mut header)? {
        return Ok(None);
    }
    let (len, id, kind) = decode_header(&header);
    let mut payload = vec![0u8; len];
    if len > 0 && !read_exact_or_eof(fd, &mut payload)? {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "pipe closed in the middle of a frame",
        ));
    }
    Ok(Some(Frame { id, kind, payload }))
}

/// Worker side: blocks (without the GIL) for the next frame on `fd`.
/// Returns `(id, kind, payload)`, or `None` at end of file.
#[pyfunction]
pub fn read_frame(py: Python<'_>, fd: RawFd) -> PyResult<Option<(u64, u8, Bound<'_, PyBytes>)>> {
    match py.detach(|| read_one_frame(fd)) {
        Ok(Some(frame)) => Ok(Some((
            frame.id,
            frame.kind,
            PyBytes::new(py, &frame.payload),
        ))),
        Ok(None) => Ok(None),
        Err(err) => Err(os_error(err)),
    }
}

/// Worker side: writes one frame to `fd` (without the GIL).
#[pyfunction]
pub fn write_frame(py: Python<'_>, fd: RawFd, id: u64, kind: u8, payload: &[u8]) -> PyResult<()> {
    let frame = encode(id, kind, payload)
        .ok_or_else(|| PyValueError::new_err("payload larger than 4 GiB cannot be framed"))?;
    py.detach(|| write_all(fd, &frame)).map_err(os_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_when_fed_byte_by_byte() {
        let mut wire = encode(7, KIND_RESULT, b"hello").unwrap_or_default();
        wire.extend(encode(u64::MAX, KIND_TASK, b"").unwrap_or_default());
        let mut reader = FrameReader::default();
        let mut frames = Vec::new();
        for byte in &wire {
            reader.feed(std::slice::from_ref(byte));
            while let Some(frame) = reader.next_frame() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].id, frames[0].kind), (7, KIND_RESULT));
        assert_eq!(frames[0].payload, b"hello");
        assert_eq!((frames[1].id, frames[1].kind), (u64::MAX, KIND_TASK));
        assert!(!reader.has_partial());
    }
}
