//! The store handle of the MySQL backend: a lazily connected sqlx pool, how statements
//! run on it, and the schema migration. The repository, its claims ledger and its
//! transactions hold this handle.

use std::sync::Arc;

use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlPool, MySqlRow};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, MySql};
use tokio::sync::OnceCell;

use super::errors::{dead_connection, map_err};
use super::sql::{key_collation, Sql};
use crate::backends::sql as shared;
use crate::error::{Error, Result};
use crate::origin::Origin;
use crate::runtime::InRuntime;

/// An open MySQL store.
pub(super) struct Store {
    pub pool: MySqlPool,
    pub address: String,
    pub sql: Arc<Sql>,
    pub create_schema: bool,
    /// The server's binary no-pad collation, learnt at the first call (with the migration).
    pub ready: OnceCell<&'static str>,
    pub origin: Origin,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address only: the URL may carry a password.
        f.debug_struct("MysqlRepository")
            .field("address", &self.address)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.origin.forked() {
            // The pool's sockets are the parent's too: keep them unreachable instead of
            // ending the parent's sessions.
            std::mem::forget(self.pool.clone());
        }
    }
}

/// A connection while a statement runs on it: if the call is dropped midway, the
/// connection is closed, never returned to the pool, so a statement still buffered is
/// never sent after the caller's later ones.
pub(super) struct Midway(Option<InRuntime<PoolConnection<MySql>>>);

impl Midway {
    pub(super) fn new(conn: PoolConnection<MySql>) -> Self {
        Midway(Some(InRuntime::new(conn)))
    }

    pub(super) fn conn(&mut self) -> &mut MySqlConnection {
        self.0.as_mut().expect("Midway holds its connection until finished")
    }

    /// Returns the connection to the pool, or closes it when `broken`.
    pub(super) fn finished(mut self, broken: bool) {
        let conn = self.0.take().expect("Midway holds its connection until finished");
        if broken {
            drop(conn.into_inner().detach());
        }
    }
}

impl Drop for Midway {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.into_inner().detach());
        }
    }
}

/// What a statement returns.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fetch {
    Nothing,
    Optional,
    All,
}

impl Store {
    /// The pool, once the checkpoint table exists; the server's key collation.
    pub(super) async fn ready(&self) -> Result<(&MySqlPool, &'static str)> {
        self.origin.check()?;
        let collation = *self.ready.get_or_try_init(|| self.migrate()).await?;
        Ok((&self.pool, collation))
    }

    async fn migrate(&self) -> Result<&'static str> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.map_err(e))?;
        let version: String =
            sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut *conn).await.map_err(|e| self.map_err(e))?;
        let collation = key_collation(&version);
        if !self.create_schema {
            return Ok(collation);
        }
        // Serialize concurrent first calls across processes (a session lock, released
        // below or when the connection ends).
        let lock = format!("waypost:{}", self.sql.table);
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(SHA1(CONCAT(DATABASE(), ?)), 10)")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.map_err(e))?;
        if got != Some(1) {
            return Err(Error::unavailable("mysql: another process holds the migration lock", None));
        }
        let migrated = async {
            let s = &self.sql;
            sqlx::query(AssertSqlSafe(s.create_table(collation))).execute(&mut *conn).await?;
            let has_token: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = ? AND column_name = 'position_token'",
            )
            .bind(s.table.as_str())
            .fetch_one(&mut *conn)
            .await?;
            if has_token == 0 {
                let alter = format!(
                    "ALTER TABLE {} ADD COLUMN position_token TEXT CHARACTER SET utf8mb4 COLLATE {collation}",
                    s.qualified
                );
                sqlx::query(AssertSqlSafe(alter)).execute(&mut *conn).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        let released =
            sqlx::query("DO RELEASE_LOCK(SHA1(CONCAT(DATABASE(), ?)))").bind(&lock).execute(&mut *conn).await;
        migrated.map_err(|e| self.map_err(e))?;
        released.map_err(|e| self.map_err(e))?;
        Ok(collation)
    }

    pub(super) fn map_err(&self, e: sqlx::Error) -> Error {
        map_err(&self.address, e)
    }

    /// `e`, naming the events table when it is the one missing.
    pub(super) fn missing_events_table(&self, e: Error) -> Error {
        match &self.sql.events {
            Some(ev) => shared::missing_events_table(e, ev.names.table.as_str(), &ev.qualified, "connect"),
            None => e,
        }
    }

    /// Runs one statement on a pooled connection.
    pub(super) async fn run(&self, q: Query<'_, MySql, MySqlArguments>, fetch: Fetch) -> Result<Vec<MySqlRow>> {
        let (pool, _) = self.ready().await?;
        let mut midway = Midway::new(pool.acquire().await.map_err(|e| self.map_err(e))?);
        let result = match fetch {
            Fetch::Nothing => q.execute(midway.conn()).await.map(|_| Vec::new()),
            Fetch::Optional => q.fetch_optional(midway.conn()).await.map(|r| r.into_iter().collect()),
            Fetch::All => q.fetch_all(midway.conn()).await,
        };
        midway.finished(matches!(&result, Err(e) if dead_connection(e)));
        result.map_err(|e| self.map_err(e))
    }
}
