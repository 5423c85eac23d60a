//! rusqlite's errors as waypost's kinds.

use uuid::Uuid;

use crate::error::{Error, Result};

impl From<rusqlite::Error> for Error {
    /// A rusqlite error from the caller's own statements in a transaction, classified as
    /// waypost's are.
    fn from(e: rusqlite::Error) -> Self {
        map_err(e)
    }
}

pub(super) fn map_err(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = e {
        return match inner.downcast::<Error>() {
            Ok(err) => *err,
            Err(other) => Error::backend("stored value has an unexpected type", Some(other)),
        };
    }
    let message = e.to_string();
    let code = e.sqlite_error_code();
    if message.starts_with("no such table") || message.starts_with("no such column") {
        return Error::not_found(message);
    }
    match code {
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            Error::unavailable(format!("sqlite database is locked: {message}"), Some(e.into()))
        }
        Some(
            C::CannotOpen | C::NotADatabase | C::ReadOnly | C::DiskFull | C::SystemIoFailure | C::PermissionDenied,
        ) => Error::unavailable(format!("sqlite database unavailable: {message}"), Some(e.into())),
        Some(C::ConstraintViolation) => Error::Conflict { message },
        _ => Error::backend(format!("sqlite: {message}"), Some(e.into())),
    }
}

pub(super) fn parse_stored_id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::backend(format!("stored event id {text:?} is not a UUID"), Some(e.into())))
}

pub(super) fn to_conversion(e: Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

pub(super) fn closed() -> Error {
    Error::unavailable("sqlite repository is closed", None)
}
