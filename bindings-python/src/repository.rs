//! The base class of every repository: it holds the core repository, and its protocol
//! methods convert, call the core, and map. The constructors are in `stores`, progress
//! and health in `progress`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::prelude::*;
use pyo3::types::PyList;
use waypost::{CheckpointRepository, NewEvent};

use crate::convert::{EventId, EventTypes, OutEventId, Position};
use crate::errors::to_py_err;
use crate::records::{CheckpointData, LagMetrics};
use crate::runtime::{drive, InRuntime};

pub(crate) fn invalid(message: String) -> PyErr {
    to_py_err(waypost::Error::InvalidArgument { message })
}

/// The protocol methods shared by every repository class.
#[pyclass(frozen, subclass, module = "waypost", name = "_Repository")]
pub struct Repository {
    /// Always `Some` until dropped (taken in `Drop` to drop it inside the runtime).
    inner: Option<Arc<dyn CheckpointRepository>>,
    /// How long a call may wait on the Python thread before yielding to the loop.
    spin: Duration,
    /// What a `ResourceWarning` names if this repository is collected unclosed: set for
    /// the stores that hold connections and threads (not the in-memory one).
    unclosed_warning: Option<String>,
    closed: std::sync::atomic::AtomicBool,
    /// The in-memory store, whose records this object keeps (`Records`).
    memory: Option<Records>,
}

/// The record objects last returned by an in-memory repository's `get_all_checkpoints`,
/// beside the core records they were built from: a record the core still holds as the
/// same allocation is unchanged, and its object is returned again (records are
/// immutable). Only a written record costs a new object: 10,000 records take a tenth
/// of the time.
struct Records {
    repo: Arc<waypost::MemoryRepository>,
    last: std::sync::Mutex<Vec<(Arc<waypost::CheckpointData>, Py<CheckpointData>)>>,
}

impl Records {
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let shared = self.repo.checkpoints_shared().map_err(to_py_err)?;
        // Building an object can run Python code (a collection's finalizer) that calls
        // back in here; that call builds its own objects.
        let Ok(mut last) = self.last.try_lock() else {
            return PyList::new(py, shared.iter().map(|r| CheckpointData(waypost::CheckpointData::clone(r))));
        };
        let mut old = std::mem::take(&mut *last).into_iter().peekable();
        let mut next = Vec::with_capacity(shared.len());
        for record in shared {
            let mut kept = None;
            while let Some((was, _)) = old.peek() {
                if Arc::ptr_eq(was, &record) {
                    kept = old.next().map(|(_, object)| object);
                    break;
                }
                // Records sort by name: an earlier name was deleted, an equal one written.
                if was.projection_name > record.projection_name {
                    break;
                }
                old.next();
            }
            let object = match kept {
                Some(object) => object,
                None => Py::new(py, CheckpointData(waypost::CheckpointData::clone(&record)))?,
            };
            next.push((record, object));
        }
        let list = PyList::new(py, next.iter().map(|(_, object)| object.bind(py)))?;
        *last = next;
        Ok(list)
    }
}

/// How long a SQLite read that went to the SQLite thread (lag, lists, the head) is waited
/// for on the Python thread before the call continues as a pending future: the wake from
/// that thread to the event loop costs tens of microseconds, more than a short query.
/// Writes never wait here (`Repository::drive_write`).
pub(crate) const SQLITE_SPIN: Duration = Duration::from_micros(250);

impl Repository {
    pub(crate) fn new(inner: Arc<dyn CheckpointRepository>) -> Self {
        Repository {
            inner: Some(inner),
            spin: Duration::ZERO,
            unclosed_warning: None,
            closed: Default::default(),
            memory: None,
        }
    }

    /// The in-memory store's repository, which keeps its record objects.
    pub(crate) fn memory(repo: Arc<waypost::MemoryRepository>) -> Self {
        let mut base = Repository::new(repo.clone());
        base.memory = Some(Records { repo, last: Default::default() });
        base
    }

    /// Warns (`ResourceWarning`) when collected without `close()`, as Python's own files do.
    pub(crate) fn warns_unclosed(mut self, what: String) -> Self {
        self.unclosed_warning = Some(what);
        self
    }

    pub(crate) fn spinning(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Wraps a core call for awaiting, with this repository's spin.
    pub(crate) fn drive<F, T>(&self, future: F) -> PyResult<InRuntime<F>>
    where
        F: std::future::Future<Output = waypost::Result<T>> + Send,
        T: Send,
    {
        drive(self.spin, future)
    }

    /// Wraps a checkpoint write for awaiting, without the spin: while one task's write
    /// is in flight the event loop must stay free to start the other tasks' writes, which
    /// then share the next commit (group commit). Waiting for each write on the Python
    /// thread made 8 concurrent tasks write no faster than one.
    pub(crate) fn drive_write<F>(&self, future: F) -> PyResult<InRuntime<F>>
    where
        F: std::future::Future<Output = waypost::Result<()>> + Send,
    {
        drive(Duration::ZERO, future)
    }

    pub(crate) fn repo(&self) -> PyResult<Arc<dyn CheckpointRepository>> {
        self.inner.clone().ok_or_else(|| crate::errors::waypost_error("repository is being dropped"))
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        if let Some(what) = &self.unclosed_warning {
            if !self.closed.load(std::sync::atomic::Ordering::Acquire) {
                crate::errors::resource_warning(&format!("unclosed {what}: await its close(), or use async with"));
            }
        }
        let inner = self.inner.take();
        crate::runtime::in_context(move || drop(inner));
    }
}

#[pymethods]
impl Repository {
    /// The last processed event id of a projection.
    ///
    /// Parameters
    /// ----------
    /// projection_name : str
    ///     1 to 255 characters, no NUL.
    ///
    /// Returns
    /// -------
    /// uuid.UUID or None
    ///     ``None`` when the projection has no checkpoint.
    ///
    /// Raises
    /// ------
    /// InvalidArgumentError
    ///     For a bad name.
    /// UnavailableError
    ///     When the store cannot be reached.
    async fn get_checkpoint(&self, projection_name: String) -> PyResult<OutEventId> {
        let repo = self.repo()?;
        self.drive(async move { repo.get_checkpoint(&projection_name).await })?.await.map(OutEventId)
    }

    /// Records an event as processed (UPSERT); keeps any stored position and token.
    ///
    /// Sets the last event id and type, ``last_processed_at`` (now, UTC) and adds 1 to
    /// ``events_processed``. The write is atomic: also when the awaiting task is
    /// cancelled, it happened entirely or not at all.
    ///
    /// Parameters
    /// ----------
    /// projection_name : str
    /// event_id : uuid.UUID or str
    /// event_type : str
    ///
    /// Raises
    /// ------
    /// InvalidArgumentError
    ///     For a bad name, event type or id; nothing is written.
    /// UnavailableError
    ///     When the store cannot be reached.
    async fn update_checkpoint(&self, projection_name: String, event_id: EventId, event_type: String) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive_write(async move { repo.update_checkpoint(&projection_name, event_id.0, &event_type).await })?.await
    }

    /// The last saved global position, or ``None``.
    async fn get_position(&self, subscription_id: String) -> PyResult<Option<i64>> {
        let repo = self.repo()?;
        self.drive(async move { repo.get_position(&subscription_id).await })?.await
    }

    /// Saves a global position (UPSERT); keeps any stored token.
    ///
    /// Parameters
    /// ----------
    /// subscription_id : str
    /// position : int
    ///     0 to 2**63 - 1; a smaller position than the stored one overwrites it.
    /// event_id : uuid.UUID or str
    /// event_type : str
    ///
    /// Raises
    /// ------
    /// InvalidArgumentError
    ///     For a bad name, event type, id or an out-of-range position; nothing is written.
    /// TypeError
    ///     When ``position`` is not an ``int``.
    async fn save_position(
        &self,
        subscription_id: String,
        position: Position,
        event_id: EventId,
        event_type: String,
    ) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive_write(
            async move { repo.save_position(&subscription_id, position.0, event_id.0, &event_type).await },
        )?
        .await
    }

    /// The last saved opaque position token, or ``None``.
    async fn get_position_token(&self, subscription_id: String) -> PyResult<Option<String>> {
        let repo = self.repo()?;
        self.drive(async move { repo.get_position_token(&subscription_id).await })?.await
    }

    /// Saves an opaque position token (UPSERT); keeps any stored integer position.
    async fn save_position_token(
        &self,
        subscription_id: String,
        token: String,
        event_id: EventId,
        event_type: String,
    ) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive_write(
            async move { repo.save_position_token(&subscription_id, &token, event_id.0, &event_type).await },
        )?
        .await
    }

    /// How far behind a projection is.
    ///
    /// Parameters
    /// ----------
    /// projection_name : str
    /// event_types : list of str, optional
    ///     Only these types count as the newest event; ``None`` or empty: all types.
    ///
    /// Returns
    /// -------
    /// LagMetrics or None
    ///     ``None`` when the projection has no checkpoint.
    ///
    /// Raises
    /// ------
    /// NotFoundError
    ///     When the configured events table does not exist.
    #[pyo3(signature = (projection_name, event_types = None))]
    async fn get_lag_metrics(
        &self,
        projection_name: String,
        event_types: Option<EventTypes>,
    ) -> PyResult<Option<LagMetrics>> {
        let repo = self.repo()?;
        let metrics = self
            .drive(async move {
                let types = event_types.map(|t| t.0);
                repo.get_lag_metrics(&projection_name, types.as_deref()).await
            })?
            .await?;
        Ok(metrics.map(LagMetrics))
    }

    /// Deletes a projection's checkpoint; a no-op when there is none.
    async fn reset_checkpoint(&self, projection_name: String) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive(async move { repo.reset_checkpoint(&projection_name).await })?.await
    }

    /// Every checkpoint, ordered by name in byte order.
    async fn get_all_checkpoints(&self) -> PyResult<Py<PyList>> {
        if let Some(records) = &self.memory {
            return Python::attach(|py| records.list(py).map(Bound::unbind));
        }
        let repo = self.repo()?;
        let all = self.drive(async move { repo.get_all_checkpoints().await })?.await?;
        Python::attach(|py| {
            let records = all.into_iter().map(|r| CheckpointData::untracked(py, r)).collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, records)?.unbind())
        })
    }

    /// The core's own `get_all_checkpoints`, awaited the same way but without building
    /// Python objects: how many records it read. For the benchmark that measures what
    /// the binding adds to the core's call (`bench/compare_eventsource.py`).
    async fn _core_get_all_checkpoints(&self) -> PyResult<usize> {
        let repo = self.repo()?;
        Ok(self.drive(async move { repo.get_all_checkpoints().await })?.await?.len())
    }

    /// The SQL text and parameters of a checkpoint write, to run with your own driver
    /// inside your own transaction (statement mode): ``kind`` is ``"save_position"``
    /// (give ``position``), ``"update_checkpoint"`` or ``"save_position_token"`` (give
    /// ``token``). Placeholders are ``$1 …`` on PostgreSQL (asyncpg:
    /// ``await conn.execute(sql, *params)``) and ``?1 …`` on SQLite (sqlite3:
    /// ``conn.execute(sql, params)``).
    ///
    /// Returns
    /// -------
    /// tuple[str, list]
    ///     The statement and its parameters (str, int, uuid.UUID, datetime).
    ///
    /// Raises
    /// ------
    /// InvalidArgumentError
    ///     For a bad kind, name, event type, position or token.
    /// UnsupportedError
    ///     On the in-memory repository.
    #[pyo3(signature = (kind, name, event_id, event_type, *, position = None, token = None))]
    async fn checkpoint_statement(
        &self,
        kind: String,
        name: String,
        event_id: EventId,
        event_type: String,
        position: Option<Position>,
        token: Option<String>,
    ) -> PyResult<(String, Vec<Py<PyAny>>)> {
        use waypost::{StatementKind, StatementParam};
        let kind = StatementKind::from_args(&kind, position.map(|p| p.0), token).map_err(to_py_err)?;
        let repo = self.repo()?;
        let stmt =
            self.drive(async move { repo.checkpoint_statement(&name, event_id.0, &event_type, kind).await })?.await?;
        Python::attach(|py| {
            let params = stmt
                .params
                .iter()
                .map(|p| match p {
                    StatementParam::Text(t) => Ok(t.into_pyobject(py)?.into_any().unbind()),
                    StatementParam::Int(i) => Ok(i.into_pyobject(py)?.into_any().unbind()),
                    StatementParam::Uuid(u) => Ok(u.into_pyobject(py)?.into_any().unbind()),
                    StatementParam::Timestamp(t) => Ok(t.into_pyobject(py)?.into_any().unbind()),
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok((stmt.sql, params))
        })
    }

    /// A transaction on this repository, for ``async with repo.transaction() as tx:``:
    /// read-model statements (``tx.execute``, ``tx.fetch_all``) and checkpoint writes
    /// (``tx.save_position`` …) commit together when the block ends, or roll back
    /// together when it raises.
    fn transaction(&self) -> PyResult<crate::transaction::Transaction> {
        Ok(crate::transaction::Transaction::new(self.repo()?, self.spin))
    }

    /// The largest global position in the events table (0 when empty), or ``None`` for a
    /// repository without an events table (or without a position column).
    async fn stream_head(&self) -> PyResult<Option<i64>> {
        let repo = self.repo()?;
        self.drive(async move { repo.stream_head().await })?.await
    }

    /// Creates the events table in waypost's layout, with the lag index, if missing.
    async fn create_events_table(&self) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive(async move { repo.create_events_table().await })?.await
    }

    /// Creates the index that makes filtered lag queries fast on an existing events table.
    async fn create_lag_index(&self) -> PyResult<()> {
        let repo = self.repo()?;
        self.drive(async move { repo.create_lag_index().await })?.await
    }

    /// Appends ``(event_id, event_type, timestamp or None)`` tuples to the events table.
    async fn append_events(&self, events: Vec<(EventId, String, Option<DateTime<FixedOffset>>)>) -> PyResult<()> {
        let repo = self.repo()?;
        let events: Vec<NewEvent> = events
            .into_iter()
            .map(|(id, event_type, at)| NewEvent {
                event_id: id.0,
                event_type,
                timestamp: at.map_or_else(waypost::time::now, |t| t.with_timezone(&Utc)),
            })
            .collect();
        self.drive(async move { repo.append_events(&events).await })?.await
    }

    /// Releases connections and threads; later calls raise ``UnavailableError``.
    async fn close(&self) -> PyResult<()> {
        let repo = self.repo()?;
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        self.drive(async move { repo.close().await })?.await
    }

    /// Same as :meth:`close`.
    async fn aclose(&self) -> PyResult<()> {
        self.close().await
    }

    async fn __aenter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    async fn __aexit__(&self, _exc: Py<pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close().await?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            Some(inner) => format!("<waypost {inner:?}>"),
            None => "<waypost repository>".to_owned(),
        }
    }
}
