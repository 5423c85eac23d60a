//! Several processes on one store: writes from N processes count exactly, and a writer
//! killed with SIGKILL never loses a write that had returned.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use waypost::{CheckpointRepository, PostgresOptions, PostgresRepository};

mod common;

use common::{drop_schema, fresh_schema, postgres_url};

const HAMMER: &str = env!("CARGO_BIN_EXE_hammer");

fn spawn(args: &[&str]) -> Child {
    Command::new(HAMMER).args(args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start hammer")
}

fn finish(children: Vec<Child>) {
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "a writer failed: {:?}", out.status);
    }
}

/// Starts a writer of positions 1, 2, 3, …, lets it confirm `after` of them, kills it
/// with SIGKILL, and returns the last position it had confirmed.
fn kill_after(args: &[&str], after: i64) -> i64 {
    let mut child = spawn(args);
    let stdout = child.stdout.take().expect("stdout");
    let mut last = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read");
        last = line.strip_prefix("saved ").and_then(|k| k.parse().ok()).expect("saved K");
        if last >= after {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    child.wait().expect("reap");
    last
}

#[tokio::test]
async fn four_sqlite_processes_count_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shared.db").display());
    // No table yet: the four first opens race to create it.
    let children = (0..4).map(|_| spawn(&["--url", &url, "--name", "hot", "--count", "50"])).collect();
    finish(children);
    let repo = waypost::open(&url).await.unwrap();
    let all = repo.get_all_checkpoints().await.unwrap();
    assert_eq!(
        all.iter().map(|c| (c.projection_name.as_str(), c.events_processed)).collect::<Vec<_>>(),
        [("hot", 200)]
    );
}

#[tokio::test]
async fn four_postgres_processes_count_every_write() {
    let Some(url) = postgres_url().await else { return };
    let schema = fresh_schema();
    let children =
        (0..4).map(|_| spawn(&["--url", &url, "--schema", &schema, "--name", "hot", "--count", "50"])).collect();
    finish(children);
    let options = PostgresOptions { schema: schema.clone(), ..Default::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    let all = repo.get_all_checkpoints().await.unwrap();
    assert_eq!(
        all.iter().map(|c| (c.projection_name.as_str(), c.events_processed)).collect::<Vec<_>>(),
        [("hot", 200)]
    );
    repo.close().await.unwrap();
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_killed_sqlite_writer_loses_no_returned_write() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("killed.db").display());
    let confirmed = kill_after(&["--url", &url, "--name", "p", "--count", "1000000", "--positions"], 200);
    let repo = waypost::open(&url).await.unwrap();
    let stored = repo.get_position("p").await.unwrap().expect("a position was saved");
    // The writer may have saved one more after its last line was read, never fewer.
    assert!(stored >= confirmed, "stored {stored} < confirmed {confirmed}");
    let count = repo.get_all_checkpoints().await.unwrap()[0].events_processed;
    assert_eq!(count, stored, "every saved position was one whole write");
}

#[tokio::test]
async fn a_killed_postgres_writer_loses_no_returned_write() {
    let Some(url) = postgres_url().await else { return };
    let schema = fresh_schema();
    let confirmed =
        kill_after(&["--url", &url, "--schema", &schema, "--name", "p", "--count", "1000000", "--positions"], 200);
    let options = PostgresOptions { schema: schema.clone(), ..Default::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    let stored = repo.get_position("p").await.unwrap().expect("a position was saved");
    assert!(stored >= confirmed, "stored {stored} < confirmed {confirmed}");
    assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, stored);
    repo.close().await.unwrap();
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn eight_processes_opening_a_new_sqlite_file_at_once_all_succeed() {
    // Each first open switches the new file to WAL; SQLite fails all but one of the
    // racing switches at once (a lock deadlock), and the repository must retry them.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join(format!("new-{round}.db")).display());
        let mut children: Vec<Child> = (0..8)
            .map(|_| {
                Command::new(HAMMER)
                    .args(["--url", &url, "--name", "hot", "--count", "5", "--wait-for-go"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start hammer")
            })
            .collect();
        // All eight are running and waiting: release them together.
        for child in &mut children {
            use std::io::Write as _;
            child.stdin.take().expect("stdin").write_all(b"go\n").expect("go");
        }
        finish(children);
        let repo = waypost::open(&url).await.unwrap();
        assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 40);
    }
}
