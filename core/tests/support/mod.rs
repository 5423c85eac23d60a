//! Test support: the servers (found once, by `tests/support/with-*.sh`) and per-test
//! isolation (a PostgreSQL schema, a MySQL database of its own).
#![allow(dead_code)]

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

#[path = "../../../tests/support/discover.rs"]
mod discover;

/// The PostgreSQL server URL, or `None` (after printing why) when its tests are skipped.
pub async fn postgres_url() -> Option<String> {
    discover::server_url("with-postgres.sh", "WAYPOST_TEST_POSTGRES_URL")
}

/// A schema of its own for one test, dropped by [`Scratch::drop_schema`].
pub struct Scratch {
    pub url: String,
    pub schema: String,
    admin: PgPool,
}

impl Scratch {
    pub async fn new(url: &str, label: &str) -> Scratch {
        let schema = format!(
            "wp_{}_{}",
            label.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin = PgPoolOptions::new().max_connections(1).connect(url).await.expect("admin connection");
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\""))).execute(&admin).await.expect("create schema");
        Scratch { url: url.to_owned(), schema, admin }
    }

    /// Runs one SQL statement in the scratch schema (setup of foreign layouts).
    pub async fn execute(&self, sql: &str) {
        let sql = sql.replace("{schema}", &format!("\"{}\"", self.schema));
        sqlx::query(AssertSqlSafe(sql)).execute(&self.admin).await.expect("setup sql");
    }

    pub fn admin(&self) -> &PgPool {
        &self.admin
    }

    pub async fn drop_schema(self) {
        let _ =
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{}\" CASCADE", self.schema))).execute(&self.admin).await;
        self.admin.close().await;
    }
}

/// The MySQL/MariaDB server URL, or `None` (after printing why) when its tests are skipped.
pub async fn mysql_url() -> Option<String> {
    discover::server_url("with-mysql.sh", "WAYPOST_TEST_MYSQL_URL")
}

/// A database of its own for one test (MySQL's schemas are databases), dropped by
/// [`MysqlScratch::drop_database`].
pub struct MysqlScratch {
    /// The server URL with this database.
    pub url: String,
    pub database: String,
    admin: sqlx::MySqlPool,
}

impl MysqlScratch {
    pub async fn new(url: &str, label: &str) -> MysqlScratch {
        use sqlx::mysql::MySqlPoolOptions;
        let database = format!(
            "wp_{}_{}",
            label.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let admin = MySqlPoolOptions::new().max_connections(1).connect(url).await.expect("admin connection");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{database}`"))).execute(&admin).await.expect("create db");
        let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
        MysqlScratch { url: format!("{base}/{database}"), database, admin }
    }

    /// Runs one SQL statement in the scratch database (`{db}` is its quoted name).
    pub async fn execute(&self, sql: &str) {
        let sql = sql.replace("{db}", &format!("`{}`", self.database));
        sqlx::query(AssertSqlSafe(sql)).execute(&self.admin).await.expect("setup sql");
    }

    pub async fn drop_database(self) {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{}`", self.database))).execute(&self.admin).await;
        self.admin.close().await;
    }
}

/// Where a case's SQL store keeps its tables: a PostgreSQL schema or a MySQL database of
/// its own, dropped after the case.
pub enum Space {
    None,
    Postgres(Scratch),
    Mysql(MysqlScratch),
}

impl Space {
    /// The `{ns}` prefix of the cases' SQL.
    pub fn namespace(&self) -> String {
        match self {
            Space::Postgres(s) => format!("\"{}\".", s.schema),
            // The repository's connection is in the case's own database.
            Space::None | Space::Mysql(_) => String::new(),
        }
    }

    pub async fn drop(self) {
        match self {
            Space::None => {}
            Space::Postgres(s) => s.drop_schema().await,
            Space::Mysql(s) => s.drop_database().await,
        }
    }
}

/// What a writing loop saw ([`write_loop`]).
#[derive(Debug, Default)]
pub struct Tally {
    pub acknowledged: u64,
    pub last_acknowledged: i64,
    pub attempted: i64,
    pub unavailable: u64,
    /// Errors of another kind, and calls that neither returned nor failed within the bound.
    pub wrong: Vec<String>,
}

/// Saves positions 1, 2, 3, … of `name` until `stop_at` acknowledged writes (set by the
/// test), the deadline, 100,000 attempts or five wrong outcomes; publishes the number
/// acknowledged after each write. A call must return or fail within `bound`.
pub async fn write_loop(
    repo: std::sync::Arc<dyn waypost::CheckpointRepository>,
    name: &'static str,
    acked: tokio::sync::watch::Sender<u64>,
    stop_at: std::sync::Arc<std::sync::atomic::AtomicU64>,
    deadline: std::time::Instant,
    bound: std::time::Duration,
) -> Tally {
    use std::sync::atomic::Ordering;
    let mut t = Tally::default();
    while t.acknowledged < stop_at.load(Ordering::SeqCst)
        && std::time::Instant::now() < deadline
        && t.attempted < 100_000
        && t.wrong.len() < 5
    {
        t.attempted += 1;
        let n = t.attempted;
        match tokio::time::timeout(bound, repo.save_position(name, n, uuid::Uuid::new_v4(), "Tick")).await {
            Ok(Ok(())) => {
                t.acknowledged += 1;
                t.last_acknowledged = n;
                acked.send_replace(t.acknowledged);
            }
            Ok(Err(e)) if e.kind() == waypost::ErrorKind::Unavailable => t.unavailable += 1,
            Ok(Err(e)) => t.wrong.push(format!("save_position({n}): {:?}: {e}", e.kind())),
            Err(_) => t.wrong.push(format!("save_position({n}) neither returned nor failed within {bound:?}")),
        }
    }
    t
}

const PG_THROWAWAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/pg-throwaway.sh");

fn script(args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash").arg(PG_THROWAWAY).args(args).output().expect("run pg-throwaway.sh")
}

/// The throwaway cluster; destroyed on drop, whatever the test's outcome.
pub struct Cluster {
    pub dir: String,
    pub port: u16,
}

impl Cluster {
    /// A running cluster, or `None` (after saying why `what` is skipped) when none can be
    /// made here; under `CI=true` that fails instead.
    pub fn create(what: &str) -> Option<Cluster> {
        Cluster::made_by("create", what)
    }

    /// As [`create`](Self::create), with TLS on and the certificates of
    /// `pg-throwaway.sh create-tls` in [`tls`](Self::tls).
    pub fn create_tls(what: &str) -> Option<Cluster> {
        Cluster::made_by("create-tls", what)
    }

    /// A file of `DIR/tls`.
    pub fn tls(&self, file: &str) -> std::path::PathBuf {
        std::path::Path::new(&self.dir).join("tls").join(file)
    }

    fn made_by(action: &str, what: &str) -> Option<Cluster> {
        let check = script(&["check"]);
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stdout).trim().to_owned();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but no throwaway PostgreSQL cluster can be made: {why}");
            }
            eprintln!("SKIPPED: {what} ({why})");
            return None;
        }
        let out = script(&[action]);
        assert!(out.status.success(), "pg-throwaway.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).unwrap();
        let (dir, port) = line.trim().split_once(' ').expect("DIR PORT");
        Some(Cluster { dir: dir.to_owned(), port: port.parse().expect("port") })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg-throwaway.sh ACTION DIR [MODE]`, without blocking the runtime's writers.
    pub async fn control(&self, action: &str, mode: Option<&str>) {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(PG_THROWAWAY).arg(action).arg(&self.dir).args(mode);
        let out = cmd.output().await.expect("run pg-throwaway.sh");
        assert!(out.status.success(), "pg-throwaway.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// One row of `sql`, read by `psql`: another process, another connection.
    pub fn psql(&self, sql: &str) -> String {
        let out = std::process::Command::new("psql")
            .args(["-X", "-w", "-v", "ON_ERROR_STOP=1", &self.url(), "-Atc", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = script(&["destroy", &self.dir]);
    }
}
