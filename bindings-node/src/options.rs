//! Options of the SQLite, PostgreSQL and MySQL repositories, and where lag queries find events.

use napi::bindgen_prelude::Either;
use napi_derive::napi;
use waypost::EventsTable;

use crate::errors::Outcome;

/// Where lag queries find events; `eventsTable: false` turns them into placeholders.
#[napi(object)]
#[derive(Default)]
pub struct EventsTableOptions {
    pub events_table: Option<Either<String, bool>>,
    pub events_schema: Option<String>,
    pub event_id_column: Option<String>,
    pub event_type_column: Option<String>,
    pub timestamp_column: Option<String>,
    pub position_column: Option<Either<String, bool>>,
}

/// Options of `SqliteCheckpointRepository.open`.
#[napi(object)]
#[derive(Default)]
pub struct SqliteOptions {
    pub table: Option<String>,
    pub events: Option<EventsTableOptions>,
    pub create_schema: Option<bool>,
    pub busy_timeout_ms: Option<f64>,
    pub synchronous: Option<String>,
    /// Do `savePosition`, `updateCheckpoint` and `savePositionToken` on the JS thread when
    /// the connection is free and no other connection holds the write lock, as
    /// better-sqlite3 does: the event loop waits for the commit's fsync (about 0.1–0.2 ms
    /// on an SSD) and the call returns a settled Promise. A write that would wait for a
    /// lock goes to the SQLite thread as usual. Default `false`.
    pub inline_writes: Option<bool>,
}

/// Options of `PostgresCheckpointRepository.connect`.
#[napi(object)]
#[derive(Default)]
pub struct PostgresOptions {
    pub schema: Option<String>,
    pub table: Option<String>,
    pub events: Option<EventsTableOptions>,
    pub create_schema: Option<bool>,
    pub pool_size: Option<u32>,
    pub connect_timeout_ms: Option<f64>,
    /// TLS, as libpq's `sslmode`: `'disable'`, `'prefer'` (the default: encrypted when the
    /// server offers it, certificate unchecked), `'require'`, `'verify-ca'` or
    /// `'verify-full'`. Left out: the URL's `sslmode`.
    pub ssl_mode: Option<String>,
    /// The CA certificate file (PEM) that `verify-ca` / `verify-full` check the server
    /// against (the URL's `sslrootcert`).
    pub ssl_root_cert: Option<String>,
    /// A client certificate file (PEM), with `sslKey` (the URL's `sslcert`).
    pub ssl_cert: Option<String>,
    /// The client certificate's key file (PEM) (the URL's `sslkey`).
    pub ssl_key: Option<String>,
}

/// Options of `MysqlCheckpointRepository.connect`.
#[napi(object)]
#[derive(Default)]
pub struct MysqlOptions {
    pub table: Option<String>,
    pub events: Option<EventsTableOptions>,
    pub create_schema: Option<bool>,
    pub pool_size: Option<u32>,
    pub connect_timeout_ms: Option<f64>,
}

pub(crate) fn events_table(options: Option<EventsTableOptions>) -> Outcome<Option<EventsTable>> {
    let Some(o) = options else { return Ok(Some(EventsTable::default())) };
    let mut table = EventsTable::default();
    match o.events_table {
        Some(Either::B(false)) => return Ok(None),
        Some(Either::B(true)) | None => {}
        Some(Either::A(name)) => table.table = name,
    }
    table.schema = o.events_schema;
    if let Some(c) = o.event_id_column {
        table.event_id_column = c;
    }
    if let Some(c) = o.event_type_column {
        table.event_type_column = c;
    }
    if let Some(c) = o.timestamp_column {
        table.timestamp_column = c;
    }
    match o.position_column {
        Some(Either::B(false)) => table.position_column = None,
        Some(Either::B(true)) | None => {}
        Some(Either::A(c)) => table.position_column = Some(c),
    }
    Ok(Some(table))
}
