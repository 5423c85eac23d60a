//! The storage backends. Each only fetches and stores; validation, the clock and lag
//! arithmetic are shared (`checkpoint`, `time`, `lag`).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
