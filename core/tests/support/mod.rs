//! Test support: PostgreSQL discovery and per-test isolation.
//!
//! PostgreSQL comes from `WAYPOST_TEST_POSTGRES_URL`, else a server on 127.0.0.1:5432.
//! (`make test` runs `tests/support/with-postgres.sh`, which starts a throwaway cluster
//! when neither exists.) Without one, PostgreSQL tests say they were skipped; under
//! `CI=true` they fail instead.
#![allow(dead_code)]

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server URL, or `None` (after printing why) when PostgreSQL tests must be skipped.
pub async fn postgres_url() -> Option<String> {
    let url = std::env::var("WAYPOST_TEST_POSTGRES_URL").unwrap_or_else(|_| LOCAL.to_owned());
    let reachable = PgPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(&url).await;
    match reachable {
        Ok(pool) => {
            pool.close().await;
            Some(url)
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but no PostgreSQL at {url}: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL tests (no server at {url}: {e}); set WAYPOST_TEST_POSTGRES_URL");
            None
        }
    }
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

const LOCAL_MYSQL: &str = "mysql://root@127.0.0.1:3306/test";

/// The MySQL/MariaDB server URL (`WAYPOST_TEST_MYSQL_URL`, else 127.0.0.1:3306), or
/// `None` (after printing why) when MySQL tests must be skipped; under `CI=true` a
/// missing server fails instead. (`make test` runs `tests/support/with-mysql.sh`, which
/// starts a throwaway server when neither exists.)
pub async fn mysql_url() -> Option<String> {
    use sqlx::mysql::MySqlPoolOptions;
    let url = std::env::var("WAYPOST_TEST_MYSQL_URL").unwrap_or_else(|_| LOCAL_MYSQL.to_owned());
    let reachable =
        MySqlPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect(&url).await;
    match reachable {
        Ok(pool) => {
            pool.close().await;
            Some(url)
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("CI=true but no MySQL at {url}: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: MySQL tests (no server at {url}: {e}); set WAYPOST_TEST_MYSQL_URL");
            None
        }
    }
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
