//! The waypost protocol in one page: save, resume, inspect lag, list, reset.
//!
//! `cargo run -p waypost-examples --bin quickstart` uses an in-memory repository;
//! set `WAYPOST_URL` (`sqlite:checkpoints.db`, `postgres://…`) to use another store.

use waypost::uuid::Uuid;
use waypost::NewEvent;

#[tokio::main]
async fn main() -> Result<(), waypost::Error> {
    // --8<-- [start:open]
    let url = std::env::var("WAYPOST_URL").unwrap_or_else(|_| "memory:".into());
    let repo = waypost::open(&url).await?; // memory:, sqlite:PATH, postgres://…, mysql://…
                                           // --8<-- [end:open]

    // --8<-- [start:resume]
    // On start: resume after the last saved position (or from the beginning).
    let resume_from = repo.get_position("OrderProjection").await?.map_or(1, |p| p + 1);
    println!("resume from position {resume_from}");

    // After handling each event: save its position (an UPSERT, safe to repeat).
    let events: Vec<(i64, Uuid)> = (resume_from..resume_from + 3).map(|p| (p, Uuid::new_v4())).collect();
    for (position, event_id) in &events {
        repo.save_position("OrderProjection", *position, *event_id, "OrderPlaced").await?;
    }
    println!("saved position {}", repo.get_position("OrderProjection").await?.unwrap_or_default());
    // --8<-- [end:resume]

    // --8<-- [start:lag]
    // Lag: how far the projection is behind the newest event in the events table.
    repo.create_events_table().await?;
    let events: Vec<NewEvent> = (0..5).map(|_| NewEvent::now("OrderPlaced")).collect();
    repo.append_events(&events).await?;
    if let Some(lag) = repo.get_lag_metrics("OrderProjection", None).await? {
        println!(
            "lag {:.1}s, stream head {:?}, events behind {:?}, events processed {}",
            lag.lag_seconds, lag.stream_head, lag.events_behind, lag.events_processed
        );
    }
    // --8<-- [end:lag]

    for checkpoint in repo.get_all_checkpoints().await? {
        println!(
            "{}: position {:?}, {} events processed, last at {:?}",
            checkpoint.projection_name,
            checkpoint.global_position,
            checkpoint.events_processed,
            checkpoint.last_processed_at.map(|t| waypost::time::isoformat(&t))
        );
    }

    // Bad input is a typed error and writes nothing.
    let err = repo.save_position("OrderProjection", -1, Uuid::new_v4(), "OrderPlaced").await.unwrap_err();
    println!("rejected: {err} (kind {})", err.kind());

    repo.reset_checkpoint("OrderProjection").await?;
    println!("after reset: {:?}", repo.get_position("OrderProjection").await?);
    repo.close().await
}
