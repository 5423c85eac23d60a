//! The storage backends, one folder each. Each implements [`crate::CheckpointStore`]: it
//! only fetches and stores; validation, the clock and lag arithmetic are shared
//! (`checkpoint`, `time`, `lag`), and so is the SQL the SQL stores have in common
//! (`sql`, parameterised by dialect).

pub mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "_sqlite", feature = "postgres", feature = "mysql"))]
mod sql;
#[cfg(feature = "_sqlite")]
pub mod sqlite;
