//! sqlx's MySQL errors as waypost's kinds.

use sqlx::mysql::MySqlDatabaseError;

use crate::error::Error;

/// The server's error number, when `e` came from the server.
pub(super) fn number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db.try_downcast_ref::<MySqlDatabaseError>().map(MySqlDatabaseError::number),
        _ => None,
    }
}

/// Maps sqlx's errors onto waypost's kinds, naming the server at `address` for connection
/// failures.
pub(super) fn map_err(address: &str, e: sqlx::Error) -> Error {
    let code = number(&e);
    match e {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            match code {
                // No such table, unknown database, unknown column.
                Some(1146 | 1049 | 1054) => Error::not_found(message),
                // Duplicate key, deadlock.
                Some(1062 | 1586 | 1213) => Error::Conflict { message },
                // Too many connections, shutting down, connection killed, lock wait timeout.
                Some(1040 | 1053 | 1927 | 1205 | 2002 | 2003 | 2006 | 2013) => {
                    Error::unavailable(format!("mysql at {address} unavailable: {message}"), Some(db.into()))
                }
                _ => Error::backend(format!("mysql: {message}"), Some(db.into())),
            }
        }
        sqlx::Error::PoolClosed => Error::unavailable("mysql repository is closed", None),
        e @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)) => {
            Error::unavailable(format!("mysql at {address} unavailable: {e}"), Some(e.into()))
        }
        sqlx::Error::Configuration(e) => Error::invalid(format!("mysql configuration: {e}")),
        other => Error::backend(format!("mysql: {other}"), Some(other.into())),
    }
}

/// Whether `e` means the connection is gone (I/O, protocol, or the server ended it).
pub(super) fn dead_connection(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) || matches!(number(e), Some(1053 | 1927 | 4031))
}
