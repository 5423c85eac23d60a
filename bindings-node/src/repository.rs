//! The native repository class: the checkpoint calls (and their synchronous in-memory
//! twins), and the functions that open or prepare a repository.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use napi::bindgen_prelude::Either;
use napi::Result;
use napi_derive::napi;
use waypost::{
    CheckpointRepository, MemoryRepository, NewEvent, PostgresOptions as CorePostgresOptions, PostgresRepository,
    SqliteOptions as CoreSqliteOptions, SqliteRepository, Target,
};

use crate::convert::{event_id, position, seconds};
use crate::errors::{invalid, to_js_err};
use crate::options::{events_table, MysqlOptions, PostgresOptions, SqliteOptions};
use crate::records::{CheckpointStatement, NewEventInput, StatementOptions};

/// A checkpoint repository; `index.js` wraps it in the documented classes.
#[napi]
pub struct NativeRepository {
    pub(crate) inner: Arc<dyn CheckpointRepository>,
    /// The in-memory repository answers every call on the spot (`*Sync` methods).
    memory: bool,
}

impl NativeRepository {
    fn new(inner: Arc<dyn CheckpointRepository>) -> Self {
        NativeRepository { inner, memory: false }
    }

    /// Completes a call of the in-memory repository right here: its futures never wait,
    /// so the hop to napi's runtime and back (tens of microseconds) is saved.
    pub(crate) fn at_once<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        if !self.memory {
            return Err(napi::Error::from_reason("Unsupported: only the in-memory repository answers synchronously"));
        }
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(napi::Error::from_reason("Backend: the in-memory repository did not answer at once")),
        }
    }
}

#[napi]
impl NativeRepository {
    /// A repository in process memory.
    #[napi(factory)]
    pub fn memory() -> Self {
        NativeRepository { inner: Arc::new(MemoryRepository::new()), memory: true }
    }

    #[napi]
    pub async fn create_events_table(&self) -> Result<()> {
        self.inner.create_events_table().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn create_lag_index(&self) -> Result<()> {
        self.inner.create_lag_index().await.map_err(to_js_err)
    }

    #[napi]
    pub async fn append_events(&self, events: Vec<NewEventInput>) -> Result<()> {
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
        self.inner.append_events(&converted).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.inner.close().await.map_err(to_js_err)
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
    ) -> Result<CheckpointStatement> {
        use waypost::{StatementKind, StatementParam};
        let (position, token) = options.map_or((None, None), |o| (o.position, o.token));
        let position = position.map(self::position).transpose()?;
        let kind = StatementKind::from_args(&kind, position, token).map_err(to_js_err)?;
        let id = self::event_id(&event_id)?;
        let stmt = self.inner.checkpoint_statement(&name, id, &event_type, kind).await.map_err(to_js_err)?;
        let values = stmt
            .params
            .into_iter()
            .map(|p| match p {
                StatementParam::Text(t) => Either::A(t),
                StatementParam::Int(i) => Either::B(i),
                StatementParam::Uuid(u) => Either::A(u.to_string()),
                StatementParam::Timestamp(t) => Either::A(waypost::time::rfc3339(&t)),
            })
            .collect();
        Ok(CheckpointStatement { text: stmt.sql, values })
    }

    /// A description that names the store without credentials.
    #[napi]
    pub fn describe(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// Opens (creating if needed) an SQLite file.
#[napi]
pub async fn open_sqlite(path: String, options: Option<SqliteOptions>) -> Result<NativeRepository> {
    let path = match waypost::parse_url(&path) {
        Ok(Target::Sqlite(p)) => p.to_owned(),
        _ if path.starts_with("sqlite:") => return Err(invalid(format!("{path:?} is not an sqlite url"))),
        _ => path,
    };
    let o = options.unwrap_or(SqliteOptions {
        table: None,
        events: None,
        create_schema: None,
        busy_timeout_ms: None,
        synchronous: None,
    });
    let synchronous = match o.synchronous.as_deref() {
        Some(text) => text.parse::<waypost::Synchronous>().map_err(to_js_err)?,
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
        block_in_place: true,
        inline_reads: false,
    };
    let repo = SqliteRepository::open(path, options).await.map_err(to_js_err)?;
    Ok(NativeRepository::new(Arc::new(repo)))
}

/// Prepares a PostgreSQL repository; it connects on the first call.
#[napi]
pub async fn connect_postgres(url: String, options: Option<PostgresOptions>) -> Result<NativeRepository> {
    let o = options.unwrap_or(PostgresOptions {
        schema: None,
        table: None,
        events: None,
        create_schema: None,
        pool_size: None,
        connect_timeout_ms: None,
    });
    let defaults = CorePostgresOptions::default();
    let options = CorePostgresOptions {
        schema: o.schema.unwrap_or(defaults.schema),
        table: o.table.unwrap_or(defaults.table),
        events_table: events_table(o.events)?,
        create_schema: o.create_schema.unwrap_or(defaults.create_schema),
        max_connections: o.pool_size.unwrap_or(defaults.max_connections),
        connect_timeout: seconds("connectTimeoutMs", o.connect_timeout_ms, defaults.connect_timeout)?,
    };
    let repo = PostgresRepository::connect(&url, options).await.map_err(to_js_err)?;
    Ok(NativeRepository::new(Arc::new(repo)))
}

/// Prepares a MySQL / MariaDB repository; it connects on the first call.
#[napi]
pub async fn connect_mysql(url: String, options: Option<MysqlOptions>) -> Result<NativeRepository> {
    let o = options.unwrap_or(MysqlOptions {
        table: None,
        events: None,
        create_schema: None,
        pool_size: None,
        connect_timeout_ms: None,
    });
    let defaults = waypost::MysqlOptions::default();
    let options = waypost::MysqlOptions {
        table: o.table.unwrap_or(defaults.table),
        events_table: events_table(o.events)?,
        create_schema: o.create_schema.unwrap_or(defaults.create_schema),
        max_connections: o.pool_size.unwrap_or(defaults.max_connections),
        connect_timeout: seconds("connectTimeoutMs", o.connect_timeout_ms, defaults.connect_timeout)?,
    };
    let repo = waypost::MysqlRepository::connect(&url, options).await.map_err(to_js_err)?;
    Ok(NativeRepository::new(Arc::new(repo)))
}

/// Which class a URL opens: `"memory"`, `"sqlite"`, `"postgres"` or `"mysql"`.
#[napi]
pub fn repository_kind(url: String) -> Result<String> {
    Ok(match waypost::parse_url(&url).map_err(to_js_err)? {
        Target::Memory => "memory",
        Target::Sqlite(_) => "sqlite",
        Target::Postgres(_) => "postgres",
        Target::Mysql(_) => "mysql",
        _ => return Err(invalid(format!("unsupported repository url {url:?}"))),
    }
    .to_owned())
}
