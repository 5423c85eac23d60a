//! Hostile-input property tests of the repository API on memory, SQLite and PostgreSQL.
//!
//! Every public method of `CheckpointRepository` (and the openers with bad options) gets
//! generated input: empty, 255/256/10,000-character and NUL-carrying names, SQL-looking
//! names and event types, negative and extreme positions, bad tokens, malformed event-id
//! text, bad identifiers. The property, per call:
//!
//! - it returns `Ok` exactly when the documented rules accept the input (names and types
//!   1–255 characters without NUL, positions ≥ 0, tokens 1–4096 characters without NUL,
//!   identifiers `[A-Za-z_][A-Za-z0-9_]*` of at most 63 bytes), else `InvalidArgument`;
//!   never a panic, never another kind;
//! - a rejected call leaves the store as it was: `get_all_checkpoints()` (and, on SQLite,
//!   the raw rows read through a connection of the test's own) compare equal before and
//!   after;
//! - an accepted write reads back exactly (every getter and the whole listing agree with
//!   a model of the store kept by the test).
//!
//! Seeded and bounded: `WAYPOST_FUZZ_CASES` (default 200) cases per method and backend,
//! `WAYPOST_FUZZ_SEED` (default 20261201) picks the inputs. Violations are collected
//! (the shortest input of each kind is kept) and listed when a backend's run ends, and
//! each run prints its counts: `fuzz: rust sqlite 2000 inputs, 830 rejected, 0 crashes`.
//! Rust strings cannot hold lone surrogates and the API is typed, so wrong types, NaN and
//! surrogates are the bindings' suites' part.

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use waypost::chrono::{DateTime, Utc};
use waypost::uuid::Uuid;
use waypost::{
    CheckpointData, CheckpointRepository, ErrorKind, EventsTable, MemoryRepository, NewEvent, PostgresOptions,
    PostgresRepository, SqliteOptions, SqliteRepository,
};

// ---------------------------------------------------------------------------------------
// Configuration and bookkeeping

fn cases() -> u32 {
    std::env::var("WAYPOST_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(200)
}

fn seed() -> u64 {
    std::env::var("WAYPOST_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20_261_201)
}

/// A runner whose inputs depend only on the seed and the label (backend and method).
fn runner(label: &str, cases: u32) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed().to_le_bytes());
    // FNV-1a of the label, so each method and backend draws its own inputs.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    bytes[8..16].copy_from_slice(&h.to_le_bytes());
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 0, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

#[derive(Default)]
struct Tally {
    inputs: u64,
    rejected: u64,
    crashes: u64,
    /// Violation kind -> (the shortest input seen, what happened, how often).
    violations: BTreeMap<String, (String, String, u64)>,
}

impl Tally {
    fn violation(&mut self, kind: String, input: String, what: String) {
        let entry = self.violations.entry(kind).or_insert_with(|| (input.clone(), what.clone(), 0));
        entry.2 += 1;
        if input.len() < entry.0.len() {
            entry.0 = input;
            entry.1 = what;
        }
    }

    fn finish(self, backend: &str, started: Instant) {
        let line = format!(
            "fuzz: rust {backend} {} inputs, {} rejected, {} crashes, {} violations ({:.1}s)",
            self.inputs,
            self.rejected,
            self.crashes,
            self.violations.len(),
            started.elapsed().as_secs_f64()
        );
        // Straight to stderr, past the test harness's capture, so `cargo test` shows it.
        let _ = writeln!(std::io::stderr(), "{line}");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.demo");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("fuzz-counts-rust.txt");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text = text
            .lines()
            .filter(|l| !l.starts_with(&format!("fuzz: rust {backend} ")))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&line);
        text.push('\n');
        let _ = std::fs::write(&file, text);
        if !self.violations.is_empty() {
            let listed: Vec<String> = self
                .violations
                .iter()
                .map(|(kind, (input, what, n))| format!("- {kind} ({n}x)\n    input: {input}\n    got: {what}"))
                .collect();
            panic!("rust {backend}: {} kinds of violation\n{}", listed.len(), listed.join("\n"));
        }
    }
}

/// Shows an input for a report: long strings are cut, NULs and quotes escaped.
fn show(s: &str) -> String {
    let n = s.chars().count();
    if n <= 48 {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(24).collect();
        format!("{head:?}…({n} chars)")
    }
}

// ---------------------------------------------------------------------------------------
// Generators

/// Names that are valid and hostile: SQL, quotes, placeholders, unicode, the limit.
fn valid_pool() -> Vec<String> {
    let mut v: Vec<String> = [
        "orders",
        "OrderProjection",
        "x\"; DROP TABLE t; --",
        "'; DELETE FROM projection_checkpoints; --",
        "Robert'); DROP TABLE students;--",
        "projection_checkpoints",
        "a b  c",
        " ",
        "$1",
        "?1",
        "%s%n",
        "\\x00",
        "ünïcödé",
        "名前",
        "emoji 🎉",
        "tab\there\nnewline",
        "\u{feff}bom",
        "\u{ffff}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push("a".repeat(255));
    v.push("é".repeat(255));
    v.push("🎉".repeat(255));
    v
}

/// A name or event type: mostly from the pool (so records are revisited), else hostile.
fn text_arg() -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(valid_pool()),
        1 => Just(String::new()),
        1 => prop_oneof![Just("a".repeat(256)), Just("é".repeat(256)), Just("🎉".repeat(256)), Just("x".repeat(10_000))],
        1 => "[a-z]{0,4}\0[a-z\0]{0,4}",
        2 => ".{1,24}",
        1 => "[\\x00-\\x7f]{0,300}",
    ]
    .boxed()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('\0') && s.chars().count() <= 255
}

fn valid_token(s: &str) -> bool {
    !s.is_empty() && !s.contains('\0') && s.chars().count() <= 4096
}

fn token_arg() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "0/16B3748".to_owned(),
            "cursor:eyJpZCI6NDJ9".to_owned(),
            "x\"; DROP TABLE t; --".to_owned(),
            "t".repeat(4096),
            "é".repeat(4096),
        ]),
        1 => Just(String::new()),
        1 => prop_oneof![Just("t".repeat(4097)), Just("é".repeat(4097)), Just("t".repeat(10_000))],
        1 => "[0-9A-F/]{0,8}\0[0-9]{0,3}",
        2 => ".{1,40}",
    ]
    .boxed()
}

fn position_arg() -> BoxedStrategy<i64> {
    prop_oneof![
        4 => 0..1_000_000i64,
        1 => prop::sample::select(vec![0, 1, i64::MAX, i64::MAX - 1, (1 << 53) - 1, (1 << 53) + 1, -1, -(1 << 53) - 1, i64::MIN]),
        2 => any::<i64>(),
    ]
    .boxed()
}

fn uuid_arg() -> BoxedStrategy<Uuid> {
    prop_oneof![4 => any::<u128>().prop_map(Uuid::from_u128), 1 => Just(Uuid::nil()), 1 => Just(Uuid::max())].boxed()
}

/// Event-id text: a valid rendering of a known id (any case and form), known-malformed
/// text (`None`: must be rejected), or random text (`Some(None)`: either is fine).
#[derive(Debug, Clone)]
enum IdText {
    Valid(String, Uuid),
    Malformed(String),
    Random(String),
}

fn id_text_arg() -> BoxedStrategy<IdText> {
    let valid = (any::<u128>(), 0..5u8).prop_map(|(n, form)| {
        let id = Uuid::from_u128(n);
        let text = match form {
            0 => id.hyphenated().to_string(),
            1 => id.hyphenated().to_string().to_uppercase(),
            2 => id.simple().to_string(),
            3 => id.braced().to_string(),
            _ => id.urn().to_string(),
        };
        IdText::Valid(text, id)
    });
    let malformed = (any::<u128>(), 0..8u8).prop_map(|(n, how)| {
        let h = Uuid::from_u128(n).hyphenated().to_string();
        IdText::Malformed(match how {
            0 => String::new(),
            1 => h[1..].to_owned(),
            2 => format!("{h}0"),
            3 => h.replacen('-', "", 1),
            4 => format!("{}g{}", &h[..5], &h[6..]),
            5 => format!("{h}\0"),
            6 => "x\"; DROP TABLE t; --".to_owned(),
            _ => "0".repeat(10_000),
        })
    });
    prop_oneof![3 => valid, 3 => malformed, 1 => ".{0,40}".prop_map(IdText::Random)].boxed()
}

fn event_types_arg() -> BoxedStrategy<Option<Vec<String>>> {
    prop_oneof![1 => Just(None), 1 => Just(Some(Vec::new())), 4 => prop::collection::vec(text_arg(), 1..4).prop_map(Some)]
        .boxed()
}

/// One call of the protocol.
#[derive(Debug, Clone)]
enum Op {
    SavePosition(String, i64, Uuid, String),
    UpdateCheckpoint(String, IdText, String),
    SavePositionToken(String, String, Uuid, String),
    GetCheckpoint(String),
    GetPosition(String),
    GetPositionToken(String),
    GetLagMetrics(String, Option<Vec<String>>),
    ResetCheckpoint(String),
    GetAllCheckpoints,
}

impl Op {
    fn describe(&self) -> String {
        match self {
            Op::SavePosition(n, p, id, t) => format!("save_position({}, {p}, {id}, {})", show(n), show(t)),
            Op::UpdateCheckpoint(n, id, t) => {
                let id = match id {
                    IdText::Valid(s, _) | IdText::Malformed(s) | IdText::Random(s) => show(s),
                };
                format!("update_checkpoint({}, parse_event_id({id}), {})", show(n), show(t))
            }
            Op::SavePositionToken(n, k, id, t) => {
                format!("save_position_token({}, {}, {id}, {})", show(n), show(k), show(t))
            }
            Op::GetCheckpoint(n) => format!("get_checkpoint({})", show(n)),
            Op::GetPosition(n) => format!("get_position({})", show(n)),
            Op::GetPositionToken(n) => format!("get_position_token({})", show(n)),
            Op::GetLagMetrics(n, types) => {
                let types = types.as_ref().map(|ts| ts.iter().map(|t| show(t)).collect::<Vec<_>>());
                format!("get_lag_metrics({}, {types:?})", show(n))
            }
            Op::ResetCheckpoint(n) => format!("reset_checkpoint({})", show(n)),
            Op::GetAllCheckpoints => "get_all_checkpoints()".to_owned(),
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Op::SavePosition(..) => "save_position",
            Op::UpdateCheckpoint(..) => "update_checkpoint",
            Op::SavePositionToken(..) => "save_position_token",
            Op::GetCheckpoint(..) => "get_checkpoint",
            Op::GetPosition(..) => "get_position",
            Op::GetPositionToken(..) => "get_position_token",
            Op::GetLagMetrics(..) => "get_lag_metrics",
            Op::ResetCheckpoint(..) => "reset_checkpoint",
            Op::GetAllCheckpoints => "get_all_checkpoints",
        }
    }

    /// `Some(true)`: the rules accept it; `Some(false)`: `InvalidArgument`; `None`: either.
    fn accepted(&self) -> Option<bool> {
        Some(match self {
            Op::SavePosition(n, p, _, t) => valid_name(n) && valid_name(t) && *p >= 0,
            Op::UpdateCheckpoint(n, id, t) => match id {
                IdText::Malformed(_) => false,
                IdText::Random(_) if valid_name(n) && valid_name(t) => return None,
                _ => valid_name(n) && valid_name(t),
            },
            Op::SavePositionToken(n, k, _, t) => valid_name(n) && valid_name(t) && valid_token(k),
            Op::GetLagMetrics(n, types) => valid_name(n) && types.iter().flatten().all(|t| valid_name(t)),
            Op::GetCheckpoint(n) | Op::GetPosition(n) | Op::GetPositionToken(n) | Op::ResetCheckpoint(n) => {
                valid_name(n)
            }
            Op::GetAllCheckpoints => true,
        })
    }
}

fn op_strategy(method: &str) -> BoxedStrategy<Op> {
    match method {
        "save_position" => (text_arg(), position_arg(), uuid_arg(), text_arg())
            .prop_map(|(n, p, id, t)| Op::SavePosition(n, p, id, t))
            .boxed(),
        "update_checkpoint" => {
            (text_arg(), id_text_arg(), text_arg()).prop_map(|(n, id, t)| Op::UpdateCheckpoint(n, id, t)).boxed()
        }
        "save_position_token" => (text_arg(), token_arg(), uuid_arg(), text_arg())
            .prop_map(|(n, k, id, t)| Op::SavePositionToken(n, k, id, t))
            .boxed(),
        "get_checkpoint" => text_arg().prop_map(Op::GetCheckpoint).boxed(),
        "get_position" => text_arg().prop_map(Op::GetPosition).boxed(),
        "get_position_token" => text_arg().prop_map(Op::GetPositionToken).boxed(),
        "get_lag_metrics" => (text_arg(), event_types_arg()).prop_map(|(n, t)| Op::GetLagMetrics(n, t)).boxed(),
        "reset_checkpoint" => text_arg().prop_map(Op::ResetCheckpoint).boxed(),
        _ => Just(Op::GetAllCheckpoints).boxed(),
    }
}

/// The order the methods run in: writes first, so that reads and resets find records.
const METHODS: [&str; 9] = [
    "save_position",
    "update_checkpoint",
    "save_position_token",
    "get_checkpoint",
    "get_position",
    "get_position_token",
    "get_lag_metrics",
    "get_all_checkpoints",
    "reset_checkpoint",
];

// ---------------------------------------------------------------------------------------
// The model and the checks

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    id: Uuid,
    event_type: String,
    position: Option<i64>,
    token: Option<String>,
    count: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Unit,
    Id(Option<Uuid>),
    Position(Option<i64>),
    Token(Option<String>),
    Lag(Option<waypost::LagMetrics>),
    All(Vec<CheckpointData>),
}

async fn execute(repo: &dyn CheckpointRepository, op: &Op) -> waypost::Result<Outcome> {
    Ok(match op {
        Op::SavePosition(n, p, id, t) => repo.save_position(n, *p, *id, t).await.map(|()| Outcome::Unit)?,
        Op::UpdateCheckpoint(n, id, t) => {
            let text = match id {
                IdText::Valid(s, _) | IdText::Malformed(s) | IdText::Random(s) => s,
            };
            let id = waypost::parse_event_id(text)?;
            repo.update_checkpoint(n, id, t).await.map(|()| Outcome::Unit)?
        }
        Op::SavePositionToken(n, k, id, t) => repo.save_position_token(n, k, *id, t).await.map(|()| Outcome::Unit)?,
        Op::GetCheckpoint(n) => Outcome::Id(repo.get_checkpoint(n).await?),
        Op::GetPosition(n) => Outcome::Position(repo.get_position(n).await?),
        Op::GetPositionToken(n) => Outcome::Token(repo.get_position_token(n).await?),
        Op::GetLagMetrics(n, types) => Outcome::Lag(repo.get_lag_metrics(n, types.as_deref()).await?),
        Op::ResetCheckpoint(n) => repo.reset_checkpoint(n).await.map(|()| Outcome::Unit)?,
        Op::GetAllCheckpoints => Outcome::All(repo.get_all_checkpoints().await?),
    })
}

/// The SQLite file's raw rows, read through a connection of the test's own.
fn raw_rows(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("raw reader opens");
    let mut stmt = conn.prepare("SELECT * FROM projection_checkpoints ORDER BY projection_name").expect("raw select");
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        let cells: Vec<String> =
            (0..columns).map(|i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap())).collect();
        Ok(cells.join("|"))
    })
    .expect("raw query")
    .map(|r| r.expect("raw row"))
    .collect()
}

struct Store {
    backend: &'static str,
    repo: Arc<dyn CheckpointRepository>,
    sqlite_path: Option<std::path::PathBuf>,
    /// How many events were appended (the stream head of SQL stores and memory alike).
    head: i64,
}

/// Compares the store with the model after an accepted call: every record's fields, and
/// the write time of the record just written.
fn compare(all: &[CheckpointData], model: &BTreeMap<String, Expected>) -> Result<(), String> {
    let names: Vec<&str> = all.iter().map(|c| c.projection_name.as_str()).collect();
    let expected: Vec<&str> = model.keys().map(String::as_str).collect();
    if names != expected {
        let shown = |v: &[&str]| v.iter().map(|n| show(n)).collect::<Vec<_>>().join(", ");
        return Err(format!("names [{}], expected [{}]", shown(&names), shown(&expected)));
    }
    for c in all {
        let e = &model[&c.projection_name];
        let got = (
            c.last_event_id,
            c.last_event_type.as_deref(),
            c.global_position,
            c.position_token.as_deref(),
            c.events_processed,
        );
        let want = (Some(e.id), Some(e.event_type.as_str()), e.position, e.token.as_deref(), e.count);
        if got != want || c.last_processed_at.is_none() {
            return Err(format!("record {}: got {got:?}, expected {want:?}", show(&c.projection_name)));
        }
    }
    Ok(())
}

fn check_result(
    store: &Store,
    model: &mut BTreeMap<String, Expected>,
    op: &Op,
    outcome: &Outcome,
    window: (DateTime<Utc>, DateTime<Utc>),
    all: &[CheckpointData],
) -> Result<(), String> {
    let name_of = |n: &String| model.get(n).cloned();
    match (op, outcome) {
        (Op::SavePosition(n, p, id, t), Outcome::Unit) => {
            let prev = name_of(n);
            model.insert(
                n.clone(),
                Expected {
                    id: *id,
                    event_type: t.clone(),
                    position: Some(*p),
                    token: prev.as_ref().and_then(|e| e.token.clone()),
                    count: prev.map_or(1, |e| e.count + 1),
                },
            );
        }
        (Op::UpdateCheckpoint(n, id, t), Outcome::Unit) => {
            let id = match id {
                IdText::Valid(_, u) => *u,
                IdText::Random(s) | IdText::Malformed(s) => waypost::parse_event_id(s).expect("accepted, so parsed"),
            };
            let prev = name_of(n);
            model.insert(
                n.clone(),
                Expected {
                    id,
                    event_type: t.clone(),
                    position: prev.as_ref().and_then(|e| e.position),
                    token: prev.as_ref().and_then(|e| e.token.clone()),
                    count: prev.map_or(1, |e| e.count + 1),
                },
            );
        }
        (Op::SavePositionToken(n, k, id, t), Outcome::Unit) => {
            let prev = name_of(n);
            model.insert(
                n.clone(),
                Expected {
                    id: *id,
                    event_type: t.clone(),
                    position: prev.as_ref().and_then(|e| e.position),
                    token: Some(k.clone()),
                    count: prev.map_or(1, |e| e.count + 1),
                },
            );
        }
        (Op::ResetCheckpoint(n), Outcome::Unit) => {
            model.remove(n);
        }
        (Op::GetCheckpoint(n), Outcome::Id(got)) => {
            let want = name_of(n).map(|e| e.id);
            if *got != want {
                return Err(format!("read {got:?}, expected {want:?}"));
            }
        }
        (Op::GetPosition(n), Outcome::Position(got)) => {
            let want = name_of(n).and_then(|e| e.position);
            if *got != want {
                return Err(format!("read {got:?}, expected {want:?}"));
            }
        }
        (Op::GetPositionToken(n), Outcome::Token(got)) => {
            let want = name_of(n).and_then(|e| e.token);
            if *got != want {
                return Err(format!("read {:?}, expected {:?}", got.as_deref().map(show), want.as_deref().map(show)));
            }
        }
        (Op::GetLagMetrics(n, _), Outcome::Lag(got)) => match (got, name_of(n)) {
            (None, None) => {}
            (Some(m), Some(e)) => {
                let behind = e.position.map(|p| (store.head - p).max(0));
                let ok = m.projection_name == *n
                    && m.events_processed == e.count
                    && m.last_event_id.as_deref() == Some(e.id.to_string().as_str())
                    && m.stream_head == Some(store.head)
                    && m.events_behind == behind
                    && m.lag_seconds.is_finite()
                    && m.lag_seconds >= 0.0;
                if !ok {
                    return Err(format!("lag {m:?} does not match {e:?} (head {})", store.head));
                }
            }
            (got, want) => return Err(format!("lag {got:?}, expected a record: {}", want.is_some())),
        },
        (Op::GetAllCheckpoints, Outcome::All(got)) => {
            if got != all {
                return Err("two listings in a row differ".into());
            }
        }
        (op, outcome) => return Err(format!("{} returned {outcome:?}", op.method())),
    }
    compare(all, model)?;
    // The record just written carries a write time from this call.
    if let Op::SavePosition(n, ..) | Op::UpdateCheckpoint(n, ..) | Op::SavePositionToken(n, ..) = op {
        let at = all.iter().find(|c| c.projection_name == *n).and_then(|c| c.last_processed_at);
        let (from, to) = (window.0 - Duration::from_secs(1), window.1 + Duration::from_secs(1));
        if !at.is_some_and(|at| at >= from && at <= to) {
            return Err(format!("last_processed_at {at:?} is not the time of the call"));
        }
    }
    Ok(())
}

/// Runs one generated call and checks the property; the tally records what happened.
fn check_call(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    model: &mut BTreeMap<String, Expected>,
    tally: &mut Tally,
    op: &Op,
) {
    tally.inputs += 1;
    let label = format!("{} {}", store.backend, op.method());
    let before = rt.block_on(store.repo.get_all_checkpoints()).expect("listing before");
    let raw_before = store.sqlite_path.as_deref().map(raw_rows);
    let started = waypost::chrono::Utc::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(execute(store.repo.as_ref(), op))));
    let ended = waypost::chrono::Utc::now();
    let result = match result {
        Ok(r) => r,
        Err(panic) => {
            tally.crashes += 1;
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            tally.violation(format!("{label}: panic"), op.describe(), what);
            return;
        }
    };
    let after = rt.block_on(store.repo.get_all_checkpoints()).expect("listing after");
    match (op.accepted(), result) {
        (Some(false), Ok(outcome)) => {
            tally.violation(format!("{label}: accepted input the rules reject"), op.describe(), format!("{outcome:?}"));
        }
        (Some(true) | None, Ok(outcome)) => {
            if let Err(what) = check_result(store, model, op, &outcome, (started, ended), &after) {
                tally.violation(format!("{label}: no exact round trip"), op.describe(), what);
                // Resynchronise the model with the store, so one violation is reported once.
                model.clear();
                for c in after {
                    model.insert(
                        c.projection_name.clone(),
                        Expected {
                            id: c.last_event_id.unwrap_or_default(),
                            event_type: c.last_event_type.unwrap_or_default(),
                            position: c.global_position,
                            token: c.position_token,
                            count: c.events_processed,
                        },
                    );
                }
            }
        }
        (accepted, Err(e)) => {
            if e.kind() == ErrorKind::InvalidArgument {
                tally.rejected += 1;
                if accepted == Some(true) {
                    tally.violation(format!("{label}: rejected valid input"), op.describe(), e.to_string());
                }
            } else {
                let kind = format!("{label}: {:?} instead of InvalidArgument", e.kind());
                tally.violation(kind, op.describe(), e.to_string());
            }
            if after != before {
                tally.violation(format!("{label}: rejected call changed the store"), op.describe(), format!("{e}"));
            }
            let raw_after = store.sqlite_path.as_deref().map(raw_rows);
            if raw_after != raw_before {
                tally.violation(format!("{label}: rejected call changed the raw rows"), op.describe(), format!("{e}"));
            }
        }
    }
}

fn fuzz_methods(rt: &tokio::runtime::Runtime, mut store: Store) {
    let started = Instant::now();
    // A few events, so that lag metrics have a stream head on every backend.
    rt.block_on(async {
        store.repo.create_events_table().await.expect("events table");
        let events: Vec<NewEvent> =
            ["OrderPlaced", "x\"; DROP TABLE t; --", "OrderShipped"].map(NewEvent::now).to_vec();
        store.repo.append_events(&events).await.expect("append events");
    });
    store.head = 3;
    let mut model = BTreeMap::new();
    let mut tally = Tally::default();
    for method in METHODS {
        let state = std::cell::RefCell::new((&mut model, &mut tally));
        let result = runner(&format!("{} {method}", store.backend), cases()).run(&op_strategy(method), |op| {
            let mut state = state.borrow_mut();
            let (model, tally) = &mut *state;
            check_call(rt, &store, model, tally, &op);
            Ok(())
        });
        result.expect("the runner itself does not fail: violations are tallied");
    }
    rt.block_on(store.repo.close()).expect("close");
    tally.finish(store.backend, started);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn fuzz_memory() {
    let rt = runtime();
    fuzz_methods(&rt, Store { backend: "memory", repo: Arc::new(MemoryRepository::new()), sqlite_path: None, head: 0 });
}

#[test]
fn fuzz_sqlite() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fuzz.db");
    let repo = rt.block_on(SqliteRepository::open(&path, SqliteOptions::default())).expect("sqlite opens");
    fuzz_methods(&rt, Store { backend: "sqlite", repo: Arc::new(repo), sqlite_path: Some(path), head: 0 });
}

#[test]
fn fuzz_postgres() {
    let rt = runtime();
    let Some(url) = rt.block_on(support::postgres_url()) else { return };
    let scratch = rt.block_on(support::Scratch::new(&url, "fuzz"));
    let options = PostgresOptions { schema: scratch.schema.clone(), max_connections: 2, ..PostgresOptions::default() };
    let repo = rt.block_on(PostgresRepository::connect(&url, options)).expect("postgres repository");
    fuzz_methods(&rt, Store { backend: "postgres", repo: Arc::new(repo), sqlite_path: None, head: 0 });
    rt.block_on(scratch.drop_schema());
}

#[test]
fn fuzz_mysql() {
    let rt = runtime();
    let Some(url) = rt.block_on(support::mysql_url()) else { return };
    let scratch = rt.block_on(support::MysqlScratch::new(&url, "fuzz"));
    let options = waypost::MysqlOptions { max_connections: 2, ..waypost::MysqlOptions::default() };
    let repo = rt.block_on(waypost::MysqlRepository::connect(&scratch.url, options)).expect("mysql repository");
    fuzz_methods(&rt, Store { backend: "mysql", repo: Arc::new(repo), sqlite_path: None, head: 0 });
    rt.block_on(scratch.drop_database());
}

// ---------------------------------------------------------------------------------------
// Openers with bad options

fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

fn ident_arg() -> BoxedStrategy<String> {
    let bad: Vec<String> = [
        "",
        "1abc",
        "x\"; DROP TABLE t; --",
        "t\"",
        "it's",
        "a b",
        "a.b",
        "public.events",
        "é",
        "a\0b",
        "; --",
        "$1",
        "[t]",
        "`t`",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("a{}", "b".repeat(63)), "x".repeat(10_000)])
    .collect();
    prop_oneof![
        4 => "[A-Za-z_][A-Za-z0-9_]{0,20}",
        1 => Just("a".repeat(63)),
        3 => prop::sample::select(bad),
        1 => ".{0,12}",
    ]
    .boxed()
}

#[derive(Debug, Clone)]
struct OpenOptions {
    schema: String,
    table: String,
    events: Option<(Option<String>, [String; 4], Option<String>)>,
}

impl OpenOptions {
    fn accepted(&self, sqlite: bool) -> bool {
        let events_ok = self.events.as_ref().is_none_or(|(schema, cols, pos)| {
            (sqlite || schema.as_deref().is_none_or(valid_ident))
                && cols.iter().all(|c| valid_ident(c))
                && pos.as_deref().is_none_or(valid_ident)
        });
        (sqlite || valid_ident(&self.schema)) && valid_ident(&self.table) && events_ok
    }

    fn events_table(&self, sqlite: bool) -> Option<EventsTable> {
        self.events.as_ref().map(|(schema, [table, id, ty, ts], pos)| EventsTable {
            schema: if sqlite { None } else { schema.clone() },
            table: table.clone(),
            event_id_column: id.clone(),
            event_type_column: ty.clone(),
            timestamp_column: ts.clone(),
            position_column: pos.clone(),
        })
    }

    fn describe(&self) -> String {
        format!(
            "schema {}, table {}, events {:?}",
            show(&self.schema),
            show(&self.table),
            self.events.as_ref().map(|(s, c, p)| (
                s.as_deref().map(show),
                c.iter().map(|x| show(x)).collect::<Vec<_>>(),
                p.as_deref().map(show)
            ))
        )
    }
}

fn open_options_arg(schema: BoxedStrategy<String>) -> BoxedStrategy<OpenOptions> {
    let cols = (ident_arg(), ident_arg(), ident_arg(), ident_arg()).prop_map(|(a, b, c, d)| [a, b, c, d]);
    let events = prop_oneof![
        1 => Just(None),
        3 => (prop::option::of(ident_arg()), cols, prop::option::of(ident_arg())).prop_map(Some),
    ];
    (schema, ident_arg(), events).prop_map(|(schema, table, events)| OpenOptions { schema, table, events }).boxed()
}

/// An opened repository must work: one write, read back exactly.
async fn round_trip(repo: &dyn CheckpointRepository) -> Result<(), String> {
    let id = Uuid::new_v4();
    repo.save_position("x\"; DROP TABLE t; --", 42, id, "T").await.map_err(|e| e.to_string())?;
    let all = repo.get_all_checkpoints().await.map_err(|e| e.to_string())?;
    let got = (repo.get_position("x\"; DROP TABLE t; --").await.map_err(|e| e.to_string())?, all.len());
    if got != (Some(42), 1) || all[0].last_event_id != Some(id) {
        return Err(format!("read back {got:?}"));
    }
    repo.close().await.map_err(|e| e.to_string())
}

#[test]
fn fuzz_open_sqlite() {
    let rt = runtime();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let tally = std::cell::RefCell::new(Tally::default());
    let n = std::cell::Cell::new(0u32);
    runner("sqlite open", cases())
        .run(&open_options_arg(Just(String::new()).boxed()), |o| {
            let mut tally = tally.borrow_mut();
            tally.inputs += 1;
            n.set(n.get() + 1);
            let path = dir.path().join(format!("open-{}.db", n.get()));
            let options = SqliteOptions {
                table: o.table.clone(),
                events_table: o.events_table(true),
                ..SqliteOptions::default()
            };
            let opened =
                std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(SqliteRepository::open(&path, options))));
            match (opened, o.accepted(true)) {
                (Err(_), _) => {
                    tally.crashes += 1;
                    tally.violation("sqlite open: panic".into(), o.describe(), String::new());
                }
                (Ok(Ok(repo)), true) => {
                    if let Err(what) = rt.block_on(round_trip(&repo)) {
                        tally.violation("sqlite open: opened store does not round-trip".into(), o.describe(), what);
                    }
                }
                (Ok(Ok(_)), false) => {
                    tally.violation("sqlite open: accepted bad options".into(), o.describe(), String::new())
                }
                (Ok(Err(e)), accepted) => {
                    tally.rejected += 1;
                    if e.kind() != ErrorKind::InvalidArgument || accepted {
                        tally.violation(
                            format!("sqlite open: {:?} (valid: {accepted})", e.kind()),
                            o.describe(),
                            e.to_string(),
                        );
                    }
                    if path.exists() {
                        tally.violation(
                            "sqlite open: rejected options created the file".into(),
                            o.describe(),
                            e.to_string(),
                        );
                    }
                }
            }
            Ok(())
        })
        .expect("violations are tallied");
    tally.into_inner().finish("sqlite-open", started);
}

#[test]
fn fuzz_open_postgres() {
    let rt = runtime();
    let started = Instant::now();
    let Some(url) = rt.block_on(support::postgres_url()) else { return };
    let scratch = rt.block_on(support::Scratch::new(&url, "fuzzopen"));
    let tally = std::cell::RefCell::new(Tally::default());
    // The schema is the scratch schema (valid) or a bad identifier, so that every schema
    // a case could create lives inside what the test drops.
    let schema =
        prop_oneof![2 => Just(scratch.schema.clone()), 1 => ident_arg().prop_filter("bad", |s| !valid_ident(s))]
            .boxed();
    let count_tables = |schema: &str| -> i64 {
        if schema.contains('\0') {
            return 0; // no catalog name holds a NUL
        }
        rt.block_on(
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
            )
            .bind(schema)
            .fetch_one(scratch.admin()),
        )
        .expect("catalog query")
    };
    let urls = ["postgres://[::1/db", "postgres://u@h:99999/db", "postgres://u@h:notaport/db"];
    runner("postgres open", cases())
        .run(&(open_options_arg(schema), 0..20usize), |(o, u)| {
            let mut tally = tally.borrow_mut();
            tally.inputs += 1;
            let bad_url = urls.get(u).copied();
            let options = PostgresOptions {
                schema: o.schema.clone(),
                table: o.table.clone(),
                events_table: o.events_table(false),
                max_connections: 1,
                ..PostgresOptions::default()
            };
            let before = (count_tables(&scratch.schema), count_tables(&o.schema));
            let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(PostgresRepository::connect(bad_url.unwrap_or(&url), options))
            }));
            let accepted = o.accepted(false) && bad_url.is_none();
            let input = format!("{} url {:?}", o.describe(), bad_url.unwrap_or("(server)"));
            match opened {
                Err(_) => {
                    tally.crashes += 1;
                    tally.violation("postgres connect: panic".into(), input, String::new());
                }
                Ok(Ok(repo)) if accepted => {
                    if let Err(what) = rt.block_on(round_trip(&repo)) {
                        tally.violation("postgres connect: opened store does not round-trip".into(), input, what);
                    }
                }
                Ok(Ok(repo)) => {
                    // connect is lazy: bad options must still fail the first call, typed.
                    let first = rt.block_on(repo.get_all_checkpoints());
                    let what = format!("{:?}", first.as_ref().map_err(|e| e.kind()));
                    tally.violation("postgres connect: accepted bad options".into(), input, what);
                }
                Ok(Err(e)) => {
                    tally.rejected += 1;
                    if e.kind() != ErrorKind::InvalidArgument || accepted {
                        tally.violation(
                            format!("postgres connect: {:?} (valid: {accepted})", e.kind()),
                            input.clone(),
                            e.to_string(),
                        );
                    }
                    if (count_tables(&scratch.schema), count_tables(&o.schema)) != before {
                        tally.violation(
                            "postgres connect: rejected options created something".into(),
                            input,
                            e.to_string(),
                        );
                    }
                }
            }
            Ok(())
        })
        .expect("violations are tallied");
    rt.block_on(scratch.drop_schema());
    tally.into_inner().finish("postgres-open", started);
}

/// `open(url)`: unknown schemes, empty paths and query strings are `InvalidArgument`;
/// `memory:` and `sqlite:` URLs in a scratch directory open and round-trip.
#[test]
fn fuzz_open_url() {
    let rt = runtime();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().to_str().expect("utf-8 tempdir").to_owned();
    let tally = std::cell::RefCell::new(Tally::default());
    let url = prop_oneof![
        1 => Just(("memory:".to_owned(), true)),
        1 => Just(("memory://".to_owned(), true)),
        2 => "[a-z0-9_]{1,12}".prop_map(move |f| (format!("sqlite:{base}/{f}.db"), true)),
        1 => prop::sample::select(vec!["sqlite:", "sqlite://", "sqlite:x.db?mode=ro", "memory", "redis://h/db", "", "MEMORY:", "x\"; DROP TABLE t; --", "postgres:/", "\0"]).prop_map(|s| (s.to_owned(), false)),
        2 => "[a-z]{0,8}:?[^:]{0,20}".prop_filter("not a store url", |s| !["memory", "sqlite", "postgres", "mysql", "mariadb"].iter().any(|p| s.starts_with(p))).prop_map(|s| (s, false)),
    ];
    runner("open url", cases())
        .run(&url, |(url, accepted)| {
            let mut tally = tally.borrow_mut();
            tally.inputs += 1;
            let opened = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(waypost::open(&url))));
            match opened {
                Err(_) => {
                    tally.crashes += 1;
                    tally.violation("open(url): panic".into(), show(&url), String::new());
                }
                Ok(Ok(repo)) if accepted => {
                    if let Err(what) = rt.block_on(round_trip(repo.as_ref())) {
                        tally.violation("open(url): opened store does not round-trip".into(), show(&url), what);
                    }
                }
                Ok(Ok(_)) => tally.violation("open(url): accepted a bad url".into(), show(&url), String::new()),
                Ok(Err(e)) => {
                    tally.rejected += 1;
                    if e.kind() != ErrorKind::InvalidArgument || accepted {
                        tally.violation(
                            format!("open(url): {:?} (valid: {accepted})", e.kind()),
                            show(&url),
                            e.to_string(),
                        );
                    }
                }
            }
            Ok(())
        })
        .expect("violations are tallied");
    tally.into_inner().finish("open-url", started);
}

/// A path with a NUL character cannot name a file: that is a bad argument (nothing to
/// retry), not an unavailable store.
#[test]
fn sqlite_path_with_nul_is_invalid_argument() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = format!("{}/a\0b.db", dir.path().display());
    let kinds: Vec<Option<ErrorKind>> = vec![
        rt.block_on(SqliteRepository::open(&path, SqliteOptions::default())).err().map(|e| e.kind()),
        rt.block_on(waypost::open(&format!("sqlite:{path}"))).err().map(|e| e.kind()),
    ];
    assert_eq!(kinds, vec![Some(ErrorKind::InvalidArgument); 2], "SqliteRepository::open / open(\"sqlite:…\\0…\")");
}
