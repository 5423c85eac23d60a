//! The PostgreSQL store's statements, built once from validated identifiers.

use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row};

use crate::backends::sql::{CheckpointSql, Dialect, COLUMNS};
use crate::checkpoint::{CheckpointData, Mark, Write};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::options::{EventsNames, PostgresOptions};

#[derive(Debug)]
pub(super) struct Sql {
    pub schema: Identifier,
    pub qualified: String,
    pub events: Option<Events>,
    pub get_event_id: Arc<str>,
    pub get_position: Arc<str>,
    pub get_token: Arc<str>,
    pub list: Arc<str>,
    pub delete: Arc<str>,
    pub upsert_event: Arc<str>,
    pub upsert_position: Arc<str>,
    pub upsert_token: Arc<str>,
    /// Many writes in one statement (group commit): arrays of names, event ids, types,
    /// times, counts, positions and tokens, a `NULL` position or token keeping the stored one.
    pub upsert_many: Arc<str>,
    pub lag_all: Arc<str>,
    /// Every checkpoint with the newest event and the head (read once), by name.
    pub lag_list: Arc<str>,
    /// With a type filter, when the events table has a `(type, timestamp)` index.
    pub lag_typed_probe: Arc<str>,
    /// With a type filter, when it has none.
    pub lag_typed_plain: Arc<str>,
}

#[derive(Debug)]
pub(super) struct Events {
    pub names: EventsNames,
    pub schema: Identifier,
    pub qualified: String,
}

impl Sql {
    pub(super) fn new(options: &PostgresOptions) -> Result<Self> {
        let schema = Identifier::new("schema", &options.schema)?;
        let table = Identifier::new("table", &options.table)?;
        let t = format!("{}.{}", schema.quoted(), table.quoted());
        let events = match &options.events_table {
            Some(e) => {
                let names = e.validate()?;
                let schema = names.schema.clone().unwrap_or_else(|| schema.clone());
                let qualified = format!("{}.{}", schema.quoted(), names.table.quoted());
                Some(Events { names, schema, qualified })
            }
            None => None,
        };
        let cp = CheckpointSql::new(Dialect::Postgres, &t);
        let Lag { all: lag_all, list: lag_list, probe: lag_typed_probe, plain: lag_typed_plain } =
            lag_sql(&t, events.as_ref());
        Ok(Sql {
            get_event_id: cp.get_event_id.into(),
            get_position: cp.get_position.into(),
            get_token: cp.get_token.into(),
            list: cp.list.into(),
            delete: cp.delete.into(),
            upsert_event: cp.upsert_event.into(),
            upsert_position: cp.upsert_position.into(),
            upsert_token: cp.upsert_token.into(),
            upsert_many: upsert_many(&t).into(),
            lag_all,
            lag_list,
            lag_typed_probe,
            lag_typed_plain,
            qualified: t,
            schema,
            events,
        })
    }

    pub(super) fn events(&self) -> Result<&Events> {
        self.events.as_ref().ok_or_else(|| Error::unsupported("this repository was opened without an events table"))
    }
}

struct Lag {
    all: Arc<str>,
    list: Arc<str>,
    probe: Arc<str>,
    plain: Arc<str>,
}

/// How many of the newest events a typed lag read without a `(type, timestamp)` index
/// looks through before it asks the type's own index.
const RECENT_WINDOW: u32 = 256;

/// The lag queries: the checkpoint row, the newest relevant event and the stream head in
/// one statement. A type filter has two shapes, chosen by the events table's indexes
/// (`PostgresRepository` looks once):
/// - `probe`, with a `(type, timestamp)` index: one index probe per type (a lateral join
///   over the type list), fast for common, rare and absent types alike;
/// - `plain`, without one (eventsource's tables: an index on the type, one on the
///   timestamp): the newest events first, then the type's own rows (below). The probe
///   shape there sorts every event of a common type (125 ms at a million events), and
///   eventsource's `type = ANY($2) ORDER BY timestamp DESC LIMIT 1` walks the
///   timestamp index past every row for a rare or absent type once the server caches a
///   generic plan (170 ms). It runs unprepared, so each call is planned for its types.
fn lag_sql(t: &str, events: Option<&Events>) -> Lag {
    let Some(ev) = events else {
        let columns = format!("SELECT {COLUMNS}, NULL::text, NULL::timestamptz, NULL::bigint FROM {t}");
        let plain: Arc<str> = format!("{columns} WHERE projection_name = $1").into();
        let list = format!("{columns} ORDER BY projection_name COLLATE \"C\"").into();
        return Lag { all: plain.clone(), list, probe: plain.clone(), plain };
    };
    let n = &ev.names;
    let (e, id, ty, ts) = (&ev.qualified, n.event_id.quoted(), n.event_type.quoted(), n.timestamp.quoted());
    let head = match &n.position {
        Some(pos) => format!("(SELECT max({}) FROM {e})", pos.quoted()),
        None => "NULL::bigint".into(),
    };
    let select = |latest: &str| {
        format!(
            "SELECT {COLUMNS}, l.event_id::text, l.ts::timestamptz, {head}::bigint \
             FROM {t} c LEFT JOIN LATERAL ({latest}) l ON true"
        )
    };
    let build = |latest: String| -> Arc<str> { format!("{} WHERE c.projection_name = $1", select(&latest)).into() };
    let newest = format!("SELECT {id} AS event_id, {ts} AS ts FROM {e} ORDER BY {ts} DESC LIMIT 1");
    // The newest event and the head do not depend on the row: the server reads them once.
    let list = format!("{} ORDER BY c.projection_name COLLATE \"C\"", select(&newest)).into();
    let all = build(newest);
    // `type >= $t AND type <= $t ORDER BY type, ts` means `type = $t ORDER BY ts`, but a
    // timestamp-only index cannot deliver that order, so the planner takes the
    // (type, timestamp) index instead of walking the timestamp index past every other
    // type (100 ms instead of 0.1 ms at a million events for a rare type).
    let probe = build(format!(
        "SELECT x.event_id, x.ts FROM unnest($2::text[]) AS f(event_type) CROSS JOIN LATERAL \
         (SELECT {id} AS event_id, {ts} AS ts FROM {e} WHERE {ty} >= f.event_type AND {ty} <= f.event_type \
         ORDER BY {ty} DESC, {ts} DESC LIMIT 1) x ORDER BY x.ts DESC LIMIT 1"
    ));
    // The newest of the last RECENT_WINDOW events that has the type (a common type is
    // there: a short walk of the timestamp index), else the newest of the type through
    // whatever index the type has (a rare or absent type: its rows alone, sorted). The
    // materialized CTE keeps the planner from walking the timestamp index past every
    // other type; the Append stops at the first arm's row.
    let plain = build(format!(
        "SELECT x.wp_id AS event_id, x.wp_ts AS ts FROM (\
         (SELECT r.wp_id, r.wp_ts FROM (SELECT {id} AS wp_id, {ts} AS wp_ts, {ty} AS wp_type FROM {e} \
         ORDER BY {ts} DESC LIMIT {RECENT_WINDOW}) r WHERE r.wp_type = ANY($2::text[]) ORDER BY r.wp_ts DESC LIMIT 1) \
         UNION ALL \
         (WITH m AS MATERIALIZED (SELECT {id} AS wp_id, {ts} AS wp_ts FROM {e} WHERE {ty} = ANY($2::text[])) \
         SELECT wp_id, wp_ts FROM m ORDER BY wp_ts DESC LIMIT 1)) x LIMIT 1"
    ));
    Lag { all, list, probe, plain }
}

/// Whether the events table exists, and whether it has a valid, non-partial B-tree index
/// whose first two columns are the event type and the timestamp (in either direction):
/// `$1` the qualified table name, `$2` the type column, `$3` the timestamp column.
pub(super) const LAG_INDEX_CATALOG: &str = "SELECT to_regclass($1) IS NOT NULL, EXISTS (\
     SELECT 1 FROM pg_index i \
     JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
     JOIN pg_attribute b ON b.attrelid = i.indrelid AND b.attnum = i.indkey[1] \
     WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree' \
     AND a.attname = $2 AND b.attname = $3)";

/// The multi-row upsert of the group commit (`Sql::upsert_many`).
fn upsert_many(t: &str) -> String {
    format!(
        "INSERT INTO {t} AS c (projection_name, last_event_id, last_event_type, last_processed_at, \
         events_processed, created_at, updated_at, global_position, position_token) \
         SELECT n, i, y, a, k, a, a, p, o FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], \
         $5::bigint[], $6::bigint[], $7::text[]) AS w(n, i, y, a, k, p, o) \
         ON CONFLICT (projection_name) DO UPDATE SET last_event_id = EXCLUDED.last_event_id, \
         last_event_type = EXCLUDED.last_event_type, last_processed_at = EXCLUDED.last_processed_at, \
         events_processed = c.events_processed + EXCLUDED.events_processed, updated_at = EXCLUDED.updated_at, \
         global_position = COALESCE(EXCLUDED.global_position, c.global_position), \
         position_token = COALESCE(EXCLUDED.position_token, c.position_token)"
    )
}

/// A checkpoint write's statement with its parameters bound.
pub(super) fn write_query<'q>(s: &Sql, w: &Write<'q>) -> Query<'q, Postgres, PgArguments> {
    let sql = match w.mark {
        Mark::EventOnly => &s.upsert_event,
        Mark::Position(_) => &s.upsert_position,
        Mark::Token(_) => &s.upsert_token,
    };
    let q = sqlx::query(AssertSqlSafe(sql.clone())).bind(w.name).bind(w.event_id).bind(w.event_type).bind(w.at);
    let q = match w.mark {
        Mark::EventOnly => q,
        Mark::Position(p) => q.bind(p),
        Mark::Token(t) => q.bind(t),
    };
    q.bind(w.count)
}

pub(super) fn row_to_data(r: &PgRow) -> std::result::Result<CheckpointData, sqlx::Error> {
    Ok(CheckpointData {
        projection_name: r.try_get(0)?,
        last_event_id: r.try_get(1)?,
        last_event_type: r.try_get(2)?,
        last_processed_at: r.try_get(3)?,
        events_processed: r.try_get::<Option<i64>, _>(4)?.unwrap_or(0),
        global_position: r.try_get(5)?,
        position_token: r.try_get(6)?,
    })
}

pub(super) fn lag_index_sql(ev: &Events) -> String {
    let n = &ev.names;
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {}) INCLUDE ({})",
        n.table.derived("lag_idx").quoted(),
        ev.qualified,
        n.event_type.quoted(),
        n.timestamp.quoted(),
        n.event_id.quoted()
    )
}

/// Quotes a value built only from validated identifiers as an SQL string literal.
pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
