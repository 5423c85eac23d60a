//! Rust-only behaviour: what the shared JSON cases cannot express (rounding against
//! CPython's own table, many concurrent tasks, cancellation, unreachable servers,
//! closing, tables created by eventsource-py).

mod support;

use rusqlite::OptionalExtension as _;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use waypost::{
    CheckpointRepository, ErrorKind, MemoryRepository, PostgresOptions, PostgresRepository, SqliteOptions,
    SqliteRepository,
};

async fn sqlite_in(dir: &tempfile::TempDir, name: &str) -> SqliteRepository {
    SqliteRepository::open(dir.path().join(name), SqliteOptions::default()).await.expect("open sqlite")
}

async fn postgres_in(scratch: &support::Scratch) -> PostgresRepository {
    let options = PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
    PostgresRepository::connect(&scratch.url, options).await.expect("connect")
}

#[test]
fn lag_rounding_matches_cpython_on_ten_thousand_values() {
    let table = include_str!("data/python_round.tsv");
    let (mut checked, mut naive_differs) = (0, 0);
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let (micros, expected) = line.split_once('\t').expect("two columns");
        let micros: i64 = micros.parse().unwrap();
        let expected: f64 = expected.parse().unwrap();
        let raw = micros as f64 / 1_000_000.0;
        assert_eq!(waypost::time::round_one_decimal(raw), expected, "round({raw}, 1) for {micros} µs");
        if (raw * 10.0).round() / 10.0 != expected {
            naive_differs += 1;
        }
        checked += 1;
    }
    assert_eq!(checked, 10_000);
    // The table is worth having only if the obvious formula gets some of it wrong.
    assert!(naive_differs > 100, "only {naive_differs} values tell the two roundings apart");
}

async fn hammer(repo: Arc<dyn CheckpointRepository>, tasks: usize) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let repo = repo.clone();
        set.spawn(async move { repo.update_checkpoint("hot", Uuid::new_v4(), "Hammered").await });
    }
    while let Some(done) = set.join_next().await {
        done.expect("task").expect("write");
    }
}

async fn events_processed(repo: &dyn CheckpointRepository, name: &str) -> i64 {
    repo.get_all_checkpoints()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.projection_name == name)
        .map_or(0, |c| c.events_processed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_on_two_sqlite_connections_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let a: Arc<dyn CheckpointRepository> = Arc::new(sqlite_in(&dir, "shared.db").await);
    let b: Arc<dyn CheckpointRepository> = Arc::new(sqlite_in(&dir, "shared.db").await);
    tokio::join!(hammer(a.clone(), 100), hammer(b.clone(), 100));
    assert_eq!(events_processed(&*a, "hot").await, 200);
    assert_eq!(events_processed(&*b, "hot").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_on_postgres_count_exactly() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "tasks").await;
    let repo: Arc<dyn CheckpointRepository> = Arc::new(postgres_in(&scratch).await);
    let other: Arc<dyn CheckpointRepository> = Arc::new(postgres_in(&scratch).await);
    tokio::join!(hammer(repo.clone(), 100), hammer(other.clone(), 100));
    assert_eq!(events_processed(&*repo, "hot").await, 200);
    repo.close().await.unwrap();
    other.close().await.unwrap();
    scratch.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_position_round_trips_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let mut repos: Vec<Arc<dyn CheckpointRepository>> =
        vec![Arc::new(MemoryRepository::new()), Arc::new(sqlite_in(&dir, "max.db").await)];
    let scratch = match support::postgres_url().await {
        Some(url) => Some(support::Scratch::new(&url, "max").await),
        None => None,
    };
    if let Some(s) = &scratch {
        repos.push(Arc::new(postgres_in(s).await));
    }
    for repo in &repos {
        repo.save_position("p", i64::MAX, Uuid::new_v4(), "T").await.unwrap();
        assert_eq!(repo.get_position("p").await.unwrap(), Some(i64::MAX), "{repo:?}");
        let err = repo.save_position("p", i64::MIN, Uuid::new_v4(), "T").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(repo.get_position("p").await.unwrap(), Some(i64::MAX));
        repo.close().await.unwrap();
    }
    if let Some(s) = scratch {
        s.drop_schema().await;
    }
}

/// Polls `fut` once and drops it: what Python cancellation does to a pending call.
async fn poll_once_then_drop<F: std::future::Future>(fut: F) {
    let _ = tokio::time::timeout(Duration::ZERO, fut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sqlite_write_still_happens_whole() {
    let dir = tempfile::tempdir().unwrap();
    let repo = sqlite_in(&dir, "cancel.db").await;
    for k in 1..=20 {
        poll_once_then_drop(repo.save_position("p", k, Uuid::new_v4(), "T")).await;
    }
    // Jobs run in order on the SQLite thread, so every dropped write has finished by the
    // time this one returns: each was applied entirely, none half.
    repo.save_position("p", 21, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(events_processed(&repo, "p").await, 21);
    assert_eq!(repo.get_position("p").await.unwrap(), Some(21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_postgres_calls_leave_the_connection_usable() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "cancel").await;
    let repo = postgres_in(&scratch).await;
    repo.save_position("p", 0, Uuid::new_v4(), "T").await.unwrap();
    for k in 1..=20 {
        poll_once_then_drop(repo.save_position("p", k, Uuid::new_v4(), "T")).await;
        poll_once_then_drop(repo.get_position("p")).await;
    }
    repo.save_position("p", 100, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(repo.get_position("p").await.unwrap(), Some(100));
    let count = events_processed(&repo, "p").await;
    assert!((2..=22).contains(&count), "each cancelled write happened entirely or not at all: {count}");
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

#[tokio::test]
async fn a_refused_postgres_connection_is_unavailable_and_names_the_address() {
    let options = PostgresOptions { connect_timeout: Duration::from_secs(2), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect("postgres://postgres@127.0.0.1:1/postgres", options).await.unwrap();
    let err = repo.get_position("p").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.kind().is_retryable());
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn a_silent_postgres_server_times_out_instead_of_hanging() {
    // Accepts connections and never answers the startup message.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let options = PostgresOptions { connect_timeout: Duration::from_millis(500), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&format!("postgres://postgres@{address}/postgres"), options).await.unwrap();
    // The guard only turns a hang into a failure; the call must end by itself first.
    let outcome = tokio::time::timeout(Duration::from_secs(30), repo.save_position("p", 1, Uuid::new_v4(), "T"))
        .await
        .expect("the call must give up after connect_timeout");
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&address.to_string()), "{err}");
    held.abort();
}

#[tokio::test]
async fn bad_urls_and_options_are_invalid_arguments() {
    let urls = ["postgres://user@host:notaport/db", "redis://localhost/db", "sqlite:", "memory"];
    let mysql = ["mysql://user@host:notaport/db", "mysql://localhost", "mysql://localhost/"];
    for url in urls.into_iter().chain(mysql) {
        let err = waypost::open(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{url}: {err}");
    }
    let zero = PostgresOptions { max_connections: 0, ..PostgresOptions::default() };
    let err = PostgresRepository::connect("postgres://localhost/db", zero).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let zero = waypost::MysqlOptions { max_connections: 0, ..waypost::MysqlOptions::default() };
    let err = waypost::MysqlRepository::connect("mysql://localhost/db", zero).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let bad_table = waypost::MysqlOptions { table: "t`; DROP".into(), ..waypost::MysqlOptions::default() };
    let err = waypost::MysqlRepository::connect("mysql://localhost/db", bad_table).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let bad_schema = PostgresOptions { schema: "public; DROP".into(), ..PostgresOptions::default() };
    let err = PostgresRepository::connect("postgres://localhost/db", bad_schema).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn an_unopenable_sqlite_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteRepository::open(dir.path().join("no/such/dir/x.db"), SqliteOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let err = SqliteRepository::open(dir.path(), SqliteOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let text = dir.path().join("not-a-database.db");
    std::fs::write(&text, "this is not an sqlite file, just some text that is long enough to matter\n".repeat(20))
        .unwrap();
    let err = SqliteRepository::open(&text, SqliteOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_close_are_unavailable_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let mut repos: Vec<Arc<dyn CheckpointRepository>> =
        vec![Arc::new(MemoryRepository::new()), Arc::new(sqlite_in(&dir, "closed.db").await)];
    let scratch = match support::postgres_url().await {
        Some(url) => Some(support::Scratch::new(&url, "closed").await),
        None => None,
    };
    if let Some(s) = &scratch {
        repos.push(Arc::new(postgres_in(s).await));
    }
    for repo in repos {
        repo.save_position("p", 1, Uuid::new_v4(), "T").await.unwrap();
        repo.close().await.unwrap();
        let err = repo.get_position("p").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{repo:?}: {err}");
        let err = repo.save_position("p", 2, Uuid::new_v4(), "T").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{repo:?}: {err}");
    }
    if let Some(s) = scratch {
        s.drop_schema().await;
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_sync_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let repo = sqlite_in(&dir, "settings.db").await;
    let settings = repo.settings().await.unwrap();
    assert_eq!(
        (settings.journal_mode.as_str(), settings.synchronous.as_str(), settings.busy_timeout),
        ("wal", "FULL", Duration::from_secs(5))
    );
    let relaxed =
        SqliteOptions { synchronous_full: false, busy_timeout: Duration::from_millis(250), ..SqliteOptions::default() };
    let repo = SqliteRepository::open(dir.path().join("relaxed.db"), relaxed).await.unwrap();
    let settings = repo.settings().await.unwrap();
    assert_eq!((settings.synchronous.as_str(), settings.busy_timeout), ("NORMAL", Duration::from_millis(250)));
}

/// A SQLite call that waits on another process's lock must not stall the runtime: with
/// one worker thread (or a current-thread runtime), another task still runs meanwhile.
async fn a_blocked_sqlite_call_leaves_the_runtime_free(block_in_place: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions { block_in_place, ..SqliteOptions::default() };
    let repo = Arc::new(SqliteRepository::open(dir.path().join("locked.db"), options).await.unwrap());
    let other = rusqlite::Connection::open(dir.path().join("locked.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let writer = tokio::spawn({
        let repo = repo.clone();
        async move {
            let _ = started_tx.send(());
            repo.save_position("p", 1, Uuid::new_v4(), "T").await
        }
    });
    started_rx.await.unwrap();
    let (ran_tx, ran_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = ran_tx.send(());
    });
    // The write cannot finish while `other` holds the lock, so this task can only run
    // if the waiting write left the runtime free. The bound turns a stall into a failure.
    tokio::time::timeout(Duration::from_secs(4), ran_rx)
        .await
        .expect("another task ran while the write waited")
        .unwrap();
    assert!(!writer.is_finished(), "the write waited for the lock");
    other.execute_batch("COMMIT").unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(repo.get_position("p").await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocked_sqlite_call_leaves_a_one_worker_runtime_free() {
    a_blocked_sqlite_call_leaves_the_runtime_free(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocked_sqlite_call_in_place_leaves_a_one_worker_runtime_free() {
    a_blocked_sqlite_call_leaves_the_runtime_free(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocked_sqlite_call_leaves_a_current_thread_runtime_free() {
    // block_in_place is not allowed here; the option falls back to the SQLite thread.
    a_blocked_sqlite_call_leaves_the_runtime_free(true).await;
}

/// Polls `call` once with a waker that does nothing.
fn poll_once<T>(call: &mut std::pin::Pin<Box<impl std::future::Future<Output = T> + ?Sized>>) -> std::task::Poll<T> {
    call.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// `column` of `name`'s row, read through a connection of its own.
fn stored(path: &std::path::Path, column: &str, name: &str) -> Option<i64> {
    let raw = rusqlite::Connection::open(path).unwrap();
    let sql = format!("SELECT {column} FROM projection_checkpoints WHERE projection_name = ?1");
    raw.query_row(&sql, [name], |r| r.get(0)).optional().unwrap().flatten()
}

async fn inline_writes_in(dir: &tempfile::TempDir, name: &str) -> (std::path::PathBuf, SqliteRepository) {
    let path = dir.path().join(name);
    let inline = SqliteOptions { inline_writes: true, ..SqliteOptions::default() };
    (path.clone(), SqliteRepository::open(&path, inline).await.unwrap())
}

/// With `inline_writes`, a write whose connection is free is done, durable, within its
/// first poll on the caller's thread (another connection reads it at once); without it
/// the write goes to the SQLite thread, so its first poll is pending.
#[tokio::test(flavor = "current_thread")]
async fn an_inline_sqlite_write_is_done_on_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (path, repo) = inline_writes_in(&dir, "inline.db").await;
    for (position, mut call) in [
        (7, Box::pin(repo.save_position("p", 7, Uuid::new_v4(), "T"))),
        (8, Box::pin(repo.save_position("p", 8, Uuid::new_v4(), "T"))),
    ] {
        assert!(matches!(poll_once(&mut call), std::task::Poll::Ready(Ok(()))), "written in the first poll");
        assert_eq!(stored(&path, "global_position", "p"), Some(position));
    }
    let mut token = Box::pin(repo.save_position_token("t", "0/16B3748", Uuid::new_v4(), "T"));
    assert!(matches!(poll_once(&mut token), std::task::Poll::Ready(Ok(()))));
    let mut update = Box::pin(repo.update_checkpoint("p", Uuid::new_v4(), "T"));
    assert!(matches!(poll_once(&mut update), std::task::Poll::Ready(Ok(()))));
    assert_eq!(stored(&path, "events_processed", "p"), Some(3));

    let queued = SqliteRepository::open(dir.path().join("queued.db"), SqliteOptions::default()).await.unwrap();
    let mut save = Box::pin(queued.save_position("p", 1, Uuid::new_v4(), "T"));
    assert!(poll_once(&mut save).is_pending(), "by default a write goes to the SQLite thread");
    save.await.unwrap();
}

/// An inline write never waits on the caller's thread for another connection's lock:
/// it goes to the SQLite thread, which waits within the busy timeout (restored after
/// the inline attempt, which ran with none) and writes once the lock is free.
#[tokio::test(flavor = "current_thread")]
async fn an_inline_sqlite_write_that_would_wait_for_a_lock_goes_to_the_sqlite_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (path, repo) = inline_writes_in(&dir, "locked-inline.db").await;
    let other = rusqlite::Connection::open(&path).unwrap();
    for round in 0..3_i64 {
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut save = Box::pin(repo.save_position("p", round, Uuid::new_v4(), "T"));
        assert!(poll_once(&mut save).is_pending(), "round {round}: the write waits off the caller's thread");
        other.execute_batch("COMMIT").unwrap();
        save.await.unwrap();
        assert_eq!(stored(&path, "global_position", "p"), Some(round));
    }
    assert_eq!(stored(&path, "events_processed", "p"), Some(3));
    let settings = repo.settings().await.unwrap();
    assert_eq!(settings.busy_timeout, Duration::from_secs(5), "the busy timeout is restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_calls_work_from_a_local_set_with_the_default_options() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(sqlite_in(&dir, "local.db").await);
    let local = tokio::task::LocalSet::new();
    let in_local = repo.clone();
    local
        .run_until(async move {
            tokio::task::spawn_local(async move { in_local.save_position("p", 3, Uuid::new_v4(), "T").await })
                .await
                .unwrap()
                .unwrap();
        })
        .await;
    assert_eq!(repo.get_position("p").await.unwrap(), Some(3));
}

#[test]
fn many_first_opens_of_one_new_sqlite_file_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("fresh-{round}.db"));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    barrier.wait();
                    rt.block_on(async {
                        let repo = SqliteRepository::open(&path, SqliteOptions::default()).await?;
                        repo.update_checkpoint("p", Uuid::new_v4(), "T").await?;
                        repo.close().await
                    })
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().expect("every concurrent first open succeeds");
        }
    }
}

/// Another copy of SQLite in the process (the app's own driver) that closes the file
/// deletes the WAL and its index (`-shm`) under waypost's connections. Simulated here by
/// replacing both files: the next write fails with `Unavailable` and nothing is
/// acknowledged. (`tests/node/sqlite-drivers.test.mjs` does it with better-sqlite3.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_writes_once_its_wal_was_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let repo = waypost::SqliteRepository::open(&path, waypost::SqliteOptions::default()).await.unwrap();
    repo.save_position("p", 1, uuid::Uuid::new_v4(), "E").await.unwrap();
    let (wal, shm) = (dir.path().join("wal.db-wal"), dir.path().join("wal.db-shm"));
    std::fs::rename(&wal, dir.path().join("old-wal")).unwrap();
    std::fs::rename(&shm, dir.path().join("old-shm")).unwrap();
    std::fs::write(&wal, b"").unwrap();
    std::fs::write(&shm, b"").unwrap();
    let err = repo.save_position("p", 2, uuid::Uuid::new_v4(), "E").await.unwrap_err();
    assert_eq!(err.kind(), waypost::ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("WAL"), "{err}");
    let err = repo.begin().await.map(drop).unwrap_err();
    assert_eq!(err.kind(), waypost::ErrorKind::Unavailable, "{err}");
    std::fs::remove_file(&wal).unwrap();
    std::fs::remove_file(&shm).unwrap();
    let err = repo.reset_checkpoint("p").await.unwrap_err();
    assert_eq!(err.kind(), waypost::ErrorKind::Unavailable, "{err}");
}

/// A write cancelled midway is applied before the cancellation returns or never: never
/// after a later write that returned. (sqlx used to send a cancelled statement's buffered
/// bytes when the connection went back to the pool, and that write landed last.) Read
/// through a connection of its own after every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_postgres_write_never_lands_after_a_later_one() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "midway").await;
    let repo = Arc::new(postgres_in(&scratch).await);
    repo.save_position("p", 0, Uuid::new_v4(), "T").await.unwrap();
    let table = format!("\"{}\".projection_checkpoints", scratch.schema);
    for round in 1..=30_i64 {
        for k in 0..5 {
            // As Python cancels: the call runs as a task, takes a step, and is aborted.
            let repo = repo.clone();
            let task = tokio::spawn(async move { repo.save_position("p", round * 10 + k, Uuid::new_v4(), "T").await });
            for _ in 0..k {
                tokio::task::yield_now().await;
            }
            task.abort();
            let _ = task.await;
        }
        let last = round * 1000;
        repo.save_position("p", last, Uuid::new_v4(), "T").await.unwrap();
        let stored: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT global_position FROM {table} WHERE projection_name = 'p'"
        )))
        .fetch_one(scratch.admin())
        .await
        .unwrap();
        assert_eq!(stored, last, "round {round}: a cancelled write landed after the acknowledged one");
    }
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = waypost::Result<()>> + Send>>;

/// Polls each call once, so that each has reached the SQLite thread's queue, and checks
/// that none has finished.
async fn queue_all(calls: &mut [Pending]) {
    for call in calls.iter_mut() {
        std::future::poll_fn(|cx| {
            assert!(call.as_mut().poll(cx).is_pending(), "a queued call finished before the queue ran");
            std::task::Poll::Ready(())
        })
        .await;
    }
}

/// Not yet polled: one `save_position(name, position)` per name, through `repo`.
fn saves_of<R: CheckpointRepository + 'static>(repo: &Arc<R>, names: &[String], position: i64) -> Vec<Pending> {
    let save = |name: &String| {
        let (repo, name) = (repo.clone(), name.clone());
        Box::pin(async move { repo.save_position(&name, position, Uuid::new_v4(), "T").await }) as Pending
    };
    names.iter().map(save).collect()
}

/// Holds the SQLite thread in a transaction until the returned sender is dropped or
/// sent to, so that calls made meanwhile queue behind it.
async fn hold_sqlite_thread(repo: &Arc<SqliteRepository>) -> (std::sync::mpsc::Sender<()>, Pending) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let repo = repo.clone();
    let mut held: Pending = Box::pin(async move {
        repo.transaction(move |_| {
            let _ = wait.recv();
            Ok(())
        })
        .await
    });
    queue_all(std::slice::from_mut(&mut held)).await;
    (release, held)
}

fn wal_frames(path: &std::path::Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    // A WAL is a 32-byte header, then frames of a 24-byte header and a 4,096-byte page.
    std::fs::metadata(wal).map(|m| m.len().saturating_sub(32) / (24 + 4096)).unwrap_or(0)
}

/// Empties the WAL into the database through a connection of its own.
fn truncate_wal(raw: &rusqlite::Connection) {
    let (busy, _, _): (i64, i64, i64) =
        raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    assert_eq!(busy, 0, "the WAL could be truncated");
}

/// Writes that queue while the SQLite thread is busy share one commit: the WAL grows by
/// a frame or two for all of them, where one after another each adds its own frames. Each
/// returns only after that commit, and another connection reads every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_sqlite_writes_share_one_commit() {
    const WRITES: i64 = 32;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let repo = Arc::new(SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap());
    for k in 0..WRITES {
        repo.save_position(&format!("p{k}"), 0, Uuid::new_v4(), "T").await.unwrap();
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(Duration::from_secs(5)).unwrap();

    truncate_wal(&raw);
    for k in 0..WRITES {
        repo.save_position(&format!("p{k}"), 1, Uuid::new_v4(), "T").await.unwrap();
    }
    let one_by_one = wal_frames(&path);
    assert!(one_by_one >= WRITES as u64, "one commit per awaited write: {one_by_one} frames");

    truncate_wal(&raw);
    let (release, held) = hold_sqlite_thread(&repo).await;
    let mut writes: Vec<Pending> = (0..WRITES)
        .map(|k| {
            let repo = repo.clone();
            Box::pin(async move { repo.save_position(&format!("p{k}"), 2, Uuid::new_v4(), "T").await }) as Pending
        })
        .collect();
    queue_all(&mut writes).await;
    release.send(()).unwrap();
    held.await.unwrap();
    for write in writes {
        write.await.unwrap();
    }
    let grouped = wal_frames(&path);
    assert!(grouped <= 3, "{WRITES} queued writes took {grouped} WAL frames ({one_by_one} one by one)");
    let stored: i64 = raw
        .query_row("SELECT count(*) FROM projection_checkpoints WHERE global_position = 2", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, WRITES, "another connection reads every acknowledged write");
}

/// In a shared commit, a write the database refuses fails alone with its own error: a
/// trigger that aborts its statement, and one that rolls the whole transaction back.
/// Every other write of the group returns `Ok` and is read by another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_in_a_shared_sqlite_commit_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("refused.db");
    let repo = Arc::new(SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.busy_timeout(Duration::from_secs(5)).unwrap();
    for (event, when) in [("INSERT", "INSERT"), ("UPDATE", "UPDATE")] {
        raw.execute_batch(&format!(
            "CREATE TRIGGER refuse_{event} BEFORE {when} ON projection_checkpoints
             WHEN NEW.projection_name LIKE 'aborts%' BEGIN SELECT RAISE(ABORT, 'aborts are refused'); END;
             CREATE TRIGGER roll_back_{event} BEFORE {when} ON projection_checkpoints
             WHEN NEW.projection_name LIKE 'rolls%' BEGIN SELECT RAISE(ROLLBACK, 'rolls are refused'); END;"
        ))
        .unwrap();
    }
    let names: Vec<String> = (0..24)
        .map(|k| match k % 8 {
            3 => format!("aborts{k}"),
            6 => format!("rolls{k}"),
            _ => format!("ok{k}"),
        })
        .collect();
    let (release, held) = hold_sqlite_thread(&repo).await;
    let mut writes = saves_of(&repo, &names, 7);
    queue_all(&mut writes).await;
    release.send(()).unwrap();
    held.await.unwrap();
    for (name, write) in names.iter().zip(writes) {
        let out = write.await;
        match name.strip_suffix(|c: char| c.is_ascii_digit()).map(|n| n.trim_end_matches(|c: char| c.is_ascii_digit()))
        {
            Some("ok") => out.unwrap_or_else(|e| panic!("{name} failed with another write's error: {e}")),
            Some(refused) => {
                let err = out.expect_err(name);
                assert_eq!(err.kind(), ErrorKind::Conflict, "{name}: {err}");
                assert!(err.to_string().contains(&format!("{refused} are refused")), "{name}: {err}");
            }
            None => unreachable!(),
        }
    }
    let stored: Vec<String> = raw
        .prepare("SELECT projection_name FROM projection_checkpoints WHERE global_position = 7 ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected: Vec<String> = names.iter().filter(|n| n.starts_with("ok")).cloned().collect();
    expected.sort();
    assert_eq!(stored, expected, "every acknowledged write is there, no refused one");
}

/// A PostgreSQL write held in flight: another connection holds the row of `name` locked
/// in a transaction, and a write to it has started. Commit the returned connection's
/// transaction to let it finish.
async fn postgres_write_in_flight(
    repo: &Arc<PostgresRepository>,
    scratch: &support::Scratch,
    name: &'static str,
) -> (sqlx::PgConnection, Pending) {
    use sqlx::Connection as _;
    repo.save_position(name, 0, Uuid::new_v4(), "T").await.unwrap();
    let mut holder = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM \"{}\".projection_checkpoints WHERE projection_name = '{name}' FOR UPDATE",
        scratch.schema
    )))
    .execute(&mut holder)
    .await
    .unwrap();
    let repo = repo.clone();
    let mut held: Pending = Box::pin(async move { repo.save_position(name, 1, Uuid::new_v4(), "T").await });
    queue_all(std::slice::from_mut(&mut held)).await;
    (holder, held)
}

/// Writes made while another is in flight share one statement, one transaction (their
/// rows have one `xmin`), and each returns only after it; a queued write whose caller
/// gave up still lands before a later write of the same name. (A current-thread runtime,
/// so the queue is written only once this task waits.)
#[tokio::test]
async fn postgres_writes_made_while_one_is_in_flight_share_one_commit() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "group").await;
    let repo = Arc::new(postgres_in(&scratch).await);
    let (mut holder, held) = postgres_write_in_flight(&repo, &scratch, "blocker").await;
    let mut writes: Vec<Pending> = (0..32)
        .map(|k| {
            let repo = repo.clone();
            Box::pin(async move { repo.save_position(&format!("g{k}"), 2, Uuid::new_v4(), "T").await }) as Pending
        })
        .collect();
    queue_all(&mut writes).await;
    let mut given_up: Pending = {
        let repo = repo.clone();
        Box::pin(async move { repo.save_position("g0", 5, Uuid::new_v4(), "T").await })
    };
    queue_all(std::slice::from_mut(&mut given_up)).await;
    drop(given_up);
    for write in writes {
        write.await.unwrap();
    }
    repo.save_position("g0", 9, Uuid::new_v4(), "T").await.unwrap();
    let table = format!("\"{}\".projection_checkpoints", scratch.schema);
    let (rows, transactions): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), count(DISTINCT xmin::text) FROM {table} \
         WHERE projection_name LIKE 'g%' AND projection_name <> 'g0' AND global_position = 2"
    )))
    .fetch_one(scratch.admin())
    .await
    .unwrap();
    assert_eq!((rows, transactions), (31, 1), "31 queued writes in one transaction");
    let g0: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT global_position FROM {table} WHERE projection_name = 'g0'"
    )))
    .fetch_one(scratch.admin())
    .await
    .unwrap();
    assert_eq!(g0, 9, "the given-up write landed before the later one");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    held.await.unwrap();
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

/// In a shared statement, a write the server refuses (a trigger raises for its name)
/// fails alone with its own error; every other write returns `Ok` and is stored.
#[tokio::test]
async fn a_refused_write_in_a_shared_postgres_commit_fails_alone() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "refused").await;
    let repo = Arc::new(postgres_in(&scratch).await);
    let schema = &scratch.schema;
    repo.save_position("created", 0, Uuid::new_v4(), "T").await.unwrap();
    for statement in [
        format!(
            "CREATE FUNCTION \"{schema}\".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.projection_name LIKE 'aborts%' THEN RAISE EXCEPTION 'aborts are refused'; END IF; \
             RETURN NEW; END $$"
        ),
        format!(
            "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON \"{schema}\".projection_checkpoints \
             FOR EACH ROW EXECUTE FUNCTION \"{schema}\".refuse()"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(scratch.admin()).await.unwrap();
    }
    let (mut holder, held) = postgres_write_in_flight(&repo, &scratch, "blocker").await;
    let names: Vec<String> =
        (0..24).map(|k| if k % 7 == 3 { format!("aborts{k}") } else { format!("ok{k}") }).collect();
    let mut writes = saves_of(&repo, &names, 7);
    queue_all(&mut writes).await;
    for (name, write) in names.iter().zip(writes) {
        match (name.starts_with("ok"), write.await) {
            (true, out) => out.unwrap_or_else(|e| panic!("{name} failed with another write's error: {e}")),
            (false, out) => {
                let err = out.expect_err(name);
                assert!(err.to_string().contains("aborts are refused"), "{name}: {err}");
            }
        }
    }
    let stored: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT projection_name FROM \"{schema}\".projection_checkpoints WHERE global_position = 7 \
         ORDER BY projection_name COLLATE \"C\""
    )))
    .fetch_all(scratch.admin())
    .await
    .unwrap();
    let mut expected: Vec<String> = names.iter().filter(|n| n.starts_with("ok")).cloned().collect();
    expected.sort();
    assert_eq!(stored, expected, "every acknowledged write is there, no refused one");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    held.await.unwrap();
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

/// `get_all_lag_metrics` (what progress and `/metrics` read, in a fixed number of queries
/// on the SQL stores) answers exactly what `get_lag_metrics` answers for each checkpoint;
/// with no checkpoints it needs no events table, with some it names the missing table.
async fn assert_all_lag_matches_one_by_one(repo: &dyn CheckpointRepository, events_table_missing: bool) {
    assert_eq!(repo.get_all_lag_metrics().await.unwrap(), Vec::new());
    if events_table_missing {
        repo.save_position("a", 1, Uuid::new_v4(), "T").await.unwrap();
        let err = repo.get_all_lag_metrics().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(err.to_string(), repo.get_lag_metrics("a", None).await.unwrap_err().to_string());
        repo.create_events_table().await.unwrap();
    }
    let events: Vec<waypost::NewEvent> = (0..5).map(|k| waypost::NewEvent::now(format!("E{k}"))).collect();
    repo.append_events(&events).await.unwrap();
    repo.save_position("b", 2, events[1].event_id, "E1").await.unwrap();
    repo.save_position("c", 5, events[4].event_id, "E4").await.unwrap();
    repo.update_checkpoint("d", Uuid::new_v4(), "Other").await.unwrap();
    let mut one_by_one = Vec::new();
    for record in repo.get_all_checkpoints().await.unwrap() {
        let metrics = repo.get_lag_metrics(&record.projection_name, None).await.unwrap().unwrap();
        one_by_one.push((record, metrics));
    }
    assert!(one_by_one.len() >= 3);
    assert_eq!(repo.get_all_lag_metrics().await.unwrap(), one_by_one);
    let progress = waypost::progress::progress_all(repo, &Default::default()).await.unwrap();
    let names: Vec<&str> = progress.iter().map(|p| p.projection_name.as_str()).collect();
    let expected: Vec<&str> = one_by_one.iter().map(|(r, _)| r.projection_name.as_str()).collect();
    assert_eq!(names, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_lag_metrics_match_one_by_one_on_every_backend() {
    assert_all_lag_matches_one_by_one(&MemoryRepository::new(), false).await;
    let dir = tempfile::tempdir().unwrap();
    assert_all_lag_matches_one_by_one(&sqlite_in(&dir, "lag.db").await, true).await;
    if let Some(url) = support::postgres_url().await {
        let scratch = support::Scratch::new(&url, "lag_all").await;
        let repo = postgres_in(&scratch).await;
        assert_all_lag_matches_one_by_one(&repo, true).await;
        repo.close().await.unwrap();
        scratch.drop_schema().await;
    }
    if let Some(url) = support::mysql_url().await {
        let scratch = support::MysqlScratch::new(&url, "lag_all").await;
        let repo = waypost::MysqlRepository::connect(&scratch.url, waypost::MysqlOptions::default()).await.unwrap();
        assert_all_lag_matches_one_by_one(&repo, true).await;
        repo.close().await.unwrap();
        scratch.drop_database().await;
    }
}

/// Writes queued on a runtime that shuts down while they wait are answered (with an error,
/// their task is gone) and do not hold up a later write on another runtime: the queue's
/// drain task was dropped with its runtime, and a new one starts.
#[test]
fn a_postgres_write_queue_left_by_a_dropped_runtime_does_not_block_later_writes() {
    let later = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let Some(url) = later.block_on(support::postgres_url()) else { return };
    let scratch = later.block_on(support::Scratch::new(&url, "dropped"));
    let first = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let repo = Arc::new(first.block_on(postgres_in(&scratch)));
    let (holder, queued) = first.block_on(async {
        let (holder, held) = postgres_write_in_flight(&repo, &scratch, "blocker").await;
        // Queued behind the held write, and blocked on the same row once its drain runs.
        let repo2 = repo.clone();
        let queued = tokio::spawn(async move { repo2.save_position("blocker", 2, Uuid::new_v4(), "T").await });
        tokio::spawn(held);
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        (holder, queued)
    });
    first.shutdown_background();
    let outcome = later.block_on(async {
        drop(holder);
        tokio::time::timeout(Duration::from_secs(20), repo.save_position("after", 1, Uuid::new_v4(), "T")).await
    });
    assert!(outcome.is_ok(), "a write after the runtime went waited for the gone drain task");
    later.block_on(async move {
        let _ = queued.await;
        let _ = repo.close().await;
        scratch.drop_schema().await;
    });
}
