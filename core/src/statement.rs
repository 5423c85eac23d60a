//! Statement mode: the exact SQL and parameters of a checkpoint write, for callers who
//! keep their own driver (asyncpg, psycopg, SQLAlchemy, node-postgres, better-sqlite3)
//! and run it inside their own transaction — so the checkpoint commits or rolls back
//! with their read-model writes.
//!
//! The text is the repository's own UPSERT (same table, same semantics, counting one
//! event); the placeholders are the store's: `$1 … $6` on PostgreSQL, `?1 … ?6` on
//! SQLite (numbered, bound by position), `?` on MySQL (positional: the parameters list
//! the time three times, as the statement uses it). Parameters are always bound, never pasted.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::checkpoint::{Mark, Write};

/// Which write a [`CheckpointStatement`] performs.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository, StatementKind, StatementParam};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let id = uuid::Uuid::new_v4();
/// let statement = repo.checkpoint_statement("Orders", id, "OrderPlaced", StatementKind::SavePosition(7)).await?;
/// assert!(statement.sql.contains("INSERT"));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// `save_position`: sets the integer position, keeps the token.
    SavePosition(i64),
    /// `update_checkpoint`: keeps any stored position and token.
    UpdateCheckpoint,
    /// `save_position_token`: sets the token, keeps the integer position.
    SavePositionToken(String),
}

impl StatementKind {
    /// The kind a binding's arguments name: `save_position` (or `savePosition`) with a
    /// position, `update_checkpoint` with neither, `save_position_token` with a token.
    ///
    /// ```
    /// use waypost::StatementKind;
    /// assert_eq!(StatementKind::from_args("savePosition", Some(7), None)?, StatementKind::SavePosition(7));
    /// assert!(StatementKind::from_args("update_checkpoint", Some(7), None).is_err());
    /// # Ok::<(), waypost::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidArgument` for another kind, or a position or token the kind does not take.
    pub fn from_args(kind: &str, position: Option<i64>, token: Option<String>) -> crate::Result<StatementKind> {
        let plain = kind.replace('_', "").to_ascii_lowercase();
        match (plain.as_str(), position, token) {
            ("saveposition", Some(p), None) => Ok(StatementKind::SavePosition(p)),
            ("updatecheckpoint", None, None) => Ok(StatementKind::UpdateCheckpoint),
            ("savepositiontoken", None, Some(t)) => Ok(StatementKind::SavePositionToken(t)),
            _ => Err(crate::Error::invalid(format!(
                "kind {kind:?} takes: save_position / savePosition (with a position), \
                 update_checkpoint / updateCheckpoint (with neither), \
                 save_position_token / savePositionToken (with a token)"
            ))),
        }
    }
}

/// One bound parameter, typed as the store expects it.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository, StatementKind, StatementParam};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let id = uuid::Uuid::new_v4();
/// let statement = repo.checkpoint_statement("Orders", id, "OrderPlaced", StatementKind::SavePosition(7)).await?;
/// assert_eq!(statement.params[0], StatementParam::Text("Orders".into()));
/// assert!(statement.params.contains(&StatementParam::Int(7)));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StatementParam {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A UUID (PostgreSQL's `uuid`; SQLite takes the event id as [`StatementParam::Text`]).
    Uuid(Uuid),
    /// A UTC timestamp (PostgreSQL's `timestamptz`; SQLite takes ISO 8601 text).
    Timestamp(DateTime<Utc>),
}

/// The SQL text and parameters of one checkpoint write.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository, StatementKind, StatementParam};
/// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
/// let id = uuid::Uuid::new_v4();
/// let statement = repo.checkpoint_statement("Orders", id, "OrderPlaced", StatementKind::SavePosition(7)).await?;
/// // Run `statement.sql` with `statement.params` in your own transaction, beside your writes.
/// assert!(statement.params.len() >= 4, "name, event id, event type, time, position…");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckpointStatement {
    /// The statement, with numbered placeholders.
    pub sql: String,
    /// The parameters, in placeholder order.
    pub params: Vec<StatementParam>,
}

/// The parameters of `w` in the order of the UPSERT statements: name, event id, event
/// type, time, then the position or token if any, then the count. `typed`: the id and
/// time as [`StatementParam::Uuid`] / [`StatementParam::Timestamp`] (PostgreSQL), else
/// as text (SQLite).
#[cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn params_of(w: &Write<'_>, typed: bool) -> Vec<StatementParam> {
    let mut params = vec![
        StatementParam::Text(w.name.to_owned()),
        if typed { StatementParam::Uuid(w.event_id) } else { StatementParam::Text(w.event_id.to_string()) },
        StatementParam::Text(w.event_type.to_owned()),
        if typed { StatementParam::Timestamp(w.at) } else { StatementParam::Text(crate::time::isoformat(&w.at)) },
    ];
    match w.mark {
        Mark::EventOnly => {}
        Mark::Position(p) => params.push(StatementParam::Int(p)),
        Mark::Token(t) => params.push(StatementParam::Text(t.to_owned())),
    }
    params.push(StatementParam::Int(w.count));
    params
}
