//! The in-memory backend: for tests, tutorials and single-process tools. Every call
//! completes on its first poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::checkpoint::{CheckpointData, EventBatch, EventTypes, LagMetrics, Name, OwnedWrite, Write};
use crate::claims::{self, Change, Claim, ClaimCounts, ClaimRecord, ClaimStatus, ClaimStore, ItemStats};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::repository::CheckpointStore;
use crate::transaction::{SqlRow, SqlValue, Transaction, TxBackend};

/// Checkpoints held in process memory; lost when the process ends.
///
/// It also keeps an events list, empty until [`append_events`] is called: lag metrics
/// are placeholders (no latest event, lag 0.0, no stream head) until events exist, like
/// eventsource-py's in-memory repository.
///
/// [`append_events`]: crate::CheckpointRepository::append_events
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
///
/// let repo = MemoryRepository::new();
/// repo.update_checkpoint("orders", uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let lag = repo.get_lag_metrics("orders", None).await?.unwrap();
/// assert_eq!((lag.lag_seconds, lag.latest_event_id), (0.0, None));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct MemoryRepository {
    /// Shared with open transactions, which apply their writes at commit.
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("MemoryRepository")
            .field("checkpoints", &state.rows.len())
            .field("events", &state.events.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    /// Each record shared: a write replaces a record someone still holds (copy on write),
    /// so an unchanged record stays the same allocation (`checkpoints_shared`).
    rows: BTreeMap<String, Arc<CheckpointData>>,
    events: Vec<StoredEvent>,
    /// Claims ledgers by table name.
    claims: BTreeMap<String, BTreeMap<String, ClaimRecord>>,
}

/// Locks the state of an open repository.
fn open_state(state: &Mutex<State>) -> Result<MutexGuard<'_, State>> {
    // A panic while holding the lock cannot leave a half-applied write: every
    // mutation is a single map or vector operation.
    let guard = state.lock().unwrap_or_else(|p| p.into_inner());
    if guard.closed {
        return Err(Error::unavailable("memory repository is closed", None));
    }
    Ok(guard)
}

impl State {
    fn apply(&mut self, write: &Write<'_>) {
        match self.rows.get_mut(write.name) {
            Some(row) => write.apply(Arc::make_mut(row)),
            None => {
                self.rows.insert(write.name.to_owned(), Arc::new(write.new_row()));
            }
        }
    }
}

/// The memory store's transaction: checkpoint writes wait in a buffer and apply together,
/// under one lock, at commit.
struct MemoryTx {
    state: Arc<Mutex<State>>,
    writes: Vec<OwnedWrite>,
}

#[async_trait]
impl TxBackend for MemoryTx {
    fn runs_sql(&self) -> bool {
        false
    }

    async fn execute(&mut self, _sql: &str, _params: &[SqlValue]) -> Result<u64> {
        Err(Error::unsupported("the memory store has no SQL"))
    }

    async fn fetch_all(&mut self, _sql: &str, _params: &[SqlValue]) -> Result<Vec<SqlRow>> {
        Err(Error::unsupported("the memory store has no SQL"))
    }

    async fn write(&mut self, w: Write<'_>) -> Result<()> {
        // A closed store fails here, as a write on a closed SQL store would.
        drop(open_state(&self.state)?);
        self.writes.push(w.into());
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let mut state = open_state(&self.state)?;
        for w in &self.writes {
            state.apply(&w.as_write());
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct StoredEvent {
    id: Uuid,
    event_type: String,
    timestamp: chrono::DateTime<chrono::Utc>,
    position: i64,
}

impl MemoryRepository {
    /// An empty repository.
    ///
    /// # Examples
    /// ```
    /// let repo = waypost::MemoryRepository::new();
    /// # let _ = repo;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Every checkpoint, in name order as `get_all_checkpoints` returns them, as shared
    /// immutable records: a record not written since an earlier call is the same
    /// allocation as then ([`Arc::ptr_eq`]), so a caller may keep what it built from it
    /// (the Python binding keeps its record objects).
    ///
    /// # Errors
    /// `Unavailable` once the repository is closed.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use waypost::{CheckpointRepository, MemoryRepository};
    ///
    /// let repo = MemoryRepository::new();
    /// repo.save_position("a", 1, uuid::Uuid::new_v4(), "T").await?;
    /// repo.save_position("b", 1, uuid::Uuid::new_v4(), "T").await?;
    /// let before = repo.checkpoints_shared()?;
    /// repo.save_position("b", 2, uuid::Uuid::new_v4(), "T").await?;
    /// let after = repo.checkpoints_shared()?;
    /// assert!(Arc::ptr_eq(&before[0], &after[0])); // "a": unchanged
    /// assert!(!Arc::ptr_eq(&before[1], &after[1])); // "b": written since
    /// assert_eq!((before[1].global_position, after[1].global_position), (Some(1), Some(2)));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn checkpoints_shared(&self) -> Result<Vec<Arc<CheckpointData>>> {
        Ok(self.state()?.rows.values().cloned().collect())
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        open_state(&self.state)
    }

    fn read<T>(&self, name: Name<'_>, field: impl FnOnce(&CheckpointData) -> Option<T>) -> Result<Option<T>> {
        Ok(self.state()?.rows.get(name.as_str()).and_then(|r| field(r)))
    }
}

#[async_trait]
impl CheckpointStore for MemoryRepository {
    async fn write(&self, write: &Write<'_>) -> Result<()> {
        self.state()?.apply(write);
        Ok(())
    }

    async fn read_event_id(&self, name: Name<'_>) -> Result<Option<Uuid>> {
        self.read(name, |r| r.last_event_id)
    }

    async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>> {
        self.read(name, |r| r.global_position)
    }

    async fn read_token(&self, name: Name<'_>) -> Result<Option<String>> {
        self.read(name, |r| r.position_token.clone())
    }

    async fn read_lag(&self, name: Name<'_>, types: EventTypes<'_>) -> Result<Option<LagMetrics>> {
        let state = self.state()?;
        let Some(row) = state.rows.get(name.as_str()) else {
            return Ok(None);
        };
        let latest = state
            .events
            .iter()
            .filter(|e| types.is_all() || types.as_slice().contains(&e.event_type))
            .max_by_key(|e| (e.timestamp, e.position))
            .map(|e| LatestEvent { event_id: e.id.to_string(), timestamp: e.timestamp });
        let head = state.events.last().map(|e| e.position);
        Ok(Some(lag::metrics(row, latest, head)))
    }

    async fn delete(&self, name: Name<'_>) -> Result<()> {
        self.state()?.rows.remove(name.as_str());
        Ok(())
    }

    async fn list(&self) -> Result<Vec<CheckpointData>> {
        // BTreeMap<String, _> iterates in byte order, the order every backend uses.
        Ok(self.state()?.rows.values().map(|r| CheckpointData::clone(r)).collect())
    }

    async fn create_events(&self) -> Result<()> {
        self.state().map(drop)
    }

    async fn create_index(&self) -> Result<()> {
        self.state().map(drop)
    }

    async fn head(&self) -> Result<Option<i64>> {
        Ok(Some(self.state()?.events.last().map_or(0, |e| e.position)))
    }

    async fn append(&self, events: EventBatch<'_>) -> Result<()> {
        let events = events.as_slice();
        let mut state = self.state()?;
        if let Some(dup) = events.iter().find(|e| state.events.iter().any(|s| s.id == e.event_id)) {
            return Err(Error::Conflict { message: format!("event {} is already in the events list", dup.event_id) });
        }
        let first = state.events.last().map_or(1, |e| e.position + 1);
        for (position, e) in (first..).zip(events) {
            state.events.push(StoredEvent {
                id: e.event_id,
                event_type: e.event_type.clone(),
                timestamp: crate::time::truncate_to_micros(e.timestamp),
                position,
            });
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.closed = true;
        state.rows.clear();
        state.events.clear();
        state.claims.clear();
        Ok(())
    }

    async fn open_transaction(&self) -> Result<Transaction> {
        drop(self.state()?);
        let tx = MemoryTx { state: self.state.clone(), writes: Vec::new() };
        Ok(Transaction::new(Box::new(tx), "the memory store"))
    }

    fn open_claims(self: Arc<Self>, table: Identifier, max_retries: u32) -> Result<Arc<dyn ClaimStore>> {
        Ok(Arc::new(MemoryClaims { repo: self, table: table.as_str().to_owned(), max_retries }))
    }
}

/// The claims ledger of a [`MemoryRepository`]: every call completes on its first poll.
struct MemoryClaims {
    repo: Arc<MemoryRepository>,
    table: String,
    max_retries: u32,
}

impl std::fmt::Debug for MemoryClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryClaims").field("table", &self.table).finish_non_exhaustive()
    }
}

impl MemoryClaims {
    fn change(&self, key: &str, holder: Option<&Claim>, change: Change<'_>) -> Result<Option<Claim>> {
        let mut state = self.repo.state()?;
        let ledger = state.claims.entry(self.table.clone()).or_default();
        let applied = claims::apply(key, ledger.get(key).cloned(), holder, change, crate::time::now())?;
        if let Some(record) = applied.store {
            ledger.insert(key.to_owned(), record);
        }
        Ok(applied.claim)
    }

    fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, ClaimRecord>) -> T) -> Result<T> {
        let state = self.repo.state()?;
        let empty = BTreeMap::new();
        Ok(f(state.claims.get(&self.table).unwrap_or(&empty)))
    }

    fn held(&self, claim: &Claim, change: Change<'_>) -> Result<Option<Claim>> {
        self.change(&claim.key, Some(claim), change)
    }
}

#[async_trait]
impl ClaimStore for MemoryClaims {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        let max_retries = self.max_retries;
        self.change(key, None, Change::Claim { item_type, item_timestamp, worker_id, lease, max_retries })
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        self.held(claim, Change::Heartbeat { lease })?.ok_or_else(|| claims::lease_lost(claim))
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        self.held(claim, Change::Complete(stats)).map(drop)
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        self.held(claim, Change::Fail(message)).map(drop)
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        self.held(claim, Change::Release).map(drop)
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        self.read(|l| l.get(key).cloned())
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        self.read(|l| {
            let mut counts = ClaimCounts { total: l.len() as u64, ..ClaimCounts::default() };
            for r in l.values() {
                match r.status {
                    ClaimStatus::Processing => counts.processing += 1,
                    ClaimStatus::Completed => counts.completed += 1,
                    ClaimStatus::Failed => counts.failed += 1,
                }
            }
            counts
        })
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        self.read(|l| {
            l.values().filter(|r| status.is_none_or(|s| r.status == s)).take(limit as usize).cloned().collect()
        })
    }
}
