//! `ClaimManager`: claims by key, automatic heartbeats, release on close, and the
//! explicit fallback to memory.

mod support;

use std::sync::Arc;
use std::time::Duration;

use waypost::{
    CheckpointRepository, ClaimManager, ErrorKind, ItemStats, LazyClaimManager, ManagerMode, ManagerOptions,
    MemoryRepository, PostgresOptions, PostgresRepository, SqliteOptions, SqliteRepository,
};

fn options(worker: &str) -> ManagerOptions {
    ManagerOptions { worker_id: Some(worker.into()), ..ManagerOptions::default() }
}

fn at() -> chrono::DateTime<chrono::Utc> {
    waypost::time::now()
}

async fn claims_by_key(repo: Arc<dyn CheckpointRepository>) {
    let a = ClaimManager::new(repo.clone(), options("a")).await.unwrap();
    let b = ClaimManager::new(repo.clone(), options("b")).await.unwrap();
    assert!(a.claim_file("one.csv", "csv", at()).await.unwrap());
    assert!(!b.claim_file("one.csv", "csv", at()).await.unwrap(), "a live claim is never taken");
    assert_eq!(a.held(), vec!["one.csv".to_owned()]);
    let err = b.complete_file("one.csv", ItemStats::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost, "b holds nothing: {err}");
    let stats = ItemStats { records_total: 5, records_filtered: 1, records_persisted: 4, processing_time_ms: 12 };
    a.complete_file("one.csv", stats).await.unwrap();
    assert!(a.held().is_empty());
    assert_eq!(a.complete_file("one.csv", stats).await.unwrap_err().kind(), ErrorKind::LeaseLost);
    assert!(b.is_processed("one.csv").await.unwrap());
    assert_eq!(b.get("one.csv").await.unwrap().unwrap().stats, Some(stats));

    assert!(a.claim_file("two.csv", "csv", at()).await.unwrap());
    a.fail_file("two.csv", "bad header").await.unwrap();
    assert!(b.claim_file("two.csv", "csv", at()).await.unwrap(), "a failed item is retried");
    assert_eq!(b.get("two.csv").await.unwrap().unwrap().retry_count, 1);
    let counts = a.stats().await.unwrap();
    assert_eq!((counts.total, counts.completed, counts.processing), (2, 1, 1));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_by_key_on_memory() {
    claims_by_key(Arc::new(MemoryRepository::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_by_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("m.db"), SqliteOptions::default()).await.unwrap();
    claims_by_key(Arc::new(repo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_by_key_on_postgres() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "manager").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    claims_by_key(Arc::new(repo)).await;
    scratch.drop_schema().await;
}

/// With a 60 ms lease renewed every 20 ms, a claim outlives many leases; another worker
/// cannot take it, and the stored lease moves forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_held_claim_alive() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let short = ManagerOptions { lease: Duration::from_millis(60), ..options("holder") };
    let holder = ClaimManager::new(repo.clone(), short).await.unwrap();
    let other = ClaimManager::new(repo.clone(), options("other")).await.unwrap();
    assert!(holder.claim_file("slow.csv", "csv", at()).await.unwrap());
    let first_lease = holder.get("slow.csv").await.unwrap().unwrap().lease_expires_at.unwrap();
    let mut rounds = holder.heartbeat_rounds();
    let started = *rounds.borrow();
    // Six rounds of 20 ms: twice the lease has passed since the claim.
    tokio::time::timeout(Duration::from_secs(10), rounds.wait_for(|n| *n >= started + 6)).await.unwrap().unwrap();
    let record = holder.get("slow.csv").await.unwrap().unwrap();
    assert!(record.lease_expires_at.unwrap() > first_lease + chrono::Duration::milliseconds(60));
    assert!(!other.claim_file("slow.csv", "csv", at()).await.unwrap(), "the renewed claim is still live");
    holder.complete_file("slow.csv", ItemStats::default()).await.unwrap();
}

/// Closing releases what is still held: another worker takes it at once, as attempt 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_releases_held_claims() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let leaving = ClaimManager::new(repo.clone(), options("leaving")).await.unwrap();
    assert!(leaving.claim_file("x.csv", "csv", at()).await.unwrap());
    leaving.close().await.unwrap();
    let next = ClaimManager::new(repo.clone(), options("next")).await.unwrap();
    assert!(next.claim_file("x.csv", "csv", at()).await.unwrap());
    assert_eq!(next.get("x.csv").await.unwrap().unwrap().retry_count, 0);
}

async fn unreachable_store() -> Arc<dyn CheckpointRepository> {
    let options = PostgresOptions { connect_timeout: Duration::from_secs(2), ..PostgresOptions::default() };
    // Port 1 on loopback refuses at once.
    Arc::new(PostgresRepository::connect("postgres://nobody@127.0.0.1:1/none", options).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_an_error_without_fallback() {
    let err = ClaimManager::new(unreachable_store().await, options("w")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_to_memory_is_explicit_and_visible() {
    let manager =
        ClaimManager::new(unreachable_store().await, ManagerOptions { fallback_to_memory: true, ..options("w") })
            .await
            .unwrap();
    assert_eq!(manager.mode(), ManagerMode::Memory);
    let warning = manager.take_warning().expect("a warning");
    assert!(warning.contains("memory"), "{warning}");
    assert_eq!(manager.take_warning(), None, "warned once");
    assert!(manager.claim_file("a.csv", "csv", at()).await.unwrap());
    manager.complete_file("a.csv", ItemStats::default()).await.unwrap();
    assert!(manager.is_processed("a.csv").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    for bad in [
        options(""),
        ManagerOptions { lease: Duration::ZERO, ..options("w") },
        ManagerOptions { table: "no such; table".into(), ..options("w") },
        ManagerOptions { max_retries: 5000, ..options("w") },
    ] {
        let err = ClaimManager::new(repo.clone(), bad.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}: {err}");
    }
    let m = ClaimManager::new(repo, ManagerOptions::default()).await.unwrap();
    let id = m.worker_id();
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert_eq!(parts[0], "worker");
    assert!(parts[1].parse::<i64>().unwrap() > 1_700_000_000_000, "{id}");
    assert!(parts[2].len() == 6 && parts[2].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{id}");
}

/// A store lost after start (here: closed, which is `Unavailable` like a dropped server):
/// the next claim falls back when allowed, and fails otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_lost_at_claim_time() {
    let dir = tempfile::tempdir().unwrap();
    let repo: Arc<dyn CheckpointRepository> =
        Arc::new(SqliteRepository::open(dir.path().join("lost.db"), SqliteOptions::default()).await.unwrap());
    let strict = ClaimManager::new(repo.clone(), options("strict")).await.unwrap();
    let lenient = ClaimManager::new(repo.clone(), ManagerOptions { fallback_to_memory: true, ..options("lenient") })
        .await
        .unwrap();
    assert_eq!(lenient.mode(), ManagerMode::Store);
    repo.close().await.unwrap();
    let err = strict.claim_file("a.csv", "csv", at()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(lenient.claim_file("a.csv", "csv", at()).await.unwrap());
    assert_eq!(lenient.mode(), ManagerMode::Memory);
    assert!(lenient.take_warning().is_some());
}

/// Another worker takes the item over (here the claim is released behind the holder's
/// back through a ledger of the same store, and claimed anew): the holder's heartbeat
/// finds it gone, its watch resolves with `LeaseLost` at once, and its next call says why.
async fn a_lost_lease_is_surfaced_at_once(repo: Arc<dyn CheckpointRepository>) {
    let short = ManagerOptions { lease: Duration::from_millis(300), ..options("holder") };
    let holder = ClaimManager::new(repo.clone(), short).await.unwrap();
    let thief = ClaimManager::new(repo.clone(), options("thief")).await.unwrap();
    assert!(holder.claim_file("taken.csv", "csv", at()).await.unwrap());
    let watch = holder.lease_watch("taken.csv").expect("held");
    assert!(!watch.is_lost());
    let record = holder.get("taken.csv").await.unwrap().unwrap();
    let claim = waypost::Claim {
        key: record.key.clone(),
        worker_id: record.worker_id.clone().unwrap(),
        epoch: record.epoch,
        attempt: record.retry_count + 1,
        lease_expires_at: record.lease_expires_at.unwrap(),
    };
    repo.clone().claims(waypost::ClaimsOptions::default()).unwrap().release(&claim).await.unwrap();
    assert!(thief.claim_file("taken.csv", "csv", at()).await.unwrap());
    let lost = tokio::time::timeout(Duration::from_secs(10), watch.lost()).await.expect("surfaced within rounds");
    let lost = lost.expect("lost, not ended");
    assert_eq!(lost.kind(), ErrorKind::LeaseLost, "{lost}");
    assert!(holder.held().is_empty());
    let err = holder.complete_file("taken.csv", ItemStats::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    assert!(err.to_string().contains("heartbeat"), "the next call says why: {err}");
    thief.complete_file("taken.csv", ItemStats::default()).await.unwrap();
    holder.close().await.unwrap();
    thief.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_surfaced_on_memory() {
    a_lost_lease_is_surfaced_at_once(Arc::new(MemoryRepository::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_surfaced_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("lost.db"), SqliteOptions::default()).await.unwrap();
    a_lost_lease_is_surfaced_at_once(Arc::new(repo)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_surfaced_on_postgres() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "lost").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    a_lost_lease_is_surfaced_at_once(Arc::new(repo)).await;
    scratch.drop_schema().await;
}

/// A claim that ends normally closes its watch with `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_claim_is_not_lost() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let m = ClaimManager::new(repo, options("w")).await.unwrap();
    for (key, end) in [("a", 0), ("b", 1), ("c", 2)] {
        assert!(m.claim_file(key, "csv", at()).await.unwrap());
        let watch = m.lease_watch(key).unwrap();
        match end {
            0 => m.complete_file(key, ItemStats::default()).await.unwrap(),
            1 => m.fail_file(key, "x").await.unwrap(),
            _ => m.release_file(key).await.unwrap(),
        }
        assert!(watch.lost().await.is_none());
    }
    assert!(m.lease_watch("a").is_none());
}

/// A store that stays unreachable past the lease: another worker may have the item by
/// now, so the claim is lost, not kept silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_runs_out_while_the_store_is_unreachable_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let repo: Arc<dyn CheckpointRepository> =
        Arc::new(SqliteRepository::open(dir.path().join("gone.db"), SqliteOptions::default()).await.unwrap());
    let short = ManagerOptions { lease: Duration::from_millis(90), ..options("stranded") };
    let m = ClaimManager::new(repo.clone(), short).await.unwrap();
    assert!(m.claim_file("far.csv", "csv", at()).await.unwrap());
    let watch = m.lease_watch("far.csv").unwrap();
    repo.close().await.unwrap(); // every later call is Unavailable, as for a dropped server
    let lost = tokio::time::timeout(Duration::from_secs(10), watch.lost()).await.unwrap().expect("lost");
    assert_eq!(lost.kind(), ErrorKind::LeaseLost);
    assert!(lost.to_string().contains("unreachable"), "{lost}");
}

/// The bindings' constructors: a bad option fails at construction, the worker id is
/// there before the start, the mode is `pending` until the store answered, a failed
/// start is tried again by the next call, and one start serves every caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_manager_reports_pending_until_the_store_answered() {
    let err = LazyClaimManager::new(Arc::new(MemoryRepository::new()), options("")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let lazy = LazyClaimManager::new(unreachable_store().await, ManagerOptions::default()).unwrap();
    assert!(!lazy.worker_id().is_empty(), "a worker id before the start");
    assert_eq!(lazy.mode_name(), waypost::manager::PENDING_MODE);
    for _ in 0..2 {
        let err = lazy.get().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert_eq!(lazy.mode_name(), "pending", "never 'store' before the store answered");
        assert!(lazy.started().is_none());
    }

    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("lazy.db"), SqliteOptions::default()).await.unwrap();
    let lazy = Arc::new(LazyClaimManager::new(Arc::new(repo), options("w")).unwrap());
    assert_eq!((lazy.worker_id(), lazy.mode_name()), ("w", "pending"));
    let starts: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn({
                let l = lazy.clone();
                async move { l.get().await }
            })
        })
        .collect();
    let mut managers = Vec::new();
    for start in starts {
        managers.push(start.await.unwrap().unwrap());
    }
    assert!(managers.iter().all(|m| Arc::ptr_eq(m, &managers[0])), "one start for every caller");
    assert_eq!(lazy.mode_name(), "store");
    assert!(lazy.get().await.unwrap().claim_file("a.csv", "csv", at()).await.unwrap());
    lazy.started().unwrap().close().await.unwrap();
}
