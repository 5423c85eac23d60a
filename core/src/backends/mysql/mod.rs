//! The MySQL / MariaDB backend: a lazily connected sqlx pool, one statement per call.
//!
//! `pool` holds the store handle (the pool, the migration), `sql` the statements and
//! schema, `errors` the mapping of sqlx's errors, `claims` and `transaction` the ledger
//! and transactions, which hold the store handle, not the repository.

mod claims;
mod errors;
mod pool;
mod sql;
mod transaction;

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::checkpoint::{CheckpointData, EventBatch, EventTypes, LagMetrics, Name, Write};
use crate::claims::ClaimStore;
use crate::error::{Error, Result};
use crate::ident::Identifier;
use crate::lag::{self, LatestEvent};
use crate::options::MysqlOptions;
use crate::origin::Origin;
use crate::repository::CheckpointStore;
use crate::statement::CheckpointStatement;
use crate::transaction::Transaction;

use pool::{Fetch, Store};
use sql::{row_to_data, write_params, write_query, Sql};

/// Checkpoints in a MySQL 8 or MariaDB 10.6+ table, in the database the URL names.
///
/// The pool connects lazily: [`connect`](Self::connect) checks the URL and options, and
/// the first call connects and creates the table (unless `create_schema` is off). A
/// server that cannot be reached gives `Unavailable` within `connect_timeout`. Names are
/// stored with the server's binary, no-pad collation, so they compare and sort by bytes
/// as on every other backend.
///
/// ```no_run
/// # async fn demo() -> waypost::Result<()> {
/// use waypost::{CheckpointRepository, MysqlOptions, MysqlRepository};
///
/// let repo = MysqlRepository::connect("mysql://root@127.0.0.1:3306/app", MysqlOptions::default()).await?;
/// repo.save_position("orders", 42, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(repo.get_position("orders").await?, Some(42));
/// # Ok(()) }
/// ```
pub struct MysqlRepository {
    /// The pool, shared with the claims ledgers and transactions.
    store: Arc<Store>,
}

impl std::fmt::Debug for MysqlRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.store.fmt(f)
    }
}

impl MysqlRepository {
    /// Prepares a repository on the server at `url` (`mysql://user:password@host:port/db`,
    /// `mariadb://` too). Nothing is connected until the first call.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed URL, a URL without a database, or a bad table or
    /// column name.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::MysqlRepository::connect("mysql://app@db.example.com/app", waypost::MysqlOptions::default()).await?;
    /// # let _ = repo;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, options: MysqlOptions) -> Result<Self> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let connect =
            MySqlConnectOptions::from_str(&url).map_err(|e| Error::invalid(format!("malformed mysql url: {e}")))?;
        if connect.get_database().is_none_or(str::is_empty) {
            return Err(Error::invalid("mysql url names no database (mysql://user@host/DATABASE)"));
        }
        if options.max_connections == 0 {
            return Err(Error::invalid("max_connections must be at least 1"));
        }
        let sql = Arc::new(Sql::new(&options)?);
        let address = format!("{}:{}", connect.get_host(), connect.get_port());
        let pool = MySqlPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout)
            .connect_lazy_with(connect);
        let store = Store {
            pool,
            address,
            sql,
            create_schema: options.create_schema,
            ready: OnceCell::new(),
            origin: Origin::here(),
        };
        Ok(MysqlRepository { store: Arc::new(store) })
    }

    /// The server's `host:port`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::MysqlRepository::connect("mysql://app@db.example.com/app", waypost::MysqlOptions::default()).await?;
    /// println!("checkpoints on {}", repo.address()); // db.example.com:3306
    /// # Ok(()) }
    /// ```
    pub fn address(&self) -> &str {
        &self.store.address
    }

    /// The checkpoint table.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo() -> Result<(), waypost::Error> {
    /// let repo = waypost::MysqlRepository::connect("mysql://app@db.example.com/app", waypost::MysqlOptions::default()).await?;
    /// assert_eq!(repo.table(), "projection_checkpoints");
    /// # Ok(()) }
    /// ```
    pub fn table(&self) -> &str {
        self.store.sql.table.as_str()
    }

    async fn read_column<T>(&self, name: Name<'_>, sql: &str) -> Result<Option<T>>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
    {
        let rows = self.store.run(sqlx::query(AssertSqlSafe(sql)).bind(name.as_str()), Fetch::Optional).await?;
        match rows.first() {
            Some(row) => row.try_get::<Option<T>, _>(0).map_err(|e| self.store.map_err(e)),
            None => Ok(None),
        }
    }

    /// The newest event of `types` (all when empty), by timestamp.
    /// The stream head a lag read reports (`None` without a position column).
    async fn lag_head(&self) -> Result<Option<i64>> {
        let store = &self.store;
        let Some(head) = store.sql.events.as_ref().and_then(|ev| ev.head.as_ref()) else { return Ok(None) };
        let rows = store
            .run(sqlx::query(AssertSqlSafe(head.as_str())), Fetch::Optional)
            .await
            .map_err(|e| store.missing_events_table(e))?;
        rows.first()
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()
            .map_err(|e| store.map_err(e))
            .map(Option::flatten)
    }

    async fn latest(&self, types: EventTypes<'_>) -> Result<Option<LatestEvent>> {
        let store = &self.store;
        let ev = store.sql.events()?;
        let decode = |row: &MySqlRow| -> std::result::Result<LatestEvent, sqlx::Error> {
            Ok(LatestEvent { event_id: row.try_get(0)?, timestamp: row.try_get::<DateTime<Utc>, _>(1)? })
        };
        let mut latest: Option<LatestEvent> = None;
        let queries: Vec<_> = match types.is_all() {
            true => vec![sqlx::query(AssertSqlSafe(ev.latest.as_str()))],
            // One indexed probe per type: `IN (...) ORDER BY` sorts every matching row.
            false => types
                .as_slice()
                .iter()
                .map(|t| sqlx::query(AssertSqlSafe(ev.latest_of_type.as_str())).bind(t))
                .collect(),
        };
        for q in queries {
            let rows = store.run(q, Fetch::Optional).await.map_err(|e| store.missing_events_table(e))?;
            if let Some(row) = rows.first() {
                let found = decode(row).map_err(|e| store.map_err(e))?;
                if latest.as_ref().is_none_or(|l| found.timestamp > l.timestamp) {
                    latest = Some(found);
                }
            }
        }
        Ok(latest)
    }
}

#[async_trait]
impl CheckpointStore for MysqlRepository {
    async fn write(&self, w: &Write<'_>) -> Result<()> {
        self.store.run(write_query(&self.store.sql, w), Fetch::Nothing).await.map(drop)
    }

    async fn read_event_id(&self, name: Name<'_>) -> Result<Option<Uuid>> {
        let text: Option<String> = self.read_column(name, &self.store.sql.get_event_id).await?;
        text.map(|t| {
            Uuid::parse_str(&t)
                .map_err(|e| Error::backend(format!("stored event id {t:?} is not a UUID"), Some(e.into())))
        })
        .transpose()
    }

    async fn read_position(&self, name: Name<'_>) -> Result<Option<i64>> {
        self.read_column(name, &self.store.sql.get_position).await
    }

    async fn read_token(&self, name: Name<'_>) -> Result<Option<String>> {
        self.read_column(name, &self.store.sql.get_token).await
    }

    async fn read_lag(&self, name: Name<'_>, types: EventTypes<'_>) -> Result<Option<LagMetrics>> {
        let store = &self.store;
        let q = sqlx::query(AssertSqlSafe(store.sql.get_row.as_str())).bind(name.as_str());
        // The checkpoint first, as eventsource-py: a name without one has no lag, even
        // when the events table is missing.
        let Some(row) = store.run(q, Fetch::Optional).await?.pop() else { return Ok(None) };
        let data = row_to_data(&row).map_err(|e| store.map_err(e))?;
        if store.sql.events.is_none() {
            return Ok(Some(lag::metrics(&data, None, None)));
        }
        let latest = self.latest(types).await?;
        Ok(Some(lag::metrics(&data, latest, self.lag_head().await?)))
    }

    async fn read_lag_all(&self) -> Result<Vec<(CheckpointData, LagMetrics)>> {
        let rows = self.list().await?;
        // The newest event and the head once for every checkpoint (none to read: no
        // events table needed, as the default).
        let (latest, head) = match (&self.store.sql.events, rows.is_empty()) {
            (Some(_), false) => (self.latest(EventTypes::new(None)?).await?, self.lag_head().await?),
            _ => (None, None),
        };
        let metrics = |row: CheckpointData| {
            let m = lag::metrics(&row, latest.clone(), head);
            (row, m)
        };
        Ok(rows.into_iter().map(metrics).collect())
    }

    async fn delete(&self, name: Name<'_>) -> Result<()> {
        let store = &self.store;
        store
            .run(sqlx::query(AssertSqlSafe(store.sql.delete.as_str())).bind(name.as_str()), Fetch::Nothing)
            .await
            .map(drop)
    }

    async fn list(&self) -> Result<Vec<CheckpointData>> {
        let store = &self.store;
        let rows = store.run(sqlx::query(AssertSqlSafe(store.sql.list.as_str())), Fetch::All).await?;
        rows.iter().map(row_to_data).collect::<std::result::Result<_, _>>().map_err(|e| store.map_err(e))
    }

    async fn create_events(&self) -> Result<()> {
        let store = &self.store;
        let ev = store.sql.events()?;
        let (pool, collation) = store.ready().await?;
        sqlx::query(AssertSqlSafe(sql::create_events(ev, collation)))
            .execute(pool)
            .await
            .map(drop)
            .map_err(|e| store.missing_events_table(store.map_err(e)))
    }

    async fn create_index(&self) -> Result<()> {
        let store = &self.store;
        let ev = store.sql.events()?;
        let (pool, _) = store.ready().await?;
        let n = &ev.names;
        let index = n.table.derived("lag_idx");
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.statistics WHERE table_schema = coalesce(?, DATABASE()) \
             AND table_name = ? AND index_name = ?",
        )
        .bind(n.schema.as_ref().map(Identifier::as_str))
        .bind(n.table.as_str())
        .bind(index.as_str())
        .fetch_one(pool)
        .await
        .map_err(|e| store.map_err(e))?;
        if exists > 0 {
            return Ok(());
        }
        let ddl = format!(
            "CREATE INDEX {} ON {} ({}, {}, {})",
            index.backquoted(),
            ev.qualified,
            n.event_type.backquoted(),
            n.timestamp.backquoted(),
            n.event_id.backquoted()
        );
        match sqlx::query(AssertSqlSafe(ddl)).execute(pool).await {
            Ok(_) => Ok(()),
            // Another process created it in the meantime.
            Err(e) if errors::number(&e) == Some(1061) => Ok(()),
            Err(e) => Err(store.missing_events_table(store.map_err(e))),
        }
    }

    async fn append(&self, events: EventBatch<'_>) -> Result<()> {
        let store = &self.store;
        let ev = store.sql.events()?;
        let n = &ev.names;
        let (pool, _) = store.ready().await?;
        let insert = format!(
            "INSERT INTO {} ({}, {}, {}) VALUES (?, ?, ?)",
            ev.qualified,
            n.event_id.backquoted(),
            n.event_type.backquoted(),
            n.timestamp.backquoted()
        );
        let fail = |e| store.missing_events_table(store.map_err(e));
        let mut tx = pool.begin().await.map_err(|e| store.map_err(e))?;
        for e in events.as_slice() {
            sqlx::query(AssertSqlSafe(insert.as_str()))
                .bind(e.event_id.to_string())
                .bind(&e.event_type)
                .bind(crate::time::truncate_to_micros(e.timestamp))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(|e| store.map_err(e))
    }

    async fn head(&self) -> Result<Option<i64>> {
        let store = &self.store;
        let Some(ev) = &store.sql.events else { return Ok(None) };
        let Some(pos) = &ev.names.position else { return Ok(None) };
        let sql = format!("SELECT CAST(coalesce(max({}), 0) AS SIGNED) FROM {}", pos.backquoted(), ev.qualified);
        let rows = store
            .run(sqlx::query(AssertSqlSafe(sql)), Fetch::Optional)
            .await
            .map_err(|e| store.missing_events_table(e))?;
        match rows.first() {
            Some(row) => row.try_get::<i64, _>(0).map(Some).map_err(|e| store.map_err(e)),
            None => Ok(Some(0)),
        }
    }

    async fn shutdown(&self) -> Result<()> {
        if self.store.origin.forked() {
            // Closed for this process only (see `Drop`): the parent's sessions go on.
            return Ok(());
        }
        self.store.pool.close().await;
        Ok(())
    }

    async fn statement(&self, w: &Write<'_>) -> Result<CheckpointStatement> {
        self.store.ready().await?;
        Ok(CheckpointStatement { sql: self.store.sql.upsert(w).to_owned(), params: write_params(w) })
    }

    async fn open_transaction(&self) -> Result<Transaction> {
        let tx = transaction::MyTx::begin(self.store.clone()).await?;
        Ok(Transaction::new(Box::new(tx), format!("mysql at {}", self.store.address)))
    }

    fn open_claims(self: Arc<Self>, table: Identifier, max_retries: u32) -> Result<Arc<dyn ClaimStore>> {
        Ok(Arc::new(claims::MysqlClaims::new(self.store.clone(), &table, max_retries)))
    }
}
