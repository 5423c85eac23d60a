//! The SQLite backend: one rusqlite connection owned by a dedicated thread, fed by a
//! channel, so no tokio worker ever blocks on the database file.
//!
//! `connection` holds the store handle (the thread, the connections), `sql` the
//! statements and schema, `errors` the mapping of rusqlite's errors, `wal` the check that
//! a write is durable beside another copy of SQLite, `claims` and `transaction` the
//! ledger and transactions, which hold the store handle, not the repository.

mod claims;
mod connection;
mod errors;
mod sql;
mod transaction;
mod wal;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::checkpoint::{CheckpointData, CheckpointWrite, EventBatch, EventTypes, LagMetrics, Mark, Name, Write};
use crate::claims::ClaimStore;
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::options::{EventsNames, SqliteOptions};
use crate::repository::CheckpointStore;
use crate::statement::CheckpointStatement;
use crate::time;
use crate::transaction::Transaction;

use connection::Store;
use errors::{closed, map_err, parse_stored_id};
use sql::{
    events_sql, exec, has_lag_index, lag_index_sql, missing_events_table, row_to_data, write_on, Sql, LAG_PLAIN,
    LAG_PROBE, LAG_UNKNOWN,
};
use transaction::{SqliteTx, TxConnections};

/// Checkpoints in an SQLite file (WAL mode, `synchronous=FULL` by default, a busy
/// timeout so that several processes can share the file).
///
/// No call blocks a tokio worker: calls are queued to the repository's own SQLite thread.
/// With [`SqliteOptions::block_in_place`], a call from a task of a multi-thread runtime
/// that finds the connection free runs inside [`tokio::task::block_in_place`] instead,
/// which first hands the worker's other tasks to another thread and saves the hop.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
///
/// let dir = tempfile::tempdir().unwrap();
/// let repo = SqliteRepository::open(dir.path().join("checkpoints.db"), SqliteOptions::default()).await?;
/// repo.save_position("orders", 42, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(repo.get_position("orders").await?, Some(42));
/// repo.close().await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct SqliteRepository {
    /// The connection and its thread, shared with the claims ledgers.
    store: Arc<Store>,
    /// Connections for [`begin`](crate::CheckpointRepository::begin); `None` for `:memory:`.
    transactions: Option<Arc<TxConnections>>,
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Drop for SqliteRepository {
    fn drop(&mut self) {
        if self.store.forked() {
            // The parent's connections: closing them here could checkpoint or delete the
            // WAL the parent writes into.
            std::mem::forget(self.transactions.take());
        }
    }
}

impl std::fmt::Debug for SqliteRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

/// What [`SqliteRepository::settings`] reads back from the connection.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let settings = repo.settings().await?;
/// assert_eq!((settings.journal_mode.as_str(), settings.synchronous.as_str()), ("wal", "FULL"));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal` for a file, `memory` for `:memory:`.
    pub journal_mode: String,
    /// `FULL` (the default) or `NORMAL`.
    pub synchronous: String,
    /// How long a write waits for another process's lock.
    pub busy_timeout: Duration,
}

/// A transaction of [`SqliteRepository::transaction`]: the caller's statements go
/// through [`connection`](Self::connection), checkpoint writes through the methods.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// repo.transaction(|tx| {
///     tx.connection().execute_batch("CREATE TABLE IF NOT EXISTS totals (id TEXT PRIMARY KEY)")
///         .map_err(|e| waypost::Error::from(e))?;
///     tx.save_position("Totals", 1, uuid::Uuid::new_v4(), "OrderPlaced")
/// }).await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct SqliteTransaction<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    sql: &'t Sql,
}

impl SqliteTransaction<'_> {
    /// The connection, inside the transaction, for the caller's own statements.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let n: i64 = repo.transaction(|tx| Ok(tx.connection().query_row("SELECT 6 * 7", [], |r| r.get(0)).unwrap())).await?;
    /// assert_eq!(n, 42);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn connection(&self) -> &Connection {
        self.tx
    }

    /// A checkpoint write inside this transaction.
    ///
    /// # Errors
    /// As [`CheckpointRepository::save_position`](crate::CheckpointRepository::save_position).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let write = waypost::CheckpointWrite::position("orders", 9, uuid::Uuid::new_v4(), "OrderPlaced")?;
    /// repo.transaction(move |tx| tx.write(&write)).await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(9));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn write(&self, write: &CheckpointWrite<'_>) -> Result<()> {
        write_on(self.tx, self.sql, write)
    }
}

impl SqliteRepository {
    /// Opens (creating if needed) the SQLite file at `path` and prepares the checkpoint
    /// table. `":memory:"` gives a private in-memory database.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad table or column name or a path with a NUL character;
    /// `Unavailable` when the file
    /// cannot be opened or stays locked; `Backend` for other SQLite failures.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// repo.save_position("orders", 1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// let memory = SqliteRepository::open(":memory:", SqliteOptions::default()).await?; // private, in memory
    /// # drop(memory);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(Error::invalid(format!("sqlite path {path:?} contains a NUL character")));
        }
        let sql = Arc::new(Sql::new(&options)?);
        let transactions =
            (path != Path::new(":memory:")).then(|| Arc::new(TxConnections::new(path.clone(), &options)));
        let (store, stopped) = Store::open(path, options, sql).await?;
        Ok(SqliteRepository { store: Arc::new(store), transactions, stopped: Mutex::new(Some(stopped)) })
    }

    /// The database file.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// assert!(repo.path().ends_with("app.db"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn path(&self) -> &Path {
        &self.store.path
    }

    /// The settings the connection actually runs with, read back from SQLite.
    ///
    /// # Errors
    /// `Unavailable` after [`close`](crate::CheckpointRepository::close).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// assert_eq!(repo.settings().await?.busy_timeout, std::time::Duration::from_secs(5));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn settings(&self) -> Result<SqliteSettings> {
        self.store
            .run(|c, _| {
                let read = |pragma: &str| {
                    c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                };
                let text = |v: rusqlite::types::Value| match v {
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                let synchronous = match read("synchronous").map_err(map_err)? {
                    rusqlite::types::Value::Integer(0) => "OFF".to_owned(),
                    rusqlite::types::Value::Integer(1) => "NORMAL".to_owned(),
                    rusqlite::types::Value::Integer(2) => "FULL".to_owned(),
                    rusqlite::types::Value::Integer(3) => "EXTRA".to_owned(),
                    other => text(other),
                };
                let busy: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).map_err(map_err)?;
                Ok(SqliteSettings {
                    journal_mode: text(read("journal_mode").map_err(map_err)?).to_lowercase(),
                    synchronous,
                    busy_timeout: Duration::from_millis(u64::try_from(busy).unwrap_or(0)),
                })
            })
            .await
    }

    /// Runs `f` in one transaction (`BEGIN IMMEDIATE`) on the repository's connection, on
    /// its SQLite thread: the caller's read-model writes and the checkpoint writes made
    /// through the [`SqliteTransaction`] commit together when `f` returns `Ok`, and roll
    /// back together when it returns `Err` (or panics). Exactly-once projections use this.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let event_id = uuid::Uuid::new_v4();
    /// repo.transaction(move |tx| {
    ///     tx.connection().execute_batch("CREATE TABLE IF NOT EXISTS totals (order_id INTEGER PRIMARY KEY, total INTEGER)")?;
    ///     tx.connection().execute("INSERT INTO totals VALUES (?1, ?2)", (42, 99))?;
    ///     tx.save_position("OrderTotals", 1001, event_id, "OrderPlaced")
    /// })
    /// .await?;
    /// assert_eq!(repo.get_position("OrderTotals").await?, Some(1001));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `f` returns (nothing is committed then); `Unavailable` when the file stays
    /// locked past the busy timeout; errors of the commit.
    pub async fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&SqliteTransaction<'_>) -> Result<R> + Send + 'static,
    {
        self.store
            .run(move |c, sql| {
                sql.guard(|| {
                    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_err)?;
                    let out = f(&SqliteTransaction { tx: &tx, sql })?;
                    tx.commit().map_err(map_err)?;
                    Ok(out)
                })
            })
            .await
    }
}

#[async_trait]
impl CheckpointStore for SqliteRepository {
    async fn write(&self, w: &Write<'_>) -> Result<()> {
        let (name, id, event_type, at) =
            (w.name.to_owned(), w.event_id.to_string(), w.event_type.to_owned(), time::isoformat(&w.at));
        let n = w.count;
        let store = &self.store;
        // One statement each, so the SQLite thread may commit it with the writes queued
        // beside it (`Store::write`).
        match w.mark {
            Mark::EventOnly => {
                store.write(move |c, s| exec(c, &s.cp.upsert_event, params![name, id, event_type, at, n])).await
            }
            Mark::Position(p) => {
                store.write(move |c, s| exec(c, &s.cp.upsert_position, params![name, id, event_type, at, p, n])).await
            }
            Mark::Token(t) => {
                let t = t.to_owned();
                store.write(move |c, s| exec(c, &s.cp.upsert_token, params![name, id, event_type, at, t, n])).await
            }
        }
    }

    async fn read_event_id(&self, name: Name<'_>) -> Result<Option<Uuid>> {
        let text: Option<String> = self.store.read_column(name, |s| &s.cp.get_event_id).await?;
        text.as_deref().map(parse_stored_id).transpose()
    }

    async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>> {
        self.store.read_column(name, |s| &s.cp.get_position).await
    }

    async fn read_token(&self, name: Name<'_>) -> Result<Option<String>> {
        self.store.read_column(name, |s| &s.cp.get_token).await
    }

    async fn statement(&self, w: &Write<'_>) -> Result<CheckpointStatement> {
        let cp = &self.store.sql.cp;
        let sql = match w.mark {
            Mark::EventOnly => &cp.upsert_event,
            Mark::Position(_) => &cp.upsert_position,
            Mark::Token(_) => &cp.upsert_token,
        };
        Ok(CheckpointStatement { sql: sql.clone(), params: crate::statement::params_of(w, false) })
    }

    async fn read_lag(&self, name: Name<'_>, types: EventTypes<'_>) -> Result<Option<LagMetrics>> {
        let name = name.as_str().to_owned();
        let types: Vec<String> = types.as_slice().to_vec();
        self.store
            .run(move |c, s| {
                let read_row = |c: &mut Connection| {
                    c.prepare_cached(&s.cp.get_row)
                        .and_then(|mut st| st.query_row([&name], row_to_data).optional())
                        .map_err(map_err)
                };
                // The checkpoint first, as eventsource-py: a name without one has no lag, even
                // when the events table is missing.
                let Some(row) = read_row(c)? else { return Ok(None) };
                let Some(ev) = &s.events else { return Ok(Some(lag::metrics(&row, None, None))) };
                let q = events_sql(ev);
                let read_latest = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
                let mut candidates: Vec<(String, String)> = Vec::new();
                let fetched: rusqlite::Result<()> = (|| {
                    if types.is_empty() {
                        candidates.extend(c.prepare_cached(&q.latest)?.query_row([], read_latest).optional()?);
                    } else {
                        // One indexed probe per type beats `IN (...) ORDER BY` in SQLite,
                        // which sorts every matching row. Without a (type, timestamp)
                        // index the newest events are looked through first.
                        let shape = match s.lag_shape.load(Ordering::Relaxed) {
                            LAG_UNKNOWN => {
                                // A missing table is not remembered: the read fails below.
                                let (exists, indexed) = has_lag_index(c, ev)?;
                                let shape = if indexed { LAG_PROBE } else { LAG_PLAIN };
                                if exists {
                                    s.lag_shape.store(shape, Ordering::Relaxed);
                                }
                                shape
                            }
                            known => known,
                        };
                        let mut st = c.prepare_cached(&q.latest_of_type)?;
                        for t in &types {
                            if shape == LAG_PLAIN {
                                let recent =
                                    c.prepare_cached(&q.recent_of_type)?.query_row([t], read_latest).optional()?;
                                if recent.is_some() {
                                    candidates.extend(recent);
                                    continue;
                                }
                            }
                            candidates.extend(st.query_row([t], read_latest).optional()?);
                        }
                    }
                    Ok(())
                })();
                fetched.map_err(|e| missing_events_table(map_err(e), ev))?;
                let mut latest: Option<LatestEvent> = None;
                for (event_id, ts) in candidates {
                    let timestamp = time::parse_timestamp(&ts)?;
                    if latest.as_ref().is_none_or(|l| timestamp > l.timestamp) {
                        latest = Some(LatestEvent { event_id, timestamp });
                    }
                }
                Ok(Some(lag::metrics(&row, latest, stream_head(c, ev)?)))
            })
            .await
    }

    async fn read_lag_all(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        self.store
            .run(move |c, s| {
                // One read transaction, so the rows, the newest event and the head agree.
                let tx = c.transaction().map_err(map_err)?;
                let rows: Vec<CheckpointData> = {
                    let mut st = tx.prepare_cached(&s.cp.list).map_err(map_err)?;
                    let rows = st.query_map([], row_to_data).map_err(map_err)?;
                    rows.collect::<rusqlite::Result<_>>().map_err(map_err)?
                };
                let (latest, head) = match (&s.events, rows.is_empty()) {
                    (Some(ev), false) => {
                        let read = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
                        let newest = tx
                            .prepare_cached(&events_sql(ev).latest)
                            .and_then(|mut st| st.query_row([], read).optional())
                            .map_err(|e| missing_events_table(map_err(e), ev))?;
                        let latest = match newest {
                            Some((event_id, ts)) => {
                                Some(LatestEvent { event_id, timestamp: time::parse_timestamp(&ts)? })
                            }
                            None => None,
                        };
                        (latest, stream_head(&tx, ev)?)
                    }
                    _ => (None, None),
                };
                let metrics = |row: CheckpointData| {
                    let m = lag::metrics(&row, latest.clone(), head);
                    (row, m)
                };
                Ok(rows.into_iter().map(metrics).collect())
            })
            .await
    }

    async fn delete(&self, name: Name<'_>) -> Result<()> {
        let name = name.as_str().to_owned();
        self.store.run(move |c, s| s.guard(|| exec(c, &s.cp.delete, params![name]))).await
    }

    async fn list(&self) -> Result<Vec<CheckpointData>> {
        self.store
            .run(|c, s| {
                let mut st = c.prepare_cached(&s.cp.list).map_err(map_err)?;
                let rows = st.query_map([], row_to_data).map_err(map_err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_err)
            })
            .await
    }

    async fn create_events(&self) -> Result<()> {
        self.store.sql.events()?;
        self.store
            .run(|c, s| {
                let ev = s.events()?;
                let (table, id, ty, ts) =
                    (ev.table.quoted(), ev.event_id.quoted(), ev.event_type.quoted(), ev.timestamp.quoted());
                let columns = match &ev.position {
                    Some(pos) => {
                        format!("{} INTEGER PRIMARY KEY AUTOINCREMENT, {id} TEXT NOT NULL UNIQUE", pos.quoted())
                    }
                    None => format!("{id} TEXT PRIMARY KEY"),
                };
                c.execute_batch(&format!(
                    "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS {table} ({columns}, {ty} TEXT NOT NULL, {ts} TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS {} ON {table} ({ts});
                 {};
                 COMMIT;",
                    ev.table.derived("timestamp_idx").quoted(),
                    lag_index_sql(ev)
                ))
                .map_err(|e| {
                    let _ = c.execute_batch("ROLLBACK");
                    map_err(e)
                })?;
                s.lag_shape.store(LAG_PROBE, Ordering::Relaxed);
                Ok(())
            })
            .await
    }

    async fn create_index(&self) -> Result<()> {
        self.store.sql.events()?;
        self.store
            .run(|c, s| {
                let ev = s.events()?;
                c.execute_batch(&lag_index_sql(ev)).map_err(|e| missing_events_table(map_err(e), ev))?;
                s.lag_shape.store(LAG_PROBE, Ordering::Relaxed);
                Ok(())
            })
            .await
    }

    async fn head(&self) -> Result<Option<i64>> {
        let Some(ev) = &self.store.sql.events else { return Ok(None) };
        if ev.position.is_none() {
            return Ok(None);
        }
        self.store
            .run(|c, s| {
                let ev = s.events()?;
                let pos = ev.position.as_ref().map(|p| p.quoted()).unwrap_or_default();
                c.prepare_cached(&format!("SELECT coalesce(max({pos}), 0) FROM {}", ev.table.quoted()))
                    .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                    .map(Some)
                    .map_err(|e| missing_events_table(map_err(e), ev))
            })
            .await
    }

    async fn append(&self, events: EventBatch<'_>) -> Result<()> {
        self.store.sql.events()?;
        let rows: Vec<(String, String, String)> = events
            .as_slice()
            .iter()
            .map(|e| (e.event_id.to_string(), e.event_type.clone(), time::isoformat(&e.timestamp)))
            .collect();
        self.store
            .run(move |c, s| {
                s.guard(|| {
                    let ev = s.events()?;
                    let insert = format!(
                        "INSERT INTO {} ({}, {}, {}) VALUES (?1, ?2, ?3)",
                        ev.table.quoted(),
                        ev.event_id.quoted(),
                        ev.event_type.quoted(),
                        ev.timestamp.quoted()
                    );
                    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_err)?;
                    {
                        let mut st = tx.prepare_cached(&insert).map_err(|e| missing_events_table(map_err(e), ev))?;
                        for (id, ty, ts) in &rows {
                            st.execute(params![id, ty, ts]).map_err(map_err)?;
                        }
                    }
                    tx.commit().map_err(map_err)
                })
            })
            .await
    }

    async fn shutdown(&self) -> Result<()> {
        self.store.close();
        if self.store.forked() {
            // Closed for this process only: the parent's connection stays as it is.
            return Ok(());
        }
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(transactions) = &self.transactions {
            transactions.close();
        }
        if let Some(stopped) = stopped {
            // The thread finishes the calls already queued, then closes the connection
            // (once the claims ledgers sharing it are gone too).
            let _ = stopped.await;
        }
        Ok(())
    }

    async fn open_transaction(&self) -> Result<Transaction> {
        self.store.check_origin()?;
        let connections = self.transactions.clone().ok_or_else(|| {
            Error::unsupported("an sqlite :memory: database has one connection and no transactions apart from it")
        })?;
        if !self.store.is_open() {
            return Err(closed());
        }
        let tx = SqliteTx::begin(self.store.sql.clone(), connections).await?;
        Ok(Transaction::new(Box::new(tx), format!("sqlite {}", self.store.path.display())))
    }

    fn open_claims(self: Arc<Self>, table: Identifier, max_retries: u32) -> Result<Arc<dyn ClaimStore>> {
        Ok(Arc::new(claims::SqliteClaims::new(self.store.clone(), &table, max_retries)))
    }
}

/// The largest position in the events table, when it has a position column.
fn stream_head(c: &Connection, ev: &EventsNames) -> Result<Option<i64>> {
    match &ev.position {
        Some(pos) => c
            .prepare_cached(&format!("SELECT max({}) FROM {}", pos.quoted(), ev.table.quoted()))
            .and_then(|mut st| st.query_row([], |r| r.get::<_, Option<i64>>(0)))
            .map_err(map_err),
        None => Ok(None),
    }
}
