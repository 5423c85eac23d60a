//! How reading every checkpoint scales: `get_all_checkpoints`, `progress_all` (what
//! `waypost status`, the dashboard and `/health` read) and `GET /metrics` at 1,000,
//! 10,000 and 100,000 checkpoints on memory, SQLite and PostgreSQL: the time of one call
//! and the most memory it held at once beyond what was allocated before it (counted by
//! this binary's allocator). Both should grow linearly: the per-checkpoint columns stay flat.
//!
//! `make bench` (or `cargo bench -p waypost-cli --bench scale`); `WAYPOST_BENCH_SMOKE=1`
//! runs 100 and 1,000 checkpoints once, as `make test` does. PostgreSQL comes from
//! `WAYPOST_TEST_POSTGRES_URL`, else 127.0.0.1:5432; without a server it is left out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use sqlx::{AssertSqlSafe, Connection as _};
use tower::ServiceExt;
use waypost::progress::{progress_all, ProgressOptions};
use waypost::{CheckpointRepository, MemoryRepository, NewEvent, PostgresOptions, PostgresRepository, SqliteOptions};

/// The system allocator, counting the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to the system allocator unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn smoke() -> bool {
    std::env::var_os("WAYPOST_BENCH_SMOKE").is_some_and(|v| v != "0")
}

/// Milliseconds of the fastest of a few calls, and the most bytes held at once during
/// one beyond those live before it.
async fn measure<F, Fut>(mut call: F) -> (f64, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    call().await;
    let (mut best, mut held) = (f64::MAX, 0);
    for _ in 0..if smoke() { 1 } else { 3 } {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let start = Instant::now();
        let n = call().await;
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        held = held.max(PEAK.load(Ordering::Relaxed).saturating_sub(before));
        assert!(n > 0);
    }
    (best, held)
}

/// Adds checkpoints until the store holds `n`.
type Fill<'a> = dyn Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>> + 'a;

async fn report(label: &str, repo: Arc<dyn CheckpointRepository>, fill: &Fill<'_>) {
    println!("\n== {label} ==");
    println!("{:>11}  {:>24}  {:>24}  {:>24}", "checkpoints", "get_all_checkpoints", "progress_all", "GET /metrics");
    let app = waypost_cli::router(repo.clone(), waypost_cli::ServeOptions::default());
    let sizes: &[usize] = if smoke() { &[100, 1_000] } else { &[1_000, 10_000, 100_000] };
    for &n in sizes {
        fill(n).await;
        let all = measure(|| async { repo.get_all_checkpoints().await.unwrap().len() }).await;
        let progress =
            measure(|| async { progress_all(&*repo, &ProgressOptions::default()).await.unwrap().len() }).await;
        let metrics = measure(|| async {
            let request = Request::builder().uri("/metrics").body(Body::empty()).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert!(response.status().is_success());
            response.into_body().collect().await.unwrap().to_bytes().len()
        })
        .await;
        let cell = |(ms, bytes): (f64, usize)| {
            format!("{ms:>8.1} ms {:>5.2} µs/cp {:>6.1} MB", ms * 1000.0 / n as f64, bytes as f64 / 1e6)
        };
        println!("{n:>11}  {}  {}  {}", cell(all), cell(progress), cell(metrics));
    }
}

/// Names padded so that every size's rows sort the same way.
fn name(i: usize) -> String {
    format!("projection-{i:06}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("time of one call (fastest of 3), per checkpoint, and the most memory held during it");

    let memory = Arc::new(MemoryRepository::new());
    memory.append_events(&[NewEvent::now("OrderPlaced")]).await.unwrap();
    let filled = std::sync::Mutex::new(0);
    report("memory", memory.clone(), &|n| {
        let (memory, filled) = (memory.clone(), &filled);
        Box::pin(async move {
            let from = std::mem::replace(&mut *filled.lock().unwrap(), n);
            for i in from..n {
                memory.save_position(&name(i), i as i64, uuid::Uuid::new_v4(), "T").await.unwrap();
            }
        })
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scale.db");
    let sqlite = Arc::new(waypost::SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap());
    sqlite.create_events_table().await.unwrap();
    sqlite.append_events(&[NewEvent::now("OrderPlaced")]).await.unwrap();
    let raw = std::sync::Mutex::new(rusqlite::Connection::open(&path).unwrap());
    report("SQLite", sqlite.clone(), &|n| {
        let raw = raw.lock().unwrap();
        raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        raw.execute_batch("BEGIN IMMEDIATE").unwrap();
        {
            let mut st = raw
                .prepare(
                    "INSERT OR IGNORE INTO projection_checkpoints (projection_name, last_event_id, last_event_type, \
                     last_processed_at, events_processed, global_position) VALUES (?1, ?2, 'T', ?3, 1, ?4)",
                )
                .unwrap();
            let at = waypost::time::isoformat(&waypost::time::now());
            for i in 0..n {
                st.execute(rusqlite::params![name(i), uuid::Uuid::new_v4().to_string(), at, i as i64]).unwrap();
            }
        }
        raw.execute_batch("COMMIT").unwrap();
        Box::pin(async {})
    })
    .await;
    sqlite.close().await.unwrap();

    let url = std::env::var("WAYPOST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let Ok(mut admin) = sqlx::PgConnection::connect(&url).await else {
        println!("\nPostgreSQL not measured: no server at {url}");
        return;
    };
    let schema = format!("wp_scale_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let options = PostgresOptions { schema: schema.clone(), ..PostgresOptions::default() };
    let pg = Arc::new(PostgresRepository::connect(&url, options).await.unwrap());
    pg.create_events_table().await.unwrap();
    pg.append_events(&[NewEvent::now("OrderPlaced")]).await.unwrap();
    let admin_cell = tokio::sync::Mutex::new(&mut admin);
    report("PostgreSQL", pg.clone(), &|n| {
        let (admin, schema) = (&admin_cell, schema.clone());
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO \"{schema}\".projection_checkpoints (projection_name, last_event_id, last_event_type, \
                 last_processed_at, events_processed, global_position) \
                 SELECT 'projection-' || lpad(i::text, 6, '0'), gen_random_uuid(), 'T', now(), 1, i \
                 FROM generate_series(0, {n} - 1) AS i ON CONFLICT DO NOTHING"
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut **admin.lock().await).await.unwrap();
        })
    })
    .await;
    pg.close().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE"))).execute(&mut admin).await.unwrap();
}
