//! SQL the SQL stores share, written once and parameterised by [`Dialect`]: the
//! checkpoint table's columns and statements, the claims table's columns, and the
//! message for a missing events table.

#![cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]

use crate::error::Error;

/// How a store spells what differs between SQL dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
pub(super) enum Dialect {
    /// `?1`, `excluded`, `COLLATE BINARY`.
    Sqlite,
    /// `$1`, `EXCLUDED`, `COLLATE "C"`.
    Postgres,
}

impl Dialect {
    /// The `n`th parameter (from 1).
    pub(super) fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// Byte order for the checkpoint key.
    fn byte_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "COLLATE BINARY",
            Dialect::Postgres => "COLLATE \"C\"",
        }
    }

    /// The pseudo-table of the row an UPSERT would have inserted.
    fn excluded(self) -> &'static str {
        match self {
            Dialect::Sqlite => "excluded",
            Dialect::Postgres => "EXCLUDED",
        }
    }
}

/// The checkpoint table's columns, in the order every store decodes them.
pub(super) const COLUMNS: &str =
    "projection_name, last_event_id, last_event_type, last_processed_at, events_processed, global_position, position_token";

/// The claims table's columns, in the order every store decodes them.
pub(super) const CLAIM_COLUMNS: &str = "item_key, item_type, item_timestamp, status, retry_count, worker_id, epoch, \
    lease_expires_at, started_at, completed_at, created_at, error_message, \
    records_total, records_filtered, records_persisted, processing_time_ms";

/// The checkpoint statements of a table (`t`: quoted, qualified if need be). Every read
/// binds the name as parameter 1; the UPSERTs bind name, event id, type, time, then the
/// position or token if any, and the count last.
#[derive(Debug, Clone)]
pub(super) struct CheckpointSql {
    pub get_event_id: String,
    pub get_position: String,
    pub get_token: String,
    /// The whole row (SQLite's lag reads it apart from the events).
    #[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
    pub get_row: String,
    pub list: String,
    pub delete: String,
    pub upsert_event: String,
    pub upsert_position: String,
    pub upsert_token: String,
}

impl CheckpointSql {
    pub(super) fn new(d: Dialect, t: &str) -> Self {
        let p = |n| d.param(n);
        let x = d.excluded();
        let upsert = |extra: Option<&str>| {
            let (extra_col, extra_set, value) = match extra {
                Some(col) => (format!(", {col}"), format!(", {col} = {x}.{col}"), format!(", {}", p(5))),
                None => (String::new(), String::new(), String::new()),
            };
            // The count is the last parameter: 5, or 6 after a position or token.
            let count = p(if extra.is_some() { 6 } else { 5 });
            format!(
                "INSERT INTO {t} AS c (projection_name, last_event_id, last_event_type, last_processed_at, \
                 events_processed, created_at, updated_at{extra_col}) VALUES ({p1}, {p2}, {p3}, {p4}, {count}, {p4}, {p4}{value}) \
                 ON CONFLICT (projection_name) DO UPDATE SET last_event_id = {x}.last_event_id, \
                 last_event_type = {x}.last_event_type, last_processed_at = {x}.last_processed_at, \
                 events_processed = c.events_processed + {count}, updated_at = {x}.updated_at{extra_set}",
                p1 = p(1),
                p2 = p(2),
                p3 = p(3),
                p4 = p(4),
            )
        };
        let p1 = p(1);
        CheckpointSql {
            get_event_id: format!("SELECT last_event_id FROM {t} WHERE projection_name = {p1}"),
            get_position: format!("SELECT global_position FROM {t} WHERE projection_name = {p1}"),
            get_token: format!("SELECT position_token FROM {t} WHERE projection_name = {p1}"),
            get_row: format!("SELECT {COLUMNS} FROM {t} WHERE projection_name = {p1}"),
            list: format!("SELECT {COLUMNS} FROM {t} ORDER BY projection_name {}", d.byte_order()),
            delete: format!("DELETE FROM {t} WHERE projection_name = {p1}"),
            upsert_event: upsert(None),
            upsert_position: upsert(Some("global_position")),
            upsert_token: upsert(Some("position_token")),
        }
    }
}

/// `e`, or a `NotFound` that names the missing events table `shown` when `e` is the
/// store's "no such table" for `table`.
pub(super) fn missing_events_table(e: Error, table: &str, shown: &str, without: &str) -> Error {
    match e {
        Error::NotFound { message } if message.contains(table) => Error::not_found(format!(
            "events table {shown} does not exist (create it, or {without} without an events table)"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialects_differ_only_in_spelling() {
        let lite = CheckpointSql::new(Dialect::Sqlite, "\"t\"");
        let pg = CheckpointSql::new(Dialect::Postgres, "\"s\".\"t\"");
        assert_eq!(lite.get_position, "SELECT global_position FROM \"t\" WHERE projection_name = ?1");
        assert_eq!(pg.get_position, "SELECT global_position FROM \"s\".\"t\" WHERE projection_name = $1");
        assert!(lite.upsert_position.contains("VALUES (?1, ?2, ?3, ?4, ?6, ?4, ?4, ?5)"));
        assert!(pg.upsert_token.contains("position_token = EXCLUDED.position_token"));
        assert!(pg.upsert_event.contains("VALUES ($1, $2, $3, $4, $5, $4, $4)"));
        assert!(lite.list.ends_with("COLLATE BINARY"));
    }
}
