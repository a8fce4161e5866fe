//! `DatagramTransport`: asyncio's datagram transport over a UDP (or Unix
//! datagram) socket, calling the Python protocol directly.
//!
//! IPv4 and IPv6 datagrams are received and sent with the syscalls
//! themselves; their peers' Python addresses are remembered per transport
//! (`datagram_addr.rs`). Other families (Unix datagram sockets), and
//! `sendto` to an address object not made here, go through the socket
//! object's `recvfrom_into`/`sendto`/`send` (looked up once per transport),
//! which convert the addresses. Datagrams are received into one buffer per
//! thread and copied out at their size (into a recycled `bytes` object when
//! one fits): `recvfrom(256 KiB)` allocated 256 KiB per datagram, which
//! glibc serves with mmap + mremap + munmap and two page faults once it is
//! above the mmap threshold.
//!
//! One readiness reads up to [`READS_PER_READY`] datagrams (as libuv does),
//! not one as asyncio does: a socket with several datagrams waiting costs one
//! poll per batch instead of one per datagram. The batch stops when the
//! socket is empty or the transport is paused or closed.
//!
//! OS errors of single datagrams go to `protocol.error_received`, as in
//! asyncio; datagrams the kernel cannot take yet are queued whole and sent
//! by the writer callback.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyTuple};
use reactor::Side;

use super::common::{
    asyncio_class, check_write_type, forget_transport, is_fatal, logger, water_marks,
};
use super::datagram_addr::{PeerCache, RawAddr};
use super::{recycled_bytes, sys};
use crate::errors::os_error;
use crate::event_loop::CoreLoop;

/// Bytes asked of `recvfrom_into` (asyncio's `max_size`).
const MAX_DATAGRAM: usize = 256 * 1024;
const DEFAULT_HIGH: usize = 64 * 1024;
const CONNLOST_LOG_THRESHOLD: u32 = 5;
/// Datagrams read per readiness at most (libuv's figure).
const READS_PER_READY: usize = 32;

static DATAGRAM_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

thread_local! {
    /// The receive buffer of this thread's datagram transports. Per thread,
    /// not per process: `recvfrom_into` releases the GIL while it writes.
    static RECEIVE_BUFFER: RefCell<Option<Py<PyByteArray>>> = const { RefCell::new(None) };
}

/// This thread's receive buffer, made on first use.
fn receive_buffer(py: Python<'_>) -> PyResult<Bound<'_, PyByteArray>> {
    let existing = RECEIVE_BUFFER.with(|b| b.borrow().as_ref().map(|b| b.clone_ref(py)));
    if let Some(b) = existing {
        return Ok(b.into_bound(py));
    }
    let made = PyByteArray::new_with(py, MAX_DATAGRAM, |_| Ok(()))?;
    RECEIVE_BUFFER.with(|b| *b.borrow_mut() = Some(made.clone().unbind()));
    Ok(made)
}

/// The socket methods used per datagram where the transport does not make
/// the syscalls itself (see the module notes).
struct SockCalls {
    recvfrom_into: Py<PyAny>,
    sendto: Py<PyAny>,
    send: Py<PyAny>,
}

/// A datagram transport.
#[pyclass(module = "oxloop._core", name = "DatagramTransport", weakref, subclass)]
pub struct DatagramTransport {
    core: Option<Py<CoreLoop>>,
    sock: Option<Py<PyAny>>,
    calls: Option<SockCalls>,
    fd: RawFd,
    fd_obj: Py<PyAny>,
    protocol: Option<Py<PyAny>>,
    datagram_received: Option<Py<PyAny>>,
    extra: Py<PyDict>,
    /// The connected peer (`remote_addr`), if any.
    address: Option<Py<PyAny>>,
    connected: bool,
    read_ready: Option<Py<PyAny>>,
    write_ready: Option<Py<PyAny>>,
    queue: VecDeque<(Py<PyAny>, Py<PyAny>)>,
    queued_bytes: usize,
    high: usize,
    low: usize,
    closing: bool,
    paused: bool,
    protocol_paused: bool,
    conn_lost: u32,
    /// Whether an empty datagram is sent (Python 3.12+) or dropped (3.11).
    send_empty: bool,
    /// IPv4 or IPv6: datagrams and addresses are handled here, not by the
    /// socket object.
    inet: bool,
    /// The peers whose addresses were made here.
    peers: PeerCache,
}

fn core_of<'py>(slf: &Bound<'py, DatagramTransport>) -> Option<Bound<'py, CoreLoop>> {
    slf.borrow().core.as_ref().map(|c| c.bind(slf.py()).clone())
}

fn set_io(slf: &Bound<'_, DatagramTransport>, side: Side, on: bool) -> PyResult<()> {
    let py = slf.py();
    let (core, fd_obj, cb) = {
        let t = slf.borrow();
        let cb = match side {
            Side::Read => t.read_ready.as_ref(),
            Side::Write => t.write_ready.as_ref(),
        }
        .map(|c| c.clone_ref(py));
        (
            t.core.as_ref().map(|c| c.clone_ref(py)),
            t.fd_obj.clone_ref(py),
            cb,
        )
    };
    let Some(core) = core else { return Ok(()) };
    let core = core.bind(py);
    let fd = fd_obj.bind(py);
    if on {
        let Some(cb) = cb else { return Ok(()) };
        let method = if side == Side::Read {
            "add_reader"
        } else {
            "add_writer"
        };
        core.get()
            .set_io(py, fd, side, cb.into_bound(py), PyTuple::empty(py), method)?;
    } else {
        core.get().remove_io(fd, side)?;
    }
    Ok(())
}

fn call_soon(
    slf: &Bound<'_, DatagramTransport>,
    callback: Bound<'_, PyAny>,
    args: Bound<'_, PyTuple>,
) -> PyResult<()> {
    if let Some(core) = core_of(slf) {
        core.get().call_soon_impl(slf.py(), callback, args, None)?;
    }
    Ok(())
}

fn protocol_of(slf: &Bound<'_, DatagramTransport>) -> Option<Py<PyAny>> {
    slf.borrow()
        .protocol
        .as_ref()
        .map(|p| p.clone_ref(slf.py()))
}

/// `protocol.error_received(exc)` for an OSError of one datagram.
fn error_received(slf: &Bound<'_, DatagramTransport>, err: PyErr) -> PyResult<()> {
    let py = slf.py();
    if let Some(p) = protocol_of(slf) {
        p.bind(py)
            .call_method1(intern!(py, "error_received"), (err.into_value(py),))?;
    }
    Ok(())
}

fn fatal_error(slf: &Bound<'_, DatagramTransport>, err: PyErr, message: &str) -> PyResult<()> {
    let py = slf.py();
    if is_fatal(py, &err) {
        return Err(err);
    }
    let exc = err.into_value(py).into_any();
    if !exc.bind(py).is_instance_of::<PyOSError>() {
        if let Some(core) = core_of(slf) {
            let ctx = PyDict::new(py);
            ctx.set_item("message", message)?;
            ctx.set_item("exception", exc.bind(py))?;
            ctx.set_item("transport", slf)?;
            ctx.set_item("protocol", protocol_of(slf))?;
            core.call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        }
    }
    force_close(slf, Some(exc))
}

fn force_close(slf: &Bound<'_, DatagramTransport>, exc: Option<Py<PyAny>>) -> PyResult<()> {
    let py = slf.py();
    let (had_queue, was_closing, queue) = {
        let mut t = slf.borrow_mut();
        if t.conn_lost > 0 {
            return Ok(());
        }
        let queue = std::mem::take(&mut t.queue);
        t.queued_bytes = 0;
        let was = t.closing;
        t.closing = true;
        t.conn_lost += 1;
        (!queue.is_empty(), was, queue)
    };
    drop(queue);
    if had_queue {
        set_io(slf, Side::Write, false)?;
    }
    if !was_closing {
        set_io(slf, Side::Read, false)?;
    }
    let cb = slf.getattr(intern!(py, "_call_connection_lost"))?;
    call_soon(
        slf,
        cb,
        PyTuple::new(py, [exc.unwrap_or_else(|| py.None())])?,
    )
}

fn flow_hook(slf: &Bound<'_, DatagramTransport>, pause: bool) -> PyResult<()> {
    let py = slf.py();
    {
        let mut t = slf.borrow_mut();
        if pause {
            if t.queued_bytes <= t.high || t.protocol_paused {
                return Ok(());
            }
            t.protocol_paused = true;
        } else {
            if !t.protocol_paused || t.queued_bytes > t.low {
                return Ok(());
            }
            t.protocol_paused = false;
        }
    }
    let Some(p) = protocol_of(slf) else {
        return Ok(());
    };
    let name = if pause {
        "pause_writing"
    } else {
        "resume_writing"
    };
    if let Err(err) = p.bind(py).call_method0(name) {
        if is_fatal(py, &err) {
            return Err(err);
        }
        if let Some(core) = core_of(slf) {
            let ctx = PyDict::new(py);
            ctx.set_item("message", format!("protocol.{name}() failed"))?;
            ctx.set_item("exception", err.into_value(py))?;
            ctx.set_item("transport", slf)?;
            ctx.set_item("protocol", p)?;
            core.call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        }
    }
    Ok(())
}

/// One datagram to the socket: `send` when connected, else `sendto`.
fn send_one(
    slf: &Bound<'_, DatagramTransport>,
    data: &Bound<'_, PyAny>,
    addr: &Bound<'_, PyAny>,
) -> PyResult<Option<()>> {
    let py = slf.py();
    let (connected, direct) = {
        let t = slf.borrow();
        if t.calls.is_none() {
            return Ok(Some(()));
        }
        // A connected socket needs no address; otherwise only a remembered
        // peer's address object has its sockaddr at hand.
        let direct = if t.connected {
            t.inet.then_some((t.fd, None))
        } else if t.inet {
            t.peers.raw_of(addr).map(|raw| (t.fd, Some(raw)))
        } else {
            None
        };
        (t.connected, direct)
    };
    if let (Some((fd, to)), Ok(bytes)) = (direct, data.cast::<PyBytes>()) {
        let sent = match &to {
            Some(to) => sys::sendto(fd, bytes.as_bytes(), to),
            None => sys::send(fd, bytes.as_bytes()),
        };
        return sent.map(|n| n.map(drop)).map_err(os_error);
    }
    let call = {
        let t = slf.borrow();
        let Some(calls) = t.calls.as_ref() else {
            return Ok(Some(()));
        };
        if connected {
            calls.send.clone_ref(py)
        } else {
            calls.sendto.clone_ref(py)
        }
    };
    let res = if connected {
        call.bind(py).call1((data,))
    } else {
        call.bind(py).call1((data, addr))
    };
    match res {
        Ok(_) => Ok(Some(())),
        Err(e)
            if e.is_instance_of::<pyo3::exceptions::PyBlockingIOError>(py)
                || e.is_instance_of::<pyo3::exceptions::PyInterruptedError>(py) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Receives one datagram and hands it to the protocol. False when there was
/// none, or reading must stop (an error was reported, the transport closed).
fn read_one(
    slf: &Bound<'_, DatagramTransport>,
    buf: &Bound<'_, PyByteArray>,
    from: &mut RawAddr,
) -> PyResult<bool> {
    let py = slf.py();
    let (recvfrom_into, cached, fd) = {
        let t = slf.borrow();
        if t.conn_lost > 0 {
            return Ok(false);
        }
        let Some(calls) = t.calls.as_ref() else {
            return Ok(false);
        };
        (
            // Only other families go through the socket object.
            (!t.inet).then(|| calls.recvfrom_into.clone_ref(py)),
            t.datagram_received.as_ref().map(|c| c.clone_ref(py)),
            t.fd,
        )
    };
    let got = if let Some(recvfrom_into) = recvfrom_into {
        recvfrom_into
            .bind(py)
            .call1((buf,))
            .and_then(|pair| pair.extract::<(usize, Bound<'_, PyAny>)>())
    } else {
        // SAFETY: the bytearray is only reached through `receive_buffer`, on this
        // thread, and nothing resizes it; no Python code runs while the slice is alive.
        let got = sys::recvfrom(fd, unsafe { buf.as_bytes_mut() }, from);
        match got {
            Ok(None) => return Ok(false),
            Ok(Some(n)) => {
                let addr = slf.borrow_mut().peers.address_for(py, from)?;
                Ok((
                    n,
                    addr.map_or_else(|| py.None().into_bound(py), |a| a.into_bound(py)),
                ))
            }
            Err(e) => Err(os_error(e)),
        }
    };
    let (n, addr) = match got {
        Ok(pair) => pair,
        Err(e)
            if e.is_instance_of::<pyo3::exceptions::PyBlockingIOError>(py)
                || e.is_instance_of::<pyo3::exceptions::PyInterruptedError>(py) =>
        {
            return Ok(false)
        }
        Err(e) if e.is_instance_of::<PyOSError>(py) => {
            return error_received(slf, e).map(|_| false)
        }
        Err(e) => {
            return fatal_error(slf, e, "Fatal read error on datagram transport").map(|_| false)
        }
    };
    let cb = match cached {
        Some(cb) => cb,
        None => {
            let Some(p) = protocol_of(slf) else {
                return Ok(false);
            };
            let cb = p
                .bind(py)
                .getattr(intern!(py, "datagram_received"))?
                .unbind();
            slf.borrow_mut().datagram_received = Some(cb.clone_ref(py));
            cb
        }
    };
    // SAFETY: the bytearray is only reached through `receive_buffer`, on this thread,
    // and nothing resizes it; the slice is copied out at once, before any Python code.
    let data = unsafe {
        let received = buf.as_bytes().get(..n).unwrap_or_default();
        recycled_bytes::bytes_for(py, received)
    };
    let outcome = cb.bind(py).call1((data.obj.bind(py), addr));
    recycled_bytes::recycle(py, data);
    outcome.map(|_| true)
}

#[pymethods]
impl DatagramTransport {
    #[new]
    #[pyo3(signature = (event_loop, sock, protocol, extra, address=None))]
    fn py_new(
        event_loop: &Bound<'_, PyAny>,
        sock: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        extra: &Bound<'_, PyDict>,
        address: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let py = sock.py();
        let core = event_loop.cast::<CoreLoop>()?.clone().unbind();
        let fd_obj = sock.call_method0(intern!(py, "fileno"))?;
        let fd: RawFd = fd_obj.extract()?;
        let family: i32 = sock.getattr(intern!(py, "family"))?.extract()?;
        let connected = match extra.get_item("peername")? {
            Some(p) => p.is_truthy()?,
            None => false,
        };
        let calls = SockCalls {
            recvfrom_into: sock.getattr(intern!(py, "recvfrom_into"))?.unbind(),
            sendto: sock.getattr(intern!(py, "sendto"))?.unbind(),
            send: sock.getattr(intern!(py, "send"))?.unbind(),
        };
        Ok(DatagramTransport {
            core: Some(core),
            sock: Some(sock.clone().unbind()),
            calls: Some(calls),
            fd,
            fd_obj: fd_obj.unbind(),
            protocol: Some(protocol.clone().unbind()),
            datagram_received: None,
            extra: extra.clone().unbind(),
            address: address.filter(|a| !a.is_none()).map(|a| a.clone().unbind()),
            connected,
            read_ready: None,
            write_ready: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            high: DEFAULT_HIGH,
            low: DEFAULT_HIGH / 4,
            closing: false,
            paused: false,
            protocol_paused: false,
            conn_lost: 0,
            send_empty: py.version_info() >= (3, 12),
            inet: family == libc::AF_INET || family == libc::AF_INET6,
            peers: PeerCache::default(),
        })
    }

    /// Schedules `connection_made` and the first reader registration.
    fn _start(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let rr = slf.getattr(intern!(py, "_read_ready"))?.unbind();
        let wr = slf.getattr(intern!(py, "_write_ready"))?.unbind();
        {
            let mut t = slf.borrow_mut();
            t.read_ready = Some(rr);
            t.write_ready = Some(wr);
        }
        if let Some(p) = protocol_of(slf) {
            let cm = p.bind(py).getattr(intern!(py, "connection_made"))?;
            call_soon(slf, cm, PyTuple::new(py, [slf])?)?;
        }
        let first = slf.getattr(intern!(py, "_first_read"))?;
        call_soon(slf, first, PyTuple::empty(py))
    }

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

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let buf = receive_buffer(slf.py())?;
        let mut from = RawAddr::empty();
        for i in 0..READS_PER_READY {
            if i > 0 {
                let t = slf.borrow();
                if t.closing || t.paused || t.conn_lost > 0 {
                    break;
                }
            }
            if !read_one(slf, &buf, &mut from)? {
                break;
            }
        }
        Ok(())
    }

    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        loop {
            let next = {
                let mut t = slf.borrow_mut();
                let item = t.queue.pop_front();
                if let Some((data, _)) = &item {
                    let n = data.bind(py).len().unwrap_or(0);
                    t.queued_bytes = t.queued_bytes.saturating_sub(n);
                }
                item
            };
            let Some((data, addr)) = next else { break };
            match send_one(slf, data.bind(py), addr.bind(py)) {
                Ok(Some(())) => {}
                Ok(None) => {
                    let mut t = slf.borrow_mut();
                    t.queued_bytes += data.bind(py).len().unwrap_or(0);
                    t.queue.push_front((data, addr));
                    break;
                }
                Err(e) if e.is_instance_of::<PyOSError>(py) => return error_received(slf, e),
                Err(e) => return fatal_error(slf, e, "Fatal write error on datagram transport"),
            }
        }
        flow_hook(slf, false)?;
        let (empty, closing) = {
            let t = slf.borrow();
            (t.queue.is_empty(), t.closing)
        };
        if empty {
            set_io(slf, Side::Write, false)?;
            if closing {
                Self::_call_connection_lost(slf, None)?;
            }
        }
        Ok(())
    }

    #[pyo3(signature = (data, addr=None))]
    fn sendto(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        addr: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        check_write_type(data)?;
        if !slf.borrow().send_empty && data.len()? == 0 {
            return Ok(());
        }
        let mut addr = addr.unwrap_or_else(|| py.None().into_bound(py));
        let fixed = slf.borrow().address.as_ref().map(|a| a.clone_ref(py));
        if let Some(fixed) = &fixed {
            let fixed = fixed.bind(py);
            if !addr.is_none() && !addr.eq(fixed)? {
                return Err(PyValueError::new_err(format!(
                    "Invalid address: must be None or {}",
                    fixed.str()?
                )));
            }
            addr = fixed.clone();
        }
        {
            let mut t = slf.borrow_mut();
            if t.conn_lost > 0 && fixed.is_some() {
                if t.conn_lost >= CONNLOST_LOG_THRESHOLD {
                    drop(t);
                    logger(py)?.call_method1("warning", ("socket.send() raised exception.",))?;
                    t = slf.borrow_mut();
                }
                t.conn_lost += 1;
                return Ok(());
            }
        }
        let queued = !slf.borrow().queue.is_empty();
        if !queued {
            match send_one(slf, data, &addr) {
                Ok(Some(())) => return Ok(()),
                Ok(None) => set_io(slf, Side::Write, true)?,
                Err(e) if e.is_instance_of::<PyOSError>(py) => return error_received(slf, e),
                Err(e) => return fatal_error(slf, e, "Fatal write error on datagram transport"),
            }
        }
        // Queue a copy: the caller may reuse its buffer.
        let copy = py
            .import("builtins")?
            .getattr("bytes")?
            .call1((data,))?
            .cast_into::<PyBytes>()?;
        {
            let mut t = slf.borrow_mut();
            t.queued_bytes += copy.len()?;
            t.queue.push_back((copy.into_any().unbind(), addr.unbind()));
        }
        flow_hook(slf, true)
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        if slf.borrow().core.is_none() {
            return Ok(());
        }
        let outcome = match protocol_of(slf) {
            Some(p) => p
                .bind(py)
                .call_method1(intern!(py, "connection_lost"), (exc,))
                .map(drop),
            None => Ok(()),
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
        let taken = {
            let mut t = slf.borrow_mut();
            (
                t.sock.take(),
                t.protocol.take(),
                t.core.take(),
                t.calls.take(),
                t.datagram_received.take(),
                t.read_ready.take(),
                t.write_ready.take(),
            )
        };
        let closed = match &taken.0 {
            Some(s) => s.bind(py).call_method0(intern!(py, "close")).map(drop),
            None => Ok(()),
        };
        drop(taken);
        outcome.and(closed).and(forgotten)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let empty = {
            let mut t = slf.borrow_mut();
            if t.closing {
                return Ok(());
            }
            t.closing = true;
            let empty = t.queue.is_empty();
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

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        force_close(slf, None)
    }

    fn _force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        force_close(slf, exc.map(Bound::unbind))
    }

    fn is_closing(&self) -> PyResult<bool> {
        Ok(self.closing)
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
        flow_hook(slf, true)
    }

    fn get_write_buffer_limits(&self) -> PyResult<(usize, usize)> {
        Ok((self.low, self.high))
    }

    fn get_write_buffer_size(&self) -> PyResult<usize> {
        Ok(self.queued_bytes)
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.extra.bind(py).get_item(name)? {
            Some(v) => Ok(v.unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    fn set_protocol(&mut self, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        self.protocol = Some(protocol.clone().unbind());
        self.datagram_received = None;
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .protocol
            .as_ref()
            .map_or_else(|| py.None(), |p| p.clone_ref(py)))
    }

    /// The asyncio class this transport passes for in `isinstance()`.
    #[getter]
    fn __class__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        asyncio_class(py, &DATAGRAM_CLASS, "DatagramTransport")
    }

    #[getter]
    fn _sock(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.sock.as_ref().map(|s| s.clone_ref(py)))
    }

    #[getter]
    fn _sock_fd(&self) -> PyResult<RawFd> {
        Ok(self.fd)
    }

    #[getter]
    fn _address(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(self.address.as_ref().map(|a| a.clone_ref(py)))
    }

    /// The loop closed: drop the bound `_read_ready`/`_write_ready`, a cycle
    /// through the transport, so that one nobody closed is freed (and warns)
    /// as soon as the program lets go of it, as asyncio's are.
    fn _loop_closed(&mut self) -> PyResult<()> {
        self.read_ready = None;
        self.write_ready = None;
        Ok(())
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok({
            let state = if self.sock.is_none() {
                " closed"
            } else if self.closing {
                " closing"
            } else {
                ""
            };
            format!(
                "<oxloop.DatagramTransport{state} fd={} bufsize={}>",
                self.fd, self.queued_bytes
            )
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [
            self.sock.as_ref(),
            self.protocol.as_ref(),
            self.datagram_received.as_ref(),
            self.address.as_ref(),
            self.read_ready.as_ref(),
            self.write_ready.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            visit.call(obj)?;
        }
        if let Some(c) = &self.calls {
            visit.call(&c.recvfrom_into)?;
            visit.call(&c.sendto)?;
            visit.call(&c.send)?;
        }
        for (d, a) in &self.queue {
            visit.call(d)?;
            visit.call(a)?;
        }
        for obj in self.peers.objects() {
            visit.call(obj)?;
        }
        if let Some(c) = &self.core {
            visit.call(c)?;
        }
        visit.call(&self.extra)?;
        Ok(())
    }

    fn __clear__(&mut self) {
        self.protocol = None;
        self.datagram_received = None;
        self.read_ready = None;
        self.write_ready = None;
        self.calls = None;
        self.queue.clear();
        self.peers.clear();
    }
}

impl Drop for DatagramTransport {
    fn drop(&mut self) {
        if self.sock.is_some() {
            let repr = self.__repr__().unwrap_or_default();
            if let Some(sock) = self.sock.take() {
                super::common::warn_unclosed(sock, &repr);
            }
        }
    }
}
