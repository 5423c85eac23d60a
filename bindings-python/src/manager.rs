//! `CheckpointManager`: per-item work claims for file and queue workers (the ledger under
//! it is in `claims`). The core's `ClaimManager` does everything; this converts
//! arguments and turns its one-time fallback notice into a Python `RuntimeWarning`.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use waypost::{ClaimManager, ItemStats, LazyClaimManager, ManagerOptions};

use crate::claims::counts_dict;
use crate::errors::to_py_err;
use crate::repository::Repository;
use crate::runtime::drive;

/// Per-item work claims for one worker over a repository's store.
#[pyclass(frozen, subclass, module = "waypost", name = "_CheckpointManager")]
pub struct Manager {
    /// Started by `start()` or the first call (it reaches the store and starts the
    /// heartbeat); `None` only while dropping.
    lazy: Option<Arc<LazyClaimManager>>,
    closed: std::sync::atomic::AtomicBool,
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Started (a heartbeat runs, claims may be held) and never closed.
        let started = self.lazy.as_ref().is_some_and(|l| l.started().is_some());
        if started && !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            crate::errors::resource_warning(&format!(
                "unclosed waypost.CheckpointManager(worker_id={:?}): await its close(), or use async with; \
                 its held claims wait for their leases to run out",
                self.get_worker_id()
            ));
        }
        // The last reference to a PostgreSQL pool must go inside the runtime.
        let lazy = self.lazy.take();
        crate::runtime::in_context(move || drop(lazy));
    }
}

impl Manager {
    fn call<F, Fut, T>(&self, f: F) -> PyResult<impl std::future::Future<Output = PyResult<T>> + Send + use<F, Fut, T>>
    where
        F: FnOnce(Arc<ClaimManager>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = waypost::Result<T>> + Send,
        T: Send + 'static,
    {
        let lazy = self.lazy.clone().ok_or_else(|| crate::errors::waypost_error("manager is being dropped"))?;
        let run = drive(Duration::ZERO, async move {
            let manager = lazy.get().await?;
            let out = f(manager.clone()).await;
            Ok((out, manager.take_warning()))
        })?;
        Ok(async move {
            let (out, warning) = run.await?;
            if let Some(warning) = warning {
                Python::attach(|py| {
                    let message = CString::new(warning.replace('\0', " ")).unwrap_or_default();
                    PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &message, 1)
                })?;
            }
            out.map_err(to_py_err)
        })
    }
}

#[pymethods]
impl Manager {
    #[new]
    #[pyo3(signature = (store, *, worker_id = None, max_retries = waypost::DEFAULT_MAX_RETRIES,
                        lease_ms = waypost::manager::DEFAULT_LEASE.as_millis() as u64,
                        fallback_to_memory = ManagerOptions::default().fallback_to_memory,
                        table = waypost::DEFAULT_CLAIMS_TABLE.to_owned()),
           text_signature = "(store, *, worker_id=None, max_retries=3, lease_ms=300000, fallback_to_memory=False, \
                             table='work_claims')")]
    fn new(
        store: &Bound<'_, Repository>,
        worker_id: Option<String>,
        max_retries: u32,
        lease_ms: u64,
        fallback_to_memory: bool,
        table: String,
    ) -> PyResult<Self> {
        let options = ManagerOptions {
            worker_id,
            max_retries,
            lease: Duration::from_millis(lease_ms),
            fallback_to_memory,
            table,
        };
        let lazy = LazyClaimManager::new(store.get().repo()?, options).map_err(to_py_err)?;
        Ok(Manager { lazy: Some(Arc::new(lazy)), closed: Default::default() })
    }

    /// Reaches the store now and starts the heartbeat (the first call does it otherwise):
    /// ``CheckpointManager.start(store, …)`` awaits this, so a worker learns at start that
    /// the store is missing.
    async fn _start(&self) -> PyResult<()> {
        self.call(|_| async { Ok(()) })?.await
    }

    /// Claims ``url`` for this worker: ``True`` when it is now this worker's to process,
    /// ``False`` when it is done, held by a live worker, or out of retries.
    async fn claim_file(&self, url: String, file_type: String, timestamp: DateTime<FixedOffset>) -> PyResult<bool> {
        let at = timestamp.with_timezone(&Utc);
        self.call(move |m| async move { m.claim_file(&url, &file_type, at).await })?.await
    }

    /// Marks a claimed file completed with its figures (all 0 or more).
    #[pyo3(signature = (url, *, total_rows = 0, filtered_rows = 0, persisted_rows = 0, duration_ms = 0))]
    async fn complete_file(
        &self,
        url: String,
        total_rows: i64,
        filtered_rows: i64,
        persisted_rows: i64,
        duration_ms: i64,
    ) -> PyResult<()> {
        let stats = ItemStats {
            records_total: total_rows,
            records_filtered: filtered_rows,
            records_persisted: persisted_rows,
            processing_time_ms: duration_ms,
        };
        self.call(move |m| async move { m.complete_file(&url, stats).await })?.await
    }

    /// Marks a claimed file failed; it is claimed again while retries remain.
    async fn fail_file(&self, url: String, message: String) -> PyResult<()> {
        self.call(move |m| async move { m.fail_file(&url, &message).await })?.await
    }

    /// Hands a claimed file back without counting an attempt.
    async fn release_file(&self, url: String) -> PyResult<()> {
        self.call(move |m| async move { m.release_file(&url).await })?.await
    }

    /// Waits while this worker holds ``url``: raises ``LeaseLostError`` (saying why) as
    /// soon as the background heartbeat finds the claim lost, and returns ``None`` when
    /// the claim ends any other way, or at once when none is held. The ``claim`` block
    /// runs this beside its body and cancels the body on a loss.
    async fn lease_lost(&self, url: String) -> PyResult<()> {
        self.call(move |m| async move {
            match m.lease_watch(&url) {
                Some(watch) => watch.lost().await.map_or(Ok(()), Err),
                None => Ok(()),
            }
        })?
        .await
    }

    /// Whether ``url`` is completed, by any worker.
    async fn is_processed(&self, url: String) -> PyResult<bool> {
        self.call(move |m| async move { m.is_processed(&url).await })?.await
    }

    /// ``{"total", "processing", "completed", "failed"}``, counted in the store.
    async fn get_stats(&self) -> PyResult<Py<PyDict>> {
        let counts = self.call(|m| async move { m.stats().await })?.await?;
        Python::attach(|py| counts_dict(py, &counts))
    }

    /// This worker's id.
    fn get_worker_id(&self) -> String {
        self.lazy.as_ref().map(|l| l.worker_id().to_owned()).unwrap_or_default()
    }

    /// ``"pending"`` until the store answered (``start()`` or the first call), then
    /// ``"store"``, or ``"memory"`` after a fallback.
    #[getter]
    fn mode(&self) -> &'static str {
        self.lazy.as_ref().map_or(waypost::manager::PENDING_MODE, |l| l.mode_name())
    }

    /// Stops the heartbeat and releases every claim still held.
    async fn close(&self) -> PyResult<()> {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        let manager = self.lazy.as_ref().and_then(|l| l.started().cloned());
        drive(Duration::ZERO, async move {
            match manager {
                Some(m) => m.close().await,
                None => Ok(()),
            }
        })?
        .await
    }

    fn __repr__(&self) -> String {
        format!("<waypost.CheckpointManager worker_id={:?} mode={}>", self.get_worker_id(), self.mode())
    }
}
