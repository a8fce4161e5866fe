//! How `loop.create_task(coro, **kwargs)` passes its keyword arguments on.
//!
//! asyncio changed this twice, and a task factory written for one version
//! expects exactly that version's call:
//!
//! * 3.11 to 3.13.2: only `name` and `context` exist. A factory is called
//!   as `factory(loop, coro)`, or with `context=` when one was given; the
//!   name is set on the task it returns afterwards.
//! * 3.13.3 and later 3.13: other keywords are accepted and passed on to the
//!   factory or to `Task`; `name` is still set afterwards and `context`
//!   reaches a factory only when it is not None (3.13.4 restored that
//!   contract after 3.13.3 had broken it).
//! * 3.14 on: every keyword is passed on as given (`eager_start` among
//!   them), to the factory or to `Task`, and nothing is set afterwards.
//!
//! Without a factory every version calls `Task(coro, loop=loop, **kwargs)`.

use std::sync::OnceLock;

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The running interpreter's rules (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// 3.11 to 3.13.2.
    NameContext,
    /// 3.13.3 to 3.13.x.
    Extra,
    /// 3.14 and later.
    PassAll,
}

static RULES: OnceLock<Rules> = OnceLock::new();

/// The rules of the Python version this module runs in.
pub fn rules(py: Python<'_>) -> Rules {
    *RULES.get_or_init(|| {
        let version = py.version_info();
        if version >= (3, 14) {
            Rules::PassAll
        } else if version >= (3, 13, 3) {
            Rules::Extra
        } else {
            Rules::NameContext
        }
    })
}

/// `create_task`'s keywords, split into `name`, `context` and the rest.
pub struct Split<'py> {
    pub name: Option<Bound<'py, PyAny>>,
    pub context: Option<Bound<'py, PyAny>>,
    /// Every other keyword (None if there are none).
    pub rest: Option<Bound<'py, PyDict>>,
}

/// Splits `kwargs`; before 3.13.3 a keyword other than `name`/`context` is
/// the `TypeError` a Python signature without `**kwargs` raises.
pub fn split<'py>(rules: Rules, kwargs: &Bound<'py, PyDict>) -> PyResult<Split<'py>> {
    let py = kwargs.py();
    let mut out = Split {
        name: None,
        context: None,
        rest: None,
    };
    for (key, value) in kwargs.iter() {
        if key.eq(intern!(py, "name"))? {
            out.name = Some(value).filter(|v| !v.is_none());
        } else if key.eq(intern!(py, "context"))? {
            out.context = Some(value).filter(|v| !v.is_none());
        } else if rules == Rules::NameContext {
            return Err(PyTypeError::new_err(format!(
                "create_task() got an unexpected keyword argument '{key}'"
            )));
        } else {
            let rest = match &out.rest {
                Some(rest) => rest,
                None => out.rest.insert(PyDict::new(py)),
            };
            rest.set_item(key, value)?;
        }
    }
    Ok(out)
}

/// Calls the task factory the way the running version's asyncio does.
pub fn call_factory<'py>(
    rules: Rules,
    factory: &Bound<'py, PyAny>,
    event_loop: &Bound<'py, PyAny>,
    coro: &Bound<'py, PyAny>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(kwargs) = kwargs else {
        return factory.call1((event_loop, coro));
    };
    if rules == Rules::PassAll {
        return factory.call((event_loop, coro), Some(kwargs));
    }
    let Split {
        name,
        context,
        rest,
    } = split(rules, kwargs)?;
    let passed = rest.unwrap_or_else(|| PyDict::new(factory.py()));
    if let Some(context) = context {
        passed.set_item(intern!(factory.py(), "context"), context)?;
    }
    let task = if passed.is_empty() {
        factory.call1((event_loop, coro))?
    } else {
        factory.call((event_loop, coro), Some(&passed))?
    };
    if let Some(name) = name {
        match task.call_method1(intern!(factory.py(), "set_name"), (name,)) {
            Ok(_) => {}
            // A factory may return a Future-like object without names.
            Err(e) if e.is_instance_of::<PyAttributeError>(factory.py()) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(task)
}
