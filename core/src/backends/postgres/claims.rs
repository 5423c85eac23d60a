//! The claims ledger of a PostgreSQL repository. Each rule is one statement that the
//! server applies atomically, with lease times from the server's clock: a claim is an
//! `INSERT … ON CONFLICT DO UPDATE … WHERE <the item may be taken>`, and each holder's
//! call is an `UPDATE … WHERE epoch = <the claim's>`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OnceCell;

use super::pool::{Fetch, Store};
use super::sql::quote_literal;
use crate::backends::sql::CLAIM_COLUMNS as COLUMNS;
use crate::claims::{self, Claim, ClaimCounts, ClaimRecord, ClaimStatus, ClaimStore, ItemStats, LEASE_EXPIRED};
use crate::error::{Error, Result};
use crate::ident::Identifier;

/// `now() + $n microseconds`.
fn lease_sql(n: usize) -> String {
    format!("now() + (${n}::bigint * interval '1 microsecond')")
}

pub(super) struct PostgresClaims {
    store: Arc<Store>,
    qualified: String,
    max_retries: u32,
    sql: ClaimsSql,
    ready: OnceCell<()>,
}

struct ClaimsSql {
    ddl: Vec<String>,
    claim: String,
    expire: String,
    peek: String,
    heartbeat: String,
    complete: String,
    fail: String,
    release: String,
    select: String,
    stats: String,
    list_all: String,
    list_status: String,
}

impl std::fmt::Debug for PostgresClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresClaims").field("table", &self.qualified).field("repository", &self.store).finish()
    }
}

impl PostgresClaims {
    pub(super) fn new(store: Arc<Store>, table: &Identifier, max_retries: u32) -> Self {
        let schema = store.sql.schema.clone();
        let t = format!("{}.{}", schema.quoted(), table.quoted());
        // The holder's call matches the claim exactly: same epoch, same worker, live.
        let fenced = "item_key = $1 AND epoch = $2 AND worker_id = $3 AND status = 'processing' \
                      AND lease_expires_at IS NOT NULL";
        let mut ddl = vec![format!("SELECT pg_advisory_xact_lock(hashtext('waypost:' || {}))", quote_literal(&t))];
        if store.create_schema {
            ddl.push(format!("CREATE SCHEMA IF NOT EXISTS {}", schema.quoted()));
        }
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                item_key TEXT COLLATE \"C\" PRIMARY KEY,
                item_type TEXT NOT NULL,
                item_timestamp TIMESTAMPTZ NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
                retry_count INTEGER NOT NULL DEFAULT 0,
                worker_id TEXT,
                epoch BIGINT NOT NULL,
                lease_expires_at TIMESTAMPTZ,
                started_at TIMESTAMPTZ,
                completed_at TIMESTAMPTZ,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                error_message TEXT,
                records_total BIGINT,
                records_filtered BIGINT,
                records_persisted BIGINT,
                processing_time_ms BIGINT
            )"
        ));
        ddl.push(format!(
            "CREATE INDEX IF NOT EXISTS {} ON {t} (status, item_key)",
            table.derived("status_idx").quoted()
        ));
        let sql = ClaimsSql {
            ddl,
            // $1 key, $2 type, $3 item timestamp, $4 worker, $5 lease µs, $6 max retries.
            claim: format!(
                "INSERT INTO {t} AS c (item_key, item_type, item_timestamp, status, retry_count, worker_id, epoch, \
                 lease_expires_at, started_at, created_at) \
                 VALUES ($1, $2, $3, 'processing', 0, $4, 1, {lease}, now(), now()) \
                 ON CONFLICT (item_key) DO UPDATE SET status = 'processing', \
                 retry_count = c.retry_count + CASE WHEN c.status = 'processing' AND c.lease_expires_at IS NULL \
                 THEN 0 ELSE 1 END, \
                 worker_id = EXCLUDED.worker_id, epoch = c.epoch + 1, lease_expires_at = EXCLUDED.lease_expires_at, \
                 started_at = now(), completed_at = NULL \
                 WHERE (c.status = 'failed' AND c.retry_count < $6) \
                 OR (c.status = 'processing' AND (c.lease_expires_at IS NULL \
                 OR (c.lease_expires_at <= now() AND c.retry_count < $6))) \
                 RETURNING epoch, retry_count, lease_expires_at",
                lease = lease_sql(5)
            ),
            expire: format!(
                "UPDATE {t} SET status = 'failed', epoch = epoch + 1, lease_expires_at = NULL, completed_at = now(), \
                 error_message = {} WHERE item_key = $1 AND status = 'processing' AND lease_expires_at <= now() \
                 AND retry_count >= $2",
                quote_literal(LEASE_EXPIRED)
            ),
            // $1 key, $2 max retries: whether a claim could change anything (no lock taken).
            peek: format!(
                "SELECT NOT (status = 'completed' OR (status = 'failed' AND retry_count >= $2) \
                 OR (status = 'processing' AND coalesce(lease_expires_at > now(), false))) FROM {t} WHERE item_key = $1"
            ),
            heartbeat: format!(
                "UPDATE {t} SET lease_expires_at = {} WHERE {fenced} RETURNING retry_count, lease_expires_at",
                lease_sql(4)
            ),
            complete: format!(
                "UPDATE {t} SET status = 'completed', lease_expires_at = NULL, completed_at = now(), \
                 error_message = NULL, records_total = $4, records_filtered = $5, records_persisted = $6, \
                 processing_time_ms = $7 WHERE {fenced} RETURNING epoch"
            ),
            fail: format!(
                "UPDATE {t} SET status = 'failed', lease_expires_at = NULL, completed_at = now(), \
                 error_message = $4 WHERE {fenced} RETURNING epoch"
            ),
            release: format!("UPDATE {t} SET lease_expires_at = NULL, worker_id = NULL WHERE {fenced} RETURNING epoch"),
            select: format!("SELECT {COLUMNS} FROM {t} WHERE item_key = $1"),
            stats: format!(
                "SELECT count(*), count(*) FILTER (WHERE status = 'processing'), \
                 count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed') FROM {t}"
            ),
            list_all: format!("SELECT {COLUMNS} FROM {t} ORDER BY item_key LIMIT $1"),
            list_status: format!("SELECT {COLUMNS} FROM {t} WHERE status = $2 ORDER BY item_key LIMIT $1"),
        };
        PostgresClaims { store, qualified: t, max_retries, sql, ready: OnceCell::new() }
    }

    async fn ready(&self) -> Result<()> {
        self.ready
            .get_or_try_init(|| async {
                let pool = self.store.ready().await?;
                let mut tx = pool.begin().await.map_err(|e| self.store.map_err(e))?;
                for statement in &self.sql.ddl {
                    sqlx::query(AssertSqlSafe(statement.as_str()))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.store.map_err(e))?;
                }
                tx.commit().await.map_err(|e| self.store.map_err(e))
            })
            .await
            .map(drop)
    }

    /// Runs a holder's statement; no row back means the claim was not current.
    async fn fenced(
        &self,
        claim: &Claim,
        sql: &str,
        bind: impl FnOnce(Query<'_>) -> Query<'_>,
    ) -> Result<Option<PgRow>> {
        self.ready().await?;
        let q = sqlx::query(AssertSqlSafe(sql.to_owned())).bind(&claim.key).bind(claim.epoch).bind(&claim.worker_id);
        let mut rows = self.store.run(bind(q), Fetch::Optional).await?;
        match rows.pop() {
            Some(row) => Ok(Some(row)),
            None => Err(claims::lease_lost(claim)),
        }
    }

    async fn records(&self, q: Query<'_>) -> Result<Vec<ClaimRecord>> {
        self.ready().await?;
        let rows = self.store.run(q, Fetch::All).await?;
        rows.iter().map(|r| record(r).map_err(|e| self.decode_err(e))).collect()
    }

    fn decode_err(&self, e: RecordError) -> Error {
        match e {
            RecordError::Sql(e) => self.store.map_err(e),
            RecordError::Stored(e) => e,
        }
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn micros(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

enum RecordError {
    Sql(sqlx::Error),
    Stored(Error),
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::Sql(e)
    }
}

fn record(r: &PgRow) -> std::result::Result<ClaimRecord, RecordError> {
    let status: String = r.try_get(3)?;
    let retry_count: i32 = r.try_get(4)?;
    let totals: [Option<i64>; 4] = [r.try_get(12)?, r.try_get(13)?, r.try_get(14)?, r.try_get(15)?];
    Ok(ClaimRecord {
        key: r.try_get(0)?,
        item_type: r.try_get(1)?,
        item_timestamp: r.try_get(2)?,
        status: ClaimStatus::parse(&status)
            .map_err(|e| RecordError::Stored(Error::backend(format!("stored {e}"), None)))?,
        retry_count: u32::try_from(retry_count).unwrap_or(0),
        worker_id: r.try_get(5)?,
        epoch: r.try_get(6)?,
        lease_expires_at: r.try_get(7)?,
        started_at: r.try_get(8)?,
        completed_at: r.try_get(9)?,
        created_at: r.try_get(10)?,
        error_message: r.try_get(11)?,
        stats: ItemStats::from_columns(totals),
    })
}

#[async_trait]
impl ClaimStore for PostgresClaims {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        self.ready().await?;
        let max_retries = i32::try_from(self.max_retries).unwrap_or(i32::MAX);
        // An item that cannot be taken is answered by a read: the upsert below would lock
        // its row and commit even when it changes nothing.
        let peek = sqlx::query(AssertSqlSafe(self.sql.peek.clone())).bind(key).bind(max_retries);
        if let Some(row) = self.store.run(peek, Fetch::Optional).await?.pop() {
            let may_change: bool = row.try_get(0).map_err(|e| self.store.map_err(e))?;
            if !may_change {
                return Ok(None);
            }
        }
        let q = sqlx::query(AssertSqlSafe(self.sql.claim.clone()))
            .bind(key)
            .bind(item_type)
            .bind(item_timestamp)
            .bind(worker_id)
            .bind(micros(lease))
            .bind(max_retries);
        let mut rows = self.store.run(q, Fetch::Optional).await?;
        if let Some(row) = rows.pop() {
            let get = |row: &PgRow| -> std::result::Result<Claim, sqlx::Error> {
                let retry_count: i32 = row.try_get(1)?;
                Ok(Claim {
                    key: key.to_owned(),
                    worker_id: worker_id.to_owned(),
                    epoch: row.try_get(0)?,
                    attempt: u32::try_from(retry_count).unwrap_or(0) + 1,
                    lease_expires_at: row.try_get(2)?,
                })
            };
            return get(&row).map(Some).map_err(|e| self.store.map_err(e));
        }
        // Not taken: a dead claim out of retries becomes failed.
        let q = sqlx::query(AssertSqlSafe(self.sql.expire.clone())).bind(key).bind(max_retries);
        self.store.run(q, Fetch::Nothing).await?;
        Ok(None)
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        let row = self.fenced(claim, &self.sql.heartbeat, |q| q.bind(micros(lease))).await?;
        let row = row.ok_or_else(|| claims::lease_lost(claim))?;
        let until: DateTime<Utc> = row.try_get(1).map_err(|e| self.store.map_err(e))?;
        Ok(Claim { lease_expires_at: until, ..claim.clone() })
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        self.fenced(claim, &self.sql.complete, |q| {
            q.bind(stats.records_total)
                .bind(stats.records_filtered)
                .bind(stats.records_persisted)
                .bind(stats.processing_time_ms)
        })
        .await
        .map(drop)
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        let message = message.to_owned();
        self.fenced(claim, &self.sql.fail, |q| q.bind(message)).await.map(drop)
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        self.fenced(claim, &self.sql.release, |q| q).await.map(drop)
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        let q = sqlx::query(AssertSqlSafe(self.sql.select.clone())).bind(key.to_owned());
        Ok(self.records(q).await?.pop())
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        self.ready().await?;
        let rows = self.store.run(sqlx::query(AssertSqlSafe(self.sql.stats.clone())), Fetch::All).await?;
        let row = rows.first().ok_or_else(|| Error::backend("claims stats returned no row", None))?;
        let count = |i: usize| -> Result<u64> {
            let n: i64 = row.try_get(i).map_err(|e| self.store.map_err(e))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(ClaimCounts { total: count(0)?, processing: count(1)?, completed: count(2)?, failed: count(3)? })
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        let limit = i64::from(limit);
        let q = match status {
            None => sqlx::query(AssertSqlSafe(self.sql.list_all.clone())).bind(limit),
            Some(s) => sqlx::query(AssertSqlSafe(self.sql.list_status.clone())).bind(limit).bind(s.as_str()),
        };
        self.records(q).await
    }
}
