//! The plain objects the repository returns and takes: checkpoints, lag, events to
//! append and checkpoint statements.

use chrono::{DateTime, Utc};
use napi::bindgen_prelude::Either;
use napi_derive::napi;

use crate::convert::{int64_of, timestamp_of, Int64, JsPosition, Timestamp};

/// One projection's stored checkpoint.
#[napi(object, object_from_js = false)]
pub struct CheckpointData {
    pub projection_name: String,
    pub last_event_id: Option<String>,
    pub last_event_type: Option<String>,
    pub last_processed_at: Option<Timestamp>,
    pub events_processed: i64,
    pub global_position: Option<Int64>,
    pub position_token: Option<String>,
}

impl From<waypost::CheckpointData> for CheckpointData {
    fn from(c: waypost::CheckpointData) -> Self {
        CheckpointData {
            projection_name: c.projection_name,
            last_event_id: c.last_event_id.map(|u| u.to_string()),
            last_event_type: c.last_event_type,
            last_processed_at: timestamp_of(c.last_processed_at),
            events_processed: c.events_processed,
            global_position: int64_of(c.global_position),
            position_token: c.position_token,
        }
    }
}

/// How far behind a projection is.
#[napi(object, object_from_js = false)]
pub struct LagMetrics {
    pub projection_name: String,
    pub last_event_id: Option<String>,
    pub latest_event_id: Option<String>,
    pub lag_seconds: f64,
    pub events_processed: i64,
    pub last_processed_at: Option<Timestamp>,
    pub stream_head: Option<Int64>,
    pub events_behind: Option<Int64>,
}

impl From<waypost::LagMetrics> for LagMetrics {
    fn from(m: waypost::LagMetrics) -> Self {
        LagMetrics {
            projection_name: m.projection_name,
            last_event_id: m.last_event_id,
            latest_event_id: m.latest_event_id,
            lag_seconds: m.lag_seconds,
            events_processed: m.events_processed,
            // The core keeps it as Python's isoformat() text (eventsource's lag metrics).
            last_processed_at: timestamp_of(
                m.last_processed_at.as_deref().and_then(|t| waypost::time::parse_timestamp(t).ok()),
            ),
            stream_head: int64_of(m.stream_head),
            events_behind: int64_of(m.events_behind),
        }
    }
}

/// An event to append: its id, type, and time (now when absent): a `Date`, or ISO 8601
/// text when microseconds matter.
#[napi(object)]
pub struct NewEventInput {
    pub event_id: String,
    pub event_type: String,
    pub timestamp: Option<Either<DateTime<Utc>, String>>,
}

/// What `checkpointStatement` needs besides the kind: the position or the token.
#[napi(object)]
pub struct StatementOptions {
    pub position: Option<JsPosition>,
    pub token: Option<String>,
}

/// A checkpoint write as SQL text and parameters (node-postgres' `{ text, values }`).
#[napi(object, object_from_js = false)]
pub struct CheckpointStatement {
    pub text: String,
    pub values: Vec<Either<String, Int64>>,
}
