//! Server faults on a MariaDB server of the test's own (`mariadb-install-db` and
//! `mariadbd` on a free loopback port): restarted twice under a writing loop, once under
//! an open transaction, and stopped. Every call returns or fails with `Unavailable`, the
//! same repository recovers by itself, and no acknowledged write is lost, as another
//! process (the `mariadb` client) reads it. Without MariaDB's server binaries the test is
//! skipped, and under `CI=true` it fails instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;
use waypost::{CheckpointRepository, ErrorKind, MysqlOptions, MysqlRepository, SqlValue};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Slack on top of `connect_timeout` for a call that must fail: a bound on a failure.
const MARGIN: Duration = Duration::from_secs(5);
const NAME: &str = "RestartLoop";

/// The first of `names` on PATH or in the directories a root PATH may lack.
fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from));
    let dirs: Vec<PathBuf> = dirs.collect();
    names.iter().find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

/// A server of the test's own; killed and removed on drop, whatever the test's outcome.
struct Server {
    /// First, so that it is killed before its directory goes (fields drop in order).
    child: Option<tokio::process::Child>,
    dir: tempfile::TempDir,
    port: u16,
    mariadbd: PathBuf,
}

impl Server {
    /// A running server, or `None` (after saying why) when none can be made here.
    async fn create() -> Option<Server> {
        let found = find(&["mariadbd"]).zip(find(&["mariadb-install-db", "mysql_install_db"]));
        let Some((mariadbd, install_db)) = found else {
            let why = "mariadbd / mariadb-install-db not found";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but no throwaway MariaDB server can be made: {why}");
            }
            eprintln!("SKIPPED: MariaDB restart tests ({why})");
            return None;
        };
        // A unix socket path must stay below 108 bytes.
        let dir = tempfile::Builder::new().prefix("wp-myr").tempdir_in("/tmp").unwrap();
        let out = std::process::Command::new(install_db)
            .args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(root_user())
            .output()
            .expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Server { child: None, dir, port, mariadbd };
        server.start().await;
        server.client("CREATE DATABASE test");
        Some(server)
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/test", self.port)
    }

    /// Starts `mariadbd` on the data directory and waits until it answers (60 s at most).
    async fn start(&mut self) {
        let dir = self.dir.path();
        let child = tokio::process::Command::new(&self.mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", dir.join("s.sock").display()))
            .arg(format!("--pid-file={}", dir.join("s.pid").display()))
            .arg(format!("--log-error={}", dir.join("s.err").display()))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve", "--character-set-server=utf8mb4"])
            .args(root_user())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("mariadbd exited during startup ({status}): {}", self.log_tail());
            }
            assert!(Instant::now() < deadline, "mariadbd did not answer within 60 s: {}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server cleanly (SIGTERM, as a service manager does) and waits for it.
    async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().expect("pid").to_string();
        let term = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(term.success());
        let exited = tokio::time::timeout(Duration::from_secs(60), child.wait()).await;
        assert!(matches!(exited, Ok(Ok(_))), "mariadbd did not stop within 60 s: {}", self.log_tail());
    }

    async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    fn answers(&self) -> bool {
        self.run_client("SELECT 1").is_some_and(|out| out.status.success())
    }

    fn run_client(&self, sql: &str) -> Option<std::process::Output> {
        let client = find(&["mariadb", "mysql"])?;
        let port = self.port.to_string();
        let args = ["--no-defaults", "--protocol=TCP", "--connect-timeout=2", "-h", "127.0.0.1", "-P", &port];
        std::process::Command::new(client).args(args).args(["-u", "root", "-N", "-B", "-e", sql]).output().ok()
    }

    /// One row of `sql`, read by the client: another process, another connection.
    fn client(&self, sql: &str) -> String {
        let out = self.run_client(sql).expect("the mariadb client");
        assert!(out.status.success(), "client: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("s.err")).unwrap_or_default();
        log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// mariadbd refuses to run as root unless told to.
fn root_user() -> Vec<&'static str> {
    let root = std::fs::metadata(Path::new("/proc/self")).map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if root.unwrap_or(false) {
        vec!["--user=root"]
    } else {
        Vec::new()
    }
}

async fn repository(url: &str) -> Arc<MysqlRepository> {
    let options = MysqlOptions { connect_timeout: CONNECT_TIMEOUT, events_table: None, ..MysqlOptions::default() };
    Arc::new(MysqlRepository::connect(url, options).await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restarts_a_stopped_server_and_transactions() {
    let Some(mut server) = Server::create().await else { return };
    let deadline = Instant::now() + Duration::from_secs(120);

    // --- Two restarts under a writing loop, one repository throughout. ---
    let repo = repository(&server.url()).await;
    let (acked_tx, mut acked) = tokio::sync::watch::channel(0_u64);
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    let writer = tokio::spawn(support::write_loop(
        repo.clone(),
        NAME,
        acked_tx,
        stop_at.clone(),
        deadline,
        CONNECT_TIMEOUT + MARGIN,
    ));
    for threshold in [50, 150] {
        let left = deadline.saturating_duration_since(Instant::now());
        let reached = tokio::time::timeout(left, acked.wait_for(|n| *n >= threshold)).await.map(|r| r.is_ok());
        assert_eq!(reached, Ok(true), "the writer never reached {threshold} acknowledged writes");
        server.restart().await;
    }
    let after_second = *acked.borrow();
    stop_at.store(after_second + 100, Ordering::SeqCst);
    let tally = writer.await.expect("writer task");
    assert!(tally.wrong.is_empty(), "calls that were not Unavailable: {:#?}", tally.wrong);
    assert_eq!(tally.acknowledged, after_second + 100, "the same repository did not recover ({tally:?})");
    // A restart may go unseen: a call that finds the server down waits in the pool's
    // connect (up to the connect timeout) and succeeds once the server is back, and the
    // lane's dead connection is replaced before use. About one run in eight here saw no
    // failure at all, so failures are reported, not required; the server did restart
    // (`stop` waited for mariadbd to exit) and the loop went on past both restarts.
    println!("across two restarts: {tally:?}");
    let row = server.client(&format!(
        "SELECT global_position, events_processed FROM test.projection_checkpoints WHERE projection_name = '{NAME}'"
    ));
    let (position, processed) = row.split_once('\t').expect("one checkpoint row");
    let (position, processed): (i64, u64) = (position.parse().unwrap(), processed.parse().unwrap());
    assert_eq!(position, tally.last_acknowledged, "the loop ends on an acknowledged write");
    assert!(
        processed >= tally.acknowledged && processed <= tally.acknowledged + tally.unavailable,
        "events_processed {processed}, {} acknowledged, {} unavailable",
        tally.acknowledged,
        tally.unavailable
    );
    println!(
        "mariadb restarts: 2 restarts, {} acknowledged, {} unavailable (stored position {position})",
        tally.acknowledged, tally.unavailable
    );

    // --- A transaction open across a restart fails typed; the next one commits. ---
    server.client("CREATE TABLE test.tx_probe (id BIGINT PRIMARY KEY)");
    let tx = repo.begin().await.expect("begin");
    tx.execute("INSERT INTO tx_probe VALUES ($1)", &[SqlValue::Int(1)]).await.expect("insert before the restart");
    tx.save_position("TxProbe", 1, Uuid::new_v4(), "Tick").await.expect("checkpoint before the restart");
    server.restart().await;
    let err = tx.commit().await.expect_err("a commit across a restart");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let tx = repo.begin().await.expect("the next transaction begins");
    tx.execute("INSERT INTO tx_probe VALUES ($1)", &[SqlValue::Int(2)]).await.expect("insert");
    tx.save_position("TxProbe", 2, Uuid::new_v4(), "Tick").await.expect("checkpoint");
    tx.commit().await.expect("the next transaction commits");
    assert_eq!(server.client("SELECT GROUP_CONCAT(id ORDER BY id) FROM test.tx_probe"), "2");
    let stored = "SELECT global_position FROM test.projection_checkpoints WHERE projection_name = 'TxProbe'";
    assert_eq!(server.client(stored), "2", "read model and checkpoint commit or roll back together");

    // --- A stopped server: each call fails typed within the bound; then it recovers. ---
    server.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let err = repo.get_position(NAME).await.expect_err("no server");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(
            started.elapsed() < CONNECT_TIMEOUT + MARGIN,
            "a call on a stopped server took {:?}",
            started.elapsed()
        );
    }
    server.start().await;
    assert_eq!(repo.get_position(NAME).await.expect("recovered"), Some(position));
    repo.close().await.unwrap();
}
