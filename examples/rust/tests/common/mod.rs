//! What the process tests share: the servers (found by `tests/support/with-*.sh`), scratch schemas and databases.
#![allow(dead_code)]

#[path = "../../../../tests/support/discover.rs"]
mod discover;

/// The PostgreSQL to test against, or `None` (skipped) outside CI.
pub async fn postgres_url() -> Option<String> {
    discover::server_url("with-postgres.sh", "WAYPOST_TEST_POSTGRES_URL")
}

/// The MySQL/MariaDB server to test against, or `None` (skipped) outside CI.
pub async fn mysql_url() -> Option<String> {
    discover::server_url("with-mysql.sh", "WAYPOST_TEST_MYSQL_URL")
}

/// A new database of its own on the MySQL server of `url`: its URL, and its name for
/// [`drop_mysql_database`].
pub async fn fresh_mysql_database(url: &str) -> (String, String) {
    use sqlx::Connection as _;
    let name = format!("wp_proc_{}", &waypost::uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`"))).execute(&mut admin).await.unwrap();
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    (format!("{base}/{name}"), name)
}

/// Drops a database of [`fresh_mysql_database`].
pub async fn drop_mysql_database(url: &str, name: &str) {
    use sqlx::Connection as _;
    let mut admin = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE `{name}`"))).execute(&mut admin).await.unwrap();
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
