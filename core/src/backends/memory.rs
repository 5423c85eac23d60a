//! The in-memory backend: for tests, tutorials and single-process tools. Every call
//! completes on its first poll.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use uuid::Uuid;

use crate::checkpoint::{self, CheckpointData, LagMetrics, Mark, NewEvent, Write};
use crate::error::{Error, Result};
use crate::lag::{self, LatestEvent};
use crate::repository::CheckpointRepository;

/// Checkpoints held in process memory; lost when the process ends.
///
/// It also keeps an events list, empty until [`append_events`] is called: lag metrics
/// are placeholders (no latest event, lag 0.0, no stream head) until events exist, like
/// eventsource-py's in-memory repository.
///
/// [`append_events`]: CheckpointRepository::append_events
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
    state: Mutex<State>,
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
    rows: BTreeMap<String, CheckpointData>,
    events: Vec<StoredEvent>,
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
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        // A panic while holding the lock cannot leave a half-applied write: every
        // mutation below is a single map or vector operation.
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if guard.closed {
            return Err(Error::unavailable("memory repository is closed", None));
        }
        Ok(guard)
    }

    fn write(&self, write: Write<'_>) -> Result<()> {
        let mut state = self.state()?;
        match state.rows.get_mut(write.name) {
            Some(row) => write.apply(row),
            None => {
                state.rows.insert(write.name.to_owned(), write.new_row());
            }
        }
        Ok(())
    }

    fn read<T>(&self, name: &str, field: impl FnOnce(&CheckpointData) -> Option<T>) -> Result<Option<T>> {
        checkpoint::check_name(name)?;
        Ok(self.state()?.rows.get(name).and_then(field))
    }
}

#[async_trait]
impl CheckpointRepository for MemoryRepository {
    async fn get_checkpoint(&self, projection_name: &str) -> Result<Option<Uuid>> {
        self.read(projection_name, |r| r.last_event_id)
    }

    async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(projection_name, event_id, event_type, Mark::EventOnly)?)
    }

    async fn get_position(&self, subscription_id: &str) -> Result<Option<i64>> {
        self.read(subscription_id, |r| r.global_position)
    }

    async fn save_position(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?)
    }

    async fn get_position_token(&self, subscription_id: &str) -> Result<Option<String>> {
        self.read(subscription_id, |r| r.position_token.clone())
    }

    async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Token(token))?)
    }

    async fn get_lag_metrics(
        &self,
        projection_name: &str,
        event_types: Option<&[String]>,
    ) -> Result<Option<LagMetrics>> {
        checkpoint::check_name(projection_name)?;
        checkpoint::check_types(event_types)?;
        let state = self.state()?;
        let Some(row) = state.rows.get(projection_name) else {
            return Ok(None);
        };
        let types = event_types.filter(|t| !t.is_empty());
        let latest = state
            .events
            .iter()
            .filter(|e| types.is_none_or(|t| t.contains(&e.event_type)))
            .max_by_key(|e| (e.timestamp, e.position))
            .map(|e| LatestEvent { event_id: e.id.to_string(), timestamp: e.timestamp });
        let head = state.events.last().map(|e| e.position);
        Ok(Some(lag::metrics(row, latest, head)))
    }

    async fn reset_checkpoint(&self, projection_name: &str) -> Result<()> {
        checkpoint::check_name(projection_name)?;
        self.state()?.rows.remove(projection_name);
        Ok(())
    }

    async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>> {
        // BTreeMap<String, _> iterates in byte order, the order every backend uses.
        Ok(self.state()?.rows.values().cloned().collect())
    }

    async fn create_events_table(&self) -> Result<()> {
        self.state().map(drop)
    }

    async fn create_lag_index(&self) -> Result<()> {
        self.state().map(drop)
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<()> {
        checkpoint::check_events(events)?;
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

    async fn close(&self) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.closed = true;
        state.rows.clear();
        state.events.clear();
        Ok(())
    }
}
