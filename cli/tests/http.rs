//! The HTTP surface of `waypost serve`, through its router, on SQLite and PostgreSQL:
//! every endpoint and status code, the refusals of resets, a hostile projection name, and
//! `/metrics` read back by a Prometheus text parser.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use waypost_cli::{router, ServeOptions};

use common::{mysql_url, postgres_url, Store};

const HOSTILE: &str = "<script>alert(1)</script>";
const HOSTILE_PATH: &str = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";

async fn call(app: &axum::Router, method: Method, uri: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn every_endpoint(store: Store) {
    // Orders 15 behind (healthy), a hostile name caught up, Billing 1,500 behind (degraded).
    store.fill(1_520, &[("Orders", 1_505), (HOSTILE, 1_520), ("Billing", 20)]).await;
    let options = ServeOptions { token: Some("s3cret".into()), ..ServeOptions::default() };
    let app = router(store.repo.clone(), options);

    let (status, body) = call(&app, Method::GET, "/api/checkpoints", None).await;
    assert_eq!(status, StatusCode::OK);
    let all = json(&body);
    let names: Vec<&str> = all.as_array().unwrap().iter().map(|p| p["projectionName"].as_str().unwrap()).collect();
    assert_eq!(names, [HOSTILE, "Billing", "Orders"], "byte order");
    let orders = &all[2];
    assert_eq!(
        (orders["checkpoint"].as_i64(), orders["streamHead"].as_i64(), orders["lag"].as_i64()),
        (Some(1_505), Some(1_520), Some(15))
    );
    assert_eq!(orders["percentComplete"], 99.0);
    assert_eq!(orders["state"], "CatchingUp");
    assert!(orders["lagSeconds"].is_number() && orders["updatedAt"].is_string(), "{orders}");

    let (status, body) = call(&app, Method::GET, &format!("/api/checkpoints/{HOSTILE_PATH}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["projectionName"], HOSTILE, "the name is decoded");
    assert_eq!(call(&app, Method::GET, "/api/checkpoints/Nobody", None).await.0, StatusCode::NOT_FOUND);
    let long = "x".repeat(256);
    assert_eq!(call(&app, Method::GET, &format!("/api/checkpoints/{long}"), None).await.0, StatusCode::BAD_REQUEST);

    // /health: Billing is 1,500 behind, so degraded, still 200.
    let (status, body) = call(&app, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let health = json(&body);
    assert_eq!(health["status"], "Degraded");
    assert_eq!(health["projections"][1]["projectionName"], "Billing");
    assert_eq!(health["projections"][1]["status"], "Degraded");
    assert_eq!(health["projections"][2]["status"], "Healthy");

    // /metrics in the Prometheus text format.
    let (status, body) = call(&app, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |metric: &str, projection: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get("projection") == Some(projection))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{metric}: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {metric} for {projection} in\n{body}"))
    };
    assert_eq!(value("waypost_checkpoint_position", "Orders"), 1_505.0);
    assert_eq!(value("waypost_stream_head", "Orders"), 1_520.0);
    assert_eq!(value("waypost_events_behind", "Billing"), 1_500.0);
    assert_eq!(value("waypost_events_processed", HOSTILE), 1.0);
    assert!(value("waypost_lag_seconds", "Orders") >= 0.0);
    let last = value("waypost_last_processed_timestamp_seconds", "Orders");
    assert!((last - chrono::Utc::now().timestamp() as f64).abs() < 600.0, "{last}");

    // The dashboard is one static page: no value is pasted into it by the server.
    let (status, page) = call(&app, Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("textContent") && !page.contains("alert(1)"));

    // Resets: no header 401, a wrong token 403, the right one removes it once.
    assert_eq!(call(&app, Method::DELETE, "/api/checkpoints/Orders", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, Method::DELETE, "/api/checkpoints/Orders", Some("s3cret!")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(store.repo.get_position("Orders").await.unwrap(), Some(1_505), "refusals change nothing");
    let (status, body) = call(&app, Method::DELETE, "/api/checkpoints/Orders", Some("s3cret")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["removed"]["globalPosition"], 1_505);
    assert_eq!(store.repo.get_position("Orders").await.unwrap(), None);
    assert_eq!(call(&app, Method::DELETE, "/api/checkpoints/Orders", Some("s3cret")).await.0, StatusCode::NOT_FOUND);

    // Without a configured token, mutations are off.
    let read_only = router(store.repo.clone(), ServeOptions::default());
    assert_eq!(
        call(&read_only, Method::DELETE, "/api/checkpoints/Billing", Some("s3cret")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(store.repo.get_position("Billing").await.unwrap(), Some(20));

    // 18,000 more events: Billing is 19,500 behind, unhealthy, and /health says 503.
    store.fill(18_000, &[]).await;
    let (status, body) = call(&app, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(json(&body)["status"], "Unhealthy");
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_on_sqlite() {
    every_endpoint(Store::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_on_postgres() {
    let Some(url) = postgres_url().await else { return };
    every_endpoint(Store::postgres(&url, "http").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_on_mysql() {
    let Some(url) = mysql_url().await else { return };
    every_endpoint(Store::mysql(&url, "http").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_is_503() {
    let repo = waypost::PostgresRepository::connect("postgres://postgres@127.0.0.1:1/postgres", Default::default())
        .await
        .unwrap();
    let app = router(std::sync::Arc::new(repo), ServeOptions::default());
    let (status, body) = call(&app, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(call(&app, Method::GET, "/api/checkpoints", None).await.0, StatusCode::SERVICE_UNAVAILABLE);
}
