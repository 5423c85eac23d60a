//! A projection process for the crash tests: `projector --url URL [--schema S] --events N
//! --every K` handles events 1..=N after its saved position, prints `applied P` for each
//! (its read model, as far as a test is concerned, is that output), records each with a
//! `Checkpointer` saving every K events, and prints `recorded P` once `record` returned. A test kills it at random moments and starts
//! it again; `done` is printed once every event is handled and saved.

use std::io::Write as _;
use std::sync::Arc;

use waypost::uuid::Uuid;
use waypost::{CheckpointRepository, Checkpointer, PostgresOptions, PostgresRepository, Strategy};

#[path = "../args.rs"]
mod args;
use args::arg;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), waypost::Error> {
    let url = arg("--url").expect("--url");
    let events: i64 = arg("--events").and_then(|c| c.parse().ok()).expect("--events N");
    let every: u32 = arg("--every").and_then(|c| c.parse().ok()).expect("--every K");
    let repo: Arc<dyn CheckpointRepository> = match arg("--schema") {
        Some(schema) => {
            Arc::new(PostgresRepository::connect(&url, PostgresOptions { schema, ..PostgresOptions::default() }).await?)
        }
        None => waypost::open(&url).await?,
    };
    let start = repo.get_position("Projector").await?.map_or(1, |p| p + 1);
    let stdout = std::io::stdout();
    {
        let mut out = stdout.lock();
        writeln!(out, "resume {start}").and_then(|()| out.flush()).expect("stdout");
    }
    let checkpoints = Checkpointer::new(repo.clone(), "Projector", Strategy::Every(every))?;
    for position in start..=events {
        {
            let mut out = stdout.lock();
            writeln!(out, "applied {position}").and_then(|()| out.flush()).expect("stdout");
        }
        checkpoints.record(position, Uuid::new_v4(), "Event").await?;
        let mut out = stdout.lock();
        writeln!(out, "recorded {position}").and_then(|()| out.flush()).expect("stdout");
    }
    checkpoints.close().await?;
    let mut out = stdout.lock();
    writeln!(out, "done").and_then(|()| out.flush()).expect("stdout");
    drop(out);
    repo.close().await
}
