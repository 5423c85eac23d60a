//! The PostgreSQL backend: a lazily connected sqlx pool, one prepared statement and one
//! round trip per call.
//!
//! `pool` holds the store handle (the pool, the kept connection, the migration), `sql`
//! the statements, `errors` the mapping of sqlx's errors, `claims` and `transaction` the
//! ledger and transactions, which hold the store handle, not the repository.

mod claims;
mod errors;
mod group;
mod pool;
mod sql;
mod tls;
mod transaction;

use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::checkpoint::{CheckpointData, CheckpointWrite, EventBatch, EventTypes, LagMetrics, Mark, Name, Write};
use crate::claims::ClaimStore;
use crate::error::{Error, ErrorKind, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::options::PostgresOptions;
use crate::origin::Origin;
use crate::repository::CheckpointStore;
use crate::statement::CheckpointStatement;
use crate::transaction::Transaction;

use errors::dead_connection;
use pool::{Fetch, Store, LAG_PLAIN, LAG_PROBE, LAG_UNKNOWN};
use sql::{lag_index_sql, quote_literal, row_to_data, Sql, LAG_INDEX_CATALOG};

/// Checkpoints in a PostgreSQL table.
///
/// The pool connects lazily: [`connect`](Self::connect) checks the URL and options, and
/// the first call connects and creates the table (unless `create_schema` is off). A
/// server that cannot be reached gives `Unavailable` within `connect_timeout`.
///
/// # Examples
/// ```no_run
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, PostgresOptions, PostgresRepository, SslMode};
///
/// let options = PostgresOptions { ssl_mode: Some(SslMode::VerifyFull), ..PostgresOptions::default() };
/// let repo = PostgresRepository::connect("postgres://app@db.example.com/app", options).await?;
/// repo.save_position("orders", 1000, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(repo.table(), "\"public\".\"projection_checkpoints\"");
/// println!("checkpoints on {}", repo.address());
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct PostgresRepository {
    /// The pool, shared with the claims ledgers.
    store: Arc<Store>,
}

impl std::fmt::Debug for PostgresRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

impl PostgresRepository {
    /// Which typed lag query to run, looked up in the catalog on first use (and set by
    /// `create_lag_index`). A missing events table is not remembered: the lag read then
    /// fails as before, and the next one looks again.
    async fn lag_shape(&self) -> Result<u8> {
        let store = &self.store;
        let known = store.lag_shape.load(Ordering::Relaxed);
        if known != LAG_UNKNOWN {
            return Ok(known);
        }
        let ev = store.sql.events()?;
        let q = sqlx::query(AssertSqlSafe(LAG_INDEX_CATALOG))
            .bind(ev.qualified.as_str())
            .bind(ev.names.event_type.as_str())
            .bind(ev.names.timestamp.as_str());
        let rows = store.run(q, Fetch::Optional).await?;
        let (exists, indexed) = match rows.first() {
            Some(row) => (row.try_get::<bool, _>(0), row.try_get::<bool, _>(1)),
            None => (Ok(false), Ok(false)),
        };
        let (exists, indexed) = (exists.map_err(|e| store.map_err(e))?, indexed.map_err(|e| store.map_err(e))?);
        let shape = if indexed { LAG_PROBE } else { LAG_PLAIN };
        if exists {
            store.lag_shape.store(shape, Ordering::Relaxed);
        }
        Ok(shape)
    }

    /// Prepares a repository on the server at `url` (`postgres://user@host:port/db`).
    /// Nothing is connected until the first call.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed URL or a bad schema, table or column name.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::PostgresRepository::connect("postgres://app@db.example.com/app", waypost::PostgresOptions::default()).await?;
    /// # let _ = repo;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let connect =
            PgConnectOptions::from_str(url).map_err(|e| Error::invalid(format!("malformed postgres url: {e}")))?;
        let connect = tls::apply(connect, &options)?;
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
            store: Arc::new(Store {
                pool,
                lane: tokio::sync::Mutex::new(None),
                address,
                sql,
                create_schema: options.create_schema,
                ready: OnceCell::new(),
                origin: Origin::here(),
                lag_shape: AtomicU8::new(LAG_UNKNOWN),
                group: group::Group::default(),
            }),
        })
    }

    /// The server's `host:port`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::PostgresRepository::connect("postgres://app@db.example.com/app", waypost::PostgresOptions::default()).await?;
    /// println!("checkpoints on {}", repo.address()); // db.example.com:5432
    /// # Ok(()) }
    /// ```
    pub fn address(&self) -> &str {
        &self.store.address
    }

    /// A checkpoint write on the caller's connection, inside the caller's open
    /// transaction (see [`save_position_on`](Self::save_position_on)).
    ///
    /// # Errors
    /// As [`CheckpointRepository::save_position`](crate::CheckpointRepository::save_position); errors of the caller's connection are
    /// mapped the same way.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(repo: &waypost::PostgresRepository, pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// let write = waypost::CheckpointWrite::position("Orders", 7, uuid::Uuid::new_v4(), "OrderPlaced")?;
    /// repo.write_on(&mut tx, &write).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_on(&self, conn: &mut sqlx::PgConnection, write: &CheckpointWrite<'_>) -> Result<()> {
        self.store.write_on(conn, write).await
    }

    /// The schema-qualified checkpoint table.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::PostgresRepository::connect("postgres://app@db.example.com/app", waypost::PostgresOptions::default()).await?;
    /// assert_eq!(repo.table(), "\"public\".\"projection_checkpoints\"");
    /// # Ok(()) }
    /// ```
    pub fn table(&self) -> &str {
        &self.store.sql.qualified
    }
}

#[async_trait]
impl CheckpointStore for PostgresRepository {
    async fn write(&self, w: &Write<'_>) -> Result<()> {
        group::write(&self.store, w).await
    }

    async fn read_event_id(&self, name: Name<'_>) -> Result<Option<Uuid>> {
        self.store.read_column(name, &self.store.sql.get_event_id).await
    }

    async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>> {
        self.store.read_column(name, &self.store.sql.get_position).await
    }

    async fn read_token(&self, name: Name<'_>) -> Result<Option<String>> {
        self.store.read_column(name, &self.store.sql.get_token).await
    }

    async fn statement(&self, w: &Write<'_>) -> Result<CheckpointStatement> {
        self.store.ready().await?;
        let sql = &self.store.sql;
        let text = match w.mark {
            Mark::EventOnly => &sql.upsert_event,
            Mark::Position(_) => &sql.upsert_position,
            Mark::Token(_) => &sql.upsert_token,
        };
        Ok(CheckpointStatement { sql: text.to_string(), params: crate::statement::params_of(w, true) })
    }

    async fn read_lag(&self, name: Name<'_>, types: EventTypes<'_>) -> Result<Option<LagMetrics>> {
        let (store, sql) = (&self.store, &self.store.sql);
        let q = match types.is_all() {
            true => sqlx::query(AssertSqlSafe(sql.lag_all.clone())).bind(name.as_str()),
            false => {
                let (typed, prepared) = match self.lag_shape().await? {
                    LAG_PROBE => (&sql.lag_typed_probe, true),
                    _ => (&sql.lag_typed_plain, false),
                };
                sqlx::query(AssertSqlSafe(typed.clone()))
                    .bind(name.as_str())
                    .bind(types.as_slice())
                    .persistent(prepared)
            }
        };
        let rows = match store.run(q, Fetch::Optional).await {
            Ok(rows) => rows,
            // As eventsource-py, which reads the checkpoint first: a name without one has
            // no lag, even when the events table is missing.
            Err(e) if e.kind() == ErrorKind::NotFound && self.read_event_id(name).await?.is_none() => return Ok(None),
            Err(e) => return Err(store.missing_events_table(e)),
        };
        let Some(row) = rows.first() else { return Ok(None) };
        let (data, latest, head) = decode_lag(row).map_err(|e| store.map_err(e))?;
        Ok(Some(lag::metrics(&data, latest, head)))
    }

    async fn read_lag_all(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        let store = &self.store;
        let rows = match store.run(sqlx::query(AssertSqlSafe(store.sql.lag_list.clone())), Fetch::All).await {
            Ok(rows) => rows,
            // As the default: no checkpoints, nothing to read, even without an events table.
            Err(e) if e.kind() == ErrorKind::NotFound && self.list().await?.is_empty() => return Ok(Vec::new()),
            Err(e) => return Err(store.missing_events_table(e)),
        };
        let metrics = |row: &PgRow| {
            let (data, latest, head) = decode_lag(row).map_err(|e| store.map_err(e))?;
            let m = lag::metrics(&data, latest, head);
            Ok((data, m))
        };
        rows.iter().map(metrics).collect()
    }

    async fn delete(&self, name: Name<'_>) -> Result<()> {
        let store = &self.store;
        store
            .run(sqlx::query(AssertSqlSafe(store.sql.delete.clone())).bind(name.as_str()), Fetch::Nothing)
            .await
            .map(drop)
    }

    async fn list(&self) -> Result<Vec<CheckpointData>> {
        let store = &self.store;
        let rows = store.run(sqlx::query(AssertSqlSafe(store.sql.list.clone())), Fetch::All).await?;
        rows.iter().map(row_to_data).collect::<std::result::Result<_, _>>().map_err(|e| store.map_err(e))
    }

    async fn create_events(&self) -> Result<()> {
        let store = &self.store;
        let ev = store.sql.events()?;
        let n = &ev.names;
        let (id, ty, ts) = (n.event_id.quoted(), n.event_type.quoted(), n.timestamp.quoted());
        let columns = match &n.position {
            Some(pos) => format!("{} BIGSERIAL PRIMARY KEY, {id} UUID NOT NULL UNIQUE", pos.quoted()),
            None => format!("{id} UUID PRIMARY KEY"),
        };
        store
            .run_ddl(vec![
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
            .await?;
        store.lag_shape.store(LAG_PROBE, Ordering::Relaxed);
        Ok(())
    }

    async fn create_index(&self) -> Result<()> {
        let ev = self.store.sql.events()?;
        self.store.run_ddl(vec![lag_index_sql(ev)]).await?;
        self.store.lag_shape.store(LAG_PROBE, Ordering::Relaxed);
        Ok(())
    }

    async fn head(&self) -> Result<Option<i64>> {
        let store = &self.store;
        let Some(ev) = &store.sql.events else { return Ok(None) };
        let Some(pos) = &ev.names.position else { return Ok(None) };
        let sql = format!("SELECT coalesce(max({}), 0)::bigint FROM {}", pos.quoted(), ev.qualified);
        let rows = store
            .run(sqlx::query(AssertSqlSafe(sql)), Fetch::Optional)
            .await
            .map_err(|e| store.missing_events_table(e))?;
        match rows.first() {
            Some(row) => row.try_get::<i64, _>(0).map(Some).map_err(|e| store.map_err(e)),
            None => Ok(Some(0)),
        }
    }

    async fn append(&self, events: EventBatch<'_>) -> Result<()> {
        let events = events.as_slice();
        let store = &self.store;
        let ev = store.sql.events()?;
        let n = &ev.names;
        let pool = store.ready().await?;
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
            .map_err(|e| store.missing_events_table(store.map_err(e)))?;
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        let store = &self.store;
        if store.origin.forked() {
            // Closed for this process only (see `Drop`): the parent's sessions go on.
            return Ok(());
        }
        // The lane's connection must go back first: closing waits for every connection.
        drop(store.lane.lock().await.take());
        store.pool.close().await;
        Ok(())
    }

    async fn open_transaction(&self) -> Result<Transaction> {
        let store = &self.store;
        let pool = store.ready().await?;
        let mut dead = 0;
        let tx = loop {
            match pool.begin().await {
                Ok(tx) => break tx,
                // An idle pooled connection that died with the server (a restart): BEGIN
                // did nothing, and the failed connection is closed; take the next one.
                Err(e) if dead_connection(&e) && dead < pool.options().get_max_connections() => dead += 1,
                Err(e) => return Err(store.map_err(e)),
            }
        };
        let tx = transaction::PgTx::new(tx, store.sql.clone(), store.address.clone());
        Ok(Transaction::new(Box::new(tx), format!("postgres at {}", store.address)))
    }

    fn open_claims(self: Arc<Self>, table: Identifier, max_retries: u32) -> Result<Arc<dyn ClaimStore>> {
        Ok(Arc::new(claims::PostgresClaims::new(self.store.clone(), &table, max_retries)))
    }
}

/// A lag row: the checkpoint's columns, then the newest event's id and time, then the head.
fn decode_lag(row: &PgRow) -> std::result::Result<(CheckpointData, Option<LatestEvent>, Option<i64>), sqlx::Error> {
    let data = row_to_data(row)?;
    let latest_id: Option<String> = row.try_get(7)?;
    let latest_ts: Option<DateTime<Utc>> = row.try_get(8)?;
    let head: Option<i64> = row.try_get(9)?;
    let latest = latest_id.zip(latest_ts).map(|(event_id, timestamp)| LatestEvent { event_id, timestamp });
    Ok((data, latest, head))
}
