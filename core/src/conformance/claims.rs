//! The runner of the shared claims cases (`tests/conformance/claims`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{arg, check_outcome, str_arg, Case, StepError};
use crate::repository::CheckpointRepository;
use crate::time;

/// Runs a claims case (`tests/conformance/claims`) against the ledger that
/// `repo.claims(…)` gives for the case's `claims` options (`table`, `max_retries`).
///
/// Steps: `claim` (`key`, `type`, `worker`, `lease_ms`, optional `timestamp`; `save_as`
/// names the claim for later steps), `heartbeat` (`claim`, `lease_ms`), `complete`
/// (`claim`, `stats`), `fail` (`claim`, `message`), `release` (`claim`), `is_processed`,
/// `get` (`key`), `stats`, `list` (`status`, `limit`). A string argument
/// `{"repeat": "x", "times": N}` stands for `x` repeated N times.
///
/// # Errors
/// A message naming the case, the step and what differed.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X02", "title": "a live claim is not taken", "steps": [
///   {"op": "claim", "args": {"key": "a.csv", "type": "csv", "worker": "w1", "lease_ms": 60000}, "save_as": "c1",
///    "expect": {"key": "a.csv", "worker_id": "w1", "epoch": 1, "attempt": 1, "lease_expires_at": "$any"}},
///   {"op": "claim", "args": {"key": "a.csv", "type": "csv", "worker": "w2", "lease_ms": 60000}, "expect": null}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// waypost::conformance::run_claims_case(&cases[0], repo).await?;
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
pub async fn run_claims_case(case: &Case, repo: Arc<dyn CheckpointRepository>) -> Result<(), String> {
    use crate::claims::ClaimsOptions;
    let spec = &case.claims;
    let mut options = ClaimsOptions::default();
    if let Some(t) = spec.get("table").and_then(Value::as_str) {
        options.table = t.to_owned();
    }
    if let Some(n) = spec.get("max_retries").and_then(Value::as_u64) {
        options.max_retries = u32::try_from(n).map_err(|_| format!("{}: max_retries too large", case.id))?;
    }
    let ledger = match (repo.claims(options), spec.get("open_error").and_then(Value::as_str)) {
        (Ok(ledger), None) => ledger,
        (Err(e), Some(kind)) if e.kind().as_str() == kind => return Ok(()),
        (Ok(_), Some(kind)) => return Err(format!("{}: expected a {kind} error opening the ledger", case.id)),
        (Err(e), _) => return Err(format!("{}: opening the ledger: {e}", case.id)),
    };
    let started = time::now();
    let mut saved: std::collections::HashMap<String, crate::claims::Claim> = std::collections::HashMap::new();
    for (index, step) in case.steps.iter().enumerate() {
        let fail = |what: String| format!("{} step {} ({}): {what}", case.id, index + 1, step["op"]);
        let outcome = perform_claims(&*ledger, step, &mut saved).await;
        check_outcome(step, outcome, started).map_err(fail)?;
    }
    Ok(())
}

/// A string argument, expanding `{"repeat": s, "times": n}`.
fn text_arg(step: &Value, key: &str) -> Result<String, StepError> {
    match arg(step, key)? {
        Value::String(s) => Ok(s.clone()),
        Value::Object(o) => {
            let unit = o.get("repeat").and_then(Value::as_str).ok_or_else(|| StepError::Case("repeat".into()))?;
            let times = o.get("times").and_then(Value::as_u64).ok_or_else(|| StepError::Case("times".into()))?;
            Ok(unit.repeat(times as usize))
        }
        other => Err(StepError::Case(format!("{key} must be a string, got {other}"))),
    }
}

fn lease_arg(step: &Value) -> Result<std::time::Duration, StepError> {
    let ms = arg(step, "lease_ms")?.as_u64().ok_or_else(|| StepError::Case("lease_ms must be an integer".into()))?;
    Ok(std::time::Duration::from_millis(ms))
}

async fn perform_claims(
    ledger: &dyn crate::claims::ClaimLedger,
    step: &Value,
    saved: &mut std::collections::HashMap<String, crate::claims::Claim>,
) -> Result<Value, StepError> {
    use crate::claims::{ClaimStatus, ItemStats};
    let op = step["op"].as_str().ok_or_else(|| StepError::Case("step without op".into()))?;
    let held = |saved: &std::collections::HashMap<String, crate::claims::Claim>| {
        let name = str_arg(step, "claim")?;
        saved.get(name).cloned().ok_or_else(|| StepError::Case(format!("no claim saved as {name}")))
    };
    Ok(match op {
        "claim" => {
            let at = match step["args"].get("timestamp") {
                Some(Value::String(t)) => time::parse_timestamp(t)?,
                _ => time::parse_timestamp("2026-01-01T00:00:00+00:00")?,
            };
            let claim = ledger
                .claim(
                    &text_arg(step, "key")?,
                    &text_arg(step, "type")?,
                    at,
                    &text_arg(step, "worker")?,
                    lease_arg(step)?,
                )
                .await?;
            if let (Some(c), Some(name)) = (&claim, step.get("save_as").and_then(Value::as_str)) {
                saved.insert(name.to_owned(), c.clone());
            }
            claim.map_or(Value::Null, |c| claim_json(&c))
        }
        "heartbeat" => {
            let renewed = ledger.heartbeat(&held(saved)?, lease_arg(step)?).await?;
            let out = claim_json(&renewed);
            saved.insert(str_arg(step, "claim")?.to_owned(), renewed);
            out
        }
        "complete" => {
            let s = &step["args"]["stats"];
            let n = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
            let stats = ItemStats {
                records_total: n("records_total"),
                records_filtered: n("records_filtered"),
                records_persisted: n("records_persisted"),
                processing_time_ms: n("processing_time_ms"),
            };
            ledger.complete(&held(saved)?, stats).await?;
            Value::Null
        }
        "fail" => {
            ledger.fail(&held(saved)?, &text_arg(step, "message")?).await?;
            Value::Null
        }
        "release" => {
            ledger.release(&held(saved)?).await?;
            Value::Null
        }
        "is_processed" => json!(ledger.is_processed(&text_arg(step, "key")?).await?),
        "get" => ledger.get(&text_arg(step, "key")?).await?.map_or(Value::Null, |r| record_json(&r)),
        "stats" => {
            let c = ledger.stats().await?;
            json!({"total": c.total, "processing": c.processing, "completed": c.completed, "failed": c.failed})
        }
        "list" => {
            let status = match step["args"].get("status") {
                Some(Value::String(s)) => Some(ClaimStatus::parse(s)?),
                _ => None,
            };
            let limit = step["args"].get("limit").and_then(Value::as_u64).unwrap_or(100);
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            Value::Array(ledger.list(status, limit).await?.iter().map(record_json).collect())
        }
        other => return Err(StepError::Case(format!("unknown op {other}"))),
    })
}

/// The JSON form of a claim that every runner produces.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// use waypost::{CheckpointRepository, ClaimsOptions, MemoryRepository};
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// let ledger = repo.claims(ClaimsOptions::default())?;
/// let claim = ledger.claim("a.csv", "csv", waypost::time::now(), "w1", Duration::from_secs(60)).await?.unwrap();
/// assert_eq!(waypost::conformance::claim_json(&claim)["worker_id"], "w1");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub fn claim_json(c: &crate::claims::Claim) -> Value {
    json!({
        "key": c.key,
        "worker_id": c.worker_id,
        "epoch": c.epoch,
        "attempt": c.attempt,
        "lease_expires_at": time::isoformat(&c.lease_expires_at),
    })
}

/// The JSON form of a claim record that every runner produces.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::{sync::Arc, time::Duration};
/// use waypost::{CheckpointRepository, ClaimsOptions, MemoryRepository};
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// let ledger = repo.claims(ClaimsOptions::default())?;
/// let claim = ledger.claim("a.csv", "csv", waypost::time::now(), "w1", Duration::from_secs(60)).await?.unwrap();
/// let record = ledger.get("a.csv").await?.unwrap();
/// assert_eq!(waypost::conformance::record_json(&record)["status"], "processing");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub fn record_json(r: &crate::claims::ClaimRecord) -> Value {
    let iso = |t: &Option<DateTime<Utc>>| t.as_ref().map(time::isoformat);
    json!({
        "key": r.key,
        "item_type": r.item_type,
        "item_timestamp": time::isoformat(&r.item_timestamp),
        "status": r.status.as_str(),
        "retry_count": r.retry_count,
        "worker_id": r.worker_id,
        "epoch": r.epoch,
        "lease_expires_at": iso(&r.lease_expires_at),
        "started_at": iso(&r.started_at),
        "completed_at": iso(&r.completed_at),
        "created_at": time::isoformat(&r.created_at),
        "error_message": r.error_message,
        "stats": r.stats.map(|s| json!({
            "records_total": s.records_total,
            "records_filtered": s.records_filtered,
            "records_persisted": s.records_persisted,
            "processing_time_ms": s.processing_time_ms,
        })),
    })
}
