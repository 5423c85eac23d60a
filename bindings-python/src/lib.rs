//! waypost for Python: the `waypost._waypost` extension module. Registration only; the
//! pieces live in their own modules, one per module of the core (`repository`, `stores`,
//! `records`, `errors`, `convert`, `options`, `claims`, `manager`, `checkpointer`,
//! `transaction`, `progress`). `Repository`'s methods live with the topic they serve
//! (pyo3's `multiple-pymethods`).

mod checkpointer;
mod claims;
mod convert;
mod diagnostics;
mod errors;
mod frontier;
mod manager;
mod options;
mod progress;
mod records;
mod repository;
mod runtime;
mod stores;
mod transaction;

use pyo3::prelude::*;

#[pymodule]
mod _waypost {
    #[pymodule_export]
    use super::checkpointer::Checkpointer;
    #[pymodule_export]
    use super::claims::Ledger;
    #[pymodule_export]
    use super::frontier::Frontier;
    #[pymodule_export]
    use super::manager::Manager;
    #[pymodule_export]
    use super::records::{CheckpointData, LagMetrics};
    #[pymodule_export]
    use super::repository::Repository;
    #[pymodule_export]
    use super::runtime::{_after_fork_in_child, _shutdown};
    #[pymodule_export]
    use super::stores::{
        open, InMemoryCheckpointRepository, MySQLCheckpointRepository, PostgreSQLCheckpointRepository,
        SQLiteCheckpointRepository,
    };
    #[pymodule_export]
    use super::transaction::Transaction;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // The longest failure message a claim keeps (the claim block cuts exception text to it).
        m.add("MAX_MESSAGE_CHARS", waypost::claims::MAX_MESSAGE_CHARS)?;
        super::diagnostics::install();
        let shutdown = m.getattr("_shutdown")?;
        m.py().import("atexit")?.call_method1("register", (shutdown,))?;
        let kwargs = pyo3::types::PyDict::new(m.py());
        kwargs.set_item("after_in_child", m.getattr("_after_fork_in_child")?)?;
        m.py().import("os")?.call_method("register_at_fork", (), Some(&kwargs))?;
        Ok(())
    }
}
