//! Work claims across processes, on SQLite, PostgreSQL and MySQL: four workers racing for
//! 500 items complete each exactly once, and the items of a worker killed with SIGKILL
//! are taken over by another worker, while the dead worker's late `complete` is refused.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{drop_mysql_database, drop_schema, fresh_mysql_database, fresh_schema, mysql_url, postgres_url};
use waypost::{
    CheckpointRepository, Claim, ClaimStatus, ClaimsOptions, ErrorKind, ItemStats, PostgresOptions, PostgresRepository,
};

const CLAIMER: &str = env!("CARGO_BIN_EXE_claimer");

fn claimer(target: &[&str], extra: &[&str]) -> Child {
    Command::new(CLAIMER)
        .args(target)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start claimer")
}

/// Each worker's stdout lines, after it exited successfully.
fn outputs(children: Vec<Child>) -> Vec<String> {
    let mut lines = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "a worker failed: {:?}", out.status);
        lines.extend(String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned));
    }
    lines
}

async fn open(target: &[&str]) -> Arc<dyn CheckpointRepository> {
    match target {
        ["--url", url, "--schema", schema] => Arc::new(
            PostgresRepository::connect(url, PostgresOptions { schema: schema.to_string(), ..Default::default() })
                .await
                .unwrap(),
        ),
        ["--url", url] => waypost::open(url).await.unwrap(),
        _ => unreachable!(),
    }
}

async fn race(target: &[&str]) {
    let workers: Vec<String> = (1..=4).map(|w| format!("w{w}")).collect();
    let children = workers.iter().map(|w| claimer(target, &["--items", "500", "--worker", w])).collect();
    let lines = outputs(children);
    let mut completed: BTreeMap<String, usize> = BTreeMap::new();
    for line in &lines {
        if let Some(key) = line.strip_prefix("completed ") {
            *completed.entry(key.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(completed.len(), 500, "every item completed");
    assert!(completed.values().all(|&n| n == 1), "no item completed twice");
    let repo = open(target).await;
    let counts = repo.clone().claims(ClaimsOptions::default()).unwrap().stats().await.unwrap();
    assert_eq!((counts.total, counts.completed, counts.processing, counts.failed), (500, 500, 0, 0));
    repo.close().await.unwrap();
}

/// A worker claims 5 items with a lease that is already over when it is killed; a
/// second worker takes them over and finishes everything; the dead worker's late
/// completion, made with its own epoch, is refused and changes nothing.
async fn takeover_after_kill(target: &[&str]) {
    let mut dead = claimer(target, &["--items", "20", "--worker", "doomed", "--hold", "5", "--lease-ms", "0"]);
    let mut held = Vec::new();
    let stdout = dead.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let mut parts = line.split(' ');
        assert_eq!(parts.next(), Some("claimed"));
        let (key, epoch) = (parts.next().unwrap().to_owned(), parts.next().unwrap().parse::<i64>().unwrap());
        held.push((key, epoch));
        if held.len() == 5 {
            break;
        }
    }
    dead.kill().expect("SIGKILL");
    dead.wait().unwrap();

    let lines = outputs(vec![claimer(target, &["--items", "20", "--worker", "survivor"])]);
    assert_eq!(lines.iter().filter(|l| l.starts_with("completed ")).count(), 20, "the survivor finishes all 20");

    let repo = open(target).await;
    let ledger = repo.clone().claims(ClaimsOptions::default()).unwrap();
    for (key, epoch) in &held {
        let late = Claim {
            key: key.clone(),
            worker_id: "doomed".into(),
            epoch: *epoch,
            attempt: 1,
            lease_expires_at: waypost::time::now(),
        };
        let err = ledger.complete(&late, ItemStats::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LeaseLost, "{err}");
        let record = ledger.get(key).await.unwrap().unwrap();
        assert_eq!(record.status, ClaimStatus::Completed);
        assert_eq!(record.worker_id.as_deref(), Some("survivor"));
        assert_eq!((record.epoch, record.retry_count), (epoch + 1, 1), "the crash counted as an attempt");
    }
    repo.close().await.unwrap();
}

#[tokio::test]
async fn four_sqlite_workers_complete_each_item_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("claims.db").display());
    race(&["--url", &url]).await;
}

#[tokio::test]
async fn four_postgres_workers_complete_each_item_once() {
    let Some(url) = postgres_url().await else { return };
    let schema = fresh_schema();
    race(&["--url", &url, "--schema", &schema]).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn sqlite_items_of_a_killed_worker_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("killed.db").display());
    takeover_after_kill(&["--url", &url]).await;
}

#[tokio::test]
async fn postgres_items_of_a_killed_worker_are_taken_over() {
    let Some(url) = postgres_url().await else { return };
    let schema = fresh_schema();
    takeover_after_kill(&["--url", &url, "--schema", &schema]).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn four_mysql_workers_complete_each_item_once() {
    let Some(server) = mysql_url().await else { return };
    let (url, database) = fresh_mysql_database(&server).await;
    race(&["--url", &url]).await;
    drop_mysql_database(&server, &database).await;
}

#[tokio::test]
async fn mysql_items_of_a_killed_worker_are_taken_over() {
    let Some(server) = mysql_url().await else { return };
    let (url, database) = fresh_mysql_database(&server).await;
    takeover_after_kill(&["--url", &url]).await;
    drop_mysql_database(&server, &database).await;
}
