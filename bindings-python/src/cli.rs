//! The `waypost` console script: the CLI of `waypost-cli`, run with the interpreter
//! released (it has its own runtime and may serve until Ctrl+C).

use pyo3::prelude::*;

/// Runs the `waypost` command line `argv` (program name first); returns the exit code.
#[pyfunction]
pub fn _run_cli(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| waypost_cli::run(argv))
}
