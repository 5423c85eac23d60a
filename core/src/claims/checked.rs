//! Validation of every claims call, in one place: [`Checked`] puts the checks in front of
//! a backend's [`ClaimStore`], and the check functions are the rules for each argument.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Claim, ClaimCounts, ClaimLedger, ClaimRecord, ClaimStatus, ClaimStore, ItemStats, MAX_KEY_CHARS, MAX_LEASE,
    MAX_LIST_LIMIT, MAX_MESSAGE_CHARS,
};
use crate::checkpoint::validate_name;
use crate::error::{Error, Result};
use crate::time;

/// A [`ClaimStore`] behind the checks: the [`ClaimLedger`] of every repository.
#[derive(Debug)]
pub(crate) struct Checked(pub Arc<dyn ClaimStore>);

#[async_trait]
impl ClaimLedger for Checked {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        check_claim_args(key, item_type, worker_id, lease)?;
        self.0.claim(key, item_type, time::truncate_to_micros(item_timestamp), worker_id, lease).await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        check_claim(claim)?;
        check_lease(lease)?;
        self.0.heartbeat(claim, lease).await
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        check_claim(claim)?;
        check_stats(&stats)?;
        self.0.complete(claim, stats).await
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        check_claim(claim)?;
        check_message(message)?;
        self.0.fail(claim, message).await
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        check_claim(claim)?;
        self.0.release(claim).await
    }

    async fn is_processed(&self, key: &str) -> Result<bool> {
        Ok(self.get(key).await?.is_some_and(|r| r.status == ClaimStatus::Completed))
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        validate_key(key)?;
        self.0.get(key).await
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        self.0.stats().await
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        check_limit(limit)?;
        self.0.list(status, limit).await
    }
}

/// Checks an item key: 1 to 2,048 characters, no NUL.
///
/// # Errors
/// `InvalidArgument` otherwise.
///
/// # Examples
/// ```
/// use waypost::claims::validate_key;
/// assert!(validate_key("s3://bucket/orders-01.csv").is_ok());
/// assert!(validate_key("").is_err());
/// ```
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("item key is empty"));
    }
    if key.contains('\0') {
        return Err(Error::invalid("item key contains a NUL character"));
    }
    if key.len() > MAX_KEY_CHARS && key.chars().count() > MAX_KEY_CHARS {
        return Err(Error::invalid(format!("item key is longer than {MAX_KEY_CHARS} characters")));
    }
    Ok(())
}

pub(crate) fn check_claim_args(key: &str, item_type: &str, worker_id: &str, lease: Duration) -> Result<()> {
    validate_key(key)?;
    validate_name("item type", item_type)?;
    validate_name("worker id", worker_id)?;
    check_lease(lease)
}

pub(crate) fn check_lease(lease: Duration) -> Result<()> {
    if lease > MAX_LEASE {
        return Err(Error::invalid(format!(
            "lease must be at most {} s, got {} s",
            MAX_LEASE.as_secs(),
            lease.as_secs()
        )));
    }
    Ok(())
}

pub(crate) fn check_claim(claim: &Claim) -> Result<()> {
    validate_key(&claim.key)?;
    validate_name("worker id", &claim.worker_id)
}

pub(crate) fn check_stats(stats: &ItemStats) -> Result<()> {
    stats.validate()
}

pub(crate) fn check_message(message: &str) -> Result<()> {
    if message.contains('\0') {
        return Err(Error::invalid("failure message contains a NUL character"));
    }
    if message.len() > MAX_MESSAGE_CHARS && message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Error::invalid(format!("failure message is longer than {MAX_MESSAGE_CHARS} characters")));
    }
    Ok(())
}

pub(crate) fn check_limit(limit: u32) -> Result<()> {
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(Error::invalid(format!("limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")));
    }
    Ok(())
}

/// The error for a claim that is no longer current.
pub(crate) fn lease_lost(claim: &Claim) -> Error {
    Error::LeaseLost {
        message: format!(
            "the claim of {:?} by {:?} (epoch {}) is no longer current",
            shorten(&claim.key),
            claim.worker_id,
            claim.epoch
        ),
    }
}

fn shorten(key: &str) -> String {
    if key.chars().count() <= 120 {
        key.to_owned()
    } else {
        format!("{}…", key.chars().take(120).collect::<String>())
    }
}
