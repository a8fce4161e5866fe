//! What the read and write pipe transports share: the loop, the pipe file
//! object and its fd, the protocol, `extra` (with `'pipe'`), reader/writer
//! registration, error reporting and the final `connection_lost`.
//!
//! Helpers take the values they need, never a borrow of the transport: they
//! run Python code (the protocol, the exception handler, the logger).

use std::os::fd::RawFd;

use pyo3::exceptions::PyOSError;
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use reactor::Side;

use super::common::logger;
use crate::event_loop::CoreLoop;

pub(crate) struct PipeBase {
    /// The loop; `None` once `connection_lost` ran.
    pub(crate) core: Option<Py<CoreLoop>>,
    /// The pipe file object; closed and dropped after `connection_lost`
    /// (asyncio's `_pipe`, which callers may set to None themselves).
    pub(crate) pipe: Option<Py<PyAny>>,
    pub(crate) fd: RawFd,
    pub(crate) protocol: Option<Py<PyAny>>,
    /// `get_extra_info` values; holds `'pipe'`.
    pub(crate) extra: Py<PyDict>,
}

impl PipeBase {
    pub(crate) fn new(
        event_loop: &Bound<'_, PyAny>,
        pipe: &Bound<'_, PyAny>,
        protocol: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let py = pipe.py();
        let core = event_loop.cast::<CoreLoop>()?.clone().unbind();
        let fd: RawFd = pipe.call_method0(intern!(py, "fileno"))?.extract()?;
        let dict = match extra {
            Some(e) => e.copy()?,
            None => PyDict::new(py),
        };
        dict.set_item("pipe", pipe)?;
        Ok(PipeBase {
            core: Some(core),
            pipe: Some(pipe.clone().unbind()),
            fd,
            protocol: Some(protocol.clone().unbind()),
            extra: dict.unbind(),
        })
    }

    pub(crate) fn core<'py>(&self, py: Python<'py>) -> Option<Bound<'py, CoreLoop>> {
        self.core.as_ref().map(|c| c.bind(py).clone())
    }

    pub(crate) fn protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.protocol.as_ref().map(|p| p.clone_ref(py))
    }

    pub(crate) fn extra_info(
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

    /// asyncio's repr words: `closed`/`closing`, `fd=N`, and `open` or
    /// `closed` when the loop is gone.
    pub(crate) fn repr_head(&self, name: &str, closing: bool) -> String {
        let mut s = format!("<oxloop.{name}");
        if self.pipe.is_none() {
            s.push_str(" closed");
        } else if closing {
            s.push_str(" closing");
        }
        s.push_str(&format!(" fd={}", self.fd));
        s
    }

    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for obj in [self.pipe.as_ref(), self.protocol.as_ref()]
            .into_iter()
            .flatten()
        {
            visit.call(obj)?;
        }
        if let Some(c) = &self.core {
            visit.call(c)?;
        }
        visit.call(&self.extra)
    }

    /// asyncio's `__del__`: an unclosed pipe transport warns and closes its pipe.
    pub(crate) fn warn_unclosed(&mut self, name: &str) {
        if let Some(pipe) = self.pipe.take() {
            super::common::warn_unclosed(pipe, &format!("<oxloop.{name} fd={}>", self.fd));
        }
    }
}

/// Registers `cb` as the reader or writer of `fd` on `core`.
pub(crate) fn add_io(
    core: Option<Bound<'_, CoreLoop>>,
    fd: RawFd,
    side: Side,
    cb: Option<Py<PyAny>>,
) -> PyResult<()> {
    let (Some(core), Some(cb)) = (core, cb) else {
        return Ok(());
    };
    let py = core.py();
    let fd_obj = fd.into_pyobject(py)?;
    let method = match side {
        Side::Read => "add_reader",
        Side::Write => "add_writer",
    };
    core.get().set_io(
        py,
        fd_obj.as_any(),
        side,
        cb.into_bound(py),
        PyTuple::empty(py),
        method,
    )?;
    Ok(())
}

/// Removes the reader or writer of `fd` from `core` (nothing if none).
pub(crate) fn remove_io(core: Option<Bound<'_, CoreLoop>>, fd: RawFd, side: Side) -> PyResult<()> {
    let Some(core) = core else { return Ok(()) };
    let fd_obj = fd.into_pyobject(core.py())?;
    core.get().remove_io(fd_obj.as_any(), side)?;
    Ok(())
}

pub(crate) fn call_soon(
    core: Option<Bound<'_, CoreLoop>>,
    callback: Bound<'_, PyAny>,
    args: Bound<'_, PyTuple>,
) -> PyResult<()> {
    if let Some(core) = core {
        core.get().call_soon_impl(core.py(), callback, args, None)?;
    }
    Ok(())
}

/// The reporting half of asyncio's pipe `_fatal_error`: `quiet` errors (an
/// OSError the transport expects) are logged at debug level in debug mode,
/// others go to the loop's exception handler.
pub(crate) fn report(
    transport: &Bound<'_, PyAny>,
    core: Option<Bound<'_, CoreLoop>>,
    protocol: Option<Py<PyAny>>,
    exc: &Bound<'_, PyAny>,
    message: &str,
    quiet: bool,
) -> PyResult<()> {
    let py = transport.py();
    let Some(core) = core else { return Ok(()) };
    if quiet {
        if core.call_method0(intern!(py, "get_debug"))?.is_truthy()? {
            let kwargs = PyDict::new(py);
            kwargs.set_item("exc_info", exc)?;
            logger(py)?.call_method("debug", ("%r: %s", transport, message), Some(&kwargs))?;
        }
        return Ok(());
    }
    let ctx = PyDict::new(py);
    ctx.set_item("message", message)?;
    ctx.set_item("exception", exc)?;
    ctx.set_item("transport", transport)?;
    ctx.set_item("protocol", protocol)?;
    core.call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
    Ok(())
}

/// Is `exc` an OSError (with errno `errno`, when given)?
pub(crate) fn is_os_error(exc: &Bound<'_, PyAny>, errno: Option<i32>) -> PyResult<bool> {
    if !exc.is_instance_of::<PyOSError>() {
        return Ok(false);
    }
    match errno {
        None => Ok(true),
        Some(want) => {
            let got = exc.getattr(intern!(exc.py(), "errno"))?;
            Ok(got.extract::<i32>().ok() == Some(want))
        }
    }
}

/// The protocol and pipe a finished transport hands back.
pub(crate) type Leftovers = (Option<Py<PyAny>>, Option<Py<PyAny>>);

/// asyncio's `_call_connection_lost`: `protocol.connection_lost(exc)`, then
/// the pipe is closed and the loop, pipe and protocol are let go. Runs once.
pub(crate) fn finish(base: &mut PipeBase) -> Option<Leftovers> {
    base.core.take()?;
    Some((base.protocol.take(), base.pipe.take()))
}

/// The Python half of `finish`, outside any borrow.
pub(crate) fn connection_lost(
    py: Python<'_>,
    protocol: Option<Py<PyAny>>,
    pipe: Option<Py<PyAny>>,
    exc: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let outcome = match &protocol {
        Some(p) => p
            .bind(py)
            .call_method1(intern!(py, "connection_lost"), (exc,))
            .map(drop),
        None => Ok(()),
    };
    let closed = match &pipe {
        Some(p) => p.bind(py).call_method0(intern!(py, "close")).map(drop),
        None => Ok(()),
    };
    drop((protocol, pipe));
    outcome.and(closed)
}
