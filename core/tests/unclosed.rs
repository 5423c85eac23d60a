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

/// A manager holding a claim, a ledger and a checkpointer with an unsaved event, all
/// over `repo`, made on `rt`.
type Others = (waypost::ClaimManager, Arc<dyn waypost::ClaimLedger>, waypost::Checkpointer);

fn others(rt: &tokio::runtime::Runtime, repo: &Arc<dyn CheckpointRepository>) -> Others {
    rt.block_on(async {
        let manager = waypost::ClaimManager::new(repo.clone(), waypost::ManagerOptions::default()).await.unwrap();
        let key = format!("held-{}.csv", uuid::Uuid::new_v4());
        assert!(manager.claim_file(&key, "csv", waypost::time::now()).await.unwrap());
        let ledger = repo.clone().claims(waypost::ClaimsOptions::default()).unwrap();
        ledger.stats().await.unwrap();
        let checkpointer = waypost::Checkpointer::new(repo.clone(), "unsaved", waypost::Strategy::Every(100)).unwrap();
        checkpointer.record(1, uuid::Uuid::new_v4(), "Ran").await.unwrap();
        (manager, ledger, checkpointer)
    })
}

/// Drops everything from a plain thread while `rt` still runs, then again after `rt`
/// is dropped.
fn drop_everywhere(open: impl Fn(&tokio::runtime::Runtime) -> Arc<dyn CheckpointRepository>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let repo = open(&rt);
    let rest = others(&rt, &repo);
    let (repo, tx) = used(&rt, &|| repo.clone());
    std::thread::spawn(move || drop((tx, rest, repo))).join().expect("dropped on a thread without a runtime");
    let repo = open(&rt);
    let rest = others(&rt, &repo);
    let (repo, tx) = used(&rt, &|| repo.clone());
    drop(rt);
    std::thread::spawn(move || drop((tx, rest, repo))).join().expect("dropped after the runtime has gone");
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

#[test]
fn mysql_objects_drop_anywhere() {
    let probe = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = probe.block_on(support::mysql_url()) else { return };
    let scratch = probe.block_on(support::MysqlScratch::new(&url, "unclosed"));
    drop_everywhere(|rt| {
        Arc::new(rt.block_on(waypost::MysqlRepository::connect(&scratch.url, Default::default())).expect("connect"))
    });
    probe.block_on(scratch.drop_database());
}
