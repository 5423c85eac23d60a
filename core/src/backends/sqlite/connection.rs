//! The store handle of the SQLite backend: the connection, owned by a dedicated thread
//! fed by a channel (so no tokio worker ever blocks on the file), the optional read-only
//! connection for inline reads, and how a connection is opened. The repository, its
//! claims ledger and its transactions hold this handle, never the repository.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use super::errors::{closed, map_err};
use super::sql::Sql;
use super::wal::WalFile;
use crate::checkpoint::Name;
use crate::error::{Error, Result};
use crate::options::SqliteOptions;
use crate::origin::Origin;

/// A call queued to the SQLite thread.
enum Job {
    /// Anything run on the connection as it is (reads, transactions, claims).
    Call(Box<dyn FnOnce(&mut Connection) + Send>),
    /// One checkpoint write, which may share a commit with the writes queued beside it.
    Write(Write),
}

/// A checkpoint write for the group commit: one statement, run again when the
/// transaction it was in had to be rolled back because of another write.
struct Write {
    run: Box<WriteFn>,
    reply: oneshot::Sender<Result<()>>,
}

type WriteFn = dyn Fn(&mut Connection, &Sql) -> Result<()> + Send;

/// The most writes one commit takes; the rest wait for the next.
const MAX_GROUP: usize = 256;

/// The connection, shared by the SQLite thread and callers that may block in place.
struct Open {
    conn: Arc<Mutex<Connection>>,
    jobs: mpsc::Sender<Job>,
    /// Jobs sent to the SQLite thread and not yet finished: a call runs in place only
    /// when this is zero, so it never overtakes a write queued before it (one whose
    /// caller gave up waiting still lands first).
    queued: Arc<AtomicUsize>,
    /// The read-only connection of `SqliteOptions::inline_reads`.
    reader: Option<Arc<Mutex<Connection>>>,
}

/// What a caller needs to run a call: the connection, the SQLite thread's queue and its
/// count.
struct Parts {
    conn: Arc<Mutex<Connection>>,
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
}

impl Parts {
    /// Sends `job` to the SQLite thread, counted until the thread has finished it.
    fn send(&self, job: Job) -> Result<()> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.jobs.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            closed()
        })
    }

    /// The connection, locked, when it is free and nothing is queued for it.
    fn free(&self) -> Option<std::sync::MutexGuard<'_, Connection>> {
        let guard = match self.conn.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        // The thread counts a job finished while it still holds the lock, so a zero
        // read under the lock means no job is queued or running.
        (self.queued.load(Ordering::SeqCst) == 0).then_some(guard)
    }
}

/// An open SQLite store: its statements and the thread that owns its connection.
pub(super) struct Store {
    pub path: PathBuf,
    pub sql: Arc<Sql>,
    block_in_place: bool,
    /// `SqliteOptions::inline_writes`.
    inline_writes: bool,
    /// The write connection's busy timeout, restored after an inline write (which runs
    /// with none, so that it never waits for another connection's lock).
    busy_timeout: Duration,
    /// `None` once closed.
    open: Mutex<Option<Open>>,
    origin: Origin,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRepository")
            .field("path", &self.path)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.origin.forked() {
            // The SQLite thread is the parent's and does not exist here; closing the
            // connection here could checkpoint or delete the WAL the parent writes into.
            std::mem::forget(self.open.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        }
    }
}

impl Store {
    /// Opens the connection on a thread of its own; the receiver resolves once that
    /// thread has finished the queued calls and closed the connection.
    pub(super) async fn open(
        path: PathBuf,
        options: SqliteOptions,
        sql: Arc<Sql>,
    ) -> Result<(Store, oneshot::Receiver<()>)> {
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        type Opened = (Arc<Mutex<Connection>>, Option<Arc<Mutex<Connection>>>);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<Opened>>();
        let (stopped_tx, stopped_rx) = oneshot::channel::<()>();
        let (block_in_place, inline_writes, busy_timeout) =
            (options.block_in_place, options.inline_writes, options.busy_timeout);
        let queued = Arc::new(AtomicUsize::new(0));
        let thread_queued = queued.clone();
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
                let mut held = None;
                while let Some(job) = held.take().or_else(|| next_job(&jobs_rx)) {
                    // A panicking job drops its reply sender, so its caller gets an
                    // error; the connection keeps serving the others.
                    let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
                    match job {
                        Job::Call(job) => {
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut guard)));
                            thread_queued.fetch_sub(1, Ordering::SeqCst);
                        }
                        Job::Write(write) => {
                            // The writes that arrived while the last commit was in flight
                            // share this one: one fsync for all of them.
                            let mut group = vec![write];
                            while group.len() < MAX_GROUP {
                                match jobs_rx.try_recv() {
                                    Ok(Job::Write(write)) => group.push(write),
                                    Ok(other) => {
                                        held = Some(other);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            let taken = group.len();
                            commit_group(&mut guard, &thread_sql, group);
                            thread_queued.fetch_sub(taken, Ordering::SeqCst);
                        }
                    }
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
        let open = Mutex::new(Some(Open { conn, jobs: jobs_tx, queued, reader }));
        let store = Store { path, sql, block_in_place, inline_writes, busy_timeout, open, origin: Origin::here() };
        Ok((store, stopped_rx))
    }

    /// Refuses in a forked child (see `crate::origin`).
    pub(super) fn check_origin(&self) -> Result<()> {
        self.origin.check()
    }

    /// Whether this process inherited the store from its parent.
    pub(super) fn forked(&self) -> bool {
        self.origin.forked()
    }

    /// Whether the store is still open.
    pub(super) fn is_open(&self) -> bool {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Closes the store: later calls fail with `Unavailable`. In a forked child the
    /// parent's connection is only forgotten.
    pub(super) fn close(&self) {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner).take();
        if self.origin.forked() {
            std::mem::forget(open);
        }
    }

    /// The connection and the SQLite thread's queue; `Unavailable` once closed or forked.
    fn parts(&self) -> Result<Parts> {
        self.origin.check()?;
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let open = open.as_ref().ok_or_else(closed)?;
        Ok(Parts { conn: open.conn.clone(), jobs: open.jobs.clone(), queued: open.queued.clone() })
    }

    /// The connection, locked, when `block_in_place` is on, this call may block in place
    /// and the connection is free with nothing queued.
    fn in_place<'c>(&self, parts: &'c Parts) -> Option<std::sync::MutexGuard<'c, Connection>> {
        if !(self.block_in_place && may_block_in_place()) {
            return None;
        }
        parts.free()
    }

    /// Runs `f` on the connection: in place when the runtime allows blocking and the
    /// connection is free, else on the SQLite thread. If the caller's future is dropped
    /// while queued, the job still runs to completion: a write happens entirely or not
    /// at all.
    pub(super) async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &Sql) -> Result<R> + Send + 'static,
    {
        let parts = self.parts()?;
        if let Some(mut guard) = self.in_place(&parts) {
            return tokio::task::block_in_place(|| f(&mut guard, &self.sql));
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let sql = self.sql.clone();
        let job = Job::Call(Box::new(move |conn| {
            let _ = reply_tx.send(f(conn, &sql));
        }));
        parts.send(job)?;
        reply_rx.await.map_err(|_| Error::backend("the sqlite thread failed while running the call", None))?
    }

    /// Runs the checkpoint write `f` (one statement) and returns once it is durable. On
    /// the SQLite thread, writes queued while a commit is in flight are committed together
    /// in the next transaction, each in a savepoint of its own: one fsync for the group,
    /// and a write that fails fails alone. `f` may run more than once, but its effect is
    /// committed at most once.
    pub(super) async fn write<F>(&self, f: F) -> Result<()>
    where
        F: Fn(&mut Connection, &Sql) -> Result<()> + Send + 'static,
    {
        let parts = self.parts()?;
        if let Some(mut guard) = self.in_place(&parts) {
            return tokio::task::block_in_place(|| self.sql.guard(|| f(&mut guard, &self.sql)));
        }
        if self.inline_writes {
            if let Some(mut guard) = parts.free() {
                if let Some(out) = self.write_here(&mut guard, &f) {
                    return out;
                }
            }
        }
        let (reply, reply_rx) = oneshot::channel();
        parts.send(Job::Write(Write { run: Box::new(f), reply }))?;
        reply_rx.await.map_err(|_| Error::backend("the sqlite thread failed while running the write", None))?
    }

    /// An inline write (`SqliteOptions::inline_writes`) on the calling thread: `None`,
    /// with nothing written, when another connection holds the write lock (the write
    /// then goes to the SQLite thread, which waits for it within the busy timeout).
    fn write_here<F>(&self, conn: &mut Connection, f: &F) -> Option<Result<()>>
    where
        F: Fn(&mut Connection, &Sql) -> Result<()>,
    {
        conn.busy_timeout(Duration::ZERO).ok()?;
        let out = self.sql.guard(|| f(conn, &self.sql));
        let restored = conn.busy_timeout(self.busy_timeout).map_err(map_err);
        match out {
            // A busy statement in autocommit mode wrote nothing: SQLite took no lock.
            Err(e) if is_busy(&e) && conn.is_autocommit() => None,
            out => Some(out.and(restored)),
        }
    }

    pub(super) async fn read_column<T: rusqlite::types::FromSql + Send + 'static>(
        &self,
        name: Name<'_>,
        pick: fn(&Sql) -> &str,
    ) -> Result<Option<T>> {
        self.origin.check()?;
        let reader = {
            let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            open.as_ref().ok_or_else(closed)?.reader.clone()
        };
        if let Some(reader) = reader {
            if let Ok(mut conn) = reader.try_lock() {
                match query_column(&mut conn, pick(&self.sql), &name) {
                    // The reader never waits for a lock; a read that would goes to the thread.
                    Err(e) if e.kind() == crate::ErrorKind::Unavailable => {}
                    done => return done,
                }
            }
        }
        let name = name.as_str().to_owned();
        self.run(move |c, s| query_column(c, pick(s), &name)).await
    }
}

/// Whether `e` is SQLite's "another connection holds the lock".
fn is_busy(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<rusqlite::Error>())
        .and_then(rusqlite::Error::sqlite_error_code)
        .is_some_and(|c| matches!(c, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

pub(super) fn query_column<T: rusqlite::types::FromSql>(
    c: &mut Connection,
    sql: &str,
    name: &str,
) -> Result<Option<T>> {
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

/// The oldest SQLite waypost runs on: 3.24 brought the `ON CONFLICT … DO UPDATE` upsert
/// every checkpoint write is. Only a system library can be older (the `sqlite-system`
/// build, as in the Python wheel); the bundled one is always newer.
const MIN_SQLITE_VERSION: i32 = 3_024_000;

/// Refuses an SQLite library older than [`MIN_SQLITE_VERSION`], naming both versions.
fn check_library_version(number: i32, version: &str) -> Result<()> {
    match number >= MIN_SQLITE_VERSION {
        true => Ok(()),
        false => Err(Error::unsupported(format!(
            "the SQLite library loaded is version {version}; waypost needs 3.24.0 or newer"
        ))),
    }
}

pub(super) fn open_connection(path: &Path, options: &SqliteOptions, sql: &Sql) -> Result<Connection> {
    check_library_version(rusqlite::version_number(), rusqlite::version())?;
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

/// Commits `group` and answers each write once its outcome is final: a lone write runs
/// as its own statement; several run in one `BEGIN IMMEDIATE` transaction, each inside a
/// savepoint, so a write that fails is undone alone and answered with its own error.
/// When a write's failure rolled the whole transaction back, it is answered and the rest
/// run again in a new one. A failed commit fails every write that was in it.
fn commit_group(conn: &mut Connection, sql: &Sql, mut group: Vec<Write>) {
    if group.len() == 1 {
        let write = group.pop().expect("one write");
        if let Ok(out) = std::panic::catch_unwind(AssertUnwindSafe(|| sql.guard(|| (write.run)(conn, sql)))) {
            let _ = write.reply.send(out);
        }
        return;
    }
    loop {
        let mut outcomes: Vec<Option<Result<()>>> = Vec::with_capacity(group.len());
        let attempt = sql.guard(|| {
            step(conn, "BEGIN IMMEDIATE")?;
            for write in &group {
                let out = savepoint(conn, |c| {
                    std::panic::catch_unwind(AssertUnwindSafe(|| (write.run)(c, sql)))
                        .unwrap_or_else(|_| Err(Error::backend("the checkpoint write panicked", None)))
                });
                let aborted = out.is_err() && conn.is_autocommit();
                outcomes.push(Some(out));
                if aborted {
                    // The failure ended the transaction: nothing of this attempt stays.
                    return Ok(false);
                }
            }
            match step(conn, "COMMIT") {
                Ok(()) => Ok(true),
                Err(e) => {
                    let _ = step(conn, "ROLLBACK");
                    Err(e)
                }
            }
        });
        match attempt {
            Ok(true) => {
                for (write, out) in group.into_iter().zip(outcomes) {
                    let _ = write.reply.send(out.expect("every write ran"));
                }
                return;
            }
            Ok(false) => {
                // Answer the write that ended the transaction; run the others again.
                let culprit = outcomes.len() - 1;
                let write = group.remove(culprit);
                let _ = write.reply.send(outcomes.pop().flatten().expect("the failed write's outcome"));
                if group.is_empty() {
                    return;
                }
                if group.len() == 1 {
                    return commit_group(conn, sql, group);
                }
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = step(conn, "ROLLBACK");
                }
                for write in group {
                    let _ = write.reply.send(Err(e.duplicate()));
                }
                return;
            }
        }
    }
}

/// Runs `f` inside a savepoint, undoing what it did when it fails.
fn savepoint(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> Result<()>) -> Result<()> {
    step(conn, "SAVEPOINT waypost_write")?;
    let out = f(conn);
    if conn.is_autocommit() {
        return out;
    }
    if out.is_err() {
        step(conn, "ROLLBACK TO waypost_write")?;
    }
    step(conn, "RELEASE waypost_write")?;
    out
}

/// Runs one of the group commit's own statements, prepared once per connection.
fn step(conn: &mut Connection, statement: &str) -> Result<()> {
    conn.prepare_cached(statement).and_then(|mut s| s.execute([])).map(drop).map_err(map_err)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_older_than_3_24_is_refused_naming_its_version() {
        let err = check_library_version(3_023_002, "3.23.2").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        assert!(err.to_string().contains("3.23.2") && err.to_string().contains("3.24.0"), "{err}");
        check_library_version(3_024_000, "3.24.0").unwrap();
        check_library_version(rusqlite::version_number(), rusqlite::version()).unwrap();
    }
}
