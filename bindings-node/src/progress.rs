//! Progress and health: how far each projection is, and the verdicts over it.

use napi_derive::napi;

use crate::convert::{int64_of, seconds, timestamp_of, Int64, Timestamp};
use crate::errors::{answer, Answer, Outcome};
use crate::repository::NativeRepository;

/// How far one projection is (`repo.getProgress(name)`).
#[napi(object, object_from_js = false)]
pub struct Progress {
    pub projection_name: String,
    pub position: Option<Int64>,
    pub stream_head: Option<Int64>,
    pub events_behind: Option<Int64>,
    pub percent_complete: Option<f64>,
    pub lag_seconds: f64,
    pub events_processed: i64,
    pub last_processed_at: Option<Timestamp>,
    pub idle_seconds: Option<f64>,
    /// `NotStarted`, `CatchingUp`, `CaughtUp`, `Idle` or `Stalled`.
    pub state: String,
    /// `Behind by 15 events (25.0% complete)`, …
    pub status_line: String,
}

impl From<waypost::progress::Progress> for Progress {
    fn from(p: waypost::progress::Progress) -> Self {
        Progress {
            status_line: p.status_line(),
            state: p.state.as_str().to_owned(),
            projection_name: p.projection_name,
            position: int64_of(p.position),
            stream_head: int64_of(p.stream_head),
            events_behind: int64_of(p.events_behind),
            percent_complete: p.percent_complete,
            lag_seconds: p.lag_seconds,
            events_processed: p.events_processed,
            last_processed_at: timestamp_of(p.last_processed_at),
            idle_seconds: p.idle_seconds,
        }
    }
}

/// Options of `getProgress` / `getAllProgress`.
#[napi(object)]
pub struct ProgressOptions {
    /// Quiet this long while behind is `Stalled` (caught up: `Idle`). Default 60,000.
    pub stall_after_ms: Option<f64>,
}

/// Options of `getHealth`: the thresholds (defaults 1,000 / 10,000 events, 60 / 300 s).
#[napi(object)]
#[derive(Default)]
pub struct HealthOptions {
    pub stall_after_ms: Option<f64>,
    pub degraded_events_behind: Option<i64>,
    pub unhealthy_events_behind: Option<i64>,
    pub degraded_stall_ms: Option<f64>,
    pub unhealthy_stall_ms: Option<f64>,
}

/// One projection's health and why.
#[napi(object)]
pub struct HealthVerdict {
    pub projection_name: String,
    /// `Healthy`, `Degraded` or `Unhealthy`.
    pub status: String,
    pub reason: String,
}

/// The worst verdict and one per projection.
#[napi(object)]
pub struct HealthReport {
    pub status: String,
    pub projections: Vec<HealthVerdict>,
}

fn progress_options(stall_after_ms: Option<f64>) -> Outcome<waypost::progress::ProgressOptions> {
    let default = waypost::progress::ProgressOptions::default();
    Ok(waypost::progress::ProgressOptions {
        stall_after: seconds("stallAfterMs", stall_after_ms, default.stall_after)?,
    })
}

#[napi]
impl NativeRepository {
    /// The largest global position in the events table (0 when empty), or null without one.
    #[napi]
    pub async fn stream_head(&self) -> Answer<Option<Int64>> {
        self.inner.stream_head().await.map(int64_of).into()
    }

    #[napi]
    pub async fn get_progress(&self, projection_name: String, options: Option<ProgressOptions>) -> Answer<Progress> {
        answer(async {
            let options = progress_options(options.and_then(|o| o.stall_after_ms))?;
            Ok(waypost::progress::progress_of(&*self.inner, &projection_name, &options).await?.into())
        })
        .await
    }

    #[napi]
    pub async fn get_all_progress(&self, options: Option<ProgressOptions>) -> Answer<Vec<Progress>> {
        answer(async {
            let options = progress_options(options.and_then(|o| o.stall_after_ms))?;
            let all = waypost::progress::progress_all(&*self.inner, &options).await?;
            Ok(all.into_iter().map(Progress::from).collect())
        })
        .await
    }

    #[napi]
    pub async fn get_health(
        &self,
        projection_name: Option<String>,
        options: Option<HealthOptions>,
    ) -> Answer<HealthReport> {
        answer(self.health(projection_name, options.unwrap_or_default())).await
    }
}

impl NativeRepository {
    async fn health(&self, projection_name: Option<String>, o: HealthOptions) -> Outcome<HealthReport> {
        let d = waypost::progress::HealthThresholds::default();
        let thresholds = waypost::progress::HealthThresholds {
            degraded_events_behind: o.degraded_events_behind.unwrap_or(d.degraded_events_behind),
            unhealthy_events_behind: o.unhealthy_events_behind.unwrap_or(d.unhealthy_events_behind),
            degraded_stall: seconds("degradedStallMs", o.degraded_stall_ms, d.degraded_stall)?,
            unhealthy_stall: seconds("unhealthyStallMs", o.unhealthy_stall_ms, d.unhealthy_stall)?,
        };
        let options = progress_options(o.stall_after_ms)?;
        let report =
            waypost::progress::health_report(&*self.inner, projection_name.as_deref(), &options, &thresholds).await?;
        Ok(HealthReport {
            status: report.status.as_str().to_owned(),
            projections: report
                .projections
                .into_iter()
                .map(|h| HealthVerdict {
                    projection_name: h.projection_name,
                    status: h.status.as_str().to_owned(),
                    reason: h.reason,
                })
                .collect(),
        })
    }
}
