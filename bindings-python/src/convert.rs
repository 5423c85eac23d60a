//! Argument conversions: Python values into the core's types. Errors name the parameter
//! (pyo3 prefixes `argument 'x':` to a `TypeError` raised while extracting it).

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt, PyString, PyType};
use pyo3::{ffi, intern};
use uuid::Uuid;

use crate::errors::to_py_err;

/// An event id given as `uuid.UUID` or as its text.
pub struct EventId(pub Uuid);

impl<'a, 'py> FromPyObject<'a, 'py> for EventId {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(text) = obj.cast::<PyString>() {
            return waypost::parse_event_id(text.to_str()?).map(EventId).map_err(to_py_err);
        }
        match obj.extract::<Uuid>() {
            Ok(id) => Ok(EventId(id)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "expected uuid.UUID or str, not {}",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            ))),
        }
    }
}

/// An event id handed to Python: `None` or a `uuid.UUID`.
///
/// It is built as CPython's `uuid` module builds one from an int internally
/// (`UUID._from_int`): a bare instance with its two slots set, `int` and `is_safe`
/// (`SafeUUID.unknown`, as `UUID(int=…)` sets it). `UUID.__init__`, which parses its five
/// alternative arguments in Python, took three quarters of a `get_checkpoint`.
pub struct OutEventId(pub Option<Uuid>);

impl From<Option<Uuid>> for OutEventId {
    fn from(id: Option<Uuid>) -> Self {
        OutEventId(id)
    }
}

impl<'py> IntoPyObject<'py> for OutEventId {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0 {
            None => Ok(py.None().into_bound(py)),
            Some(id) => uuid_object(py, id),
        }
    }
}

/// `uuid.UUID(int=id.as_u128())`, without `UUID.__init__` (see [`OutEventId`]).
pub fn uuid_object(py: Python<'_>, id: Uuid) -> PyResult<Bound<'_, PyAny>> {
    static UUID: PyOnceLock<(Py<PyType>, Py<PyAny>)> = PyOnceLock::new();
    let (class, unknown) = UUID.get_or_try_init(py, || {
        let module = py.import("uuid")?;
        let class = module.getattr("UUID")?.cast_into::<PyType>()?.unbind();
        Ok::<_, PyErr>((class, module.getattr("SafeUUID")?.getattr("unknown")?.unbind()))
    })?;
    let int = id.as_u128().into_pyobject(py)?;
    // SAFETY: `class` is `uuid.UUID`, a plain class with slots and no `__new__` of its
    // own, so the generic allocation is `object.__new__(UUID)`; the new reference is
    // owned by `obj`. PyObject_GenericSetAttr is `object.__setattr__`, which UUID's own
    // `__setattr__` (it refuses every assignment) defers to in `__init__`.
    unsafe {
        let raw = ffi::PyType_GenericNew(class.as_ptr().cast(), std::ptr::null_mut(), std::ptr::null_mut());
        let obj = Bound::from_owned_ptr_or_err(py, raw)?;
        for (name, value) in [(intern!(py, "int"), int.as_any()), (intern!(py, "is_safe"), unknown.bind(py))] {
            if ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr()) != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(obj)
    }
}

/// A global position: a Python `int` (not `bool`) checked by the core's range rule.
pub struct Position(pub i64);

impl<'a, 'py> FromPyObject<'a, 'py> for Position {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err(format!(
                "expected int, not {}",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            )));
        }
        // Wider than i64, so that the core reports an out-of-range value itself; beyond
        // i128 it is out of range all the same.
        let wide = obj.extract::<i128>().unwrap_or(i128::MAX);
        waypost::position_from_i128(wide).map(Position).map_err(to_py_err)
    }
}

/// Event types for a lag filter: a list or tuple of `str` (a bare `str` is refused, as
/// it would otherwise be read as a list of one-letter types).
pub struct EventTypes(pub Vec<String>);

impl<'a, 'py> FromPyObject<'a, 'py> for EventTypes {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err("expected a list of str, not a single str"));
        }
        let mut types = Vec::new();
        for item in obj.try_iter()? {
            types.push(item?.extract::<String>()?);
        }
        Ok(EventTypes(types))
    }
}

/// A PostgreSQL DSN from a `str`, a SQLAlchemy `URL` or an engine (sync or async): its
/// URL, with any `+driver` suffix of the scheme dropped.
pub fn postgres_dsn(dsn: &Bound<'_, PyAny>) -> PyResult<String> {
    let text = if let Ok(s) = dsn.cast::<PyString>() {
        s.to_str()?.to_owned()
    } else if let Ok(url) = dsn.getattr("url") {
        return postgres_dsn(&url);
    } else if dsn.hasattr("render_as_string")? {
        let kwargs = pyo3::types::PyDict::new(dsn.py());
        kwargs.set_item("hide_password", false)?;
        dsn.call_method("render_as_string", (), Some(&kwargs))?.extract::<String>()?
    } else {
        return Err(PyTypeError::new_err("dsn: expected a str, a SQLAlchemy URL or a SQLAlchemy engine"));
    };
    Ok(match text.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("postgres") && scheme.contains('+') => {
            let base = scheme.split('+').next().unwrap_or(scheme);
            format!("{base}://{rest}")
        }
        _ => text,
    })
}

/// A duration given in seconds.
pub(crate) fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        crate::repository::invalid(format!("{name} must be a non-negative number of seconds, got {value}"))
    })
}
