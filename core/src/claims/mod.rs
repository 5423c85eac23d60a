//! Per-item work claims: a ledger that lets many workers share a set of items (files,
//! queue messages) so that each is processed by exactly one live worker, retried a
//! bounded number of times, and never stuck because a worker died.
//!
//! A [`ClaimLedger`] comes from a repository ([`CheckpointRepository::claims`]) and keeps
//! its records in a table of the same store (default [`DEFAULT_CLAIMS_TABLE`]).
//!
//! # Rules
//!
//! Every backend follows these; the shared cases in `tests/conformance/claims` pin them.
//!
//! - [`claim`](ClaimLedger::claim) is atomic. A key never seen is claimed by its first
//!   caller (attempt 1). A `failed` item is claimed again while its retry count is below
//!   `max_retries`; each such claim adds 1. A `processing` item whose lease has expired
//!   is claimed again the same way (the crash counts as an attempt); past the limit it
//!   becomes `failed` with the message `lease expired` and is not claimed. A `completed`
//!   item, a live claim, and a failed item out of retries are never taken: `None`.
//!   So an item that fails every time is attempted exactly `max_retries + 1` times.
//! - Every claim gets a fencing epoch one greater than the item's previous one.
//!   [`heartbeat`](ClaimLedger::heartbeat), [`complete`](ClaimLedger::complete),
//!   [`fail`](ClaimLedger::fail) and [`release`](ClaimLedger::release) succeed only while
//!   the claim's epoch is the item's current one and the item is still `processing` by
//!   that claim; otherwise they return [`ErrorKind::LeaseLost`](crate::ErrorKind) and
//!   write nothing. A claim whose lease ran out but that nobody took over is still
//!   current.
//! - [`release`](ClaimLedger::release) hands an item back without counting an attempt:
//!   the next claim takes it at once, with the same retry count.
//! - Lease times come from the store's clock where it has one (PostgreSQL's `now()`),
//!   else from this process's clock. A lease of zero expires at once.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
//!
//! let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
//! let ledger = repo.claims(ClaimsOptions::default())?;
//! let at = waypost::time::now();
//! let claim = ledger.claim("s3://bucket/a.csv", "csv", at, "worker-1", Duration::from_secs(300)).await?.unwrap();
//! assert_eq!((claim.epoch, claim.attempt), (1, 1));
//! // Another worker finds it taken.
//! assert!(ledger.claim("s3://bucket/a.csv", "csv", at, "worker-2", Duration::from_secs(300)).await?.is_none());
//! ledger.complete(&claim, ItemStats { records_total: 10, records_persisted: 10, ..ItemStats::default() }).await?;
//! assert!(ledger.is_processed("s3://bucket/a.csv").await?);
//! # Ok::<(), waypost::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`CheckpointRepository::claims`]: crate::CheckpointRepository::claims

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::ident::Identifier;

/// The claims table used when none is configured.
pub const DEFAULT_CLAIMS_TABLE: &str = "work_claims";
/// How many times an item is claimed again after its first attempt, by default.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The longest item key, in characters.
pub const MAX_KEY_CHARS: usize = 2048;
/// The longest failure message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 8192;
/// The longest lease: 30 days.
pub const MAX_LEASE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most records [`ClaimLedger::list`] returns at once.
pub const MAX_LIST_LIMIT: u32 = 10_000;
/// How many records a listing returns when the caller names no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// The highest `max_retries`.
pub const MAX_RETRIES_LIMIT: u32 = 1_000;

/// Where a ledger keeps its records and how often it retries.
///
/// # Examples
/// ```
/// use waypost::ClaimsOptions;
/// let options = ClaimsOptions { table: "file_claims".into(), ..ClaimsOptions::default() };
/// assert_eq!(options.max_retries, waypost::DEFAULT_MAX_RETRIES);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsOptions {
    /// The claims table (a validated identifier; in the repository's schema on
    /// PostgreSQL). Created if missing.
    pub table: String,
    /// How many times an item is claimed again after its first attempt (0 to 1,000).
    pub max_retries: u32,
}

impl Default for ClaimsOptions {
    fn default() -> Self {
        ClaimsOptions { table: DEFAULT_CLAIMS_TABLE.to_owned(), max_retries: DEFAULT_MAX_RETRIES }
    }
}

impl ClaimsOptions {
    /// Checks the options; returns the table as an identifier.
    pub(crate) fn validate(&self) -> Result<Identifier> {
        if self.max_retries > MAX_RETRIES_LIMIT {
            return Err(Error::invalid(format!(
                "max_retries must be between 0 and {MAX_RETRIES_LIMIT}, got {}",
                self.max_retries
            )));
        }
        Identifier::new("claims table", &self.table)
    }
}

/// Where an item stands.
///
/// # Examples
/// ```
/// use waypost::ClaimStatus;
/// assert_eq!(ClaimStatus::parse("completed")?, ClaimStatus::Completed);
/// assert_eq!(ClaimStatus::Failed.as_str(), "failed");
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    /// Claimed by a worker (or released and waiting for the next claim).
    Processing,
    /// Done; never claimed again.
    Completed,
    /// Failed; claimed again while retries remain.
    Failed,
}

impl ClaimStatus {
    /// Every status, in declaration order.
    pub const ALL: [ClaimStatus; 3] = [ClaimStatus::Processing, ClaimStatus::Completed, ClaimStatus::Failed];

    /// The stored word: `processing`, `completed` or `failed`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::ClaimStatus::Processing.as_str(), "processing");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Processing => "processing",
            ClaimStatus::Completed => "completed",
            ClaimStatus::Failed => "failed",
        }
    }

    /// Parses [`ClaimStatus::as_str`]'s words.
    ///
    /// # Errors
    /// `InvalidArgument` for any other word.
    ///
    /// # Examples
    /// ```
    /// use waypost::{ClaimStatus, ErrorKind};
    /// assert_eq!(ClaimStatus::parse("processing")?, ClaimStatus::Processing);
    /// assert_eq!(ClaimStatus::parse("done").unwrap_err().kind(), ErrorKind::InvalidArgument);
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn parse(word: &str) -> Result<ClaimStatus> {
        ClaimStatus::ALL.into_iter().find(|s| s.as_str() == word).ok_or_else(|| {
            Error::invalid(format!("claim status must be processing, completed or failed, got {word:?}"))
        })
    }
}

impl std::fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A worker's hold on one item: what it shows to heartbeat, complete, fail or release.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # use std::{sync::Arc, time::Duration};
/// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let ledger = repo.claims(ClaimsOptions::default())?;
/// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
/// let claim = ledger.claim("s3://b/a.csv", "csv", at, "worker-1", lease).await?.expect("free");
/// assert_eq!((claim.worker_id.as_str(), claim.epoch, claim.attempt), ("worker-1", 1, 1));
/// assert!(claim.lease_expires_at > at);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The item.
    pub key: String,
    /// The worker holding it.
    pub worker_id: String,
    /// The fencing epoch: grows on every claim of the item.
    pub epoch: i64,
    /// 1 for the first attempt, 2 for the first retry, …
    pub attempt: u32,
    /// When the lease runs out unless renewed.
    pub lease_expires_at: DateTime<Utc>,
}

/// Figures a worker reports when it completes an item. All must be 0 or more.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # use std::{sync::Arc, time::Duration};
/// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let ledger = repo.claims(ClaimsOptions::default())?;
/// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
/// let claim = ledger.claim("s3://b/a.csv", "csv", at, "w", lease).await?.unwrap();
/// let stats = ItemStats { records_total: 100, records_filtered: 5, records_persisted: 95, processing_time_ms: 1_200 };
/// ledger.complete(&claim, stats.clone()).await?;
/// assert_eq!(ledger.get("s3://b/a.csv").await?.unwrap().stats, Some(stats));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ItemStats {
    /// Records read.
    pub records_total: i64,
    /// Records dropped by filters.
    pub records_filtered: i64,
    /// Records written.
    pub records_persisted: i64,
    /// How long the work took.
    pub processing_time_ms: i64,
}

impl ItemStats {
    /// The figures as stored in four nullable columns: all present, or none reported.
    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_columns(columns: [Option<i64>; 4]) -> Option<ItemStats> {
        let [Some(records_total), Some(records_filtered), Some(records_persisted), Some(processing_time_ms)] = columns
        else {
            return None;
        };
        Some(ItemStats { records_total, records_filtered, records_persisted, processing_time_ms })
    }

    fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("records_total", self.records_total),
            ("records_filtered", self.records_filtered),
            ("records_persisted", self.records_persisted),
            ("processing_time_ms", self.processing_time_ms),
        ] {
            if value < 0 {
                return Err(Error::invalid(format!("{what} must be 0 or more, got {value}")));
            }
        }
        Ok(())
    }
}

/// One item's whole record.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # use std::{sync::Arc, time::Duration};
/// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let ledger = repo.claims(ClaimsOptions::default())?;
/// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
/// let claim = ledger.claim("s3://b/a.csv", "csv", at, "w", lease).await?.unwrap();
/// ledger.fail(&claim, "bad header").await?;
/// let record = ledger.get("s3://b/a.csv").await?.unwrap();
/// assert_eq!((record.status, record.retry_count), (waypost::ClaimStatus::Failed, 0), "not retried yet");
/// assert_eq!(record.error_message.as_deref(), Some("bad header"));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The item.
    pub key: String,
    /// The item's type, as given at its first claim.
    pub item_type: String,
    /// The item's own timestamp, as given at its first claim.
    pub item_timestamp: DateTime<Utc>,
    /// Where it stands.
    pub status: ClaimStatus,
    /// Attempts after the first.
    pub retry_count: u32,
    /// The worker that holds or last held it; `None` once released.
    pub worker_id: Option<String>,
    /// The current fencing epoch.
    pub epoch: i64,
    /// When the current claim's lease runs out; `None` when no claim is live.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it was completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was first claimed.
    pub created_at: DateTime<Utc>,
    /// The latest failure's message.
    pub error_message: Option<String>,
    /// What the completing worker reported; `None` until completed.
    pub stats: Option<ItemStats>,
}

/// How many items stand where, counted in the store.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # use std::{sync::Arc, time::Duration};
/// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let ledger = repo.claims(ClaimsOptions::default())?;
/// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
/// ledger.claim("s3://b/a.csv", "csv", at, "w", lease).await?.unwrap();
/// let counts = ledger.stats().await?;
/// assert_eq!((counts.total, counts.processing, counts.completed, counts.failed), (1, 1, 0, 0));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClaimCounts {
    /// Every item.
    pub total: u64,
    /// Claimed or released, not finished.
    pub processing: u64,
    /// Done.
    pub completed: u64,
    /// Failed (with or without retries left).
    pub failed: u64,
}

/// The claims ledger of one table. See the [module documentation](self) for the rules.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # use std::{sync::Arc, time::Duration};
/// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let ledger = repo.claims(ClaimsOptions::default())?;
/// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
/// let claim = ledger.claim("s3://b/a.csv", "csv", at, "worker-1", lease).await?.unwrap();
/// let renewed = ledger.heartbeat(&claim, lease).await?;
/// ledger.complete(&renewed, ItemStats::default()).await?;
/// assert!(ledger.is_processed("s3://b/a.csv").await?);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait ClaimLedger: Send + Sync + std::fmt::Debug {
    /// Claims `key` for `worker_id` for `lease`, or returns `None` when it is done,
    /// held by a live claim, or out of retries.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or over-long key, type or worker id, or a lease
    /// over [`MAX_LEASE`]; `Unavailable`/`Backend` from the store.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// assert!(ledger.claim("k", "csv", at, "w1", lease).await?.is_some());
    /// assert!(ledger.claim("k", "csv", at, "w2", lease).await?.is_none(), "held by w1");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>>;

    /// Extends a live claim's lease to `lease` from now; returns the renewed claim.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// let claim = ledger.claim("k", "csv", at, "w", Duration::from_secs(1)).await?.unwrap();
    /// let renewed = ledger.heartbeat(&claim, lease).await?;
    /// assert!(renewed.lease_expires_at > claim.lease_expires_at);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim>;

    /// Marks the item completed with the worker's figures.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current; `InvalidArgument` for a negative figure.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// let claim = ledger.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// ledger.complete(&claim, ItemStats::default()).await?;
    /// assert!(ledger.claim("k", "csv", at, "w", lease).await?.is_none(), "done items are never claimed again");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()>;

    /// Marks the item failed with `message`; it is claimed again while retries remain.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current; `InvalidArgument` for a message
    /// over [`MAX_MESSAGE_CHARS`] characters or with a NUL.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// let claim = ledger.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// ledger.fail(&claim, "timeout").await?;
    /// assert_eq!(ledger.claim("k", "csv", at, "w", lease).await?.unwrap().attempt, 2, "retried");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn fail(&self, claim: &Claim, message: &str) -> Result<()>;

    /// Hands the item back without counting an attempt.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// let claim = ledger.claim("k", "csv", at, "w1", lease).await?.unwrap();
    /// ledger.release(&claim).await?;
    /// assert_eq!(ledger.claim("k", "csv", at, "w2", lease).await?.unwrap().attempt, 1, "no attempt counted");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn release(&self, claim: &Claim) -> Result<()>;

    /// Whether the item is completed.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// assert!(!ledger.is_processed("never-claimed").await?);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn is_processed(&self, key: &str) -> Result<bool>;

    /// The item's whole record, or `None` for a key never claimed.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// assert!(ledger.get("never-claimed").await?.is_none());
    /// ledger.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// assert_eq!(ledger.get("k").await?.unwrap().worker_id.as_deref(), Some("w"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>>;

    /// How many items stand where.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// assert_eq!(ledger.stats().await?.total, 0);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn stats(&self) -> Result<ClaimCounts>;

    /// Up to `limit` records (1 to [`MAX_LIST_LIMIT`]), with `status` if given, ordered
    /// by key in byte order.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// # use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let ledger = repo.claims(ClaimsOptions::default())?;
    /// # let (at, lease) = (waypost::time::now(), Duration::from_secs(300));
    /// for key in ["b", "a"] {
    ///     ledger.claim(key, "csv", at, "w", lease).await?.unwrap();
    /// }
    /// let keys: Vec<_> = ledger.list(Some(waypost::ClaimStatus::Processing), 10).await?.into_iter().map(|r| r.key).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>>;
}

/// What a backend's claims ledger implements: the calls of [`ClaimLedger`], each
/// argument already validated. Every repository's [`claims`](crate::CheckpointRepository::claims)
/// returns the store behind the checks ([`ClaimLedger`]), so a backend never repeats them.
///
/// # Examples
/// A store of claims of your own, here one that counts the claims it grants and keeps
/// them in another ledger; a [`CheckpointStore`](crate::CheckpointStore) hands it out
/// from `open_claims`, and `claims()` puts the checks of every call in front of it.
/// ```
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use std::time::Duration;
/// use waypost::chrono::{DateTime, Utc};
/// use waypost::{Claim, ClaimCounts, ClaimLedger, ClaimRecord, ClaimStatus, ClaimStore, ItemStats, Result};
///
/// #[derive(Debug)]
/// struct Counting { inner: Arc<dyn ClaimLedger>, granted: AtomicU64 }
///
/// #[async_trait::async_trait]
/// impl ClaimStore for Counting {
///     async fn claim(&self, key: &str, item_type: &str, at: DateTime<Utc>, worker: &str, lease: Duration) -> Result<Option<Claim>> {
///         let claim = self.inner.claim(key, item_type, at, worker, lease).await?;
///         self.granted.fetch_add(u64::from(claim.is_some()), Ordering::Relaxed);
///         Ok(claim)
///     }
///     async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> { self.inner.heartbeat(claim, lease).await }
///     async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> { self.inner.complete(claim, stats).await }
///     async fn fail(&self, claim: &Claim, message: &str) -> Result<()> { self.inner.fail(claim, message).await }
///     async fn release(&self, claim: &Claim) -> Result<()> { self.inner.release(claim).await }
///     async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> { self.inner.get(key).await }
///     async fn stats(&self) -> Result<ClaimCounts> { self.inner.stats().await }
///     async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> { self.inner.list(status, limit).await }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, ClaimsOptions, MemoryRepository};
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// let store = Counting { inner: repo.claims(ClaimsOptions::default())?, granted: AtomicU64::new(0) };
/// store.claim("a.csv", "csv", waypost::time::now(), "w1", Duration::from_secs(60)).await?;
/// store.claim("a.csv", "csv", waypost::time::now(), "w2", Duration::from_secs(60)).await?;
/// assert_eq!(store.granted.load(Ordering::Relaxed), 1);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait ClaimStore: Send + Sync + std::fmt::Debug {
    /// See [`ClaimLedger::claim`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// assert!(store.claim("k", "csv", at, "w", lease).await?.is_some());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>>;
    /// See [`ClaimLedger::heartbeat`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// let claim = store.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// assert_eq!(store.heartbeat(&claim, lease).await?.epoch, claim.epoch);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim>;
    /// See [`ClaimLedger::complete`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// let claim = store.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// store.complete(&claim, ItemStats::default()).await?;
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()>;
    /// See [`ClaimLedger::fail`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// let claim = store.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// store.fail(&claim, "bad header").await?;
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn fail(&self, claim: &Claim, message: &str) -> Result<()>;
    /// See [`ClaimLedger::release`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// let claim = store.claim("k", "csv", at, "w", lease).await?.unwrap();
    /// store.release(&claim).await?;
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn release(&self, claim: &Claim) -> Result<()>;
    /// See [`ClaimLedger::get`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// assert!(store.get("k").await?.is_none());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>>;
    /// See [`ClaimLedger::stats`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// assert_eq!(store.stats().await?.total, 0);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn stats(&self) -> Result<ClaimCounts>;
    /// See [`ClaimLedger::list`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # use std::{sync::Arc, time::Duration};
    /// use waypost::{CheckpointStore, ClaimStore, Identifier, ItemStats, MemoryRepository};
    /// let store = Arc::new(MemoryRepository::new()).open_claims(Identifier::new("table", "work_claims")?, 3)?;
    /// let (at, lease) = (waypost::time::now(), Duration::from_secs(60));
    /// assert!(store.list(None, 10).await?.is_empty());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>>;
}

mod checked;
mod rules;

pub use checked::validate_key;
pub(crate) use checked::{check_lease, lease_lost, Checked};
// Which backends use which rule depends on the features built.
#[allow(unused_imports)]
pub(crate) use rules::{apply, decide, Change, Decision, LEASE_EXPIRED};
