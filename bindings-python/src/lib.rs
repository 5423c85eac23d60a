//! waypost for Python: the `waypost._waypost` extension module. Registration only; the
//! pieces live in their own modules.

mod convert;
mod errors;
mod records;
mod repository;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
mod _waypost {
    #[pymodule_export]
    use super::records::{CheckpointData, LagMetrics};
    #[pymodule_export]
    use super::repository::{
        open, InMemoryCheckpointRepository, PostgreSQLCheckpointRepository, Repository, SQLiteCheckpointRepository,
    };
    #[pymodule_export]
    use super::runtime::_shutdown;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        let shutdown = m.getattr("_shutdown")?;
        m.py().import("atexit")?.call_method1("register", (shutdown,))?;
        Ok(())
    }
}
