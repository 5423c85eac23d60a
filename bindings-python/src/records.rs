//! `CheckpointData` and `LagMetrics`: immutable records like the tutorial's frozen
//! dataclasses (keyword construction, `==`, `repr`, pickling, `_asdict()`).

use chrono::{DateTime, FixedOffset, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::{EventId, OutEventId};

/// A record class over a core record: its fields declared once, as read-only attributes
/// in declaration order, which `repr`, `_asdict()` and pickling walk; then its
/// constructor.
macro_rules! record {
    ($class:ident { $($field:ident: $ty:ty),* $(,)? } $new:item) => {
        #[pymethods]
        impl $class {
            $new

            $(
                #[getter]
                fn $field(&self) -> $ty {
                    self.0.$field.clone().into()
                }
            )*

            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                let parts: Vec<String> = fields(slf.as_any(), &[$(stringify!($field)),*])?
                    .into_iter()
                    .map(|(name, value)| Ok(format!("{name}={}", value.repr()?)))
                    .collect::<PyResult<_>>()?;
                Ok(format!("{}({})", stringify!($class), parts.join(", ")))
            }

            /// The fields as a `dict`, like `dataclasses.asdict`.
            fn _asdict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
                let dict = PyDict::new(slf.py());
                for (name, value) in fields(slf.as_any(), &[$(stringify!($field)),*])? {
                    dict.set_item(name, value)?;
                }
                Ok(dict)
            }

            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
                let values = fields(slf.as_any(), &[$(stringify!($field)),*])?.into_iter().map(|(_, v)| v);
                PyTuple::new(slf.py(), [slf.get_type().into_any(), PyTuple::new(slf.py(), values)?.into_any()])
            }
        }
    };
}

/// The named attributes of `record`, in order.
fn fields<'py>(record: &Bound<'py, PyAny>, names: &[&'static str]) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
    names.iter().map(|name| Ok((*name, record.getattr(*name)?))).collect()
}

/// One projection's stored checkpoint.
#[pyclass(frozen, eq, hash, module = "waypost", name = "CheckpointData")]
#[derive(PartialEq, Hash)]
pub struct CheckpointData(pub waypost::CheckpointData);

record! {
    CheckpointData {
        projection_name: String,
        last_event_id: OutEventId,
        last_event_type: Option<String>,
        last_processed_at: Option<DateTime<Utc>>,
        events_processed: i64,
        global_position: Option<i64>,
        position_token: Option<String>,
    }
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
}

impl CheckpointData {
    /// The Python object of `record`, left out of the cycle collector: it holds no
    /// Python object, so it can never be part of a cycle, and a list of 10,000 records
    /// that the collector walked on every collection cost a sixth of the binding's time.
    pub fn untracked(py: Python<'_>, record: waypost::CheckpointData) -> PyResult<Bound<'_, CheckpointData>> {
        let object = Bound::new(py, CheckpointData(record))?;
        // SAFETY: `object` is a live object of a GC type (every pyclass is one) owned by
        // this thread under the interpreter; untracking one that holds no references is
        // allowed at any time, and its deallocation untracks again harmlessly.
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
        Ok(object)
    }
}

/// How far behind a projection is.
#[pyclass(frozen, eq, module = "waypost", name = "LagMetrics")]
#[derive(PartialEq)]
pub struct LagMetrics(pub waypost::LagMetrics);

record! {
    LagMetrics {
        projection_name: String,
        last_event_id: Option<String>,
        latest_event_id: Option<String>,
        lag_seconds: f64,
        events_processed: i64,
        last_processed_at: Option<String>,
        stream_head: Option<i64>,
        events_behind: Option<i64>,
    }
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
}
