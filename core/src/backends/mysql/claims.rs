//! The claims ledger of a MySQL repository: each change is one transaction that locks
//! the item's record (`SELECT … FOR UPDATE`), applies the shared rules
//! (`claims::apply`) and writes the record back, so processes claim atomically. Items
//! are keyed by the SHA-256 of their key: a 2,048-character key is longer than an
//! InnoDB primary key may be.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::mysql::MySqlRow;
use sqlx::{AssertSqlSafe, MySqlConnection, Row};
use tokio::sync::OnceCell;

use super::errors::number;
use super::pool::{Fetch, Store};
use crate::backends::sql::CLAIM_COLUMNS as COLUMNS;
use crate::claims::{self, Change, Claim, ClaimCounts, ClaimRecord, ClaimStatus, ClaimStore, ItemStats};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::time;

/// How often a change is retried when InnoDB picked it as a deadlock's victim.
const DEADLOCK_RETRIES: usize = 10;

pub(super) struct MysqlClaims {
    store: Arc<Store>,
    table: Identifier,
    max_retries: u32,
    sql: ClaimsSql,
    ready: OnceCell<()>,
}

struct ClaimsSql {
    select: String,
    lock: String,
    insert: String,
    upsert: String,
    list_all: String,
    list_status: String,
    stats: String,
}

impl std::fmt::Debug for MysqlClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlClaims").field("table", &self.table).field("repository", &self.store).finish()
    }
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

impl MysqlClaims {
    pub(super) fn new(store: Arc<Store>, table: &Identifier, max_retries: u32) -> Self {
        let t = table.backquoted();
        let params = vec!["?"; 17].join(", ");
        let sql = ClaimsSql {
            select: format!("SELECT {COLUMNS} FROM {t} WHERE item_hash = ?"),
            lock: format!("SELECT {COLUMNS} FROM {t} WHERE item_hash = ? FOR UPDATE"),
            insert: format!("INSERT INTO {t} (item_hash, {COLUMNS}) VALUES ({params})"),
            upsert: format!(
                "INSERT INTO {t} (item_hash, {COLUMNS}) VALUES ({params}) ON DUPLICATE KEY UPDATE \
                 status = VALUES(status), retry_count = VALUES(retry_count), worker_id = VALUES(worker_id), \
                 epoch = VALUES(epoch), lease_expires_at = VALUES(lease_expires_at), \
                 started_at = VALUES(started_at), completed_at = VALUES(completed_at), \
                 error_message = VALUES(error_message), records_total = VALUES(records_total), \
                 records_filtered = VALUES(records_filtered), records_persisted = VALUES(records_persisted), \
                 processing_time_ms = VALUES(processing_time_ms)"
            ),
            list_all: format!("SELECT {COLUMNS} FROM {t} ORDER BY item_key LIMIT ?"),
            list_status: format!("SELECT {COLUMNS} FROM {t} WHERE status = ? ORDER BY item_key LIMIT ?"),
            stats: format!(
                "SELECT CAST(count(*) AS SIGNED), CAST(coalesce(sum(status = 'processing'), 0) AS SIGNED), \
                 CAST(coalesce(sum(status = 'completed'), 0) AS SIGNED), \
                 CAST(coalesce(sum(status = 'failed'), 0) AS SIGNED) FROM {t}"
            ),
        };
        MysqlClaims { store, table: table.clone(), max_retries, sql, ready: OnceCell::new() }
    }

    /// The store once the table exists.
    async fn ready(&self) -> Result<&Store> {
        let store = &self.store;
        self.ready
            .get_or_try_init(|| async {
                let (pool, c) = store.ready().await?;
                let ddl = format!(
                    "CREATE TABLE IF NOT EXISTS {} (
                        item_hash BINARY(32) NOT NULL PRIMARY KEY,
                        item_key VARCHAR(2048) CHARACTER SET utf8mb4 COLLATE {c} NOT NULL,
                        item_type VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {c} NOT NULL,
                        item_timestamp DATETIME(6) NOT NULL,
                        status VARCHAR(16) CHARACTER SET ascii NOT NULL,
                        retry_count INT UNSIGNED NOT NULL DEFAULT 0,
                        worker_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {c},
                        epoch BIGINT NOT NULL,
                        lease_expires_at DATETIME(6),
                        started_at DATETIME(6),
                        completed_at DATETIME(6),
                        created_at DATETIME(6) NOT NULL,
                        error_message TEXT CHARACTER SET utf8mb4 COLLATE {c},
                        records_total BIGINT,
                        records_filtered BIGINT,
                        records_persisted BIGINT,
                        processing_time_ms BIGINT,
                        INDEX {} (status),
                        CHECK (status IN ('processing', 'completed', 'failed'))
                    ) ENGINE=InnoDB",
                    self.table.backquoted(),
                    self.table.derived("status_idx").backquoted()
                );
                sqlx::query(AssertSqlSafe(ddl)).execute(pool).await.map(drop).map_err(|e| store.map_err(e))
            })
            .await?;
        Ok(store)
    }

    /// Locks the record, applies `change`, writes the result, in one transaction.
    async fn change(&self, key: &str, holder: Option<&Claim>, change: Change<'_>) -> Result<Option<Claim>> {
        let store = self.ready().await?;
        let id = hash(key);
        if let Change::Claim { max_retries, .. } = change {
            // A claim that would be refused (done, held, out of retries) is answered from
            // a plain read, without the row lock other workers wait for.
            let q = sqlx::query(AssertSqlSafe(self.sql.select.as_str())).bind(&id);
            let record = store.run(q, Fetch::Optional).await?.first().map(record).transpose()?;
            let now = time::now();
            if claims::decide(record.as_ref(), now, max_retries) == claims::Decision::Refuse {
                return Ok(None);
            }
            // A new item is inserted claimed: locking a row that does not exist yet would
            // lock a gap, and two first claims of one item would deadlock on it. The loser
            // of the insert sees the duplicate key and goes through the row lock below.
            if record.is_none() {
                let applied = claims::apply(key, None, None, change, now)?;
                if let Some(r) = &applied.store {
                    let q = bind_record(sqlx::query(AssertSqlSafe(self.sql.insert.as_str())), &id, r);
                    match store.run(q, Fetch::Nothing).await {
                        Ok(_) => return Ok(applied.claim),
                        Err(Error::Conflict { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        let mut attempt = 0;
        loop {
            let mut tx = store.pool.begin().await.map_err(|e| store.map_err(e))?;
            let changed = match self.change_in(&mut tx, key, &id, holder, change).await {
                Ok(claim) => tx.commit().await.map(|()| claim).map_err(Step::Sql),
                Err(e) => Err(e),
            };
            match changed {
                Ok(claim) => return Ok(claim),
                Err(Step::Sql(e)) if number(&e) == Some(1213) && attempt < DEADLOCK_RETRIES => attempt += 1,
                Err(Step::Sql(e)) => return Err(store.map_err(e)),
                Err(Step::Rule(e)) => return Err(e),
            }
        }
    }

    async fn change_in(
        &self,
        c: &mut MySqlConnection,
        key: &str,
        id: &[u8],
        holder: Option<&Claim>,
        change: Change<'_>,
    ) -> std::result::Result<Option<Claim>, Step> {
        let row = sqlx::query(AssertSqlSafe(self.sql.lock.as_str())).bind(id).fetch_optional(&mut *c).await?;
        let record = row.as_ref().map(record).transpose().map_err(Step::Rule)?;
        let applied = claims::apply(key, record, holder, change, time::now()).map_err(Step::Rule)?;
        if let Some(r) = &applied.store {
            bind_record(sqlx::query(AssertSqlSafe(self.sql.upsert.as_str())), id, r).execute(&mut *c).await?;
        }
        Ok(applied.claim)
    }

    async fn records(
        &self,
        q: sqlx::query::Query<'_, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    ) -> Result<Vec<ClaimRecord>> {
        let store = self.ready().await?;
        store.run(q, Fetch::All).await?.iter().map(record).collect()
    }
}

/// `q` with the record's columns bound, after its key's hash.
fn bind_record<'q>(
    q: sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>,
    id: &'q [u8],
    r: &'q ClaimRecord,
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    let stats = r.stats;
    q.bind(id)
        .bind(&r.key)
        .bind(&r.item_type)
        .bind(r.item_timestamp)
        .bind(r.status.as_str())
        .bind(r.retry_count)
        .bind(&r.worker_id)
        .bind(r.epoch)
        .bind(r.lease_expires_at)
        .bind(r.started_at)
        .bind(r.completed_at)
        .bind(r.created_at)
        .bind(&r.error_message)
        .bind(stats.map(|s| s.records_total))
        .bind(stats.map(|s| s.records_filtered))
        .bind(stats.map(|s| s.records_persisted))
        .bind(stats.map(|s| s.processing_time_ms))
}

/// Why a change failed: the store, or the shared rules (a lost lease).
enum Step {
    Sql(sqlx::Error),
    Rule(Error),
}

impl From<sqlx::Error> for Step {
    fn from(e: sqlx::Error) -> Self {
        Step::Sql(e)
    }
}

/// Decodes a row of [`COLUMNS`]; a malformed stored value is a `Backend` error.
fn record(row: &MySqlRow) -> Result<ClaimRecord> {
    let decoded = (|| -> std::result::Result<_, sqlx::Error> {
        let status: String = row.try_get(3)?;
        let totals: [Option<i64>; 4] = [row.try_get(12)?, row.try_get(13)?, row.try_get(14)?, row.try_get(15)?];
        Ok((
            ClaimRecord {
                key: row.try_get(0)?,
                item_type: row.try_get(1)?,
                item_timestamp: row.try_get::<DateTime<Utc>, _>(2)?,
                status: ClaimStatus::Processing,
                retry_count: row.try_get(4)?,
                worker_id: row.try_get(5)?,
                epoch: row.try_get(6)?,
                lease_expires_at: row.try_get(7)?,
                started_at: row.try_get(8)?,
                completed_at: row.try_get(9)?,
                created_at: row.try_get(10)?,
                error_message: row.try_get(11)?,
                stats: ItemStats::from_columns(totals),
            },
            status,
        ))
    })();
    let (mut record, status) =
        decoded.map_err(|e| Error::backend(format!("mysql: a stored claim cannot be read: {e}"), Some(e.into())))?;
    record.status = ClaimStatus::parse(&status).map_err(|e| Error::backend(format!("stored {e}"), None))?;
    Ok(record)
}

#[async_trait]
impl ClaimStore for MysqlClaims {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        let change = Change::Claim { item_type, item_timestamp, worker_id, lease, max_retries: self.max_retries };
        self.change(key, None, change).await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        let renewed = self.change(&claim.key, Some(claim), Change::Heartbeat { lease }).await?;
        renewed.ok_or_else(|| claims::lease_lost(claim))
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        self.change(&claim.key, Some(claim), Change::Complete(stats)).await.map(drop)
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        self.change(&claim.key, Some(claim), Change::Fail(message)).await.map(drop)
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        self.change(&claim.key, Some(claim), Change::Release).await.map(drop)
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        let id = hash(key);
        Ok(self.records(sqlx::query(AssertSqlSafe(self.sql.select.as_str())).bind(id)).await?.pop())
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        let store = self.ready().await?;
        let rows = store.run(sqlx::query(AssertSqlSafe(self.sql.stats.as_str())), Fetch::All).await?;
        let row = rows.first().ok_or_else(|| Error::backend("mysql: the claims count returned no row", None))?;
        let mut counts = [0u64; 4];
        for (i, n) in counts.iter_mut().enumerate() {
            *n = u64::try_from(row.try_get::<i64, _>(i).map_err(|e| store.map_err(e))?).unwrap_or(0);
        }
        let [total, processing, completed, failed] = counts;
        Ok(ClaimCounts { total, processing, completed, failed })
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        let q = match status {
            None => sqlx::query(AssertSqlSafe(self.sql.list_all.as_str())).bind(limit),
            Some(s) => sqlx::query(AssertSqlSafe(self.sql.list_status.as_str())).bind(s.as_str()).bind(limit),
        };
        self.records(q).await
    }
}
