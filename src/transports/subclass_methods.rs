//! Method descriptors of their own for the Python subclasses of the Rust
//! transports (`python/oxloop/_patchable.py`, which adds a `__dict__`).
//!
//! CPython 3.11's specialising interpreter calls a method descriptor
//! (`transport.write(data)`) by its fast path only when the receiver's type
//! is exactly the descriptor's class; a subclass instance takes the generic
//! path, about 100 instructions more per call (measured with callgrind on a
//! streams echo). So the subclass gets a copy of every method descriptor of
//! its Rust base, made for the subclass itself: same C function, same
//! argument checks, and the subclass is what the descriptor checks the
//! receiver against.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use super::datagram::DatagramTransport;
use super::stream::SocketTransport;

/// `_install_subclass_methods(cls)`: copies the method descriptors of
/// `cls`'s Rust transport base into `cls` (a subclass of `SocketTransport`
/// or `DatagramTransport`), except where `cls` defines the name itself.
#[pyfunction]
#[pyo3(name = "_install_subclass_methods")]
pub(crate) fn install_subclass_methods(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let py = cls.py();
    let base = if cls.is_subclass_of::<SocketTransport>()? {
        py.get_type::<SocketTransport>()
    } else if cls.is_subclass_of::<DatagramTransport>()? {
        py.get_type::<DatagramTransport>()
    } else {
        return Err(PyTypeError::new_err(
            "expected a subclass of SocketTransport or DatagramTransport",
        ));
    };
    if cls.is(&base) {
        return Ok(());
    }
    let own = cls.getattr("__dict__")?;
    let base_dict = base.getattr("__dict__")?;
    let entries = PyDict::new(py);
    entries.update(base_dict.cast()?)?;
    let method_descr_type = &raw mut ffi::PyMethodDescr_Type;
    for (name, value) in entries.iter() {
        if own.contains(&name)? {
            continue;
        }
        // SAFETY: `value` is a live object; comparing its type pointer reads nothing else.
        let is_method = unsafe { ffi::Py_TYPE(value.as_ptr()) == method_descr_type };
        if !is_method {
            continue;
        }
        // SAFETY: `value` is a method descriptor (its type was just checked), so it
        // is laid out as PyMethodDescrObject; its PyMethodDef belongs to the base type,
        // which the subclass keeps alive (tp_base), and the base's methods accept any
        // instance of it, subclass instances included. PyDescr_NewMethod returns a new
        // reference or NULL with an exception set.
        let descr = unsafe {
            let def = (*value.as_ptr().cast::<ffi::PyMethodDescrObject>()).d_method;
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyDescr_NewMethod(cls.as_ptr().cast::<ffi::PyTypeObject>(), def),
            )?
        };
        cls.setattr(name.cast::<pyo3::types::PyString>()?, descr)?;
    }
    Ok(())
}
