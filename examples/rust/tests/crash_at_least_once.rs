//! At-least-once under SIGKILL: a projection saving its checkpoint every 100 events,
//! without a transaction, is killed at 20 pseudo-random moments and restarted each time.
//! After every kill it never skips an event, and of the events it had recorded it handles
//! again at most 99 (the event being handled at the kill is handled again under any
//! strategy).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{drop_schema, fresh_schema, postgres_url};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const EVENTS: i64 = 10_000;
const KILLS: usize = 20;

/// One run: the position it resumed from, the last event it applied, the last one whose
/// `record` returned, whether it finished.
fn run(target: &[&str], kill_after: Option<usize>) -> (i64, i64, i64, bool) {
    let mut child = Command::new(PROJECTOR)
        .args(target)
        .args(["--events", &EVENTS.to_string(), "--every", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start projector");
    let stdout = child.stdout.take().unwrap();
    let (mut resume, mut last, mut recorded, mut applied, mut done) = (0, 0, 0, 0usize, false);
    // Read to the end: after the kill, the lines the process wrote before it died are
    // still in the pipe, and each is an event it applied.
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("resume ") {
            resume = p.parse().unwrap();
        } else if let Some(p) = line.strip_prefix("applied ") {
            last = p.parse().unwrap();
            applied += 1;
            if kill_after == Some(applied) {
                child.kill().expect("SIGKILL");
            }
        } else if let Some(p) = line.strip_prefix("recorded ") {
            recorded = p.parse().unwrap();
        } else if line == "done" {
            done = true;
        }
    }
    child.wait().unwrap();
    (resume, last, recorded, done)
}

fn crash_loop(target: &[&str]) {
    // A fixed pseudo-random sequence: kill after 1 to 400 applied events, so that all 20
    // kills land before the 10,000th event.
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let (mut previous_last, mut previous_recorded) = (0, 0);
    for kill in 0..=KILLS {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let kill_after = if kill < KILLS { Some(1 + (seed >> 33) as usize % 400) } else { None };
        let (resume, last, recorded, done) = run(target, kill_after);
        // Never skips: it resumes at or before the event after the last one applied.
        assert!(resume <= previous_last + 1, "run {kill}: resumed at {resume} after applying {previous_last}");
        // Of the recorded events, at most 99 are handled again.
        let reapplied = (previous_recorded - resume + 1).max(0);
        assert!(reapplied <= 99, "run {kill}: handles {reapplied} recorded events again");
        (previous_last, previous_recorded) = (last.max(previous_last), recorded.max(previous_recorded));
        if kill == KILLS {
            assert!(done && last == EVENTS, "the last run finishes: done={done}, last={last}");
        } else {
            assert!(!done, "run {kill} was killed before it finished");
        }
    }
}

#[test]
fn sqlite_projection_survives_20_kills_at_least_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("projection.db").display());
    crash_loop(&["--url", &url]);
}

#[tokio::test]
async fn postgres_projection_survives_20_kills_at_least_once() {
    let Some(url) = postgres_url().await else { return };
    let schema = fresh_schema();
    let target = ["--url", url.as_str(), "--schema", schema.as_str()];
    tokio::task::spawn_blocking({
        let target: Vec<String> = target.iter().map(|s| s.to_string()).collect();
        move || crash_loop(&target.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    drop_schema(&url, &schema).await;
}
