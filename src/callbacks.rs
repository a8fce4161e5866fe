//! Argument checks shared by the scheduling methods, with asyncio's messages.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyFunction, PyInt};

static ISCOROUTINEFUNCTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ISCOROUTINE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn asyncio_helper<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok(py.import("asyncio.coroutines")?.getattr(name)?.unbind())
    })
    .map(|f| f.bind(py))
}

/// The code object last asked about and its answer. Holding a strong
/// reference keeps the pointer from being reused by another code object.
static LAST_CODE: std::sync::Mutex<Option<(Py<PyAny>, bool)>> = std::sync::Mutex::new(None);

/// Whether a plain Python function's code is a coroutine's (`async def`);
/// `None` when `f` is not a plain function. A callback scheduled over and
/// over is answered from a one-entry cache keyed by its code object.
fn function_is_coroutine(f: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
    if !f.is_instance_of::<PyFunction>() {
        return Ok(None);
    }
    let py = f.py();
    // SAFETY: `f` is a function object (checked above) and the GIL is held, so
    // PyFunction_GetCode returns a borrowed, non-NULL code object; it is turned into
    // an owned reference before `f` could go away.
    let code = unsafe { Bound::from_borrowed_ptr(py, ffi::PyFunction_GetCode(f.as_ptr())) };
    if let Ok(cache) = LAST_CODE.try_lock() {
        if let Some((c, answer)) = cache.as_ref() {
            if c.as_ptr() == code.as_ptr() {
                return Ok(Some(*answer));
            }
        }
    }
    let flags: i64 = code.getattr(pyo3::intern!(py, "co_flags"))?.extract()?;
    let answer = flags & i64::from(ffi::CO_COROUTINE) != 0;
    if let Ok(mut cache) = LAST_CODE.try_lock() {
        // The old entry is dropped after the lock is released.
        let old = cache.replace((code.unbind(), answer));
        drop(cache);
        drop(old);
    }
    Ok(Some(answer))
}

extern "C" {
    static mut PyMethod_Type: ffi::PyTypeObject;
}

/// The function behind a bound Python method, if `obj` is one.
fn method_function<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    // SAFETY: PyMethod_Type is a static type object exported by libpython; only its
    // address is taken, and `obj` is a live object whose type pointer is read with the GIL.
    let is_method = unsafe {
        std::ptr::eq(
            ffi::Py_TYPE(obj.as_ptr()),
            std::ptr::addr_of_mut!(PyMethod_Type),
        )
    };
    if !is_method {
        return None;
    }
    obj.getattr(pyo3::intern!(obj.py(), "__func__")).ok()
}

static PARTIAL_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn coroutine_error(method: &str) -> PyErr {
    PyTypeError::new_err(format!("coroutines cannot be used with {method}()"))
}

/// Rejects what can never be a callback: non-callables, coroutine objects
/// among them. Always on, because it costs one type-slot check.
pub fn check_callable(py: Python<'_>, callback: &Bound<'_, PyAny>, method: &str) -> PyResult<()> {
    if callback.is_callable() {
        return Ok(());
    }
    let iscoro = asyncio_helper(py, &ISCOROUTINE, "iscoroutine")?;
    if iscoro.call1((callback,))?.is_truthy()? {
        return Err(coroutine_error(method));
    }
    Err(PyTypeError::new_err(format!(
        "a callable object was expected by {method}(), got {}",
        callback.repr()?
    )))
}

/// asyncio's debug-mode `_check_callback`: also rejects coroutine functions,
/// with the `TypeError` stdlib raises.
///
/// # Implementation notes
/// `asyncio.iscoroutinefunction` is a Python call, too slow for every
/// `call_soon`. Plain functions and bound methods are answered from their
/// code flags. An instance of a static (non-heap) type other than
/// `functools.partial` cannot carry the `_is_coroutine` marker or code
/// flags, so it is never a coroutine function: that covers `Future.set_result`,
/// the C Task's step wrappers and every other built-in callable. Only what is
/// left (partials, callable instances of Python classes, mocks) asks asyncio.
pub fn check_callback(py: Python<'_>, callback: &Bound<'_, PyAny>, method: &str) -> PyResult<()> {
    if let Some(is_coro) = function_is_coroutine(callback)? {
        return if is_coro {
            Err(coroutine_error(method))
        } else {
            Ok(())
        };
    }
    if let Some(func) = method_function(callback) {
        if let Some(is_coro) = function_is_coroutine(&func)? {
            return if is_coro {
                Err(coroutine_error(method))
            } else {
                Ok(())
            };
        }
    } else if !callback.is_callable() {
        let iscoro = asyncio_helper(py, &ISCOROUTINE, "iscoroutine")?;
        if iscoro.call1((callback,))?.is_truthy()? {
            return Err(coroutine_error(method));
        }
        return Err(PyTypeError::new_err(format!(
            "a callable object was expected by {method}(), got {}",
            callback.repr()?
        )));
    } else {
        let tp = callback.get_type();
        // SAFETY: `tp` is a live type object and the GIL is held.
        let flags = unsafe { ffi::PyType_GetFlags(tp.as_ptr().cast::<ffi::PyTypeObject>()) };
        let heap = flags & ffi::Py_TPFLAGS_HEAPTYPE != 0;
        if !heap {
            let partial = PARTIAL_TYPE
                .get_or_try_init(py, || {
                    Ok::<_, PyErr>(py.import("functools")?.getattr("partial")?.unbind())
                })?
                .bind(py);
            if !tp.is(partial) {
                return Ok(());
            }
        }
    }
    // 3.14 deprecated the public `iscoroutinefunction` (it warns on each call);
    // asyncio's own checks use the private twin, which older versions lack.
    let f = ISCOROUTINEFUNCTION
        .get_or_try_init(py, || {
            let module = py.import("asyncio.coroutines")?;
            let f = match module.getattr("_iscoroutinefunction") {
                Ok(f) => f,
                Err(_) => module.getattr("iscoroutinefunction")?,
            };
            Ok::<_, PyErr>(f.unbind())
        })?
        .bind(py);
    if f.call1((callback,))?.is_truthy()? {
        return Err(coroutine_error(method));
    }
    Ok(())
}

/// `selectors._fileobj_to_fd`: an int, or an object with `fileno()`.
pub fn fileobj_to_fd(fileobj: &Bound<'_, PyAny>) -> PyResult<i32> {
    let fd: i64 = if fileobj.is_instance_of::<PyInt>() {
        fileobj.extract()?
    } else {
        let invalid = || {
            let r = fileobj
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "<object>".to_owned());
            PyValueError::new_err(format!("Invalid file object: {r}"))
        };
        let fileno = match fileobj.call_method0("fileno") {
            Ok(v) => v,
            Err(e)
                if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(fileobj.py())
                    || e.is_instance_of::<PyTypeError>(fileobj.py())
                    || e.is_instance_of::<PyValueError>(fileobj.py()) =>
            {
                return Err(invalid());
            }
            Err(e) => return Err(e),
        };
        let as_int = fileobj
            .py()
            .get_type::<PyInt>()
            .call1((fileno,))
            .map_err(|_| invalid())?;
        as_int.extract().map_err(|_| invalid())?
    };
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    i32::try_from(fd).map_err(|_| PyValueError::new_err(format!("Invalid file descriptor: {fd}")))
}
