//! waypost for Node: a native repository class over the Rust core. Methods convert
//! their arguments, call the core, and map results; errors carry their kind as a
//! `"Kind: message"` prefix that `index.js` turns into the matching error class.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use chrono::{DateTime, Utc};
use napi::bindgen_prelude::Either;
use napi::Result;
use napi_derive::napi;
use waypost::{
    CheckpointRepository, EventsTable, MemoryRepository, NewEvent, PostgresOptions as CorePostgresOptions,
    PostgresRepository, SqliteOptions as CoreSqliteOptions, SqliteRepository, Target,
};

/// The JS error for a core error: `"Kind: message"`, read back by `index.js`.
fn to_js_err(err: waypost::Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {err}", err.kind()))
}

fn invalid(message: String) -> napi::Error {
    to_js_err(waypost::Error::InvalidArgument { message })
}

fn event_id(text: &str) -> Result<uuid::Uuid> {
    waypost::parse_event_id(text).map_err(to_js_err)
}

/// A JS number as a position: an integer within the safe range, then the core's rule.
fn position(value: f64) -> Result<i64> {
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(invalid(format!("position must be an integer, got {value}")));
    }
    if value.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid(format!("position {value} is beyond Number.MAX_SAFE_INTEGER")));
    }
    waypost::position_from_i128(value as i128).map_err(to_js_err)
}

fn seconds(name: &str, ms: Option<f64>, default: Duration) -> Result<Duration> {
    match ms {
        None => Ok(default),
        Some(ms) => Duration::try_from_secs_f64(ms / 1000.0)
            .map_err(|_| invalid(format!("{name} must be a non-negative number of milliseconds, got {ms}"))),
    }
}

/// One projection's stored checkpoint.
#[napi(object)]
pub struct CheckpointData {
    pub projection_name: String,
    pub last_event_id: Option<String>,
    pub last_event_type: Option<String>,
    pub last_processed_at: Option<DateTime<Utc>>,
    pub events_processed: i64,
    pub global_position: Option<i64>,
    pub position_token: Option<String>,
}

impl From<waypost::CheckpointData> for CheckpointData {
    fn from(c: waypost::CheckpointData) -> Self {
        CheckpointData {
            projection_name: c.projection_name,
            last_event_id: c.last_event_id.map(|u| u.to_string()),
            last_event_type: c.last_event_type,
            last_processed_at: c.last_processed_at,
            events_processed: c.events_processed,
            global_position: c.global_position,
            position_token: c.position_token,
        }
    }
}

/// How far behind a projection is.
#[napi(object)]
pub struct LagMetrics {
    pub projection_name: String,
    pub last_event_id: Option<String>,
    pub latest_event_id: Option<String>,
    pub lag_seconds: f64,
    pub events_processed: i64,
    pub last_processed_at: Option<String>,
    pub stream_head: Option<i64>,
    pub events_behind: Option<i64>,
}

impl From<waypost::LagMetrics> for LagMetrics {
    fn from(m: waypost::LagMetrics) -> Self {
        LagMetrics {
            projection_name: m.projection_name,
            last_event_id: m.last_event_id,
            latest_event_id: m.latest_event_id,
            lag_seconds: m.lag_seconds,
            events_processed: m.events_processed,
            last_processed_at: m.last_processed_at,
            stream_head: m.stream_head,
            events_behind: m.events_behind,
        }
    }
}

/// An event to append: its id, type, and time (now when absent): a `Date`, or ISO 8601
/// text when microseconds matter.
#[napi(object)]
pub struct NewEventInput {
    pub event_id: String,
    pub event_type: String,
    pub timestamp: Option<Either<DateTime<Utc>, String>>,
}

/// Where lag queries find events; `eventsTable: false` turns them into placeholders.
#[napi(object)]
pub struct EventsTableOptions {
    pub events_table: Option<Either<String, bool>>,
    pub events_schema: Option<String>,
    pub event_id_column: Option<String>,
    pub event_type_column: Option<String>,
    pub timestamp_column: Option<String>,
    pub position_column: Option<Either<String, bool>>,
}

/// Options of `SqliteCheckpointRepository.open`.
#[napi(object)]
pub struct SqliteOptions {
    pub table: Option<String>,
    pub events: Option<EventsTableOptions>,
    pub create_schema: Option<bool>,
    pub busy_timeout_ms: Option<f64>,
    pub synchronous: Option<String>,
}

/// Options of `PostgresCheckpointRepository.connect`.
#[napi(object)]
pub struct PostgresOptions {
    pub schema: Option<String>,
    pub table: Option<String>,
    pub events: Option<EventsTableOptions>,
    pub create_schema: Option<bool>,
    pub pool_size: Option<u32>,
    pub connect_timeout_ms: Option<f64>,
}

fn events_table(options: Option<EventsTableOptions>) -> Result<Option<EventsTable>> {
    let Some(o) = options else { return Ok(Some(EventsTable::default())) };
    let mut table = EventsTable::default();
    match o.events_table {
        Some(Either::B(false)) => return Ok(None),
        Some(Either::B(true)) | None => {}
        Some(Either::A(name)) => table.table = name,
    }
    table.schema = o.events_schema;
    if let Some(c) = o.event_id_column {
        table.event_id_column = c;
    }
    if let Some(c) = o.event_type_column {
        table.event_type_column = c;
    }
    if let Some(c) = o.timestamp_column {
        table.timestamp_column = c;
    }
    match o.position_column {
        Some(Either::B(false)) => table.position_column = None,
        Some(Either::B(true)) | None => {}
        Some(Either::A(c)) => table.position_column = Some(c),
    }
    Ok(Some(table))
}

/// What `checkpointStatement` needs besides the kind: the position or the token.
#[napi(object)]
pub struct StatementOptions {
    pub position: Option<f64>,
    pub token: Option<String>,
}

/// A checkpoint write as SQL text and parameters (node-postgres' `{ text, values }`).
#[napi(object)]
pub struct CheckpointStatement {
    pub text: String,
    pub values: Vec<Either<String, i64>>,
}

/// A checkpoint repository; `index.js` wraps it in the documented classes.
#[napi]
pub struct NativeRepository {
    inner: Arc<dyn CheckpointRepository>,
    /// The in-memory repository answers every call on the spot (`*Sync` methods).
    memory: bool,
}

impl NativeRepository {
    fn new(inner: Arc<dyn CheckpointRepository>) -> Self {
        NativeRepository { inner, memory: false }
    }

    /// Completes a call of the in-memory repository right here: its futures never wait,
    /// so the hop to napi's runtime and back (tens of microseconds) is saved.
    fn at_once<T>(&self, future: impl Future<Output = waypost::Result<T>>) -> Result<T> {
        if !self.memory {
            return Err(napi::Error::from_reason("Unsupported: only the in-memory repository answers synchronously"));
        }
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result.map_err(to_js_err),
            Poll::Pending => Err(napi::Error::from_reason("Backend: the in-memory repository did not answer at once")),
        }
    }
}

#[napi]
impl NativeRepository {
    /// A repository in process memory.
    #[napi(factory)]
    pub fn memory() -> Self {
        NativeRepository { inner: Arc::new(MemoryRepository::new()), memory: true }
    }

    #[napi]
    pub async fn get_checkpoint(&self, projection_name: String) -> Result<Option<String>> {
        let id = self.inner.get_checkpoint(&projection_name).await.map_err(to_js_err)?;
        Ok(id.map(|u| u.to_string()))
    }

    #[napi]
    pub async fn update_checkpoint(&self, projection_name: String, event_id: String, event_type: String) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.inner.update_checkpoint(&projection_name, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_position(&self, subscription_id: String) -> Result<Option<i64>> {
        self.inner.get_position(&subscription_id).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn save_position(
        &self,
        subscription_id: String,
        position: f64,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
        self.inner.save_position(&subscription_id, position, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_position_token(&self, subscription_id: String) -> Result<Option<String>> {
        self.inner.get_position_token(&subscription_id).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn save_position_token(
        &self,
        subscription_id: String,
        token: String,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.inner.save_position_token(&subscription_id, &token, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_lag_metrics(
        &self,
        projection_name: String,
        event_types: Option<Vec<String>>,
    ) -> Result<Option<LagMetrics>> {
        let metrics = self.inner.get_lag_metrics(&projection_name, event_types.as_deref()).await.map_err(to_js_err)?;
        Ok(metrics.map(LagMetrics::from))
    }

    #[napi]
    pub async fn reset_checkpoint(&self, projection_name: String) -> Result<()> {
        self.inner.reset_checkpoint(&projection_name).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>> {
        let all = self.inner.get_all_checkpoints().await.map_err(to_js_err)?;
        Ok(all.into_iter().map(CheckpointData::from).collect())
    }

    #[napi]
    pub async fn create_events_table(&self) -> Result<()> {
        self.inner.create_events_table().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn create_lag_index(&self) -> Result<()> {
        self.inner.create_lag_index().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn append_events(&self, events: Vec<NewEventInput>) -> Result<()> {
        let mut converted = Vec::with_capacity(events.len());
        for e in events {
            converted.push(NewEvent {
                event_id: self::event_id(&e.event_id)?,
                event_type: e.event_type,
                timestamp: match e.timestamp {
                    None => waypost::time::now(),
                    Some(Either::A(date)) => date,
                    Some(Either::B(text)) => waypost::time::parse_timestamp(&text)
                        .map_err(|_| invalid(format!("timestamp {text:?} is not ISO 8601")))?,
                },
            });
        }
        self.inner.append_events(&converted).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.inner.close().await.map_err(to_js_err)
    }

    /// The SQL and parameters of a checkpoint write, for the caller's own driver and
    /// transaction: ids and timestamps as text, numbers as numbers.
    #[napi]
    pub async fn checkpoint_statement(
        &self,
        kind: String,
        name: String,
        event_id: String,
        event_type: String,
        options: Option<StatementOptions>,
    ) -> Result<CheckpointStatement> {
        use waypost::{StatementKind, StatementParam};
        let (position, token) = options.map_or((None, None), |o| (o.position, o.token));
        let kind = match (kind.as_str(), position, token) {
            ("savePosition", Some(p), None) => StatementKind::SavePosition(self::position(p)?),
            ("updateCheckpoint", None, None) => StatementKind::UpdateCheckpoint,
            ("savePositionToken", None, Some(t)) => StatementKind::SavePositionToken(t),
            (k, _, _) => {
                return Err(invalid(format!(
                    "kind {k:?} takes: savePosition (with position), updateCheckpoint, savePositionToken (with token)"
                )))
            }
        };
        let id = self::event_id(&event_id)?;
        let stmt = self.inner.checkpoint_statement(&name, id, &event_type, kind).await.map_err(to_js_err)?;
        let values = stmt
            .params
            .into_iter()
            .map(|p| match p {
                StatementParam::Text(t) => Either::A(t),
                StatementParam::Int(i) => Either::B(i),
                StatementParam::Uuid(u) => Either::A(u.to_string()),
                StatementParam::Timestamp(t) => Either::A(waypost::time::rfc3339(&t)),
            })
            .collect();
        Ok(CheckpointStatement { text: stmt.sql, values })
    }

    /// A description that names the store without credentials.
    #[napi]
    pub fn describe(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The same calls answered synchronously, for the in-memory repository only; `index.js`
/// wraps each in an `async` method, so callers see Promises either way.
#[napi]
impl NativeRepository {
    #[napi]
    pub fn get_checkpoint_sync(&self, projection_name: String) -> Result<Option<String>> {
        Ok(self.at_once(self.inner.get_checkpoint(&projection_name))?.map(|u| u.to_string()))
    }

    #[napi]
    pub fn update_checkpoint_sync(&self, projection_name: String, event_id: String, event_type: String) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.at_once(self.inner.update_checkpoint(&projection_name, id, &event_type))
    }

    #[napi]
    pub fn get_position_sync(&self, subscription_id: String) -> Result<Option<i64>> {
        self.at_once(self.inner.get_position(&subscription_id))
    }

    #[napi]
    pub fn save_position_sync(
        &self,
        subscription_id: String,
        position: f64,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
        self.at_once(self.inner.save_position(&subscription_id, position, id, &event_type))
    }

    #[napi]
    pub fn get_position_token_sync(&self, subscription_id: String) -> Result<Option<String>> {
        self.at_once(self.inner.get_position_token(&subscription_id))
    }

    #[napi]
    pub fn save_position_token_sync(
        &self,
        subscription_id: String,
        token: String,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.at_once(self.inner.save_position_token(&subscription_id, &token, id, &event_type))
    }

    #[napi]
    pub fn get_lag_metrics_sync(
        &self,
        projection_name: String,
        event_types: Option<Vec<String>>,
    ) -> Result<Option<LagMetrics>> {
        Ok(self.at_once(self.inner.get_lag_metrics(&projection_name, event_types.as_deref()))?.map(LagMetrics::from))
    }

    #[napi]
    pub fn reset_checkpoint_sync(&self, projection_name: String) -> Result<()> {
        self.at_once(self.inner.reset_checkpoint(&projection_name))
    }

    #[napi]
    pub fn get_all_checkpoints_sync(&self) -> Result<Vec<CheckpointData>> {
        Ok(self.at_once(self.inner.get_all_checkpoints())?.into_iter().map(CheckpointData::from).collect())
    }
}

/// Opens (creating if needed) an SQLite file.
#[napi]
pub async fn open_sqlite(path: String, options: Option<SqliteOptions>) -> Result<NativeRepository> {
    let path = match waypost::parse_url(&path) {
        Ok(Target::Sqlite(p)) => p.to_owned(),
        _ if path.starts_with("sqlite:") => return Err(invalid(format!("{path:?} is not an sqlite url"))),
        _ => path,
    };
    let o = options.unwrap_or(SqliteOptions {
        table: None,
        events: None,
        create_schema: None,
        busy_timeout_ms: None,
        synchronous: None,
    });
    let synchronous_full = match o.synchronous.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("FULL") => true,
        Some("NORMAL") => false,
        Some(other) => return Err(invalid(format!("synchronous must be \"FULL\" or \"NORMAL\", got {other:?}"))),
    };
    let defaults = CoreSqliteOptions::default();
    let options = CoreSqliteOptions {
        table: o.table.unwrap_or(defaults.table),
        events_table: events_table(o.events)?,
        create_schema: o.create_schema.unwrap_or(true),
        busy_timeout: seconds("busyTimeoutMs", o.busy_timeout_ms, defaults.busy_timeout)?,
        synchronous_full,
        // napi runs these calls as tasks of its multi-thread runtime: in place is allowed.
        block_in_place: true,
        inline_reads: false,
    };
    let repo = SqliteRepository::open(path, options).await.map_err(to_js_err)?;
    Ok(NativeRepository::new(Arc::new(repo)))
}

/// Prepares a PostgreSQL repository; it connects on the first call.
#[napi]
pub async fn connect_postgres(url: String, options: Option<PostgresOptions>) -> Result<NativeRepository> {
    let o = options.unwrap_or(PostgresOptions {
        schema: None,
        table: None,
        events: None,
        create_schema: None,
        pool_size: None,
        connect_timeout_ms: None,
    });
    let defaults = CorePostgresOptions::default();
    let options = CorePostgresOptions {
        schema: o.schema.unwrap_or(defaults.schema),
        table: o.table.unwrap_or(defaults.table),
        events_table: events_table(o.events)?,
        create_schema: o.create_schema.unwrap_or(true),
        max_connections: o.pool_size.unwrap_or(defaults.max_connections),
        connect_timeout: seconds("connectTimeoutMs", o.connect_timeout_ms, defaults.connect_timeout)?,
    };
    let repo = PostgresRepository::connect(&url, options).await.map_err(to_js_err)?;
    Ok(NativeRepository::new(Arc::new(repo)))
}

/// Passes the core's warnings (a checkpointer dropped unsaved, the claims fallback, a
/// claim lost) to `onWarning(code, message)` on the JS thread; `index.js` calls it once
/// with `process.emitWarning`. Weak: it never keeps the process alive. `false` when
/// this process already forwards them.
#[napi]
pub fn forward_warnings(on_warning: napi::bindgen_prelude::Function<(String, String), ()>) -> Result<bool> {
    let on_warning = on_warning.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
    Ok(waypost::diagnostics::forward_to(move |d| {
        on_warning.call((d.code, d.message), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
    }))
}

/// Which class a URL opens: `"memory"`, `"sqlite"` or `"postgres"`.
#[napi]
pub fn repository_kind(url: String) -> Result<String> {
    Ok(match waypost::parse_url(&url).map_err(to_js_err)? {
        Target::Memory => "memory",
        Target::Sqlite(_) => "sqlite",
        Target::Postgres(_) => "postgres",
        _ => return Err(invalid(format!("unsupported repository url {url:?}"))),
    }
    .to_owned())
}

/// Options of `new CheckpointManager(store, options)`.
#[napi(object)]
pub struct ManagerOptions {
    pub worker_id: Option<String>,
    pub max_retries: Option<u32>,
    pub lease_ms: Option<f64>,
    pub fallback_to_memory: Option<bool>,
    pub table: Option<String>,
}

/// What a worker reports when it completes a file.
#[napi(object)]
pub struct FileStats {
    pub total_rows: Option<f64>,
    pub filtered_rows: Option<f64>,
    pub persisted_rows: Option<f64>,
    pub duration_ms: Option<f64>,
}

/// How many items stand where, counted in the store.
#[napi(object)]
pub struct ClaimStats {
    pub total: i64,
    pub processing: i64,
    pub completed: i64,
    pub failed: i64,
}

impl From<waypost::ClaimCounts> for ClaimStats {
    fn from(c: waypost::ClaimCounts) -> Self {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        ClaimStats { total: n(c.total), processing: n(c.processing), completed: n(c.completed), failed: n(c.failed) }
    }
}

/// A JS number as a count: an integer (the core rejects negatives).
fn count(name: &str, value: Option<f64>) -> Result<i64> {
    let value = value.unwrap_or(0.0);
    if !value.is_finite() || value.fract() != 0.0 || value.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid(format!("{name} must be an integer, got {value}")));
    }
    Ok(value as i64)
}

/// Per-item work claims over a repository's store: the core's `ClaimManager`, built on
/// the first call (it reaches the store and starts the heartbeat).
#[napi]
pub struct NativeManager {
    repo: Arc<dyn CheckpointRepository>,
    options: waypost::ManagerOptions,
    manager: Arc<tokio::sync::OnceCell<Arc<waypost::ClaimManager>>>,
}

impl NativeManager {
    async fn manager(&self) -> Result<Arc<waypost::ClaimManager>> {
        let (repo, options) = (self.repo.clone(), self.options.clone());
        let m = self
            .manager
            .get_or_try_init(|| async { waypost::ClaimManager::new(repo, options).await.map(Arc::new) })
            .await
            .map_err(to_js_err)?;
        Ok(m.clone())
    }
}

#[napi]
impl NativeManager {
    #[napi(constructor)]
    pub fn new(store: &NativeRepository, options: Option<ManagerOptions>) -> Result<Self> {
        let o = options.unwrap_or(ManagerOptions {
            worker_id: None,
            max_retries: None,
            lease_ms: None,
            fallback_to_memory: None,
            table: None,
        });
        let defaults = waypost::ManagerOptions::default();
        let options = waypost::ManagerOptions {
            worker_id: Some(o.worker_id.unwrap_or_else(waypost::manager::default_worker_id)),
            max_retries: o.max_retries.unwrap_or(defaults.max_retries),
            lease: seconds("leaseMs", o.lease_ms, defaults.lease)?,
            fallback_to_memory: o.fallback_to_memory.unwrap_or(false),
            table: o.table.unwrap_or(defaults.table),
        };
        options.validate().map_err(to_js_err)?;
        Ok(NativeManager { repo: store.inner.clone(), options, manager: Arc::new(tokio::sync::OnceCell::new()) })
    }

    #[napi]
    pub async fn claim_file(&self, url: String, file_type: String, timestamp: DateTime<Utc>) -> Result<bool> {
        self.manager().await?.claim_file(&url, &file_type, timestamp).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn complete_file(&self, url: String, stats: Option<FileStats>) -> Result<()> {
        let s = stats.unwrap_or(FileStats {
            total_rows: None,
            filtered_rows: None,
            persisted_rows: None,
            duration_ms: None,
        });
        let stats = waypost::ItemStats {
            records_total: count("totalRows", s.total_rows)?,
            records_filtered: count("filteredRows", s.filtered_rows)?,
            records_persisted: count("persistedRows", s.persisted_rows)?,
            processing_time_ms: count("durationMs", s.duration_ms)?,
        };
        self.manager().await?.complete_file(&url, stats).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn fail_file(&self, url: String, message: String) -> Result<()> {
        self.manager().await?.fail_file(&url, &message).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn release_file(&self, url: String) -> Result<()> {
        self.manager().await?.release_file(&url).await.map_err(to_js_err)
    }

    /// Calls `onLost("LeaseLost: …")` once if this worker's claim on `url` is lost in the
    /// background. The callback is weak: it never keeps the process alive. `false` when
    /// no claim on `url` is held.
    #[napi]
    pub fn watch_lease(&self, url: String, on_lost: napi::bindgen_prelude::Function<String, ()>) -> Result<bool> {
        let Some(watch) = self.manager.get().and_then(|m| m.lease_watch(&url)) else { return Ok(false) };
        let on_lost = on_lost.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
        napi::bindgen_prelude::spawn(async move {
            if let Some(lost) = watch.lost().await {
                on_lost.call(
                    format!("{}: {lost}", lost.kind()),
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        });
        Ok(true)
    }

    #[napi]
    pub async fn is_processed(&self, url: String) -> Result<bool> {
        self.manager().await?.is_processed(&url).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_stats(&self) -> Result<ClaimStats> {
        self.manager().await?.stats().await.map(ClaimStats::from).map_err(to_js_err)
    }

    #[napi]
    pub fn worker_id(&self) -> String {
        self.options.worker_id.clone().unwrap_or_default()
    }

    /// `"store"`, or `"memory"` after a fallback.
    #[napi]
    pub fn mode(&self) -> String {
        self.manager.get().map_or("store", |m| m.mode().as_str()).to_owned()
    }

    /// The fallback notice, once.
    #[napi]
    pub fn take_warning(&self) -> Option<String> {
        self.manager.get().and_then(|m| m.take_warning())
    }

    #[napi]
    pub async fn close(&self) -> Result<()> {
        match self.manager.get() {
            Some(m) => m.close().await.map_err(to_js_err),
            None => Ok(()),
        }
    }
}

/// A claim: what `ClaimLedger.claim` returns and the other calls take back.
#[napi(object)]
pub struct Claim {
    pub key: String,
    pub worker_id: String,
    pub epoch: i64,
    pub attempt: u32,
    pub lease_expires_at: DateTime<Utc>,
}

impl From<waypost::Claim> for Claim {
    fn from(c: waypost::Claim) -> Self {
        Claim {
            key: c.key,
            worker_id: c.worker_id,
            epoch: c.epoch,
            attempt: c.attempt,
            lease_expires_at: c.lease_expires_at,
        }
    }
}

impl From<Claim> for waypost::Claim {
    fn from(c: Claim) -> Self {
        waypost::Claim {
            key: c.key,
            worker_id: c.worker_id,
            epoch: c.epoch,
            attempt: c.attempt,
            lease_expires_at: c.lease_expires_at,
        }
    }
}

/// What a completing worker reported.
#[napi(object)]
pub struct ItemStats {
    pub records_total: Option<f64>,
    pub records_filtered: Option<f64>,
    pub records_persisted: Option<f64>,
    pub processing_time_ms: Option<f64>,
}

impl ItemStats {
    fn to_core(&self) -> Result<waypost::ItemStats> {
        Ok(waypost::ItemStats {
            records_total: count("recordsTotal", self.records_total)?,
            records_filtered: count("recordsFiltered", self.records_filtered)?,
            records_persisted: count("recordsPersisted", self.records_persisted)?,
            processing_time_ms: count("processingTimeMs", self.processing_time_ms)?,
        })
    }
}

/// One item's whole record.
#[napi(object)]
pub struct ClaimRecord {
    pub key: String,
    pub item_type: String,
    pub item_timestamp: DateTime<Utc>,
    pub status: String,
    pub retry_count: u32,
    pub worker_id: Option<String>,
    pub epoch: i64,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub error_message: Option<String>,
    pub stats: Option<ItemStats>,
}

impl From<waypost::ClaimRecord> for ClaimRecord {
    fn from(r: waypost::ClaimRecord) -> Self {
        let n = |v: i64| Some(v as f64);
        ClaimRecord {
            key: r.key,
            item_type: r.item_type,
            item_timestamp: r.item_timestamp,
            status: r.status.as_str().to_owned(),
            retry_count: r.retry_count,
            worker_id: r.worker_id,
            epoch: r.epoch,
            lease_expires_at: r.lease_expires_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            created_at: r.created_at,
            error_message: r.error_message,
            stats: r.stats.map(|s| ItemStats {
                records_total: n(s.records_total),
                records_filtered: n(s.records_filtered),
                records_persisted: n(s.records_persisted),
                processing_time_ms: n(s.processing_time_ms),
            }),
        }
    }
}

/// Options of `new ClaimLedger(store, options)`.
#[napi(object)]
pub struct LedgerOptions {
    pub table: Option<String>,
    pub max_retries: Option<u32>,
}

/// The claims ledger itself, for callers that keep each claim (with its epoch).
#[napi]
pub struct NativeLedger {
    inner: Arc<dyn waypost::ClaimLedger>,
}

fn lease(ms: f64) -> Result<Duration> {
    seconds("leaseMs", Some(ms), Duration::ZERO)
}

#[napi]
impl NativeLedger {
    #[napi(constructor)]
    pub fn new(store: &NativeRepository, options: Option<LedgerOptions>) -> Result<Self> {
        let defaults = waypost::ClaimsOptions::default();
        let (table, max_retries) = options.map_or((None, None), |o| (o.table, o.max_retries));
        let options = waypost::ClaimsOptions {
            table: table.unwrap_or(defaults.table),
            max_retries: max_retries.unwrap_or(defaults.max_retries),
        };
        Ok(NativeLedger { inner: store.inner.clone().claims(options).map_err(to_js_err)? })
    }

    #[napi]
    pub async fn claim(
        &self,
        key: String,
        item_type: String,
        item_timestamp: DateTime<Utc>,
        worker_id: String,
        lease_ms: f64,
    ) -> Result<Option<Claim>> {
        let lease = lease(lease_ms)?;
        let claim = self.inner.claim(&key, &item_type, item_timestamp, &worker_id, lease).await.map_err(to_js_err)?;
        Ok(claim.map(Claim::from))
    }

    #[napi]
    pub async fn heartbeat(&self, claim: Claim, lease_ms: f64) -> Result<Claim> {
        let lease = lease(lease_ms)?;
        self.inner.heartbeat(&claim.into(), lease).await.map(Claim::from).map_err(to_js_err)
    }

    #[napi]
    pub async fn complete(&self, claim: Claim, stats: Option<ItemStats>) -> Result<()> {
        let stats = stats.map(|s| s.to_core()).transpose()?.unwrap_or_default();
        self.inner.complete(&claim.into(), stats).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn fail(&self, claim: Claim, message: String) -> Result<()> {
        self.inner.fail(&claim.into(), &message).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn release(&self, claim: Claim) -> Result<()> {
        self.inner.release(&claim.into()).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn is_processed(&self, key: String) -> Result<bool> {
        self.inner.is_processed(&key).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get(&self, key: String) -> Result<Option<ClaimRecord>> {
        Ok(self.inner.get(&key).await.map_err(to_js_err)?.map(ClaimRecord::from))
    }

    #[napi]
    pub async fn stats(&self) -> Result<ClaimStats> {
        self.inner.stats().await.map(ClaimStats::from).map_err(to_js_err)
    }

    #[napi]
    pub async fn list(&self, status: Option<String>, limit: Option<u32>) -> Result<Vec<ClaimRecord>> {
        let status = status.map(|s| waypost::ClaimStatus::parse(&s)).transpose().map_err(to_js_err)?;
        let records = self.inner.list(status, limit.unwrap_or(100)).await.map_err(to_js_err)?;
        Ok(records.into_iter().map(ClaimRecord::from).collect())
    }
}

/// Options of `new Checkpointer(store, name, options)`: neither saves after every event.
#[napi(object)]
pub struct CheckpointerOptions {
    /// Save after this many events.
    pub every: Option<f64>,
    /// Save when this many milliseconds have passed since the last save.
    pub interval_ms: Option<f64>,
}

/// The core's `Checkpointer`: saves one projection's position by a strategy.
#[napi]
pub struct NativeCheckpointer {
    inner: Arc<waypost::Checkpointer>,
}

#[napi]
impl NativeCheckpointer {
    #[napi(constructor)]
    pub fn new(
        store: &NativeRepository,
        projection_name: String,
        options: Option<CheckpointerOptions>,
    ) -> Result<NativeCheckpointer> {
        let (every, interval) = options.map_or((None, None), |o| (o.every, o.interval_ms));
        let every = every
            .map(|n| {
                if n.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&n) {
                    return Err(invalid(format!("every must be an integer from 1 to {}, got {n}", u32::MAX)));
                }
                Ok(n as u32)
            })
            .transpose()?;
        let interval = interval.map(|ms| seconds("intervalMs", Some(ms), Duration::ZERO)).transpose()?;
        let strategy = match (every, interval) {
            (None, None) => waypost::Strategy::EveryEvent,
            (Some(n), None) => waypost::Strategy::Every(n),
            (None, Some(t)) => waypost::Strategy::Interval(t),
            (Some(n), Some(t)) => waypost::Strategy::EveryOrInterval(n, t),
        };
        let inner = waypost::Checkpointer::new(store.inner.clone(), &projection_name, strategy).map_err(to_js_err)?;
        Ok(NativeCheckpointer { inner: Arc::new(inner) })
    }

    #[napi]
    pub async fn record(&self, position: f64, event_id: String, event_type: String) -> Result<()> {
        let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
        self.inner.record(position, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await.map_err(to_js_err)
    }

    /// The final save runs as a task of the native runtime: it completes even if nobody
    /// awaits the returned Promise.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.close().await })
            .await
            .map_err(|e| napi::Error::from_reason(format!("Backend: the final save failed: {e}")))?
            .map_err(to_js_err)
    }

    #[napi]
    pub async fn saves(&self) -> i64 {
        i64::try_from(self.inner.saves().await).unwrap_or(i64::MAX)
    }

    #[napi]
    pub async fn unsaved(&self) -> u32 {
        self.inner.unsaved().await
    }
}

/// A statement parameter or a value read back, tagged by `kind`: `null`, `bool` (in
/// `flag`), `int` (decimal digits in `text`, so that 64-bit integers survive), `float`
/// (in `number`), `text`, `bytes` (hex in `text`), `uuid`, `timestamp` (ISO 8601 in
/// `text`), `json` (its text). `index.js` converts JS values to and from these.
#[napi(object)]
pub struct SqlCell {
    pub kind: String,
    pub text: Option<String>,
    pub number: Option<f64>,
    pub flag: Option<bool>,
}

/// Rows of a query: the column names, then each row's cells in column order.
#[napi(object)]
pub struct SqlRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlCell>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn sql_value(index: usize, cell: SqlCell) -> Result<waypost::SqlValue> {
    use waypost::SqlValue as V;
    let bad = |what: &str| invalid(format!("params[{index}]: {what}"));
    let text = || cell.text.clone().ok_or_else(|| bad("missing text"));
    Ok(match cell.kind.as_str() {
        "null" => V::Null,
        "bool" => V::Bool(cell.flag.ok_or_else(|| bad("missing flag"))?),
        "int" => V::Int(text()?.parse().map_err(|_| bad("integer out of the 64-bit range"))?),
        "float" => V::Float(cell.number.ok_or_else(|| bad("missing number"))?),
        "text" => V::Text(text()?),
        "bytes" => V::Bytes(unhex(&text()?).ok_or_else(|| bad("malformed bytes"))?),
        "uuid" => V::Uuid(event_id(&text()?)?),
        "timestamp" => {
            V::Timestamp(DateTime::parse_from_rfc3339(&text()?).map_err(|_| bad("invalid date"))?.with_timezone(&Utc))
        }
        "json" => V::Json(text()?),
        other => return Err(bad(&format!("unknown kind {other:?}"))),
    })
}

fn sql_cell(value: waypost::SqlValue) -> SqlCell {
    use waypost::SqlValue as V;
    let cell = |kind: &str| SqlCell { kind: kind.to_owned(), text: None, number: None, flag: None };
    match value {
        V::Null => cell("null"),
        V::Bool(b) => SqlCell { flag: Some(b), ..cell("bool") },
        V::Int(i) => SqlCell { text: Some(i.to_string()), ..cell("int") },
        V::Float(f) => SqlCell { number: Some(f), ..cell("float") },
        V::Text(t) => SqlCell { text: Some(t), ..cell("text") },
        V::Bytes(b) => SqlCell { text: Some(hex(&b)), ..cell("bytes") },
        V::Uuid(u) => SqlCell { text: Some(u.to_string()), ..cell("uuid") },
        V::Timestamp(t) => SqlCell { text: Some(waypost::time::rfc3339(&t)), ..cell("timestamp") },
        V::Json(t) => SqlCell { text: Some(t), ..cell("json") },
    }
}

fn sql_values(params: Option<Vec<SqlCell>>) -> Result<Vec<waypost::SqlValue>> {
    params.unwrap_or_default().into_iter().enumerate().map(|(i, c)| sql_value(i, c)).collect()
}

#[napi]
impl NativeRepository {
    /// Opens a transaction on this store (see `repo.transaction(fn)` in `index.js`).
    #[napi]
    pub async fn begin(&self) -> Result<NativeTransaction> {
        let tx = self.inner.begin().await.map_err(to_js_err)?;
        Ok(NativeTransaction { inner: Arc::new(tx) })
    }
}

/// An open transaction of the core: the caller's SQL and checkpoint writes commit together.
#[napi]
pub struct NativeTransaction {
    /// Dropped open, it rolls back; the core drops its connection inside the runtime
    /// even from a finalizer on the JS thread.
    inner: Arc<waypost::Transaction>,
}

impl NativeTransaction {
    fn tx(&self) -> Result<Arc<waypost::Transaction>> {
        Ok(Arc::clone(&self.inner))
    }
}

#[napi]
impl NativeTransaction {
    #[napi]
    pub async fn execute(&self, sql: String, params: Option<Vec<SqlCell>>) -> Result<f64> {
        let params = sql_values(params)?;
        let n = self.tx()?.execute(&sql, &params).await.map_err(to_js_err)?;
        Ok(n as f64)
    }

    #[napi]
    pub async fn fetch_all(&self, sql: String, params: Option<Vec<SqlCell>>) -> Result<SqlRows> {
        let params = sql_values(params)?;
        let rows = self.tx()?.fetch_all(&sql, &params).await.map_err(to_js_err)?;
        let columns = rows.first().map(|r| r.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
        let rows = rows.into_iter().map(|r| r.into_iter().map(|(_, v)| sql_cell(v)).collect()).collect();
        Ok(SqlRows { columns, rows })
    }

    #[napi]
    pub async fn save_position(
        &self,
        subscription_id: String,
        position: f64,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
        self.tx()?.save_position(&subscription_id, position, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn update_checkpoint(&self, projection_name: String, event_id: String, event_type: String) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.tx()?.update_checkpoint(&projection_name, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn save_position_token(
        &self,
        subscription_id: String,
        token: String,
        event_id: String,
        event_type: String,
    ) -> Result<()> {
        let id = self::event_id(&event_id)?;
        self.tx()?.save_position_token(&subscription_id, &token, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn commit(&self) -> Result<()> {
        self.tx()?.commit().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn rollback(&self) -> Result<()> {
        self.tx()?.rollback().await.map_err(to_js_err)
    }

    #[napi]
    pub fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

/// How far one projection is (`repo.getProgress(name)`).
#[napi(object)]
pub struct Progress {
    pub projection_name: String,
    pub position: Option<i64>,
    pub stream_head: Option<i64>,
    pub events_behind: Option<i64>,
    pub percent_complete: Option<f64>,
    pub lag_seconds: f64,
    pub events_processed: i64,
    /// ISO 8601 with microseconds.
    pub last_processed_at: Option<String>,
    pub idle_seconds: Option<f64>,
    /// `NotStarted`, `CatchingUp`, `CaughtUp`, `Idle` or `Stalled`.
    pub state: String,
    /// `Behind by 15 events (25.0% complete)`, …
    pub status_line: String,
}

impl From<waypost::progress::Progress> for Progress {
    fn from(p: waypost::progress::Progress) -> Self {
        Progress {
            status_line: p.status_line(),
            state: p.state.as_str().to_owned(),
            projection_name: p.projection_name,
            position: p.position,
            stream_head: p.stream_head,
            events_behind: p.events_behind,
            percent_complete: p.percent_complete,
            lag_seconds: p.lag_seconds,
            events_processed: p.events_processed,
            last_processed_at: p.last_processed_at.as_ref().map(waypost::time::isoformat),
            idle_seconds: p.idle_seconds,
        }
    }
}

/// Options of `getProgress` / `getAllProgress`.
#[napi(object)]
pub struct ProgressOptions {
    /// Quiet this long while behind is `Stalled` (caught up: `Idle`). Default 60,000.
    pub stall_after_ms: Option<f64>,
}

/// Options of `getHealth`: the thresholds (defaults 1,000 / 10,000 events, 60 / 300 s).
#[napi(object)]
#[derive(Default)]
pub struct HealthOptions {
    pub stall_after_ms: Option<f64>,
    pub degraded_events_behind: Option<i64>,
    pub unhealthy_events_behind: Option<i64>,
    pub degraded_stall_ms: Option<f64>,
    pub unhealthy_stall_ms: Option<f64>,
}

/// One projection's health and why.
#[napi(object)]
pub struct HealthVerdict {
    pub projection_name: String,
    /// `Healthy`, `Degraded` or `Unhealthy`.
    pub status: String,
    pub reason: String,
}

/// The worst verdict and one per projection.
#[napi(object)]
pub struct HealthReport {
    pub status: String,
    pub projections: Vec<HealthVerdict>,
}

fn progress_options(stall_after_ms: Option<f64>) -> Result<waypost::progress::ProgressOptions> {
    let default = waypost::progress::ProgressOptions::default();
    Ok(waypost::progress::ProgressOptions {
        stall_after: seconds("stallAfterMs", stall_after_ms, default.stall_after)?,
    })
}

#[napi]
impl NativeRepository {
    /// The largest global position in the events table (0 when empty), or null without one.
    #[napi]
    pub async fn stream_head(&self) -> Result<Option<i64>> {
        self.inner.stream_head().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn get_progress(&self, projection_name: String, options: Option<ProgressOptions>) -> Result<Progress> {
        let options = progress_options(options.and_then(|o| o.stall_after_ms))?;
        let p = waypost::progress::progress_of(&*self.inner, &projection_name, &options).await.map_err(to_js_err)?;
        Ok(p.into())
    }

    #[napi]
    pub async fn get_all_progress(&self, options: Option<ProgressOptions>) -> Result<Vec<Progress>> {
        let options = progress_options(options.and_then(|o| o.stall_after_ms))?;
        let all = waypost::progress::progress_all(&*self.inner, &options).await.map_err(to_js_err)?;
        Ok(all.into_iter().map(Progress::from).collect())
    }

    #[napi]
    pub async fn get_health(
        &self,
        projection_name: Option<String>,
        options: Option<HealthOptions>,
    ) -> Result<HealthReport> {
        let o = options.unwrap_or_default();
        let d = waypost::progress::HealthThresholds::default();
        let thresholds = waypost::progress::HealthThresholds {
            degraded_events_behind: o.degraded_events_behind.unwrap_or(d.degraded_events_behind),
            unhealthy_events_behind: o.unhealthy_events_behind.unwrap_or(d.unhealthy_events_behind),
            degraded_stall: seconds("degradedStallMs", o.degraded_stall_ms, d.degraded_stall)?,
            unhealthy_stall: seconds("unhealthyStallMs", o.unhealthy_stall_ms, d.unhealthy_stall)?,
        };
        let options = progress_options(o.stall_after_ms)?;
        let report = waypost::progress::health_report(&*self.inner, projection_name.as_deref(), &options, &thresholds)
            .await
            .map_err(to_js_err)?;
        Ok(HealthReport {
            status: report.status.as_str().to_owned(),
            projections: report
                .projections
                .into_iter()
                .map(|h| HealthVerdict {
                    projection_name: h.projection_name,
                    status: h.status.as_str().to_owned(),
                    reason: h.reason,
                })
                .collect(),
        })
    }
}
