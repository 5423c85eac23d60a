//! The shared conformance runner: executes the JSON cases of `tests/conformance/cases`
//! against any [`CheckpointRepository`], including one you wrote yourself.
//!
//! A case is a list of steps; each step names an operation, its arguments, and either the
//! expected result (`expect`) or the expected error kind (`error`). The Python and Node
//! bindings run the same files with their own runners; `tests/conformance/README.md`
//! describes the format.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use waypost::conformance::{load_cases, run_case};
//!
//! for case in load_cases("tests/conformance/cases".as_ref()).unwrap() {
//!     if case.applies_to("memory") {
//!         let repo = Arc::new(waypost::MemoryRepository::new());
//!         run_case(&case, repo).await.unwrap();
//!     }
//! }
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::checkpoint::{parse_event_id, CheckpointData, LagMetrics, NewEvent};
use crate::error::{Error, ErrorKind};
use crate::frontier::Frontier;
use crate::options::EventsTable;
use crate::repository::CheckpointRepository;
use crate::time;
use crate::transaction::{SqlValue, Transaction};

/// One conformance case.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
///   {"op": "save_position", "args": {"name": "orders", "position": 7,
///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// assert_eq!((cases[0].id.as_str(), cases[0].title.as_str()), ("X01", "a saved position reads back"));
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Case {
    /// `C01`, `C02`, …: the id used in `tests/conformance/README.md`.
    pub id: String,
    /// One line saying what the case pins.
    pub title: String,
    /// How the repository under test must be configured.
    pub repository: RepositorySpec,
    backends: Option<Vec<String>>,
    steps: Vec<Value>,
    claims: Value,
}

/// The repository configuration a case asks for.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
///   {"op": "save_position", "args": {"name": "orders", "position": 7,
///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// assert!(cases[0].repository.table.is_none() && cases[0].repository.open_error.is_none());
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct RepositorySpec {
    /// Checkpoint table name, when not the default.
    pub table: Option<String>,
    /// `None`: the default events table. `Some(None)`: no events table.
    /// `Some(Some(t))`: the given one.
    pub events_table: Option<Option<EventsTable>>,
    /// When set, opening the repository must fail with this kind (and the case has no steps).
    pub open_error: Option<ErrorKind>,
}

impl Case {
    /// Whether the case runs on `backend` (`"memory"`, `"sqlite"`, `"postgres"`).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// use waypost::conformance::{load_cases, run_case};
    /// use waypost::{CheckpointRepository, MemoryRepository};
    /// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
    ///   {"op": "save_position", "args": {"name": "orders", "position": 7,
    ///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
    ///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
    /// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
    /// let cases = load_cases(dir.path())?;
    /// assert!(cases[0].applies_to("sqlite"), "no backends list: every backend");
    /// # Ok::<(), String>(())
    /// # }).unwrap();
    /// ```
    pub fn applies_to(&self, backend: &str) -> bool {
        self.backends.as_ref().is_none_or(|b| b.iter().any(|x| x == backend))
    }
}

/// Reads every `*.json` case under `dir`, ordered by file name.
///
/// # Errors
/// A message naming the file when one cannot be read or parsed.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
///   {"op": "save_position", "args": {"name": "orders", "position": 7,
///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// assert_eq!(cases.len(), 1);
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let list = match value {
            Value::Array(list) => list,
            other => vec![other],
        };
        for v in list {
            cases.push(parse_case(&v).map_err(|e| format!("{}: {e}", file.display()))?);
        }
    }
    Ok(cases)
}

fn parse_case(v: &Value) -> Result<Case, String> {
    let id = v["id"].as_str().ok_or("case without id")?.to_owned();
    let title = v["title"].as_str().unwrap_or_default().to_owned();
    let backends = match &v["backends"] {
        Value::Null => None,
        b => Some(
            b.as_array()
                .ok_or(format!("{id}: backends must be a list"))?
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
    };
    let mut repository = RepositorySpec::default();
    if let Some(spec) = v.get("repository") {
        repository.table = spec.get("table").and_then(Value::as_str).map(str::to_owned);
        repository.events_table = match spec.get("events_table") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(t) => Some(Some(events_table(t))),
        };
        repository.open_error = match spec.get("open_error").and_then(Value::as_str) {
            Some(k) => Some(ErrorKind::from_name(k).ok_or(format!("{id}: unknown error kind {k}"))?),
            None => None,
        };
    }
    let steps = v.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let claims = v.get("claims").cloned().unwrap_or(Value::Null);
    Ok(Case { id, title, repository, backends, steps, claims })
}

fn events_table(v: &Value) -> EventsTable {
    let mut t = EventsTable::default();
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(x) = s("table") {
        t.table = x;
    }
    if let Some(x) = s("event_id_column") {
        t.event_id_column = x;
    }
    if let Some(x) = s("event_type_column") {
        t.event_type_column = x;
    }
    if let Some(x) = s("timestamp_column") {
        t.timestamp_column = x;
    }
    match v.get("position_column") {
        Some(Value::Null) => t.position_column = None,
        Some(Value::String(x)) => t.position_column = Some(x.clone()),
        _ => {}
    }
    t
}

/// Runs every step of `case` against `repo`.
///
/// # Errors
/// A message naming the case, the step and what differed.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
///   {"op": "save_position", "args": {"name": "orders", "position": 7,
///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// run_case(&cases[0], repo).await?;
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
pub async fn run_case(case: &Case, repo: Arc<dyn CheckpointRepository>) -> Result<(), String> {
    run_case_in(case, repo, "").await
}

/// Runs every step of `case` against `repo`, with `{ns}` in the SQL of transaction steps
/// replaced by `namespace` (a quoted schema and a dot on PostgreSQL, so that the cases'
/// tables stay in the case's own schema; empty on SQLite).
///
/// # Errors
/// A message naming the case, the step and what differed.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use waypost::conformance::{load_cases, run_case};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let case = r#"{"id": "X01", "title": "a saved position reads back", "steps": [
///   {"op": "save_position", "args": {"name": "orders", "position": 7,
///    "event_id": "00000000-0000-4000-8000-000000000001", "event_type": "OrderPlaced"}},
///   {"op": "get_position", "args": {"name": "orders"}, "expect": 7}]}"#;
/// std::fs::write(dir.path().join("01_mine.json"), case).unwrap();
/// let cases = load_cases(dir.path())?;
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// waypost::conformance::run_case_in(&cases[0], repo, "").await?; // "" : no schema to substitute for {ns}
/// # Ok::<(), String>(())
/// # }).unwrap();
/// ```
pub async fn run_case_in(case: &Case, repo: Arc<dyn CheckpointRepository>, namespace: &str) -> Result<(), String> {
    let started = time::now();
    let mut tx: Option<Transaction> = None;
    let mut frontier: Option<Frontier> = None;
    for (index, step) in case.steps.iter().enumerate() {
        let fail = |what: String| format!("{} step {} ({}): {what}", case.id, index + 1, step["op"]);
        let copies = step.get("concurrently").and_then(Value::as_u64).unwrap_or(1);
        let op = step["op"].as_str().unwrap_or_default();
        let outcome = if op.starts_with("frontier_") {
            perform_frontier(&mut frontier, step)
        } else if matches!(op, "begin" | "commit" | "rollback") || op.starts_with("tx_") {
            perform_tx(&*repo, &mut tx, step, namespace).await
        } else if copies > 1 {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..copies {
                let (repo, step) = (repo.clone(), step.clone());
                set.spawn(async move { perform(&*repo, &step).await });
            }
            let mut last = Ok(Value::Null);
            while let Some(joined) = set.join_next().await {
                last = joined.map_err(|e| fail(format!("task failed: {e}")))?;
                if last.is_err() {
                    break;
                }
            }
            last
        } else {
            perform(&*repo, step).await
        };
        check_outcome(step, outcome, started).map_err(fail)?;
    }
    Ok(())
}

/// Compares a step's outcome with its `expect` or `error`; the message says what differed.
fn check_outcome(step: &Value, outcome: Result<Value, StepError>, started: DateTime<Utc>) -> Result<(), String> {
    match (step.get("error").and_then(Value::as_str), outcome) {
        (Some(kind), Ok(v)) => Err(format!("expected a {kind} error, got {v}")),
        (Some(kind), Err(StepError::Store(e))) if e.kind().as_str() == kind => Ok(()),
        (Some(kind), Err(e)) => Err(format!("expected a {kind} error, got {e}")),
        (None, Err(e)) => Err(format!("unexpected error: {e}")),
        (None, Ok(actual)) => {
            let mut path = String::from("result");
            match step.get("expect") {
                Some(expected) if !matches(expected, &actual, started, &mut path) => {
                    Err(format!("at {path}: expected {expected}, got {actual}"))
                }
                _ => Ok(()),
            }
        }
    }
}

#[derive(Debug)]
enum StepError {
    Store(Error),
    Case(String),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Store(e) => write!(f, "{} error: {e}", e.kind()),
            StepError::Case(m) => write!(f, "malformed case: {m}"),
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Store(e)
    }
}

fn arg<'a>(step: &'a Value, key: &str) -> Result<&'a Value, StepError> {
    step["args"].get(key).ok_or_else(|| StepError::Case(format!("missing argument {key}")))
}

fn str_arg<'a>(step: &'a Value, key: &str) -> Result<&'a str, StepError> {
    arg(step, key)?.as_str().ok_or_else(|| StepError::Case(format!("{key} must be a string")))
}

fn position_arg(step: &Value) -> Result<i64, StepError> {
    position_of(step, "position")
}

/// The integer argument `key`, checked by the core's position rule.
fn position_of(step: &Value, key: &str) -> Result<i64, StepError> {
    let v = arg(step, key)?;
    let wide = v
        .as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .ok_or_else(|| StepError::Case(format!("{key} must be an integer")))?;
    Ok(crate::checkpoint::position_from_i128(wide)?)
}

/// The frontier steps: `frontier_new` (`start`, may be null), `frontier_begin` and
/// `frontier_ack` (`position`), `frontier_state` (`{committed, in_flight, start}`). A
/// runner holds one current frontier per case.
fn perform_frontier(frontier: &mut Option<Frontier>, step: &Value) -> Result<Value, StepError> {
    let op = step["op"].as_str().unwrap_or_default();
    if op == "frontier_new" {
        let start = match step["args"].get("start") {
            None | Some(Value::Null) => None,
            Some(_) => Some(position_of(step, "start")?),
        };
        *frontier = Some(Frontier::new(start)?);
        return Ok(Value::Null);
    }
    let current = frontier.as_mut().ok_or_else(|| StepError::Case(format!("{op} before frontier_new")))?;
    Ok(match op {
        "frontier_begin" => {
            current.begin(position_arg(step)?)?;
            Value::Null
        }
        "frontier_ack" => {
            current.ack(position_arg(step)?)?;
            Value::Null
        }
        "frontier_state" => json!({
            "committed": current.committed(),
            "in_flight": current.in_flight(),
            "start": current.start(),
        }),
        other => return Err(StepError::Case(format!("unknown op {other}"))),
    })
}

/// The transaction steps: `begin`, `commit`, `rollback`, `tx_execute` and `tx_fetch_all`
/// (`sql`, `params`), `tx_save_position`, `tx_update_checkpoint`, `tx_save_position_token`.
async fn perform_tx(
    repo: &dyn CheckpointRepository,
    tx: &mut Option<Transaction>,
    step: &Value,
    namespace: &str,
) -> Result<Value, StepError> {
    let op = step["op"].as_str().unwrap_or_default();
    if op == "begin" {
        *tx = Some(repo.begin().await?);
        return Ok(Value::Null);
    }
    let current = tx.as_ref().ok_or_else(|| StepError::Case(format!("{op} before begin")))?;
    let name = || str_arg(step, "name");
    let event = || -> Result<(uuid::Uuid, &str), StepError> {
        Ok((parse_event_id(str_arg(step, "event_id")?)?, str_arg(step, "event_type")?))
    };
    let statement = || -> Result<(String, Vec<SqlValue>), StepError> {
        let sql = str_arg(step, "sql")?.replace("{ns}", namespace);
        let params = match step["args"].get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.iter().map(sql_param).collect::<Result<_, _>>()?,
            Some(_) => return Err(StepError::Case("params must be a list".into())),
        };
        Ok((sql, params))
    };
    Ok(match op {
        "commit" => {
            current.commit().await?;
            Value::Null
        }
        "rollback" => {
            current.rollback().await?;
            Value::Null
        }
        "tx_execute" => {
            let (sql, params) = statement()?;
            json!(current.execute(&sql, &params).await?)
        }
        "tx_fetch_all" => {
            let (sql, params) = statement()?;
            let rows = current.fetch_all(&sql, &params).await?;
            Value::Array(
                rows.iter()
                    .map(|row| Value::Object(row.iter().map(|(k, v)| (k.clone(), sql_json(v))).collect()))
                    .collect(),
            )
        }
        "tx_save_position" => {
            let (id, ty) = event()?;
            current.save_position(name()?, position_arg(step)?, id, ty).await?;
            Value::Null
        }
        "tx_update_checkpoint" => {
            let (id, ty) = event()?;
            current.update_checkpoint(name()?, id, ty).await?;
            Value::Null
        }
        "tx_save_position_token" => {
            let (id, ty) = event()?;
            current.save_position_token(name()?, str_arg(step, "token")?, id, ty).await?;
            Value::Null
        }
        other => return Err(StepError::Case(format!("unknown transaction operation {other}"))),
    })
}

fn seconds_arg(step: &Value, key: &str) -> Result<Option<std::time::Duration>, StepError> {
    match step["args"].get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .map(Some)
            .ok_or_else(|| StepError::Case(format!("{key} must be a number of seconds"))),
    }
}

fn progress_options(step: &Value) -> Result<crate::progress::ProgressOptions, StepError> {
    let mut options = crate::progress::ProgressOptions::default();
    if let Some(d) = seconds_arg(step, "stall_after_s")? {
        options.stall_after = d;
    }
    Ok(options)
}

fn health_thresholds(step: &Value) -> Result<crate::progress::HealthThresholds, StepError> {
    let mut t = crate::progress::HealthThresholds::default();
    let count = |key: &str| step["args"].get(key).and_then(Value::as_i64);
    if let Some(n) = count("degraded_events_behind") {
        t.degraded_events_behind = n;
    }
    if let Some(n) = count("unhealthy_events_behind") {
        t.unhealthy_events_behind = n;
    }
    if let Some(d) = seconds_arg(step, "degraded_stall_s")? {
        t.degraded_stall = d;
    }
    if let Some(d) = seconds_arg(step, "unhealthy_stall_s")? {
        t.unhealthy_stall = d;
    }
    Ok(t)
}

/// A [`Progress`](crate::progress::Progress) as the cases compare it.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let p = waypost::progress::progress_of(&repo, "orders", &Default::default()).await?;
/// assert_eq!(waypost::conformance::progress_json(&p)["position"], 7);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub fn progress_json(p: &crate::progress::Progress) -> Value {
    json!({
        "projection_name": p.projection_name,
        "position": p.position,
        "stream_head": p.stream_head,
        "events_behind": p.events_behind,
        "percent_complete": p.percent_complete,
        "lag_seconds": p.lag_seconds,
        "events_processed": p.events_processed,
        "last_processed_at": p.last_processed_at.as_ref().map(time::isoformat),
        "state": p.state.as_str(),
        "status_line": p.status_line(),
    })
}

/// A JSON parameter of a case: null, boolean, integer, float or string.
fn sql_param(v: &Value) -> Result<SqlValue, StepError> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Float(n.as_f64().ok_or_else(|| StepError::Case(format!("number {n} out of range")))?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => return Err(StepError::Case(format!("unsupported parameter {other}"))),
    })
}

/// A value read by a case's query, as JSON (bytes as lowercase hex).
fn sql_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Bool(b) => json!(b),
        SqlValue::Int(i) => json!(i),
        SqlValue::Float(f) => json!(f),
        SqlValue::Text(t) => json!(t),
        SqlValue::Bytes(b) => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        SqlValue::Uuid(u) => json!(u.to_string()),
        SqlValue::Timestamp(t) => json!(time::isoformat(t)),
        SqlValue::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

async fn perform(repo: &dyn CheckpointRepository, step: &Value) -> Result<Value, StepError> {
    let op = step["op"].as_str().ok_or_else(|| StepError::Case("step without op".into()))?;
    let name = || str_arg(step, "name");
    let event = || -> Result<(uuid::Uuid, &str), StepError> {
        Ok((parse_event_id(str_arg(step, "event_id")?)?, str_arg(step, "event_type")?))
    };
    Ok(match op {
        "get_checkpoint" => json!(repo.get_checkpoint(name()?).await?.map(|u| u.to_string())),
        "update_checkpoint" => {
            let (id, ty) = event()?;
            repo.update_checkpoint(name()?, id, ty).await?;
            Value::Null
        }
        "get_position" => json!(repo.get_position(name()?).await?),
        "save_position" => {
            let (id, ty) = event()?;
            repo.save_position(name()?, position_arg(step)?, id, ty).await?;
            Value::Null
        }
        "get_position_token" => json!(repo.get_position_token(name()?).await?),
        "save_position_token" => {
            let (id, ty) = event()?;
            repo.save_position_token(name()?, str_arg(step, "token")?, id, ty).await?;
            Value::Null
        }
        "get_lag_metrics" => {
            let types: Option<Vec<String>> = match step["args"].get("event_types") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_array()
                        .ok_or_else(|| StepError::Case("event_types must be a list".into()))?
                        .iter()
                        .map(|t| t.as_str().map(str::to_owned))
                        .collect::<Option<_>>()
                        .ok_or_else(|| StepError::Case("event types must be strings".into()))?,
                ),
            };
            json!(repo.get_lag_metrics(name()?, types.as_deref()).await?.map(|m| lag_json(&m)))
        }
        "reset_checkpoint" => {
            repo.reset_checkpoint(name()?).await?;
            Value::Null
        }
        "get_all_checkpoints" => Value::Array(repo.get_all_checkpoints().await?.iter().map(data_json).collect()),
        "stream_head" => json!(repo.stream_head().await?),
        "progress" => {
            let options = progress_options(step)?;
            progress_json(&crate::progress::progress_of(repo, name()?, &options).await?)
        }
        "health" => {
            let thresholds = health_thresholds(step)?;
            let report =
                crate::progress::health_report(repo, Some(name()?), &progress_options(step)?, &thresholds).await?;
            json!({
                "status": report.status.as_str(),
                "projections": report.projections.iter().map(|h| json!({
                    "projection_name": h.projection_name, "status": h.status.as_str(), "reason": h.reason,
                })).collect::<Vec<_>>(),
            })
        }
        "create_events_table" => {
            repo.create_events_table().await?;
            Value::Null
        }
        "create_lag_index" => {
            repo.create_lag_index().await?;
            Value::Null
        }
        "append_events" => {
            let list =
                arg(step, "events")?.as_array().ok_or_else(|| StepError::Case("events must be a list".into()))?;
            let mut events = Vec::with_capacity(list.len());
            for e in list {
                let text =
                    |k: &str| e[k].as_str().ok_or_else(|| StepError::Case(format!("event {k} must be a string")));
                events.push(NewEvent {
                    event_id: parse_event_id(text("event_id")?)?,
                    event_type: text("event_type")?.to_owned(),
                    timestamp: event_time(repo, &e["at"]).await?,
                });
            }
            repo.append_events(&events).await?;
            Value::Null
        }
        other => return Err(StepError::Case(format!("unknown op {other}"))),
    })
}

/// `"now"`, an ISO 8601 string, or `{"after_checkpoint": NAME, "offset_us": N}`: that
/// checkpoint's `last_processed_at` plus N microseconds (negative for before).
async fn event_time(repo: &dyn CheckpointRepository, at: &Value) -> Result<DateTime<Utc>, StepError> {
    match at {
        Value::Null => Ok(time::now()),
        Value::String(s) if s == "now" => Ok(time::now()),
        Value::String(s) => Ok(time::parse_timestamp(s)?),
        Value::Object(o) => {
            let name = o["after_checkpoint"]
                .as_str()
                .ok_or_else(|| StepError::Case("after_checkpoint must be a name".into()))?;
            let offset =
                o["offset_us"].as_i64().ok_or_else(|| StepError::Case("offset_us must be an integer".into()))?;
            let base = repo
                .get_all_checkpoints()
                .await?
                .into_iter()
                .find(|c| c.projection_name == name)
                .and_then(|c| c.last_processed_at)
                .ok_or_else(|| StepError::Case(format!("no checkpoint time for {name}")))?;
            Ok(base + Duration::microseconds(offset))
        }
        other => Err(StepError::Case(format!("bad event time {other}"))),
    }
}

/// The JSON form of a checkpoint record that every runner produces.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let json = waypost::conformance::data_json(&repo.get_all_checkpoints().await?[0]);
/// assert_eq!(json["global_position"], 7);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub fn data_json(c: &CheckpointData) -> Value {
    json!({
        "projection_name": c.projection_name,
        "last_event_id": c.last_event_id.map(|u| u.to_string()),
        "last_event_type": c.last_event_type,
        "last_processed_at": c.last_processed_at.as_ref().map(time::isoformat),
        "events_processed": c.events_processed,
        "global_position": c.global_position,
        "position_token": c.position_token,
    })
}

/// The JSON form of lag metrics that every runner produces.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let lag = repo.get_lag_metrics("orders", None).await?.unwrap();
/// assert_eq!(waypost::conformance::lag_json(&lag)["projection_name"], "orders");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub fn lag_json(m: &LagMetrics) -> Value {
    json!({
        "projection_name": m.projection_name,
        "last_event_id": m.last_event_id,
        "latest_event_id": m.latest_event_id,
        "lag_seconds": m.lag_seconds,
        "events_processed": m.events_processed,
        "last_processed_at": m.last_processed_at,
        "stream_head": m.stream_head,
        "events_behind": m.events_behind,
    })
}

mod claims;
mod matching;

pub use claims::{claim_json, record_json, run_claims_case};
use matching::matches;
