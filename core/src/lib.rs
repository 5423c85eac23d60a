//! # waypost
//!
//! A checkpoint store for event-stream consumers (projections, CDC pipelines, file
//! workers): it remembers how far each consumer got, so a restart resumes exactly where
//! it stopped, and it tells operators how far behind each consumer is.
//!
//! One semantics, identical on every backend and pinned by shared conformance cases:
//! see the contract on [`CheckpointRepository`].
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use waypost::CheckpointRepository;
//!
//! let repo = waypost::open("memory:").await?;
//! let resume_from = repo.get_position("orders").await?.map_or(0, |p| p + 1);
//! assert_eq!(resume_from, 0);
//! repo.save_position("orders", 41, uuid::Uuid::new_v4(), "OrderPlaced").await?;
//! assert_eq!(repo.get_position("orders").await?.map_or(0, |p| p + 1), 42);
//! # Ok::<(), waypost::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlite` | yes | [`SqliteRepository`]: rusqlite with a bundled SQLite, on its own thread |
//! | `sqlite-system` | no | the same backend linked to the system's shared libsqlite3: one SQLite per process beside another library that loads it (CPython's `sqlite3`) |
//! | `postgres` | yes | [`PostgresRepository`]: a sqlx pool, plain TCP |
//! | `mysql` | yes | `MysqlRepository`: MySQL 8 or MariaDB 10.6+ through a sqlx pool, plain TCP |
//! | `embed` | no | `waypost::embed`: the fork-aware tokio runtime a host without one of its own (the Python extension) runs waypost on |
//! | `conformance` | no | `waypost::conformance`: runs the shared JSON cases against any repository |
//!
//! [`MemoryRepository`] is always built.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod backends;
mod checkpoint;
pub mod checkpointer;
pub mod claims;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod diagnostics;
#[cfg(feature = "embed")]
pub mod embed;
mod error;
pub mod frontier;
mod ident;
mod lag;
pub mod manager;
mod open;
mod options;
#[cfg(any(feature = "_sqlite", feature = "postgres", feature = "mysql"))]
mod origin;
#[cfg(any(feature = "_sqlite", feature = "postgres"))]
mod own_transaction;
#[cfg(feature = "mysql")]
mod placeholders;
pub mod progress;
mod repository;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod runtime;
pub mod statement;
pub mod time;
pub mod transaction;

pub use backends::memory::MemoryRepository;
#[cfg(feature = "mysql")]
pub use backends::mysql::MysqlRepository;
#[cfg(feature = "postgres")]
pub use backends::postgres::PostgresRepository;
#[cfg(feature = "_sqlite")]
pub use backends::sqlite::{SqliteRepository, SqliteSettings, SqliteTransaction};
pub use checkpoint::{
    parse_event_id, position_from_i128, validate_name, validate_position, validate_token, CheckpointData,
    CheckpointWrite, EventBatch, EventTypes, LagMetrics, Mark, Name, NewEvent, MAX_NAME_CHARS, MAX_TOKEN_CHARS,
};
pub use checkpointer::{Checkpointer, Strategy};
pub use claims::{
    Claim, ClaimCounts, ClaimLedger, ClaimRecord, ClaimStatus, ClaimStore, ClaimsOptions, ItemStats,
    DEFAULT_CLAIMS_TABLE, DEFAULT_MAX_RETRIES,
};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use frontier::Frontier;
pub use ident::{Identifier, MAX_IDENTIFIER_BYTES};
pub use manager::{ClaimManager, LazyClaimManager, LeaseWatch, ManagerMode, ManagerOptions};
pub use open::{open, parse_url, Target};
pub use options::{
    EventsTable, MysqlOptions, PostgresOptions, SqliteOptions, SslMode, Synchronous, DEFAULT_CHECKPOINT_TABLE,
};
pub use repository::{CheckpointRepository, CheckpointStore};
pub use statement::{CheckpointStatement, StatementKind, StatementParam};
pub use transaction::{SqlRow, SqlValue, Transaction};

pub use chrono;
pub use uuid;
