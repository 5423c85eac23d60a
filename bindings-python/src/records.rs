//! `CheckpointData` and `LagMetrics`: immutable records like the tutorial's frozen
//! dataclasses (keyword construction, `==`, `repr`, pickling, `_asdict()`).

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::EventId;

/// Fields as Python objects, in declaration order.
type Fields<'py> = Vec<(&'static str, Bound<'py, PyAny>)>;

fn repr_of(py: Python<'_>, class: &str, fields: Fields<'_>) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        parts.push(format!("{name}={}", value.repr()?));
    }
    let _ = py;
    Ok(format!("{class}({})", parts.join(", ")))
}

fn as_dict<'py>(py: Python<'py>, fields: Fields<'py>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in fields {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}

fn reduce<'py>(slf: &Bound<'py, PyAny>, fields: Fields<'py>) -> PyResult<Bound<'py, PyTuple>> {
    let values: Vec<Bound<'py, PyAny>> = fields.into_iter().map(|(_, v)| v).collect();
    PyTuple::new(slf.py(), [slf.get_type().into_any(), PyTuple::new(slf.py(), values)?.into_any()])
}

/// One projection's stored checkpoint.
#[pyclass(frozen, eq, hash, module = "waypost", name = "CheckpointData")]
#[derive(PartialEq, Hash)]
pub struct CheckpointData(pub waypost::CheckpointData);

#[pymethods]
impl CheckpointData {
    #[new]
    #[pyo3(signature = (projection_name, last_event_id = None, last_event_type = None, last_processed_at = None,
                        events_processed = 0, global_position = None, position_token = None))]
    fn new(
        projection_name: String,
        last_event_id: Option<EventId>,
        last_event_type: Option<String>,
        last_processed_at: Option<DateTime<FixedOffset>>,
        events_processed: i64,
        global_position: Option<i64>,
        position_token: Option<String>,
    ) -> Self {
        CheckpointData(waypost::CheckpointData {
            projection_name,
            last_event_id: last_event_id.map(|e| e.0),
            last_event_type,
            last_processed_at: last_processed_at.map(|t| t.with_timezone(&Utc)),
            events_processed,
            global_position,
            position_token,
        })
    }

    #[getter]
    fn projection_name(&self) -> &str {
        &self.0.projection_name
    }

    #[getter]
    fn last_event_id(&self) -> Option<uuid::Uuid> {
        self.0.last_event_id
    }

    #[getter]
    fn last_event_type(&self) -> Option<&str> {
        self.0.last_event_type.as_deref()
    }

    #[getter]
    fn last_processed_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_processed_at
    }

    #[getter]
    fn events_processed(&self) -> i64 {
        self.0.events_processed
    }

    #[getter]
    fn global_position(&self) -> Option<i64> {
        self.0.global_position
    }

    #[getter]
    fn position_token(&self) -> Option<&str> {
        self.0.position_token.as_deref()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_of(py, "CheckpointData", self.fields(py)?)
    }

    /// The fields as a `dict`, like `dataclasses.asdict`.
    fn _asdict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        as_dict(py, self.fields(py)?)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let fields = slf.get().fields(slf.py())?;
        reduce(slf.as_any(), fields)
    }
}

impl CheckpointData {
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Fields<'py>> {
        let c = &self.0;
        Ok(vec![
            ("projection_name", c.projection_name.clone().into_pyobject(py)?.into_any()),
            ("last_event_id", c.last_event_id.into_pyobject(py)?.into_any()),
            ("last_event_type", c.last_event_type.clone().into_pyobject(py)?.into_any()),
            ("last_processed_at", c.last_processed_at.into_pyobject(py)?.into_any()),
            ("events_processed", c.events_processed.into_pyobject(py)?.into_any()),
            ("global_position", c.global_position.into_pyobject(py)?.into_any()),
            ("position_token", c.position_token.clone().into_pyobject(py)?.into_any()),
        ])
    }
}

/// How far behind a projection is.
#[pyclass(frozen, eq, module = "waypost", name = "LagMetrics")]
#[derive(PartialEq)]
pub struct LagMetrics(pub waypost::LagMetrics);

#[pymethods]
impl LagMetrics {
    #[new]
    #[pyo3(signature = (projection_name, last_event_id = None, latest_event_id = None, lag_seconds = 0.0,
                        events_processed = 0, last_processed_at = None, stream_head = None, events_behind = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        projection_name: String,
        last_event_id: Option<String>,
        latest_event_id: Option<String>,
        lag_seconds: f64,
        events_processed: i64,
        last_processed_at: Option<String>,
        stream_head: Option<i64>,
        events_behind: Option<i64>,
    ) -> Self {
        LagMetrics(waypost::LagMetrics {
            projection_name,
            last_event_id,
            latest_event_id,
            lag_seconds,
            events_processed,
            last_processed_at,
            stream_head,
            events_behind,
        })
    }

    #[getter]
    fn projection_name(&self) -> &str {
        &self.0.projection_name
    }

    #[getter]
    fn last_event_id(&self) -> Option<&str> {
        self.0.last_event_id.as_deref()
    }

    #[getter]
    fn latest_event_id(&self) -> Option<&str> {
        self.0.latest_event_id.as_deref()
    }

    #[getter]
    fn lag_seconds(&self) -> f64 {
        self.0.lag_seconds
    }

    #[getter]
    fn events_processed(&self) -> i64 {
        self.0.events_processed
    }

    #[getter]
    fn last_processed_at(&self) -> Option<&str> {
        self.0.last_processed_at.as_deref()
    }

    #[getter]
    fn stream_head(&self) -> Option<i64> {
        self.0.stream_head
    }

    #[getter]
    fn events_behind(&self) -> Option<i64> {
        self.0.events_behind
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_of(py, "LagMetrics", self.fields(py)?)
    }

    /// The fields as a `dict`, like `dataclasses.asdict`.
    fn _asdict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        as_dict(py, self.fields(py)?)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let fields = slf.get().fields(slf.py())?;
        reduce(slf.as_any(), fields)
    }
}

impl LagMetrics {
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Fields<'py>> {
        let m = &self.0;
        Ok(vec![
            ("projection_name", m.projection_name.clone().into_pyobject(py)?.into_any()),
            ("last_event_id", m.last_event_id.clone().into_pyobject(py)?.into_any()),
            ("latest_event_id", m.latest_event_id.clone().into_pyobject(py)?.into_any()),
            ("lag_seconds", m.lag_seconds.into_pyobject(py)?.into_any()),
            ("events_processed", m.events_processed.into_pyobject(py)?.into_any()),
            ("last_processed_at", m.last_processed_at.clone().into_pyobject(py)?.into_any()),
            ("stream_head", m.stream_head.into_pyobject(py)?.into_any()),
            ("events_behind", m.events_behind.into_pyobject(py)?.into_any()),
        ])
    }
}

/// A projection's progress as a dict (the keys of `waypost.progress.Progress`).
pub fn progress_dict(py: Python<'_>, p: &waypost::progress::Progress) -> PyResult<Py<PyDict>> {
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
pub fn health_dict(py: Python<'_>, r: &waypost::progress::HealthReport) -> PyResult<Py<PyDict>> {
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
