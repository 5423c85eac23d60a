//! `CheckpointManager`: per-item work claims for file and queue workers. The core's
//! `ClaimManager` does everything; this converts arguments and turns its one-time
//! fallback notice into a Python `RuntimeWarning`.

use std::ffi::CString;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::exceptions::PyRuntimeWarning;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::OnceCell;
use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions};

use crate::errors::to_py_err;
use crate::repository::Repository;
use crate::runtime::drive;

/// Per-item work claims for one worker over a repository's store.
#[pyclass(frozen, subclass, module = "waypost", name = "_CheckpointManager")]
pub struct Manager {
    repo: Arc<dyn CheckpointRepository>,
    options: ManagerOptions,
    /// Built on the first call (it reaches the store and starts the heartbeat).
    manager: Arc<OnceCell<Arc<ClaimManager>>>,
}

impl Manager {
    fn call<F, Fut, T>(&self, f: F) -> PyResult<impl std::future::Future<Output = PyResult<T>> + Send + use<F, Fut, T>>
    where
        F: FnOnce(Arc<ClaimManager>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = waypost::Result<T>> + Send,
        T: Send + 'static,
    {
        let (cell, repo, options) = (self.manager.clone(), self.repo.clone(), self.options.clone());
        let run = drive(Duration::ZERO, async move {
            let manager =
                cell.get_or_try_init(|| async { ClaimManager::new(repo, options).await.map(Arc::new) }).await?;
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
    #[pyo3(signature = (store, *, worker_id = None, max_retries = 3, lease_ms = 300_000, fallback_to_memory = false,
                        table = "work_claims".to_owned()))]
    fn new(
        store: &Bound<'_, Repository>,
        worker_id: Option<String>,
        max_retries: u32,
        lease_ms: u64,
        fallback_to_memory: bool,
        table: String,
    ) -> PyResult<Self> {
        let worker_id = Some(worker_id.unwrap_or_else(waypost::manager::default_worker_id));
        let options = ManagerOptions {
            worker_id,
            max_retries,
            lease: Duration::from_millis(lease_ms),
            fallback_to_memory,
            table,
        };
        options.validate().map_err(to_py_err)?;
        Ok(Manager { repo: store.get().repo()?, options, manager: Arc::new(OnceCell::new()) })
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

    /// Whether ``url`` is completed, by any worker.
    async fn is_processed(&self, url: String) -> PyResult<bool> {
        self.call(move |m| async move { m.is_processed(&url).await })?.await
    }

    /// ``{"total", "processing", "completed", "failed"}``, counted in the store.
    async fn get_stats(&self) -> PyResult<Py<PyDict>> {
        let counts = self.call(|m| async move { m.stats().await })?.await?;
        Python::attach(|py| {
            let d = PyDict::new(py);
            d.set_item("total", counts.total)?;
            d.set_item("processing", counts.processing)?;
            d.set_item("completed", counts.completed)?;
            d.set_item("failed", counts.failed)?;
            Ok(d.unbind())
        })
    }

    /// This worker's id.
    fn get_worker_id(&self) -> String {
        self.options.worker_id.clone().unwrap_or_default()
    }

    /// ``"store"``, or ``"memory"`` after a fallback.
    #[getter]
    fn mode(&self) -> &'static str {
        self.manager.get().map_or("store", |m| m.mode().as_str())
    }

    /// Stops the heartbeat and releases every claim still held.
    async fn close(&self) -> PyResult<()> {
        let manager = self.manager.get().cloned();
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
