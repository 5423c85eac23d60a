//! `Checkpointer`: the core's checkpoint strategies for one projection. `close()` runs
//! the final save as a task of waypost's runtime, so cancelling the Python task that
//! awaits it does not cancel the save (`waypost/_checkpointer.py` waits for it).

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use waypost::{CheckpointRepository, Strategy};

use crate::convert::{EventId, Position};
use crate::errors::{to_py_err, waypost_error};
use crate::repository::Repository;
use crate::runtime::{drive, handle};

/// Saves one projection's position by a strategy (every event, every n events, every
/// t seconds, or n or t, whichever comes first).
#[pyclass(frozen, subclass, module = "waypost", name = "_Checkpointer")]
pub struct Checkpointer {
    inner: Option<Arc<waypost::Checkpointer>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let inner = self.inner.take();
        crate::runtime::in_context(move || drop(inner));
    }
}

impl Checkpointer {
    fn get(&self) -> PyResult<Arc<waypost::Checkpointer>> {
        self.inner.clone().ok_or_else(|| waypost_error("checkpointer is being dropped"))
    }
}

fn strategy(every: Option<i64>, interval: Option<f64>) -> PyResult<Strategy> {
    let every = every
        .map(|n| {
            u32::try_from(n).map_err(|_| {
                to_py_err(waypost::Error::InvalidArgument {
                    message: format!("every must be between 1 and {}, got {n}", u32::MAX),
                })
            })
        })
        .transpose()?;
    let interval = interval
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| {
                to_py_err(waypost::Error::InvalidArgument {
                    message: format!("interval must be a positive number of seconds, got {s}"),
                })
            })
        })
        .transpose()?;
    Strategy::from_parts(every, interval).map_err(to_py_err)
}

#[pymethods]
impl Checkpointer {
    #[new]
    #[pyo3(signature = (store, projection_name, *, every = None, interval = None, out_of_order = false))]
    fn new(
        store: &Bound<'_, Repository>,
        projection_name: &str,
        every: Option<i64>,
        interval: Option<f64>,
        out_of_order: bool,
    ) -> PyResult<Self> {
        let repo: Arc<dyn CheckpointRepository> = store.get().repo()?;
        let strategy = strategy(every, interval)?;
        let inner = match out_of_order {
            true => waypost::Checkpointer::out_of_order(repo, projection_name, strategy),
            false => waypost::Checkpointer::new(repo, projection_name, strategy),
        }
        .map_err(to_py_err)?;
        Ok(Checkpointer { inner: Some(Arc::new(inner)) })
    }

    /// Out of order: handling of ``position`` began (positions in strictly increasing order).
    fn begin(&self, position: Position) -> PyResult<()> {
        self.get()?.begin(position.0).map_err(to_py_err)
    }

    /// Out of order: the handler of the event at ``position`` is done; saves the frontier
    /// if it moved and the strategy says so.
    async fn ack(&self, position: Position, event_id: EventId, event_type: String) -> PyResult<()> {
        let c = self.get()?;
        drive(Duration::ZERO, async move { c.ack(position.0, event_id.0, &event_type).await })?.await
    }

    /// Out of order: how many begun positions are not acknowledged yet.
    #[getter]
    fn in_flight(&self) -> PyResult<usize> {
        Ok(self.get()?.in_flight())
    }

    /// Records that the event at ``position`` was handled; saves if the strategy says so.
    async fn record(&self, position: Position, event_id: EventId, event_type: String) -> PyResult<()> {
        let c = self.get()?;
        drive(Duration::ZERO, async move { c.record(position.0, event_id.0, &event_type).await })?.await
    }

    /// Saves the last recorded position now, if any is unsaved.
    async fn flush(&self) -> PyResult<()> {
        let c = self.get()?;
        drive(Duration::ZERO, async move { c.flush().await })?.await
    }

    /// Stops the tick and saves the last recorded position, as a task of waypost's
    /// runtime that finishes even if this call is cancelled.
    async fn _close_task(&self) -> PyResult<()> {
        let c = self.get()?;
        let task = handle()?.spawn(async move { c.close().await });
        drive(Duration::ZERO, async move {
            task.await
                .map_err(|e| waypost::Error::Backend { message: format!("the final save failed: {e}"), source: None })?
        })?
        .await
    }

    /// How many saves have been made.
    async fn saves(&self) -> PyResult<u64> {
        let c = self.get()?;
        drive(Duration::ZERO, async move { Ok(c.saves().await) })?.await
    }

    /// How many recorded events are not saved yet.
    async fn unsaved(&self) -> PyResult<u32> {
        let c = self.get()?;
        drive(Duration::ZERO, async move { Ok(c.unsaved().await) })?.await
    }

    fn __repr__(&self) -> String {
        self.inner.as_ref().map_or_else(|| "<waypost.Checkpointer>".to_owned(), |c| format!("<waypost.{c:?}>"))
    }
}
