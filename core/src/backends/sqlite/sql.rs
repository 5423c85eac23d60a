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
    /// Which typed lag read the events table's indexes allow: `LAG_UNKNOWN` until the
    /// first typed lag read looks (`has_lag_index`), then `LAG_PROBE` or `LAG_PLAIN`.
    pub lag_shape: std::sync::atomic::AtomicU8,
}

pub(super) const LAG_UNKNOWN: u8 = 0;
pub(super) const LAG_PROBE: u8 = 1;
pub(super) const LAG_PLAIN: u8 = 2;

/// How many of the newest events a typed lag read without a `(type, timestamp)` index
/// looks through before it asks the type's own index.
const RECENT_WINDOW: u32 = 256;

impl Sql {
    pub(super) fn new(options: &SqliteOptions) -> Result<Self> {
        let table = Identifier::new("table", &options.table)?;
        let events = options.events_table.as_ref().map(|e| e.validate()).transpose()?;
        let cp = CheckpointSql::new(Dialect::Sqlite, &table.quoted());
        Ok(Sql { cp, table, events, wal: std::sync::OnceLock::new(), lag_shape: LAG_UNKNOWN.into() })
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

/// The lag reads of the events table.
pub(super) struct EventsSql {
    /// The newest event.
    pub latest: String,
    /// The newest event of type `?1`: one probe of a `(type, timestamp)` index; without
    /// one, SQLite takes the type's own index and sorts its rows (every event of a
    /// common type: 190 ms at a million events).
    pub latest_of_type: String,
    /// The newest event of type `?1` among the newest `RECENT_WINDOW`: where a common
    /// type is found by a short walk of the timestamp index when there is no
    /// `(type, timestamp)` index; a miss falls back to `latest_of_type`.
    pub recent_of_type: String,
}

pub(super) fn events_sql(ev: &EventsNames) -> EventsSql {
    let table = ev.table.quoted();
    let (id, ty, ts) = (ev.event_id.quoted(), ev.event_type.quoted(), ev.timestamp.quoted());
    EventsSql {
        latest: format!("SELECT {id}, {ts} FROM {table} ORDER BY {ts} DESC LIMIT 1"),
        latest_of_type: format!("SELECT {id}, {ts} FROM {table} WHERE {ty} = ?1 ORDER BY {ts} DESC LIMIT 1"),
        recent_of_type: format!(
            "SELECT wp_id, wp_ts FROM (SELECT {id} AS wp_id, {ts} AS wp_ts, {ty} AS wp_type FROM {table} \
             ORDER BY {ts} DESC LIMIT {RECENT_WINDOW}) WHERE wp_type = ?1 ORDER BY wp_ts DESC LIMIT 1"
        ),
    }
}

/// Whether the events table exists, and whether it has a complete (not partial) index
/// whose first two columns are the event type and the timestamp.
pub(super) fn has_lag_index(c: &Connection, ev: &EventsNames) -> rusqlite::Result<(bool, bool)> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1)), \
         EXISTS (SELECT 1 FROM pragma_index_list(?1) l WHERE l.partial = 0 \
         AND (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = ?2 COLLATE NOCASE \
         AND (SELECT name FROM pragma_index_info(l.name) WHERE seqno = 1) = ?3 COLLATE NOCASE)",
        params![ev.table.as_str(), ev.event_type.as_str(), ev.timestamp.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
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
