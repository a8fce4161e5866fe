//! `SocketTransport`: asyncio's stream transport over a connected TCP or
//! Unix socket, calling the Python protocol directly.
//!
//! Semantics follow asyncio's selector socket transport:
//! - `connection_made` and the first reader registration are scheduled with
//!   `call_soon` by `_start`; `connection_lost` is always scheduled too
//!   (or called from the writer callback once a closing transport drained);
//! - writes go straight to the socket while nothing is buffered; the rest is
//!   copied into one reusable buffer flushed by the writer callback;
//! - the protocol is paused above the high water mark and resumed at or
//!   below the low one;
//! - `close()` flushes, `abort()` drops the buffer.
//!
//! No `RefCell` borrow of the transport is held while Python code runs: a
//! protocol may call back into the transport from any callback.

use std::os::fd::RawFd;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use reactor::Side;

use super::common::{
    asyncio_class, check_stream_write_type, forget_transport, is_fatal, logger, water_marks,
};
use super::extra::{wrap_socket, ExtraInfo, Lookup};
use super::rawbuf::RawBuf;
use super::recycled_bytes;
use super::sys;
use crate::errors::os_error;
use crate::event_loop::CoreLoop;
use crate::gil_cell::GilCell;

/// Bytes asked of one `recv` for a plain `Protocol`. asyncio asks 256 KiB;
/// measured on a 100 KiB echo, recv into a 256 KiB buffer spent 2x the server
/// CPU of a 128 KiB one (the kernel copy dominated), and 64 KiB needs more
/// syscalls. Chunking of the stream is not part of asyncio's contract.
const MAX_READ: usize = 128 * 1024;
/// Reads land on a page boundary. A `malloc` of 128 KiB is served by mmap
/// and starts 16 bytes into a page; measured here, the kernel's copy of a
/// 100 KiB `recv` into a buffer starting 8 to 24 bytes into a page took 56 us
/// instead of 22 us (at 0, or 32 and more). Which case a loop got depended
/// on the heap's history, and made the 100 KiB echo bimodal (29 or 46 us).
const PAGE: usize = 4096;
/// A recycled `bytes` object at least this large is read into directly
/// (no copy out of the shared buffer). Smaller ones would cap reads at their
/// size, and batching several small messages in one read matters more there
/// than the copy.
const DIRECT_READ_MIN: usize = 64 * 1024;
/// asyncio's default high water mark; the low one is a quarter of it.
const DEFAULT_HIGH: usize = 64 * 1024;
/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const CONNLOST_LOG_THRESHOLD: u32 = 5;

/// The read buffer shared by every transport: one allocation, reused for
/// every read (data is copied out into `bytes`). The GIL serialises its
/// users; a static (rather than a thread-local, which a shared library
/// reaches through `__tls_get_addr`) costs nothing to find. Reads go to its
/// first page boundary (see [`PAGE`]).
static READ_BUF: GilCell<Vec<u8>> = GilCell::new(Vec::new());

static BUFFERED_PROTOCOL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TRANSPORT_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn is_buffered(protocol: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = protocol.py();
    let cls = BUFFERED_PROTOCOL.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("BufferedProtocol")?.unbind())
    })?;
    protocol.is_instance(cls.bind(py))
}

/// The protocol callbacks a transport calls per event, looked up once.
#[derive(Default)]
struct ProtocolCalls {
    data_received: Option<Py<PyAny>>,
    get_buffer: Option<Py<PyAny>>,
    buffer_updated: Option<Py<PyAny>>,
}

/// A stream transport over a connected socket.
#[pyclass(module = "oxloop._core", name = "SocketTransport", weakref, subclass)]
pub struct SocketTransport {
    /// The loop; `None` once `connection_lost` ran.
    core: Option<Py<CoreLoop>>,
    /// The Python socket object, closed and dropped after `connection_lost`.
    sock: Option<Py<PyAny>>,
    fd: RawFd,
    fd_obj: Py<PyAny>,
    protocol: Option<Py<PyAny>>,
    buffered: bool,
    calls: ProtocolCalls,
    extra: ExtraInfo,
    server: Option<Py<PyAny>>,
    /// Bound `self._read_ready` / `self._write_ready`, made once.
    read_ready: Option<Py<PyAny>>,
    write_ready: Option<Py<PyAny>>,
    /// Unsent bytes are `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    high: usize,
    low: usize,
    closing: bool,
    eof: bool,
    paused: bool,
    protocol_paused: bool,
    protocol_connected: bool,
    conn_lost: u32,
    empty_waiter: Option<Py<PyAny>>,
    /// The `contextvars.Context` every protocol callback runs in (Python 3.15:
    /// captured by `create_connection`, or copied from the server's per
    /// connection); `None`: each callback runs in a copy of its scheduler's.
    context: Option<Py<PyAny>>,
}

impl SocketTransport {
    fn pending(&self) -> usize {
        self.wbuf.len().saturating_sub(self.wpos)
    }

    fn core<'py>(&self, py: Python<'py>) -> Option<Bound<'py, CoreLoop>> {
        self.core.as_ref().map(|c| c.bind(py).clone())
    }

    fn consume(&mut self, n: usize) {
        self.wpos += n;
        if self.wpos >= self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
    }

    fn append(&mut self, data: &[u8]) {
        if self.wpos > 0 && self.wpos >= self.wbuf.len() / 2 {
            self.wbuf.drain(..self.wpos);
            self.wpos = 0;
        }
        self.wbuf.extend_from_slice(data);
    }
}

/// Registers or removes this transport's reader/writer on its loop.
fn set_io(slf: &Bound<'_, SocketTransport>, side: Side, on: bool) -> PyResult<()> {
    let py = slf.py();
    let (core, fd_obj, cb, context) = {
        let t = slf.borrow();
        let cb = match side {
            Side::Read => t.read_ready.as_ref(),
            Side::Write => t.write_ready.as_ref(),
        }
        .map(|c| c.clone_ref(py));
        let context = t.context.as_ref().map(|c| c.clone_ref(py));
        (t.core(py), t.fd_obj.clone_ref(py), cb, context)
    };
    let Some(core) = core else { return Ok(()) };
    let fd = fd_obj.bind(py);
    if on {
        let Some(cb) = cb else { return Ok(()) };
        core.get().set_io_in(
            py,
            fd,
            side,
            cb.into_bound(py),
            PyTuple::empty(py),
            context.map(|c| c.into_bound(py)),
            if side == Side::Read {
                "add_reader"
            } else {
                "add_writer"
            },
        )?;
    } else {
        core.get().remove_io(fd, side)?;
    }
    Ok(())
}

fn call_soon(
    slf: &Bound<'_, SocketTransport>,
    callback: Bound<'_, PyAny>,
    args: Bound<'_, PyTuple>,
) -> PyResult<()> {
    let py = slf.py();
    let (core, context) = {
        let t = slf.borrow();
        (t.core(py), t.context.as_ref().map(|c| c.clone_ref(py)))
    };
    if let Some(core) = core {
        let context = context.map(|c| c.into_bound(py));
        core.get().call_soon_impl(py, callback, args, context)?;
    }
    Ok(())
}

/// asyncio's `_fatal_error`: report (unless it is an OSError), then force-close.
fn fatal_error(slf: &Bound<'_, SocketTransport>, err: PyErr, message: &str) -> PyResult<()> {
    let py = slf.py();
    if is_fatal(py, &err) {
        return Err(err);
    }
    let exc = err.into_value(py).into_any();
    if !exc.bind(py).is_instance_of::<PyOSError>() {
        let (core, protocol) = {
            let t = slf.borrow();
            (t.core(py), t.protocol.as_ref().map(|p| p.clone_ref(py)))
        };
        if let Some(core) = core {
            let ctx = PyDict::new(py);
            ctx.set_item("message", message)?;
            ctx.set_item("exception", exc.bind(py))?;
            ctx.set_item("transport", slf)?;
            ctx.set_item("protocol", protocol)?;
            core.call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        }
    } else {
        // No borrow may be held while the logger formats this transport.
        let core = slf.borrow().core(py);
        if let Some(core) = core {
            if core.call_method0(intern!(py, "get_debug"))?.is_truthy()? {
                let kwargs = PyDict::new(py);
                kwargs.set_item("exc_info", exc.bind(py))?;
                logger(py)?.call_method("debug", ("%r: %s", slf, message), Some(&kwargs))?;
            }
        }
    }
    force_close(slf, Some(exc))
}

/// asyncio's `_force_close`: drop the buffer, stop reading, schedule `connection_lost`.
fn force_close(slf: &Bound<'_, SocketTransport>, exc: Option<Py<PyAny>>) -> PyResult<()> {
    let py = slf.py();
    let (had_buffer, was_closing) = {
        let mut t = slf.borrow_mut();
        if t.conn_lost > 0 {
            return Ok(());
        }
        let had = t.pending() > 0;
        t.wbuf = Vec::new();
        t.wpos = 0;
        let was = t.closing;
        t.closing = true;
        t.conn_lost += 1;
        (had, was)
    };
    if had_buffer {
        set_io(slf, Side::Write, false)?;
    }
    if !was_closing {
        set_io(slf, Side::Read, false)?;
    }
    let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
    let arg = exc.unwrap_or_else(|| py.None());
    call_soon(slf, cb, PyTuple::new(py, [arg])?)
}

fn maybe_pause_protocol(slf: &Bound<'_, SocketTransport>) -> PyResult<()> {
    let py = slf.py();
    let protocol = {
        let mut t = slf.borrow_mut();
        if t.pending() <= t.high || t.protocol_paused {
            return Ok(());
        }
        t.protocol_paused = true;
        t.protocol.as_ref().map(|p| p.clone_ref(py))
    };
    if let Some(p) = protocol {
        protocol_hook(slf, p.bind(py), "pause_writing")?;
    }
    Ok(())
}

fn maybe_resume_protocol(slf: &Bound<'_, SocketTransport>) -> PyResult<()> {
    let py = slf.py();
    let protocol = {
        let mut t = slf.borrow_mut();
        if !t.protocol_paused || t.pending() > t.low {
            return Ok(());
        }
        t.protocol_paused = false;
        t.protocol.as_ref().map(|p| p.clone_ref(py))
    };
    if let Some(p) = protocol {
        protocol_hook(slf, p.bind(py), "resume_writing")?;
    }
    Ok(())
}

/// Calls `protocol.pause_writing()`/`resume_writing()`; errors go to the
/// exception handler, as in asyncio.
fn protocol_hook(
    slf: &Bound<'_, SocketTransport>,
    protocol: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<()> {
    let py = slf.py();
    if let Err(err) = protocol.call_method0(name) {
        if is_fatal(py, &err) {
            return Err(err);
        }
        let core = slf.borrow().core(py);
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

/// Sends `parts` (after anything buffered); buffers what the kernel did
/// not take. The checks of `write` have been done.
fn write_parts(slf: &Bound<'_, SocketTransport>, parts: &[&[u8]]) -> PyResult<()> {
    let py = slf.py();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0 {
        return Ok(());
    }
    let (fd, buffered_before) = {
        let mut t = slf.borrow_mut();
        if t.conn_lost > 0 {
            if t.conn_lost >= CONNLOST_LOG_THRESHOLD {
                drop(t);
                logger(py)?.call_method1("warning", ("socket.send() raised exception.",))?;
                t = slf.borrow_mut();
            }
            t.conn_lost += 1;
            return Ok(());
        }
        (t.fd, t.pending() > 0)
    };
    let mut sent = 0usize;
    if !buffered_before {
        let res = match parts {
            [one] => sys::send(fd, one),
            many => sys::sendv(fd, many),
        };
        match res {
            Ok(Some(n)) => sent = n,
            Ok(None) => {}
            Err(e) => {
                return fatal_error(slf, os_error(e), "Fatal write error on socket transport");
            }
        }
        if sent >= total {
            return Ok(());
        }
    }
    {
        let mut t = slf.borrow_mut();
        let mut skip = sent;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            t.append(&part[skip..]);
            skip = 0;
        }
    }
    if !buffered_before {
        set_io(slf, Side::Write, true)?;
    }
    maybe_pause_protocol(slf)
}

/// The reader callback (`_read_ready`, a raw method: see `stream_raw.rs`).
pub(super) fn read_ready(slf: &Bound<'_, SocketTransport>) -> PyResult<()> {
    let (lost, fd, buffered) = {
        let t = slf.borrow();
        (t.conn_lost > 0, t.fd, t.buffered)
    };
    if lost {
        return Ok(());
    }
    if buffered {
        read_buffered(slf, fd)
    } else {
        read_data(slf, fd)
    }
}

/// `transport.write(data)` (a raw method: see `stream_raw.rs`).
pub(super) fn write(slf: &Bound<'_, SocketTransport>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    check_stream_write_type(data)?;
    check_writable(&slf.borrow())?;
    let buf = RawBuf::get(data, false)?;
    write_parts(slf, &[buf.as_slice()])
}

/// `transport.is_closing()` (a raw method: see `stream_raw.rs`).
pub(super) fn is_closing(slf: &Bound<'_, SocketTransport>) -> PyResult<bool> {
    Ok(slf.try_borrow()?.closing)
}

/// The checks every write makes before touching data (asyncio's order).
fn check_writable(t: &SocketTransport) -> PyResult<()> {
    if t.eof {
        return Err(PyRuntimeError::new_err(
            "Cannot call write() after write_eof()",
        ));
    }
    if t.empty_waiter.is_some() {
        return Err(PyRuntimeError::new_err(
            "unable to write; sendfile is in progress",
        ));
    }
    Ok(())
}

/// EOF from the peer: ask the protocol whether to keep the half-open connection.
fn on_eof(slf: &Bound<'_, SocketTransport>) -> PyResult<()> {
    let py = slf.py();
    let protocol = slf.borrow().protocol.as_ref().map(|p| p.clone_ref(py));
    let Some(protocol) = protocol else {
        return Ok(());
    };
    match protocol.bind(py).call_method0(intern!(py, "eof_received")) {
        Ok(keep_open) => {
            if keep_open.is_truthy()? {
                set_io(slf, Side::Read, false)
            } else {
                close(slf)
            }
        }
        Err(err) => fatal_error(
            slf,
            err,
            "Fatal error: protocol.eof_received() call failed.",
        ),
    }
}

fn close(slf: &Bound<'_, SocketTransport>) -> PyResult<()> {
    let py = slf.py();
    let empty = {
        let mut t = slf.borrow_mut();
        if t.closing {
            return Ok(());
        }
        t.closing = true;
        let empty = t.pending() == 0;
        if empty {
            t.conn_lost += 1;
        }
        empty
    };
    set_io(slf, Side::Read, false)?;
    if empty {
        set_io(slf, Side::Write, false)?;
        let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
        call_soon(slf, cb, PyTuple::new(py, [py.None()])?)?;
    }
    Ok(())
}

/// One `recv` into the shared buffer, copied into a `bytes` object (a
/// recycled one when it fits). `Ok(None)`: would block; `Some(None)`: EOF.
fn read_copy(py: Python<'_>, fd: RawFd) -> std::io::Result<Option<Option<recycled_bytes::Data>>> {
    // SAFETY: the closure runs no Python code and drops no Python object: it makes
    // or refills one `bytes` (an allocation that cannot trigger the collector, `bytes`
    // is not a GC type) and hands it out.
    unsafe {
        READ_BUF.with(py, |buf| {
            if buf.len() < MAX_READ + PAGE {
                buf.resize(MAX_READ + PAGE, 0);
            }
            // The buffer never moves again (it is never resized after this).
            let start = buf.as_ptr().align_offset(PAGE).min(PAGE);
            let buf = buf.get_mut(start..start + MAX_READ).unwrap_or_default();
            match sys::recv(fd, buf) {
                Ok(Some(0)) => Ok(Some(None)),
                Ok(Some(n)) => Ok(Some(Some(recycled_bytes::bytes_for(
                    py,
                    buf.get(..n).unwrap_or_default(),
                )))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

fn read_data(slf: &Bound<'_, SocketTransport>, fd: RawFd) -> PyResult<()> {
    let py = slf.py();
    let got = match recycled_bytes::take_large(py, DIRECT_READ_MIN, |addr| {
        // Not just past a page boundary (see PAGE).
        let offset = addr % PAGE;
        offset == 0 || offset >= 64
    }) {
        Some(mut spare) => match sys::recv(fd, spare.storage()) {
            Ok(Some(0)) => {
                spare.put_back(py);
                Ok(Some(None))
            }
            Ok(Some(n)) => Ok(Some(Some(spare.finish(py, n)))),
            Ok(None) => {
                spare.put_back(py);
                Ok(None)
            }
            Err(e) => {
                spare.put_back(py);
                Err(e)
            }
        },
        None => read_copy(py, fd),
    };
    let data = match got {
        Ok(None) => return Ok(()),
        Ok(Some(None)) => return on_eof(slf),
        Ok(Some(Some(b))) => b,
        Err(e) => return fatal_error(slf, os_error(e), "Fatal read error on socket transport"),
    };
    let cb = {
        let mut t = slf.borrow_mut();
        // Counted toward the loop's per-turn read budget (`TURN_READ_BUDGET` in
        // `event_loop.rs`): the protocol may hold on to these bytes until a task runs.
        if let Some(core) = &t.core {
            core.get().note_delivered(data.len(py));
        }
        match &t.calls.data_received {
            Some(cb) => Some(cb.clone_ref(py)),
            None => {
                let p = t.protocol.as_ref().map(|p| p.clone_ref(py));
                drop(t);
                match p {
                    None => None,
                    Some(p) => {
                        let cb = p.bind(py).getattr(intern!(py, "data_received"));
                        match cb {
                            Ok(cb) => {
                                let cb = cb.unbind();
                                t = slf.borrow_mut();
                                t.calls.data_received = Some(cb.clone_ref(py));
                                Some(cb)
                            }
                            Err(err) => {
                                return fatal_error(
                                    slf,
                                    err,
                                    "Fatal error: protocol.data_received() call failed.",
                                )
                            }
                        }
                    }
                }
            }
        }
    };
    let Some(cb) = cb else { return Ok(()) };
    let outcome = cb.bind(py).call1((data.obj.bind(py),));
    drop(cb);
    recycled_bytes::recycle(py, data);
    if let Err(err) = outcome {
        return fatal_error(
            slf,
            err,
            "Fatal error: protocol.data_received() call failed.",
        );
    }
    Ok(())
}

fn read_buffered(slf: &Bound<'_, SocketTransport>, fd: RawFd) -> PyResult<()> {
    let py = slf.py();
    let (get_buffer, buffer_updated) = {
        let t = slf.borrow();
        let p = t.protocol.as_ref().map(|p| p.clone_ref(py));
        let cached = t
            .calls
            .get_buffer
            .as_ref()
            .zip(t.calls.buffer_updated.as_ref())
            .map(|(a, b)| (a.clone_ref(py), b.clone_ref(py)));
        drop(t);
        match (cached, p) {
            (Some(c), _) => c,
            (None, None) => return Ok(()),
            (None, Some(p)) => {
                let p = p.bind(py);
                let got = p
                    .getattr(intern!(py, "get_buffer"))
                    .and_then(|g| Ok((g, p.getattr(intern!(py, "buffer_updated"))?)));
                match got {
                    Ok((g, u)) => {
                        let mut t = slf.borrow_mut();
                        t.calls.get_buffer = Some(g.clone().unbind());
                        t.calls.buffer_updated = Some(u.clone().unbind());
                        (g.unbind(), u.unbind())
                    }
                    Err(err) => {
                        return fatal_error(
                            slf,
                            err,
                            "Fatal error: protocol.get_buffer() call failed.",
                        )
                    }
                }
            }
        }
    };
    let buf = get_buffer
        .bind(py)
        .call1((-1,))
        .and_then(|b| RawBuf::get(&b, true))
        .and_then(|b| {
            if b.len() == 0 {
                Err(PyRuntimeError::new_err(
                    "get_buffer() returned an empty buffer",
                ))
            } else {
                Ok(b)
            }
        });
    let buf = match buf {
        Ok(b) => b,
        Err(err) => {
            return fatal_error(slf, err, "Fatal error: protocol.get_buffer() call failed.")
        }
    };
    // SAFETY: `buf` is a writable export of `buf.len()` bytes, held until after the call.
    let res = unsafe { sys::recv_raw(fd, buf.ptr(), buf.len()) };
    drop(buf);
    match res {
        Ok(None) => Ok(()),
        Ok(Some(0)) => on_eof(slf),
        Ok(Some(n)) => {
            if let Err(err) = buffer_updated.bind(py).call1((n,)) {
                return fatal_error(
                    slf,
                    err,
                    "Fatal error: protocol.buffer_updated() call failed.",
                );
            }
            Ok(())
        }
        Err(e) => fatal_error(slf, os_error(e), "Fatal read error on socket transport"),
    }
}

#[pymethods]
impl SocketTransport {
    #[new]
    #[pyo3(signature = (event_loop, sock, protocol, extra=None, server=None, context=None))]
    fn py_new(
        event_loop: &Bound<'_, PyAny>,
        sock: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
        server: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let py = sock.py();
        let core = event_loop.cast::<CoreLoop>()?.clone().unbind();
        let fd_obj = sock.call_method0(intern!(py, "fileno"))?;
        let fd: RawFd = fd_obj.extract()?;
        Ok(SocketTransport {
            core: Some(core),
            sock: Some(sock.clone().unbind()),
            fd,
            fd_obj: fd_obj.unbind(),
            protocol: Some(protocol.clone().unbind()),
            buffered: is_buffered(protocol)?,
            calls: ProtocolCalls::default(),
            extra: ExtraInfo::new(sock, extra)?,
            server: server.filter(|s| !s.is_none()).map(|s| s.clone().unbind()),
            read_ready: None,
            write_ready: None,
            wbuf: Vec::new(),
            wpos: 0,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            closing: false,
            eof: false,
            paused: false,
            protocol_paused: false,
            protocol_connected: true,
            conn_lost: 0,
            empty_waiter: None,
            context: context.filter(|c| !c.is_none()).map(|c| c.clone().unbind()),
        })
    }

    /// Schedules `connection_made` and the first reader registration.
    fn _start(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let rr = slf.getattr(intern!(py, "_read_ready"))?.unbind();
        let wr = slf.getattr(intern!(py, "_write_ready"))?.unbind();
        let protocol = {
            let mut t = slf.borrow_mut();
            t.read_ready = Some(rr);
            t.write_ready = Some(wr);
            t.protocol.as_ref().map(|p| p.clone_ref(py))
        };
        if let Some(p) = protocol {
            let cm = p.bind(py).getattr(intern!(py, "connection_made"))?;
            call_soon(slf, cm, PyTuple::new(py, [slf])?)?;
        }
        let first = slf.getattr(intern!(py, "_first_read"))?;
        call_soon(slf, first, PyTuple::empty(py))
    }

    /// Starts reading unless the transport was paused or closed meanwhile.
    fn _first_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        let reading = {
            let t = slf.borrow();
            !t.paused && !t.closing
        };
        if reading {
            set_io(slf, Side::Read, true)?;
        }
        Ok(())
    }

    /// Writer callback: flush the buffer.
    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let res = {
            let t = slf.borrow();
            if t.conn_lost > 0 || t.pending() == 0 {
                return Ok(());
            }
            sys::send(t.fd, t.wbuf.get(t.wpos..).unwrap_or_default())
        };
        match res {
            Ok(None) => return Ok(()),
            Ok(Some(n)) => slf.borrow_mut().consume(n),
            Err(e) => {
                set_io(slf, Side::Write, false)?;
                {
                    let mut t = slf.borrow_mut();
                    t.wbuf = Vec::new();
                    t.wpos = 0;
                }
                let err = os_error(e);
                let exc = err.value(py).clone().into_any();
                fatal_error(slf, err, "Fatal write error on socket transport")?;
                let waiter = slf.borrow().empty_waiter.as_ref().map(|w| w.clone_ref(py));
                if let Some(w) = waiter {
                    w.bind(py)
                        .call_method1(intern!(py, "set_exception"), (exc,))?;
                }
                return Ok(());
            }
        }
        maybe_resume_protocol(slf)?;
        let (empty, closing, eof, fd) = {
            let t = slf.borrow();
            (t.pending() == 0, t.closing, t.eof, t.fd)
        };
        if empty {
            set_io(slf, Side::Write, false)?;
            let waiter = slf.borrow().empty_waiter.as_ref().map(|w| w.clone_ref(py));
            if let Some(w) = waiter {
                w.bind(py)
                    .call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
            if closing {
                Self::_call_connection_lost(slf, None)?;
            } else if eof {
                sys::shutdown_write(fd).map_err(os_error)?;
            }
        }
        Ok(())
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let (connected, protocol) = {
            let t = slf.borrow();
            if t.core.is_none() {
                return Ok(());
            }
            (
                t.protocol_connected,
                t.protocol.as_ref().map(|p| p.clone_ref(py)),
            )
        };
        let outcome = match (connected, protocol) {
            (true, Some(p)) => p
                .bind(py)
                .call_method1(intern!(py, "connection_lost"), (exc,))
                .map(drop),
            _ => Ok(()),
        };
        let (core, fd) = {
            let t = slf.borrow();
            (t.core.as_ref().map(|c| c.clone_ref(py)), t.fd)
        };
        let forgotten = match &core {
            Some(c) => forget_transport(c.bind(py).as_any(), fd, slf.as_any()),
            None => Ok(()),
        };
        drop(core);
        let (sock, protocol, core, server, calls, rr, wr) = {
            let mut t = slf.borrow_mut();
            (
                t.sock.take(),
                t.protocol.take(),
                t.core.take(),
                t.server.take(),
                std::mem::take(&mut t.calls),
                t.read_ready.take(),
                t.write_ready.take(),
            )
        };
        let closed = match &sock {
            Some(s) => s.bind(py).call_method0(intern!(py, "close")).map(drop),
            None => Ok(()),
        };
        drop((sock, protocol, core, calls, rr, wr));
        let detached = match server {
            Some(s) => s
                .bind(py)
                .call_method1(intern!(py, "_detach"), (slf,))
                .map(drop),
            None => Ok(()),
        };
        outcome.and(closed).and(detached).and(forgotten)
    }

    /// All buffers in one `sendmsg` when nothing is buffered.
    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        check_writable(&slf.borrow())?;
        let mut bufs = Vec::new();
        for item in list_of_data.try_iter()? {
            let item = item?;
            check_stream_write_type(&item)?;
            bufs.push(RawBuf::get(&item, false)?);
        }
        for chunk in bufs.chunks(sys::MAX_IOV) {
            let parts: Vec<&[u8]> = chunk.iter().map(RawBuf::as_slice).collect();
            write_parts(slf, &parts)?;
        }
        Ok(())
    }

    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let (shut, fd) = {
            let mut t = slf.borrow_mut();
            if t.closing || t.eof {
                return Ok(());
            }
            t.eof = true;
            (t.pending() == 0, t.fd)
        };
        if shut {
            sys::shutdown_write(fd).map_err(os_error)?;
        }
        Ok(())
    }

    fn can_write_eof(&self) -> PyResult<bool> {
        Ok(true)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        close(slf)
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        force_close(slf, None)
    }

    fn _force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        force_close(slf, exc.map(Bound::unbind))
    }

    fn is_reading(&self) -> PyResult<bool> {
        Ok(!self.paused && !self.closing)
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        {
            let mut t = slf.borrow_mut();
            if t.paused || t.closing {
                return Ok(());
            }
            t.paused = true;
        }
        set_io(slf, Side::Read, false)
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        {
            let mut t = slf.borrow_mut();
            if t.closing || !t.paused {
                return Ok(());
            }
            t.paused = false;
        }
        set_io(slf, Side::Read, true)
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

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let found = slf.borrow().extra.lookup(py, name)?;
        match found {
            Lookup::Found(v) => Ok(v),
            Lookup::Missing => Ok(default.unwrap_or_else(|| py.None())),
            Lookup::WrapSocket(sock) => {
                // Made outside the borrow: this runs Python code.
                let wrapped = wrap_socket(sock.bind(py))?;
                slf.borrow_mut().extra.set_wrapped(wrapped.clone_ref(py));
                Ok(wrapped)
            }
        }
    }

    fn set_protocol(&mut self, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        self.buffered = is_buffered(protocol)?;
        self.calls = ProtocolCalls::default();
        self.protocol = Some(protocol.clone().unbind());
        self.protocol_connected = true;
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .protocol
            .as_ref()
            .map_or_else(|| py.None(), |p| p.clone_ref(py)))
    }

    /// A future resolved when the write buffer is empty (for `sendfile`).
    fn _make_empty_waiter(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let (core, empty) = {
            let t = slf.borrow();
            if t.empty_waiter.is_some() {
                return Err(PyRuntimeError::new_err("Empty waiter is already set"));
            }
            (t.core(py), t.pending() == 0)
        };
        let Some(core) = core else {
            return Err(PyRuntimeError::new_err("transport is closed"));
        };
        let fut = core.call_method0(intern!(py, "create_future"))?;
        if empty {
            fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        slf.borrow_mut().empty_waiter = Some(fut.clone().unbind());
        Ok(fut.unbind())
    }

    fn _reset_empty_waiter(&mut self) -> PyResult<()> {
        self.empty_waiter = None;
        Ok(())
    }

    /// The asyncio class this transport passes for in `isinstance()`.
    #[getter]
    fn __class__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        asyncio_class(py, &TRANSPORT_CLASS, "SocketTransport")
    }

    #[getter]
    fn _sock(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.sock.as_ref().map(|s| s.clone_ref(py)))
    }

    /// `loop.start_tls()` may wrap this transport.
    #[getter]
    fn _start_tls_compatible(&self) -> PyResult<bool> {
        Ok(true)
    }

    #[getter]
    fn _sock_fd(&self) -> PyResult<RawFd> {
        Ok(self.fd)
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.core.as_ref().map(|c| c.clone_ref(py).into_any()))
    }

    #[getter]
    fn _protocol_paused(&self) -> PyResult<bool> {
        Ok(self.protocol_paused)
    }

    /// The loop closed: drop the bound `_read_ready`/`_write_ready`, a cycle
    /// through the transport, so that one nobody closed is freed (and warns)
    /// as soon as the program lets go of it, as asyncio's are.
    fn _loop_closed(&mut self) -> PyResult<()> {
        self.read_ready = None;
        self.write_ready = None;
        Ok(())
    }

    #[getter]
    fn _closing(&self) -> PyResult<bool> {
        Ok(self.closing)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok({
            let mut s = String::from("<oxloop.SocketTransport");
            if self.sock.is_none() {
                s.push_str(" closed");
            } else if self.closing {
                s.push_str(" closing");
            }
            s.push_str(&format!(" fd={}", self.fd));
            if self.sock.is_some() {
                let read = if self.paused || self.closing {
                    "idle"
                } else {
                    "polling"
                };
                let write = if self.pending() > 0 {
                    "polling"
                } else {
                    "idle"
                };
                s.push_str(&format!(
                    " read={read} write=<{write}, bufsize={}>",
                    self.pending()
                ));
            }
            s.push('>');
            s
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [
            self.sock.as_ref(),
            self.protocol.as_ref(),
            self.server.as_ref(),
            self.read_ready.as_ref(),
            self.write_ready.as_ref(),
            self.empty_waiter.as_ref(),
            self.context.as_ref(),
            self.calls.data_received.as_ref(),
            self.calls.get_buffer.as_ref(),
            self.calls.buffer_updated.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            visit.call(obj)?;
        }
        if let Some(c) = &self.core {
            visit.call(c)?;
        }
        self.extra.traverse(&visit)?;
        Ok(())
    }

    fn __clear__(&mut self) {
        self.protocol = None;
        self.server = None;
        self.read_ready = None;
        self.write_ready = None;
        self.empty_waiter = None;
        self.context = None;
        self.calls = ProtocolCalls::default();
    }
}

impl Drop for SocketTransport {
    fn drop(&mut self) {
        if self.sock.is_some() {
            let repr = self.__repr__().unwrap_or_default();
            if let Some(sock) = self.sock.take() {
                super::common::warn_unclosed(sock, &repr);
            }
        }
    }
}
