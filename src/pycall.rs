//! Calling Python with keyword arguments without building a dict.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// `callable(*positional, **dict(zip(kwnames, keyword_values)))` through
/// vectorcall: `args` holds the positional values followed by one value per
/// name in `kwnames`.
pub fn vectorcall<'py>(
    callable: &Bound<'py, PyAny>,
    args: &[*mut ffi::PyObject],
    kwnames: Option<&Bound<'py, PyTuple>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = callable.py();
    let nkw = kwnames.map_or(0, |k| k.len());
    let nargs = args.len().checked_sub(nkw).ok_or_else(|| {
        pyo3::exceptions::PySystemError::new_err("vectorcall: more keyword names than values")
    })?;
    let names = kwnames.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    // SAFETY: the GIL is held; `args` holds `nargs + nkw` live borrowed references that
    // the caller keeps alive for the call, `names` is NULL or a tuple of `nkw` strings,
    // and the result is a new reference or NULL with an exception set.
    unsafe {
        let res = ffi::PyObject_Vectorcall(callable.as_ptr(), args.as_ptr(), nargs, names);
        Bound::from_owned_ptr_or_err(py, res)
    }
}
