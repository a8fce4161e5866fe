//! A stream transport's `get_extra_info` values, kept as fields rather than
//! a dict per connection: the socket (wrapped in `asyncio.trsock.
//! TransportSocket` on first request), its address and its peer's address,
//! plus a dict only when the caller supplied other keys.

use pyo3::exceptions::PyOSError;
use pyo3::gc::{PyTraverseError, PyVisit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

static TRANSPORT_SOCKET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub(crate) struct ExtraInfo {
    /// The socket object; kept after close, as asyncio keeps `extra['socket']`.
    sock: Py<PyAny>,
    wrapped: Option<Py<PyAny>>,
    sockname: Py<PyAny>,
    peername: Py<PyAny>,
    more: Option<Py<PyDict>>,
}

/// `sock.<method>()`, or None if the socket cannot tell (as asyncio does).
fn address(sock: &Bound<'_, PyAny>, method: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    let py = sock.py();
    match sock.call_method0(method) {
        Ok(a) => Ok(a.unbind()),
        Err(e) if e.is_instance_of::<PyOSError>(py) => Ok(py.None()),
        Err(e) => Err(e),
    }
}

impl ExtraInfo {
    /// Reads the addresses now (they are gone once the socket is closed).
    /// A `peername` in `extra` (the address `accept` returned) is used as is.
    pub(crate) fn new(
        sock: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let py = sock.py();
        let sockname = address(sock, intern!(py, "getsockname"))?;
        let given = match extra {
            Some(e) => e.get_item("peername")?,
            None => None,
        };
        let peername = match given {
            Some(p) => p.unbind(),
            None => address(sock, intern!(py, "getpeername"))?,
        };
        let more = match extra {
            Some(e) if e.len() > usize::from(e.contains("peername")?) => Some(e.copy()?.unbind()),
            _ => None,
        };
        Ok(ExtraInfo {
            sock: sock.clone().unbind(),
            wrapped: None,
            sockname,
            peername,
            more,
        })
    }

    /// The value for `name`, or None when the wrapped socket must be made first.
    pub(crate) fn lookup(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Lookup> {
        if let Ok(key) = name.cast::<PyString>() {
            match key.to_str()? {
                "socket" => {
                    return Ok(match &self.wrapped {
                        Some(w) => Lookup::Found(w.clone_ref(py)),
                        None => Lookup::WrapSocket(self.sock.clone_ref(py)),
                    })
                }
                "sockname" => return Ok(Lookup::Found(self.sockname.clone_ref(py))),
                "peername" => return Ok(Lookup::Found(self.peername.clone_ref(py))),
                _ => {}
            }
        }
        if let Some(more) = &self.more {
            if let Some(v) = more.bind(py).get_item(name)? {
                return Ok(Lookup::Found(v.unbind()));
            }
        }
        Ok(Lookup::Missing)
    }

    pub(crate) fn set_wrapped(&mut self, wrapped: Py<PyAny>) {
        self.wrapped = Some(wrapped);
    }

    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.sock)?;
        visit.call(&self.sockname)?;
        visit.call(&self.peername)?;
        if let Some(w) = &self.wrapped {
            visit.call(w)?;
        }
        if let Some(m) = &self.more {
            visit.call(m)?;
        }
        Ok(())
    }
}

pub(crate) enum Lookup {
    Found(Py<PyAny>),
    WrapSocket(Py<PyAny>),
    Missing,
}

/// `asyncio.trsock.TransportSocket(sock)`.
pub(crate) fn wrap_socket(sock: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = sock.py();
    let cls = TRANSPORT_SOCKET.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("asyncio.trsock")?
                .getattr("TransportSocket")?
                .unbind(),
        )
    })?;
    Ok(cls.bind(py).call1((sock,))?.unbind())
}
