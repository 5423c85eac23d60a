//! A writer process for the multi-process tests: `hammer --url URL [--schema S]
//! --name NAME --count N [--positions]` performs N writes to one checkpoint and prints
//! `saved K` after each write returned. With `--wait-for-go` it opens the store only
//! once a line arrives on stdin.
//!
//! With `--positions` it saves positions 1..=N (so a test can kill it and check that
//! every printed position is stored); otherwise it calls `update_checkpoint`.

use std::io::Write as _;
use std::sync::Arc;

use waypost::uuid::Uuid;
use waypost::{CheckpointRepository, PostgresOptions, PostgresRepository};

#[path = "../args.rs"]
mod args;
use args::arg;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), waypost::Error> {
    let url = arg("--url").expect("--url");
    let name = arg("--name").expect("--name");
    let count: i64 = arg("--count").and_then(|c| c.parse().ok()).expect("--count N");
    let positions = std::env::args().any(|a| a == "--positions");
    if std::env::args().any(|a| a == "--wait-for-go") {
        // A start line on stdin lets a test release several writers at the same moment.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("stdin");
    }
    let repo: Arc<dyn CheckpointRepository> = match arg("--schema") {
        Some(schema) => {
            Arc::new(PostgresRepository::connect(&url, PostgresOptions { schema, ..PostgresOptions::default() }).await?)
        }
        None => waypost::open(&url).await?,
    };
    let stdout = std::io::stdout();
    for k in 1..=count {
        if positions {
            repo.save_position(&name, k, Uuid::new_v4(), "Hammered").await?;
        } else {
            repo.update_checkpoint(&name, Uuid::new_v4(), "Hammered").await?;
        }
        let mut out = stdout.lock();
        writeln!(out, "saved {k}").and_then(|()| out.flush()).expect("stdout");
    }
    repo.close().await
}
