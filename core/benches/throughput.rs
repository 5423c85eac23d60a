//! Throughput of waypost beside a raw driver loop doing the same statement, in one run.
//!
//! `make bench` (or `cargo bench -p waypost --bench throughput`). PostgreSQL comes from
//! `WAYPOST_TEST_POSTGRES_URL`, else 127.0.0.1:5432; without a server only SQLite and
//! memory are measured. Each figure alternates waypost and the raw loop in short rounds
//! so that background noise hits both alike.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use uuid::Uuid;
use waypost::{
    CheckpointRepository, MemoryRepository, NewEvent, PostgresOptions, PostgresRepository, SqliteOptions,
    SqliteRepository,
};

/// `WAYPOST_BENCH_SMOKE=1` (as `make test` runs it): every figure once, briefly, over
/// 20,000 events: a check that the bench runs, whose figures mean nothing.
static SMOKE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("WAYPOST_BENCH_SMOKE").is_some_and(|v| v != "0"));

/// How long one measured round lasts.
fn round_time() -> Duration {
    Duration::from_millis(if *SMOKE { 20 } else { 400 })
}

/// How many measured rounds each figure takes.
fn rounds() -> usize {
    if *SMOKE {
        1
    } else {
        4
    }
}

/// How many events the lag figures read.
fn events() -> i64 {
    if *SMOKE {
        20_000
    } else {
        1_000_000
    }
}

/// Calls `op` repeatedly for `round_time()`, returning (calls, elapsed).
async fn round<F, Fut>(op: &mut F) -> (u64, Duration)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < round_time() {
        op(n).await;
        n += 1;
    }
    (n, start.elapsed())
}

/// ops/s of `a` and `b`, measured in alternating rounds.
async fn versus<A, FA, B, FB>(mut a: A, mut b: B) -> (f64, f64)
where
    A: FnMut(u64) -> FA,
    FA: Future<Output = ()>,
    B: FnMut(u64) -> FB,
    FB: Future<Output = ()>,
{
    // One unmeasured round each: caches, prepared statements and the WAL file warm up.
    round(&mut a).await;
    round(&mut b).await;
    let (mut na, mut ta, mut nb, mut tb) = (0, Duration::ZERO, 0, Duration::ZERO);
    for _ in 0..rounds() {
        let (n, t) = round(&mut a).await;
        na += n;
        ta += t;
        let (n, t) = round(&mut b).await;
        nb += n;
        tb += t;
    }
    (na as f64 / ta.as_secs_f64(), nb as f64 / tb.as_secs_f64())
}

/// A `versus` side that saves positions 0, 1, 2, … to `name` through waypost.
fn saves<'a>(repo: &'a dyn CheckpointRepository, name: &'a str) -> impl FnMut(u64) -> BoxedUnit<'a> {
    let id = Uuid::new_v4();
    move |n| Box::pin(async move { repo.save_position(name, n as i64, id, "OrderPlaced").await.unwrap() })
}

/// A `versus` side that calls update_checkpoint on `name` through waypost.
fn updates<'a>(repo: &'a dyn CheckpointRepository, name: &'a str) -> impl FnMut(u64) -> BoxedUnit<'a> {
    let id = Uuid::new_v4();
    move |_| Box::pin(async move { repo.update_checkpoint(name, id, "OrderPlaced").await.unwrap() })
}

/// A `versus` side that reads the position of `name` through waypost.
fn reads<'a>(repo: &'a dyn CheckpointRepository, name: &'a str) -> impl FnMut(u64) -> BoxedUnit<'a> {
    move |_| {
        Box::pin(async move {
            repo.get_position(name).await.unwrap().unwrap();
        })
    }
}

type BoxedUnit<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

fn row(what: &str, ours: f64, raw: f64) {
    println!("{what:<56} {ours:>12.0} {raw:>12.0} {:>8.2}x", ours / raw);
}

/// Checkpoint writes per second from `tasks` concurrent tasks, each saving its own name
/// for one round.
async fn saves_from_tasks(repo: &Arc<dyn CheckpointRepository>, tasks: usize) -> f64 {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let repo = repo.clone();
        set.spawn(async move {
            let (name, id) = (format!("writer-{t}"), Uuid::new_v4());
            let mut n = 0_u64;
            while start.elapsed() < round_time() {
                repo.save_position(&name, n as i64, id, "OrderPlaced").await.unwrap();
                n += 1;
            }
            n
        });
    }
    let calls: u64 = set.join_all().await.into_iter().sum();
    calls as f64 / start.elapsed().as_secs_f64()
}

/// Writes per second from 8 concurrent tasks and from one, in alternating rounds.
async fn eight_writers_and_one(repo: &Arc<dyn CheckpointRepository>) -> (f64, f64) {
    saves_from_tasks(repo, 8).await;
    saves_from_tasks(repo, 1).await;
    let (mut eight, mut one) = (0.0, 0.0);
    for _ in 0..rounds() {
        eight += saves_from_tasks(repo, 8).await;
        one += saves_from_tasks(repo, 1).await;
    }
    (eight / rounds() as f64, one / rounds() as f64)
}

/// Mean latency of `op` over `n` calls after one warm-up, in milliseconds.
async fn latency<F, Fut>(n: u32, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    op().await;
    let start = Instant::now();
    for _ in 0..n {
        op().await;
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

const UPSERT_POSITION_SQLITE: &str = "INSERT INTO projection_checkpoints AS c (projection_name, last_event_id, \
    last_event_type, last_processed_at, events_processed, created_at, updated_at, global_position) \
    VALUES (?1, ?2, ?3, ?4, 1, ?4, ?4, ?5) ON CONFLICT (projection_name) DO UPDATE SET \
    last_event_id = excluded.last_event_id, last_event_type = excluded.last_event_type, \
    last_processed_at = excluded.last_processed_at, events_processed = c.events_processed + 1, \
    updated_at = excluded.updated_at, global_position = excluded.global_position";

const UPDATE_SQLITE: &str =
    "INSERT INTO projection_checkpoints AS c (projection_name, last_event_id, last_event_type, \
    last_processed_at, events_processed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?4, ?4) \
    ON CONFLICT (projection_name) DO UPDATE SET last_event_id = excluded.last_event_id, \
    last_event_type = excluded.last_event_type, last_processed_at = excluded.last_processed_at, \
    events_processed = c.events_processed + 1, updated_at = excluded.updated_at";

/// The raw loop's statements: rusqlite, prepared, on its own connection.
struct RawSqlite(std::sync::Mutex<Connection>);

impl RawSqlite {
    fn open(path: &std::path::Path) -> Self {
        let raw = Connection::open(path).unwrap();
        raw.busy_timeout(Duration::from_secs(5)).unwrap();
        raw.pragma_update(None, "journal_mode", "WAL").unwrap();
        raw.pragma_update(None, "synchronous", "FULL").unwrap();
        RawSqlite(std::sync::Mutex::new(raw))
    }

    fn write(&self, sql: &str, position: Option<i64>) -> std::future::Ready<()> {
        let raw = self.0.lock().unwrap();
        let mut st = raw.prepare_cached(sql).unwrap();
        let at = waypost::time::isoformat(&waypost::time::now());
        let id = Uuid::new_v4().to_string();
        match position {
            Some(p) => st.execute(rusqlite::params!["raw", id, "OrderPlaced", at, p]),
            None => st.execute(rusqlite::params!["raw", id, "OrderPlaced", at]),
        }
        .unwrap();
        std::future::ready(())
    }

    fn read(&self) -> std::future::Ready<()> {
        let raw = self.0.lock().unwrap();
        let mut st = raw
            .prepare_cached("SELECT global_position FROM projection_checkpoints WHERE projection_name = ?1")
            .unwrap();
        let _: Option<i64> = st.query_row(["raw"], |r| r.get(0)).unwrap();
        std::future::ready(())
    }
}

async fn sqlite(dir: &std::path::Path) {
    let path = dir.join("bench.db");
    let raw = RawSqlite::open(&path);
    println!("\n== SQLite (WAL, synchronous=FULL) ==");
    println!("{:<56} {:>12} {:>12} {:>9}", "operation", "waypost/s", "raw/s", "ratio");
    let configurations = [
        ("default: inline reads", false, true),
        ("every call on the SQLite thread", false, false),
        ("block_in_place", true, true),
    ];
    for (how, block_in_place, inline_reads) in configurations {
        let options = SqliteOptions { block_in_place, inline_reads, ..SqliteOptions::default() };
        let repo = SqliteRepository::open(&path, options).await.unwrap();
        let (ours, theirs) = versus(saves(&repo, "bench"), |n| raw.write(UPSERT_POSITION_SQLITE, Some(n as i64))).await;
        row(&format!("save_position ({how})"), ours, theirs);
        let (ours, theirs) = versus(updates(&repo, "bench"), |_| raw.write(UPDATE_SQLITE, None)).await;
        row(&format!("update_checkpoint ({how})"), ours, theirs);
        let (ours, theirs) = versus(reads(&repo, "bench"), |_| raw.read()).await;
        row(&format!("get_position ({how})"), ours, theirs);
        repo.close().await.unwrap();
    }

    let repo: Arc<dyn CheckpointRepository> =
        Arc::new(SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap());
    let (eight, one) = eight_writers_and_one(&repo).await;
    println!("{:<56} {:>12} {:>12} {:>9}", "group commit (default options)", "8 tasks/s", "1 task/s", "ratio");
    row("save_position, 8 concurrent tasks vs one", eight, one);
    fill_sqlite(&raw.0.lock().unwrap(), 10_000);
    let ms = latency(20, || async { assert!(repo.get_all_checkpoints().await.unwrap().len() >= 10_000) }).await;
    println!("get_all_checkpoints (10,000 rows)             {ms:>9.2} ms/call");
    repo.create_events_table().await.unwrap();
    fill_events(&raw.0.lock().unwrap());
    repo.save_position("lagging", 500_000, Uuid::new_v4(), "OrderPlaced").await.unwrap();
    report_lag(&*repo).await;
    repo.close().await.unwrap();
}

fn fill_sqlite(raw: &Connection, n: usize) {
    raw.execute_batch("BEGIN").unwrap();
    for i in 0..n {
        let at = waypost::time::isoformat(&waypost::time::now());
        raw.prepare_cached(UPSERT_POSITION_SQLITE)
            .unwrap()
            .execute(rusqlite::params![format!("projection-{i:05}"), Uuid::new_v4().to_string(), "T", at, i as i64])
            .unwrap();
    }
    raw.execute_batch("COMMIT").unwrap();
}

/// 1,000,000 events: a rare type only among the first 1,000, a common type everywhere.
fn event_type(i: i64) -> &'static str {
    if i < 1_000 && i % 10 == 0 {
        "RareOld"
    } else if i % 3 == 0 {
        "OrderShipped"
    } else {
        "OrderPlaced"
    }
}

fn fill_events(raw: &Connection) {
    let start = chrono::Utc::now() - chrono::Duration::seconds(events());
    raw.execute_batch("BEGIN").unwrap();
    {
        let mut st = raw.prepare("INSERT INTO events (event_id, event_type, timestamp) VALUES (?1, ?2, ?3)").unwrap();
        for i in 0..events() {
            let at = waypost::time::isoformat(&(start + chrono::Duration::seconds(i)));
            st.execute(rusqlite::params![Uuid::new_v4().to_string(), event_type(i), at]).unwrap();
        }
    }
    raw.execute_batch("COMMIT; ANALYZE").unwrap();
}

async fn report_lag(repo: &dyn CheckpointRepository) {
    let cases: [(&str, Option<Vec<String>>); 3] = [
        ("no filter", None),
        ("common recent type", Some(vec!["OrderShipped".into()])),
        ("rare old type", Some(vec!["RareOld".into()])),
    ];
    for (label, types) in cases {
        let ms = latency(200, || async {
            let m = repo.get_lag_metrics("lagging", types.as_deref()).await.unwrap().unwrap();
            assert_eq!(m.stream_head, Some(events()));
        })
        .await;
        println!("get_lag_metrics, {} events, {label:<20}  {ms:>9.3} ms/call", events());
    }
}

async fn postgres(url: &str) {
    let schema = format!("wp_bench_{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut raw = PgConnection::connect(url).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut raw).await.unwrap();
    let options = PostgresOptions { schema: schema.clone(), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(url, options).await.unwrap();
    let id = Uuid::new_v4();
    repo.save_position("bench", 0, id, "OrderPlaced").await.unwrap();
    let upsert = format!(
        "INSERT INTO {schema}.projection_checkpoints AS c (projection_name, last_event_id, last_event_type, \
         last_processed_at, events_processed, created_at, updated_at, global_position) VALUES ($1, $2, $3, $4, 1, $4, $4, $5) \
         ON CONFLICT (projection_name) DO UPDATE SET last_event_id = EXCLUDED.last_event_id, \
         last_event_type = EXCLUDED.last_event_type, last_processed_at = EXCLUDED.last_processed_at, \
         events_processed = c.events_processed + 1, updated_at = EXCLUDED.updated_at, global_position = EXCLUDED.global_position"
    );
    let update = format!(
        "INSERT INTO {schema}.projection_checkpoints AS c (projection_name, last_event_id, last_event_type, \
         last_processed_at, events_processed, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $4, $4) \
         ON CONFLICT (projection_name) DO UPDATE SET last_event_id = EXCLUDED.last_event_id, \
         last_event_type = EXCLUDED.last_event_type, last_processed_at = EXCLUDED.last_processed_at, \
         events_processed = c.events_processed + 1, updated_at = EXCLUDED.updated_at"
    );
    let select = format!("SELECT global_position FROM {schema}.projection_checkpoints WHERE projection_name = $1");
    let raw = tokio::sync::Mutex::new(raw);
    println!("\n== PostgreSQL (synchronous_commit as configured; raw = sqlx, one connection held) ==");
    println!("{:<56} {:>12} {:>12} {:>9}", "operation", "waypost/s", "raw/s", "ratio");
    let (ours, theirs) =
        versus(saves(&repo, "bench"), |n| raw_pg_write(&raw, upsert.clone(), id, Some(n as i64))).await;
    row("save_position", ours, theirs);
    let (ours, theirs) = versus(updates(&repo, "bench"), |_| raw_pg_write(&raw, update.clone(), id, None)).await;
    row("update_checkpoint", ours, theirs);
    let (ours, theirs) = versus(reads(&repo, "bench"), |_| {
        let (raw, sql) = (&raw, select.clone());
        async move {
            let mut c = raw.lock().await;
            let _: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql)).bind("raw").fetch_one(&mut *c).await.unwrap();
        }
    })
    .await;
    row("get_position", ours, theirs);
    let shared: Arc<dyn CheckpointRepository> = Arc::new(
        PostgresRepository::connect(url, PostgresOptions { schema: schema.clone(), ..Default::default() })
            .await
            .unwrap(),
    );
    let (eight, one) = eight_writers_and_one(&shared).await;
    match (pgbench(url, &upsert, 1), pgbench(url, &upsert, 8)) {
        (Ok(bench_one), Ok(bench_eight)) => {
            println!(
                "{:<56} {:>12} {:>12} {:>9}",
                "writers (pgbench: the same UPSERT)", "waypost/s", "pgbench/s", "ratio"
            );
            row("save_position, one task vs pgbench -c 1", one, bench_one);
            row("save_position, 8 concurrent tasks vs pgbench -c 8", eight, bench_eight);
        }
        (Err(e), _) | (_, Err(e)) => {
            println!("save_position, 8 concurrent tasks {eight:>12.0}/s, one {one:>12.0}/s (pgbench not run: {e})")
        }
    }
    shared.close().await.unwrap();

    let mut raw = raw.into_inner();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.projection_checkpoints (projection_name, last_event_id, last_event_type, \
         last_processed_at, events_processed, global_position, created_at, updated_at) \
         SELECT 'projection-' || lpad(i::text, 5, '0'), gen_random_uuid(), 'T', now(), 1, i, now(), now() \
         FROM generate_series(1, 10000) AS i"
    )))
    .execute(&mut raw)
    .await
    .unwrap();
    let ms = latency(20, || async { assert!(repo.get_all_checkpoints().await.unwrap().len() >= 10_000) }).await;
    let list = format!(
        "SELECT projection_name, last_event_id, last_event_type, last_processed_at, events_processed, \
         global_position, position_token FROM {schema}.projection_checkpoints ORDER BY projection_name COLLATE \"C\""
    );
    let raw = tokio::sync::Mutex::new(raw);
    let raw_ms = latency(20, || async {
        type Row = (
            String,
            Option<Uuid>,
            Option<String>,
            Option<chrono::DateTime<chrono::Utc>>,
            i64,
            Option<i64>,
            Option<String>,
        );
        let mut c = raw.lock().await;
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(list.clone())).fetch_all(&mut *c).await.unwrap();
        assert!(rows.len() >= 10_000);
    })
    .await;
    let undecoded_ms = latency(20, || async {
        let mut c = raw.lock().await;
        assert!(sqlx::query(AssertSqlSafe(list.clone())).fetch_all(&mut *c).await.unwrap().len() >= 10_000);
    })
    .await;
    let mut raw = raw.into_inner();
    println!(
        "get_all_checkpoints (10,000 rows)             {ms:>9.2} ms/call \
         (raw sqlx {raw_ms:.2} ms; its rows undecoded {undecoded_ms:.2} ms)"
    );

    repo.create_events_table().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.events (event_id, event_type, timestamp) \
         SELECT gen_random_uuid(), CASE WHEN i < 1000 AND i % 10 = 0 THEN 'RareOld' \
         WHEN i % 3 = 0 THEN 'OrderShipped' ELSE 'OrderPlaced' END, now() - make_interval(secs => {events} - i) \
         FROM generate_series(0, {events} - 1) AS i ORDER BY i",
        events = events()
    )))
    .execute(&mut raw)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!("ANALYZE {schema}.events"))).execute(&mut raw).await.unwrap();
    repo.save_position("lagging", 500_000, Uuid::new_v4(), "OrderPlaced").await.unwrap();
    report_lag(&repo).await;
    repo.close().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut raw).await.unwrap();
}

/// Transactions per second of `pgbench` running `upsert` from `clients` connections for
/// as long as the waypost side ran, each client saving its own name.
fn pgbench(url: &str, upsert: &str, clients: usize) -> Result<f64, String> {
    let script = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let statement = upsert
        .replace("$1", "'pgbench-' || :client_id")
        .replace("$2", "gen_random_uuid()")
        .replace("$3", "'OrderPlaced'")
        .replace("$4", "now()")
        .replace("$5", ":n");
    std::fs::write(script.path(), format!("\\set n random(1, 1000000000)\n{statement};\n"))
        .map_err(|e| e.to_string())?;
    let seconds = (round_time() * rounds() as u32).as_secs().max(1).to_string();
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-T", &seconds, "-c", &clients.to_string(), "-j", &clients.min(2).to_string()])
        .arg("-f")
        .arg(script.path())
        .arg(url)
        .output()
        .map_err(|e| format!("pgbench: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = ").and_then(|r| r.split_whitespace().next()).and_then(|t| t.parse().ok()))
        .ok_or_else(|| format!("pgbench printed no tps: {}", String::from_utf8_lossy(&out.stderr).trim()))
}

/// The raw loop's write: the same UPSERT through sqlx on the one held connection.
async fn raw_pg_write(raw: &tokio::sync::Mutex<PgConnection>, sql: String, id: Uuid, position: Option<i64>) {
    let mut c = raw.lock().await;
    let q = sqlx::query(AssertSqlSafe(sql)).bind("raw").bind(id).bind("OrderPlaced").bind(waypost::time::now());
    let q = match position {
        Some(p) => q.bind(p),
        None => q,
    };
    q.execute(&mut *c).await.unwrap();
}

async fn memory() {
    let repo = MemoryRepository::new();
    let (save, get) = versus(saves(&repo, "bench"), reads(&repo, "bench")).await;
    println!("\n== memory ==\nsave_position {save:>12.0}/s   get_position {get:>12.0}/s");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Measured inside a task, where services run their work (not in `block_on`).
    tokio::spawn(measure()).await.unwrap();
}

async fn measure() {
    let _ = NewEvent::now("unused");
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Optional filter: `cargo bench --bench throughput -- sqlite postgres`.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let dir = tempfile::tempdir().unwrap();
    if wants("memory") {
        memory().await;
    }
    if wants("sqlite") {
        sqlite(dir.path()).await;
    }
    if !wants("postgres") {
        return;
    }
    let url = std::env::var("WAYPOST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match PgConnection::connect(&url).await {
        Ok(c) => {
            drop(c);
            postgres(&url).await;
        }
        Err(e) => println!("\nPostgreSQL not measured: no server at {url}: {e}"),
    }
}
