//! Runs every shared conformance case (`tests/conformance/cases`) against the memory,
//! SQLite, PostgreSQL and MySQL repositories.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use waypost::conformance::{load_cases, run_case_in, Case};
use waypost::{
    CheckpointRepository, EventsTable, MemoryRepository, MysqlOptions, MysqlRepository, PostgresOptions,
    PostgresRepository, SqliteOptions, SqliteRepository,
};

use support::Space as Scratch;

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/cases");
    let cases = load_cases(&dir).expect("conformance cases load");
    assert!(cases.len() >= 30, "expected the whole contract, found {} cases", cases.len());
    cases
}

fn events_table(case: &Case) -> Option<EventsTable> {
    case.repository.events_table.clone().unwrap_or_else(|| Some(EventsTable::default()))
}

/// Runs the cases that apply to `backend`, opening each repository with `open`, and
/// fails listing every case that did not conform.
async fn run_all<F, Fut>(backend: &str, mut open: F)
where
    F: FnMut(Case) -> Fut,
    Fut: std::future::Future<Output = (waypost::Result<Arc<dyn CheckpointRepository>>, Scratch)>,
{
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases().into_iter().filter(|c| c.applies_to(backend)) {
        let expected_open_error = case.repository.open_error;
        let (opened, scratch) = open(case.clone()).await;
        let outcome = match (opened, expected_open_error) {
            (Ok(repo), None) => {
                let r = run_case_in(&case, repo.clone(), &scratch.namespace()).await;
                repo.close().await.expect("close");
                r
            }
            (Err(e), Some(kind)) if e.kind() == kind => Ok(()),
            (Err(e), _) => Err(format!("{}: opening failed: {e}", case.id)),
            (Ok(_), Some(kind)) => Err(format!("{}: opening should fail with {kind}", case.id)),
        };
        scratch.drop().await;
        ran += 1;
        match outcome {
            Ok(()) => println!("{backend} {} ok: {}", case.id, case.title),
            Err(e) => failures.push(e),
        }
    }
    assert!(ran > 0, "no case ran on {backend}");
    assert!(failures.is_empty(), "{backend}: {} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_conforms() {
    run_all("memory", |_case| async {
        let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
        (Ok(repo), Scratch::None)
    })
    .await;
}

async fn sqlite_with(tuned: bool) {
    let dir = tempfile::tempdir().unwrap();
    run_all("sqlite", |case| {
        let path = dir.path().join(format!("{}.db", case.id));
        async move {
            let mut options = SqliteOptions {
                events_table: events_table(&case),
                block_in_place: tuned,
                inline_reads: tuned,
                ..SqliteOptions::default()
            };
            if let Some(t) = &case.repository.table {
                options.table = t.clone();
            }
            let opened =
                SqliteRepository::open(path, options).await.map(|r| Arc::new(r) as Arc<dyn CheckpointRepository>);
            (opened, Scratch::None)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms() {
    sqlite_with(false).await;
}

/// The same cases with calls in place and reads inline (concurrent steps run as tasks,
/// so both the in-place path and the SQLite thread are used).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conforms_with_block_in_place_and_inline_reads() {
    sqlite_with(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conforms() {
    let Some(url) = support::postgres_url().await else {
        // libtest has no skipped outcome: the count is said, and under CI=true
        // `postgres_url` has already failed the test.
        let skipped = cases().iter().filter(|c| c.applies_to("postgres")).count();
        println!("postgres: {skipped} cases SKIPPED, none ran (no server)");
        return;
    };
    run_all("postgres", |case| {
        let url = url.clone();
        async move {
            let scratch = support::Scratch::new(&url, &case.id).await;
            let mut options = PostgresOptions {
                schema: scratch.schema.clone(),
                events_table: events_table(&case),
                max_connections: 8,
                ..PostgresOptions::default()
            };
            if let Some(t) = &case.repository.table {
                options.table = t.clone();
            }
            let opened =
                PostgresRepository::connect(&url, options).await.map(|r| Arc::new(r) as Arc<dyn CheckpointRepository>);
            (opened, Scratch::Postgres(scratch))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_conforms() {
    let Some(url) = support::mysql_url().await else {
        let skipped = cases().iter().filter(|c| c.applies_to("mysql")).count();
        println!("mysql: {skipped} cases SKIPPED, none ran (no server)");
        return;
    };
    run_all("mysql", |case| {
        let url = url.clone();
        async move {
            let scratch = support::MysqlScratch::new(&url, &case.id).await;
            let mut options =
                MysqlOptions { events_table: events_table(&case), max_connections: 8, ..MysqlOptions::default() };
            if let Some(t) = &case.repository.table {
                options.table = t.clone();
            }
            let opened = MysqlRepository::connect(&scratch.url, options)
                .await
                .map(|r| Arc::new(r) as Arc<dyn CheckpointRepository>);
            (opened, Scratch::Mysql(scratch))
        }
    })
    .await;
}
