//! The [`CheckpointRepository`] trait and its contract, and the [`CheckpointStore`] a
//! backend implements.
//!
//! A backend only stores and fetches: it implements [`CheckpointStore`], whose methods
//! take values that can only be built through validation ([`CheckpointWrite`], [`Name`],
//! [`EventTypes`], [`EventBatch`]). Every store is a [`CheckpointRepository`] through one
//! blanket implementation here, which validates each argument once, before any store
//! sees it.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::checkpoint::{CheckpointData, CheckpointWrite, EventBatch, EventTypes, LagMetrics, Name, NewEvent};
use crate::claims::{Checked, ClaimLedger, ClaimStore, ClaimsOptions};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::statement::{CheckpointStatement, StatementKind};
use crate::transaction::Transaction;

/// A store of projection checkpoints: the protocol of eventsource-py's
/// `CheckpointRepository`, in Rust.
///
/// # Contract
///
/// Every implementation in this crate behaves identically; the shared conformance cases
/// (`tests/conformance/cases`) pin each point.
///
/// - **Writes are UPSERTs.** [`update_checkpoint`](Self::update_checkpoint),
///   [`save_position`](Self::save_position) and
///   [`save_position_token`](Self::save_position_token) set the last event id, type and
///   `last_processed_at` (now, UTC, microseconds) and add 1 to `events_processed` (a
///   first write gives 1). `update_checkpoint` keeps any stored position and token;
///   `save_position` sets the integer position and keeps the token; `save_position_token`
///   sets the token and keeps the integer position.
/// - **Atomicity.** Each write is one atomic statement: it happened completely or not at
///   all, also when its future is dropped (cancelled) midway. A write that returned `Ok`
///   is durable (SQLite `synchronous=FULL`, PostgreSQL commit).
/// - **Concurrency.** Concurrent writes to one name, from tasks or processes, are
///   serialized by the store: N writes leave `events_processed` = N. The last write wins,
///   also for a smaller position.
/// - **Missing is `None`.** A name never written (or reset) reads `None` from every getter
///   and from [`get_lag_metrics`](Self::get_lag_metrics); position 0 reads `Some(0)`.
/// - **Reset** deletes the record; resetting an absent name is a no-op.
/// - **Ordering.** [`get_all_checkpoints`](Self::get_all_checkpoints) is ordered by name
///   in byte order on every backend.
/// - **Bad input** (empty, over-long or NUL-containing names and event types, negative
///   positions, bad tokens) is rejected with `InvalidArgument` before anything is written.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
///
/// let repo = MemoryRepository::new();
/// let id = uuid::Uuid::new_v4();
/// repo.save_position("orders", 1000, id, "OrderPlaced").await?;
/// assert_eq!(repo.get_position("orders").await?, Some(1000));
/// assert_eq!(repo.get_checkpoint("orders").await?, Some(id));
/// assert_eq!(repo.get_all_checkpoints().await?[0].events_processed, 1);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait CheckpointRepository: Send + Sync + std::fmt::Debug {
    /// The last processed event id of `projection_name`, or `None`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// assert_eq!(repo.get_checkpoint("orders").await?, None);
    /// repo.update_checkpoint("orders", id, "OrderPlaced").await?;
    /// assert_eq!(repo.get_checkpoint("orders").await?, Some(id));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_checkpoint(&self, projection_name: &str) -> Result<Option<Uuid>>;

    /// Records `event_id` as processed (UPSERT), keeping any stored position and token.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name or event type; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position("orders", 10, id, "OrderPlaced").await?;
    /// repo.update_checkpoint("orders", uuid::Uuid::new_v4(), "OrderShipped").await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(10), "the position is kept");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()>;

    /// The last saved global position of `subscription_id`, or `None`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// assert_eq!(repo.get_position("orders").await?, None, "not started");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_position(&self, subscription_id: &str) -> Result<Option<i64>>;

    /// Saves a global position (UPSERT), keeping any stored token.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name, event type or a negative position;
    /// `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position("orders", 1000, id, "OrderPlaced").await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(1000));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn save_position(&self, subscription_id: &str, position: i64, event_id: Uuid, event_type: &str)
        -> Result<()>;

    /// Saves a global position that covers `count` events at once (a batched
    /// checkpoint): like [`save_position`](Self::save_position), but `events_processed`
    /// grows by `count`. The protocol methods count 1 per call.
    ///
    /// The default implementation accepts only `count == 1`.
    ///
    /// # Errors
    /// As `save_position`; `InvalidArgument` for a count of 0.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position_covering("orders", 500, id, "OrderPlaced", 100).await?; // 100 events in one write
    /// assert_eq!(repo.get_all_checkpoints().await?[0].events_processed, 100);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn save_position_covering(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
        count: u32,
    ) -> Result<()> {
        match count {
            1 => self.save_position(subscription_id, position, event_id, event_type).await,
            0 => Err(Error::invalid("a checkpoint covers at least 1 event, got 0")),
            _ => Err(Error::unsupported(format!("{self:?} cannot save a checkpoint covering {count} events"))),
        }
    }

    /// The last saved opaque position token (a CDC log position, a cursor), or `None`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// assert_eq!(repo.get_position_token("cdc").await?, None);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_position_token(&self, subscription_id: &str) -> Result<Option<String>>;

    /// Saves an opaque position token (UPSERT), keeping any stored integer position.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name, event type or token (empty, over 4096
    /// characters, NUL); `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position_token("cdc", "0/16B3748", id, "Insert").await?;
    /// assert_eq!(repo.get_position_token("cdc").await?.as_deref(), Some("0/16B3748"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()>;

    /// How far behind `projection_name` is, or `None` when it has no checkpoint.
    ///
    /// `event_types` limits the "newest event" to those types (`None` or empty: all);
    /// the stream head always counts every event.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name or type; `NotFound` when the configured events
    /// table does not exist; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.append_events(&[NewEvent::now("OrderPlaced"), NewEvent::now("OrderShipped")]).await?;
    /// repo.save_position("orders", 1, id, "OrderPlaced").await?;
    /// let lag = repo.get_lag_metrics("orders", Some(&["OrderShipped".to_owned()])).await?.unwrap();
    /// assert_eq!(lag.events_behind, Some(1));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_lag_metrics(
        &self,
        projection_name: &str,
        event_types: Option<&[String]>,
    ) -> Result<Option<LagMetrics>>;

    /// Every checkpoint with its lag over all events, ordered by name in byte order: what
    /// [`progress_all`](crate::progress::progress_all) and `/metrics` read. The SQL stores
    /// answer in a fixed number of queries however many checkpoints there are (the
    /// newest event and the stream head are read once); the default asks
    /// [`get_lag_metrics`](Self::get_lag_metrics) for each checkpoint.
    ///
    /// # Errors
    /// `NotFound` when there are checkpoints and the events table does not exist;
    /// `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository};
    /// let repo = MemoryRepository::new();
    /// repo.save_position("orders", 5, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// let all = repo.get_all_lag_metrics().await?;
    /// assert_eq!((all[0].0.global_position, all[0].1.projection_name.as_str()), (Some(5), "orders"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_all_lag_metrics(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        let mut out = Vec::new();
        for record in self.get_all_checkpoints().await? {
            if let Some(metrics) = self.get_lag_metrics(&record.projection_name, None).await? {
                out.push((record, metrics));
            }
        }
        Ok(out)
    }

    /// Deletes the checkpoint of `projection_name`; a no-op when there is none.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position("orders", 5, id, "OrderPlaced").await?;
    /// repo.reset_checkpoint("orders").await?;
    /// assert_eq!(repo.get_position("orders").await?, None, "replays from the start");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn reset_checkpoint(&self, projection_name: &str) -> Result<()>;

    /// Every checkpoint, ordered by name in byte order.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position("b", 2, id, "T").await?;
    /// repo.save_position("a", 1, id, "T").await?;
    /// let names: Vec<_> = repo.get_all_checkpoints().await?.into_iter().map(|c| c.projection_name).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>>;

    /// Creates the configured events table in waypost's layout (global position, event
    /// id, type, timestamp) with the recommended lag index, if it does not exist.
    ///
    /// For demos, tests and embedded stores; an existing event store keeps its own table
    /// and may call [`create_lag_index`](Self::create_lag_index) instead.
    ///
    /// # Errors
    /// `Unsupported` when the repository has no events table; `Unavailable`/`Backend`
    /// from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};
    /// # let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// # let id = uuid::Uuid::new_v4();
    /// repo.create_events_table().await?; // eventsource-py's events layout
    /// repo.append_events(&[NewEvent::now("OrderPlaced")]).await?;
    /// assert_eq!(repo.stream_head().await?, Some(1));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn create_events_table(&self) -> Result<()> {
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// Creates the index that makes filtered lag queries fast on an existing events
    /// table: `(event_type, timestamp) INCLUDE (event_id)` on PostgreSQL,
    /// `(event_type, timestamp, event_id)` on SQLite.
    ///
    /// # Errors
    /// `NotFound` when the events table does not exist; `Unsupported` when the repository
    /// has no events table; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};
    /// # let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// # let id = uuid::Uuid::new_v4();
    /// repo.create_events_table().await?;
    /// repo.create_lag_index().await?; // (event_type, timestamp): type-filtered lag stays fast
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn create_lag_index(&self) -> Result<()> {
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// Appends events to the events table; global positions are assigned in order.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad event type; `NotFound` when the events table does not
    /// exist; `Unsupported` when the repository has no events table;
    /// `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// repo.append_events(&[NewEvent::now("OrderPlaced"), NewEvent::now("OrderPlaced")]).await?;
    /// assert_eq!(repo.stream_head().await?, Some(2));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn append_events(&self, events: &[NewEvent]) -> Result<()> {
        let _ = events;
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// The largest global position in the events table (0 when it is empty), or `None`
    /// when the repository has no events table or it has no position column.
    ///
    /// # Errors
    /// `NotFound` when the configured events table does not exist;
    /// `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// assert_eq!(repo.stream_head().await?, Some(0), "an empty stream");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn stream_head(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    /// Releases connections and threads. Later calls fail with `Unavailable`.
    ///
    /// # Errors
    /// `Backend` if the store failed while shutting down.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};
    /// # let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// # let id = uuid::Uuid::new_v4();
    /// repo.save_position("orders", 1, id, "T").await?;
    /// repo.close().await?;
    /// assert_eq!(repo.get_position("orders").await.unwrap_err().kind(), waypost::ErrorKind::Unavailable);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    /// The SQL and parameters of a checkpoint write on this store, to run inside the
    /// caller's own transaction with their own driver (see [`crate::statement`]). The
    /// checkpoint table is created first if missing.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name, event type, position or token; `Unsupported`
    /// for a store without SQL (memory).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};
    /// # let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// # let id = uuid::Uuid::new_v4();
    /// let kind = waypost::StatementKind::SavePosition(7);
    /// let statement = repo.checkpoint_statement("orders", id, "OrderPlaced", kind).await?;
    /// assert!(statement.sql.contains("projection_checkpoints"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn checkpoint_statement(
        &self,
        name: &str,
        event_id: Uuid,
        event_type: &str,
        kind: StatementKind,
    ) -> Result<CheckpointStatement> {
        let _ = (name, event_id, event_type, kind);
        Err(Error::unsupported(format!("{self:?} has no SQL statements")))
    }

    /// Opens a transaction on this store, in which the caller's own SQL and checkpoint
    /// writes commit together or not at all (see [`crate::transaction`]).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached or stays locked; `Unsupported`
    /// for a store without transactions (an SQLite `:memory:` database, whose one
    /// connection cannot hold a transaction apart from the repository's own calls).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};
    /// # let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// # let id = uuid::Uuid::new_v4();
    /// let tx = repo.begin().await?;
    /// tx.save_position("orders", 3, id, "OrderPlaced").await?;
    /// tx.commit().await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(3));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn begin(&self) -> Result<Transaction> {
        Err(Error::unsupported(format!("{self:?} has no transactions")))
    }

    /// The work-claims ledger in `options.table` of this store, sharing its connections
    /// (see [`crate::claims`]). The table is created on first use.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad table name or `max_retries`; `Unsupported` for a
    /// repository without claims.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
    /// # let repo = MemoryRepository::new();
    /// # let id = uuid::Uuid::new_v4();
    /// use std::sync::Arc;
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(repo);
    /// let ledger = repo.claims(waypost::ClaimsOptions::default())?;
    /// assert_eq!(ledger.stats().await?.total, 0);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    fn claims(self: Arc<Self>, options: ClaimsOptions) -> Result<Arc<dyn ClaimLedger>> {
        options.validate()?;
        Err(Error::unsupported(format!("{self:?} has no claims ledger")))
    }
}

/// What a backend implements: storing and fetching checkpoints, nothing else.
///
/// Every argument arrives validated: a write only as a [`CheckpointWrite`], a name only
/// as a [`Name`]. Implement this trait (not [`CheckpointRepository`]) for a store of
/// your own; the blanket implementation gives it the whole protocol, and the shared
/// conformance cases (`waypost::conformance`) check it behaves as the built-in stores.
///
/// The required methods are the protocol's storage; the provided ones answer
/// `Unsupported` (or `None`) for a store without an events table, SQL, transactions or
/// claims.
///
/// # Examples
/// A store of your own, here a map in memory: seven methods, and the shared cases run on it.
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
/// use waypost::{CheckpointData, CheckpointStore, CheckpointWrite, EventTypes, LagMetrics, Mark, Name, Result};
///
/// #[derive(Debug, Default)]
/// struct MapStore(Mutex<BTreeMap<String, CheckpointData>>);
///
/// #[async_trait::async_trait]
/// impl CheckpointStore for MapStore {
///     async fn write(&self, w: &CheckpointWrite<'_>) -> Result<()> {
///         let mut rows = self.0.lock().unwrap();
///         let row = rows.entry(w.name().to_owned()).or_insert_with(|| CheckpointData {
///             projection_name: w.name().to_owned(), last_event_id: None, last_event_type: None,
///             last_processed_at: None, events_processed: 0, global_position: None, position_token: None,
///         });
///         row.last_event_id = Some(w.event_id());
///         row.last_event_type = Some(w.event_type().to_owned());
///         row.last_processed_at = Some(w.at());
///         row.events_processed += w.count();
///         match w.mark() {
///             Mark::Position(p) => row.global_position = Some(p),
///             Mark::Token(t) => row.position_token = Some(t.to_owned()),
///             _ => {}
///         }
///         Ok(())
///     }
///     async fn read_event_id(&self, name: Name<'_>) -> Result<Option<uuid::Uuid>> {
///         Ok(self.0.lock().unwrap().get(name.as_str()).and_then(|r| r.last_event_id))
///     }
///     async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>> {
///         Ok(self.0.lock().unwrap().get(name.as_str()).and_then(|r| r.global_position))
///     }
///     async fn read_token(&self, name: Name<'_>) -> Result<Option<String>> {
///         Ok(self.0.lock().unwrap().get(name.as_str()).and_then(|r| r.position_token.clone()))
///     }
///     async fn read_lag(&self, name: Name<'_>, _types: EventTypes<'_>) -> Result<Option<LagMetrics>> {
///         let rows = self.0.lock().unwrap();
///         Ok(rows.get(name.as_str()).map(|r| LagMetrics {
///             projection_name: r.projection_name.clone(),
///             last_event_id: r.last_event_id.map(|u| u.to_string()),
///             latest_event_id: None,
///             lag_seconds: 0.0,
///             events_processed: r.events_processed,
///             last_processed_at: r.last_processed_at.as_ref().map(waypost::time::isoformat),
///             stream_head: None,
///             events_behind: None,
///         }))
///     }
///     async fn delete(&self, name: Name<'_>) -> Result<()> {
///         self.0.lock().unwrap().remove(name.as_str());
///         Ok(())
///     }
///     async fn list(&self) -> Result<Vec<CheckpointData>> {
///         Ok(self.0.lock().unwrap().values().cloned().collect())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::CheckpointRepository; // given by the blanket implementation, arguments checked
/// let store = MapStore::default();
/// store.save_position("orders", 7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(store.get_position("orders").await?, Some(7));
/// assert!(store.save_position("", 7, uuid::Uuid::new_v4(), "OrderPlaced").await.is_err(), "never reaches write");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait CheckpointStore: Send + Sync + std::fmt::Debug {
    /// Stores `write` as one atomic UPSERT (see the contract on [`CheckpointRepository`]).
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn write(&self, write: &CheckpointWrite<'_>) -> Result<()>;

    /// The stored last event id of `name`.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn read_event_id(&self, name: Name<'_>) -> Result<Option<Uuid>>;

    /// The stored global position of `name`.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>>;

    /// The stored position token of `name`.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn read_token(&self, name: Name<'_>) -> Result<Option<String>>;

    /// The lag of `name` over the events of `types`, or `None` without a checkpoint (even
    /// when the events table is missing).
    ///
    /// # Errors
    /// `NotFound` when the events table does not exist; `Unavailable`/`Backend`.
    async fn read_lag(&self, name: Name<'_>, types: EventTypes<'_>) -> Result<Option<LagMetrics>>;

    /// Every checkpoint with its lag over all events, ordered by name in byte order; by
    /// default [`list`](Self::list) then [`read_lag`](Self::read_lag) for each.
    ///
    /// # Errors
    /// As `read_lag`.
    async fn read_lag_all(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        let mut out = Vec::new();
        for record in self.list().await? {
            if let Some(metrics) = self.read_lag(Name::new(&record.projection_name)?, EventTypes::new(None)?).await? {
                out.push((record, metrics));
            }
        }
        Ok(out)
    }

    /// Deletes the checkpoint of `name`, if any.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn delete(&self, name: Name<'_>) -> Result<()>;

    /// Every checkpoint, ordered by name in byte order.
    ///
    /// # Errors
    /// `Unavailable`/`Backend` from the store.
    async fn list(&self) -> Result<Vec<CheckpointData>>;

    /// See [`CheckpointRepository::create_events_table`].
    ///
    /// # Errors
    /// `Unsupported` by default.
    async fn create_events(&self) -> Result<()> {
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// See [`CheckpointRepository::create_lag_index`].
    ///
    /// # Errors
    /// `Unsupported` by default.
    async fn create_index(&self) -> Result<()> {
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// See [`CheckpointRepository::append_events`].
    ///
    /// # Errors
    /// `Unsupported` by default.
    async fn append(&self, events: EventBatch<'_>) -> Result<()> {
        let _ = events;
        Err(Error::unsupported(format!("{self:?} has no events table")))
    }

    /// See [`CheckpointRepository::stream_head`]; `None` by default.
    ///
    /// # Errors
    /// `NotFound` when the events table does not exist; `Unavailable`/`Backend`.
    async fn head(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    /// See [`CheckpointRepository::close`].
    ///
    /// # Errors
    /// `Backend` if the store failed while shutting down.
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    /// The SQL and parameters of `write` on this store (see [`crate::statement`]).
    ///
    /// # Errors
    /// `Unsupported` by default.
    async fn statement(&self, write: &CheckpointWrite<'_>) -> Result<CheckpointStatement> {
        let _ = write;
        Err(Error::unsupported(format!("{self:?} has no SQL statements")))
    }

    /// See [`CheckpointRepository::begin`].
    ///
    /// # Errors
    /// `Unsupported` by default.
    async fn open_transaction(&self) -> Result<Transaction> {
        Err(Error::unsupported(format!("{self:?} has no transactions")))
    }

    /// The claims ledger in the validated `table`, with `max_retries` already checked; the
    /// repository puts the checks of every call in front of it.
    ///
    /// # Errors
    /// `Unsupported` by default.
    fn open_claims(self: Arc<Self>, table: Identifier, max_retries: u32) -> Result<Arc<dyn ClaimStore>> {
        let _ = (table, max_retries);
        Err(Error::unsupported(format!("{self:?} has no claims ledger")))
    }
}

/// The protocol, provided once for every store: each argument is validated here, then
/// the store is called.
#[async_trait]
impl<S: CheckpointStore> CheckpointRepository for S {
    async fn get_checkpoint(&self, projection_name: &str) -> Result<Option<Uuid>> {
        self.read_event_id(Name::new(projection_name)?).await
    }

    async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(&CheckpointWrite::event(projection_name, event_id, event_type)?).await
    }

    async fn get_position(&self, subscription_id: &str) -> Result<Option<i64>> {
        self.read_position(Name::new(subscription_id)?).await
    }

    async fn save_position(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(&CheckpointWrite::position(subscription_id, position, event_id, event_type)?).await
    }

    async fn save_position_covering(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
        count: u32,
    ) -> Result<()> {
        let write = CheckpointWrite::position(subscription_id, position, event_id, event_type)?.covering(count)?;
        self.write(&write).await
    }

    async fn get_position_token(&self, subscription_id: &str) -> Result<Option<String>> {
        self.read_token(Name::new(subscription_id)?).await
    }

    async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(&CheckpointWrite::token(subscription_id, token, event_id, event_type)?).await
    }

    async fn get_lag_metrics(
        &self,
        projection_name: &str,
        event_types: Option<&[String]>,
    ) -> Result<Option<LagMetrics>> {
        let name = Name::new(projection_name)?;
        self.read_lag(name, EventTypes::new(event_types)?).await
    }

    async fn get_all_lag_metrics(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        self.read_lag_all().await
    }

    async fn reset_checkpoint(&self, projection_name: &str) -> Result<()> {
        self.delete(Name::new(projection_name)?).await
    }

    async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>> {
        self.list().await
    }

    async fn create_events_table(&self) -> Result<()> {
        self.create_events().await
    }

    async fn create_lag_index(&self) -> Result<()> {
        self.create_index().await
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<()> {
        self.append(EventBatch::new(events)?).await
    }

    async fn stream_head(&self) -> Result<Option<i64>> {
        self.head().await
    }

    async fn close(&self) -> Result<()> {
        self.shutdown().await
    }

    async fn checkpoint_statement(
        &self,
        name: &str,
        event_id: Uuid,
        event_type: &str,
        kind: StatementKind,
    ) -> Result<CheckpointStatement> {
        self.statement(&CheckpointWrite::for_statement(name, event_id, event_type, &kind)?).await
    }

    async fn begin(&self) -> Result<Transaction> {
        self.open_transaction().await
    }

    fn claims(self: Arc<Self>, options: ClaimsOptions) -> Result<Arc<dyn ClaimLedger>> {
        let table = options.validate()?;
        Ok(Arc::new(Checked(self.open_claims(table, options.max_retries)?)))
    }
}
