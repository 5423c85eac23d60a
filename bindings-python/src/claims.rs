//! `ClaimLedger`: the claims ledger itself, for callers that keep each claim; claims,
//! records and counts cross as dicts.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use waypost::{Claim, ClaimCounts, ClaimLedger, ClaimRecord, ClaimStatus, ClaimsOptions, ItemStats};

use crate::errors::to_py_err;
use crate::repository::Repository;
use crate::runtime::drive;

/// The claims ledger itself, for callers that keep each claim (with its fencing epoch)
/// themselves; `CheckpointManager` is the worker API on top of it. Claims and records
/// are dicts.
#[pyclass(frozen, module = "waypost", name = "ClaimLedger")]
pub struct Ledger {
    inner: Option<Arc<dyn ClaimLedger>>,
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let inner = self.inner.take();
        crate::runtime::in_context(move || drop(inner));
    }
}

impl Ledger {
    fn ledger(&self) -> PyResult<Arc<dyn ClaimLedger>> {
        self.inner.clone().ok_or_else(|| crate::errors::waypost_error("ledger is being dropped"))
    }
}

/// A claim given back by Python: the dict `claim` returned (key, worker_id, epoch are read).
struct ClaimArg(Claim);

impl<'a, 'py> FromPyObject<'a, 'py> for ClaimArg {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let dict = obj
            .cast::<PyDict>()
            .map_err(|_| pyo3::exceptions::PyTypeError::new_err("claim: expected the dict that claim() returned"))?;
        let get = |k: &str| -> PyResult<Bound<'py, PyAny>> {
            dict.get_item(k)?.ok_or_else(|| pyo3::exceptions::PyTypeError::new_err(format!("claim: missing {k:?}")))
        };
        let lease: Option<DateTime<FixedOffset>> =
            dict.get_item("lease_expires_at")?.map(|v| v.extract()).transpose()?;
        Ok(ClaimArg(Claim {
            key: get("key")?.extract()?,
            worker_id: get("worker_id")?.extract()?,
            epoch: get("epoch")?.extract()?,
            attempt: dict.get_item("attempt")?.map(|v| v.extract()).transpose()?.unwrap_or(1),
            lease_expires_at: lease.map_or_else(waypost::time::now, |t| t.with_timezone(&Utc)),
        }))
    }
}

pub(crate) fn counts_dict(py: Python<'_>, c: &ClaimCounts) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("total", c.total)?;
    d.set_item("processing", c.processing)?;
    d.set_item("completed", c.completed)?;
    d.set_item("failed", c.failed)?;
    Ok(d.unbind())
}

fn claim_dict(py: Python<'_>, c: &Claim) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("key", &c.key)?;
    d.set_item("worker_id", &c.worker_id)?;
    d.set_item("epoch", c.epoch)?;
    d.set_item("attempt", c.attempt)?;
    d.set_item("lease_expires_at", c.lease_expires_at)?;
    Ok(d.unbind())
}

fn record_dict(py: Python<'_>, r: &ClaimRecord) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("key", &r.key)?;
    d.set_item("item_type", &r.item_type)?;
    d.set_item("item_timestamp", r.item_timestamp)?;
    d.set_item("status", r.status.as_str())?;
    d.set_item("retry_count", r.retry_count)?;
    d.set_item("worker_id", &r.worker_id)?;
    d.set_item("epoch", r.epoch)?;
    d.set_item("lease_expires_at", r.lease_expires_at)?;
    d.set_item("started_at", r.started_at)?;
    d.set_item("completed_at", r.completed_at)?;
    d.set_item("created_at", r.created_at)?;
    d.set_item("error_message", &r.error_message)?;
    match r.stats {
        Some(s) => {
            let stats = PyDict::new(py);
            stats.set_item("records_total", s.records_total)?;
            stats.set_item("records_filtered", s.records_filtered)?;
            stats.set_item("records_persisted", s.records_persisted)?;
            stats.set_item("processing_time_ms", s.processing_time_ms)?;
            d.set_item("stats", stats)?;
        }
        None => d.set_item("stats", py.None())?,
    }
    Ok(d.unbind())
}

#[pymethods]
impl Ledger {
    #[new]
    #[pyo3(signature = (store, *, table = waypost::DEFAULT_CLAIMS_TABLE.to_owned(), max_retries = waypost::DEFAULT_MAX_RETRIES))]
    fn new(store: &Bound<'_, Repository>, table: String, max_retries: u32) -> PyResult<Self> {
        let repo = store.get().repo()?;
        let ledger = repo.claims(ClaimsOptions { table, max_retries }).map_err(to_py_err)?;
        Ok(Ledger { inner: Some(ledger) })
    }

    /// Claims ``key`` for ``worker_id`` for ``lease_ms``: the claim as a dict (key,
    /// worker_id, epoch, attempt, lease_expires_at), or ``None``.
    async fn claim(
        &self,
        key: String,
        item_type: String,
        item_timestamp: DateTime<FixedOffset>,
        worker_id: String,
        lease_ms: u64,
    ) -> PyResult<Option<Py<PyDict>>> {
        let ledger = self.ledger()?;
        let at = item_timestamp.with_timezone(&Utc);
        let lease = Duration::from_millis(lease_ms);
        let claim =
            drive(Duration::ZERO, async move { ledger.claim(&key, &item_type, at, &worker_id, lease).await })?.await?;
        Python::attach(|py| claim.map(|c| claim_dict(py, &c)).transpose())
    }

    /// Renews a live claim's lease; returns the renewed claim.
    async fn heartbeat(&self, claim: ClaimArg, lease_ms: u64) -> PyResult<Py<PyDict>> {
        let ledger = self.ledger()?;
        let lease = Duration::from_millis(lease_ms);
        let renewed = drive(Duration::ZERO, async move { ledger.heartbeat(&claim.0, lease).await })?.await?;
        Python::attach(|py| claim_dict(py, &renewed))
    }

    /// Completes the item with its figures (all 0 or more).
    #[pyo3(signature = (claim, *, records_total = 0, records_filtered = 0, records_persisted = 0, processing_time_ms = 0))]
    async fn complete(
        &self,
        claim: ClaimArg,
        records_total: i64,
        records_filtered: i64,
        records_persisted: i64,
        processing_time_ms: i64,
    ) -> PyResult<()> {
        let ledger = self.ledger()?;
        let stats = ItemStats { records_total, records_filtered, records_persisted, processing_time_ms };
        drive(Duration::ZERO, async move { ledger.complete(&claim.0, stats).await })?.await
    }

    /// Fails the item with ``message``.
    async fn fail(&self, claim: ClaimArg, message: String) -> PyResult<()> {
        let ledger = self.ledger()?;
        drive(Duration::ZERO, async move { ledger.fail(&claim.0, &message).await })?.await
    }

    /// Hands the item back without counting an attempt.
    async fn release(&self, claim: ClaimArg) -> PyResult<()> {
        let ledger = self.ledger()?;
        drive(Duration::ZERO, async move { ledger.release(&claim.0).await })?.await
    }

    /// Whether the item is completed.
    async fn is_processed(&self, key: String) -> PyResult<bool> {
        let ledger = self.ledger()?;
        drive(Duration::ZERO, async move { ledger.is_processed(&key).await })?.await
    }

    /// The item's whole record as a dict, or ``None``.
    async fn get(&self, key: String) -> PyResult<Option<Py<PyDict>>> {
        let ledger = self.ledger()?;
        let record = drive(Duration::ZERO, async move { ledger.get(&key).await })?.await?;
        Python::attach(|py| record.map(|r| record_dict(py, &r)).transpose())
    }

    /// ``{"total", "processing", "completed", "failed"}``.
    async fn stats(&self) -> PyResult<Py<PyDict>> {
        let ledger = self.ledger()?;
        let counts = drive(Duration::ZERO, async move { ledger.stats().await })?.await?;
        Python::attach(|py| counts_dict(py, &counts))
    }

    /// Up to ``limit`` records, with ``status`` if given, ordered by key.
    #[pyo3(signature = (status = None, limit = waypost::claims::DEFAULT_LIST_LIMIT))]
    async fn list(&self, status: Option<String>, limit: u32) -> PyResult<Vec<Py<PyDict>>> {
        let ledger = self.ledger()?;
        let status = status.map(|s| ClaimStatus::parse(&s)).transpose().map_err(to_py_err)?;
        let records = drive(Duration::ZERO, async move { ledger.list(status, limit).await })?.await?;
        Python::attach(|py| records.iter().map(|r| record_dict(py, r)).collect())
    }
}
