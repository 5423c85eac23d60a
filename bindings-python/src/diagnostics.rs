//! The core's warnings, passed on to Python's `logging` under the logger `waypost`
//! (with the warning's code as `record.waypost_code`), from whichever thread they occur
//! on. During interpreter shutdown they are dropped.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use waypost::diagnostics::{Diagnostic, Level};

fn log(py: Python<'_>, d: &Diagnostic) -> PyResult<()> {
    let level = if d.level == Level::ERROR { 40 } else { 30 };
    let logger = py.import("logging")?.call_method1("getLogger", ("waypost",))?;
    let kwargs = PyDict::new(py);
    let extra = PyDict::new(py);
    extra.set_item("waypost_code", &d.code)?;
    kwargs.set_item("extra", extra)?;
    logger.call_method("log", (level, "%s", &d.message), Some(&kwargs))?;
    Ok(())
}

/// Installs the bridge (once per process; the extension's own copy of `tracing`).
pub fn install() {
    waypost::diagnostics::forward_to(|d| {
        Python::try_attach(|py| {
            if let Err(e) = log(py, &d) {
                // A logging handler that raises must not take the calling thread down.
                e.write_unraisable(py, None);
            }
        });
    });
}
