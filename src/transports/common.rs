//! Helpers every transport shares: the asyncio logger, write argument
//! checks, and the asyncio classes transports pass for.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `asyncio` logger.
pub(crate) fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .call_method1("getLogger", ("asyncio",))?
                    .unbind(),
            )
        })
        .map(|l| l.bind(py))
}

/// A class of `oxloop._transport_types` (see there why transports report it as `__class__`).
pub(crate) fn asyncio_class(
    py: Python<'_>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Py<PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("oxloop._transport_types")?
                .getattr(name)?
                .unbind(),
        )
    })
    .map(|c| c.clone_ref(py))
}

/// Errors a transport never swallows.
pub(crate) fn is_fatal(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py)
        || e.is_instance_of::<pyo3::exceptions::PySystemExit>(py)
}

/// asyncio's type check of `write`/`sendto` data.
pub(crate) fn check_write_type(data: &Bound<'_, PyAny>) -> PyResult<()> {
    if is_writable_type(data) {
        return Ok(());
    }
    Err(data_type_error(data, "a bytes-like object"))
}

/// The socket transport's `write` check: from Python 3.14 asyncio's message
/// names the accepted types (its datagram `sendto` kept the old one).
pub(crate) fn check_stream_write_type(data: &Bound<'_, PyAny>) -> PyResult<()> {
    if is_writable_type(data) {
        return Ok(());
    }
    Err(if data.py().version_info() >= (3, 14) {
        data_type_error(data, "a bytes, bytearray, or memoryview object")
    } else {
        data_type_error(data, "a bytes-like object")
    })
}

fn is_writable_type(data: &Bound<'_, PyAny>) -> bool {
    data.is_instance_of::<PyBytes>()
        || data.is_instance_of::<PyByteArray>()
        || data.is_instance_of::<PyMemoryView>()
}

fn data_type_error(data: &Bound<'_, PyAny>, expected: &str) -> PyErr {
    let name = data
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!("data argument must be {expected}, not '{name}'"))
}

/// Drops `transport` from the loop's fd -> transport map (`loop._transports`),
/// unless another transport took the fd meanwhile. Called once the
/// connection is lost, so the map never holds dead transports.
pub(crate) fn forget_transport(
    event_loop: &Bound<'_, PyAny>,
    fd: i32,
    transport: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = event_loop.py();
    let Ok(map) = event_loop.getattr(intern!(py, "_transports")) else {
        return Ok(());
    };
    let Ok(map) = map.cast_into::<PyDict>() else {
        return Ok(());
    };
    if let Some(current) = map.get_item(fd)? {
        if current.is(transport) {
            map.del_item(fd)?;
        }
    }
    Ok(())
}

/// asyncio's `_set_write_buffer_limits`: `high` defaults to `default_high`
/// (or to four times `low`), `low` to a quarter of `high`; both must be
/// non-negative with `high >= low`, else `ValueError`.
pub(crate) fn water_marks(
    high: Option<i64>,
    low: Option<i64>,
    default_high: usize,
) -> PyResult<(usize, usize)> {
    let high = match (high, low) {
        (Some(h), _) => h,
        (None, None) => i64::try_from(default_high).unwrap_or(i64::MAX),
        (None, Some(l)) => l.saturating_mul(4),
    };
    let low = low.unwrap_or(high.div_euclid(4));
    if !(high >= low && low >= 0) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "high ({high}) must be >= low ({low}) must be >= 0"
        )));
    }
    Ok((
        usize::try_from(high).unwrap_or(usize::MAX),
        usize::try_from(low).unwrap_or(0),
    ))
}

/// asyncio's transport `__del__`: a transport dropped before it was closed
/// warns `ResourceWarning("unclosed transport <repr>")` and closes the
/// socket or pipe object it still holds. Called from `Drop`, where the GIL
/// is held; a failed warning goes to `sys.unraisablehook`. A failed close is
/// ignored: in a garbage cycle the collector may have cleared the socket
/// object already, and its own finalizer then closes the fd.
pub(crate) fn warn_unclosed(resource: Py<PyAny>, repr: &str) {
    Python::attach(|py| {
        let msg = std::ffi::CString::new(format!("unclosed transport {repr}")).unwrap_or_default();
        let category = py.get_type::<pyo3::exceptions::PyResourceWarning>();
        if let Err(e) = PyErr::warn(py, category.as_any(), &msg, 1) {
            e.write_unraisable(py, None);
        }
        let _ = resource.bind(py).call_method0(intern!(py, "close"));
    });
}
