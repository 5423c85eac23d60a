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
