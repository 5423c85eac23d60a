//! Plain data: checkpoint records, lag metrics, events, and the validation of every
//! name, position and token before it reaches a backend.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::time;

/// Longest projection name or event type accepted, in characters.
///
/// # Examples
/// ```
/// assert!(waypost::validate_name("projection name", &"x".repeat(waypost::MAX_NAME_CHARS)).is_ok());
/// ```
pub const MAX_NAME_CHARS: usize = 255;
/// Longest position token accepted, in characters.
///
/// # Examples
/// ```
/// assert!(waypost::validate_token(&"x".repeat(waypost::MAX_TOKEN_CHARS + 1)).is_err());
/// ```
pub const MAX_TOKEN_CHARS: usize = 4096;

/// One projection's stored checkpoint, as returned by
/// [`get_all_checkpoints`](crate::CheckpointRepository::get_all_checkpoints).
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 5, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let data = &repo.get_all_checkpoints().await?[0];
/// assert_eq!((data.projection_name.as_str(), data.global_position, data.events_processed), ("orders", Some(5), 1));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckpointData {
    /// The projection (or subscription) name, the record's key.
    pub projection_name: String,
    /// The last processed event's id.
    pub last_event_id: Option<Uuid>,
    /// The last processed event's type.
    pub last_event_type: Option<String>,
    /// When the last write happened (UTC, microsecond precision).
    pub last_processed_at: Option<DateTime<Utc>>,
    /// How many writes this checkpoint has seen since it was created or reset.
    pub events_processed: i64,
    /// The last processed global position, if one was saved.
    pub global_position: Option<i64>,
    /// The last saved opaque position token, if one was saved.
    pub position_token: Option<String>,
}

/// How far behind a projection is, computed the way eventsource-py computes it.
///
/// `last_event_id` and `latest_event_id` are lowercase hyphenated ids, and
/// `last_processed_at` is formatted like Python's `datetime.isoformat()`.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository, NewEvent};
/// let repo = MemoryRepository::new();
/// repo.append_events(&[NewEvent::now("OrderPlaced"), NewEvent::now("OrderPlaced")]).await?;
/// repo.save_position("orders", 1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let lag = repo.get_lag_metrics("orders", None).await?.expect("a checkpoint");
/// assert_eq!((lag.stream_head, lag.events_behind), (Some(2), Some(1)));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LagMetrics {
    /// The projection name.
    pub projection_name: String,
    /// The checkpoint's last event id.
    pub last_event_id: Option<String>,
    /// The newest relevant event in the events table.
    pub latest_event_id: Option<String>,
    /// Seconds between the checkpoint's last write and the newest relevant event, rounded
    /// to one decimal like Python's `round(x, 1)`; 0.0 when caught up.
    pub lag_seconds: f64,
    /// The checkpoint's write count.
    pub events_processed: i64,
    /// The checkpoint's last write time, ISO 8601.
    pub last_processed_at: Option<String>,
    /// The largest global position in the events table (all types).
    pub stream_head: Option<i64>,
    /// `max(0, stream_head - global_position)` when both are known.
    pub events_behind: Option<i64>,
}

/// An event to append to a repository's events table (demos, tests, embedded stores).
///
/// # Examples
/// ```
/// let event = waypost::NewEvent::now("OrderPlaced");
/// assert_eq!(event.event_type, "OrderPlaced");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// When the event happened.
    pub timestamp: DateTime<Utc>,
}

impl NewEvent {
    /// An event of `event_type` with a fresh random id, timestamped now.
    ///
    /// # Examples
    /// ```
    /// let (a, b) = (waypost::NewEvent::now("T"), waypost::NewEvent::now("T"));
    /// assert_ne!(a.event_id, b.event_id, "fresh ids");
    /// ```
    pub fn now(event_type: impl Into<String>) -> Self {
        NewEvent { event_id: Uuid::new_v4(), event_type: event_type.into(), timestamp: time::now() }
    }
}

/// Checks a projection name, subscription id or event type: 1 to 255 characters, no NUL.
///
/// `what` names the argument in the error message.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when the name is
/// empty, too long, or contains NUL.
///
/// # Examples
/// ```
/// assert!(waypost::validate_name("projection name", "orders").is_ok());
/// let err = waypost::validate_name("projection name", "").unwrap_err();
/// assert_eq!(err.to_string(), "invalid argument: projection name is empty");
/// ```
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if name.contains('\0') {
        return Err(Error::invalid(format!("{what} contains a NUL character")));
    }
    // Counting characters is only needed when the byte length could exceed the limit.
    if name.len() > MAX_NAME_CHARS && name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(format!("{what} is longer than {MAX_NAME_CHARS} characters")));
    }
    Ok(())
}

/// Checks a global position: 0 to `i64::MAX`.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a negative position.
///
/// # Examples
/// ```
/// assert!(waypost::validate_position(0).is_ok());
/// assert!(waypost::validate_position(-1).is_err());
/// ```
pub fn validate_position(position: i64) -> Result<()> {
    if position < 0 {
        return Err(Error::invalid(format!("position must be between 0 and {}, got {position}", i64::MAX)));
    }
    Ok(())
}

/// Checks a position token: 1 to 4096 characters, no NUL.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when the token is
/// empty, too long, or contains NUL.
///
/// # Examples
/// ```
/// assert!(waypost::validate_token("0/16B3748").is_ok());
/// assert!(waypost::validate_token("a\0b").is_err());
/// ```
pub fn validate_token(token: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::invalid("position token is empty"));
    }
    if token.contains('\0') {
        return Err(Error::invalid("position token contains a NUL character"));
    }
    if token.len() > MAX_TOKEN_CHARS && token.chars().count() > MAX_TOKEN_CHARS {
        return Err(Error::invalid(format!("position token is longer than {MAX_TOKEN_CHARS} characters")));
    }
    Ok(())
}

/// Parses an event id given as text (any case, hyphenated, simple, braced or URN form).
///
/// Bindings use this so that a malformed id is rejected with the same kind everywhere.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when the text is not a UUID.
///
/// # Examples
/// ```
/// let id = waypost::parse_event_id("{67E55044-10B1-426F-9247-BB680E5FE0C8}")?;
/// assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
/// assert!(waypost::parse_event_id("not-a-uuid").is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
pub fn parse_event_id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| {
        let shown: String = text.chars().take(64).collect();
        Error::invalid(format!("event id {shown:?} is not a UUID"))
    })
}

/// Converts a position that arrives as an unsigned or wider integer.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when it exceeds `i64::MAX`.
///
/// # Examples
/// ```
/// assert_eq!(waypost::position_from_i128(42)?, 42);
/// assert!(waypost::position_from_i128(i128::from(u64::MAX)).is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
pub fn position_from_i128(position: i128) -> Result<i64> {
    let position = i64::try_from(position)
        .map_err(|_| Error::invalid(format!("position must be between 0 and {}, got {position}", i64::MAX)))?;
    validate_position(position)?;
    Ok(position)
}

/// Which stored field a write sets besides the event id, type and time.
///
/// # Examples
/// ```
/// use waypost::{CheckpointWrite, Mark};
/// let write = CheckpointWrite::new("cdc", uuid::Uuid::new_v4(), "Insert", Mark::Token("0/16B3748"))?;
/// assert_eq!(write.mark(), Mark::Token("0/16B3748"));
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark<'a> {
    /// `update_checkpoint`: keeps any stored position and token.
    EventOnly,
    /// `save_position`: sets the integer position, keeps the token.
    Position(i64),
    /// `save_position_token`: sets the token, keeps the integer position.
    Token(&'a str),
}

/// A validated checkpoint write, stamped with the time every backend stores: the only
/// write a [`CheckpointStore`](crate::CheckpointStore) receives.
///
/// It can only be built through validation ([`new`](Self::new), [`event`](Self::event),
/// [`position`](Self::position), [`token`](Self::token)), so a store never checks a name,
/// a position or a token itself, and every store stamps the same clock.
///
/// ```
/// use waypost::{CheckpointWrite, Mark};
///
/// let id = uuid::Uuid::new_v4();
/// let w = CheckpointWrite::position("orders", 41, id, "OrderPlaced")?.covering(10)?;
/// assert_eq!((w.name(), w.mark(), w.count()), ("orders", Mark::Position(41), 10));
/// assert!(CheckpointWrite::position("orders", -1, id, "OrderPlaced").is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CheckpointWrite<'a> {
    pub(crate) name: &'a str,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: &'a str,
    pub(crate) at: DateTime<Utc>,
    pub(crate) mark: Mark<'a>,
    /// How many events this write covers: added to `events_processed` (1 for the
    /// protocol methods).
    pub(crate) count: i64,
}

/// The crate's short name for [`CheckpointWrite`].
pub(crate) type Write<'a> = CheckpointWrite<'a>;

impl<'a> CheckpointWrite<'a> {
    /// An `update_checkpoint` write: the event only, keeping any stored position and token.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name or event type.
    ///
    /// # Examples
    /// ```
    /// let write = waypost::CheckpointWrite::event("orders", uuid::Uuid::new_v4(), "OrderPlaced")?;
    /// assert_eq!(write.mark(), waypost::Mark::EventOnly);
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn event(name: &'a str, event_id: Uuid, event_type: &'a str) -> Result<Self> {
        Self::new(name, event_id, event_type, Mark::EventOnly)
    }

    /// A `save_position` write.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name or event type, or a negative position.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.mark(), waypost::Mark::Position(7));
    /// assert!(waypost::CheckpointWrite::position("orders", -1, id, "OrderPlaced").is_err());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn position(name: &'a str, position: i64, event_id: Uuid, event_type: &'a str) -> Result<Self> {
        Self::new(name, event_id, event_type, Mark::Position(position))
    }

    /// A `save_position_token` write.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name, event type or token.
    ///
    /// # Examples
    /// ```
    /// let write = waypost::CheckpointWrite::token("cdc", "0/16B3748", uuid::Uuid::new_v4(), "Insert")?;
    /// assert_eq!(write.mark(), waypost::Mark::Token("0/16B3748"));
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn token(name: &'a str, token: &'a str, event_id: Uuid, event_type: &'a str) -> Result<Self> {
        Self::new(name, event_id, event_type, Mark::Token(token))
    }

    /// The checkpoint's name.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.name(), "orders");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The last processed event's id.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.event_id(), id);
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }

    /// The last processed event's type.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.event_type(), "OrderPlaced");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn event_type(&self) -> &'a str {
        self.event_type
    }

    /// When the write happened (UTC, microseconds): the `last_processed_at` to store.
    ///
    /// # Examples
    /// ```
    /// let before = waypost::time::now();
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert!(write.at() >= before, "stamped when built");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// What the write sets besides the event.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.mark(), waypost::Mark::Position(7));
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn mark(&self) -> Mark<'a> {
        self.mark
    }

    /// How many events the write covers: what it adds to `events_processed`.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!((write.count(), write.covering(10)?.count()), (1, 10));
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn count(&self) -> i64 {
        self.count
    }
}

/// A validated checkpoint name, the key of every read a [`CheckpointStore`](crate::CheckpointStore)
/// serves: 1 to 255 characters, no NUL.
///
/// # Examples
/// ```
/// let name = waypost::Name::new("orders")?;
/// assert_eq!(name.as_str(), "orders");
/// assert!(waypost::Name::new("").is_err());
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a>(&'a str);

impl<'a> Name<'a> {
    /// Checks `name` as a projection name or subscription id.
    ///
    /// # Errors
    /// `InvalidArgument` when it is empty, too long or contains NUL.
    ///
    /// # Examples
    /// ```
    /// assert!(waypost::Name::new(&"x".repeat(256)).is_err());
    /// ```
    pub fn new(name: &'a str) -> Result<Self> {
        validate_name("projection name", name)?;
        Ok(Name(name))
    }

    /// The name.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::Name::new("orders")?.as_str(), "orders");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl std::ops::Deref for Name<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

/// A validated event-type filter for lag: empty means every type.
///
/// # Examples
/// ```
/// let types = ["OrderPlaced".to_owned()];
/// let filter = waypost::EventTypes::new(Some(&types))?;
/// assert_eq!(filter.as_slice(), types);
/// assert!(waypost::EventTypes::new(None)?.is_all());
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypes<'a>(&'a [String]);

impl<'a> EventTypes<'a> {
    /// Checks every type of the filter (`None`: all types).
    ///
    /// # Errors
    /// `InvalidArgument` for a bad event type.
    ///
    /// # Examples
    /// ```
    /// assert!(waypost::EventTypes::new(Some(&["".to_owned()])).is_err(), "an empty type");
    /// ```
    pub fn new(types: Option<&'a [String]>) -> Result<Self> {
        let types = types.unwrap_or_default();
        for t in types {
            validate_name("event type", t)?;
        }
        Ok(EventTypes(types))
    }

    /// The types; empty means every type.
    ///
    /// # Examples
    /// ```
    /// assert!(waypost::EventTypes::new(None)?.as_slice().is_empty());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn as_slice(&self) -> &'a [String] {
        self.0
    }

    /// Whether the filter lets every type through.
    ///
    /// # Examples
    /// ```
    /// assert!(!waypost::EventTypes::new(Some(&["T".to_owned()]))?.is_all());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }
}

/// Validated events to append to an events table.
///
/// # Examples
/// ```
/// let events = [waypost::NewEvent::now("OrderPlaced")];
/// assert_eq!(waypost::EventBatch::new(&events)?.as_slice().len(), 1);
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBatch<'a>(&'a [NewEvent]);

impl<'a> EventBatch<'a> {
    /// Checks every event's type.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad event type.
    ///
    /// # Examples
    /// ```
    /// let bad = [waypost::NewEvent::now("")];
    /// assert!(waypost::EventBatch::new(&bad).is_err());
    /// ```
    pub fn new(events: &'a [NewEvent]) -> Result<Self> {
        for e in events {
            validate_name("event type", &e.event_type)?;
        }
        Ok(EventBatch(events))
    }

    /// The events, in order.
    ///
    /// # Examples
    /// ```
    /// let events = [waypost::NewEvent::now("T")];
    /// assert_eq!(waypost::EventBatch::new(&events)?.as_slice()[0].event_type, "T");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn as_slice(&self) -> &'a [NewEvent] {
        self.0
    }
}

impl<'a> CheckpointWrite<'a> {
    /// A write of `mark`, validated and stamped now.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad name, event type, position or token.
    ///
    /// # Examples
    /// ```
    /// use waypost::{CheckpointWrite, Mark};
    /// let write = CheckpointWrite::new("orders", uuid::Uuid::new_v4(), "OrderPlaced", Mark::Position(3))?;
    /// assert_eq!(write.name(), "orders");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn new(name: &'a str, event_id: Uuid, event_type: &'a str, mark: Mark<'a>) -> Result<Self> {
        validate_name("projection name", name)?;
        validate_name("event type", event_type)?;
        match mark {
            Mark::EventOnly => {}
            Mark::Position(p) => validate_position(p)?,
            Mark::Token(t) => validate_token(t)?,
        }
        Ok(Write { name, event_id, event_type, at: time::now(), mark, count: 1 })
    }

    /// The write a checkpoint statement of `kind` performs.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// # Examples
    /// ```
    /// use waypost::{CheckpointWrite, Mark, StatementKind};
    /// let kind = StatementKind::SavePosition(9);
    /// let write = CheckpointWrite::for_statement("orders", uuid::Uuid::new_v4(), "OrderPlaced", &kind)?;
    /// assert_eq!(write.mark(), Mark::Position(9));
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn for_statement(
        name: &'a str,
        event_id: Uuid,
        event_type: &'a str,
        kind: &'a crate::statement::StatementKind,
    ) -> Result<Self> {
        use crate::statement::StatementKind;
        let mark = match kind {
            StatementKind::SavePosition(p) => Mark::Position(*p),
            StatementKind::UpdateCheckpoint => Mark::EventOnly,
            StatementKind::SavePositionToken(t) => Mark::Token(t),
        };
        Write::new(name, event_id, event_type, mark)
    }

    /// The same write covering `count` events (1 or more).
    ///
    /// # Errors
    /// `InvalidArgument` for a count of 0.
    ///
    /// # Examples
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let write = waypost::CheckpointWrite::position("orders", 7, id, "OrderPlaced")?;
    /// assert_eq!(write.covering(25)?.count(), 25);
    /// assert!(waypost::CheckpointWrite::position("orders", 7, id, "T")?.covering(0).is_err());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn covering(mut self, count: u32) -> Result<Self> {
        if count == 0 {
            return Err(Error::invalid("a checkpoint covers at least 1 event, got 0"));
        }
        self.count = i64::from(count);
        Ok(self)
    }

    /// The row a first write creates.
    pub(crate) fn new_row(&self) -> CheckpointData {
        let mut row = CheckpointData {
            projection_name: self.name.to_owned(),
            last_event_id: None,
            last_event_type: None,
            last_processed_at: None,
            events_processed: 0,
            global_position: None,
            position_token: None,
        };
        self.apply(&mut row);
        row
    }

    /// Applies this write to an existing row (the memory backend's UPSERT).
    pub(crate) fn apply(&self, row: &mut CheckpointData) {
        row.last_event_id = Some(self.event_id);
        row.last_event_type = Some(self.event_type.to_owned());
        row.last_processed_at = Some(self.at);
        row.events_processed = row.events_processed.saturating_add(self.count);
        match self.mark {
            Mark::EventOnly => {}
            Mark::Position(p) => row.global_position = Some(p),
            Mark::Token(t) => row.position_token = Some(t.to_owned()),
        }
    }
}

/// A [`Write`] that owns its strings, for writes kept until a transaction commits.
#[derive(Debug, Clone)]
pub(crate) struct OwnedWrite {
    pub(crate) name: String,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    pub(crate) at: DateTime<Utc>,
    pub(crate) position: Option<i64>,
    pub(crate) token: Option<String>,
    pub(crate) count: i64,
}

impl From<Write<'_>> for OwnedWrite {
    fn from(w: Write<'_>) -> Self {
        let (position, token) = match w.mark {
            Mark::EventOnly => (None, None),
            Mark::Position(p) => (Some(p), None),
            Mark::Token(t) => (None, Some(t.to_owned())),
        };
        OwnedWrite {
            name: w.name.to_owned(),
            event_id: w.event_id,
            event_type: w.event_type.to_owned(),
            at: w.at,
            position,
            token,
            count: w.count,
        }
    }
}

impl OwnedWrite {
    /// The write again, borrowing from `self`.
    pub fn as_write(&self) -> Write<'_> {
        let mark = match (self.position, &self.token) {
            (Some(p), _) => Mark::Position(p),
            (None, Some(t)) => Mark::Token(t),
            (None, None) => Mark::EventOnly,
        };
        Write {
            name: &self.name,
            event_id: self.event_id,
            event_type: &self.event_type,
            at: self.at,
            mark,
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn names_are_bounded_in_characters_not_bytes() {
        assert!(validate_name("n", &"é".repeat(255)).is_ok());
        let err = validate_name("n", &"é".repeat(256)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(validate_name("n", "").unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(validate_name("n", "a\0b").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn positions_and_tokens() {
        assert!(validate_position(0).is_ok());
        assert!(validate_position(i64::MAX).is_ok());
        assert!(validate_position(-1).is_err());
        assert_eq!(position_from_i128(i64::MAX as i128).unwrap(), i64::MAX);
        assert!(position_from_i128(i64::MAX as i128 + 1).is_err());
        assert!(validate_token("x").is_ok());
        assert!(validate_token("").is_err());
        assert!(validate_token(&"t".repeat(MAX_TOKEN_CHARS + 1)).is_err());
    }

    #[test]
    fn event_ids_parse_in_any_form() {
        let id = parse_event_id("6F9619FF-8B86-D011-B42D-00CF4FC964FF").unwrap();
        assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        assert_eq!(parse_event_id("nope").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn writes_count_and_keep_the_other_position() {
        let id = Uuid::new_v4();
        let mut row = Write::new("p", id, "T", Mark::Position(5)).unwrap().new_row();
        assert_eq!(row.events_processed, 1);
        Write::new("p", id, "T", Mark::Token("tok")).unwrap().apply(&mut row);
        assert_eq!((row.global_position, row.position_token.as_deref()), (Some(5), Some("tok")));
        Write::new("p", id, "T", Mark::EventOnly).unwrap().apply(&mut row);
        assert_eq!(row.events_processed, 3);
        assert_eq!(row.global_position, Some(5));
    }
}
