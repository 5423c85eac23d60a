//! The claim rules for the backends that decide in Rust (memory, SQLite, MySQL): what a
//! claim or a holder's call does to an item's record. The PostgreSQL backend states the
//! same rules in SQL; the shared cases pin both.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{lease_lost, Claim, ClaimRecord, ClaimStatus, ItemStats};
use crate::error::{Error, Result};

/// The message stored when an item runs out of retries by lease expiry.
pub(crate) const LEASE_EXPIRED: &str = "lease expired";

/// What a claim does to an existing record (for backends that decide in Rust; the
/// PostgreSQL backend states the same rules in SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No record: insert attempt 1.
    New,
    /// Take it over; `counts` says whether the retry count grows.
    Take { counts: bool },
    /// A dead claim out of retries: mark failed with [`LEASE_EXPIRED`], return `None`.
    Expire,
    /// Leave it: `None`.
    Refuse,
}

#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn decide(record: Option<&ClaimRecord>, now: DateTime<Utc>, max_retries: u32) -> Decision {
    let Some(r) = record else { return Decision::New };
    let retries_left = r.retry_count < max_retries;
    match (r.status, r.lease_expires_at) {
        (ClaimStatus::Completed, _) => Decision::Refuse,
        (ClaimStatus::Failed, _) if retries_left => Decision::Take { counts: true },
        (ClaimStatus::Failed, _) => Decision::Refuse,
        (ClaimStatus::Processing, None) => Decision::Take { counts: false },
        (ClaimStatus::Processing, Some(until)) if until <= now && retries_left => Decision::Take { counts: true },
        (ClaimStatus::Processing, Some(until)) if until <= now => Decision::Expire,
        (ClaimStatus::Processing, Some(_)) => Decision::Refuse,
    }
}

/// Whether `claim` is the item's current, live claim.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn is_current(record: Option<&ClaimRecord>, claim: &Claim) -> bool {
    record.is_some_and(|r| {
        r.status == ClaimStatus::Processing
            && r.epoch == claim.epoch
            && r.lease_expires_at.is_some()
            && r.worker_id.as_deref() == Some(claim.worker_id.as_str())
    })
}

/// What a claim or a claim-holder's call does to a record, for the backends that keep
/// the rules in Rust (memory, SQLite, MySQL): they load the record, call this, store the result.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) enum Change<'a> {
    /// A worker asks to claim.
    Claim { item_type: &'a str, item_timestamp: DateTime<Utc>, worker_id: &'a str, lease: Duration, max_retries: u32 },
    /// The holder renews its lease.
    Heartbeat { lease: Duration },
    /// The holder finished.
    Complete(ItemStats),
    /// The holder failed.
    Fail(&'a str),
    /// The holder hands the item back.
    Release,
}

/// The outcome of [`apply`]: the record to store (if any changed) and the answer.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) struct Applied {
    pub store: Option<ClaimRecord>,
    pub claim: Option<Claim>,
}

/// Applies `change` to the item's record under the rules in the module documentation.
/// `holder` is the claim for every change but [`Change::Claim`].
///
/// # Errors
/// `LeaseLost` when `holder` is not the item's current claim.
#[cfg_attr(not(feature = "_sqlite"), allow(dead_code))]
pub(crate) fn apply(
    key: &str,
    record: Option<ClaimRecord>,
    holder: Option<&Claim>,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let claim_of = |r: &ClaimRecord, worker_id: &str| Claim {
        key: r.key.clone(),
        worker_id: worker_id.to_owned(),
        epoch: r.epoch,
        attempt: r.retry_count + 1,
        lease_expires_at: r.lease_expires_at.unwrap_or(now),
    };
    if let Change::Claim { item_type, item_timestamp, worker_id, lease, max_retries } = change {
        let until = lease_end(now, lease);
        return Ok(match (decide(record.as_ref(), now, max_retries), record) {
            (Decision::New, _) => {
                let r = ClaimRecord {
                    key: key.to_owned(),
                    item_type: item_type.to_owned(),
                    item_timestamp,
                    status: ClaimStatus::Processing,
                    retry_count: 0,
                    worker_id: Some(worker_id.to_owned()),
                    epoch: 1,
                    lease_expires_at: Some(until),
                    started_at: Some(now),
                    completed_at: None,
                    created_at: now,
                    error_message: None,
                    stats: None,
                };
                Applied { claim: Some(claim_of(&r, worker_id)), store: Some(r) }
            }
            (Decision::Take { counts }, Some(mut r)) => {
                r.status = ClaimStatus::Processing;
                r.retry_count += u32::from(counts);
                r.worker_id = Some(worker_id.to_owned());
                r.epoch += 1;
                r.lease_expires_at = Some(until);
                r.started_at = Some(now);
                r.completed_at = None;
                Applied { claim: Some(claim_of(&r, worker_id)), store: Some(r) }
            }
            (Decision::Expire, Some(mut r)) => {
                r.status = ClaimStatus::Failed;
                r.epoch += 1;
                r.lease_expires_at = None;
                r.completed_at = Some(now);
                r.error_message = Some(LEASE_EXPIRED.to_owned());
                Applied { claim: None, store: Some(r) }
            }
            _ => Applied { claim: None, store: None },
        });
    }
    let holder = holder.ok_or_else(|| Error::invalid("a claim is needed"))?;
    if !is_current(record.as_ref(), holder) {
        return Err(lease_lost(holder));
    }
    let Some(mut r) = record else { return Err(lease_lost(holder)) };
    let mut renewed = None;
    match change {
        Change::Heartbeat { lease } => {
            r.lease_expires_at = Some(lease_end(now, lease));
            renewed = Some(claim_of(&r, &holder.worker_id));
        }
        Change::Complete(stats) => {
            r.status = ClaimStatus::Completed;
            r.lease_expires_at = None;
            r.completed_at = Some(now);
            r.error_message = None;
            r.stats = Some(stats);
        }
        Change::Fail(message) => {
            r.status = ClaimStatus::Failed;
            r.lease_expires_at = None;
            r.completed_at = Some(now);
            r.error_message = Some(message.to_owned());
        }
        Change::Release => {
            r.lease_expires_at = None;
            r.worker_id = None;
        }
        Change::Claim { .. } => unreachable!("handled above"),
    }
    Ok(Applied { store: Some(r), claim: renewed })
}

/// `now + lease`, saturating (leases are at most [`MAX_LEASE`]).
pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(lease).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::checked::*;
    use crate::claims::*;

    fn record(status: ClaimStatus, retry_count: u32, lease: Option<i64>) -> ClaimRecord {
        let now = crate::time::now();
        ClaimRecord {
            key: "k".into(),
            item_type: "csv".into(),
            item_timestamp: now,
            status,
            retry_count,
            worker_id: Some("w".into()),
            epoch: 1,
            lease_expires_at: lease.map(|s| now + chrono::Duration::seconds(s)),
            started_at: Some(now),
            completed_at: None,
            created_at: now,
            error_message: None,
            stats: None,
        }
    }

    #[test]
    fn decisions_follow_the_rules() {
        let now = crate::time::now();
        use ClaimStatus::*;
        assert_eq!(decide(None, now, 3), Decision::New);
        assert_eq!(decide(Some(&record(Completed, 0, None)), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Failed, 2, None)), now, 3), Decision::Take { counts: true });
        assert_eq!(decide(Some(&record(Failed, 3, None)), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Processing, 0, Some(60))), now, 3), Decision::Refuse);
        assert_eq!(decide(Some(&record(Processing, 0, Some(-1))), now, 3), Decision::Take { counts: true });
        assert_eq!(decide(Some(&record(Processing, 3, Some(-1))), now, 3), Decision::Expire);
        assert_eq!(decide(Some(&record(Processing, 3, None)), now, 3), Decision::Take { counts: false });
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(validate_key("").is_err());
        assert!(validate_key(&"x".repeat(MAX_KEY_CHARS + 1)).is_err());
        assert!(validate_key(&"é".repeat(MAX_KEY_CHARS)).is_ok());
        assert!(check_lease(MAX_LEASE + Duration::from_secs(1)).is_err());
        assert!(check_limit(0).is_err());
        assert!(ItemStats { records_filtered: -1, ..ItemStats::default() }.validate().is_err());
        assert!(ClaimsOptions { max_retries: 1001, ..ClaimsOptions::default() }.validate().is_err());
        assert!(ClaimsOptions { table: "bad table".into(), ..ClaimsOptions::default() }.validate().is_err());
        assert!(ClaimStatus::parse("done").is_err());
    }
}
