//! waypost errors as Python exceptions: the classes live in `waypost/_errors.py` (so that
//! `InvalidArgumentError` can also be a `ValueError`, `UnavailableError` a
//! `ConnectionError`, …); this is the one place that maps a kind to a class.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use waypost::ErrorKind;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || py.import("waypost._errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn make(py: Python<'_>, name: &str, message: String) -> PyErr {
    match class(py, name) {
        Ok(cls) => PyErr::from_type(cls, (message,)),
        Err(e) => PyRuntimeError::new_err(format!("{message} (and waypost._errors is unavailable: {e})")),
    }
}

/// The Python exception for a core error; its source chain becomes `__cause__`.
pub fn to_py_err(err: waypost::Error) -> PyErr {
    let name = match err.kind() {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::Conflict => "ConflictError",
        ErrorKind::Unavailable => "UnavailableError",
        ErrorKind::Backend => "BackendError",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::LeaseLost => "LeaseLostError",
        _ => "WaypostError",
    };
    Python::attach(|py| {
        let py_err = make(py, name, err.to_string());
        let mut source = std::error::Error::source(&err);
        let mut causes = Vec::new();
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        if !causes.is_empty() {
            py_err.set_cause(py, Some(make(py, "WaypostError", causes.join(": "))));
        }
        py_err
    })
}

/// A plain `WaypostError` (runtime trouble, not a core error).
pub fn waypost_error(message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| make(py, "WaypostError", message))
}

/// Emits a `ResourceWarning` from a destructor: an error it raises (a filter set to
/// "error") is reported as unraisable, as CPython does for its own unclosed files.
pub fn resource_warning(message: &str) {
    Python::try_attach(|py| {
        let message = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        if let Err(e) = PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyResourceWarning>(), &message, 1) {
            e.write_unraisable(py, None);
        }
    });
}
