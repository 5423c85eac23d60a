//! A worker process for the claims tests and benchmark: `claimer --url URL [--schema S]
//! --items N --worker W [--lease-ms L] [--start S] [--hold K]` walks items `item-0000` …
//! (from `item-S`, wrapping around) and, for
//! each it can claim, prints `claimed KEY EPOCH`, completes it and prints `completed KEY`.
//! At the end it prints `rate R claims/s` on stderr.
//!
//! With `--hold K` it claims K items, prints them, and then waits on stdin without
//! completing anything (a test kills it there).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use waypost::{CheckpointRepository, ClaimsOptions, ItemStats, PostgresOptions, PostgresRepository};

fn say(line: String) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).expect("stdout");
}

#[path = "../args.rs"]
mod args;
use args::arg;

/// Runs `call` again while the store is `Unavailable` (an SQLite file locked past the
/// busy timeout by the other workers, on a loaded machine), as a worker would: such a
/// call changed nothing. Up to five attempts, backing off.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, waypost::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, waypost::Error>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.kind() == waypost::ErrorKind::Unavailable && attempt < 5 => {
                eprintln!("retrying after: {e}");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), waypost::Error> {
    let url = arg("--url").expect("--url");
    let items: usize = arg("--items").and_then(|c| c.parse().ok()).expect("--items N");
    let worker = arg("--worker").expect("--worker");
    let lease = Duration::from_millis(arg("--lease-ms").and_then(|c| c.parse().ok()).unwrap_or(60_000));
    let hold: Option<usize> = arg("--hold").and_then(|c| c.parse().ok());
    let first: usize = arg("--start").and_then(|c| c.parse().ok()).unwrap_or(0);
    let repo: Arc<dyn CheckpointRepository> = match arg("--schema") {
        Some(schema) => {
            Arc::new(PostgresRepository::connect(&url, PostgresOptions { schema, ..PostgresOptions::default() }).await?)
        }
        None => waypost::open(&url).await?,
    };
    let ledger = repo.clone().claims(ClaimsOptions::default())?;
    let start = Instant::now();
    let mut claimed = 0usize;
    for n in 0..items {
        let key = format!("item-{:04}", (first + n) % items);
        let claim = retrying(|| ledger.claim(&key, "demo", waypost::time::now(), &worker, lease)).await?;
        let Some(claim) = claim else { continue };
        claimed += 1;
        say(format!("claimed {key} {}", claim.epoch));
        if hold.is_some() {
            if hold == Some(claimed) {
                break;
            }
            continue;
        }
        let stats = ItemStats { records_total: 1, records_persisted: 1, ..ItemStats::default() };
        retrying(|| ledger.complete(&claim, stats)).await?;
        say(format!("completed {key}"));
    }
    if hold.is_some() {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("stdin");
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("rate {:.0} claims/s ({claimed} claimed and completed by {worker})", claimed as f64 / seconds);
    repo.close().await
}
