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

use std::sync::Arc;

use crate::checkpoint::validate_name;
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::time;

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
#[async_trait]
pub trait ClaimLedger: Send + Sync + std::fmt::Debug {
    /// Claims `key` for `worker_id` for `lease`, or returns `None` when it is done,
    /// held by a live claim, or out of retries.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty or over-long key, type or worker id, or a lease
    /// over [`MAX_LEASE`]; `Unavailable`/`Backend` from the store.
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
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim>;

    /// Marks the item completed with the worker's figures.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current; `InvalidArgument` for a negative figure.
    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()>;

    /// Marks the item failed with `message`; it is claimed again while retries remain.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current; `InvalidArgument` for a message
    /// over [`MAX_MESSAGE_CHARS`] characters or with a NUL.
    async fn fail(&self, claim: &Claim, message: &str) -> Result<()>;

    /// Hands the item back without counting an attempt.
    ///
    /// # Errors
    /// `LeaseLost` when the claim is no longer current.
    async fn release(&self, claim: &Claim) -> Result<()>;

    /// Whether the item is completed.
    async fn is_processed(&self, key: &str) -> Result<bool>;

    /// The item's whole record, or `None` for a key never claimed.
    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>>;

    /// How many items stand where.
    async fn stats(&self) -> Result<ClaimCounts>;

    /// Up to `limit` records (1 to [`MAX_LIST_LIMIT`]), with `status` if given, ordered
    /// by key in byte order.
    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>>;
}

/// What a backend's claims ledger implements: the calls of [`ClaimLedger`], each
/// argument already validated. Every repository's [`claims`](crate::CheckpointRepository::claims)
/// returns the store behind the checks ([`ClaimLedger`]), so a backend never repeats them.
#[async_trait]
pub trait ClaimStore: Send + Sync + std::fmt::Debug {
    /// See [`ClaimLedger::claim`].
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>>;
    /// See [`ClaimLedger::heartbeat`].
    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim>;
    /// See [`ClaimLedger::complete`].
    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()>;
    /// See [`ClaimLedger::fail`].
    async fn fail(&self, claim: &Claim, message: &str) -> Result<()>;
    /// See [`ClaimLedger::release`].
    async fn release(&self, claim: &Claim) -> Result<()>;
    /// See [`ClaimLedger::get`].
    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>>;
    /// See [`ClaimLedger::stats`].
    async fn stats(&self) -> Result<ClaimCounts>;
    /// See [`ClaimLedger::list`].
    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>>;
}

/// A [`ClaimStore`] behind the checks: the [`ClaimLedger`] of every repository.
#[derive(Debug)]
pub(crate) struct Checked(pub Arc<dyn ClaimStore>);

#[async_trait]
impl ClaimLedger for Checked {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        check_claim_args(key, item_type, worker_id, lease)?;
        self.0.claim(key, item_type, time::truncate_to_micros(item_timestamp), worker_id, lease).await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        check_claim(claim)?;
        check_lease(lease)?;
        self.0.heartbeat(claim, lease).await
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        check_claim(claim)?;
        check_stats(&stats)?;
        self.0.complete(claim, stats).await
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        check_claim(claim)?;
        check_message(message)?;
        self.0.fail(claim, message).await
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        check_claim(claim)?;
        self.0.release(claim).await
    }

    async fn is_processed(&self, key: &str) -> Result<bool> {
        Ok(self.get(key).await?.is_some_and(|r| r.status == ClaimStatus::Completed))
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        validate_key(key)?;
        self.0.get(key).await
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        self.0.stats().await
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        check_limit(limit)?;
        self.0.list(status, limit).await
    }
}

/// Checks an item key: 1 to 2,048 characters, no NUL.
///
/// # Errors
/// `InvalidArgument` otherwise.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("item key is empty"));
    }
    if key.contains('\0') {
        return Err(Error::invalid("item key contains a NUL character"));
    }
    if key.len() > MAX_KEY_CHARS && key.chars().count() > MAX_KEY_CHARS {
        return Err(Error::invalid(format!("item key is longer than {MAX_KEY_CHARS} characters")));
    }
    Ok(())
}

pub(crate) fn check_claim_args(key: &str, item_type: &str, worker_id: &str, lease: Duration) -> Result<()> {
    validate_key(key)?;
    validate_name("item type", item_type)?;
    validate_name("worker id", worker_id)?;
    check_lease(lease)
}

pub(crate) fn check_lease(lease: Duration) -> Result<()> {
    if lease > MAX_LEASE {
        return Err(Error::invalid(format!(
            "lease must be at most {} s, got {} s",
            MAX_LEASE.as_secs(),
            lease.as_secs()
        )));
    }
    Ok(())
}

pub(crate) fn check_claim(claim: &Claim) -> Result<()> {
    validate_key(&claim.key)?;
    validate_name("worker id", &claim.worker_id)
}

pub(crate) fn check_stats(stats: &ItemStats) -> Result<()> {
    stats.validate()
}

pub(crate) fn check_message(message: &str) -> Result<()> {
    if message.contains('\0') {
        return Err(Error::invalid("failure message contains a NUL character"));
    }
    if message.len() > MAX_MESSAGE_CHARS && message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Error::invalid(format!("failure message is longer than {MAX_MESSAGE_CHARS} characters")));
    }
    Ok(())
}

pub(crate) fn check_limit(limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(Error::invalid(format!("limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")));
    }
    Ok(())
}

/// The error for a claim that is no longer current.
pub(crate) fn lease_lost(claim: &Claim) -> Error {
    Error::LeaseLost {
        message: format!(
            "the claim of {:?} by {:?} (epoch {}) is no longer current",
            shorten(&claim.key),
            claim.worker_id,
            claim.epoch
        ),
    }
}

fn shorten(key: &str) -> String {
    if key.chars().count() <= 120 {
        key.to_owned()
    } else {
        format!("{}…", key.chars().take(120).collect::<String>())
    }
}

/// The message stored when an item runs out of retries by lease expiry.
pub(crate) const LEASE_EXPIRED: &str = "lease expired";

/// What a claim does to an existing record (for backends that decide in Rust; the
/// PostgreSQL backend states the same rules in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No record: insert attempt 1.
    New,
    /// Take it over; `counts` says whether the retry count grows.
    Take { counts: bool },
    /// A dead claim out of retries: mark failed with [`LEASE_EXPIRED`], return `None`.
    Expire,
    /// Leave it: `None`.
    Refuse,
}

#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn decide(record: Option<&ClaimRecord>, now: DateTime<Utc>, max_retries: u32) -> Decision {
    let Some(r) = record else { return Decision::New };
    let retries_left = r.retry_count < max_retries;
    match (r.status, r.lease_expires_at) {
        (ClaimStatus::Completed, _) => Decision::Refuse,
        (ClaimStatus::Failed, _) if retries_left => Decision::Take { counts: true },
        (ClaimStatus::Failed, _) => Decision::Refuse,
        (ClaimStatus::Processing, None) => Decision::Take { counts: false },
        (ClaimStatus::Processing, Some(until)) if until <= now && retries_left => Decision::Take { counts: true },
        (ClaimStatus::Processing, Some(until)) if until <= now => Decision::Expire,
        (ClaimStatus::Processing, Some(_)) => Decision::Refuse,
    }
}

/// Whether `claim` is the item's current, live claim.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn is_current(record: Option<&ClaimRecord>, claim: &Claim) -> bool {
    record.is_some_and(|r| {
        r.status == ClaimStatus::Processing
            && r.epoch == claim.epoch
            && r.lease_expires_at.is_some()
            && r.worker_id.as_deref() == Some(claim.worker_id.as_str())
    })
}

/// What a claim or a claim-holder's call does to a record, for the backends that keep
/// the rules in Rust (memory, SQLite, MySQL): they load the record, call this, store the result.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) enum Change<'a> {
    /// A worker asks to claim.
    Claim { item_type: &'a str, item_timestamp: DateTime<Utc>, worker_id: &'a str, lease: Duration, max_retries: u32 },
    /// The holder renews its lease.
    Heartbeat { lease: Duration },
    /// The holder finished.
    Complete(ItemStats),
    /// The holder failed.
    Fail(&'a str),
    /// The holder hands the item back.
    Release,
}

/// The outcome of [`apply`]: the record to store (if any changed) and the answer.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) struct Applied {
    pub store: Option<ClaimRecord>,
    pub claim: Option<Claim>,
}

/// Applies `change` to the item's record under the rules in the module documentation.
/// `holder` is the claim for every change but [`Change::Claim`].
///
/// # Errors
/// `LeaseLost` when `holder` is not the item's current claim.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn apply(
    key: &str,
    record: Option<ClaimRecord>,
    holder: Option<&Claim>,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let claim_of = |r: &ClaimRecord, worker_id: &str| Claim {
        key: r.key.clone(),
        worker_id: worker_id.to_owned(),
        epoch: r.epoch,
        attempt: r.retry_count + 1,
        lease_expires_at: r.lease_expires_at.unwrap_or(now),
    };
    if let Change::Claim { item_type, item_timestamp, worker_id, lease, max_retries } = change {
        let until = lease_end(now, lease);
        return Ok(match (decide(record.as_ref(), now, max_retries), record) {
            (Decision::New, _) => {
                let r = ClaimRecord {
                    key: key.to_owned(),
                    item_type: item_type.to_owned(),
                    item_timestamp,
                    status: ClaimStatus::Processing,
                    retry_count: 0,
                    worker_id: Some(worker_id.to_owned()),
                    epoch: 1,
                    lease_expires_at: Some(until),
                    started_at: Some(now),
                    completed_at: None,
                    created_at: now,
                    error_message: None,
                    stats: None,
                };
                Applied { claim: Some(claim_of(&r, worker_id)), store: Some(r) }
            }
            (Decision::Take { counts }, Some(mut r)) => {
                r.status = ClaimStatus::Processing;
                r.retry_count += u32::from(counts);
                r.worker_id = Some(worker_id.to_owned());
                r.epoch += 1;
                r.lease_expires_at = Some(until);
                r.started_at = Some(now);
                r.completed_at = None;
                Applied { claim: Some(claim_of(&r, worker_id)), store: Some(r) }
            }
            (Decision::Expire, Some(mut r)) => {
                r.status = ClaimStatus::Failed;
                r.epoch += 1;
                r.lease_expires_at = None;
                r.completed_at = Some(now);
                r.error_message = Some(LEASE_EXPIRED.to_owned());
                Applied { claim: None, store: Some(r) }
            }
            _ => Applied { claim: None, store: None },
        });
    }
    let holder = holder.ok_or_else(|| Error::invalid("a claim is needed"))?;
    if !is_current(record.as_ref(), holder) {
        return Err(lease_lost(holder));
    }
    let Some(mut r) = record else { return Err(lease_lost(holder)) };
    let mut renewed = None;
    match change {
        Change::Heartbeat { lease } => {
            r.lease_expires_at = Some(lease_end(now, lease));
            renewed = Some(claim_of(&r, &holder.worker_id));
        }
        Change::Complete(stats) => {
            r.status = ClaimStatus::Completed;
            r.lease_expires_at = None;
            r.completed_at = Some(now);
            r.error_message = None;
            r.stats = Some(stats);
        }
        Change::Fail(message) => {
            r.status = ClaimStatus::Failed;
            r.lease_expires_at = None;
            r.completed_at = Some(now);
            r.error_message = Some(message.to_owned());
        }
        Change::Release => {
            r.lease_expires_at = None;
            r.worker_id = None;
        }
        Change::Claim { .. } => unreachable!("handled above"),
    }
    Ok(Applied { store: Some(r), claim: renewed })
}

/// `now + lease`, saturating (leases are at most [`MAX_LEASE`]).
pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(lease).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: ClaimStatus, retry_count: u32, lease: Option<i64>) -> ClaimRecord {
        let now = crate::time::now();
        ClaimRecord {
            key: "k".into(),
            item_type: "csv".into(),
            item_timestamp: now,
            status,
            retry_count,
            worker_id: Some("w".into()),
            epoch: 1,
            lease_expires_at: lease.map(|s| now + chrono::Duration::seconds(s)),
            started_at: Some(now),
            completed_at: None,
            created_at: now,
            error_message: None,
            stats: None,
        }
    }

    #[test]
    fn decisions_follow_the_rules() {
        let now = crate::time::now();
        use ClaimStatus::*;
        assert_eq!(decide(None, now, 3), Decision::New);
        assert_eq!(decide(Some(&record(Completed, 0, None)), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Failed, 2, None)), now, 3), Decision::Take { counts: true });
        assert_eq!(decide(Some(&record(Failed, 3, None)), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Processing, 0, Some(60))), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Processing, 0, Some(-1))), now, 3), Decision::Take { counts: true });
        assert_eq!(decide(Some(&record(Processing, 3, Some(-1))), now, 3), Decision::Expire);
        assert_eq!(decide(Some(&record(Processing, 3, None)), now, 3), Decision::Take { counts: false });
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(validate_key("").is_err());
        assert!(validate_key(&"x".repeat(MAX_KEY_CHARS + 1)).is_err());
        assert!(validate_key(&"é".repeat(MAX_KEY_CHARS)).is_ok());
        assert!(check_lease(MAX_LEASE + Duration::from_secs(1)).is_err());
        assert!(check_limit(0).is_err());
        assert!(ItemStats { records_filtered: -1, ..ItemStats::default() }.validate().is_err());
        assert!(ClaimsOptions { max_retries: 1001, ..ClaimsOptions::default() }.validate().is_err());
        assert!(ClaimsOptions { table: "bad table".into(), ..ClaimsOptions::default() }.validate().is_err());
        assert!(ClaimStatus::parse("done").is_err());
    }
}
