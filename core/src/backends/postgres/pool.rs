//! The store handle of the PostgreSQL backend: a lazily connected sqlx pool and the one
//! connection kept out of it, how statements run on them, and the schema migration. The
//! repository, its claims ledger and its transactions hold this handle.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row};
use tokio::sync::OnceCell;

use super::errors::{dead_connection, map_err};
use super::sql::{write_query, Sql};
use crate::backends::sql as shared;
use crate::checkpoint::{Name, Write};
use crate::error::{Error, Result};
use crate::origin::Origin;
use crate::runtime::InRuntime;

/// An open PostgreSQL store.
pub(super) struct Store {
    pub pool: PgPool,
    /// One connection kept out of the pool for whichever call finds it free: taking a
    /// pooled connection per call costs a quarter to half of a primary-key read. Calls
    /// that find it busy use the pool.
    pub lane: tokio::sync::Mutex<Option<InRuntime<PoolConnection<Postgres>>>>,
    pub address: String,
    pub sql: Arc<Sql>,
    pub create_schema: bool,
    pub ready: OnceCell<()>,
    pub origin: Origin,
    /// Which typed lag query the events table's indexes allow: `LAG_UNKNOWN` until the
    /// first typed lag read looks in the catalog, then `LAG_PROBE` or `LAG_PLAIN`.
    pub lag_shape: std::sync::atomic::AtomicU8,
    /// Checkpoint writes waiting for the next group commit.
    pub group: super::group::Group,
}

pub(super) const LAG_UNKNOWN: u8 = 0;
pub(super) const LAG_PROBE: u8 = 1;
pub(super) const LAG_PLAIN: u8 = 2;

/// A connection while a statement runs on it. If the call is dropped midway (a cancelled
/// task), the connection is discarded, never returned to the pool: sqlx tests a returned
/// connection with a ping, which first sends whatever of the statement was still
/// buffered, so a cancelled write would be applied after the caller's later ones. A
/// statement already sent was applied before the cancellation returned; one still in
/// the buffer is never applied.
struct Midway(Option<InRuntime<PoolConnection<Postgres>>>);

impl Midway {
    fn conn(&mut self) -> &mut sqlx::PgConnection {
        self.0.as_mut().expect("Midway holds its connection until finished")
    }

    fn finished(mut self) -> InRuntime<PoolConnection<Postgres>> {
        self.0.take().expect("Midway holds its connection until finished")
    }
}

impl Drop for Midway {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Dropping the bare connection closes its socket without flushing.
            drop(conn.into_inner().detach());
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if self.origin.forked() {
            // The pool's sockets are the parent's too: closing them here would send the
            // server a Terminate on the parent's sessions. Keep them unreachable instead.
            std::mem::forget(self.pool.clone());
            std::mem::forget(self.lane.get_mut().take());
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The address only: the URL may carry a password.
        f.debug_struct("PostgresRepository")
            .field("address", &self.address)
            .field("table", &self.sql.qualified)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(super) async fn ready(&self) -> Result<&PgPool> {
        self.origin.check()?;
        if self.create_schema {
            self.ready.get_or_try_init(|| self.migrate()).await?;
        }
        Ok(&self.pool)
    }

    async fn migrate(&self) -> Result<()> {
        let s = &self.sql;
        let mut tx = self.pool.begin().await.map_err(|e| self.map_err(e))?;
        // Serialize concurrent first calls across processes: CREATE ... IF NOT EXISTS
        // races on the catalog otherwise.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("waypost:{}", s.qualified))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.map_err(e))?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(s.schema.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.map_err(e))?;
        let mut ddl = Vec::new();
        if !exists {
            ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", s.schema.quoted()));
        }
        // eventsource-py's layout plus position_token; only the primary key is indexed so
        // that every UPSERT stays a HOT update. The key is in byte order ("C") so that
        // get_all_checkpoints reads the index in order instead of sorting.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
                projection_name TEXT COLLATE \"C\" PRIMARY KEY,
                last_event_id UUID,
                last_event_type TEXT,
                last_processed_at TIMESTAMPTZ,
                global_position BIGINT,
                events_processed BIGINT NOT NULL DEFAULT 0,
                position_token TEXT,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
            s.qualified
        ));
        ddl.push(format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS position_token TEXT", s.qualified));
        for statement in ddl {
            sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await.map_err(|e| self.map_err(e))?;
        }
        tx.commit().await.map_err(|e| self.map_err(e))
    }

    /// Maps sqlx's errors onto waypost's kinds, naming the server for connection failures.
    pub(super) fn map_err(&self, e: sqlx::Error) -> Error {
        map_err(&self.address, e)
    }

    /// Runs one statement on the free lane connection, else on a pooled one.
    pub(super) async fn run(&self, q: Query<'_, Postgres, PgArguments>, fetch: Fetch) -> Result<Vec<PgRow>> {
        let pool = self.ready().await?;
        let mut lane = self.lane.try_lock().ok();
        let conn = match lane.as_mut().and_then(|l| l.take()) {
            Some(conn) => conn,
            // The lane's connection is kept for many calls: take one that answers.
            None if lane.is_some() => InRuntime::new(self.acquire_live(pool).await?),
            None => InRuntime::new(pool.acquire().await.map_err(|e| self.map_err(e))?),
        };
        let mut midway = Midway(Some(conn));
        let result = fetch.run(q, midway.conn()).await;
        let conn = midway.finished();
        let broken = matches!(&result, Err(e) if dead_connection(e));
        match lane.as_mut() {
            Some(lane) if !broken => **lane = Some(conn),
            // Busy lane: the connection goes back to the pool; broken: it is closed.
            _ if !broken => drop(conn),
            _ => drop(conn.into_inner().detach()),
        }
        result.map_err(|e| self.map_err(e))
    }

    /// A pooled connection that answers a ping, for the lane (taken once, then kept): an
    /// idle connection that died with the server (a restart) is discarded here instead of
    /// failing the caller's statement. Each failed ping closes one connection.
    async fn acquire_live(&self, pool: &PgPool) -> Result<PoolConnection<Postgres>> {
        let mut dead = 0;
        loop {
            let mut conn = pool.acquire().await.map_err(|e| self.map_err(e))?;
            match sqlx::Connection::ping(&mut *conn).await {
                Ok(()) => return Ok(conn),
                Err(e) if dead >= pool.options().get_max_connections() => return Err(self.map_err(e)),
                Err(_) => {
                    conn.close_on_drop();
                    dead += 1;
                }
            }
        }
    }

    pub(super) async fn write_on(&self, conn: &mut sqlx::PgConnection, w: &Write<'_>) -> Result<()> {
        self.ready().await?;
        write_query(&self.sql, w).execute(conn).await.map(drop).map_err(|e| self.map_err(e))
    }

    pub(super) async fn read_column<T>(&self, name: Name<'_>, sql: &Arc<str>) -> Result<Option<T>>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        let rows = self.run(sqlx::query(AssertSqlSafe(sql.clone())).bind(name.as_str()), Fetch::Optional).await?;
        match rows.first() {
            Some(row) => row.try_get::<Option<T>, _>(0).map_err(|e| self.map_err(e)),
            None => Ok(None),
        }
    }

    pub(super) fn missing_events_table(&self, e: Error) -> Error {
        match &self.sql.events {
            Some(ev) => shared::missing_events_table(e, ev.names.table.as_str(), &ev.qualified, "connect"),
            None => e,
        }
    }

    pub(super) async fn run_ddl(&self, statements: Vec<String>) -> Result<()> {
        let pool = self.ready().await?;
        let mut tx = pool.begin().await.map_err(|e| self.map_err(e))?;
        for statement in statements {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.missing_events_table(self.map_err(e)))?;
        }
        tx.commit().await.map_err(|e| self.map_err(e))
    }
}

/// What a statement returns.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fetch {
    Nothing,
    Optional,
    All,
}

impl Fetch {
    async fn run<'c, E>(
        self,
        q: Query<'_, Postgres, PgArguments>,
        on: E,
    ) -> std::result::Result<Vec<PgRow>, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = Postgres>,
    {
        match self {
            Fetch::Nothing => q.execute(on).await.map(|_| Vec::new()),
            Fetch::Optional => q.fetch_optional(on).await.map(|r| r.into_iter().collect()),
            Fetch::All => q.fetch_all(on).await,
        }
    }
}
