//! The storage backends. Each only fetches and stores; validation, the clock and lag
//! arithmetic are shared (`checkpoint`, `time`, `lag`).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_claims;
#[cfg(feature = "postgres")]
mod postgres_tx;
#[cfg(feature = "_sqlite")]
pub mod sqlite;
#[cfg(feature = "_sqlite")]
mod sqlite_claims;
#[cfg(feature = "_sqlite")]
mod sqlite_tx;
#[cfg(feature = "_sqlite")]
mod sqlite_wal;
