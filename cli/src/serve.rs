//! `waypost serve`: the dashboard, the JSON API, `/health` and `/metrics`, on axum.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the dashboard: one row per projection, refreshing itself |
//! | `GET /api/checkpoints` | every projection's progress (JSON) |
//! | `GET /api/checkpoints/{name}` | one projection's progress; 404 without a checkpoint |
//! | `DELETE /api/checkpoints/{name}` | reset it; needs `Authorization: Bearer <token>` |
//! | `GET /health` | 200 when healthy or degraded, 503 when unhealthy, a verdict per projection |
//! | `GET /metrics` | Prometheus text: position, head, behind, lag, count, last write |
//!
//! Without a configured token every mutation is refused (403); a missing or malformed
//! `Authorization` header is 401, a wrong token 403. Tokens are compared in constant time.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;
use waypost::progress::{self, HealthThresholds, Progress, ProgressOptions};
use waypost::{CheckpointRepository, ErrorKind};

use crate::{view, Failure, Outcome};

const DASHBOARD: &str = include_str!("dashboard.html");

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The bearer token that allows resets; `None`: mutations are off.
    pub token: Option<String>,
    /// When a projection that is behind counts as stalled (0: the default, 60 s).
    pub stall_after: Duration,
}

#[derive(Clone)]
struct AppState {
    repo: Arc<dyn CheckpointRepository>,
    token: Option<Arc<str>>,
    progress: ProgressOptions,
    thresholds: HealthThresholds,
}

/// The application's routes over `repo` (what `serve` binds; tests call it directly).
pub fn router(repo: Arc<dyn CheckpointRepository>, options: ServeOptions) -> Router {
    let mut progress = ProgressOptions::default();
    if !options.stall_after.is_zero() {
        progress.stall_after = options.stall_after;
    }
    let thresholds = HealthThresholds { degraded_stall: progress.stall_after, ..HealthThresholds::default() };
    let state = AppState { repo, token: options.token.filter(|t| !t.is_empty()).map(Arc::from), progress, thresholds };
    Router::new()
        .route("/", get(dashboard))
        .route("/api/checkpoints", get(list))
        .route("/api/checkpoints/{name}", get(one).delete(reset))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Binds `bind` and serves until Ctrl+C.
pub async fn serve(repo: Arc<dyn CheckpointRepository>, bind: &str, options: ServeOptions) -> Outcome {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| Failure::Exit(3, format!("cannot listen on {bind}: {e}")))?;
    let address = listener.local_addr().map_err(|e| Failure::Exit(3, e.to_string()))?;
    let mutations = if options.token.as_deref().is_some_and(|t| !t.is_empty()) { "on (bearer token)" } else { "off" };
    println!("waypost serving http://{address}/ (resets {mutations}; Ctrl+C to stop)");
    let app = router(repo.clone(), options);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| Failure::Exit(4, format!("server failed: {e}")))?;
    repo.close().await?;
    Ok(())
}

/// An error as a JSON response with the status its kind calls for.
fn error(e: &waypost::Error) -> Response {
    let status = match e.kind() {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({ "error": e.to_string(), "kind": e.kind().as_str() }))).into_response()
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "error": text }))).into_response()
}

async fn dashboard() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(DASHBOARD)).into_response()
}

async fn all_progress(state: &AppState) -> waypost::Result<Vec<Progress>> {
    progress::progress_all(&*state.repo, &state.progress).await
}

async fn list(State(state): State<AppState>) -> Response {
    match all_progress(&state).await {
        Ok(all) => Json(json!(all.iter().map(view::progress).collect::<Vec<_>>())).into_response(),
        Err(e) => error(&e),
    }
}

async fn one(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Err(e) = waypost::validate_name("projection name", &name) {
        return error(&e);
    }
    match progress::progress_of(&*state.repo, &name, &state.progress).await {
        Ok(p) if p.state == progress::ProgressState::NotStarted => {
            message(StatusCode::NOT_FOUND, &format!("no checkpoint named {name:?}"))
        }
        Ok(p) => Json(view::progress(&p)).into_response(),
        Err(e) => error(&e),
    }
}

/// The refusal, if any: 401 without a usable bearer header, 403 for a wrong token or when
/// mutations are off.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = &state.token else {
        return Some(message(
            StatusCode::FORBIDDEN,
            "mutations are off: start the server with --token or WAYPOST_TOKEN",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        let mut response = message(StatusCode::UNAUTHORIZED, "an Authorization: Bearer <token> header is required");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return Some(response);
    };
    match bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        true => None,
        false => Some(message(StatusCode::FORBIDDEN, "wrong token")),
    }
}

async fn reset(State(state): State<AppState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    if let Err(e) = waypost::validate_name("projection name", &name) {
        return error(&e);
    }
    let removed = match state.repo.get_all_checkpoints().await {
        Ok(all) => all.into_iter().find(|c| c.projection_name == name),
        Err(e) => return error(&e),
    };
    let Some(record) = removed else {
        return message(StatusCode::NOT_FOUND, &format!("no checkpoint named {name:?}"));
    };
    match state.repo.reset_checkpoint(&name).await {
        Ok(()) => Json(json!({ "removed": view::checkpoint(&record) })).into_response(),
        Err(e) => error(&e),
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let all = match all_progress(&state).await {
        Ok(all) => all,
        Err(e) => {
            let body = json!({ "status": "Unhealthy", "error": e.to_string(), "projections": [] });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    };
    let verdicts: Vec<_> = all.iter().map(|p| progress::health(p, &state.thresholds)).collect();
    let overall = progress::overall(&verdicts);
    let status = match overall {
        progress::HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let body = json!({
        "status": overall.as_str(),
        "projections": verdicts.iter().map(view::health).collect::<Vec<_>>(),
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let all = match all_progress(&state).await {
        Ok(all) => all,
        Err(e) => return error(&e),
    };
    let text = openmetrics(&all);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

/// One gauge family of `/metrics`: its name after `waypost_`, its help, and its value for
/// a projection (none: no sample).
type GaugeFamily = (&'static str, &'static str, fn(&Progress) -> Option<f64>);

const GAUGES: [GaugeFamily; 6] = [
    ("checkpoint_position", "Saved global position of the projection", |p| p.position.map(|v| v as f64)),
    ("stream_head", "Largest global position in the events table", |p| p.stream_head.map(|v| v as f64)),
    ("events_behind", "Events between the checkpoint and the stream head", |p| p.events_behind.map(|v| v as f64)),
    ("lag_seconds", "Seconds between the last write and the newest event", |p| Some(p.lag_seconds)),
    ("events_processed", "Events the checkpoint has counted", |p| Some(p.events_processed as f64)),
    ("last_processed_timestamp_seconds", "Unix time of the checkpoint's last write", |p| {
        p.last_processed_at.map(|t| t.timestamp_micros() as f64 / 1e6)
    }),
];

/// The OpenMetrics text of `/metrics`, written straight from the projections in one
/// pass per family (a registry of gauges per projection held ten times the text's size
/// at 100,000 checkpoints). Label values are escaped as the format asks: `\`, `"` and
/// newlines.
fn openmetrics(all: &[Progress]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(256 + all.len() * GAUGES.len() * 80);
    let mut number = dtoa::Buffer::new();
    for (name, help, value) in GAUGES {
        let mut described = false;
        for p in all {
            let Some(v) = value(p) else { continue };
            // A family without a sample is left out, as prometheus-client did.
            if !std::mem::replace(&mut described, true) {
                let _ = write!(text, "# HELP waypost_{name} {help}.\n# TYPE waypost_{name} gauge\n");
            }
            let _ = write!(text, "waypost_{name}{{projection=\"");
            escape_label_value(&mut text, &p.projection_name);
            text.push_str("\"} ");
            text.push_str(number.format(v));
            text.push('\n');
        }
    }
    text.push_str("# EOF\n");
    text
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use waypost::progress::{evaluate, ProgressOptions};

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct ProjectionLabel {
        projection: String,
    }

    /// The text prometheus-client writes for the same gauges (what `/metrics` served
    /// before it wrote its text itself).
    fn through_registry(all: &[Progress]) -> String {
        let mut registry = Registry::with_prefix("waypost");
        for (name, help, value) in GAUGES {
            let gauges = Family::<ProjectionLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            registry.register(name, help, gauges.clone());
            for p in all {
                if let Some(v) = value(p) {
                    gauges.get_or_create(&ProjectionLabel { projection: p.projection_name.clone() }).set(v);
                }
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn the_metrics_text_is_what_prometheus_client_writes() {
        let names = ["Orders", "with \\ \"quotes\" and\nnewline", "<script>alert(1)</script>", "ünïcode", "empty"];
        let now = waypost::time::now();
        let all: Vec<Progress> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let metrics = waypost::LagMetrics {
                    projection_name: (*name).into(),
                    last_event_id: None,
                    latest_event_id: None,
                    lag_seconds: 0.1 * i as f64,
                    events_processed: 7 * i as i64,
                    last_processed_at: (i > 0)
                        .then(|| waypost::time::isoformat(&(now - chrono::Duration::milliseconds(1234 * i as i64)))),
                    stream_head: (i != 2).then_some(5_000_000_000),
                    events_behind: (i != 2).then_some(12 * i as i64),
                };
                let position = (i != 4).then_some(1_000_000_007 * i as i64);
                evaluate(name, Some(&metrics), position, None, now, &ProgressOptions::default())
            })
            .collect();
        let sorted = |text: String| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let ours = openmetrics(&all);
        assert!(ours.ends_with("# EOF\n"));
        assert_eq!(sorted(ours), sorted(through_registry(&all)));
        assert_eq!(openmetrics(&[]), through_registry(&[]));
        let without_head: Vec<Progress> = all.into_iter().filter(|p| p.stream_head.is_none()).take(1).collect();
        assert_eq!(sorted(openmetrics(&without_head)), sorted(through_registry(&without_head)));
    }
}
