//! Options of the SQL repositories: checkpoint table, events table, connection limits.
//!
//! Names are plain strings here and become validated [`Identifier`]s when a repository
//! is opened, so a bad name is an `InvalidArgument` error before anything is touched.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Result;
use crate::ident::Identifier;

/// The default checkpoint table, the one eventsource-py creates.
///
/// # Examples
/// ```
/// assert_eq!(waypost::SqliteOptions::default().table, waypost::DEFAULT_CHECKPOINT_TABLE);
/// ```
pub const DEFAULT_CHECKPOINT_TABLE: &str = "projection_checkpoints";

/// Where lag queries find events: eventsource-py's `events` layout by default.
///
/// # Examples
/// ```
/// // An events table of your own: `stream_events` with a `seq` position column.
/// let events = waypost::EventsTable {
///     table: "stream_events".into(),
///     position_column: Some("seq".into()),
///     ..waypost::EventsTable::default()
/// };
/// let options = waypost::SqliteOptions { events_table: Some(events), ..Default::default() };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsTable {
    /// PostgreSQL schema of the events table; `None` uses the checkpoint table's schema.
    /// Ignored by SQLite.
    pub schema: Option<String>,
    /// Table name (default `events`).
    pub table: String,
    /// Event id column (default `event_id`).
    pub event_id_column: String,
    /// Event type column (default `event_type`).
    pub event_type_column: String,
    /// Timestamp column (default `timestamp`): TIMESTAMPTZ on PostgreSQL, ISO 8601 text
    /// on SQLite.
    pub timestamp_column: String,
    /// Global position column (default `global_position`); `None` when the table has
    /// none, and then lag metrics carry no stream head.
    pub position_column: Option<String>,
}

impl Default for EventsTable {
    fn default() -> Self {
        EventsTable {
            schema: None,
            table: "events".into(),
            event_id_column: "event_id".into(),
            event_type_column: "event_type".into(),
            timestamp_column: "timestamp".into(),
            position_column: Some("global_position".into()),
        }
    }
}

/// Options of [`SqliteRepository`](crate::SqliteRepository).
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::time::Duration;
/// use waypost::{SqliteOptions, SqliteRepository};
/// let options = SqliteOptions { busy_timeout: Duration::from_secs(10), events_table: None, ..SqliteOptions::default() };
/// let repo = SqliteRepository::open(dir.path().join("checkpoints.db"), options).await?;
/// # drop(repo);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Checkpoint table (default `projection_checkpoints`).
    pub table: String,
    /// Events table for lag queries; `None` makes lag metrics placeholders.
    pub events_table: Option<EventsTable>,
    /// Create the checkpoint table if missing and add `position_token` to an older
    /// table (default true).
    pub create_schema: bool,
    /// How long a write waits for another process's lock before `Unavailable` (default 5 s).
    pub busy_timeout: Duration,
    /// `synchronous=FULL` (default true): a returned write survives power loss. False
    /// selects `NORMAL`, which in WAL mode may lose the last writes on power loss.
    pub synchronous_full: bool,
    /// Run calls made from tasks of a multi-thread tokio runtime inside
    /// [`tokio::task::block_in_place`] when the connection is free, instead of queueing
    /// them to the repository's SQLite thread (default false). It saves the thread hop
    /// (10–40 µs, more than a primary-key read); tokio hands the worker's other tasks to
    /// another thread first. Leave it off if you poll repositories from a `LocalSet`
    /// inside `Runtime::block_on`, where tokio forbids blocking in place.
    pub block_in_place: bool,
    /// Run `get_checkpoint`, `get_position` and `get_position_token` on the calling
    /// thread through a second, read-only connection that never waits for a lock (busy
    /// timeout 0); a read that would wait goes to the SQLite thread as usual (default
    /// true; it was false before issue 14). A primary-key read takes a few microseconds,
    /// less than the thread hop (a read through the SQLite thread ran at a seventh of
    /// rusqlite's rate), but it may touch the disk. Turn it off to keep every call off the
    /// calling thread.
    pub inline_reads: bool,
    /// Run `save_position`, `update_checkpoint` and `save_position_token` on the calling
    /// thread when the connection is free, nothing is queued for it and no other
    /// connection holds the write lock (default false). The calling thread then waits for
    /// the commit's fsync (about 0.1–0.2 ms on an SSD, milliseconds on a disk that syncs
    /// slowly) instead of two thread wake-ups; a write that would wait for a lock or for
    /// the connection goes to the SQLite thread as usual and never blocks the caller. For
    /// a caller whose own thread is the place to wait, as better-sqlite3 waits on Node's
    /// event loop; on a tokio worker it blocks the worker (with `block_in_place`, tokio
    /// hands the worker's other tasks away first).
    pub inline_writes: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            table: DEFAULT_CHECKPOINT_TABLE.into(),
            events_table: Some(EventsTable::default()),
            create_schema: true,
            busy_timeout: Duration::from_secs(5),
            synchronous_full: true,
            block_in_place: false,
            inline_reads: true,
            inline_writes: false,
        }
    }
}

/// SQLite's `synchronous` setting as the bindings take it: `"FULL"` or `"NORMAL"`, in any
/// case ([`SqliteOptions::synchronous_full`]).
///
/// ```
/// use waypost::Synchronous;
/// assert_eq!("normal".parse::<Synchronous>()?, Synchronous::Normal);
/// assert!("OFF".parse::<Synchronous>().is_err());
/// assert_eq!(Synchronous::default().as_str().parse::<Synchronous>()?, Synchronous::Full);
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// A returned write survives power loss (the default).
    #[default]
    Full,
    /// In WAL mode, the last writes may be lost on power loss.
    Normal,
}

impl Synchronous {
    /// Whether this is `FULL`, as [`SqliteOptions::synchronous_full`] takes it.
    ///
    /// # Examples
    /// ```
    /// assert!(waypost::Synchronous::Full.is_full());
    /// ```
    pub fn is_full(self) -> bool {
        self == Synchronous::Full
    }

    /// `"FULL"` or `"NORMAL"`, as [`FromStr`](std::str::FromStr) reads it.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::Synchronous::Normal.as_str(), "NORMAL");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

impl std::str::FromStr for Synchronous {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "FULL" => Ok(Synchronous::Full),
            "NORMAL" => Ok(Synchronous::Normal),
            _ => Err(crate::Error::invalid(format!("synchronous must be \"FULL\" or \"NORMAL\", got {s:?}"))),
        }
    }
}

/// Options of [`PostgresRepository`](crate::PostgresRepository).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let options = waypost::PostgresOptions {
///     schema: "projections".into(),
///     max_connections: 4,
///     connect_timeout: Duration::from_secs(2),
///     ..waypost::PostgresOptions::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Schema of the checkpoint table (default `public`).
    pub schema: String,
    /// Checkpoint table (default `projection_checkpoints`).
    pub table: String,
    /// Events table for lag queries; `None` makes lag metrics placeholders.
    pub events_table: Option<EventsTable>,
    /// Create the schema and checkpoint table if missing and add `position_token` to an
    /// older table (default true).
    pub create_schema: bool,
    /// Most pooled connections (default 10).
    pub max_connections: u32,
    /// Longest wait for a connection, including connecting, before `Unavailable`
    /// (default 5 s).
    pub connect_timeout: Duration,
    /// TLS to the server, as libpq's `sslmode`; `None` keeps the URL's `sslmode`, whose
    /// default is [`SslMode::Prefer`].
    pub ssl_mode: Option<SslMode>,
    /// The CA certificate(s) (PEM) that `verify-ca` and `verify-full` check the server
    /// against; `None` keeps the URL's `sslrootcert`.
    pub ssl_root_cert: Option<PathBuf>,
    /// A client certificate (PEM) for servers that ask for one; `None` keeps the URL's
    /// `sslcert`.
    pub ssl_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); `None` keeps the URL's `sslkey`.
    pub ssl_key: Option<PathBuf>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "public".into(),
            table: DEFAULT_CHECKPOINT_TABLE.into(),
            events_table: Some(EventsTable::default()),
            create_schema: true,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            ssl_mode: None,
            ssl_root_cert: None,
            ssl_cert: None,
            ssl_key: None,
        }
    }
}

/// How a PostgreSQL connection uses TLS: libpq's `sslmode`, read from the same words
/// (libpq's `allow` is not offered: it would connect in plain text).
///
/// `prefer` (the default) encrypts when the server offers TLS, without checking its
/// certificate; `require` insists on TLS; `verify-ca` also checks the certificate against
/// `sslrootcert`; `verify-full` checks the host name as well. Only `verify-full` (or
/// `verify-ca` on a network you trust) stops a man in the middle.
///
/// ```
/// use waypost::SslMode;
/// assert_eq!("verify-full".parse::<SslMode>()?, SslMode::VerifyFull);
/// assert!("on".parse::<SslMode>().is_err());
/// assert_eq!(SslMode::default().as_str(), "prefer");
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, with the server's certificate signed by a CA of `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Every mode, weakest first.
    pub const ALL: [SslMode; 5] =
        [SslMode::Disable, SslMode::Prefer, SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull];

    /// libpq's word for the mode (`"verify-full"`), as [`FromStr`](std::str::FromStr) reads it.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::SslMode::VerifyFull.as_str(), "verify-full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl std::str::FromStr for SslMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| {
            let words: Vec<&str> = SslMode::ALL.iter().map(|m| m.as_str()).collect();
            crate::Error::invalid(format!("sslmode must be one of {}, got {s:?}", words.join(", ")))
        })
    }
}

/// Options of `MysqlRepository` (MySQL 8 or MariaDB 10.6+). The database is the URL's.
///
/// # Examples
/// ```
/// let options = waypost::MysqlOptions { table: "checkpoints".into(), ..waypost::MysqlOptions::default() };
/// assert!(options.create_schema);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlOptions {
    /// Checkpoint table (default `projection_checkpoints`).
    pub table: String,
    /// Events table for lag queries; `None` makes lag metrics placeholders. Its `schema`
    /// names another database on the same server.
    pub events_table: Option<EventsTable>,
    /// Create the checkpoint table if missing and add `position_token` to an older table
    /// (default true).
    pub create_schema: bool,
    /// Most pooled connections (default 10).
    pub max_connections: u32,
    /// Longest wait for a connection, including connecting, before `Unavailable`
    /// (default 5 s).
    pub connect_timeout: Duration,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        MysqlOptions {
            table: DEFAULT_CHECKPOINT_TABLE.into(),
            events_table: Some(EventsTable::default()),
            create_schema: true,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// An [`EventsTable`] whose names have been validated.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) struct EventsNames {
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub schema: Option<Identifier>,
    pub table: Identifier,
    pub event_id: Identifier,
    pub event_type: Identifier,
    pub timestamp: Identifier,
    pub position: Option<Identifier>,
}

impl EventsTable {
    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn validate(&self) -> Result<EventsNames> {
        Ok(EventsNames {
            schema: self.schema.as_deref().map(|s| Identifier::new("events schema", s)).transpose()?,
            table: Identifier::new("events table", &self.table)?,
            event_id: Identifier::new("event id column", &self.event_id_column)?,
            event_type: Identifier::new("event type column", &self.event_type_column)?,
            timestamp: Identifier::new("timestamp column", &self.timestamp_column)?,
            position: self.position_column.as_deref().map(|c| Identifier::new("position column", c)).transpose()?,
        })
    }
}
