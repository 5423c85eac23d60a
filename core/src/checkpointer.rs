//! [`Checkpointer`]: how often one projection saves its position — after every event,
//! every N events, every T seconds, or whichever of N and T comes first — without losing
//! the last position on a clean stop.
//!
//! A projection calls [`record`](Checkpointer::record) after handling each event; the
//! checkpointer saves when its [`Strategy`] says so, with one write covering every event
//! since the previous save (`events_processed` grows by that number). With an interval,
//! a background tick saves a recorded position even when no further event arrives; an
//! idle checkpointer writes nothing. An error from a background save is kept and returned
//! by the next `record`, `flush` or `close`. [`close`](Checkpointer::close) always saves
//! the last recorded position; dropping a checkpointer with unsaved events logs a warning.
//!
//! Batching trades replay for speed: after a crash, up to N − 1 events (or T seconds of
//! them) are handled again, so the projection must tolerate seeing an event twice.
//!
//! Handlers that run in parallel and finish out of order use
//! [`out_of_order`](Checkpointer::out_of_order): [`begin`](Checkpointer::begin) each
//! position in stream order, [`ack`](Checkpointer::ack) it when its handler is done. The
//! checkpointer saves only the [`Frontier`]'s committed position, by its strategy, so no
//! crash can leave the checkpoint past an event whose handling had not finished.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
//!
//! let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
//! let checkpointer = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
//! for position in 1..=250 {
//!     // … handle the event …
//!     checkpointer.record(position, uuid::Uuid::new_v4(), "OrderPlaced").await?;
//! }
//! assert_eq!(repo.get_position("orders").await?, Some(200));
//! checkpointer.close().await?; // saves 250
//! assert_eq!(repo.get_position("orders").await?, Some(250));
//! assert_eq!(repo.get_all_checkpoints().await?[0].events_processed, 250);
//! # Ok::<(), waypost::Error>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::checkpoint::{validate_name, validate_position};
use crate::error::{Error, Result};
use crate::frontier::Frontier;
use crate::repository::CheckpointRepository;

/// When a [`Checkpointer`] saves.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use waypost::Strategy;
/// assert_eq!(Strategy::from_parts(Some(100), Some(Duration::from_secs(1)))?, Strategy::EveryOrInterval(100, Duration::from_secs(1)));
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// After every event: nothing is ever handled twice after a crash (at one write per event).
    EveryEvent,
    /// After every N events (N ≥ 1).
    Every(u32),
    /// When the interval has passed since the last save, also with no new event (a
    /// background tick).
    Interval(Duration),
    /// After N events or the interval, whichever comes first.
    EveryOrInterval(u32, Duration),
}

impl Strategy {
    /// The strategy the bindings' keywords name: neither `every` nor `interval` saves
    /// after every event, one of them that one, both whichever comes first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use waypost::Strategy;
    /// assert_eq!(Strategy::from_parts(None, None)?, Strategy::EveryEvent);
    /// assert_eq!(Strategy::from_parts(Some(100), Some(Duration::from_secs(1)))?,
    ///            Strategy::EveryOrInterval(100, Duration::from_secs(1)));
    /// assert!(Strategy::from_parts(Some(0), None).is_err());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` for `every` of 0 or an interval of 0.
    pub fn from_parts(every: Option<u32>, interval: Option<Duration>) -> Result<Strategy> {
        let strategy = match (every, interval) {
            (None, None) => Strategy::EveryEvent,
            (Some(n), None) => Strategy::Every(n),
            (None, Some(t)) => Strategy::Interval(t),
            (Some(n), Some(t)) => Strategy::EveryOrInterval(n, t),
        };
        strategy.validate()?;
        Ok(strategy)
    }

    fn validate(self) -> Result<()> {
        match self {
            Strategy::Every(0) | Strategy::EveryOrInterval(0, _) => {
                Err(Error::invalid("every(n) needs n of 1 or more"))
            }
            Strategy::Interval(t) | Strategy::EveryOrInterval(_, t) if t.is_zero() => {
                Err(Error::invalid("an interval must be longer than 0"))
            }
            _ => Ok(()),
        }
    }

    fn count(self) -> Option<u32> {
        match self {
            Strategy::EveryEvent => Some(1),
            Strategy::Every(n) | Strategy::EveryOrInterval(n, _) => Some(n),
            Strategy::Interval(_) => None,
        }
    }

    fn interval(self) -> Option<Duration> {
        match self {
            Strategy::Interval(t) | Strategy::EveryOrInterval(_, t) => Some(t),
            _ => None,
        }
    }
}

/// Saves one projection's position by a [`Strategy`]. See the [module documentation](self).
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
/// for position in 1..=250 {
///     checkpoints.record(position, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// }
/// assert_eq!(repo.get_position("orders").await?, Some(200), "saved at 100 and 200");
/// checkpoints.close().await?;
/// assert_eq!(repo.get_position("orders").await?, Some(250), "close saves the rest");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct Checkpointer {
    inner: Arc<Inner>,
    tick: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Inner {
    repo: Arc<dyn CheckpointRepository>,
    name: String,
    strategy: Strategy,
    /// Held across a save, so saves are ordered and never overlap.
    state: tokio::sync::Mutex<State>,
    /// `Some` for an out-of-order checkpointer: its frontier and the acknowledged events
    /// it has not passed yet.
    out_of_order: Option<Mutex<OutOfOrder>>,
}

/// The frontier of an out-of-order checkpointer, and each acknowledged position not yet
/// behind it with its event (the checkpoint names the event at the frontier).
#[derive(Default)]
struct OutOfOrder {
    frontier: Frontier,
    acked: BTreeMap<i64, (Uuid, String)>,
}

impl OutOfOrder {
    /// Acknowledges `position`; when the frontier moved, the event it moved to and how
    /// many acknowledged events it passed.
    fn ack(&mut self, position: i64, event_id: Uuid, event_type: &str) -> Result<Option<(i64, Uuid, String, u32)>> {
        let before = self.frontier.committed();
        self.frontier.ack(position)?;
        self.acked.insert(position, (event_id, event_type.to_owned()));
        let committed = self.frontier.committed();
        let Some(at) = committed.filter(|_| committed != before) else { return Ok(None) };
        let ahead = self.acked.split_off(&(at + 1));
        let passed = std::mem::replace(&mut self.acked, ahead);
        let count = u32::try_from(passed.len()).unwrap_or(u32::MAX);
        let (id, ty) = passed.get(&at).cloned().expect("the frontier stops at an acknowledged position");
        Ok(Some((at, id, ty, count)))
    }
}

#[derive(Default)]
struct State {
    /// The last recorded event not yet saved.
    pending: Option<(i64, Uuid, String)>,
    /// Events recorded since the last save.
    unsaved: u32,
    last_save: Option<Instant>,
    /// An error from a background save, for the next caller.
    error: Option<Error>,
    saves: u64,
    closed: bool,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("name", &self.inner.name)
            .field("strategy", &self.inner.strategy)
            .finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// A checkpointer for `name` on `repo`. With an interval strategy, its first
    /// `record` starts the background tick on the current tokio runtime.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name or strategy (`Every(0)`, a zero interval).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// assert!(Checkpointer::new(repo.clone(), "orders", Strategy::Every(0)).is_err());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn new(repo: Arc<dyn CheckpointRepository>, name: &str, strategy: Strategy) -> Result<Checkpointer> {
        Self::build(repo, name, strategy, None)
    }

    /// A checkpointer for handlers that finish out of order: [`begin`](Self::begin) each
    /// position in stream order, [`ack`](Self::ack) it when its handler is done; it saves
    /// the frontier (the highest acknowledged position with every begun position below
    /// it acknowledged) by `strategy`, never a position past an unfinished event.
    /// Positions never begun (filtered events) never hold it back. `record` is refused.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::out_of_order(repo.clone(), "orders", Strategy::EveryEvent)?;
    /// let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    /// checkpoints.begin(1)?;
    /// checkpoints.begin(2)?;
    /// checkpoints.ack(2, b, "OrderPlaced").await?;
    /// assert_eq!(repo.get_position("orders").await?, None, "1 is still being handled");
    /// checkpoints.ack(1, a, "OrderPlaced").await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(2));
    /// assert_eq!(repo.get_checkpoint("orders").await?, Some(b), "the event at the frontier");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn out_of_order(repo: Arc<dyn CheckpointRepository>, name: &str, strategy: Strategy) -> Result<Checkpointer> {
        Self::build(repo, name, strategy, Some(Mutex::new(OutOfOrder::default())))
    }

    fn build(
        repo: Arc<dyn CheckpointRepository>,
        name: &str,
        strategy: Strategy,
        out_of_order: Option<Mutex<OutOfOrder>>,
    ) -> Result<Checkpointer> {
        validate_name("projection name", name)?;
        strategy.validate()?;
        let inner = Arc::new(Inner {
            repo,
            name: name.to_owned(),
            strategy,
            state: tokio::sync::Mutex::new(State { last_save: Some(Instant::now()), ..State::default() }),
            out_of_order,
        });
        Ok(Checkpointer { inner, tick: Mutex::new(None) })
    }

    /// The frontier of an out-of-order checkpointer; `InvalidArgument` otherwise.
    fn frontier(&self) -> Result<std::sync::MutexGuard<'_, OutOfOrder>> {
        let Some(out_of_order) = &self.inner.out_of_order else {
            return Err(Error::invalid(
                "begin() and ack() are for an out-of-order checkpointer; this one takes record()",
            ));
        };
        Ok(out_of_order.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Out of order: records that handling of `position` began. Positions are begun in
    /// strictly increasing order.
    ///
    /// # Errors
    /// `InvalidArgument` for a position not above the last one begun, a negative one, or
    /// a checkpointer made by [`new`](Self::new); nothing is recorded.
    pub fn begin(&self, position: i64) -> Result<()> {
        self.frontier()?.frontier.begin(position)
    }

    /// Out of order: records that the handler of the event at `position` is done, and
    /// saves if the frontier moved and the strategy says so.
    ///
    /// # Errors
    /// `InvalidArgument` for a position never begun or acknowledged already, a bad event
    /// type, a closed checkpointer or one made by [`new`](Self::new) (nothing recorded);
    /// the error of a failed background save or of the save this call made (the
    /// acknowledgement stays recorded and is saved by a later call).
    pub async fn ack(&self, position: i64, event_id: Uuid, event_type: &str) -> Result<()> {
        validate_name("event type", event_type)?;
        drop(self.frontier()?);
        self.start_tick();
        let mut state = self.inner.state.lock().await;
        if state.closed {
            return Err(Error::invalid("the checkpointer is closed"));
        }
        if let Some((at, id, ty, passed)) = self.frontier()?.ack(position, event_id, event_type)? {
            state.pending = Some((at, id, ty));
            state.unsaved = state.unsaved.saturating_add(passed);
        }
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        self.save_if_due(&mut state).await
    }

    /// Out of order: how many begun positions are not acknowledged yet (0 for a
    /// checkpointer made by [`new`](Self::new)).
    pub fn in_flight(&self) -> usize {
        self.frontier().map_or(0, |f| f.frontier.in_flight())
    }

    /// Records that the event at `position` was handled; saves if the strategy says so.
    ///
    /// # Errors
    /// `InvalidArgument` for a negative position or bad event type (nothing recorded);
    /// the error of a failed background save; the error of the save this call made (the
    /// event stays recorded and is saved by a later call).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// checkpoints.record(1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// assert_eq!(checkpoints.unsaved().await, 1);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn record(&self, position: i64, event_id: Uuid, event_type: &str) -> Result<()> {
        validate_position(position)?;
        validate_name("event type", event_type)?;
        if self.inner.out_of_order.is_some() {
            return Err(Error::invalid("an out-of-order checkpointer takes begin() and ack(), not record()"));
        }
        self.start_tick();
        let mut state = self.inner.state.lock().await;
        if state.closed {
            return Err(Error::invalid("the checkpointer is closed"));
        }
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        state.pending = Some((position, event_id, event_type.to_owned()));
        state.unsaved = state.unsaved.saturating_add(1);
        self.save_if_due(&mut state).await
    }

    /// Saves the pending position if the strategy says so.
    async fn save_if_due(&self, state: &mut State) -> Result<()> {
        let by_count = self.inner.strategy.count().is_some_and(|n| state.unsaved >= n);
        let by_time =
            self.inner.strategy.interval().is_some_and(|t| state.last_save.is_none_or(|at| at.elapsed() >= t));
        if by_count || by_time {
            self.inner.save(state).await?;
        }
        Ok(())
    }

    /// Saves the last recorded position now, if any is unsaved.
    ///
    /// # Errors
    /// The error of a failed background save, or of this save.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// checkpoints.record(7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// checkpoints.flush().await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(7));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn flush(&self) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        self.inner.save(&mut state).await
    }

    /// Stops the tick and saves the last recorded position. Later `record` calls fail.
    ///
    /// # Errors
    /// As [`flush`](Self::flush); the checkpointer is closed either way.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// checkpoints.record(3, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// checkpoints.close().await?;
    /// assert!(checkpoints.record(4, uuid::Uuid::new_v4(), "OrderPlaced").await.is_err(), "closed");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&self) -> Result<()> {
        if let Some(task) = self.tick.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
        let mut state = self.inner.state.lock().await;
        state.closed = true;
        let earlier = state.error.take();
        let saved = self.inner.save(&mut state).await;
        match earlier {
            // The final save went through: the earlier failure is healed, but still reported.
            Some(e) => Err(e),
            None => saved,
        }
    }

    fn start_tick(&self) {
        let Some(interval) = self.inner.strategy.interval() else { return };
        let mut tick = self.tick.lock().unwrap_or_else(PoisonError::into_inner);
        if tick.is_none() && !self.inner.state.try_lock().is_ok_and(|s| s.closed) {
            *tick = Some(tokio::spawn(self::tick(Arc::downgrade(&self.inner), interval)));
        }
    }

    /// How many saves this checkpointer has made.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// checkpoints.record(1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// checkpoints.flush().await?;
    /// assert_eq!(checkpoints.saves().await, 1);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn saves(&self) -> u64 {
        self.inner.state.lock().await.saves
    }

    /// How many recorded events are not saved yet.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, Checkpointer, MemoryRepository, Strategy};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let checkpoints = Checkpointer::new(repo.clone(), "orders", Strategy::Every(100))?;
    /// assert_eq!(checkpoints.unsaved().await, 0);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn unsaved(&self) -> u32 {
        self.inner.state.lock().await.unsaved
    }
}

impl Inner {
    async fn save(&self, state: &mut State) -> Result<()> {
        let Some((position, event_id, event_type)) = state.pending.clone() else { return Ok(()) };
        let count = state.unsaved.max(1);
        self.repo.save_position_covering(&self.name, position, event_id, &event_type, count).await?;
        state.pending = None;
        state.unsaved = 0;
        state.last_save = Some(Instant::now());
        state.saves += 1;
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(task) = self.tick.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
        let unsaved = self.inner.state.try_lock().map_or(0, |s| if s.closed { 0 } else { s.unsaved });
        if unsaved > 0 {
            tracing::warn!(
                code = "checkpointer_unsaved",
                projection = %self.inner.name,
                unsaved,
                "checkpointer dropped without close(): its last {unsaved} event(s) will be handled again"
            );
        }
    }
}

/// Saves a pending position once the interval has passed since the last save, also
/// when no event arrives; keeps an error for the next caller. Ends with the checkpointer.
async fn tick(inner: std::sync::Weak<Inner>, interval: Duration) {
    loop {
        let due = {
            let Some(inner) = inner.upgrade() else { return };
            let state = inner.state.lock().await;
            state.last_save.map_or_else(Instant::now, |at| at + interval)
        };
        tokio::time::sleep_until(due).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut state = inner.state.lock().await;
        let elapsed = state.last_save.is_none_or(|at| at.elapsed() >= interval);
        if elapsed && state.pending.is_some() && state.error.is_none() && !state.closed {
            if let Err(e) = inner.save(&mut state).await {
                state.error = Some(e);
            }
        } else if elapsed {
            // Idle: nothing to write; wait a whole interval from now.
            state.last_save = Some(Instant::now());
        }
    }
}
