//! `status`, `list`, `lag`, `reset` and `claims`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use waypost::progress::{self, ProgressOptions};
use waypost::{CheckpointRepository, ClaimStatus, ClaimsOptions};

use crate::view::{self, or_dash, table};
use crate::{Failure, Outcome};

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

fn not_found(message: String) -> Failure {
    Failure::Exit(1, message)
}

pub async fn status(repo: &dyn CheckpointRepository, name: Option<&str>, stall_after: u64, json: bool) -> Outcome {
    let options = ProgressOptions { stall_after: Duration::from_secs(stall_after) };
    if let Some(name) = name {
        let p = progress::progress_of(repo, name, &options).await?;
        if json {
            print_json(&view::progress(&p));
        } else {
            println!("Projection: {}", p.projection_name);
            println!("Current checkpoint position: {}", or_dash(p.position));
            println!("Total events in store: {}", or_dash(p.stream_head));
            println!("Status: {}", p.status_line());
            println!("State: {}", p.state.as_str());
            println!("Lag: {:.1} s behind the newest event; {} events processed", p.lag_seconds, p.events_processed);
        }
        return Ok(());
    }
    let all = progress::progress_all(repo, &options).await?;
    let header = ["PROJECTION", "POSITION", "HEAD", "BEHIND", "DONE", "LAG S", "STATE", "LAST WRITE (UTC)"];
    print_checkpoints(&all, json, view::progress, &header, |p| {
        vec![
            p.projection_name.clone(),
            or_dash(p.position),
            or_dash(p.stream_head),
            or_dash(p.events_behind),
            p.percent_complete.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}%")),
            format!("{:.1}", p.lag_seconds),
            p.state.as_str().to_owned(),
            p.last_processed_at.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        ]
    });
    Ok(())
}

/// Prints a list of checkpoints: JSON, or a table (`No checkpoints.` when empty).
fn print_checkpoints<T>(
    items: &[T],
    json: bool,
    as_json: fn(&T) -> serde_json::Value,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    if json {
        print_json(&json!(items.iter().map(as_json).collect::<Vec<_>>()));
    } else if items.is_empty() {
        println!("No checkpoints.");
    } else {
        println!("{}", table(header, &items.iter().map(row).collect::<Vec<_>>()));
    }
}

pub async fn list(repo: &dyn CheckpointRepository, json: bool) -> Outcome {
    let all = repo.get_all_checkpoints().await?;
    let header = ["PROJECTION", "POSITION", "TOKEN", "EVENTS", "LAST TYPE", "LAST WRITE"];
    print_checkpoints(&all, json, view::checkpoint, &header, |c| {
        vec![
            c.projection_name.clone(),
            or_dash(c.global_position),
            or_dash(c.position_token.clone()),
            c.events_processed.to_string(),
            or_dash(c.last_event_type.clone()),
            c.last_processed_at.map_or_else(|| "-".to_owned(), |t| waypost::time::rfc3339(&t)),
        ]
    });
    Ok(())
}

pub async fn lag(repo: &dyn CheckpointRepository, name: &str, types: &[String], json: bool) -> Outcome {
    let filter = (!types.is_empty()).then_some(types);
    let Some(m) = repo.get_lag_metrics(name, filter).await? else {
        return Err(not_found(format!("no checkpoint named {name:?}")));
    };
    if json {
        print_json(&view::lag(&m));
    } else {
        println!("Projection: {}", m.projection_name);
        println!("Lag: {:.1} s", m.lag_seconds);
        println!("Events behind: {}", or_dash(m.events_behind));
        println!("Stream head: {}", or_dash(m.stream_head));
        println!("Last event: {}", or_dash(m.last_event_id.clone()));
        println!("Newest event: {}", or_dash(m.latest_event_id.clone()));
        println!("Events processed: {}", m.events_processed);
        println!("Last write: {}", or_dash(m.last_processed_at.clone()));
    }
    Ok(())
}

/// Asks on the terminal (or reads a line from a pipe); anything but y/yes declines.
fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!();
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

pub async fn reset(repo: &dyn CheckpointRepository, name: &str, yes: bool, json: bool) -> Outcome {
    waypost::validate_name("projection name", name)?;
    let Some(record) = repo.get_all_checkpoints().await?.into_iter().find(|c| c.projection_name == name) else {
        return Err(not_found(format!("no checkpoint named {name:?}; nothing removed")));
    };
    let what = format!(
        "checkpoint {name:?} (position {}, {} events processed)",
        or_dash(record.global_position),
        record.events_processed
    );
    if !yes && !confirm(&format!("Reset {what}? It will start again from the beginning.")) {
        return Err(Failure::Exit(2, "not confirmed; nothing removed (pass --yes to skip the question)".into()));
    }
    repo.reset_checkpoint(name).await?;
    if json {
        print_json(&json!({ "removed": view::checkpoint(&record) }));
    } else {
        println!("Removed {what}");
    }
    Ok(())
}

pub async fn claims(
    repo: Arc<dyn CheckpointRepository>,
    status: Option<&str>,
    table_name: &str,
    limit: u32,
    json: bool,
) -> Outcome {
    let status = status.map(ClaimStatus::parse).transpose()?;
    let ledger = repo.claims(ClaimsOptions { table: table_name.to_owned(), ..ClaimsOptions::default() })?;
    let counts = ledger.stats().await?;
    let items = ledger.list(status, limit).await?;
    if json {
        print_json(&json!({
            "counts": {
                "total": counts.total,
                "processing": counts.processing,
                "completed": counts.completed,
                "failed": counts.failed,
            },
            "items": items.iter().map(view::claim).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "{} items: {} processing, {} completed, {} failed",
        counts.total, counts.processing, counts.completed, counts.failed
    );
    if !items.is_empty() {
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|r| {
                vec![
                    r.key.clone(),
                    r.status.as_str().to_owned(),
                    r.retry_count.to_string(),
                    or_dash(r.worker_id.clone()),
                    r.epoch.to_string(),
                    or_dash(r.error_message.clone()),
                ]
            })
            .collect();
        println!("{}", table(&["ITEM", "STATUS", "RETRIES", "WORKER", "EPOCH", "ERROR"], &rows));
    }
    Ok(())
}
