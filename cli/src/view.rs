//! How records look: the JSON of the CLI's `--json` and of the HTTP API (camelCase), and
//! the text table.

use serde_json::{json, Value};
use waypost::progress::{Health, Progress};
use waypost::{CheckpointData, ClaimRecord, LagMetrics};

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!(t.map(|t| waypost::time::rfc3339(&t)))
}

/// A projection's progress, as `/api/checkpoints` and `status --json` give it.
pub fn progress(p: &Progress) -> Value {
    json!({
        "projectionName": p.projection_name,
        "checkpoint": p.position,
        "streamHead": p.stream_head,
        "lag": p.events_behind,
        "percentComplete": p.percent_complete,
        "lagSeconds": p.lag_seconds,
        "state": p.state.as_str(),
        "status": p.status_line(),
        "eventsProcessed": p.events_processed,
        "updatedAt": time(p.last_processed_at),
    })
}

/// One projection's health verdict.
pub fn health(h: &Health) -> Value {
    json!({ "projectionName": h.projection_name, "status": h.status.as_str(), "reason": h.reason })
}

/// A stored checkpoint.
pub fn checkpoint(c: &CheckpointData) -> Value {
    json!({
        "projectionName": c.projection_name,
        "globalPosition": c.global_position,
        "positionToken": c.position_token,
        "lastEventId": c.last_event_id.map(|u| u.to_string()),
        "lastEventType": c.last_event_type,
        "eventsProcessed": c.events_processed,
        "lastProcessedAt": time(c.last_processed_at),
    })
}

/// Lag metrics.
pub fn lag(m: &LagMetrics) -> Value {
    json!({
        "projectionName": m.projection_name,
        "lastEventId": m.last_event_id,
        "latestEventId": m.latest_event_id,
        "lagSeconds": m.lag_seconds,
        "eventsProcessed": m.events_processed,
        "lastProcessedAt": m.last_processed_at,
        "streamHead": m.stream_head,
        "eventsBehind": m.events_behind,
    })
}

/// A work claim's record.
pub fn claim(r: &ClaimRecord) -> Value {
    json!({
        "key": r.key,
        "itemType": r.item_type,
        "status": r.status.as_str(),
        "retryCount": r.retry_count,
        "workerId": r.worker_id,
        "epoch": r.epoch,
        "leaseExpiresAt": time(r.lease_expires_at),
        "startedAt": time(r.started_at),
        "completedAt": time(r.completed_at),
        "errorMessage": r.error_message,
    })
}

/// `-` for a missing value.
pub fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A plain text table: a header row, then the rows, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = widths[i])).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_to_their_widest_cell() {
        let rows = vec![vec!["Orders".to_owned(), "5".to_owned()], vec!["Ü".to_owned(), "12345".to_owned()]];
        assert_eq!(table(&["NAME", "POS"], &rows), "NAME    POS\nOrders  5\nÜ       12345");
        assert_eq!(or_dash(None::<i64>), "-");
    }
}
