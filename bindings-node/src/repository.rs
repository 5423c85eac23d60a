//! The native repository class: the checkpoint calls, and the functions that open or
//! prepare a repository.

use std::sync::Arc;

use napi::bindgen_prelude::Either;
use napi_derive::napi;
use waypost::{
    CheckpointRepository, MemoryRepository, NewEvent, PostgresOptions as CorePostgresOptions, PostgresRepository,
    SqliteOptions as CoreSqliteOptions, SqliteRepository, Target,
};

use crate::convert::{event_id, position, seconds, Int64};
use crate::errors::{answer, invalid, Answer, Outcome};
use crate::options::{events_table, MysqlOptions, PostgresOptions, SqliteOptions};
use crate::records::{CheckpointStatement, NewEventInput, StatementOptions};

/// A checkpoint repository; `index.js` wraps it in the documented classes.
#[napi]
pub struct NativeRepository {
    pub(crate) inner: Arc<dyn CheckpointRepository>,
    /// Whether every call starts on the JS thread (`at_hand`). Not for SQLite: there a
    /// call other than the three primary-key reads runs fastest in place on a worker of
    /// napi's runtime (`block_in_place`), and one started on the JS thread would queue
    /// to the SQLite thread instead (a thread wake-up each way).
    pub(crate) start_here: bool,
    /// Whether the checkpoint writes start on the JS thread, where SQLite's
    /// `inlineWrites` does them when the connection is free.
    pub(crate) writes_here: bool,
}

impl NativeRepository {
    fn new(inner: Arc<dyn CheckpointRepository>) -> Self {
        NativeRepository { inner, start_here: true, writes_here: true }
    }
}

#[napi]
impl NativeRepository {
    /// A repository in process memory.
    #[napi(factory)]
    pub fn memory() -> Self {
        NativeRepository::new(Arc::new(MemoryRepository::new()))
    }

    #[napi]
    pub async fn create_events_table(&self) -> Answer<()> {
        self.inner.create_events_table().await.into()
    }

    #[napi]
    pub async fn create_lag_index(&self) -> Answer<()> {
        self.inner.create_lag_index().await.into()
    }

    #[napi]
    pub async fn append_events(&self, events: Vec<NewEventInput>) -> Answer<()> {
        Answer(async { self.inner.append_events(&new_events(events)?).await }.await)
    }

    #[napi]
    pub async fn close(&self) -> Answer<()> {
        self.inner.close().await.into()
    }

    /// The SQL and parameters of a checkpoint write, for the caller's own driver and
    /// transaction: ids and timestamps as text, numbers as numbers.
    #[napi]
    pub async fn checkpoint_statement(
        &self,
        kind: String,
        name: String,
        event_id: String,
        event_type: String,
        options: Option<StatementOptions>,
    ) -> Answer<CheckpointStatement> {
        answer(async {
            use waypost::{StatementKind, StatementParam};
            let (position, token) = options.map_or((None, None), |o| (o.position, o.token));
            let position = position.map(self::position).transpose()?;
            let kind = StatementKind::from_args(&kind, position, token)?;
            let id = self::event_id(&event_id)?;
            let stmt = self.inner.checkpoint_statement(&name, id, &event_type, kind).await?;
            let values = stmt
                .params
                .into_iter()
                .map(|p| match p {
                    StatementParam::Text(t) => Either::A(t),
                    StatementParam::Int(i) => Either::B(Int64(i)),
                    StatementParam::Uuid(u) => Either::A(u.to_string()),
                    StatementParam::Timestamp(t) => Either::A(waypost::time::rfc3339(&t)),
                })
                .collect();
            Ok(CheckpointStatement { text: stmt.sql, values })
        })
        .await
    }

    /// A description that names the store without credentials.
    #[napi]
    pub fn describe(&self) -> String {
        format!("{:?}", self.inner)
    }
}

fn new_events(events: Vec<NewEventInput>) -> Outcome<Vec<NewEvent>> {
    let mut converted = Vec::with_capacity(events.len());
    for e in events {
        converted.push(NewEvent {
            event_id: self::event_id(&e.event_id)?,
            event_type: e.event_type,
            timestamp: match e.timestamp {
                None => waypost::time::now(),
                Some(Either::A(date)) => date,
                Some(Either::B(text)) => waypost::time::parse_timestamp(&text)
                    .map_err(|_| invalid(format!("timestamp {text:?} is not ISO 8601")))?,
            },
        });
    }
    Ok(converted)
}

/// Opens (creating if needed) an SQLite file.
#[napi]
pub async fn open_sqlite(path: String, options: Option<SqliteOptions>) -> Answer<NativeRepository> {
    answer(async {
        let path = match waypost::parse_url(&path) {
            Ok(Target::Sqlite(p)) => p.to_owned(),
            _ if path.starts_with("sqlite:") => return Err(invalid(format!("{path:?} is not an sqlite url"))),
            _ => path,
        };
        let o = options.unwrap_or_default();
        let synchronous = match o.synchronous.as_deref() {
            Some(text) => text.parse::<waypost::Synchronous>()?,
            None => waypost::Synchronous::default(),
        };
        let defaults = CoreSqliteOptions::default();
        let options = CoreSqliteOptions {
            table: o.table.unwrap_or(defaults.table),
            events_table: events_table(o.events)?,
            create_schema: o.create_schema.unwrap_or(defaults.create_schema),
            busy_timeout: seconds("busyTimeoutMs", o.busy_timeout_ms, defaults.busy_timeout)?,
            synchronous_full: synchronous.is_full(),
            // napi runs these calls as tasks of its multi-thread runtime: in place is allowed.
            // (The core's inline reads, on by default, answer a read by primary key on
            // the JS thread: see `at_hand`.)
            block_in_place: true,
            inline_reads: defaults.inline_reads,
            inline_writes: o.inline_writes.unwrap_or(defaults.inline_writes),
        };
        let writes_here = options.inline_writes;
        let repo = SqliteRepository::open(path, options).await?;
        Ok(NativeRepository { start_here: false, writes_here, ..NativeRepository::new(Arc::new(repo)) })
    })
    .await
}

/// Prepares a PostgreSQL repository; it connects on the first call.
#[napi]
pub async fn connect_postgres(url: String, options: Option<PostgresOptions>) -> Answer<NativeRepository> {
    answer(async {
        let o = options.unwrap_or_default();
        let defaults = CorePostgresOptions::default();
        let options = CorePostgresOptions {
            schema: o.schema.unwrap_or(defaults.schema),
            table: o.table.unwrap_or(defaults.table),
            events_table: events_table(o.events)?,
            create_schema: o.create_schema.unwrap_or(defaults.create_schema),
            max_connections: o.pool_size.unwrap_or(defaults.max_connections),
            connect_timeout: seconds("connectTimeoutMs", o.connect_timeout_ms, defaults.connect_timeout)?,
            ssl_mode: o.ssl_mode.map(|m| m.parse()).transpose()?,
            ssl_root_cert: o.ssl_root_cert.map(Into::into),
            ssl_cert: o.ssl_cert.map(Into::into),
            ssl_key: o.ssl_key.map(Into::into),
        };
        let repo = PostgresRepository::connect(&url, options).await?;
        Ok(NativeRepository::new(Arc::new(repo)))
    })
    .await
}

/// Prepares a MySQL / MariaDB repository; it connects on the first call.
#[napi]
pub async fn connect_mysql(url: String, options: Option<MysqlOptions>) -> Answer<NativeRepository> {
    answer(async {
        let o = options.unwrap_or_default();
        let defaults = waypost::MysqlOptions::default();
        let options = waypost::MysqlOptions {
            table: o.table.unwrap_or(defaults.table),
            events_table: events_table(o.events)?,
            create_schema: o.create_schema.unwrap_or(defaults.create_schema),
            max_connections: o.pool_size.unwrap_or(defaults.max_connections),
            connect_timeout: seconds("connectTimeoutMs", o.connect_timeout_ms, defaults.connect_timeout)?,
        };
        let repo = waypost::MysqlRepository::connect(&url, options).await?;
        Ok(NativeRepository::new(Arc::new(repo)))
    })
    .await
}

/// Which class a URL opens: `"memory"`, `"sqlite"`, `"postgres"` or `"mysql"`.
#[napi]
pub fn repository_kind(url: String) -> Answer<String> {
    Answer(match waypost::parse_url(&url) {
        Err(e) => Err(e),
        Ok(Target::Memory) => Ok("memory".to_owned()),
        Ok(Target::Sqlite(_)) => Ok("sqlite".to_owned()),
        Ok(Target::Postgres(_)) => Ok("postgres".to_owned()),
        Ok(Target::Mysql(_)) => Ok("mysql".to_owned()),
        Ok(_) => Err(invalid(format!("unsupported repository url {url:?}"))),
    })
}
