//! What the process tests share: the PostgreSQL server (found by `tests/support/with-postgres.sh`) and scratch schemas.
#![allow(dead_code)]

#[path = "../../../../tests/support/discover.rs"]
mod discover;

/// The PostgreSQL to test against, or `None` (skipped) outside CI.
pub async fn postgres_url() -> Option<String> {
    discover::server_url("with-postgres.sh", "WAYPOST_TEST_POSTGRES_URL")
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
