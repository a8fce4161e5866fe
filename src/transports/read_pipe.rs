//! `ReadPipeTransport`: asyncio's read pipe transport (`connect_read_pipe`)
//! over the read end of a pipe, a socket or a character device (a pty).
//!
//! Semantics follow asyncio's Unix read pipe transport: `connection_made`
//! and the first reader registration are scheduled with `call_soon`; at EOF
//! the reader is removed and `eof_received` then `connection_lost(None)` are
//! scheduled (the transport closes whatever `eof_received` returns); a read
//! error closes it with `connection_lost(exc)`, reported to the exception
//! handler unless it is EIO (what a pty master reads once its slave closed).

use std::cell::RefCell;

use pyo3::exceptions::PyRuntimeError;
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use reactor::Side;

use super::common::asyncio_class;
use super::pipe_base::{self, PipeBase};
use super::recycled_bytes;
use super::sys;
use crate::errors::os_error;

/// Bytes asked of one `read` (asyncio's `max_size`).
const MAX_READ: usize = 256 * 1024;

thread_local! {
    /// One read buffer per thread, reused for every read.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

static CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

#[pyclass(module = "oxloop._core", name = "ReadPipeTransport", weakref, dict)]
pub struct ReadPipeTransport {
    base: PipeBase,
    /// Bound `self._read_ready`, made once by `_start`.
    read_ready: Option<Py<PyAny>>,
    closing: bool,
    paused: bool,
}

/// Reads once: `Ok(None)` would block, `Ok(Some(None))` is EOF.
fn read_once(py: Python<'_>, fd: i32) -> PyResult<Result<Option<Option<Py<PyBytes>>>, PyErr>> {
    READ_BUF.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            return Err(PyRuntimeError::new_err("read buffer in use"));
        };
        if buf.len() < MAX_READ {
            buf.resize(MAX_READ, 0);
        }
        Ok(match sys::read(fd, &mut buf[..MAX_READ]) {
            Ok(Some(0)) => Ok(Some(None)),
            Ok(Some(n)) => Ok(Some(buf.get(..n).map(|b| recycled_bytes::new_bytes(py, b)))),
            Ok(None) => Ok(None),
            Err(e) => Err(os_error(e)),
        })
    })
}

/// asyncio's `_close`: stop reading, schedule `connection_lost(exc)`.
fn close_with(slf: &Bound<'_, ReadPipeTransport>, exc: Option<Py<PyAny>>) -> PyResult<()> {
    let py = slf.py();
    let (core, fd) = {
        let mut t = slf.borrow_mut();
        t.closing = true;
        (t.base.core(py), t.base.fd)
    };
    pipe_base::remove_io(core.clone(), fd, Side::Read)?;
    let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
    let arg = exc.unwrap_or_else(|| py.None());
    pipe_base::call_soon(core, cb, PyTuple::new(py, [arg])?)
}

#[pymethods]
impl ReadPipeTransport {
    #[new]
    #[pyo3(signature = (event_loop, pipe, protocol, extra=None))]
    fn py_new(
        event_loop: &Bound<'_, PyAny>,
        pipe: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        Ok(ReadPipeTransport {
            base: PipeBase::new(event_loop, pipe, protocol, extra)?,
            read_ready: None,
            closing: false,
            paused: false,
        })
    }

    /// Schedules `connection_made` and the first reader registration.
    fn _start(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let rr = slf.getattr(intern!(py, "_read_ready"))?.unbind();
        let (core, protocol) = {
            let mut t = slf.borrow_mut();
            t.read_ready = Some(rr);
            (t.base.core(py), t.base.protocol(py))
        };
        if let Some(p) = protocol {
            let cm = p.bind(py).getattr(intern!(py, "connection_made"))?;
            pipe_base::call_soon(core.clone(), cm, PyTuple::new(py, [slf])?)?;
        }
        let first = slf.getattr(intern!(py, "_first_read"))?;
        pipe_base::call_soon(core, first, PyTuple::empty(py))
    }

    /// Starts reading unless the transport was paused or closed meanwhile.
    fn _first_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, fd, cb) = {
            let t = slf.borrow();
            if t.paused || t.closing {
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

    /// Reader callback.
    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (fd, protocol) = {
            let t = slf.borrow();
            if t.base.core.is_none() {
                return Ok(());
            }
            (t.base.fd, t.base.protocol(py))
        };
        match read_once(py, fd)? {
            Ok(None) => Ok(()),
            Ok(Some(Some(data))) => match protocol {
                Some(p) => p
                    .bind(py)
                    .call_method1(intern!(py, "data_received"), (data,))
                    .map(drop),
                None => Ok(()),
            },
            Ok(Some(None)) => {
                let core = {
                    let mut t = slf.borrow_mut();
                    t.closing = true;
                    t.base.core(py)
                };
                pipe_base::remove_io(core.clone(), fd, Side::Read)?;
                if let Some(p) = protocol {
                    let eof = p.bind(py).getattr(intern!(py, "eof_received"))?;
                    pipe_base::call_soon(core.clone(), eof, PyTuple::empty(py))?;
                }
                let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
                pipe_base::call_soon(core, cb, PyTuple::new(py, [py.None()])?)
            }
            Err(err) => Self::_fatal_error(
                slf,
                err.into_value(py).into_any().bind(py),
                "Fatal read error on pipe transport",
            ),
        }
    }

    fn _fatal_error(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        let py = slf.py();
        let quiet = pipe_base::is_os_error(exc, Some(libc::EIO))?;
        let (core, protocol) = {
            let t = slf.borrow();
            (t.base.core(py), t.base.protocol(py))
        };
        pipe_base::report(slf.as_any(), core, protocol, exc, message, quiet)?;
        close_with(slf, Some(exc.clone().unbind()))
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let parts = {
            let mut t = slf.borrow_mut();
            t.read_ready = None;
            pipe_base::finish(&mut t.base)
        };
        match parts {
            Some((protocol, pipe)) => pipe_base::connection_lost(py, protocol, pipe, exc),
            None => Ok(()),
        }
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, fd) = {
            let mut t = slf.borrow_mut();
            if t.paused || t.closing {
                return Ok(());
            }
            t.paused = true;
            (t.base.core(py), t.base.fd)
        };
        pipe_base::remove_io(core, fd, Side::Read)
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (core, fd, cb) = {
            let mut t = slf.borrow_mut();
            if t.closing || !t.paused {
                return Ok(());
            }
            t.paused = false;
            (
                t.base.core(py),
                t.base.fd,
                t.read_ready.as_ref().map(|c| c.clone_ref(py)),
            )
        };
        pipe_base::add_io(core, fd, Side::Read, cb)
    }

    fn is_reading(&self) -> PyResult<bool> {
        Ok(!self.paused && !self.closing)
    }

    fn is_closing(&self) -> PyResult<bool> {
        Ok(self.closing)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        if slf.borrow().closing {
            return Ok(());
        }
        close_with(slf, None)
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
        asyncio_class(py, &CLASS, "ReadPipeTransport")
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

    fn __repr__(&self) -> PyResult<String> {
        Ok({
            let mut s = self.base.repr_head("ReadPipeTransport", self.closing);
            if self.base.pipe.is_some() {
                let state = if self.base.core.is_none() {
                    "open"
                } else if self.paused || self.closing {
                    "open idle"
                } else {
                    "open polling"
                };
                s.push(' ');
                s.push_str(state);
            }
            s.push('>');
            s
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(rr) = &self.read_ready {
            visit.call(rr)?;
        }
        self.base.traverse(&visit)
    }

    fn __clear__(&mut self) {
        self.read_ready = None;
        self.base.protocol = None;
    }
}

impl Drop for ReadPipeTransport {
    fn drop(&mut self) {
        self.base.warn_unclosed("ReadPipeTransport");
    }
}
