//! The claims ledger of an SQLite repository: each call is one `BEGIN IMMEDIATE`
//! transaction on the repository's connection that reads the item's record, applies
//! the shared rules (`claims::apply`) and writes the record back, so processes sharing
//! the file claim atomically.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tokio::sync::OnceCell;

use super::connection::Store;
use super::errors::map_err;
use crate::backends::sql::CLAIM_COLUMNS as COLUMNS;
use crate::claims::{self, Change, Claim, ClaimCounts, ClaimRecord, ClaimStatus, ClaimStore, ItemStats};
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::time;

pub(super) struct SqliteClaims {
    store: Arc<Store>,
    table: String,
    max_retries: u32,
    sql: Arc<ClaimsSql>,
    ready: OnceCell<()>,
}

struct ClaimsSql {
    create: String,
    select: String,
    upsert: String,
    list_all: String,
    list_status: String,
    stats: String,
}

impl std::fmt::Debug for SqliteClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteClaims").field("table", &self.table).field("repository", &self.store).finish()
    }
}

impl SqliteClaims {
    pub(super) fn new(store: Arc<Store>, table: &Identifier, max_retries: u32) -> Self {
        let t = table.quoted();
        let sql = ClaimsSql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                    item_key TEXT PRIMARY KEY,
                    item_type TEXT NOT NULL,
                    item_timestamp TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('processing', 'completed', 'failed')),
                    retry_count INTEGER NOT NULL DEFAULT 0,
                    worker_id TEXT,
                    epoch INTEGER NOT NULL,
                    lease_expires_at TEXT,
                    started_at TEXT,
                    completed_at TEXT,
                    created_at TEXT NOT NULL,
                    error_message TEXT,
                    records_total INTEGER,
                    records_filtered INTEGER,
                    records_persisted INTEGER,
                    processing_time_ms INTEGER
                );
                CREATE INDEX IF NOT EXISTS {} ON {t} (status, item_key);",
                table.derived("status_idx").quoted()
            ),
            select: format!("SELECT {COLUMNS} FROM {t} WHERE item_key = ?1"),
            upsert: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT (item_key) DO UPDATE SET status = excluded.status, retry_count = excluded.retry_count, \
                 worker_id = excluded.worker_id, epoch = excluded.epoch, lease_expires_at = excluded.lease_expires_at, \
                 started_at = excluded.started_at, completed_at = excluded.completed_at, \
                 error_message = excluded.error_message, records_total = excluded.records_total, \
                 records_filtered = excluded.records_filtered, records_persisted = excluded.records_persisted, \
                 processing_time_ms = excluded.processing_time_ms"
            ),
            list_all: format!("SELECT {COLUMNS} FROM {t} ORDER BY item_key LIMIT ?1"),
            list_status: format!("SELECT {COLUMNS} FROM {t} WHERE status = ?2 ORDER BY item_key LIMIT ?1"),
            stats: format!(
                "SELECT count(*), coalesce(sum(status = 'processing'), 0), coalesce(sum(status = 'completed'), 0), \
                 coalesce(sum(status = 'failed'), 0) FROM {t}"
            ),
        };
        SqliteClaims {
            store,
            table: table.as_str().to_owned(),
            max_retries,
            sql: Arc::new(sql),
            ready: OnceCell::new(),
        }
    }

    /// Runs `f` on the connection once the table exists.
    async fn run<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &ClaimsSql) -> Result<R> + Send + 'static,
    {
        self.ready
            .get_or_try_init(|| {
                let sql = self.sql.clone();
                self.store.run(move |c, _| c.execute_batch(&sql.create).map_err(map_err))
            })
            .await?;
        let sql = self.sql.clone();
        self.store.run(move |c, s| s.guard(|| f(c, &sql))).await
    }

    /// Reads the record, applies `change`, writes the result, in one immediate transaction.
    async fn change(&self, key: String, holder: Option<Claim>, change: OwnedChange) -> Result<Option<Claim>> {
        let max_retries = self.max_retries;
        self.run(move |c, sql| {
            let read = |c: &Connection| -> Result<Option<ClaimRecord>> {
                let row = c.prepare_cached(&sql.select).map_err(map_err)?.query_row([&key], record).optional();
                row.map_err(map_err)?.transpose()
            };
            // A claim that would be refused (done, held, out of retries) is answered from a
            // plain read, without taking the write lock other processes wait for.
            if let OwnedChange::Claim { .. } = change {
                let now = time::now();
                if claims::decide(read(c)?.as_ref(), now, max_retries) == claims::Decision::Refuse {
                    return Ok(None);
                }
            }
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let record = read(&tx)?;
            let applied = claims::apply(&key, record, holder.as_ref(), change.as_change(max_retries), time::now())?;
            if let Some(r) = &applied.store {
                store(&tx, &sql.upsert, r)?;
            }
            tx.commit().map_err(map_err)?;
            Ok(applied.claim)
        })
        .await
    }
}

/// [`Change`] with owned data, to move onto the SQLite thread.
enum OwnedChange {
    Claim { item_type: String, item_timestamp: DateTime<Utc>, worker_id: String, lease: Duration },
    Heartbeat { lease: Duration },
    Complete(ItemStats),
    Fail(String),
    Release,
}

impl OwnedChange {
    fn as_change(&self, max_retries: u32) -> Change<'_> {
        match self {
            OwnedChange::Claim { item_type, item_timestamp, worker_id, lease } => {
                Change::Claim { item_type, item_timestamp: *item_timestamp, worker_id, lease: *lease, max_retries }
            }
            OwnedChange::Heartbeat { lease } => Change::Heartbeat { lease: *lease },
            OwnedChange::Complete(stats) => Change::Complete(*stats),
            OwnedChange::Fail(message) => Change::Fail(message),
            OwnedChange::Release => Change::Release,
        }
    }
}

fn store(c: &Connection, upsert: &str, r: &ClaimRecord) -> Result<()> {
    let iso = |t: &Option<DateTime<Utc>>| t.as_ref().map(time::isoformat);
    let stats = r.stats;
    c.prepare_cached(upsert)
        .map_err(map_err)?
        .execute(params![
            r.key,
            r.item_type,
            time::isoformat(&r.item_timestamp),
            r.status.as_str(),
            r.retry_count,
            r.worker_id,
            r.epoch,
            iso(&r.lease_expires_at),
            iso(&r.started_at),
            iso(&r.completed_at),
            time::isoformat(&r.created_at),
            r.error_message,
            stats.map(|s| s.records_total),
            stats.map(|s| s.records_filtered),
            stats.map(|s| s.records_persisted),
            stats.map(|s| s.processing_time_ms),
        ])
        .map_err(map_err)?;
    Ok(())
}

/// Decodes a row of [`COLUMNS`]; a malformed stored value is a `Backend` error.
fn record(row: &Row<'_>) -> rusqlite::Result<Result<ClaimRecord>> {
    let text = |i: usize| row.get::<_, String>(i);
    let opt = |i: usize| row.get::<_, Option<String>>(i);
    let (status, item_timestamp, lease, started, completed, created) =
        (text(3)?, text(2)?, opt(7)?, opt(8)?, opt(9)?, text(10)?);
    let totals: [Option<i64>; 4] = [row.get(12)?, row.get(13)?, row.get(14)?, row.get(15)?];
    let (key, item_type, retry_count, worker_id, epoch, error_message) =
        (text(0)?, text(1)?, row.get::<_, u32>(4)?, opt(5)?, row.get::<_, i64>(6)?, opt(11)?);
    Ok((|| {
        let when = |t: Option<String>| t.as_deref().map(time::parse_timestamp).transpose();
        Ok(ClaimRecord {
            key,
            item_type,
            item_timestamp: time::parse_timestamp(&item_timestamp)?,
            status: ClaimStatus::parse(&status).map_err(|e| Error::backend(format!("stored {e}"), None))?,
            retry_count,
            worker_id,
            epoch,
            lease_expires_at: when(lease)?,
            started_at: when(started)?,
            completed_at: when(completed)?,
            created_at: time::parse_timestamp(&created)?,
            error_message,
            stats: ItemStats::from_columns(totals),
        })
    })())
}

fn query_records(c: &Connection, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<ClaimRecord>> {
    let mut stmt = c.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt.query_map(params, record).map_err(map_err)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(map_err)??);
    }
    Ok(out)
}

#[async_trait]
impl ClaimStore for SqliteClaims {
    async fn claim(
        &self,
        key: &str,
        item_type: &str,
        item_timestamp: DateTime<Utc>,
        worker_id: &str,
        lease: Duration,
    ) -> Result<Option<Claim>> {
        let change = OwnedChange::Claim {
            item_type: item_type.to_owned(),
            item_timestamp,
            worker_id: worker_id.to_owned(),
            lease,
        };
        self.change(key.to_owned(), None, change).await
    }

    async fn heartbeat(&self, claim: &Claim, lease: Duration) -> Result<Claim> {
        let renewed = self.change(claim.key.clone(), Some(claim.clone()), OwnedChange::Heartbeat { lease }).await?;
        renewed.ok_or_else(|| claims::lease_lost(claim))
    }

    async fn complete(&self, claim: &Claim, stats: ItemStats) -> Result<()> {
        self.change(claim.key.clone(), Some(claim.clone()), OwnedChange::Complete(stats)).await.map(drop)
    }

    async fn fail(&self, claim: &Claim, message: &str) -> Result<()> {
        self.change(claim.key.clone(), Some(claim.clone()), OwnedChange::Fail(message.to_owned())).await.map(drop)
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        self.change(claim.key.clone(), Some(claim.clone()), OwnedChange::Release).await.map(drop)
    }

    async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        let key = key.to_owned();
        self.run(move |c, sql| Ok(query_records(c, &sql.select, &[&key])?.pop())).await
    }

    async fn stats(&self) -> Result<ClaimCounts> {
        self.run(move |c, sql| {
            let counts = c
                .prepare_cached(&sql.stats)
                .map_err(map_err)?
                .query_row([], |r| Ok([r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?]))
                .map_err(map_err)?;
            let [total, processing, completed, failed] = counts.map(|n| u64::try_from(n).unwrap_or(0));
            Ok(ClaimCounts { total, processing, completed, failed })
        })
        .await
    }

    async fn list(&self, status: Option<ClaimStatus>, limit: u32) -> Result<Vec<ClaimRecord>> {
        self.run(move |c, sql| match status {
            None => query_records(c, &sql.list_all, &[&limit]),
            Some(s) => query_records(c, &sql.list_status, &[&limit, &s.as_str()]),
        })
        .await
    }
}
