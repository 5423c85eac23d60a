//! The stop-resume demo on an embedded SQLite file: append events, process some, stop,
//! check the status, resume exactly where it stopped.
//!
//! ```text
//! waypost demo append --events 20        # add 20 events to the events table
//! waypost demo status                    # Status: Not started (will process all 20 events)
//! waypost demo process --stop-after 5    # or press Ctrl+C: the event in hand is finished first
//! waypost demo status                    # Status: Behind by 15 events (25.0% complete)
//! waypost demo process                   # Resuming from checkpoint: position 5
//! waypost demo status                    # Status: Caught up (all events processed)
//! ```
//!
//! Each event's read-model row and the checkpoint are written in one waypost
//! transaction, so even a SIGKILL neither skips nor repeats an event.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use waypost::progress::{self, ProgressOptions};
use waypost::{CheckpointRepository, NewEvent, SqlValue, SqliteOptions, SqliteRepository};

use crate::{Failure, Outcome};

/// The demo's projection.
pub const PROJECTION: &str = "UserDirectory";
const BATCH: i64 = 100;
/// Events appended per transaction.
const APPEND_CHUNK: i64 = 1_000;

#[derive(Debug, Subcommand)]
pub enum Step {
    /// Append events to the demo's events table.
    Append {
        /// How many.
        #[arg(long, default_value_t = 20)]
        events: i64,
    },
    /// Run the projection from its checkpoint (Ctrl+C stops it cleanly).
    Process {
        /// Stop after this many events.
        #[arg(long)]
        stop_after: Option<i64>,
    },
    /// The checkpoint, the number of events and the status line.
    Status,
}

async fn open(db: &str) -> waypost::Result<SqliteRepository> {
    if let Some(dir) = std::path::Path::new(db).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| waypost::Error::InvalidArgument {
            message: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let repo = SqliteRepository::open(db, SqliteOptions::default()).await?;
    repo.create_events_table().await?;
    let tx = repo.begin().await?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS demo_users (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL, name TEXT NOT NULL)",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(repo)
}

/// A bar on a terminal; plain lines (the caller's) otherwise.
fn bar(len: u64, what: &str) -> Option<ProgressBar> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} ({eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}

pub async fn run(step: Step, db: &str, json: bool) -> Outcome {
    let repo = open(db).await?;
    let outcome = match step {
        Step::Append { events } => append(&repo, events).await,
        Step::Process { stop_after } => process(&repo, stop_after).await,
        Step::Status => status(&repo, json).await,
    };
    repo.close().await?;
    outcome
}

async fn append(repo: &SqliteRepository, count: i64) -> Outcome {
    if !(1..=10_000_000).contains(&count) {
        return Err(Failure::Exit(2, format!("--events takes 1 to 10,000,000, got {count}")));
    }
    let bar = bar(count as u64, "Appending");
    let mut done = 0;
    while done < count {
        let n = APPEND_CHUNK.min(count - done);
        let events: Vec<NewEvent> = (0..n).map(|_| NewEvent::now("UserRegistered")).collect();
        repo.append_events(&events).await?;
        done += n;
        match &bar {
            Some(bar) => bar.set_position(done as u64),
            None if count > APPEND_CHUNK => println!("Appended {done} of {count} events"),
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("Appended {count} events");
    Ok(())
}

async fn process(repo: &SqliteRepository, stop_after: Option<i64>) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::SeqCst);
        }
    });

    let mut position = match repo.get_position(PROJECTION).await? {
        None => {
            println!("Starting fresh (no checkpoint found)");
            0
        }
        Some(p) => {
            println!("Resuming from checkpoint: position {p}");
            p
        }
    };
    println!("Processing events... (Press Ctrl+C to stop)");
    let head = repo.stream_head().await?.unwrap_or(0);
    let bar = bar((head - position).max(0) as u64, "Processing");
    let mut processed = 0;
    'outer: loop {
        let tx = repo.begin().await?;
        let batch = tx
            .fetch_all(
                "SELECT global_position, event_id, event_type FROM events WHERE global_position > $1 \
                 ORDER BY global_position LIMIT $2",
                &[SqlValue::Int(position), SqlValue::Int(BATCH)],
            )
            .await?;
        tx.rollback().await?;
        if batch.is_empty() {
            break;
        }
        for row in batch {
            if stop.load(Ordering::SeqCst) || stop_after.is_some_and(|n| processed >= n) {
                break 'outer;
            }
            let [(_, SqlValue::Int(event_position)), (_, SqlValue::Text(event_id)), (_, SqlValue::Text(event_type))] =
                row.as_slice()
            else {
                return Err(Failure::Exit(4, format!("unexpected event row {row:?}")));
            };
            let name = format!("User {event_position}");
            let id = waypost::parse_event_id(event_id)?;
            // The read-model row and the checkpoint commit together: a kill at any point
            // leaves both before this event or both after it.
            let tx = repo.begin().await?;
            tx.execute(
                "INSERT INTO demo_users (position, event_id, name) VALUES ($1, $2, $3)",
                &[SqlValue::Int(*event_position), SqlValue::Text(event_id.clone()), SqlValue::Text(name.clone())],
            )
            .await?;
            tx.save_position(PROJECTION, *event_position, id, event_type).await?;
            tx.commit().await?;
            processed += 1;
            position = *event_position;
            let line =
                format!("✓ Processed event #{processed} (position: {event_position}, id: {}): {name}", &event_id[..8]);
            match &bar {
                Some(bar) => {
                    bar.inc(1);
                    if head <= 100 {
                        bar.println(line);
                    }
                }
                None => println!("{line}"),
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if stop.load(Ordering::SeqCst) {
        println!("Interrupted: the checkpoint is saved");
    }
    println!("Stopped with the checkpoint at position {position} ({processed} events this run)");
    Ok(())
}

async fn status(repo: &SqliteRepository, json: bool) -> Outcome {
    let p = progress::progress_of(repo, PROJECTION, &ProgressOptions::default()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&crate::view::progress(&p)).unwrap_or_default());
        return Ok(());
    }
    println!("Current checkpoint position: {}", p.position.unwrap_or(0));
    println!("Total events in store: {}", p.stream_head.unwrap_or(0));
    println!("Status: {}", p.status_line());
    Ok(())
}
