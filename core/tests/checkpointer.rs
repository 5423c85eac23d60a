//! Checkpoint strategies: saves happen exactly when the strategy says, each covering the
//! events since the previous one; the background tick, idleness, errors and close.

mod support;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;
use waypost::{
    CheckpointRepository, Checkpointer, ErrorKind, MemoryRepository, PostgresOptions, PostgresRepository,
    SqliteOptions, SqliteRepository, Strategy,
};

async fn processed(repo: &Arc<dyn CheckpointRepository>, name: &str) -> i64 {
    let all = repo.get_all_checkpoints().await.unwrap();
    all.iter().find(|c| c.projection_name == name).map_or(0, |c| c.events_processed)
}

/// `save_position_covering` adds its count; a count of 0 is refused and writes nothing.
async fn covering(repo: Arc<dyn CheckpointRepository>) {
    let id = Uuid::new_v4();
    repo.save_position_covering("batch", 5, id, "T", 5).await.unwrap();
    repo.save_position_covering("batch", 8, id, "T", 3).await.unwrap();
    let err = repo.save_position_covering("batch", 9, id, "T", 0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(repo.get_position("batch").await.unwrap(), Some(8));
    assert_eq!(processed(&repo, "batch").await, 8);
    repo.save_position("batch", 9, id, "T").await.unwrap();
    assert_eq!(processed(&repo, "batch").await, 9, "the protocol method still counts 1");
}

/// every(3): nothing is written for events 1–2, event 3 writes once, close writes the rest.
async fn every_three(repo: Arc<dyn CheckpointRepository>) {
    let c = Checkpointer::new(repo.clone(), "every3", Strategy::Every(3)).unwrap();
    for p in 1..=2 {
        c.record(p, Uuid::new_v4(), "T").await.unwrap();
    }
    assert_eq!((repo.get_position("every3").await.unwrap(), c.saves().await), (None, 0));
    c.record(3, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!((repo.get_position("every3").await.unwrap(), c.saves().await), (Some(3), 1));
    for p in 4..=7 {
        c.record(p, Uuid::new_v4(), "T").await.unwrap();
    }
    assert_eq!((repo.get_position("every3").await.unwrap(), c.saves().await, c.unsaved().await), (Some(6), 2, 1));
    c.close().await.unwrap();
    assert_eq!((repo.get_position("every3").await.unwrap(), c.saves().await), (Some(7), 3));
    assert_eq!(processed(&repo, "every3").await, 7, "each save counts the events it covers");
    let err = c.record(8, Uuid::new_v4(), "T").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "closed: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_batches() {
    covering(Arc::new(MemoryRepository::new())).await;
    every_three(Arc::new(MemoryRepository::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches() {
    let dir = tempfile::tempdir().unwrap();
    let repo: Arc<dyn CheckpointRepository> =
        Arc::new(SqliteRepository::open(dir.path().join("b.db"), SqliteOptions::default()).await.unwrap());
    covering(repo.clone()).await;
    every_three(repo.clone()).await;
    repo.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "batches").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), events_table: None, ..PostgresOptions::default() };
    let repo: Arc<dyn CheckpointRepository> = Arc::new(PostgresRepository::connect(&url, options).await.unwrap());
    covering(repo.clone()).await;
    every_three(repo.clone()).await;
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_writes_each_event() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let c = Checkpointer::new(repo.clone(), "each", Strategy::EveryEvent).unwrap();
    for p in 0..5 {
        c.record(p, Uuid::new_v4(), "T").await.unwrap();
        assert_eq!(repo.get_position("each").await.unwrap(), Some(p));
    }
    assert_eq!(c.saves().await, 5);
    c.close().await.unwrap();
    assert_eq!(c.saves().await, 5, "nothing left to save");
}

// The interval tests run on tokio's paused clock: sleeping advances it at once, so the
// tick's timing is exact and nothing waits for real time.

#[tokio::test(start_paused = true)]
async fn the_tick_saves_without_a_new_event_and_an_idle_checkpointer_writes_nothing() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let c = Checkpointer::new(repo.clone(), "timed", Strategy::Interval(Duration::from_secs(1))).unwrap();
    c.record(1, Uuid::new_v4(), "T").await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(repo.get_position("timed").await.unwrap(), None, "not yet: 0.9 s");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(repo.get_position("timed").await.unwrap(), Some(1), "saved by the tick at 1 s");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(c.saves().await, 1, "idle: no further write");
    c.record(2, Uuid::new_v4(), "T").await.unwrap();
    c.record(3, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(c.saves().await, 1, "the idle ticks do not make the next events due at once");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!((repo.get_position("timed").await.unwrap(), c.saves().await), (Some(3), 2));
    assert_eq!(processed(&repo, "timed").await, 3);
    c.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn count_or_interval_whichever_comes_first() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let c = Checkpointer::new(repo.clone(), "both", Strategy::EveryOrInterval(100, Duration::from_secs(1))).unwrap();
    for p in 1..=100 {
        c.record(p, Uuid::new_v4(), "T").await.unwrap();
    }
    assert_eq!((repo.get_position("both").await.unwrap(), c.saves().await), (Some(100), 1), "by count");
    c.record(101, Uuid::new_v4(), "T").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!((repo.get_position("both").await.unwrap(), c.saves().await), (Some(101), 2), "by time");
    c.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_background_error_surfaces_at_the_next_call() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let c = Checkpointer::new(repo.clone(), "lost", Strategy::Interval(Duration::from_secs(1))).unwrap();
    c.record(1, Uuid::new_v4(), "T").await.unwrap();
    repo.close().await.unwrap(); // the store goes away: the tick's save fails
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = c.record(2, Uuid::new_v4(), "T").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let err = c.close().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "the final save fails too: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    for bad in
        [Strategy::Every(0), Strategy::Interval(Duration::ZERO), Strategy::EveryOrInterval(0, Duration::from_secs(1))]
    {
        assert_eq!(Checkpointer::new(repo.clone(), "x", bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(
        Checkpointer::new(repo.clone(), "", Strategy::EveryEvent).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let c = Checkpointer::new(repo.clone(), "x", Strategy::Every(2)).unwrap();
    assert_eq!(c.record(-1, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(c.record(1, Uuid::new_v4(), "").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(c.unsaved().await, 0, "nothing recorded");
    c.close().await.unwrap();
    assert_eq!(repo.get_position("x").await.unwrap(), None);
}
