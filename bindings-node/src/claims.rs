//! The claims ledger, for callers that keep each claim, and its records.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use napi_derive::napi;

use crate::convert::{count, seconds};
use crate::errors::{answer, thrown, Answer, Outcome, Thrown};
use crate::manager::ClaimStats;
use crate::repository::NativeRepository;

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
    fn to_core(&self) -> Outcome<waypost::ItemStats> {
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

fn lease(ms: f64) -> Outcome<Duration> {
    seconds("leaseMs", Some(ms), Duration::ZERO)
}

#[napi]
impl NativeLedger {
    #[napi(constructor)]
    pub fn new(store: &NativeRepository, options: Option<LedgerOptions>) -> Result<Self, Thrown> {
        let defaults = waypost::ClaimsOptions::default();
        let (table, max_retries) = options.map_or((None, None), |o| (o.table, o.max_retries));
        let options = waypost::ClaimsOptions {
            table: table.unwrap_or(defaults.table),
            max_retries: max_retries.unwrap_or(defaults.max_retries),
        };
        Ok(NativeLedger { inner: store.inner.clone().claims(options).map_err(thrown)? })
    }

    #[napi]
    pub async fn claim(
        &self,
        key: String,
        item_type: String,
        item_timestamp: DateTime<Utc>,
        worker_id: String,
        lease_ms: f64,
    ) -> Answer<Option<Claim>> {
        answer(async {
            let claim = self.inner.claim(&key, &item_type, item_timestamp, &worker_id, lease(lease_ms)?).await?;
            Ok(claim.map(Claim::from))
        })
        .await
    }

    #[napi]
    pub async fn heartbeat(&self, claim: Claim, lease_ms: f64) -> Answer<Claim> {
        answer(async { self.inner.heartbeat(&claim.into(), lease(lease_ms)?).await.map(Claim::from) }).await
    }

    #[napi]
    pub async fn complete(&self, claim: Claim, stats: Option<ItemStats>) -> Answer<()> {
        answer(async {
            let stats = stats.map(|s| s.to_core()).transpose()?.unwrap_or_default();
            self.inner.complete(&claim.into(), stats).await
        })
        .await
    }

    #[napi]
    pub async fn fail(&self, claim: Claim, message: String) -> Answer<()> {
        self.inner.fail(&claim.into(), &message).await.into()
    }

    #[napi]
    pub async fn release(&self, claim: Claim) -> Answer<()> {
        self.inner.release(&claim.into()).await.into()
    }

    #[napi]
    pub async fn is_processed(&self, key: String) -> Answer<bool> {
        self.inner.is_processed(&key).await.into()
    }

    #[napi]
    pub async fn get(&self, key: String) -> Answer<Option<ClaimRecord>> {
        self.inner.get(&key).await.map(|r| r.map(ClaimRecord::from)).into()
    }

    #[napi]
    pub async fn stats(&self) -> Answer<ClaimStats> {
        self.inner.stats().await.map(ClaimStats::from).into()
    }

    #[napi]
    pub async fn list(&self, status: Option<String>, limit: Option<u32>) -> Answer<Vec<ClaimRecord>> {
        answer(async {
            let status = status.map(|s| waypost::ClaimStatus::parse(&s)).transpose()?;
            let records = self.inner.list(status, limit.unwrap_or(waypost::claims::DEFAULT_LIST_LIMIT)).await?;
            Ok(records.into_iter().map(ClaimRecord::from).collect())
        })
        .await
    }
}
