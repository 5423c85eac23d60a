//! Lag arithmetic, shared by every backend: a backend fetches the checkpoint, the newest
//! relevant event and the stream head; this module turns them into [`LagMetrics`].

use chrono::{DateTime, Utc};

use crate::checkpoint::{CheckpointData, LagMetrics};
use crate::time;

/// The newest relevant event, as a backend read it.
#[derive(Debug, Clone)]
pub(crate) struct LatestEvent {
    pub event_id: String,
    pub timestamp: DateTime<Utc>,
}

/// Computes lag exactly as eventsource-py does, plus the stream head and events behind.
pub(crate) fn metrics(
    checkpoint: &CheckpointData,
    latest: Option<LatestEvent>,
    stream_head: Option<i64>,
) -> LagMetrics {
    let last_event_id = checkpoint.last_event_id.map(|id| id.to_string());
    let lag_seconds = match (&latest, &checkpoint.last_processed_at) {
        (Some(latest), Some(processed_at)) if !same_id(&latest.event_id, last_event_id.as_deref()) => {
            let raw = time::seconds_between(&latest.timestamp, processed_at);
            if raw < 0.0 {
                0.0
            } else {
                time::round_one_decimal(raw)
            }
        }
        _ => 0.0,
    };
    let events_behind = match (stream_head, checkpoint.global_position) {
        (Some(head), Some(position)) => Some(head.saturating_sub(position).max(0)),
        _ => None,
    };
    LagMetrics {
        projection_name: checkpoint.projection_name.clone(),
        last_event_id,
        latest_event_id: latest.map(|l| normalize_id(&l.event_id)),
        lag_seconds,
        events_processed: checkpoint.events_processed,
        last_processed_at: checkpoint.last_processed_at.as_ref().map(time::isoformat),
        stream_head,
        events_behind,
    }
}

/// Lowercase hyphenated form when the text is a UUID, else the text as stored.
fn normalize_id(id: &str) -> String {
    uuid::Uuid::parse_str(id).map(|u| u.to_string()).unwrap_or_else(|_| id.to_owned())
}

fn same_id(latest: &str, last: Option<&str>) -> bool {
    last.is_some_and(|last| normalize_id(latest) == last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn checkpoint(at: &str, position: Option<i64>) -> CheckpointData {
        CheckpointData {
            projection_name: "p".into(),
            last_event_id: Some(Uuid::from_u128(1)),
            last_event_type: Some("T".into()),
            last_processed_at: Some(time::parse_timestamp(at).unwrap()),
            events_processed: 3,
            global_position: position,
            position_token: None,
        }
    }

    fn event(id: u128, at: &str) -> Option<LatestEvent> {
        Some(LatestEvent {
            event_id: Uuid::from_u128(id).to_string().to_uppercase(),
            timestamp: time::parse_timestamp(at).unwrap(),
        })
    }

    #[test]
    fn lag_is_rounded_python_style() {
        let m = metrics(&checkpoint("2026-01-01T00:00:00Z", Some(5)), event(2, "2026-01-01T00:00:00.250Z"), Some(20));
        assert_eq!(m.lag_seconds, 0.2);
        assert_eq!(m.events_behind, Some(15));
        assert_eq!(m.latest_event_id.as_deref(), Some("00000000-0000-0000-0000-000000000002"));
        assert_eq!(m.last_processed_at.as_deref(), Some("2026-01-01T00:00:00+00:00"));
    }

    #[test]
    fn caught_up_or_negative_is_zero() {
        let cp = checkpoint("2026-01-01T00:00:10Z", Some(30));
        assert_eq!(metrics(&cp, event(1, "2026-01-01T00:00:50Z"), Some(20)).lag_seconds, 0.0);
        let m = metrics(&cp, event(2, "2026-01-01T00:00:05Z"), Some(20));
        assert_eq!(m.lag_seconds, 0.0);
        assert_eq!(m.events_behind, Some(0));
        let none = metrics(&cp, None, None);
        assert_eq!((none.lag_seconds, none.stream_head, none.events_behind), (0.0, None, None));
    }
}
