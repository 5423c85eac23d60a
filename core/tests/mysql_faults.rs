//! MySQL/MariaDB faults, on the shared server, each test in a database of its own: the
//! server killing every connection of the repository (what a restart looks like to a
//! client) under a writing loop and across a transaction, cancelled calls, and a refused
//! connection. Every call returns or fails with `Unavailable`, the same repository
//! recovers by itself, and no acknowledged write is lost, as read by another process.

mod support;

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use uuid::Uuid;
use waypost::{CheckpointRepository, ErrorKind, MysqlOptions, MysqlRepository, SqlValue};

const NAME: &str = "KillLoop";
/// A call must end within this, returned or failed: a bound on a failure, not a timing.
const CALL_BOUND: Duration = Duration::from_secs(15);

async fn repository(url: &str) -> Arc<MysqlRepository> {
    let options = MysqlOptions { connect_timeout: Duration::from_secs(2), events_table: None, ..Default::default() };
    Arc::new(MysqlRepository::connect(url, options).await.expect("connect"))
}

/// Kills every connection to the scratch database, as a restarting server does; returns
/// how many it killed.
async fn kill_connections(scratch: &support::MysqlScratch) -> usize {
    let mut admin = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    let ids: Vec<u64> = sqlx::query_scalar(
        "SELECT CAST(id AS UNSIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(&scratch.database)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    for id in &ids {
        // A connection may end by itself meanwhile: "unknown thread id" is fine.
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}"))).execute(&mut admin).await;
    }
    ids.len()
}

/// One row of `sql` in the scratch database, read by the `mariadb` (or `mysql`) client:
/// another process, another connection.
fn client(scratch: &support::MysqlScratch, sql: &str) -> String {
    let url = url_parts(&scratch.url);
    let program = ["mariadb", "mysql"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("--version").output().is_ok())
        .expect("the mariadb or mysql client");
    let out = std::process::Command::new(program)
        .args(["--no-defaults", "--protocol=TCP", "-h", &url.0, "-P", &url.1, "-u", &url.2, "-D", &scratch.database])
        .args(["-N", "-B", "-e", sql])
        .env("MYSQL_PWD", &url.3)
        .output()
        .expect("run the client");
    assert!(out.status.success(), "client: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Host, port, user and password of a `mysql://user[:password]@host[:port]/db` URL.
fn url_parts(url: &str) -> (String, String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let host_port = rest.split('/').next().unwrap_or(rest);
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "3306"));
    (host.to_owned(), port.to_owned(), user.to_owned(), password.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_fail_unavailable_and_the_repository_recovers() {
    let Some(url) = support::mysql_url().await else { return };
    let scratch = support::MysqlScratch::new(&url, "killed").await;
    let repo = repository(&scratch.url).await;
    // Writes 1, 2, 3, … in a task of its own; each time 60 more are acknowledged the
    // server kills the connections, while the writer goes on (four times), then 60 more
    // must be acknowledged.
    let (acked_tx, mut acked) = tokio::sync::watch::channel(0_u64);
    let writer = tokio::spawn({
        let repo = repo.clone();
        async move {
            let (mut acknowledged, mut last_acknowledged, mut unavailable) = (0_u64, 0_i64, 0_u64);
            let (mut n, mut wrong) = (0_i64, Vec::new());
            while acknowledged < 300 && wrong.len() < 5 && n < 100_000 {
                n += 1;
                match tokio::time::timeout(CALL_BOUND, repo.save_position(NAME, n, Uuid::new_v4(), "Tick")).await {
                    Ok(Ok(())) => {
                        acknowledged += 1;
                        last_acknowledged = n;
                        acked_tx.send_replace(acknowledged);
                    }
                    Ok(Err(e)) if e.kind() == ErrorKind::Unavailable => unavailable += 1,
                    Ok(Err(e)) => wrong.push(format!("save_position({n}): {:?}: {e}", e.kind())),
                    Err(_) => wrong.push(format!("save_position({n}) neither returned nor failed in {CALL_BOUND:?}")),
                }
            }
            (acknowledged, last_acknowledged, unavailable, wrong)
        }
    });
    let mut killed = 0;
    for threshold in [60, 120, 180, 240] {
        let reached = tokio::time::timeout(CALL_BOUND, acked.wait_for(|n| *n >= threshold)).await.map(|r| r.is_ok());
        assert_eq!(reached, Ok(true), "the writer never reached {threshold} acknowledged writes");
        killed += kill_connections(&scratch).await;
    }
    let (acknowledged, last_acknowledged, unavailable, wrong) = writer.await.expect("writer task");
    assert!(wrong.is_empty(), "calls that were not Unavailable: {wrong:#?}");
    assert_eq!(acknowledged, 300, "the same repository did not recover ({unavailable} unavailable)");
    assert!(killed >= 4, "the kills found no connection of the repository: nothing was tested");
    // A killed connection costs the call on it (Unavailable) or is replaced before use.
    let row = client(
        &scratch,
        &format!(
            "SELECT global_position, events_processed FROM projection_checkpoints WHERE projection_name = '{NAME}'"
        ),
    );
    let (position, processed) = row.split_once('\t').expect("one checkpoint row");
    let (position, processed): (i64, u64) = (position.parse().unwrap(), processed.parse().unwrap());
    assert_eq!(position, last_acknowledged, "the loop ends on an acknowledged write");
    assert!(
        processed >= acknowledged && processed <= acknowledged + unavailable,
        "events_processed {processed}, {acknowledged} acknowledged, {unavailable} unavailable"
    );
    println!("mysql kills: {killed} connections killed, {acknowledged} acknowledged, {unavailable} unavailable");

    // A transaction whose connection is killed fails typed and ends; the next commits.
    scratch.execute("CREATE TABLE {db}.tx_probe (id BIGINT PRIMARY KEY)").await;
    let tx = repo.begin().await.expect("begin");
    tx.execute("INSERT INTO tx_probe VALUES ($1)", &[SqlValue::Int(1)]).await.expect("insert before the kill");
    tx.save_position("TxProbe", 1, Uuid::new_v4(), "Tick").await.expect("checkpoint before the kill");
    assert!(kill_connections(&scratch).await >= 1);
    let err = tx.commit().await.expect_err("a commit on a killed connection");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!tx.is_open(), "a store error ends the transaction");
    let tx = repo.begin().await.expect("the next transaction begins");
    tx.execute("INSERT INTO tx_probe VALUES ($1)", &[SqlValue::Int(2)]).await.expect("insert");
    tx.save_position("TxProbe", 2, Uuid::new_v4(), "Tick").await.expect("checkpoint");
    tx.commit().await.expect("the next transaction commits");
    assert_eq!(client(&scratch, "SELECT GROUP_CONCAT(id ORDER BY id) FROM tx_probe"), "2");
    assert_eq!(
        client(&scratch, "SELECT global_position FROM projection_checkpoints WHERE projection_name = 'TxProbe'"),
        "2",
        "read model and checkpoint commit or roll back together"
    );
    repo.close().await.unwrap();
    scratch.drop_database().await;
}

/// Polls `fut` once and drops it: what Python cancellation does to a pending call.
async fn poll_once_then_drop<F: std::future::Future>(fut: F) {
    let _ = tokio::time::timeout(Duration::ZERO, fut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_leave_the_pool_usable_and_never_land_late() {
    let Some(url) = support::mysql_url().await else { return };
    let scratch = support::MysqlScratch::new(&url, "cancel").await;
    let repo = repository(&scratch.url).await;
    repo.save_position("p", 0, Uuid::new_v4(), "T").await.unwrap();
    for k in 1..=20 {
        poll_once_then_drop(repo.save_position("p", k, Uuid::new_v4(), "T")).await;
        poll_once_then_drop(repo.get_position("p")).await;
    }
    repo.save_position("p", 100, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(repo.get_position("p").await.unwrap(), Some(100));

    // Aborted midway, a write is applied before the abort returns or never: never after
    // a later write that returned. Read by another connection after every round.
    let mut reader = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    for round in 1..=20_i64 {
        for k in 0..5 {
            let repo = repo.clone();
            let task = tokio::spawn(async move { repo.save_position("p", round * 10 + k, Uuid::new_v4(), "T").await });
            for _ in 0..k {
                tokio::task::yield_now().await;
            }
            task.abort();
            let _ = task.await;
        }
        let last = round * 1000;
        repo.save_position("p", last, Uuid::new_v4(), "T").await.unwrap();
        let stored: i64 =
            sqlx::query_scalar("SELECT global_position FROM projection_checkpoints WHERE projection_name = 'p'")
                .fetch_one(&mut reader)
                .await
                .unwrap();
        assert_eq!(stored, last, "round {round}: a cancelled write landed after the acknowledged one");
    }
    repo.close().await.unwrap();
    scratch.drop_database().await;
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_and_names_the_address() {
    let options = MysqlOptions { connect_timeout: Duration::from_secs(2), ..MysqlOptions::default() };
    let repo = MysqlRepository::connect("mysql://root@127.0.0.1:1/test", options).await.unwrap();
    let err = repo.get_position("p").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}
