//! Transactions owned by waypost: the caller's own read-model statements (with bound
//! parameters) and checkpoint writes in one database transaction, which commits both or
//! neither. This is what the Python and Node bindings offer as `repo.transaction()`; Rust
//! callers may also use it instead of bringing their own sqlx or rusqlite transaction.
//!
//! The rules, the same on every backend:
//!
//! - [`begin`](crate::CheckpointRepository::begin) opens the transaction (SQLite:
//!   `BEGIN IMMEDIATE` on a connection of its own, so the write lock is held from the
//!   start; PostgreSQL: a pooled connection's `BEGIN`; memory: a buffer).
//! - Placeholders are `$1, $2, …` on every backend (SQLite also takes `?`). Parameters
//!   are always bound, never pasted into the text. One statement per call.
//! - Checkpoint writes inside the transaction validate and count exactly as the
//!   repository's own; they become visible to other readers only at
//!   [`commit`](Transaction::commit).
//! - Bad input (an empty statement, a bad name or position) is refused with
//!   `InvalidArgument` before anything is sent, and the transaction stays open.
//! - Any error from the store rolls the whole transaction back and ends it (PostgreSQL
//!   aborts a transaction after an error anyway; waypost makes SQLite and memory do the
//!   same). So does a call whose future is dropped midway, and dropping the
//!   [`Transaction`] without committing.
//! - Calls after the end fail with `InvalidArgument`; `rollback` after the end is a no-op.
//! - The memory backend has no SQL: [`execute`](Transaction::execute) and
//!   [`fetch_all`](Transaction::fetch_all) are `Unsupported` there (the transaction stays
//!   open), and its checkpoint writes apply all together at commit or not at all.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use waypost::{CheckpointRepository, SqlValue};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let repo = waypost::open(&format!("sqlite:{}", dir.path().join("app.db").display())).await?;
//! let tx = repo.begin().await?;
//! tx.execute("CREATE TABLE totals (order_id INTEGER PRIMARY KEY, total INTEGER)", &[]).await?;
//! tx.execute("INSERT INTO totals VALUES ($1, $2)", &[SqlValue::Int(42), SqlValue::Int(99)]).await?;
//! tx.save_position("OrderTotals", 1001, uuid::Uuid::new_v4(), "OrderPlaced").await?;
//! tx.commit().await?; // both, or neither
//! assert_eq!(repo.get_position("OrderTotals").await?, Some(1001));
//! # Ok::<(), waypost::Error>(())
//! # }).unwrap();
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::checkpoint::{Mark, Write};
use crate::error::{Error, Result};

/// A parameter bound to, or a value read from, the caller's SQL.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let tx = repo.begin().await?;
/// tx.execute("CREATE TABLE totals (id TEXT PRIMARY KEY, total INTEGER, at TEXT)", &[]).await?;
/// let params = [SqlValue::Text("o-1".into()), SqlValue::Int(42), SqlValue::Timestamp(waypost::time::now())];
/// tx.execute("INSERT INTO totals VALUES ($1, $2, $3)", &params).await?;
/// tx.commit().await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A boolean (SQLite stores 1 or 0).
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes (`bytea`, `BLOB`).
    Bytes(Vec<u8>),
    /// A UUID (PostgreSQL `uuid`; SQLite stores its hyphenated text).
    Uuid(Uuid),
    /// A UTC timestamp (PostgreSQL `timestamptz`; SQLite stores ISO 8601 text, as
    /// waypost's own timestamps).
    Timestamp(DateTime<Utc>),
    /// A JSON document, as its text (PostgreSQL `jsonb`; SQLite stores the text).
    Json(String),
}

/// One result row: `(column name, value)` in column order.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let tx = repo.begin().await?;
/// let rows = tx.fetch_all("SELECT 7 AS n, 'x' AS s", &[]).await?;
/// assert_eq!(rows[0], vec![("n".to_owned(), SqlValue::Int(7)), ("s".to_owned(), SqlValue::Text("x".into()))]);
/// tx.rollback().await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub type SqlRow = Vec<(String, SqlValue)>;

/// What a backend does inside one open transaction. The [`Transaction`] around it owns
/// the rules (validation, ending on error); a backend only runs statements.
#[async_trait]
pub(crate) trait TxBackend: Send {
    /// Whether the store runs SQL (memory does not).
    fn runs_sql(&self) -> bool {
        true
    }
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64>;
    async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>>;
    async fn write(&mut self, w: Write<'_>) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// An open transaction on a repository; see the [module docs](self) for the rules.
///
/// Every method takes `&self`, so the transaction can be shared (an `Arc`) with the
/// code that runs inside it; calls are serialized.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let tx = repo.begin().await?;
/// tx.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)", &[]).await?;
/// tx.execute("INSERT INTO orders VALUES ($1)", &[SqlValue::Text("o-1".into())]).await?;
/// tx.save_position("Orders", 1, uuid::Uuid::new_v4(), "OrderPlaced").await?; // with the row, or not at all
/// tx.commit().await?;
/// assert_eq!(repo.get_position("Orders").await?, Some(1));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct Transaction {
    backend: Mutex<Option<Box<dyn TxBackend>>>,
    store: String,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.backend.try_lock().map(|b| b.is_some()).unwrap_or(true);
        f.debug_struct("Transaction").field("store", &self.store).field("open", &open).finish()
    }
}

enum Rows {
    Count(u64),
    All(Vec<SqlRow>),
}

fn ended() -> Error {
    Error::invalid("the transaction has ended (committed, rolled back, or failed and rolled back)")
}

fn check_sql(sql: &str) -> Result<()> {
    if sql.trim().is_empty() {
        return Err(Error::invalid("sql must not be empty"));
    }
    if sql.contains('\0') {
        return Err(Error::invalid("sql must not contain NUL"));
    }
    Ok(())
}

impl Transaction {
    pub(crate) fn new(backend: Box<dyn TxBackend>, store: impl Into<String>) -> Self {
        Transaction { backend: Mutex::new(Some(backend)), store: store.into() }
    }

    /// Runs one statement of the caller's (DDL or DML) and returns the number of rows it
    /// changed (or returned).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty statement or after the end; `Unsupported` on the
    /// memory store; the store's errors (`Conflict` for a violated constraint, `NotFound`
    /// for a missing table, `Backend` otherwise), which roll the transaction back.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.execute("CREATE TABLE t (n INTEGER)", &[]).await?;
    /// assert_eq!(tx.execute("INSERT INTO t VALUES (1), (2)", &[]).await?, 2);
    /// tx.commit().await?;
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        match self.run_sql(sql, params, false).await? {
            Rows::Count(n) => Ok(n),
            Rows::All(rows) => Ok(rows.len() as u64),
        }
    }

    /// Runs one query of the caller's and returns every row.
    ///
    /// # Errors
    /// As [`execute`](Self::execute); `Unsupported` also for a column of a type waypost
    /// does not convert (cast it in SQL, e.g. `::text`).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// let rows = tx.fetch_all("SELECT $1 + 1 AS next", &[SqlValue::Int(41)]).await?;
    /// assert_eq!(rows[0][0].1, SqlValue::Int(42));
    /// tx.rollback().await?;
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn fetch_all(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>> {
        match self.run_sql(sql, params, true).await? {
            Rows::All(rows) => Ok(rows),
            Rows::Count(_) => Err(Error::backend("the store answered a query with a count", None)),
        }
    }

    async fn run_sql(&self, sql: &str, params: &[SqlValue], fetch: bool) -> Result<Rows> {
        check_sql(sql)?;
        let mut slot = self.backend.lock().await;
        let mut backend = slot.take().ok_or_else(ended)?;
        if !backend.runs_sql() {
            *slot = Some(backend);
            return Err(Error::unsupported(format!("{} has no SQL", self.store)));
        }
        let outcome = match fetch {
            true => backend.fetch_all(sql, params).await.map(Rows::All),
            false => backend.execute(sql, params).await.map(Rows::Count),
        };
        settle(&mut slot, backend, outcome).await
    }

    /// [`save_position`](crate::CheckpointRepository::save_position) inside the transaction.
    ///
    /// # Errors
    /// As `save_position`; `InvalidArgument` after the end.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.save_position("Orders", 10, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// assert_eq!(repo.get_position("Orders").await?, None, "not before the commit");
    /// tx.commit().await?;
    /// assert_eq!(repo.get_position("Orders").await?, Some(10));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn save_position(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?).await
    }

    /// [`save_position_covering`](crate::CheckpointRepository::save_position_covering)
    /// inside the transaction: one write that counts `count` events.
    ///
    /// # Errors
    /// As `save_position`; `InvalidArgument` for a count of 0 or after the end.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.save_position_covering("Orders", 100, uuid::Uuid::new_v4(), "OrderPlaced", 25).await?; // a batch of 25
    /// tx.commit().await?;
    /// assert_eq!(repo.get_all_checkpoints().await?[0].events_processed, 25);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn save_position_covering(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
        count: u32,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?.covering(count)?).await
    }

    /// [`update_checkpoint`](crate::CheckpointRepository::update_checkpoint) inside the
    /// transaction.
    ///
    /// # Errors
    /// As `update_checkpoint`; `InvalidArgument` after the end.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// let id = uuid::Uuid::new_v4();
    /// tx.update_checkpoint("Orders", id, "OrderPlaced").await?;
    /// tx.commit().await?;
    /// assert_eq!(repo.get_checkpoint("Orders").await?, Some(id));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(projection_name, event_id, event_type, Mark::EventOnly)?).await
    }

    /// [`save_position_token`](crate::CheckpointRepository::save_position_token) inside
    /// the transaction.
    ///
    /// # Errors
    /// As `save_position_token`; `InvalidArgument` after the end.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.save_position_token("Cdc", "0/16B3748", uuid::Uuid::new_v4(), "Insert").await?;
    /// tx.commit().await?;
    /// assert_eq!(repo.get_position_token("Cdc").await?.as_deref(), Some("0/16B3748"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Token(token))?).await
    }

    async fn write(&self, w: Write<'_>) -> Result<()> {
        let mut slot = self.backend.lock().await;
        let mut backend = slot.take().ok_or_else(ended)?;
        let outcome = backend.write(w).await;
        settle(&mut slot, backend, outcome).await
    }

    /// Commits: every statement and checkpoint write of the transaction becomes durable
    /// and visible together. The transaction ends either way.
    ///
    /// # Errors
    /// `InvalidArgument` after the end; the store's errors (nothing was committed then).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.commit().await?;
    /// assert!(!tx.is_open());
    /// assert!(tx.commit().await.is_err(), "once");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn commit(&self) -> Result<()> {
        let backend = self.backend.lock().await.take().ok_or_else(ended)?;
        backend.commit().await
    }

    /// Rolls back: nothing of the transaction remains. A no-op after the end.
    ///
    /// # Errors
    /// The store's errors while rolling back (the transaction is gone all the same).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// tx.save_position("Orders", 1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// tx.rollback().await?;
    /// assert_eq!(repo.get_position("Orders").await?, None);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn rollback(&self) -> Result<()> {
        match self.backend.lock().await.take() {
            Some(backend) => backend.rollback().await,
            None => Ok(()),
        }
    }

    /// Whether the transaction is still open (neither committed, rolled back nor failed).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{transaction::SqlValue, CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let tx = repo.begin().await?;
    /// assert!(tx.is_open());
    /// tx.rollback().await?;
    /// assert!(!tx.is_open());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn is_open(&self) -> bool {
        self.backend.try_lock().map(|b| b.is_some()).unwrap_or(true)
    }
}

/// Puts the backend back after a successful call; after a failed one, rolls back and
/// leaves the transaction ended.
async fn settle<T>(
    slot: &mut Option<Box<dyn TxBackend>>,
    backend: Box<dyn TxBackend>,
    outcome: Result<T>,
) -> Result<T> {
    match outcome {
        Ok(value) => {
            *slot = Some(backend);
            Ok(value)
        }
        Err(e) => {
            // The store's error is the one worth reporting; a failed rollback ends the
            // transaction all the same (the connection is dropped).
            let _ = backend.rollback().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckpointRepository;
    use std::sync::Arc;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn memory_transactions_apply_all_or_nothing() {
        block_on(async {
            let repo = Arc::new(crate::MemoryRepository::new());
            let tx = repo.begin().await.unwrap();
            tx.save_position("a", 1, Uuid::new_v4(), "T").await.unwrap();
            tx.save_position("a", 2, Uuid::new_v4(), "T").await.unwrap();
            tx.update_checkpoint("b", Uuid::new_v4(), "T").await.unwrap();
            assert_eq!(repo.get_position("a").await.unwrap(), None, "nothing before the commit");
            let err = tx.save_position("a", -1, Uuid::new_v4(), "T").await.unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert!(tx.is_open(), "bad input leaves the transaction open");
            tx.commit().await.unwrap();
            assert!(!tx.is_open());
            assert_eq!(repo.get_position("a").await.unwrap(), Some(2));
            assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 2);

            let tx = repo.begin().await.unwrap();
            tx.save_position("a", 3, Uuid::new_v4(), "T").await.unwrap();
            tx.rollback().await.unwrap();
            tx.rollback().await.unwrap();
            assert_eq!(tx.commit().await.unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
            assert_eq!(repo.get_position("a").await.unwrap(), Some(2));

            let tx = repo.begin().await.unwrap();
            tx.save_position("a", 4, Uuid::new_v4(), "T").await.unwrap();
            drop(tx);
            assert_eq!(repo.get_position("a").await.unwrap(), Some(2), "a dropped transaction rolls back");
        });
    }

    #[test]
    fn empty_sql_is_refused_before_the_store() {
        block_on(async {
            let repo = Arc::new(crate::MemoryRepository::new());
            let tx = repo.begin().await.unwrap();
            assert_eq!(tx.execute("  ", &[]).await.unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
            assert_eq!(tx.execute("SELECT 1", &[]).await.unwrap_err().kind(), crate::ErrorKind::Unsupported);
            assert!(tx.is_open());
        });
    }
}
