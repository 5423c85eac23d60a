//! What the process tests share: PostgreSQL discovery and scratch schemas.
#![allow(dead_code)]

use waypost::{CheckpointRepository, PostgresOptions, PostgresRepository};

/// The PostgreSQL to test against, or `None` (skipped) outside CI.
pub async fn postgres_url() -> Option<String> {
    let url = std::env::var("WAYPOST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let probe =
        PostgresRepository::connect(&url, PostgresOptions { events_table: None, ..Default::default() }).await.ok()?;
    match probe.get_all_checkpoints().await {
        Ok(_) => Some(url),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("CI=true but no PostgreSQL at {url}: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL process tests ({e})");
            None
        }
    }
}

/// A schema name no other run uses.
pub fn fresh_schema() -> String {
    format!("wp_proc_{}", &waypost::uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Drops a scratch schema.
pub async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE"))).execute(&mut admin).await.unwrap();
}
