//! sqlx's PostgreSQL errors as waypost's kinds.

use crate::error::Error;

/// Maps sqlx's errors onto waypost's kinds, naming the server at `address` for connection
/// failures.
pub(super) fn map_err(address: &str, e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            match db.code().as_deref() {
                Some("42P01" | "3F000" | "42703") => Error::not_found(message),
                Some("23505" | "40001" | "40P01") => Error::Conflict { message },
                Some(code) if code.starts_with("08") || code.starts_with("57") || code == "53300" => {
                    Error::unavailable(format!("postgres at {} unavailable: {message}", address), Some(db.into()))
                }
                _ => Error::backend(format!("postgres: {message}"), Some(db.into())),
            }
        }
        sqlx::Error::PoolClosed => Error::unavailable("postgres repository is closed", None),
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)) => {
            Error::unavailable(format!("postgres at {} unavailable: {e}", address), Some(e.into()))
        }
        sqlx::Error::Configuration(e) => Error::invalid(format!("postgres configuration: {e}")),
        other => Error::backend(format!("postgres: {other}"), Some(other.into())),
    }
}

/// Whether `e` means the connection is gone: an I/O or protocol failure, or an error the
/// server ends the session with (severity FATAL or PANIC, e.g. 57P01 when it shuts down).
pub(super) fn dead_connection(e: &sqlx::Error) -> bool {
    use sqlx::postgres::{PgDatabaseError, PgSeverity};
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|pg| matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        _ => false,
    }
}
