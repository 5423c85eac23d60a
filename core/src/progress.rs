//! Progress and health: how far each projection is, in the words operators read
//! (`Behind by 15 events (25.0% complete)`), and whether that is healthy. Decided here
//! once, so the CLI, the HTTP endpoints and every binding give the same answers.
//!
//! A projection's [`ProgressState`]:
//!
//! | state | when |
//! |---|---|
//! | `NotStarted` | no checkpoint |
//! | `CatchingUp` | behind the stream head (or the newest event), and it wrote within `stall_after` |
//! | `Stalled` | behind, and no write for `stall_after` or longer |
//! | `CaughtUp` | nothing left to process, and it wrote within `stall_after` |
//! | `Idle` | nothing left to process, and nothing written for `stall_after`: a quiet stream, not a fault |
//!
//! "Behind" means `events_behind > 0` where the stream head is known, else a positive
//! `lag_seconds` (an events table without positions). An idle, caught-up projection is
//! healthy however old its last write is.
//!
//! ```
//! use waypost::progress::{evaluate, ProgressOptions, ProgressState};
//! # let now = waypost::time::now();
//! let p = evaluate("orders", None, None, Some(20), now, &ProgressOptions::default());
//! assert_eq!(p.state, ProgressState::NotStarted);
//! assert_eq!(p.status_line(), "Not started (will process all 20 events)");
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::checkpoint::{CheckpointData, LagMetrics};
use crate::error::Result;
use crate::repository::CheckpointRepository;
use crate::time;

/// Where a projection stands; see the [module docs](self).
///
/// # Examples
/// ```
/// use waypost::progress::ProgressState;
/// assert_eq!(ProgressState::CaughtUp.as_str(), "CaughtUp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// No checkpoint yet.
    NotStarted,
    /// Behind, and making progress.
    CatchingUp,
    /// Nothing left to process, written recently.
    CaughtUp,
    /// Nothing left to process, nothing written for a while: a quiet stream.
    Idle,
    /// Behind, and no progress for `stall_after` or longer.
    Stalled,
}

impl ProgressState {
    /// `NotStarted`, `CatchingUp`, `CaughtUp`, `Idle` or `Stalled`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::progress::ProgressState::Stalled.as_str(), "Stalled");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressState::NotStarted => "NotStarted",
            ProgressState::CatchingUp => "CatchingUp",
            ProgressState::CaughtUp => "CaughtUp",
            ProgressState::Idle => "Idle",
            ProgressState::Stalled => "Stalled",
        }
    }
}

/// How progress is judged.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let options = waypost::progress::ProgressOptions { stall_after: Duration::from_secs(300) };
/// assert_eq!(waypost::progress::ProgressOptions::default().stall_after, Duration::from_secs(60));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressOptions {
    /// A projection that is behind and has not written for this long is `Stalled`; one
    /// that is caught up and quiet for this long is `Idle`. Default 60 s.
    pub stall_after: Duration,
}

impl Default for ProgressOptions {
    fn default() -> Self {
        ProgressOptions { stall_after: Duration::from_secs(60) }
    }
}

/// One projection's progress.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{progress::{progress_of, ProgressOptions}, CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 5, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let p = progress_of(&repo, "orders", &ProgressOptions::default()).await?;
/// assert_eq!((p.position, p.events_processed), (Some(5), 1));
/// assert!(p.is_caught_up(), "no events table: nothing known to be left");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The projection name.
    pub projection_name: String,
    /// The saved global position (0 when not started; `None` for a checkpoint without
    /// one, e.g. `update_checkpoint` only).
    pub position: Option<i64>,
    /// The largest global position in the events table, when known.
    pub stream_head: Option<i64>,
    /// `max(0, stream_head − position)`, when both are known.
    pub events_behind: Option<i64>,
    /// `position / stream_head × 100` (0–100, one decimal); 100 when caught up or when
    /// the stream is empty; `None` when it cannot be known.
    pub percent_complete: Option<f64>,
    /// Seconds between the checkpoint's last write and the newest event (0 when caught up).
    pub lag_seconds: f64,
    /// The checkpoint's last write.
    pub last_processed_at: Option<DateTime<Utc>>,
    /// How many events the checkpoint has counted.
    pub events_processed: i64,
    /// Seconds since the last write (at the time of evaluation).
    pub idle_seconds: Option<f64>,
    /// Where the projection stands.
    pub state: ProgressState,
}

impl Progress {
    /// Whether there is nothing left to process.
    ///
    /// # Examples
    /// ```
    /// use waypost::progress::{evaluate, ProgressOptions};
    /// let p = evaluate("orders", None, None, Some(3), waypost::time::now(), &ProgressOptions::default());
    /// assert!(!p.is_caught_up(), "not started, 3 events waiting");
    /// ```
    pub fn is_caught_up(&self) -> bool {
        matches!(self.state, ProgressState::CaughtUp | ProgressState::Idle)
    }

    /// The status line in the stop-resume demo's words: `Not started (will process all 20
    /// events)`, `Behind by 15 events (25.0% complete)`, `Caught up (all events
    /// processed)`; a stall adds `, no progress for 2m 5s`.
    ///
    /// # Examples
    /// ```
    /// use waypost::progress::{evaluate, ProgressOptions};
    /// let p = evaluate("orders", None, None, Some(20), waypost::time::now(), &ProgressOptions::default());
    /// assert_eq!(p.status_line(), "Not started (will process all 20 events)");
    /// ```
    pub fn status_line(&self) -> String {
        let behind = match (self.events_behind, self.percent_complete) {
            (Some(n), Some(pct)) => format!("Behind by {n} event{} ({pct:.1}% complete)", plural(n)),
            _ => format!("Behind by {:.1} s", self.lag_seconds),
        };
        match self.state {
            ProgressState::NotStarted => match self.stream_head {
                Some(n) => format!("Not started (will process all {n} event{})", plural(n)),
                None => "Not started".to_owned(),
            },
            ProgressState::CaughtUp | ProgressState::Idle => "Caught up (all events processed)".to_owned(),
            ProgressState::CatchingUp => behind,
            ProgressState::Stalled => {
                format!("{behind}, no progress for {}", human_duration(self.idle_seconds.unwrap_or(0.0)))
            }
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `45s`, `2m 5s`, `3h 4m`, `2d 3h`.
///
/// # Examples
/// ```
/// use waypost::progress::human_duration;
/// assert_eq!(human_duration(45.0), "45s");
/// assert_eq!(human_duration(125.0), "2m 5s");
/// assert_eq!(human_duration(11_040.0), "3h 4m");
/// ```
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// Judges one projection from its lag metrics (`None`: no checkpoint), its saved
/// position and the stream head (when the metrics do not carry it), at `now`.
///
/// # Examples
/// ```
/// use waypost::progress::{evaluate, ProgressOptions, ProgressState};
/// let now = waypost::time::now();
/// let p = evaluate("orders", None, None, None, now, &ProgressOptions::default());
/// assert_eq!(p.state, ProgressState::NotStarted);
/// assert_eq!(p.status_line(), "Not started");
/// ```
pub fn evaluate(
    name: &str,
    metrics: Option<&LagMetrics>,
    position: Option<i64>,
    stream_head: Option<i64>,
    now: DateTime<Utc>,
    options: &ProgressOptions,
) -> Progress {
    let Some(m) = metrics else {
        let head = stream_head.unwrap_or(0);
        // Nothing to process in an empty stream: complete, but still not started.
        let percent = if head > 0 { 0.0 } else { 100.0 };
        return Progress {
            projection_name: name.to_owned(),
            position: Some(0),
            stream_head,
            events_behind: stream_head.map(|h| h.max(0)),
            percent_complete: stream_head.map(|_| percent),
            lag_seconds: 0.0,
            last_processed_at: None,
            events_processed: 0,
            idle_seconds: None,
            state: ProgressState::NotStarted,
        };
    };
    let head = m.stream_head.or(stream_head);
    let last = m.last_processed_at.as_deref().and_then(|t| time::parse_timestamp(t).ok());
    let events_behind = m.events_behind.or_else(|| match (head, position) {
        (Some(h), Some(p)) => Some((h - p).max(0)),
        _ => None,
    });
    let behind = match events_behind {
        Some(n) => n > 0,
        None => m.lag_seconds > 0.0,
    };
    let percent_complete = match (behind, head, position) {
        (false, _, _) => Some(100.0),
        (true, Some(h), Some(p)) if h > 0 => Some(percent(p, h)),
        _ => None,
    };
    let idle_seconds = last.map(|t| time::seconds_between(&now, &t).max(0.0));
    let quiet = idle_seconds.is_some_and(|s| s >= options.stall_after.as_secs_f64());
    let state = match (behind, quiet) {
        (true, true) => ProgressState::Stalled,
        (true, false) => ProgressState::CatchingUp,
        (false, true) => ProgressState::Idle,
        (false, false) => ProgressState::CaughtUp,
    };
    Progress {
        projection_name: m.projection_name.clone(),
        position,
        stream_head: head,
        events_behind,
        percent_complete,
        lag_seconds: if behind { m.lag_seconds } else { 0.0 },
        last_processed_at: last,
        events_processed: m.events_processed,
        idle_seconds,
        state,
    }
}

/// `position / head × 100`, within 0–100, rounded to one decimal as Python rounds.
fn percent(position: i64, head: i64) -> f64 {
    time::round_one_decimal((position as f64 / head as f64 * 100.0).clamp(0.0, 100.0))
}

/// The progress of `name` on `repo`, now.
///
/// # Errors
/// As [`CheckpointRepository::get_lag_metrics`]; a repository without an events table
/// reports what its checkpoint alone tells.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::progress::{progress_of, ProgressOptions, ProgressState};
/// let repo = waypost::MemoryRepository::new();
/// let p = progress_of(&repo, "never-ran", &ProgressOptions::default()).await?;
/// assert_eq!(p.state, ProgressState::NotStarted);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub async fn progress_of(repo: &dyn CheckpointRepository, name: &str, options: &ProgressOptions) -> Result<Progress> {
    let metrics = repo.get_lag_metrics(name, None).await?;
    let (position, head) = match &metrics {
        Some(_) => (repo.get_position(name).await?, None),
        None => (None, repo.stream_head().await?),
    };
    Ok(evaluate(name, metrics.as_ref(), position, head, time::now(), options))
}

/// The progress of every checkpoint on `repo`, ordered by name.
///
/// # Errors
/// As [`progress_of`].
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{progress::{progress_all, ProgressOptions}, CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("b", 2, uuid::Uuid::new_v4(), "T").await?;
/// repo.save_position("a", 1, uuid::Uuid::new_v4(), "T").await?;
/// let names: Vec<_> = progress_all(&repo, &ProgressOptions::default()).await?.into_iter().map(|p| p.projection_name).collect();
/// assert_eq!(names, ["a", "b"]);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub async fn progress_all(repo: &dyn CheckpointRepository, options: &ProgressOptions) -> Result<Vec<Progress>> {
    let all = repo.get_all_lag_metrics().await?;
    let now = time::now();
    let progress = |(record, metrics): (CheckpointData, LagMetrics)| {
        evaluate(&record.projection_name, Some(&metrics), record.global_position, None, now, options)
    };
    Ok(all.into_iter().map(progress).collect())
}

/// How healthy a projection (or the set of them) is.
///
/// # Examples
/// ```
/// use waypost::progress::HealthStatus;
/// assert!(HealthStatus::Unhealthy > HealthStatus::Degraded, "ordered by severity");
/// assert_eq!(HealthStatus::Healthy.as_str(), "Healthy");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// Within every threshold.
    Healthy,
    /// Past a degraded threshold.
    Degraded,
    /// Past an unhealthy threshold.
    Unhealthy,
}

impl HealthStatus {
    /// `Healthy`, `Degraded` or `Unhealthy`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::progress::HealthStatus::Degraded.as_str(), "Degraded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Unhealthy => "Unhealthy",
        }
    }
}

/// The thresholds of [`health`]. Defaults: degraded at 1,000 events behind or 60 s
/// stalled; unhealthy at 10,000 events behind or 300 s stalled.
///
/// # Examples
/// ```
/// let strict = waypost::progress::HealthThresholds { degraded_events_behind: 10, ..Default::default() };
/// assert_eq!(strict.unhealthy_events_behind, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthThresholds {
    /// Events behind at which a projection is `Degraded`.
    pub degraded_events_behind: i64,
    /// Events behind at which a projection is `Unhealthy`.
    pub unhealthy_events_behind: i64,
    /// Time behind without progress at which a projection is `Degraded`.
    pub degraded_stall: Duration,
    /// Time behind without progress at which a projection is `Unhealthy`.
    pub unhealthy_stall: Duration,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            degraded_events_behind: 1_000,
            unhealthy_events_behind: 10_000,
            degraded_stall: Duration::from_secs(60),
            unhealthy_stall: Duration::from_secs(300),
        }
    }
}

/// One projection's health and why.
///
/// # Examples
/// ```
/// use waypost::progress::{evaluate, health, HealthStatus, HealthThresholds, ProgressOptions};
/// let p = evaluate("orders", None, None, Some(20), waypost::time::now(), &ProgressOptions::default());
/// let verdict = health(&p, &HealthThresholds::default());
/// assert_eq!((verdict.status, verdict.reason.as_str()), (HealthStatus::Healthy, "not started"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The projection name.
    pub projection_name: String,
    /// The verdict.
    pub status: HealthStatus,
    /// Why, in one line (`15,000 events behind`, `no progress for 6m 0s while behind`,
    /// `up to date`).
    pub reason: String,
}

/// Judges one projection. Only a projection that is behind can be stalled: a caught-up,
/// quiet one is healthy however old its last write is.
///
/// # Examples
/// ```
/// use waypost::progress::{evaluate, health, HealthStatus, HealthThresholds, ProgressOptions};
/// let p = evaluate("orders", None, Some(0), Some(15_000), waypost::time::now(), &ProgressOptions::default());
/// let verdict = health(&p, &HealthThresholds::default());
/// assert_eq!(verdict.status, HealthStatus::Unhealthy, "{}", verdict.reason);
/// ```
pub fn health(p: &Progress, t: &HealthThresholds) -> Health {
    let behind = p.events_behind.unwrap_or(0);
    let catching_up = matches!(p.state, ProgressState::CatchingUp | ProgressState::Stalled);
    let stalled = if catching_up { p.idle_seconds.unwrap_or(0.0) } else { 0.0 };
    let judge = |events: i64, stall: Duration| {
        (behind > 0 && behind >= events) || (catching_up && stalled >= stall.as_secs_f64())
    };
    let status = if judge(t.unhealthy_events_behind, t.unhealthy_stall) {
        HealthStatus::Unhealthy
    } else if judge(t.degraded_events_behind, t.degraded_stall) {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    let reason = match status {
        HealthStatus::Healthy if p.state == ProgressState::NotStarted => "not started".to_owned(),
        HealthStatus::Healthy if !catching_up => "up to date".to_owned(),
        HealthStatus::Healthy => format!("{behind} events behind, making progress"),
        _ if catching_up && stalled >= t.degraded_stall.as_secs_f64().min(t.unhealthy_stall.as_secs_f64()) => {
            format!("{behind} events behind, no progress for {}", human_duration(stalled))
        }
        _ => format!("{behind} events behind"),
    };
    Health { projection_name: p.projection_name.clone(), status, reason }
}

/// The worst of several verdicts (`Healthy` for none).
///
/// # Examples
/// ```
/// use waypost::progress::{overall, Health, HealthStatus};
/// let verdict = |status| Health { projection_name: "p".into(), status, reason: String::new() };
/// assert_eq!(overall(&[verdict(HealthStatus::Healthy), verdict(HealthStatus::Degraded)]), HealthStatus::Degraded);
/// assert_eq!(overall(&[]), HealthStatus::Healthy);
/// ```
pub fn overall(healths: &[Health]) -> HealthStatus {
    healths.iter().map(|h| h.status).max().unwrap_or(HealthStatus::Healthy)
}

/// Verdicts on several projections and the worst of them.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::progress::{health_report, HealthStatus, HealthThresholds, ProgressOptions};
/// let repo = waypost::MemoryRepository::new();
/// let report = health_report(&repo, None, &ProgressOptions::default(), &HealthThresholds::default()).await?;
/// assert_eq!((report.status, report.projections.len()), (HealthStatus::Healthy, 0));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The worst verdict (`Healthy` when there is no projection).
    pub status: HealthStatus,
    /// One verdict per projection, ordered by name.
    pub projections: Vec<Health>,
}

/// Judges one projection (`Some(name)`) or every checkpoint (`None`) on `repo`, now.
///
/// # Errors
/// As [`progress_of`] / [`progress_all`].
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::progress::{health_report, HealthStatus, HealthThresholds, ProgressOptions};
/// use waypost::{CheckpointRepository, MemoryRepository};
/// let repo = MemoryRepository::new();
/// repo.save_position("orders", 1, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// let report = health_report(&repo, Some("orders"), &ProgressOptions::default(), &HealthThresholds::default()).await?;
/// assert_eq!(report.status, HealthStatus::Healthy);
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub async fn health_report(
    repo: &dyn CheckpointRepository,
    name: Option<&str>,
    options: &ProgressOptions,
    thresholds: &HealthThresholds,
) -> Result<HealthReport> {
    let progress = match name {
        Some(name) => vec![progress_of(repo, name, options).await?],
        None => progress_all(repo, options).await?,
    };
    let projections: Vec<Health> = progress.iter().map(|p| health(p, thresholds)).collect();
    Ok(HealthReport { status: overall(&projections), projections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        time::parse_timestamp(s).unwrap()
    }

    fn metrics(position: i64, head: i64, last: &str, lag: f64) -> LagMetrics {
        LagMetrics {
            projection_name: "p".into(),
            last_event_id: None,
            latest_event_id: None,
            lag_seconds: lag,
            events_processed: position,
            last_processed_at: Some(last.into()),
            stream_head: Some(head),
            events_behind: Some((head - position).max(0)),
        }
    }

    fn judge(position: i64, head: i64, idle_s: i64) -> Progress {
        let now = at("2026-01-01T01:00:00Z");
        let last = time::isoformat(&(now - chrono::Duration::seconds(idle_s)));
        evaluate(
            "p",
            Some(&metrics(position, head, &last, 1.0)),
            Some(position),
            None,
            now,
            &ProgressOptions::default(),
        )
    }

    #[test]
    fn states_and_status_lines_in_the_demo_words() {
        let not_started = evaluate("p", None, None, Some(20), at("2026-01-01T00:00:00Z"), &ProgressOptions::default());
        assert_eq!(not_started.status_line(), "Not started (will process all 20 events)");
        assert_eq!(not_started.percent_complete, Some(0.0));
        let p = judge(5, 20, 1);
        assert_eq!((p.state, p.events_behind, p.percent_complete), (ProgressState::CatchingUp, Some(15), Some(25.0)));
        assert_eq!(p.status_line(), "Behind by 15 events (25.0% complete)");
        let p = judge(20, 20, 1);
        assert_eq!((p.state, p.percent_complete), (ProgressState::CaughtUp, Some(100.0)));
        assert_eq!(p.status_line(), "Caught up (all events processed)");
        assert_eq!(judge(20, 20, 3_600).state, ProgressState::Idle);
        let stalled = judge(19, 20, 125);
        assert_eq!(stalled.state, ProgressState::Stalled);
        assert_eq!(stalled.status_line(), "Behind by 1 event (95.0% complete), no progress for 2m 5s");
    }

    #[test]
    fn percent_is_guarded() {
        // An empty stream: nothing to do is complete, not a division by zero.
        let empty = evaluate("p", None, None, Some(0), at("2026-01-01T00:00:00Z"), &ProgressOptions::default());
        assert_eq!(empty.percent_complete, Some(100.0));
        assert_eq!(judge(0, 0, 1).percent_complete, Some(100.0));
        assert_eq!(judge(1, 3, 1).percent_complete, Some(33.3));
    }

    #[test]
    fn health_thresholds() {
        let t = HealthThresholds::default();
        assert_eq!(health(&judge(20, 20, 86_400 * 30), &t).status, HealthStatus::Healthy, "idle is healthy");
        assert_eq!(health(&judge(0, 999, 1), &t).status, HealthStatus::Healthy);
        assert_eq!(health(&judge(0, 1_000, 1), &t).status, HealthStatus::Degraded);
        assert_eq!(health(&judge(0, 10_000, 1), &t).status, HealthStatus::Unhealthy);
        assert_eq!(health(&judge(5, 20, 59), &t).status, HealthStatus::Healthy);
        assert_eq!(health(&judge(5, 20, 60), &t).status, HealthStatus::Degraded);
        let dead = health(&judge(5, 20, 300), &t);
        assert_eq!(dead.status, HealthStatus::Unhealthy);
        assert_eq!(dead.reason, "15 events behind, no progress for 5m 0s");
        let all = [health(&judge(20, 20, 1), &t), dead];
        assert_eq!(overall(&all), HealthStatus::Unhealthy);
        assert_eq!(overall(&[]), HealthStatus::Healthy);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(5.9), "5s");
        assert_eq!(human_duration(125.0), "2m 5s");
        assert_eq!(human_duration(3_723.0), "1h 2m");
        assert_eq!(human_duration(183_600.0), "2d 3h");
    }
}
