//! `Transaction`: the core's transaction for `async with repo.transaction() as tx:`.
//! Converts parameters and rows; the rules (validation, ending on error, rollback when
//! dropped) are the core's.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDateTime, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use waypost::{CheckpointRepository, SqlValue};

use crate::convert::{EventId, Position};
use crate::errors::{to_py_err, waypost_error};
use crate::runtime::drive;

fn invalid(message: String) -> PyErr {
    to_py_err(waypost::Error::InvalidArgument { message })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// The parameters of a statement: a list or tuple of None, bool, int, float, str, bytes,
/// uuid.UUID, timezone-aware datetime, or a dict/list (sent as JSON).
pub struct SqlParams(pub Vec<SqlValue>);

impl<'a, 'py> FromPyObject<'a, 'py> for SqlParams {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
            return Err(PyTypeError::new_err(format!(
                "expected a list or tuple of parameters, not {}",
                type_name(&obj)
            )));
        }
        let mut values = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            values.push(sql_value(&item?).map_err(|e| Python::attach(|py| prefix(py, e, i)))?);
        }
        Ok(SqlParams(values))
    }
}

/// Names the parameter in the message of a conversion error, keeping its class.
fn prefix(py: Python<'_>, e: PyErr, index: usize) -> PyErr {
    let message = format!("params[{index}]: {}", e.value(py));
    match e.get_type(py).call1((message,)) {
        Ok(instance) => PyErr::from_value(instance),
        Err(_) => e,
    }
}

fn sql_value(obj: &Bound<'_, PyAny>) -> PyResult<SqlValue> {
    if obj.is_none() {
        return Ok(SqlValue::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(SqlValue::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().map(SqlValue::Int).map_err(|_| invalid("integer out of the 64-bit range".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(SqlValue::Float(f.value()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(SqlValue::Text(s.to_str()?.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(SqlValue::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(SqlValue::Bytes(b.to_vec()));
    }
    if obj.is_instance_of::<PyDateTime>() {
        if obj.getattr("tzinfo")?.is_none() {
            return Err(invalid("a naive datetime has no time zone; give an aware one (e.g. tz=timezone.utc)".into()));
        }
        let t: DateTime<FixedOffset> = obj.extract()?;
        return Ok(SqlValue::Timestamp(t.with_timezone(&Utc)));
    }
    if obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyList>() {
        let text: String = obj.py().import("json")?.call_method1("dumps", (obj,))?.extract()?;
        return Ok(SqlValue::Json(text));
    }
    if let Ok(id) = obj.extract::<uuid::Uuid>() {
        return Ok(SqlValue::Uuid(id));
    }
    Err(PyTypeError::new_err(format!(
        "unsupported type {}: expected None, bool, int, float, str, bytes, uuid.UUID, datetime, dict or list",
        type_name(obj)
    )))
}

fn to_python(py: Python<'_>, value: &SqlValue) -> PyResult<Py<PyAny>> {
    Ok(match value {
        SqlValue::Null => py.None(),
        SqlValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        SqlValue::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        SqlValue::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        SqlValue::Text(t) => t.into_pyobject(py)?.into_any().unbind(),
        SqlValue::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        SqlValue::Uuid(u) => u.into_pyobject(py)?.into_any().unbind(),
        SqlValue::Timestamp(t) => t.into_pyobject(py)?.into_any().unbind(),
        SqlValue::Json(text) => py.import("json")?.call_method1("loads", (text,))?.unbind(),
    })
}

/// A transaction on a repository: the read-model statements and checkpoint writes made
/// through it commit together or not at all.
///
/// Use it as ``async with repo.transaction() as tx:`` — it begins on entry, commits when
/// the block ends normally and rolls back when it raises (or is cancelled). Placeholders
/// are ``$1, $2, …`` on SQLite and PostgreSQL; parameters are always bound, never pasted
/// into the SQL. Any error from the store rolls the whole transaction back and ends it.
#[pyclass(frozen, module = "waypost", name = "Transaction")]
pub struct Transaction {
    /// `None` only while dropping.
    repo: Option<Arc<dyn CheckpointRepository>>,
    tx: Mutex<Option<Arc<waypost::Transaction>>>,
    spin: Duration,
}

impl Transaction {
    pub fn new(repo: Arc<dyn CheckpointRepository>, spin: Duration) -> Self {
        Transaction { repo: Some(repo), tx: Mutex::new(None), spin }
    }

    fn current(&self) -> PyResult<Arc<waypost::Transaction>> {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| invalid("the transaction has not begun (use `async with repo.transaction() as tx:`)".into()))
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // An open transaction rolls back when dropped, which needs the runtime's context.
        let tx = self.tx.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        let repo = self.repo.take();
        crate::runtime::in_context(move || drop((tx, repo)));
    }
}

#[pymethods]
impl Transaction {
    /// Begins the transaction (``async with`` does this for you).
    ///
    /// Raises
    /// ------
    /// InvalidArgumentError
    ///     When it has begun already.
    /// UnsupportedError
    ///     For an SQLite ``:memory:`` database.
    /// UnavailableError
    ///     When the store cannot be reached or stays locked.
    async fn begin(&self) -> PyResult<()> {
        if self.tx.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            return Err(invalid("the transaction has begun already".into()));
        }
        let repo = self.repo.clone().ok_or_else(|| waypost_error("transaction is being dropped"))?;
        let tx = drive(self.spin, async move { repo.begin().await })?.await?;
        *self.tx.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(tx));
        Ok(())
    }

    /// Runs one SQL statement with bound parameters.
    ///
    /// Parameters
    /// ----------
    /// sql : str
    ///     One statement, with ``$1, $2, …`` placeholders.
    /// params : list or tuple, optional
    ///     None, bool, int, float, str, bytes, uuid.UUID, aware datetime, dict or list
    ///     (JSON).
    ///
    /// Returns
    /// -------
    /// int
    ///     The number of rows the statement changed (or returned).
    ///
    /// Raises
    /// ------
    /// ConflictError
    ///     For a violated constraint (the transaction is rolled back).
    /// NotFoundError
    ///     For a missing table (rolled back).
    /// InvalidArgumentError
    ///     For an empty statement, a wrong number of parameters, or after the end.
    /// UnsupportedError
    ///     On the in-memory repository, which has no SQL.
    #[pyo3(signature = (sql, params = None))]
    async fn execute(&self, sql: String, params: Option<SqlParams>) -> PyResult<u64> {
        let tx = self.current()?;
        let params = params.map(|p| p.0).unwrap_or_default();
        drive(self.spin, async move { tx.execute(&sql, &params).await })?.await
    }

    /// Runs one query with bound parameters and returns every row as a dict.
    ///
    /// Values come back as the store holds them: on PostgreSQL typed (bool, int, float,
    /// str, bytes, uuid.UUID, aware datetime, JSON as Python objects); on SQLite as its
    /// storage classes (None, int, float, str, bytes).
    ///
    /// Raises
    /// ------
    /// UnsupportedError
    ///     For a column type waypost does not convert (cast it in SQL, e.g. ``::text``).
    #[pyo3(signature = (sql, params = None))]
    async fn fetch_all(&self, sql: String, params: Option<SqlParams>) -> PyResult<Vec<Py<PyDict>>> {
        let tx = self.current()?;
        let params = params.map(|p| p.0).unwrap_or_default();
        let rows = drive(self.spin, async move { tx.fetch_all(&sql, &params).await })?.await?;
        Python::attach(|py| {
            rows.iter()
                .map(|row| {
                    let dict = PyDict::new(py);
                    for (name, value) in row {
                        dict.set_item(name, to_python(py, value)?)?;
                    }
                    Ok(dict.unbind())
                })
                .collect()
        })
    }

    /// ``save_position`` inside the transaction (visible to others at commit).
    async fn save_position(
        &self,
        subscription_id: String,
        position: Position,
        event_id: EventId,
        event_type: String,
    ) -> PyResult<()> {
        let tx = self.current()?;
        drive(self.spin, async move { tx.save_position(&subscription_id, position.0, event_id.0, &event_type).await })?
            .await
    }

    /// ``update_checkpoint`` inside the transaction (visible to others at commit).
    async fn update_checkpoint(&self, projection_name: String, event_id: EventId, event_type: String) -> PyResult<()> {
        let tx = self.current()?;
        drive(self.spin, async move { tx.update_checkpoint(&projection_name, event_id.0, &event_type).await })?.await
    }

    /// ``save_position_token`` inside the transaction (visible to others at commit).
    async fn save_position_token(
        &self,
        subscription_id: String,
        token: String,
        event_id: EventId,
        event_type: String,
    ) -> PyResult<()> {
        let tx = self.current()?;
        drive(
            self.spin,
            async move { tx.save_position_token(&subscription_id, &token, event_id.0, &event_type).await },
        )?
        .await
    }

    /// Commits every statement and checkpoint write together; the transaction ends.
    async fn commit(&self) -> PyResult<()> {
        let tx = self.current()?;
        drive(self.spin, async move { tx.commit().await })?.await
    }

    /// Rolls back; a no-op once the transaction has ended.
    async fn rollback(&self) -> PyResult<()> {
        let tx = self.current()?;
        drive(self.spin, async move { tx.rollback().await })?.await
    }

    /// Whether the transaction has begun and not yet ended.
    #[getter]
    fn is_open(&self) -> bool {
        self.tx.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_some_and(|tx| tx.is_open())
    }

    async fn __aenter__(slf: Py<Self>) -> PyResult<Py<Self>> {
        let this = slf.get();
        this.begin().await?;
        Ok(slf)
    }

    /// Commits when the block ended normally, rolls back when it raised.
    async fn __aexit__(
        &self,
        exc_type: Option<Py<PyAny>>,
        _exc: Option<Py<PyAny>>,
        _tb: Option<Py<PyAny>>,
    ) -> PyResult<bool> {
        match exc_type {
            None => self.commit().await?,
            Some(_) => self.rollback().await?,
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = match self.tx.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            None => "not begun",
            Some(tx) if tx.is_open() => "open",
            Some(_) => "ended",
        };
        format!("<waypost.Transaction {state}>")
    }
}
