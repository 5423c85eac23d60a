//! The stop-resume demo, interrupted: `waypost demo process` stopped with SIGINT resumes
//! at the next event (none repeated, none skipped); killed with SIGKILL it still skips
//! none, and as each event's read-model row and checkpoint commit together, repeats none
//! either. At the end the read model holds every event once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{code, run_waypost, text, WAYPOST};

const EVENTS: i64 = 3_000;

/// Runs `demo process`, sends `signal` after `after` processed events, and returns the
/// positions it reported processing and whether it exited on its own.
fn process_until(db: &str, signal: &str, after: usize) -> (Vec<i64>, Option<i32>) {
    let mut child = Command::new(WAYPOST)
        .args(["demo", "process", "--db", db])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start demo process");
    let pid = child.id().to_string();
    let mut positions = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("✓ Processed event #") {
            let position: i64 =
                rest.split("position: ").nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
            positions.push(position);
            if positions.len() == after {
                let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
                assert!(sent.success());
            }
        }
    }
    let status = child.wait().unwrap();
    (positions, status.code())
}

fn position(db: &str) -> i64 {
    let out = run_waypost(&["demo", "status", "--db", db, "--json"], "");
    assert_eq!(code(&out), 0);
    common::json(&out)["checkpoint"].as_i64().unwrap()
}

#[test]
fn demo_resumes_exactly_after_sigint_and_skips_nothing_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db").display().to_string();
    let appended = run_waypost(&["demo", "append", "--events", &EVENTS.to_string(), "--db", &db], "");
    // Not a terminal: plain progress lines instead of a bar, then the total.
    let lines = text(&appended);
    assert_eq!(lines.lines().next(), Some("Appended 1000 of 3000 events"));
    assert_eq!(lines.lines().last(), Some(format!("Appended {EVENTS} events").as_str()));
    let status = text(&run_waypost(&["demo", "status", "--db", &db], ""));
    assert!(status.contains(&format!("Status: Not started (will process all {EVENTS} events)")), "{status}");

    // SIGINT: the event in hand is finished and checkpointed, then it stops cleanly.
    let (first, exit) = process_until(&db, "-INT", 200);
    assert_eq!(exit, Some(0), "a clean stop");
    let last = *first.last().unwrap();
    assert_eq!(first, (1..=last).collect::<Vec<_>>(), "in order from the start");
    assert_eq!(position(&db), last, "the checkpoint is the last event reported");

    // SIGKILL: no chance to finish anything.
    let (second, exit) = process_until(&db, "-KILL", 300);
    assert_eq!(exit, None, "killed");
    assert_eq!(second[0], last + 1, "resumed at the next event: none repeated, none skipped");
    let killed_at = position(&db);
    assert!(killed_at >= *second.last().unwrap(), "every reported event is checkpointed");

    let (rest, exit) = process_until(&db, "-INT", usize::MAX);
    assert_eq!(exit, Some(0));
    assert_eq!(rest[0], killed_at + 1, "after the kill: the next event, no skip, no repeat");
    assert_eq!(*rest.last().unwrap(), EVENTS);
    let status = text(&run_waypost(&["demo", "status", "--db", &db], ""));
    assert!(status.contains("Status: Caught up (all events processed)"), "{status}");

    // The read model: every event exactly once (its key is the position).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (rows, distinct, low, high): (i64, i64, i64, i64) = conn
        .query_row("SELECT count(*), count(DISTINCT position), min(position), max(position) FROM demo_users", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!((rows, distinct, low, high), (EVENTS, EVENTS, 1, EVENTS));
}

#[test]
fn demo_append_refuses_a_bad_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db").display().to_string();
    assert_eq!(code(&run_waypost(&["demo", "append", "--events", "0", "--db", &db], "")), 2);
    assert_eq!(code(&run_waypost(&["demo", "append", "--events", "many", "--db", &db], "")), 2);
}

/// On a terminal (`script` gives the command one) appending and processing show a
/// progress bar instead of one line per event.
#[test]
fn a_terminal_gets_a_progress_bar() {
    let Some(script) = ["/usr/bin/script", "/bin/script"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but util-linux's script is missing");
        eprintln!("SKIPPED: no `script` to give the demo a terminal");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tty.db").display().to_string();
    let on_terminal = |args: &str| {
        let out = Command::new(script)
            .args(["-qec", &format!("{WAYPOST} demo {args} --db {db}"), "/dev/null"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let appended = on_terminal("append --events 3000");
    assert!(appended.contains("Appending [") && appended.contains("3,000/3,000"), "{appended}");
    assert!(appended.contains("Appended 3000 events") && !appended.contains("Appended 1000 of"), "{appended}");
    let processed = on_terminal("process");
    assert!(processed.contains("Processing ["), "{processed}");
    assert!(!processed.contains("✓ Processed event #200 "), "no line per event for a long run");
    assert!(processed.contains("Stopped with the checkpoint at position 3000"), "{processed}");
}
