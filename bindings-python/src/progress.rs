//! Progress and health: how far each projection is, and the verdicts over it, as dicts
//! (the keys of `waypost.progress.Progress` and `Health`).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use waypost::progress::{HealthThresholds, ProgressOptions};

use crate::convert::seconds;
use crate::repository::Repository;

#[pymethods]
impl Repository {
    /// How far a projection is: a dict with ``projection_name``, ``position``,
    /// ``stream_head``, ``events_behind``, ``percent_complete``, ``lag_seconds``,
    /// ``events_processed``, ``last_processed_at``, ``idle_seconds``, ``state``
    /// (``NotStarted``, ``CatchingUp``, ``CaughtUp``, ``Idle``, ``Stalled``) and
    /// ``status_line`` (``Behind by 15 events (25.0% complete)``).
    ///
    /// Parameters
    /// ----------
    /// projection_name : str
    /// stall_after : float
    ///     Seconds without a write after which a projection that is behind is
    ///     ``Stalled`` (and a caught-up one ``Idle``).
    #[pyo3(signature = (projection_name, *, stall_after = ProgressOptions::default().stall_after.as_secs_f64()),
           text_signature = "($self, projection_name, *, stall_after=60.0)")]
    async fn get_progress(&self, projection_name: String, stall_after: f64) -> PyResult<Py<PyDict>> {
        let options = progress_options(stall_after)?;
        let repo = self.repo()?;
        let p = self
            .drive(async move { waypost::progress::progress_of(&*repo, &projection_name, &options).await })?
            .await?;
        Python::attach(|py| progress_dict(py, &p))
    }

    /// :meth:`get_progress` of every checkpoint, ordered by name.
    #[pyo3(signature = (*, stall_after = ProgressOptions::default().stall_after.as_secs_f64()),
           text_signature = "($self, *, stall_after=60.0)")]
    async fn get_all_progress(&self, stall_after: f64) -> PyResult<Vec<Py<PyDict>>> {
        let options = progress_options(stall_after)?;
        let repo = self.repo()?;
        let all = self.drive(async move { waypost::progress::progress_all(&*repo, &options).await })?.await?;
        Python::attach(|py| all.iter().map(|p| progress_dict(py, p)).collect())
    }

    /// Health for your own health endpoint: ``{"status": "Healthy" | "Degraded" |
    /// "Unhealthy", "projections": [{"projection_name", "status", "reason"}, …]}`` for one
    /// projection or (``projection_name=None``) every checkpoint. A projection is
    /// degraded from ``degraded_events_behind`` events behind or ``degraded_stall``
    /// seconds without progress while behind, unhealthy from the ``unhealthy_`` limits;
    /// an idle, caught-up projection is healthy however old its last write is.
    #[pyo3(signature = (projection_name = None, *, stall_after = ProgressOptions::default().stall_after.as_secs_f64(),
                        degraded_events_behind = HealthThresholds::default().degraded_events_behind,
                        unhealthy_events_behind = HealthThresholds::default().unhealthy_events_behind,
                        degraded_stall = HealthThresholds::default().degraded_stall.as_secs_f64(),
                        unhealthy_stall = HealthThresholds::default().unhealthy_stall.as_secs_f64()),
           text_signature = "($self, projection_name=None, *, stall_after=60.0, degraded_events_behind=1000, \
                             unhealthy_events_behind=10000, degraded_stall=60.0, unhealthy_stall=300.0)")]
    #[allow(clippy::too_many_arguments)]
    async fn get_health(
        &self,
        projection_name: Option<String>,
        stall_after: f64,
        degraded_events_behind: i64,
        unhealthy_events_behind: i64,
        degraded_stall: f64,
        unhealthy_stall: f64,
    ) -> PyResult<Py<PyDict>> {
        let options = progress_options(stall_after)?;
        let thresholds = HealthThresholds {
            degraded_events_behind,
            unhealthy_events_behind,
            degraded_stall: seconds("degraded_stall", degraded_stall)?,
            unhealthy_stall: seconds("unhealthy_stall", unhealthy_stall)?,
        };
        let repo = self.repo()?;
        let report = self
            .drive(async move {
                waypost::progress::health_report(&*repo, projection_name.as_deref(), &options, &thresholds).await
            })?
            .await?;
        Python::attach(|py| health_dict(py, &report))
    }
}

fn progress_options(stall_after: f64) -> PyResult<ProgressOptions> {
    Ok(ProgressOptions { stall_after: seconds("stall_after", stall_after)? })
}

/// A projection's progress as a dict (the keys of `waypost.progress.Progress`).
fn progress_dict(py: Python<'_>, p: &waypost::progress::Progress) -> PyResult<Py<PyDict>> {
    let d = PyDict::new(py);
    d.set_item("projection_name", &p.projection_name)?;
    d.set_item("position", p.position)?;
    d.set_item("stream_head", p.stream_head)?;
    d.set_item("events_behind", p.events_behind)?;
    d.set_item("percent_complete", p.percent_complete)?;
    d.set_item("lag_seconds", p.lag_seconds)?;
    d.set_item("events_processed", p.events_processed)?;
    d.set_item("last_processed_at", p.last_processed_at)?;
    d.set_item("idle_seconds", p.idle_seconds)?;
    d.set_item("state", p.state.as_str())?;
    d.set_item("status_line", p.status_line())?;
    Ok(d.unbind())
}

/// A health report as a dict: `status` and one verdict per projection.
fn health_dict(py: Python<'_>, r: &waypost::progress::HealthReport) -> PyResult<Py<PyDict>> {
    let projections = r
        .projections
        .iter()
        .map(|h| {
            let d = PyDict::new(py);
            d.set_item("projection_name", &h.projection_name)?;
            d.set_item("status", h.status.as_str())?;
            d.set_item("reason", &h.reason)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let d = PyDict::new(py);
    d.set_item("status", r.status.as_str())?;
    d.set_item("projections", projections)?;
    Ok(d.unbind())
}
