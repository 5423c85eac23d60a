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

/// Out of order, every(2): the checkpoint follows the frontier, never a position past
/// an unfinished event, names the event at the frontier, and counts every acknowledged
/// event once; close saves the rest.
async fn out_of_order_every_two(repo: Arc<dyn CheckpointRepository>) {
    let c = Checkpointer::out_of_order(repo.clone(), "ooo", Strategy::Every(2)).unwrap();
    let ids: Vec<Uuid> = (0..=7).map(|_| Uuid::new_v4()).collect();
    for p in [1, 2, 3, 5, 6, 7] {
        c.begin(p).unwrap(); // 4 is filtered out: never begun
    }
    for (ack, stored) in [(3, None), (1, None), (2, Some(3)), (7, Some(3)), (5, Some(3)), (6, Some(7))] {
        c.ack(ack, ids[ack as usize], "T").await.unwrap();
        assert_eq!(repo.get_position("ooo").await.unwrap(), stored, "after acknowledging {ack}");
    }
    assert_eq!(repo.get_checkpoint("ooo").await.unwrap(), Some(ids[7]), "the event at the frontier");
    assert_eq!((processed(&repo, "ooo").await, c.saves().await, c.in_flight()), (6, 2, 0));
    c.begin(9).unwrap();
    c.begin(10).unwrap();
    c.ack(10, ids[0], "T").await.unwrap();
    c.close().await.unwrap();
    assert_eq!(repo.get_position("ooo").await.unwrap(), Some(7), "close saves the frontier, not 10");
    assert_eq!(c.in_flight(), 1);
}

/// 64 handlers acknowledge in whatever order they finish, on another task each: after
/// every acknowledgement the stored checkpoint is below every event still being handled,
/// and at the end it is the last event, each counted once.
async fn parallel_handlers(repo: Arc<dyn CheckpointRepository>) {
    let c = Arc::new(Checkpointer::out_of_order(repo.clone(), "parallel", Strategy::EveryEvent).unwrap());
    let done = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let mut set = tokio::task::JoinSet::new();
    for p in 1..=64_i64 {
        c.begin(p).unwrap();
        let (c, repo, done) = (c.clone(), repo.clone(), done.clone());
        set.spawn(async move {
            for _ in 0..(p * 7919 % 5) {
                tokio::task::yield_now().await;
            }
            // Finished before it is acknowledged: the checkpoint may not pass a position
            // that is not in `done` yet.
            done.lock().unwrap().insert(p);
            c.ack(p, Uuid::new_v4(), "T").await.unwrap();
            let stored = repo.get_position("parallel").await.unwrap().unwrap_or(0);
            let first_unfinished = (1..=64).find(|q| !done.lock().unwrap().contains(q)).unwrap_or(65);
            assert!(stored < first_unfinished, "stored {stored} passed {first_unfinished}, still being handled");
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.unwrap();
    }
    assert_eq!(repo.get_position("parallel").await.unwrap(), Some(64));
    assert_eq!(processed(&repo, "parallel").await, 64);
}

/// An out-of-order checkpointer refuses `record`, an in-order one `begin` and `ack`;
/// bad positions are refused and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_calls_are_checked() {
    let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    let ordered = Checkpointer::new(repo.clone(), "a", Strategy::EveryEvent).unwrap();
    assert_eq!(ordered.begin(1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(ordered.ack(1, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    let c = Checkpointer::out_of_order(repo.clone(), "b", Strategy::EveryEvent).unwrap();
    assert_eq!(c.record(1, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    c.begin(5).unwrap();
    for bad in [5, 4, -1] {
        assert_eq!(c.begin(bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(c.ack(6, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(c.ack(5, Uuid::new_v4(), "").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!((c.in_flight(), repo.get_position("b").await.unwrap()), (1, None));
    c.ack(5, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(c.ack(5, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!((processed(&repo, "b").await, repo.get_position("b").await.unwrap()), (1, Some(5)));
    c.close().await.unwrap();
    c.begin(6).unwrap();
    assert_eq!(c.ack(6, Uuid::new_v4(), "T").await.unwrap_err().kind(), ErrorKind::InvalidArgument, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_batches() {
    covering(Arc::new(MemoryRepository::new())).await;
    every_three(Arc::new(MemoryRepository::new())).await;
    out_of_order_every_two(Arc::new(MemoryRepository::new())).await;
    parallel_handlers(Arc::new(MemoryRepository::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batches() {
    let dir = tempfile::tempdir().unwrap();
    let repo: Arc<dyn CheckpointRepository> =
        Arc::new(SqliteRepository::open(dir.path().join("b.db"), SqliteOptions::default()).await.unwrap());
    covering(repo.clone()).await;
    every_three(repo.clone()).await;
    out_of_order_every_two(repo.clone()).await;
    parallel_handlers(repo.clone()).await;
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
    out_of_order_every_two(repo.clone()).await;
    parallel_handlers(repo.clone()).await;
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
