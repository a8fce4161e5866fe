//! `WritePipeTransport`: asyncio's write pipe transport
//! (`connect_write_pipe`) over the write end of a pipe, a socket or a
//! character device (a pty).
//!
//! Semantics follow asyncio's Unix write pipe transport:
//! - writes go straight to the fd while nothing is buffered; the rest is
//!   buffered and flushed by the writer callback; the protocol is paused
//!   above the high water mark and resumed at or below the low one;
//! - for pipes and sockets a reader is registered on the write fd: it
//!   becomes readable only when the read end closed, which closes the
//!   transport (`connection_lost(BrokenPipeError())` if data was pending);
//! - `write_eof()` and `close()` flush, then call `connection_lost(None)`;
//!   `abort()` drops the buffer; writes after close are counted and dropped.

use pyo3::exceptions::PyBrokenPipeError;
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use reactor::Side;

use super::common::{asyncio_class, check_write_type, is_fatal, logger, water_marks};
use super::pipe_base::{self, PipeBase};
use super::rawbuf::RawBuf;
use super::sys;
use crate::errors::os_error;

/// asyncio's default high water mark; the low one is a quarter of it.
const DEFAULT_HIGH: usize = 64 * 1024;
/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const CONNLOST_LOG_THRESHOLD: u32 = 5;

static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pyclass(module = "oxloop._core", name = "WritePipeTransport", weakref, dict)]
pub struct WritePipeTransport {
    base: PipeBase,
    /// Watch the fd for readability (the peer closing): pipes and sockets.
    watch_peer: bool,
    read_ready: Option<Py<PyAny>>,
    write_ready: Option<Py<PyAny>>,
    /// Unsent bytes are `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    high: usize,
    low: usize,
    closing: bool,
    protocol_paused: bool,
    conn_lost: u32,
}

impl WritePipeTransport {
    fn pending(&self) -> usize {
        self.wbuf.len().saturating_sub(self.wpos)
    }

    fn consume(&mut self, n: usize) {
        self.wpos += n;
        if self.wpos >= self.wbuf.len() {
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
    }

    fn append(&mut self, data: &[u8]) {
        if self.wpos > 0 && self.wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        self.wbuf.extend_from_slice(data);
    }
}

/// asyncio's `_close`: drop the buffer, stop watching, schedule `connection_lost(exc)`.
fn close_with(slf: &Bound<'_, WritePipeTransport>, exc: Option<Py<PyAny>>) -> PyResult<()> {
    let py = slf.py();
    let (core, fd, had_buffer) = {
        let mut t = slf.borrow_mut();
        t.closing = true;
        let had = t.pending() > 0;
        t.wbuf = Vec::new();
        t.wpos = 0;
        (t.base.core(py), t.base.fd, had)
    };
    if had_buffer {
        pipe_base::remove_io(core.clone(), fd, Side::Write)?;
    }
    pipe_base::remove_io(core.clone(), fd, Side::Read)?;
    let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
    let arg = exc.unwrap_or_else(|| py.None());
    pipe_base::call_soon(core, cb, PyTuple::new(py, [arg])?)
}

/// asyncio's pipe `_fatal_error`: OSErrors only logged (debug mode), the
/// rest reported to the exception handler; then `_close(exc)`.
fn fatal_error(slf: &Bound<'_, WritePipeTransport>, err: PyErr, message: &str) -> PyResult<()> {
    let py = slf.py();
    if is_fatal(py, &err) {
        return Err(err);
    }
    let exc = err.into_value(py).into_any();
    let quiet = pipe_base::is_os_error(exc.bind(py), None)?;
    let (core, protocol) = {
        let t = slf.borrow();
        (t.base.core(py), t.base.protocol(py))
    };
    pipe_base::report(slf.as_any(), core, protocol, exc.bind(py), message, quiet)?;
    close_with(slf, Some(exc))
}

/// Calls `protocol.pause_writing()`/`resume_writing()`; errors go to the
/// exception handler, as in asyncio.
fn protocol_hook(slf: &Bound<'_, WritePipeTransport>, name: &str) -> PyResult<()> {
    let py = slf.py();
    let (core, protocol) = {
        let t = slf.borrow();
        (t.base.core(py), t.base.protocol(py))
    };
    let Some(protocol) = protocol else {
        return Ok(());
    };
    if let Err(err) = protocol.bind(py).call_method0(name) {
        if is_fatal(py, &err) {
            return Err(err);
        }
        if let Some(core) = core {
            let ctx = PyDict::new(py);
            ctx.set_item("message", format!("protocol.{name}() failed"))?;
            ctx.set_item("exception", err.into_value(py))?;
            ctx.set_item("transport", slf)?;
            ctx.set_item("protocol", protocol)?;
            core.call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        }
    }
    Ok(())
}

fn maybe_pause_protocol(slf: &Bound<'_, WritePipeTransport>) -> PyResult<()> {
    {
        let mut t = slf.borrow_mut();
        if t.pending() <= t.high || t.protocol_paused {
            return Ok(());
        }
        t.protocol_paused = true;
    }
    protocol_hook(slf, "pause_writing")
}

fn maybe_resume_protocol(slf: &Bound<'_, WritePipeTransport>) -> PyResult<()> {
    {
        let mut t = slf.borrow_mut();
        if !t.protocol_paused || t.pending() > t.low {
            return Ok(());
        }
        t.protocol_paused = false;
    }
    protocol_hook(slf, "resume_writing")
}

/// `write` after its type check.
fn write_bytes(slf: &Bound<'_, WritePipeTransport>, data: &[u8]) -> PyResult<()> {
    let py = slf.py();
    if data.is_empty() {
        return Ok(());
    }
    let (fd, buffered_before) = {
        let mut t = slf.borrow_mut();
        if t.conn_lost > 0 || t.closing {
            if t.conn_lost >= CONNLOST_LOG_THRESHOLD {
                drop(t);
                logger(py)?.call_method1(
                    "warning",
                    ("pipe closed by peer or os.write(pipe, data) raised exception.",),
                )?;
                t = slf.borrow_mut();
            }
            t.conn_lost += 1;
            return Ok(());
        }
        (t.base.fd, t.pending() > 0)
    };
    let mut sent = 0usize;
    if !buffered_before {
        match sys::write(fd, data) {
            Ok(Some(n)) => sent = n,
            Ok(None) => {}
            Err(e) => {
                slf.borrow_mut().conn_lost += 1;
                return fatal_error(slf, os_error(e), "Fatal write error on pipe transport");
            }
        }
        if sent >= data.len() {
            return Ok(());
        }
        let (core, cb) = {
            let t = slf.borrow();
            (
                t.base.core(py),
                t.write_ready.as_ref().map(|c| c.clone_ref(py)),
            )
        };
        pipe_base::add_io(core, fd, Side::Write, cb)?;
    }
    slf.borrow_mut()
        .append(data.get(sent..).unwrap_or_default());
    maybe_pause_protocol(slf)
}

#[pymethods]
impl WritePipeTransport {
    #[new]
    #[pyo3(signature = (event_loop, pipe, protocol, extra=None, watch_peer=true))]
    fn py_new(
        event_loop: &Bound<'_, PyAny>,
        pipe: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        watch_peer: bool,
    ) -> PyResult<Self> {
        Ok(WritePipeTransport {
            base: PipeBase::new(event_loop, pipe, protocol, extra)?,
            watch_peer,
            read_ready: None,
            write_ready: None,
            wbuf: Vec::new(),
            wpos: 0,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            closing: false,
            protocol_paused: false,
            conn_lost: 0,
        })
    }

    /// Schedules `connection_made` and the peer watch.
    fn _start(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let rr = slf.getattr(intern!(py, "_read_ready"))?.unbind();
        let wr = slf.getattr(intern!(py, "_write_ready"))?.unbind();
        let (core, protocol, watch) = {
            let mut t = slf.borrow_mut();
            t.read_ready = Some(rr);
            t.write_ready = Some(wr);
            (t.base.core(py), t.base.protocol(py), t.watch_peer)
        };
        if let Some(p) = protocol {
            let cm = p.bind(py).getattr(intern!(py, "connection_made"))?;
            pipe_base::call_soon(core.clone(), cm, PyTuple::new(py, [slf])?)?;
        }
        if watch {
            let w = slf.getattr(intern!(py, "_watch_peer"))?;
            pipe_base::call_soon(core, w, PyTuple::empty(py))?;
        }
        Ok(())
    }

    /// Registers the peer watch unless the transport is already done with its fd.
    fn _watch_peer(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, fd, cb) = {
            let t = slf.borrow();
            if t.conn_lost > 0 || (t.closing && t.pending() == 0) {
                return Ok(());
            }
            (
                t.base.core(py),
                t.base.fd,
                t.read_ready.as_ref().map(|c| c.clone_ref(py)),
            )
        };
        pipe_base::add_io(core, fd, Side::Read, cb)
    }

    /// Reader callback: the fd is readable only once the peer closed.
    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, pending) = {
            let t = slf.borrow();
            (t.base.core(py), t.pending() > 0)
        };
        let Some(core) = core else { return Ok(()) };
        if core.call_method0(intern!(py, "get_debug"))?.is_truthy()? {
            logger(py)?.call_method1("info", ("%r was closed by peer", slf))?;
        }
        drop(core);
        let exc = if pending {
            Some(PyBrokenPipeError::new_err(()).into_value(py).into_any())
        } else {
            None
        };
        close_with(slf, exc)
    }

    /// Writer callback: flush the buffer.
    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (res, core, fd) = {
            let t = slf.borrow();
            if t.pending() == 0 {
                return Ok(());
            }
            (
                sys::write(t.base.fd, t.wbuf.get(t.wpos..).unwrap_or_default()),
                t.base.core(py),
                t.base.fd,
            )
        };
        match res {
            Ok(None) => Ok(()),
            Ok(Some(n)) => {
                let empty = {
                    let mut t = slf.borrow_mut();
                    t.consume(n);
                    t.pending() == 0
                };
                if !empty {
                    return Ok(());
                }
                pipe_base::remove_io(core.clone(), fd, Side::Write)?;
                maybe_resume_protocol(slf)?;
                if slf.borrow().closing {
                    pipe_base::remove_io(core, fd, Side::Read)?;
                    Self::_call_connection_lost(slf, None)?;
                }
                Ok(())
            }
            Err(e) => {
                {
                    let mut t = slf.borrow_mut();
                    t.clear();
                    t.conn_lost += 1;
                }
                pipe_base::remove_io(core, fd, Side::Write)?;
                fatal_error(slf, os_error(e), "Fatal write error on pipe transport")
            }
        }
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let parts = {
            let mut t = slf.borrow_mut();
            let parts = pipe_base::finish(&mut t.base);
            if parts.is_some() {
                t.read_ready = None;
                t.write_ready = None;
            }
            parts
        };
        match parts {
            Some((protocol, pipe)) => pipe_base::connection_lost(py, protocol, pipe, exc),
            None => Ok(()),
        }
    }

    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        check_write_type(data)?;
        let buf = RawBuf::get(data, false)?;
        write_bytes(slf, buf.as_slice())
    }

    /// The buffers joined into one write, as asyncio's `WriteTransport.writelines`.
    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut joined = Vec::new();
        for item in list_of_data.try_iter()? {
            let item = item?;
            check_write_type(&item)?;
            joined.extend_from_slice(RawBuf::get(&item, false)?.as_slice());
        }
        write_bytes(slf, &joined)
    }

    fn can_write_eof(&self) -> PyResult<bool> {
        Ok(true)
    }

    /// Closes once the buffer is flushed: a pipe has no half-close.
    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, fd) = {
            let mut t = slf.borrow_mut();
            if t.closing {
                return Ok(());
            }
            t.closing = true;
            if t.pending() > 0 {
                return Ok(());
            }
            (t.base.core(py), t.base.fd)
        };
        pipe_base::remove_io(core.clone(), fd, Side::Read)?;
        let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
        pipe_base::call_soon(core, cb, PyTuple::new(py, [py.None()])?)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let open = {
            let t = slf.borrow();
            t.base.pipe.is_some() && !t.closing
        };
        if open {
            Self::write_eof(slf)?;
        }
        Ok(())
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        close_with(slf, None)
    }

    fn is_closing(&self) -> PyResult<bool> {
        Ok(self.closing)
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let (high, low) = water_marks(high, low, DEFAULT_HIGH)?;
        {
            let mut t = slf.borrow_mut();
            t.high = high;
            t.low = low;
        }
        maybe_pause_protocol(slf)
    }

    fn get_write_buffer_limits(&self) -> PyResult<(usize, usize)> {
        Ok((self.low, self.high))
    }

    fn get_write_buffer_size(&self) -> PyResult<usize> {
        Ok(self.pending())
    }

    fn set_protocol(&mut self, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        self.base.protocol = Some(protocol.clone().unbind());
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.base.protocol(py).unwrap_or_else(|| py.None()))
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.base.extra_info(py, name, default)
    }

    /// The asyncio class this transport passes for in `isinstance()`.
    #[getter]
    fn __class__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        asyncio_class(py, &CLASS, "WritePipeTransport")
    }

    /// asyncio's `_pipe`: None once closed; setting None disowns the pipe.
    #[getter(_pipe)]
    fn pipe_attr(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.base.pipe.as_ref().map(|p| p.clone_ref(py)))
    }

    #[setter(_pipe)]
    fn set_pipe_attr(&mut self, pipe: Option<Py<PyAny>>) -> PyResult<()> {
        self.base.pipe = pipe;
        Ok(())
    }

    #[getter]
    fn _fileno(&self) -> PyResult<i32> {
        Ok(self.base.fd)
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.base.core.as_ref().map(|c| c.clone_ref(py).into_any()))
    }

    #[getter]
    fn _closing(&self) -> PyResult<bool> {
        Ok(self.closing)
    }

    #[getter]
    fn _protocol_paused(&self) -> PyResult<bool> {
        Ok(self.protocol_paused)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok({
            let mut s = self.base.repr_head("WritePipeTransport", self.closing);
            if self.base.pipe.is_some() {
                s.push_str(" open");
                if self.base.core.is_some() {
                    let state = if self.pending() > 0 {
                        "polling"
                    } else {
                        "idle"
                    };
                    s.push_str(&format!(" {state} bufsize={}", self.pending()));
                }
            }
            s.push('>');
            s
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [self.read_ready.as_ref(), self.write_ready.as_ref()]
            .into_iter()
            .flatten()
        {
            visit.call(obj)?;
        }
        self.base.traverse(&visit)
    }

    fn __clear__(&mut self) {
        self.read_ready = None;
        self.write_ready = None;
        self.base.protocol = None;
    }
}

impl Drop for WritePipeTransport {
    fn drop(&mut self) {
        self.base.warn_unclosed("WritePipeTransport");
    }
}
