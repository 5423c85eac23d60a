//! The SQLite store's statements and schema, built once from validated identifiers.

use rusqlite::Connection;

use super::errors::{map_err, parse_stored_id, to_conversion};
use super::wal::WalFile;
use crate::backends::sql::{self as shared, CheckpointSql, Dialect};
use crate::checkpoint::{CheckpointData, Mark, Write};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::options::{EventsNames, SqliteOptions};
use crate::time;
use rusqlite::params;

/// Every statement, built once from validated identifiers.
#[derive(Debug)]
pub(super) struct Sql {
    /// Set once the repository's connection is open (see `wal`).
    pub wal: std::sync::OnceLock<WalFile>,
    pub table: Identifier,
    pub events: Option<EventsNames>,
    /// The checkpoint statements, shared with the other SQL stores.
    pub cp: CheckpointSql,
}

impl Sql {
    pub(super) fn new(options: &SqliteOptions) -> Result<Self> {
        let table = Identifier::new("table", &options.table)?;
        let events = options.events_table.as_ref().map(|e| e.validate()).transpose()?;
        let cp = CheckpointSql::new(Dialect::Sqlite, &table.quoted());
        Ok(Sql { cp, table, events, wal: std::sync::OnceLock::new() })
    }

    /// Runs the write `f` guarded by the WAL check (`sqlite_wal`).
    pub(super) fn guard<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        match self.wal.get() {
            Some(wal) => wal.guard(f),
            None => f(),
        }
    }

    pub(super) fn migrate(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let t = self.table.quoted();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // The layout eventsource-py creates, plus position_token; only the primary key is
        // indexed because every write changes the other columns.
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                projection_name TEXT PRIMARY KEY,
                last_event_id TEXT,
                last_event_type TEXT,
                last_processed_at TEXT,
                global_position INTEGER,
                events_processed INTEGER NOT NULL DEFAULT 0,
                position_token TEXT,
                created_at TEXT NOT NULL DEFAULT (datetime('now')),
                updated_at TEXT NOT NULL DEFAULT (datetime('now'))
            )"
        ))?;
        let has_token: bool = tx.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{}') WHERE name = 'position_token'", self.table),
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_token {
            tx.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN position_token TEXT"))?;
        }
        tx.commit()
    }

    pub(super) fn events(&self) -> Result<&EventsNames> {
        self.events.as_ref().ok_or_else(|| Error::unsupported("this repository was opened without an events table"))
    }
}

pub(super) fn row_to_data(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointData> {
    let id: Option<String> = r.get(1)?;
    let at: Option<String> = r.get(3)?;
    Ok(CheckpointData {
        projection_name: r.get(0)?,
        last_event_id: id.as_deref().map(parse_stored_id).transpose().map_err(to_conversion)?,
        last_event_type: r.get(2)?,
        last_processed_at: at.as_deref().map(time::parse_timestamp).transpose().map_err(to_conversion)?,
        events_processed: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        global_position: r.get(5)?,
        position_token: r.get(6)?,
    })
}

/// A checkpoint write on `c` (inside whatever transaction `c` has open).
pub(super) fn write_on(c: &Connection, sql: &Sql, w: &Write<'_>) -> Result<()> {
    let (id, at) = (w.event_id.to_string(), time::isoformat(&w.at));
    let mut stmt = match w.mark {
        Mark::EventOnly => c.prepare_cached(&sql.cp.upsert_event),
        Mark::Position(_) => c.prepare_cached(&sql.cp.upsert_position),
        Mark::Token(_) => c.prepare_cached(&sql.cp.upsert_token),
    }
    .map_err(map_err)?;
    match w.mark {
        Mark::EventOnly => stmt.execute(params![w.name, id, w.event_type, at, w.count]),
        Mark::Position(p) => stmt.execute(params![w.name, id, w.event_type, at, p, w.count]),
        Mark::Token(t) => stmt.execute(params![w.name, id, w.event_type, at, t, w.count]),
    }
    .map_err(map_err)?;
    Ok(())
}

pub(super) fn events_sql(ev: &EventsNames) -> (String, String) {
    let table = ev.table.quoted();
    let (id, ty, ts) = (ev.event_id.quoted(), ev.event_type.quoted(), ev.timestamp.quoted());
    let latest = format!("SELECT {id}, {ts} FROM {table} ORDER BY {ts} DESC LIMIT 1");
    let latest_of_type = format!("SELECT {id}, {ts} FROM {table} WHERE {ty} = ?1 ORDER BY {ts} DESC LIMIT 1");
    (latest, latest_of_type)
}

pub(super) fn lag_index_sql(ev: &EventsNames) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {}, {})",
        ev.table.derived("lag_idx").quoted(),
        ev.table.quoted(),
        ev.event_type.quoted(),
        ev.timestamp.quoted(),
        ev.event_id.quoted()
    )
}

pub(super) fn missing_events_table(e: Error, ev: &EventsNames) -> Error {
    shared::missing_events_table(e, ev.table.as_str(), &format!("\"{}\"", ev.table), "open the repository")
}

pub(super) fn exec(c: &mut Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<()> {
    let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
    stmt.execute(params).map_err(map_err)?;
    Ok(())
}
