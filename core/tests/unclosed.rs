//! Objects never closed: repositories and open transactions of every backend dropped on a
//! thread without a Tokio context, while their runtime runs and after it has gone. sqlx
//! returns a pooled connection by spawning, which panicked outside a runtime.

mod support;

use std::sync::Arc;

use waypost::{
    CheckpointRepository, PostgresOptions, PostgresRepository, SqliteOptions, SqliteRepository, Transaction,
};

/// A repository that has served a call (so it holds a connection) and an open transaction
/// that has written, both made on `rt`.
fn used(
    rt: &tokio::runtime::Runtime,
    open: &dyn Fn() -> Arc<dyn CheckpointRepository>,
) -> (Arc<dyn CheckpointRepository>, Transaction) {
    let repo = open();
    let tx = rt.block_on(async {
        repo.save_position("unclosed", 1, uuid::Uuid::new_v4(), "Ran").await.expect("save");
        let tx = repo.begin().await.expect("begin");
        tx.save_position("unclosed-tx", 1, uuid::Uuid::new_v4(), "Ran").await.expect("save in tx");
        tx
    });
    (repo, tx)
}

/// Drops both from a plain thread while `rt` still runs, then again after `rt` is dropped.
fn drop_everywhere(open: impl Fn(&tokio::runtime::Runtime) -> Arc<dyn CheckpointRepository>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (repo, tx) = used(&rt, &|| open(&rt));
    std::thread::spawn(move || drop((tx, repo))).join().expect("dropped on a thread without a runtime");
    let (repo, tx) = used(&rt, &|| open(&rt));
    drop(rt);
    std::thread::spawn(move || drop((tx, repo))).join().expect("dropped after the runtime has gone");
}

#[test]
fn sqlite_objects_drop_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unclosed.db");
    drop_everywhere(|rt| Arc::new(rt.block_on(SqliteRepository::open(&path, SqliteOptions::default())).expect("open")));
}

#[test]
fn postgres_objects_drop_anywhere() {
    let probe = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = probe.block_on(support::postgres_url()) else { return };
    let scratch = probe.block_on(support::Scratch::new(&url, "unclosed"));
    drop_everywhere(|rt| {
        let options = PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
        Arc::new(rt.block_on(PostgresRepository::connect(&url, options)).expect("connect"))
    });
    probe.block_on(scratch.drop_schema());
}
