//! Every command of the `waypost` binary against SQLite and PostgreSQL: text and
//! `--json`, and the exit codes (0 ok, 1 not found, 2 usage, 3 unavailable).

mod common;

use common::{code, json, mysql_url, postgres_url, run_waypost, text, Store};
use waypost::{ClaimsOptions, ItemStats};

async fn every_command(store: Store) {
    store.fill(20, &[("Orders", 5), ("Shipping", 20)]).await;

    // status: every projection, then one.
    let out = store.run(&["status"], "");
    assert_eq!(code(&out), 0, "{out:?}");
    let table = text(&out);
    assert!(table.starts_with("PROJECTION"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("Orders") && l.contains("25.0%") && l.contains("CatchingUp")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("Shipping") && l.contains("100.0%") && l.contains("CaughtUp")),
        "{table}"
    );
    let all = json(&store.run(&["status", "--json"], ""));
    assert_eq!(all[0]["projectionName"], "Orders");
    assert_eq!(
        (all[0]["checkpoint"].as_i64(), all[0]["streamHead"].as_i64(), all[0]["lag"].as_i64()),
        (Some(5), Some(20), Some(15))
    );
    assert_eq!(all[0]["status"], "Behind by 15 events (25.0% complete)");
    assert_eq!(all[1]["state"], "CaughtUp");
    let one = text(&store.run(&["status", "Orders"], ""));
    assert!(one.contains("Status: Behind by 15 events (25.0% complete)"), "{one}");
    let fresh = store.run(&["status", "Billing", "--json"], "");
    assert_eq!((code(&fresh), json(&fresh)["status"].as_str()), (0, Some("Not started (will process all 20 events)")));

    // list
    let listed = json(&store.run(&["list", "--json"], ""));
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(listed[1]["globalPosition"], 20);
    assert!(text(&store.run(&["list"], "")).lines().nth(2).is_some_and(|l| l.starts_with("Shipping")));

    // lag
    let lag = json(&store.run(&["lag", "Orders", "--json"], ""));
    assert_eq!((lag["eventsBehind"].as_i64(), lag["streamHead"].as_i64()), (Some(15), Some(20)));
    let typed = json(&store.run(&["lag", "Orders", "--types", "OrderPlaced,OrderShipped", "--json"], ""));
    assert_eq!(typed["eventsBehind"], 15);
    assert!(text(&store.run(&["lag", "Orders"], "")).contains("Events behind: 15"));
    assert_eq!(code(&store.run(&["lag", "Billing"], "")), 1, "no checkpoint: not found");

    // reset: asks; a refusal removes nothing
    let declined = store.run(&["reset", "Orders"], "n\n");
    assert_eq!(code(&declined), 2);
    assert_eq!(store.repo.get_position("Orders").await.unwrap(), Some(5));
    let confirmed = store.run(&["reset", "Orders"], "y\n");
    assert_eq!(code(&confirmed), 0, "{confirmed:?}");
    assert!(
        text(&confirmed).contains("Removed checkpoint \"Orders\" (position 5, 1 events processed)"),
        "{}",
        text(&confirmed)
    );
    assert_eq!(store.repo.get_position("Orders").await.unwrap(), None);
    let removed = json(&store.run(&["reset", "Shipping", "--yes", "--json"], ""));
    assert_eq!(removed["removed"]["globalPosition"], 20);
    assert_eq!(code(&store.run(&["reset", "Shipping", "--yes"], "")), 1, "nothing left to remove");
    assert_eq!(code(&store.run(&["reset", "", "--yes"], "")), 2, "a bad name is a usage error");

    // claims
    let ledger = store.repo.clone().claims(ClaimsOptions::default()).unwrap();
    let lease = std::time::Duration::from_secs(60);
    let at = waypost::time::now();
    let a = ledger.claim("a.csv", "csv", at, "w1", lease).await.unwrap().unwrap();
    ledger.complete(&a, ItemStats::default()).await.unwrap();
    let b = ledger.claim("b.csv", "csv", at, "w1", lease).await.unwrap().unwrap();
    ledger.fail(&b, "bad header").await.unwrap();
    ledger.claim("c.csv", "csv", at, "w2", lease).await.unwrap().unwrap();
    let claims = json(&store.run(&["claims", "--json"], ""));
    assert_eq!(claims["counts"], serde_json::json!({"total": 3, "processing": 1, "completed": 1, "failed": 1}));
    let failed = json(&store.run(&["claims", "--status", "failed", "--json"], ""));
    assert_eq!(failed["items"][0]["key"], "b.csv");
    assert_eq!(failed["items"][0]["errorMessage"], "bad header");
    assert!(text(&store.run(&["claims"], "")).starts_with("3 items: 1 processing, 1 completed, 1 failed"));
    assert_eq!(code(&store.run(&["claims", "--status", "lost"], "")), 2);
    store.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_sqlite() {
    every_command(Store::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_postgres() {
    let Some(url) = postgres_url().await else { return };
    every_command(Store::postgres(&url, "cli").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_mysql() {
    let Some(url) = mysql_url().await else { return };
    every_command(Store::mysql(&url, "cli").await).await;
}

#[test]
fn usage_errors_and_unreachable_stores_have_their_exit_codes() {
    assert_eq!(code(&run_waypost(&["frobnicate"], "")), 2);
    assert_eq!(code(&run_waypost(&["status", "--url", "redis://x/y"], "")), 2);
    let mysql_refused = run_waypost(&["status", "--url", "mysql://root@127.0.0.1:1/test"], "");
    assert_eq!(code(&mysql_refused), 3, "{}", String::from_utf8_lossy(&mysql_refused.stderr));
    assert_eq!(code(&run_waypost(&["status", "--url", "sqlite:/nonexistent/dir/x.db"], "")), 1);
    let bad_table = ["status", "--table", "bad-name", "--url", "postgres://postgres@127.0.0.1:1/postgres"];
    assert_eq!(code(&run_waypost(&bad_table, "")), 2, "names are checked before connecting");
    // Nothing listens on port 1: refused at once.
    let refused = run_waypost(&["status", "--url", "postgres://postgres@127.0.0.1:1/postgres"], "");
    assert_eq!(code(&refused), 3, "{}", String::from_utf8_lossy(&refused.stderr));
    let help = run_waypost(&["--help"], "");
    assert_eq!(code(&help), 0);
    assert!(text(&help).contains("serve"));
    let empty = run_waypost(&["status", "--url", "memory:"], "");
    assert_eq!((code(&empty), text(&empty).trim()), (0, "No checkpoints."));
}
