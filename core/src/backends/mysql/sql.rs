//! The MySQL store's statements and schema, built once from validated identifiers
//! (backquoted: MySQL's double quotes are string quotes unless `ANSI_QUOTES` is set).

use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlArguments, MySqlRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, MySql, Row};
use uuid::Uuid;

use crate::backends::sql::COLUMNS;
use crate::checkpoint::{CheckpointData, Mark, Write};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::options::{EventsNames, MysqlOptions};
use crate::statement::StatementParam;

#[derive(Debug)]
pub(super) struct Sql {
    pub table: Identifier,
    /// The checkpoint table, backquoted.
    pub qualified: String,
    pub events: Option<Events>,
    pub get_event_id: String,
    pub get_position: String,
    pub get_token: String,
    pub get_row: String,
    pub list: String,
    pub delete: String,
    pub upsert_event: String,
    pub upsert_position: String,
    pub upsert_token: String,
}

#[derive(Debug)]
pub(super) struct Events {
    pub names: EventsNames,
    /// `db`.`events` or `events`.
    pub qualified: String,
    pub latest: String,
    pub latest_of_type: String,
    pub head: Option<String>,
}

impl Sql {
    pub(super) fn new(options: &MysqlOptions) -> Result<Self> {
        let table = Identifier::new("table", &options.table)?;
        let t = table.backquoted();
        let events = options.events_table.as_ref().map(|e| e.validate()).transpose()?.map(|names| {
            let qualified = match &names.schema {
                Some(db) => format!("{}.{}", db.backquoted(), names.table.backquoted()),
                None => names.table.backquoted(),
            };
            let (id, ty, ts) =
                (names.event_id.backquoted(), names.event_type.backquoted(), names.timestamp.backquoted());
            Events {
                latest: format!("SELECT {id}, {ts} FROM {qualified} ORDER BY {ts} DESC LIMIT 1"),
                latest_of_type: format!("SELECT {id}, {ts} FROM {qualified} WHERE {ty} = ? ORDER BY {ts} DESC LIMIT 1"),
                head: names.position.as_ref().map(|p| format!("SELECT max({}) FROM {qualified}", p.backquoted())),
                names,
                qualified,
            }
        });
        // The count is bound once for the insert and once more for the update.
        let upsert = |extra: Option<&str>| {
            let (col, value, set) = match extra {
                Some(c) => (format!(", {c}"), ", ?", format!(", {c} = VALUES({c})")),
                None => (String::new(), "", String::new()),
            };
            format!(
                "INSERT INTO {t} (projection_name, last_event_id, last_event_type, last_processed_at, \
                 events_processed, created_at, updated_at{col}) VALUES (?, ?, ?, ?, ?, ?, ?{value}) \
                 ON DUPLICATE KEY UPDATE last_event_id = VALUES(last_event_id), \
                 last_event_type = VALUES(last_event_type), last_processed_at = VALUES(last_processed_at), \
                 events_processed = events_processed + VALUES(events_processed), updated_at = VALUES(updated_at){set}"
            )
        };
        Ok(Sql {
            get_event_id: format!("SELECT last_event_id FROM {t} WHERE projection_name = ?"),
            get_position: format!("SELECT global_position FROM {t} WHERE projection_name = ?"),
            get_token: format!("SELECT position_token FROM {t} WHERE projection_name = ?"),
            get_row: format!("SELECT {COLUMNS} FROM {t} WHERE projection_name = ?"),
            // The key's collation is binary: this is byte order.
            list: format!("SELECT {COLUMNS} FROM {t} ORDER BY projection_name"),
            delete: format!("DELETE FROM {t} WHERE projection_name = ?"),
            upsert_event: upsert(None),
            upsert_position: upsert(Some("global_position")),
            upsert_token: upsert(Some("position_token")),
            qualified: t,
            table,
            events,
        })
    }

    pub(super) fn events(&self) -> Result<&Events> {
        self.events.as_ref().ok_or_else(|| Error::unsupported("this repository was opened without an events table"))
    }

    /// The checkpoint table's DDL; `collation` is the server's binary, no-pad one (so
    /// that `a` and `a ` are two names, in byte order).
    pub(super) fn create_table(&self, collation: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (
                projection_name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL PRIMARY KEY,
                last_event_id CHAR(36) CHARACTER SET ascii,
                last_event_type VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation},
                last_processed_at DATETIME(6),
                global_position BIGINT,
                events_processed BIGINT NOT NULL DEFAULT 0,
                position_token TEXT CHARACTER SET utf8mb4 COLLATE {collation},
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL
            ) ENGINE=InnoDB",
            self.qualified
        )
    }

    /// The UPSERT of `w`'s mark.
    pub(super) fn upsert(&self, w: &Write<'_>) -> &str {
        match w.mark {
            Mark::EventOnly => &self.upsert_event,
            Mark::Position(_) => &self.upsert_position,
            Mark::Token(_) => &self.upsert_token,
        }
    }
}

/// The binary, no-pad collation of utf8mb4 on this server.
pub(super) fn key_collation(version: &str) -> &'static str {
    if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else {
        "utf8mb4_0900_bin"
    }
}

/// A checkpoint write's parameters, in the UPSERT's order: name, event id, type, time,
/// count, time twice more, then the position or token.
pub(super) fn write_params(w: &Write<'_>) -> Vec<StatementParam> {
    let mut params = vec![
        StatementParam::Text(w.name.to_owned()),
        StatementParam::Text(w.event_id.to_string()),
        StatementParam::Text(w.event_type.to_owned()),
        StatementParam::Timestamp(w.at),
        StatementParam::Int(w.count),
        StatementParam::Timestamp(w.at),
        StatementParam::Timestamp(w.at),
    ];
    match w.mark {
        Mark::EventOnly => {}
        Mark::Position(p) => params.push(StatementParam::Int(p)),
        Mark::Token(t) => params.push(StatementParam::Text(t.to_owned())),
    }
    params
}

/// The write's statement with its parameters bound.
pub(super) fn write_query<'q>(s: &'q Sql, w: &Write<'q>) -> Query<'q, MySql, MySqlArguments> {
    let q = sqlx::query(AssertSqlSafe(s.upsert(w)))
        .bind(w.name)
        .bind(w.event_id.to_string())
        .bind(w.event_type)
        .bind(w.at)
        .bind(w.count)
        .bind(w.at)
        .bind(w.at);
    match w.mark {
        Mark::EventOnly => q,
        Mark::Position(p) => q.bind(p),
        Mark::Token(t) => q.bind(t),
    }
}

pub(super) fn row_to_data(r: &MySqlRow) -> std::result::Result<CheckpointData, sqlx::Error> {
    let id: Option<String> = r.try_get(1)?;
    let last_event_id = id
        .as_deref()
        .map(|text| {
            Uuid::parse_str(text)
                .map_err(|_| sqlx::Error::Decode(format!("stored event id {text:?} is not a UUID").into()))
        })
        .transpose()?;
    Ok(CheckpointData {
        projection_name: r.try_get(0)?,
        last_event_id,
        last_event_type: r.try_get(2)?,
        last_processed_at: r.try_get::<Option<DateTime<Utc>>, _>(3)?,
        events_processed: r.try_get::<Option<i64>, _>(4)?.unwrap_or(0),
        global_position: r.try_get(5)?,
        position_token: r.try_get(6)?,
    })
}

/// The events table's DDL, with the recommended lag index.
pub(super) fn create_events(ev: &Events, collation: &str) -> String {
    let n = &ev.names;
    let (id, ty, ts) = (n.event_id.backquoted(), n.event_type.backquoted(), n.timestamp.backquoted());
    let columns = match &n.position {
        Some(pos) => format!(
            "{} BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, {id} CHAR(36) CHARACTER SET ascii NOT NULL UNIQUE",
            pos.backquoted()
        ),
        None => format!("{id} CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({columns}, {ty} VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL, \
         {ts} DATETIME(6) NOT NULL, INDEX {} ({ts}), INDEX {} ({ty}, {ts}, {id})) ENGINE=InnoDB",
        ev.qualified,
        n.table.derived("timestamp_idx").backquoted(),
        n.table.derived("lag_idx").backquoted(),
    )
}
