//! The SQLite backend: one rusqlite connection owned by a dedicated thread, fed by a
//! channel, so no tokio worker ever blocks on the database file.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::checkpoint::{self, CheckpointData, LagMetrics, Mark, NewEvent, Write};
use crate::claims::{ClaimLedger, ClaimsOptions};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::options::{EventsNames, SqliteOptions};
use crate::repository::CheckpointRepository;
use crate::statement::{CheckpointStatement, StatementKind};
use crate::time;
use crate::transaction::Transaction;

use super::sqlite_tx::{SqliteTx, TxConnections};
use super::sqlite_wal::WalFile;
use crate::origin::Origin;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Checkpoints in an SQLite file (WAL mode, `synchronous=FULL` by default, a busy
/// timeout so that several processes can share the file).
///
/// No call blocks a tokio worker: calls are queued to the repository's own SQLite thread.
/// With [`SqliteOptions::block_in_place`], a call from a task of a multi-thread runtime
/// that finds the connection free runs inside [`tokio::task::block_in_place`] instead,
/// which first hands the worker's other tasks to another thread and saves the hop.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
///
/// let dir = tempfile::tempdir().unwrap();
/// let repo = SqliteRepository::open(dir.path().join("checkpoints.db"), SqliteOptions::default()).await?;
/// repo.save_position("orders", 42, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(repo.get_position("orders").await?, Some(42));
/// repo.close().await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct SqliteRepository {
    path: PathBuf,
    sql: Arc<Sql>,
    block_in_place: bool,
    /// Connections for [`CheckpointRepository::begin`]; `None` for `:memory:`.
    transactions: Option<Arc<TxConnections>>,
    /// `None` once closed.
    open: Mutex<Option<Open>>,
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
    origin: Origin,
}

impl Drop for SqliteRepository {
    fn drop(&mut self) {
        if self.origin.forked() {
            // The SQLite thread is the parent's and does not exist here; closing the
            // connections here could checkpoint or delete the WAL the parent writes into.
            std::mem::forget(self.open.get_mut().unwrap_or_else(PoisonError::into_inner).take());
            std::mem::forget(self.transactions.take());
        }
    }
}

/// The connection, shared by the SQLite thread and callers that may block in place.
struct Open {
    conn: Arc<Mutex<Connection>>,
    jobs: mpsc::Sender<Job>,
    /// The read-only connection of `SqliteOptions::inline_reads`.
    reader: Option<Arc<Mutex<Connection>>>,
}

impl std::fmt::Debug for SqliteRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRepository")
            .field("path", &self.path)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

/// What [`SqliteRepository::settings`] reads back from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `wal` for a file, `memory` for `:memory:`.
    pub journal_mode: String,
    /// `FULL` (the default) or `NORMAL`.
    pub synchronous: String,
    /// How long a write waits for another process's lock.
    pub busy_timeout: Duration,
}

/// Every statement, built once from validated identifiers.
#[derive(Debug)]
pub(crate) struct Sql {
    /// Set once the repository's connection is open (see `sqlite_wal`).
    wal: std::sync::OnceLock<WalFile>,
    table: Identifier,
    events: Option<EventsNames>,
    get_event_id: String,
    get_position: String,
    get_token: String,
    get_row: String,
    list: String,
    delete: String,
    upsert_event: String,
    upsert_position: String,
    upsert_token: String,
}

const COLUMNS: &str =
    "projection_name, last_event_id, last_event_type, last_processed_at, events_processed, global_position, position_token";

impl Sql {
    fn new(options: &SqliteOptions) -> Result<Self> {
        let table = Identifier::new("table", &options.table)?;
        let events = options.events_table.as_ref().map(|e| e.validate()).transpose()?;
        let t = table.quoted();
        let upsert = |extra_col: &str, extra_set: &str| {
            format!(
                "INSERT INTO {t} AS c (projection_name, last_event_id, last_event_type, last_processed_at, \
                 events_processed, created_at, updated_at{extra_col}) VALUES (?1, ?2, ?3, ?4, {count}, ?4, ?4{value}) \
                 ON CONFLICT (projection_name) DO UPDATE SET last_event_id = excluded.last_event_id, \
                 last_event_type = excluded.last_event_type, last_processed_at = excluded.last_processed_at, \
                 events_processed = c.events_processed + {count}, updated_at = excluded.updated_at{extra_set}",
                // The count is the last parameter: ?5, or ?6 after a position or token.
                count = if extra_col.is_empty() { "?5" } else { "?6" },
                value = if extra_col.is_empty() { "" } else { ", ?5" },
            )
        };
        Ok(Sql {
            get_event_id: format!("SELECT last_event_id FROM {t} WHERE projection_name = ?1"),
            get_position: format!("SELECT global_position FROM {t} WHERE projection_name = ?1"),
            get_token: format!("SELECT position_token FROM {t} WHERE projection_name = ?1"),
            get_row: format!("SELECT {COLUMNS} FROM {t} WHERE projection_name = ?1"),
            list: format!("SELECT {COLUMNS} FROM {t} ORDER BY projection_name COLLATE BINARY"),
            delete: format!("DELETE FROM {t} WHERE projection_name = ?1"),
            upsert_event: upsert("", ""),
            upsert_position: upsert(", global_position", ", global_position = excluded.global_position"),
            upsert_token: upsert(", position_token", ", position_token = excluded.position_token"),
            table,
            events,
            wal: std::sync::OnceLock::new(),
        })
    }

    /// Runs the write `f` guarded by the WAL check (`sqlite_wal`).
    pub(crate) fn guard<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        match self.wal.get() {
            Some(wal) => wal.guard(f),
            None => f(),
        }
    }

    fn migrate(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let t = self.table.quoted();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // The layout eventsource-py creates, plus position_token; only the primary key is
        // indexed because every write changes the other columns.
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                projection_name TEXT PRIMARY KEY,
                last_event_id TEXT,
                last_event_type TEXT,
                last_processed_at TEXT,
                global_position INTEGER,
                events_processed INTEGER NOT NULL DEFAULT 0,
                position_token TEXT,
                created_at TEXT NOT NULL DEFAULT (datetime('now')),
                updated_at TEXT NOT NULL DEFAULT (datetime('now'))
            )"
        ))?;
        let has_token: bool = tx.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{}') WHERE name = 'position_token'", self.table),
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_token {
            tx.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN position_token TEXT"))?;
        }
        tx.commit()
    }

    fn events(&self) -> Result<&EventsNames> {
        self.events.as_ref().ok_or_else(|| Error::unsupported("this repository was opened without an events table"))
    }
}

fn row_to_data(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointData> {
    let id: Option<String> = r.get(1)?;
    let at: Option<String> = r.get(3)?;
    Ok(CheckpointData {
        projection_name: r.get(0)?,
        last_event_id: id.as_deref().map(parse_stored_id).transpose().map_err(to_conversion)?,
        last_event_type: r.get(2)?,
        last_processed_at: at.as_deref().map(time::parse_timestamp).transpose().map_err(to_conversion)?,
        events_processed: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
        global_position: r.get(5)?,
        position_token: r.get(6)?,
    })
}

fn parse_stored_id(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::backend(format!("stored event id {text:?} is not a UUID"), Some(e.into())))
}

fn to_conversion(e: Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// Maps rusqlite's errors onto waypost's kinds.
/// A transaction of [`SqliteRepository::transaction`]: the caller's statements go
/// through [`connection`](Self::connection), checkpoint writes through the methods.
pub struct SqliteTransaction<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    sql: &'t Sql,
}

impl SqliteTransaction<'_> {
    /// The connection, inside the transaction, for the caller's own statements.
    pub fn connection(&self) -> &Connection {
        self.tx
    }

    /// [`save_position`](CheckpointRepository::save_position) inside this transaction.
    ///
    /// # Errors
    /// As `save_position`.
    pub fn save_position(&self, subscription_id: &str, position: i64, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?)
    }

    /// [`update_checkpoint`](CheckpointRepository::update_checkpoint) inside this transaction.
    ///
    /// # Errors
    /// As `update_checkpoint`.
    pub fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(projection_name, event_id, event_type, Mark::EventOnly)?)
    }

    fn write(&self, w: Write<'_>) -> Result<()> {
        write_on(self.tx, self.sql, &w)
    }
}

/// A checkpoint write on `c` (inside whatever transaction `c` has open).
pub(crate) fn write_on(c: &Connection, sql: &Sql, w: &Write<'_>) -> Result<()> {
    let (id, at) = (w.event_id.to_string(), time::isoformat(&w.at));
    let mut stmt = match w.mark {
        Mark::EventOnly => c.prepare_cached(&sql.upsert_event),
        Mark::Position(_) => c.prepare_cached(&sql.upsert_position),
        Mark::Token(_) => c.prepare_cached(&sql.upsert_token),
    }
    .map_err(map_err)?;
    match w.mark {
        Mark::EventOnly => stmt.execute(params![w.name, id, w.event_type, at, w.count]),
        Mark::Position(p) => stmt.execute(params![w.name, id, w.event_type, at, p, w.count]),
        Mark::Token(t) => stmt.execute(params![w.name, id, w.event_type, at, t, w.count]),
    }
    .map_err(map_err)?;
    Ok(())
}

impl From<rusqlite::Error> for Error {
    /// A rusqlite error from the caller's own statements in a transaction, classified as
    /// waypost's are.
    fn from(e: rusqlite::Error) -> Self {
        map_err(e)
    }
}

pub(crate) fn map_err(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = e {
        return match inner.downcast::<Error>() {
            Ok(err) => *err,
            Err(other) => Error::backend("stored value has an unexpected type", Some(other)),
        };
    }
    let message = e.to_string();
    let code = e.sqlite_error_code();
    if message.starts_with("no such table") || message.starts_with("no such column") {
        return Error::not_found(message);
    }
    match code {
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            Error::unavailable(format!("sqlite database is locked: {message}"), Some(e.into()))
        }
        Some(
            C::CannotOpen | C::NotADatabase | C::ReadOnly | C::DiskFull | C::SystemIoFailure | C::PermissionDenied,
        ) => Error::unavailable(format!("sqlite database unavailable: {message}"), Some(e.into())),
        Some(C::ConstraintViolation) => Error::Conflict { message },
        _ => Error::backend(format!("sqlite: {message}"), Some(e.into())),
    }
}

/// Switches the file to WAL. Processes opening a new file at once each hold a shared
/// lock while asking for the exclusive one the switch needs; SQLite breaks that deadlock
/// by failing one of them at once, without its busy handler, so the switch is retried
/// here within the busy timeout. (This runs on the SQLite thread, never a tokio worker.)
fn enable_wal(conn: &Connection, busy_timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        let outcome = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        let retry = match &outcome {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory") => return Ok(()),
            // Another connection was using the file: the mode could not change yet.
            Ok(_) => true,
            Err(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
        };
        if !retry || Instant::now() >= deadline {
            return match outcome {
                Ok(mode) => {
                    Err(Error::unavailable(format!("sqlite could not switch to WAL (journal_mode is {mode})"), None))
                }
                Err(e) => Err(map_err(e)),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn open_connection(path: &Path, options: &SqliteOptions, sql: &Sql) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::unavailable(format!("cannot open sqlite database {}: {e}", path.display()), Some(e.into()))
    })?;
    conn.busy_timeout(options.busy_timeout).map_err(map_err)?;
    enable_wal(&conn, options.busy_timeout)?;
    let sync = if options.synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    // Closing the last connection of this SQLite must not checkpoint and delete the WAL:
    // another copy of SQLite in the process (the application's driver) may still be
    // writing into it, unseen through its own locks. The WAL stays beside the file and
    // every later connection reads it; SQLite's automatic checkpoints keep it small.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(map_err)?;
    if options.create_schema {
        sql.migrate(&mut conn).map_err(map_err)?;
    }
    Ok(conn)
}

impl SqliteRepository {
    /// Opens (creating if needed) the SQLite file at `path` and prepares the checkpoint
    /// table. `":memory:"` gives a private in-memory database.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad table or column name or a path with a NUL character;
    /// `Unavailable` when the file
    /// cannot be opened or stays locked; `Backend` for other SQLite failures.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(Error::invalid(format!("sqlite path {path:?} contains a NUL character")));
        }
        let sql = Arc::new(Sql::new(&options)?);
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        type Opened = (Arc<Mutex<Connection>>, Option<Arc<Mutex<Connection>>>);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<Opened>>();
        let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
        let block_in_place = options.block_in_place;
        let transactions =
            (path != Path::new(":memory:")).then(|| Arc::new(TxConnections::new(path.clone(), &options)));
        let (thread_path, thread_sql) = (path.clone(), sql.clone());
        std::thread::Builder::new()
            .name("waypost-sqlite".into())
            .spawn(move || {
                let opened = open_connection(&thread_path, &options, &thread_sql).and_then(|conn| {
                    let reader = match options.inline_reads && thread_path != Path::new(":memory:") {
                        true => Some(Arc::new(Mutex::new(open_reader(&thread_path)?))),
                        false => None,
                    };
                    Ok((Arc::new(Mutex::new(conn)), reader))
                });
                let conn = match opened {
                    Ok((conn, reader)) => {
                        let _ = ready_tx.send(Ok((conn.clone(), reader)));
                        conn
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = next_job(&jobs_rx) {
                    // A panicking job drops its reply sender, so its caller gets an
                    // error; the connection keeps serving the others.
                    let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut guard)));
                }
                drop(conn);
                let _ = stopped_tx.send(());
            })
            .map_err(|e| Error::backend("cannot start the sqlite thread", Some(e.into())))?;
        let (conn, reader) =
            ready_rx.await.map_err(|_| Error::backend("the sqlite thread stopped while opening", None))??;
        if path != Path::new(":memory:") {
            // The connection has read the file, so its WAL exists now.
            let _ = sql.wal.set(WalFile::record(&path));
        }
        Ok(SqliteRepository {
            path,
            sql,
            block_in_place,
            transactions,
            open: Mutex::new(Some(Open { conn, jobs: jobs_tx, reader })),
            stopped: Mutex::new(Some(stopped_rx)),
            origin: Origin::here(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings the connection actually runs with, read back from SQLite.
    ///
    /// # Errors
    /// `Unavailable` after [`close`](CheckpointRepository::close).
    pub async fn settings(&self) -> Result<SqliteSettings> {
        self.run(|c, _| {
            let read =
                |pragma: &str| c.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, rusqlite::types::Value>(0));
            let text = |v: rusqlite::types::Value| match v {
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Integer(i) => i.to_string(),
                other => format!("{other:?}"),
            };
            let synchronous = match read("synchronous").map_err(map_err)? {
                rusqlite::types::Value::Integer(0) => "OFF".to_owned(),
                rusqlite::types::Value::Integer(1) => "NORMAL".to_owned(),
                rusqlite::types::Value::Integer(2) => "FULL".to_owned(),
                rusqlite::types::Value::Integer(3) => "EXTRA".to_owned(),
                other => text(other),
            };
            let busy: i64 = c.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).map_err(map_err)?;
            Ok(SqliteSettings {
                journal_mode: text(read("journal_mode").map_err(map_err)?).to_lowercase(),
                synchronous,
                busy_timeout: Duration::from_millis(u64::try_from(busy).unwrap_or(0)),
            })
        })
        .await
    }

    /// Runs `f` on the connection: in place when the runtime allows blocking and the
    /// connection is free, else on the SQLite thread. If the caller's future is dropped
    /// while queued, the job still runs to completion: a write happens entirely or not
    /// at all.
    pub(crate) async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &Sql) -> Result<R> + Send + 'static,
    {
        self.origin.check()?;
        let (conn, jobs) = {
            let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let open = open.as_ref().ok_or_else(closed)?;
            (open.conn.clone(), open.jobs.clone())
        };
        if self.block_in_place && may_block_in_place() {
            let guard = match conn.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut guard) = guard {
                return tokio::task::block_in_place(|| f(&mut guard, &self.sql));
            }
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let sql = self.sql.clone();
        let job: Job = Box::new(move |conn| {
            let _ = reply_tx.send(f(conn, &sql));
        });
        jobs.send(job).map_err(|_| closed())?;
        reply_rx.await.map_err(|_| Error::backend("the sqlite thread failed while running the call", None))?
    }

    /// Runs `f` in one transaction (`BEGIN IMMEDIATE`) on the repository's connection, on
    /// its SQLite thread: the caller's read-model writes and the checkpoint writes made
    /// through the [`SqliteTransaction`] commit together when `f` returns `Ok`, and roll
    /// back together when it returns `Err` (or panics). Exactly-once projections use this.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let event_id = uuid::Uuid::new_v4();
    /// repo.transaction(move |tx| {
    ///     tx.connection().execute_batch("CREATE TABLE IF NOT EXISTS totals (order_id INTEGER PRIMARY KEY, total INTEGER)")?;
    ///     tx.connection().execute("INSERT INTO totals VALUES (?1, ?2)", (42, 99))?;
    ///     tx.save_position("OrderTotals", 1001, event_id, "OrderPlaced")
    /// })
    /// .await?;
    /// assert_eq!(repo.get_position("OrderTotals").await?, Some(1001));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// What `f` returns (nothing is committed then); `Unavailable` when the file stays
    /// locked past the busy timeout; errors of the commit.
    pub async fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&SqliteTransaction<'_>) -> Result<R> + Send + 'static,
    {
        self.run(move |c, sql| {
            sql.guard(|| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_err)?;
                let out = f(&SqliteTransaction { tx: &tx, sql })?;
                tx.commit().map_err(map_err)?;
                Ok(out)
            })
        })
        .await
    }

    async fn write(&self, w: Write<'_>) -> Result<()> {
        let (name, id, event_type, at) =
            (w.name.to_owned(), w.event_id.to_string(), w.event_type.to_owned(), time::isoformat(&w.at));
        let n = w.count;
        match w.mark {
            Mark::EventOnly => {
                self.run(move |c, s| s.guard(|| exec(c, &s.upsert_event, params![name, id, event_type, at, n]))).await
            }
            Mark::Position(p) => {
                self.run(move |c, s| s.guard(|| exec(c, &s.upsert_position, params![name, id, event_type, at, p, n])))
                    .await
            }
            Mark::Token(t) => {
                let t = t.to_owned();
                self.run(move |c, s| s.guard(|| exec(c, &s.upsert_token, params![name, id, event_type, at, t, n])))
                    .await
            }
        }
    }

    async fn read_column<T: rusqlite::types::FromSql + Send + 'static>(
        &self,
        name: &str,
        pick: fn(&Sql) -> &str,
    ) -> Result<Option<T>> {
        checkpoint::check_name(name)?;
        self.origin.check()?;
        let reader = {
            let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            open.as_ref().ok_or_else(closed)?.reader.clone()
        };
        if let Some(reader) = reader {
            if let Ok(mut conn) = reader.try_lock() {
                match query_column(&mut conn, pick(&self.sql), name) {
                    // The reader never waits for a lock; a read that would goes to the thread.
                    Err(e) if e.kind() == crate::ErrorKind::Unavailable => {}
                    done => return done,
                }
            }
        }
        let name = name.to_owned();
        self.run(move |c, s| query_column(c, pick(s), &name)).await
    }
}

fn query_column<T: rusqlite::types::FromSql>(c: &mut Connection, sql: &str, name: &str) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
    let value: Option<Option<T>> = stmt.query_row([name], |r| r.get(0)).optional().map_err(map_err)?;
    Ok(value.flatten())
}

/// The read-only connection for inline reads: it never waits for a lock (busy timeout 0),
/// so a read on the caller's thread takes microseconds or fails over to the SQLite thread.
fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::unavailable(format!("cannot open sqlite database {}: {e}", path.display()), Some(e.into()))
    })?;
    conn.busy_timeout(Duration::ZERO).map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(8);
    Ok(conn)
}

/// Whether this call runs in a task of a multi-thread runtime, the one place where
/// `block_in_place` hands the worker's other tasks away first. It panics on a
/// current-thread runtime, and on a thread that merely entered a runtime (a binding
/// polling from the Python or Node thread) it would block that thread.
fn may_block_in_place() -> bool {
    tokio::task::try_id().is_some()
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// How long the SQLite thread polls for the next call before it sleeps. A caller that
/// awaits one call after another sends the next within microseconds; waking a sleeping
/// thread costs tens of microseconds here, more than a primary-key read.
const SPIN: Duration = Duration::from_micros(50);

/// The next job, or `None` once every sender is gone.
fn next_job(jobs: &mpsc::Receiver<Job>) -> Option<Job> {
    let start = Instant::now();
    loop {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if start.elapsed() < SPIN => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Empty) => return jobs.recv().ok(),
        }
    }
}

fn exec(c: &mut Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<()> {
    let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
    stmt.execute(params).map_err(map_err)?;
    Ok(())
}

fn closed() -> Error {
    Error::unavailable("sqlite repository is closed", None)
}

fn events_sql(ev: &EventsNames) -> (String, String) {
    let table = ev.table.quoted();
    let (id, ty, ts) = (ev.event_id.quoted(), ev.event_type.quoted(), ev.timestamp.quoted());
    let latest = format!("SELECT {id}, {ts} FROM {table} ORDER BY {ts} DESC LIMIT 1");
    let latest_of_type = format!("SELECT {id}, {ts} FROM {table} WHERE {ty} = ?1 ORDER BY {ts} DESC LIMIT 1");
    (latest, latest_of_type)
}

fn lag_index_sql(ev: &EventsNames) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {}, {})",
        ev.table.derived("lag_idx").quoted(),
        ev.table.quoted(),
        ev.event_type.quoted(),
        ev.timestamp.quoted(),
        ev.event_id.quoted()
    )
}

fn missing_events_table(e: Error, ev: &EventsNames) -> Error {
    match e {
        Error::NotFound { message } if message.contains(ev.table.as_str()) => Error::not_found(format!(
            "events table \"{}\" does not exist (create it, or open the repository without an events table)",
            ev.table
        )),
        other => other,
    }
}

#[async_trait]
impl CheckpointRepository for SqliteRepository {
    async fn get_checkpoint(&self, projection_name: &str) -> Result<Option<Uuid>> {
        let text: Option<String> = self.read_column(projection_name, |s| &s.get_event_id).await?;
        text.as_deref().map(parse_stored_id).transpose()
    }

    async fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(Write::new(projection_name, event_id, event_type, Mark::EventOnly)?).await
    }

    async fn get_position(&self, subscription_id: &str) -> Result<Option<i64>> {
        self.read_column(subscription_id, |s| &s.get_position).await
    }

    async fn save_position(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Position(position))?).await
    }

    async fn save_position_covering(
        &self,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
        count: u32,
    ) -> Result<()> {
        let write = Write::new(subscription_id, event_id, event_type, Mark::Position(position))?.covering(count)?;
        self.write(write).await
    }

    async fn checkpoint_statement(
        &self,
        name: &str,
        event_id: Uuid,
        event_type: &str,
        kind: StatementKind,
    ) -> Result<CheckpointStatement> {
        let w = Write::for_statement(name, event_id, event_type, &kind)?;
        let sql = match w.mark {
            Mark::EventOnly => &self.sql.upsert_event,
            Mark::Position(_) => &self.sql.upsert_position,
            Mark::Token(_) => &self.sql.upsert_token,
        };
        Ok(CheckpointStatement { sql: sql.clone(), params: crate::statement::params_of(&w, false) })
    }

    async fn get_position_token(&self, subscription_id: &str) -> Result<Option<String>> {
        self.read_column(subscription_id, |s| &s.get_token).await
    }

    async fn save_position_token(
        &self,
        subscription_id: &str,
        token: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write(Write::new(subscription_id, event_id, event_type, Mark::Token(token))?).await
    }

    async fn get_lag_metrics(
        &self,
        projection_name: &str,
        event_types: Option<&[String]>,
    ) -> Result<Option<LagMetrics>> {
        checkpoint::check_name(projection_name)?;
        checkpoint::check_types(event_types)?;
        let name = projection_name.to_owned();
        let types: Vec<String> = event_types.unwrap_or_default().to_vec();
        self.run(move |c, s| {
            let read_row = |c: &mut Connection| {
                c.prepare_cached(&s.get_row)
                    .and_then(|mut st| st.query_row([&name], row_to_data).optional())
                    .map_err(map_err)
            };
            // The checkpoint first, as eventsource-py: a name without one has no lag, even
            // when the events table is missing.
            let Some(row) = read_row(c)? else { return Ok(None) };
            let Some(ev) = &s.events else { return Ok(Some(lag::metrics(&row, None, None))) };
            let (latest_sql, latest_of_type_sql) = events_sql(ev);
            let read_latest = |r: &rusqlite::Row<'_>| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
            let mut candidates: Vec<(String, String)> = Vec::new();
            let fetched: rusqlite::Result<()> = (|| {
                if types.is_empty() {
                    candidates.extend(c.prepare_cached(&latest_sql)?.query_row([], read_latest).optional()?);
                } else {
                    // One indexed probe per type beats `IN (...) ORDER BY` in SQLite,
                    // which sorts every matching row.
                    let mut st = c.prepare_cached(&latest_of_type_sql)?;
                    for t in &types {
                        candidates.extend(st.query_row([t], read_latest).optional()?);
                    }
                }
                Ok(())
            })();
            fetched.map_err(|e| missing_events_table(map_err(e), ev))?;
            let mut latest: Option<LatestEvent> = None;
            for (event_id, ts) in candidates {
                let timestamp = time::parse_timestamp(&ts)?;
                if latest.as_ref().is_none_or(|l| timestamp > l.timestamp) {
                    latest = Some(LatestEvent { event_id, timestamp });
                }
            }
            let head = match &ev.position {
                Some(pos) => c
                    .prepare_cached(&format!("SELECT max({}) FROM {}", pos.quoted(), ev.table.quoted()))
                    .and_then(|mut st| st.query_row([], |r| r.get::<_, Option<i64>>(0)))
                    .map_err(map_err)?,
                None => None,
            };
            Ok(Some(lag::metrics(&row, latest, head)))
        })
        .await
    }

    async fn reset_checkpoint(&self, projection_name: &str) -> Result<()> {
        checkpoint::check_name(projection_name)?;
        let name = projection_name.to_owned();
        self.run(move |c, s| s.guard(|| exec(c, &s.delete, params![name]))).await
    }

    async fn get_all_checkpoints(&self) -> Result<Vec<CheckpointData>> {
        self.run(|c, s| {
            let mut st = c.prepare_cached(&s.list).map_err(map_err)?;
            let rows = st.query_map([], row_to_data).map_err(map_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(map_err)
        })
        .await
    }

    async fn create_events_table(&self) -> Result<()> {
        self.sql.events()?;
        self.run(|c, s| {
            let ev = s.events()?;
            let (table, id, ty, ts) =
                (ev.table.quoted(), ev.event_id.quoted(), ev.event_type.quoted(), ev.timestamp.quoted());
            let columns = match &ev.position {
                Some(pos) => format!("{} INTEGER PRIMARY KEY AUTOINCREMENT, {id} TEXT NOT NULL UNIQUE", pos.quoted()),
                None => format!("{id} TEXT PRIMARY KEY"),
            };
            c.execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS {table} ({columns}, {ty} TEXT NOT NULL, {ts} TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS {} ON {table} ({ts});
                 {};
                 COMMIT;",
                ev.table.derived("timestamp_idx").quoted(),
                lag_index_sql(ev)
            ))
            .map_err(|e| {
                let _ = c.execute_batch("ROLLBACK");
                map_err(e)
            })
        })
        .await
    }

    async fn create_lag_index(&self) -> Result<()> {
        self.sql.events()?;
        self.run(|c, s| {
            let ev = s.events()?;
            c.execute_batch(&lag_index_sql(ev)).map_err(|e| missing_events_table(map_err(e), ev))
        })
        .await
    }

    async fn stream_head(&self) -> Result<Option<i64>> {
        let Some(ev) = &self.sql.events else { return Ok(None) };
        if ev.position.is_none() {
            return Ok(None);
        }
        self.run(|c, s| {
            let ev = s.events()?;
            let pos = ev.position.as_ref().map(|p| p.quoted()).unwrap_or_default();
            c.prepare_cached(&format!("SELECT coalesce(max({pos}), 0) FROM {}", ev.table.quoted()))
                .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                .map(Some)
                .map_err(|e| missing_events_table(map_err(e), ev))
        })
        .await
    }

    async fn append_events(&self, events: &[NewEvent]) -> Result<()> {
        checkpoint::check_events(events)?;
        self.sql.events()?;
        let rows: Vec<(String, String, String)> = events
            .iter()
            .map(|e| (e.event_id.to_string(), e.event_type.clone(), time::isoformat(&e.timestamp)))
            .collect();
        self.run(move |c, s| {
            s.guard(|| {
                let ev = s.events()?;
                let insert = format!(
                    "INSERT INTO {} ({}, {}, {}) VALUES (?1, ?2, ?3)",
                    ev.table.quoted(),
                    ev.event_id.quoted(),
                    ev.event_type.quoted(),
                    ev.timestamp.quoted()
                );
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_err)?;
                {
                    let mut st = tx.prepare_cached(&insert).map_err(|e| missing_events_table(map_err(e), ev))?;
                    for (id, ty, ts) in &rows {
                        st.execute(params![id, ty, ts]).map_err(map_err)?;
                    }
                }
                tx.commit().map_err(map_err)
            })
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner).take();
        if self.origin.forked() {
            // Closed for this process only: the parent's connection stays as it is.
            std::mem::forget(open);
            return Ok(());
        }
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(open);
        if let Some(transactions) = &self.transactions {
            transactions.close();
        }
        if let Some(stopped) = stopped {
            // The thread finishes the calls already queued, then closes the connection.
            let _ = stopped.await;
        }
        Ok(())
    }

    async fn begin(&self) -> Result<Transaction> {
        self.origin.check()?;
        let connections = self.transactions.clone().ok_or_else(|| {
            Error::unsupported("an sqlite :memory: database has one connection and no transactions apart from it")
        })?;
        if self.open.lock().unwrap_or_else(PoisonError::into_inner).is_none() {
            return Err(closed());
        }
        let tx = SqliteTx::begin(self.sql.clone(), connections).await?;
        Ok(Transaction::new(Box::new(tx), format!("sqlite {}", self.path.display())))
    }

    fn claims(self: Arc<Self>, options: ClaimsOptions) -> Result<Arc<dyn ClaimLedger>> {
        let table = options.validate()?;
        Ok(Arc::new(super::sqlite_claims::SqliteClaims::new(self, &table, options.max_retries)))
    }
}
