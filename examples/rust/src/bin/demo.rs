//! The stop-resume demo on an embedded SQLite file: append events, process some, stop,
//! check status, resume exactly where it stopped.
//!
//! ```text
//! demo append --events 20        # add 20 events to the events table
//! demo status                    # Status: Not started (will process all 20 events)
//! demo process --stop-after 5    # or press Ctrl+C: the checkpoint is saved first
//! demo status                    # Status: Behind by 15 events (25.0% complete)
//! demo process                   # Resuming from checkpoint: position 5
//! demo status                    # Status: Caught up (all events processed)
//! ```
//!
//! The file is `--db PATH`, else `WAYPOST_DEMO_DB`, else `waypost-demo.db`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use waypost::{CheckpointRepository, NewEvent, SqliteOptions, SqliteRepository};

const PROJECTION: &str = "UserDirectory";
const BATCH: i64 = 100;

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn number(name: &str) -> Option<i64> {
    flag(name).map(|v| v.parse().unwrap_or_else(|_| usage(&format!("{name} takes a whole number"))))
}

/// The first argument that is neither a `--flag` nor a flag's value.
fn mode() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a.starts_with("--") {
            args.next();
        } else {
            return Some(a);
        }
    }
    None
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: demo append --events N | process [--stop-after N] | status  [--db PATH]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let db = flag("--db").or_else(|| std::env::var("WAYPOST_DEMO_DB").ok()).unwrap_or_else(|| "waypost-demo.db".into());
    if let Some(dir) = std::path::Path::new(&db).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| usage(&format!("cannot create {}: {e}", dir.display())));
    }
    let result = match mode().as_deref() {
        Some("append") => append(&db, number("--events").unwrap_or(20)).await,
        Some("process") => process(&db, number("--stop-after")).await,
        Some("status") => status(&db).await,
        _ => usage("missing or unknown mode"),
    };
    if let Err(e) = result {
        eprintln!("error ({}): {e}", e.kind());
        std::process::exit(1);
    }
}

async fn open(db: &str) -> waypost::Result<SqliteRepository> {
    let repo = SqliteRepository::open(db, SqliteOptions::default()).await?;
    repo.create_events_table().await?;
    Ok(repo)
}

/// The projection's own connection: its read model lives in the same file.
fn read_model(db: &str) -> Connection {
    let conn = Connection::open(db).expect("open the demo database");
    conn.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS demo_users (position INTEGER PRIMARY KEY, event_id TEXT NOT NULL, name TEXT NOT NULL)")
        .expect("create the read model");
    conn
}

async fn append(db: &str, count: i64) -> waypost::Result<()> {
    let repo = open(db).await?;
    let events: Vec<NewEvent> = (0..count).map(|_| NewEvent::now("UserRegistered")).collect();
    repo.append_events(&events).await?;
    println!("Appended {count} events");
    repo.close().await
}

async fn process(db: &str, stop_after: Option<i64>) -> waypost::Result<()> {
    let repo = open(db).await?;
    let conn = read_model(db);
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
    let mut processed = 0;
    'outer: loop {
        let batch: Vec<(i64, String, String)> = {
            let mut st = conn
                .prepare_cached("SELECT global_position, event_id, event_type FROM events WHERE global_position > ?1 ORDER BY global_position LIMIT ?2")
                .expect("read events");
            st.query_map(params![position, BATCH], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .expect("read events")
        };
        if batch.is_empty() {
            println!("Caught up: no more events");
            break;
        }
        for (event_position, event_id, event_type) in batch {
            if stop.load(Ordering::SeqCst) || stop_after.is_some_and(|n| processed >= n) {
                break 'outer;
            }
            let name = format!("User {event_position}");
            // The read-model write is idempotent (keyed by position), so an event
            // re-applied after a crash between these two writes does no harm.
            conn.execute(
                "INSERT OR REPLACE INTO demo_users (position, event_id, name) VALUES (?1, ?2, ?3)",
                params![event_position, event_id, name],
            )
            .expect("update the read model");
            let id = waypost::parse_event_id(&event_id)?;
            repo.save_position(PROJECTION, event_position, id, &event_type).await?;
            processed += 1;
            position = event_position;
            println!("✓ Processed event #{processed} (position: {event_position}, id: {}): {name}", &event_id[..8]);
        }
    }
    println!("Stopped with the checkpoint at position {position} ({processed} events this run)");
    repo.close().await
}

async fn status(db: &str) -> waypost::Result<()> {
    let repo = open(db).await?;
    let total: i64 = read_model(db)
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .optional()
        .expect("count events")
        .unwrap_or(0);
    let position = repo.get_position(PROJECTION).await?;
    println!("Current checkpoint position: {}", position.unwrap_or(0));
    println!("Total events in store: {total}");
    let line = match (position, repo.get_lag_metrics(PROJECTION, None).await?) {
        (None, _) | (_, None) => format!("Not started (will process all {total} events)"),
        (Some(_), Some(lag)) => match lag.events_behind {
            Some(behind) if behind > 0 => {
                let done = lag.stream_head.map_or(0.0, |head| (head - behind) as f64 * 100.0 / head as f64);
                format!("Behind by {behind} events ({done:.1}% complete)")
            }
            _ => "Caught up (all events processed)".to_owned(),
        },
    };
    println!("Status: {line}");
    if let Some(lag) = repo.get_lag_metrics(PROJECTION, None).await? {
        println!("Lag: {:.1} s behind the newest event; {} events processed", lag.lag_seconds, lag.events_processed);
    }
    repo.close().await
}
