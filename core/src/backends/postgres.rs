//! The PostgreSQL backend: a lazily connected sqlx pool, one prepared statement and one
//! round trip per call.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;

use crate::origin::Origin;
use crate::runtime::InRuntime;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::Postgres;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::checkpoint::{self, CheckpointData, LagMetrics, Mark, NewEvent, Write};
use crate::claims::{ClaimLedger, ClaimsOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::options::{EventsNames, PostgresOptions};
use crate::repository::CheckpointRepository;
use crate::statement::{CheckpointStatement, StatementKind};
use crate::transaction::Transaction;

/// Checkpoints in a PostgreSQL table.
///
/// The pool connects lazily: [`connect`](Self::connect) checks the URL and options, and
/// the first call connects and creates the table (unless `create_schema` is off). A
/// server that cannot be reached gives `Unavailable` within `connect_timeout`.
pub struct PostgresRepository {
    pool: PgPool,
    /// One connection kept out of the pool for whichever call finds it free: taking a
    /// pooled connection per call costs a quarter to half of a primary-key read. Calls
    /// that find it busy use the pool.
    lane: tokio::sync::Mutex<Option<InRuntime<PoolConnection<Postgres>>>>,
    address: String,
    pub(crate) sql: Arc<Sql>,
    pub(crate) create_schema: bool,
    ready: OnceCell<()>,
    origin: Origin,
}

/// A connection while a statement runs on it. If the call is dropped midway (a cancelled
/// task), the connection is discarded, never returned to the pool: sqlx tests a returned
/// connection with a ping, which first sends whatever of the statement was still
/// buffered, so a cancelled write would be applied after the caller's later ones. A
/// statement already sent was applied before the cancellation returned; one still in
/// the buffer is never applied.
struct Midway(Option<InRuntime<PoolConnection<Postgres>>>);

impl Midway {
    fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.0.as_mut().expect("Midway holds its connection until finished")
    }

    fn finished(mut self) -> InRuntime<PoolConnection<Postgres>> {
        self.0.take().expect("Midway holds its connection until finished")
    }
}

impl Drop for Midway {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Dropping the bare connection closes its socket without flushing.
            drop(conn.into_inner().detach());
        }
    }
}

impl Drop for PostgresRepository {
    fn drop(&mut self) {
        if self.origin.forked() {
            // The pool's sockets are the parent's too: closing them here would send the
            // server a Terminate on the parent's sessions. Keep them unreachable instead.
            std::mem::forget(self.pool.clone());
            std::mem::forget(self.lane.get_mut().take());
        }
    }
}

impl std::fmt::Debug for PostgresRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address only: the URL may carry a password.
        f.debug_struct("PostgresRepository")
            .field("address", &self.address)
            .field("table", &self.sql.qualified)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) schema: Identifier,
    qualified: String,
    events: Option<Events>,
    get_event_id: Arc<str>,
    get_position: Arc<str>,
    get_token: Arc<str>,
    list: Arc<str>,
    delete: Arc<str>,
    upsert_event: Arc<str>,
    upsert_position: Arc<str>,
    upsert_token: Arc<str>,
    lag_all: Arc<str>,
    lag_typed: Arc<str>,
}

#[derive(Debug)]
struct Events {
    names: EventsNames,
    schema: Identifier,
    qualified: String,
}

const COLUMNS: &str =
    "projection_name, last_event_id, last_event_type, last_processed_at, events_processed, global_position, position_token";

impl Sql {
    fn new(options: &PostgresOptions) -> Result<Self> {
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
        let upsert = |extra_col: &str, extra_set: &str| -> Arc<str> {
            format!(
                "INSERT INTO {t} AS c (projection_name, last_event_id, last_event_type, last_processed_at, \
                 events_processed, created_at, updated_at{extra_col}) VALUES ($1, $2, $3, $4, {count}, $4, $4{value}) \
                 ON CONFLICT (projection_name) DO UPDATE SET last_event_id = EXCLUDED.last_event_id, \
                 last_event_type = EXCLUDED.last_event_type, last_processed_at = EXCLUDED.last_processed_at, \
                 events_processed = c.events_processed + {count}, updated_at = EXCLUDED.updated_at{extra_set}",
                // The count is the last parameter: $5, or $6 after a position or token.
                count = if extra_col.is_empty() { "$5" } else { "$6" },
                value = if extra_col.is_empty() { "" } else { ", $5" },
            )
            .into()
        };
        let (lag_all, lag_typed) = lag_sql(&t, events.as_ref());
        Ok(Sql {
            get_event_id: format!("SELECT last_event_id FROM {t} WHERE projection_name = $1").into(),
            get_position: format!("SELECT global_position FROM {t} WHERE projection_name = $1").into(),
            get_token: format!("SELECT position_token FROM {t} WHERE projection_name = $1").into(),
            list: format!("SELECT {COLUMNS} FROM {t} ORDER BY projection_name COLLATE \"C\"").into(),
            delete: format!("DELETE FROM {t} WHERE projection_name = $1").into(),
            upsert_event: upsert("", ""),
            upsert_position: upsert(", global_position", ", global_position = EXCLUDED.global_position"),
            upsert_token: upsert(", position_token", ", position_token = EXCLUDED.position_token"),
            lag_all,
            lag_typed,
            qualified: t,
            schema,
            events,
        })
    }

    fn events(&self) -> Result<&Events> {
        self.events.as_ref().ok_or_else(|| Error::unsupported("this repository was opened without an events table"))
    }
}

/// The lag queries: the checkpoint row, the newest relevant event and the stream head in
/// one statement. With a type filter, one index probe per type (a lateral join over the
/// type list): PostgreSQL otherwise walks the timestamp index past every other type.
fn lag_sql(t: &str, events: Option<&Events>) -> (Arc<str>, Arc<str>) {
    let Some(ev) = events else {
        let plain: Arc<str> = format!(
            "SELECT {COLUMNS}, NULL::text, NULL::timestamptz, NULL::bigint FROM {t} WHERE projection_name = $1"
        )
        .into();
        return (plain.clone(), plain);
    };
    let n = &ev.names;
    let (e, id, ty, ts) = (&ev.qualified, n.event_id.quoted(), n.event_type.quoted(), n.timestamp.quoted());
    let head = match &n.position {
        Some(pos) => format!("(SELECT max({}) FROM {e})", pos.quoted()),
        None => "NULL::bigint".into(),
    };
    let build = |latest: String| -> Arc<str> {
        format!(
            "SELECT {COLUMNS}, l.event_id::text, l.ts::timestamptz, {head}::bigint \
             FROM {t} c LEFT JOIN LATERAL ({latest}) l ON true WHERE c.projection_name = $1"
        )
        .into()
    };
    let all = build(format!("SELECT {id} AS event_id, {ts} AS ts FROM {e} ORDER BY {ts} DESC LIMIT 1"));
    // `type >= $t AND type <= $t ORDER BY type, ts` means `type = $t ORDER BY ts`, but a
    // timestamp-only index cannot deliver that order, so the planner takes the
    // (type, timestamp) index instead of walking the timestamp index past every other
    // type (100 ms instead of 0.1 ms at a million events for a rare type).
    let typed = build(format!(
        "SELECT x.event_id, x.ts FROM unnest($2::text[]) AS f(event_type) CROSS JOIN LATERAL \
         (SELECT {id} AS event_id, {ts} AS ts FROM {e} WHERE {ty} >= f.event_type AND {ty} <= f.event_type \
         ORDER BY {ty} DESC, {ts} DESC LIMIT 1) x ORDER BY x.ts DESC LIMIT 1"
    ));
    (all, typed)
}

/// Maps sqlx's errors onto waypost's kinds, naming the server at `address` for connection
/// failures.
pub(crate) fn map_err(address: &str, e: sqlx::Error) -> Error {
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
fn dead_connection(e: &sqlx::Error) -> bool {
    use sqlx::postgres::{PgDatabaseError, PgSeverity};
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|pg| matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        _ => false,
    }
}

/// A checkpoint write's statement with its parameters bound.
pub(crate) fn write_query<'q>(s: &Sql, w: &Write<'q>) -> Query<'q, Postgres, PgArguments> {
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

fn row_to_data(r: &PgRow) -> std::result::Result<CheckpointData, sqlx::Error> {
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

impl PostgresRepository {
    /// Prepares a repository on the server at `url` (`postgres://user@host:port/db`).
    /// Nothing is connected until the first call.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed URL or a bad schema, table or column name.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| Error::invalid(format!("malformed postgres url: {e}")))?;
        if options.max_connections == 0 {
            return Err(Error::invalid("max_connections must be at least 1"));
        }
        let sql = Arc::new(Sql::new(&options)?);
        let address = format!("{}:{}", connect.get_host(), connect.get_port());
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout)
            // Checking a connection before each use costs a round trip per call; a
            // broken connection surfaces as an error instead and is replaced.
            .test_before_acquire(false)
            .connect_lazy_with(connect);
        Ok(PostgresRepository {
            pool,
            lane: tokio::sync::Mutex::new(None),
            address,
            sql,
            create_schema: options.create_schema,
            ready: OnceCell::new(),
            origin: Origin::here(),
        })
    }

    /// The server's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Saves a position on the caller's connection — inside the caller's open
    /// transaction, so that the checkpoint commits or rolls back with their read-model
    /// writes (exactly-once projections). Pass `&mut *tx` for a `sqlx::Transaction`.
    ///
    /// ```no_run
    /// # async fn demo(repo: &waypost::PostgresRepository, pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO order_totals (order_id, total) VALUES ($1, $2)")
    ///     .bind(42_i64).bind(99_i64).execute(&mut *tx).await?;
    /// repo.save_position_on(&mut tx, "OrderTotals", 1001, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// tx.commit().await?; // both, or neither
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`CheckpointRepository::save_position`]; errors of the caller's connection are
    /// mapped the same way.
    pub async fn save_position_on(
        &self,
        conn: &mut sqlx::PgConnection,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write_on(conn, Write::new(subscription_id, event_id, event_type, Mark::Position(position))?).await
    }

    /// [`update_checkpoint`](CheckpointRepository::update_checkpoint) on the caller's
    /// connection; see [`save_position_on`](Self::save_position_on).
    ///
    /// # Errors
    /// As `update_checkpoint`.
    pub async fn update_checkpoint_on(
        &self,
        conn: &mut sqlx::PgConnection,
        projection_name: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write_on(conn, Write::new(projection_name, event_id, event_type, Mark::EventOnly)?).await
    }

    pub(crate) async fn ready(&self) -> Result<&PgPool> {
        self.origin.check()?;
        if self.create_schema {
            self.ready.get_or_try_init(|| self.migrate()).await?;
        }
        Ok(&self.pool)
    }

    async fn migrate(&self) -> Result<()> {
        let s = &self.sql;
        let mut tx = self.pool.begin().await.map_err(|e| self.map_err(e))?;
        // Serialize concurrent first calls across processes: CREATE ... IF NOT EXISTS
        // races on the catalog otherwise.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("waypost:{}", s.qualified))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.map_err(e))?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(s.schema.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.map_err(e))?;
        let mut ddl = Vec::new();
        if !exists {
            ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", s.schema.quoted()));
        }
        // eventsource-py's layout plus position_token; only the primary key is indexed so
        // that every UPSERT stays a HOT update. The key is in byte order ("C") so that
        // get_all_checkpoints reads the index in order instead of sorting.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
                projection_name TEXT COLLATE \"C\" PRIMARY KEY,
                last_event_id UUID,
                last_event_type TEXT,
                last_processed_at TIMESTAMPTZ,
                global_position BIGINT,
                events_processed BIGINT NOT NULL DEFAULT 0,
                position_token TEXT,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
            s.qualified
        ));
        ddl.push(format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS position_token TEXT", s.qualified));
        for statement in ddl {
            sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await.map_err(|e| self.map_err(e))?;
        }
        tx.commit().await.map_err(|e| self.map_err(e))
    }

    /// Maps sqlx's errors onto waypost's kinds, naming the server for connection failures.
    pub(crate) fn map_err(&self, e: sqlx::Error) -> Error {
        map_err(&self.address, e)
    }

    /// Runs one statement on the free lane connection, else on a pooled one.
    pub(crate) async fn run(&self, q: Query<'_, Postgres, PgArguments>, fetch: Fetch) -> Result<Vec<PgRow>> {
        let pool = self.ready().await?;
        let mut lane = self.lane.try_lock().ok();
        let conn = match lane.as_mut().and_then(|l| l.take()) {
            Some(conn) => conn,
            // The lane's connection is kept for many calls: take one that answers.
            None if lane.is_some() => InRuntime::new(self.acquire_live(pool).await?),
            None => InRuntime::new(pool.acquire().await.map_err(|e| self.map_err(e))?),
        };
        let mut midway = Midway(Some(conn));
        let result = fetch.run(q, midway.conn()).await;
        let conn = midway.finished();
        let broken = matches!(&result, Err(e) if dead_connection(e));
        match lane.as_mut() {
            Some(lane) if !broken => **lane = Some(conn),
            // Busy lane: the connection goes back to the pool; broken: it is closed.
            _ if !broken => drop(conn),
            _ => drop(conn.into_inner().detach()),
        }
        result.map_err(|e| self.map_err(e))
    }

    /// A pooled connection that answers a ping, for the lane (taken once, then kept): an
    /// idle connection that died with the server (a restart) is discarded here instead of
    /// failing the caller's statement. Each failed ping closes one connection.
    async fn acquire_live(&self, pool: &PgPool) -> Result<PoolConnection<Postgres>> {
        let mut dead = 0;
        loop {
            let mut conn = pool.acquire().await.map_err(|e| self.map_err(e))?;
            match sqlx::Connection::ping(&mut *conn).await {
                Ok(()) => return Ok(conn),
                Err(e) if dead >= pool.options().get_max_connections() => return Err(self.map_err(e)),
                Err(_) => {
                    conn.close_on_drop();
                    dead += 1;
                }
            }
        }
    }

    fn write_query<'q>(&self, w: &Write<'q>) -> Query<'q, Postgres, PgArguments> {
        write_query(&self.sql, w)
    }

    async fn write_on(&self, conn: &mut sqlx::PgConnection, w: Write<'_>) -> Result<()> {
        self.ready().await?;
        self.write_query(&w).execute(conn).await.map(drop).map_err(|e| self.map_err(e))
    }

    async fn write(&self, w: Write<'_>) -> Result<()> {
        self.run(self.write_query(&w), Fetch::Nothing).await.map(drop)
    }

    async fn read_column<T>(&self, name: &str, sql: &Arc<str>) -> Result<Option<T>>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        checkpoint::check_name(name)?;
        let rows = self.run(sqlx::query(AssertSqlSafe(sql.clone())).bind(name), Fetch::Optional).await?;
        match rows.first() {
            Some(row) => row.try_get::<Option<T>, _>(0).map_err(|e| self.map_err(e)),
            None => Ok(None),
        }
    }

    fn missing_events_table(&self, e: Error) -> Error {
        match (e, &self.sql.events) {
            (Error::NotFound { message }, Some(ev)) if message.contains(ev.names.table.as_str()) => Error::not_found(
                format!("events table {} does not exist (create it, or connect without an events table)", ev.qualified),
            ),
            (other, _) => other,
        }
    }

    async fn run_ddl(&self, statements: Vec<String>) -> Result<()> {
        let pool = self.ready().await?;
        let mut tx = pool.begin().await.map_err(|e| self.map_err(e))?;
        for statement in statements {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.missing_events_table(self.map_err(e)))?;
        }
        tx.commit().await.map_err(|e| self.map_err(e))
    }
}

/// What a statement returns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fetch {
    Nothing,
    Optional,
    All,
}

impl Fetch {
    async fn run<'c, E>(
        self,
        q: Query<'_, Postgres, PgArguments>,
        on: E,
    ) -> std::result::Result<Vec<PgRow>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Postgres>,
    {
        match self {
            Fetch::Nothing => q.execute(on).await.map(|_| Vec::new()),
            Fetch::Optional => q.fetch_optional(on).await.map(|r| r.into_iter().collect()),
            Fetch::All => q.fetch_all(on).await,
        }
    }
}

fn lag_index_sql(ev: &Events) -> String {
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

#[async_trait]
impl CheckpointRepository for PostgresRepository {
    async fn get_checkpoint(&self, projection_name: &str) -> Result<Option<Uuid>> {
        self.read_column(projection_name, &self.sql.get_event_id).await
    }

    async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(projection_name, event_id, event_type, Mark::EventOnly)?).await
    }

    async fn get_position(&self, subscription_id: &str) -> Result<Option<i64>> {
        self.read_column(subscription_id, &self.sql.get_position).await
    }

    async fn save_position(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?).await
    }

    async fn save_position_covering(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
        count: u32,
    ) -> Result<()> {
        let write = Write::new(subscription_id, event_id, event_type, Mark::Position(position))?.covering(count)?;
        self.write(write).await
    }

    async fn checkpoint_statement(
        &self,
        name: &str,
        event_id: Uuid,
        event_type: &str,
        kind: StatementKind,
    ) -> Result<CheckpointStatement> {
        let w = Write::for_statement(name, event_id, event_type, &kind)?;
        self.ready().await?;
        let sql = match w.mark {
            Mark::EventOnly => &self.sql.upsert_event,
            Mark::Position(_) => &self.sql.upsert_position,
            Mark::Token(_) => &self.sql.upsert_token,
        };
        Ok(CheckpointStatement { sql: sql.to_string(), params: crate::statement::params_of(&w, true) })
    }

    async fn get_position_token(&self, subscription_id: &str) -> Result<Option<String>> {
        self.read_column(subscription_id, &self.sql.get_token).await
    }

    async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Token(token))?).await
    }

    async fn get_lag_metrics(
        &self,
        projection_name: &str,
        event_types: Option<&[String]>,
    ) -> Result<Option<LagMetrics>> {
        checkpoint::check_name(projection_name)?;
        checkpoint::check_types(event_types)?;
        let types = event_types.filter(|t| !t.is_empty());
        let q = match types {
            None => sqlx::query(AssertSqlSafe(self.sql.lag_all.clone())).bind(projection_name),
            Some(types) => sqlx::query(AssertSqlSafe(self.sql.lag_typed.clone())).bind(projection_name).bind(types),
        };
        let rows = match self.run(q, Fetch::Optional).await {
            Ok(rows) => rows,
            // As eventsource-py, which reads the checkpoint first: a name without one has
            // no lag, even when the events table is missing.
            Err(e) if e.kind() == ErrorKind::NotFound && self.get_checkpoint(projection_name).await?.is_none() => {
                return Ok(None)
            }
            Err(e) => return Err(self.missing_events_table(e)),
        };
        let Some(row) = rows.first() else { return Ok(None) };
        let decode = |row: &PgRow| -> std::result::Result<_, sqlx::Error> {
            let data = row_to_data(row)?;
            let latest_id: Option<String> = row.try_get(7)?;
            let latest_ts: Option<DateTime<Utc>> = row.try_get(8)?;
            let head: Option<i64> = row.try_get(9)?;
            Ok((data, latest_id.zip(latest_ts), head))
        };
        let (data, latest, head) = decode(row).map_err(|e| self.map_err(e))?;
        let latest = latest.map(|(event_id, timestamp)| LatestEvent { event_id, timestamp });
        Ok(Some(lag::metrics(&data, latest, head)))
    }

    async fn reset_checkpoint(&self, projection_name: &str) -> Result<()> {
        checkpoint::check_name(projection_name)?;
        self.run(sqlx::query(AssertSqlSafe(self.sql.delete.clone())).bind(projection_name), Fetch::Nothing)
            .await
            .map(drop)
    }

    async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>> {
        let rows = self.run(sqlx::query(AssertSqlSafe(self.sql.list.clone())), Fetch::All).await?;
        rows.iter().map(row_to_data).collect::<std::result::Result<_, _>>().map_err(|e| self.map_err(e))
    }

    async fn create_events_table(&self) -> Result<()> {
        let ev = self.sql.events()?;
        let n = &ev.names;
        let (id, ty, ts) = (n.event_id.quoted(), n.event_type.quoted(), n.timestamp.quoted());
        let columns = match &n.position {
            Some(pos) => format!("{} BIGSERIAL PRIMARY KEY, {id} UUID NOT NULL UNIQUE", pos.quoted()),
            None => format!("{id} UUID PRIMARY KEY"),
        };
        self.run_ddl(vec![
            format!("SELECT pg_advisory_xact_lock(hashtext('waypost:' || {}))", quote_literal(&ev.qualified)),
            format!("CREATE SCHEMA IF NOT EXISTS {}", ev.schema.quoted()),
            format!(
                "CREATE TABLE IF NOT EXISTS {} ({columns}, {ty} TEXT NOT NULL, {ts} TIMESTAMPTZ NOT NULL)",
                ev.qualified
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({ts})",
                n.table.derived("timestamp_idx").quoted(),
                ev.qualified
            ),
            lag_index_sql(ev),
        ])
        .await
    }

    async fn create_lag_index(&self) -> Result<()> {
        let ev = self.sql.events()?;
        self.run_ddl(vec![lag_index_sql(ev)]).await
    }

    async fn stream_head(&self) -> Result<Option<i64>> {
        let Some(ev) = &self.sql.events else { return Ok(None) };
        let Some(pos) = &ev.names.position else { return Ok(None) };
        let sql = format!("SELECT coalesce(max({}), 0)::bigint FROM {}", pos.quoted(), ev.qualified);
        let rows = self
            .run(sqlx::query(AssertSqlSafe(sql)), Fetch::Optional)
            .await
            .map_err(|e| self.missing_events_table(e))?;
        match rows.first() {
            Some(row) => row.try_get::<i64, _>(0).map(Some).map_err(|e| self.map_err(e)),
            None => Ok(Some(0)),
        }
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<()> {
        checkpoint::check_events(events)?;
        let ev = self.sql.events()?;
        let n = &ev.names;
        let pool = self.ready().await?;
        let insert = format!(
            "INSERT INTO {} ({}, {}, {}) SELECT i, t, s FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) \
             WITH ORDINALITY AS u(i, t, s, o) ORDER BY o",
            ev.qualified,
            n.event_id.quoted(),
            n.event_type.quoted(),
            n.timestamp.quoted()
        );
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let stamps: Vec<DateTime<Utc>> = events.iter().map(|e| e.timestamp).collect();
        sqlx::query(AssertSqlSafe(insert))
            .bind(ids)
            .bind(types)
            .bind(stamps)
            .execute(pool)
            .await
            .map_err(|e| self.missing_events_table(self.map_err(e)))?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        if self.origin.forked() {
            // Closed for this process only (see `Drop`): the parent's sessions go on.
            return Ok(());
        }
        // The lane's connection must go back first: closing waits for every connection.
        drop(self.lane.lock().await.take());
        self.pool.close().await;
        Ok(())
    }

    async fn begin(&self) -> Result<Transaction> {
        let pool = self.ready().await?;
        let mut dead = 0;
        let tx = loop {
            match pool.begin().await {
                Ok(tx) => break tx,
                // An idle pooled connection that died with the server (a restart): BEGIN
                // did nothing, and the failed connection is closed; take the next one.
                Err(e) if dead_connection(&e) && dead < pool.options().get_max_connections() => dead += 1,
                Err(e) => return Err(self.map_err(e)),
            }
        };
        let tx = super::postgres_tx::PgTx::new(tx, self.sql.clone(), self.address.clone());
        Ok(Transaction::new(Box::new(tx), format!("postgres at {}", self.address)))
    }

    fn claims(self: Arc<Self>, options: ClaimsOptions) -> Result<Arc<dyn ClaimLedger>> {
        let table = options.validate()?;
        Ok(Arc::new(super::postgres_claims::PostgresClaims::new(self, &table, options.max_retries)))
    }
}

/// Quotes a value built only from validated identifiers as an SQL string literal.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl PostgresRepository {
    /// The schema-qualified checkpoint table.
    pub fn table(&self) -> &str {
        &self.sql.qualified
    }
}
