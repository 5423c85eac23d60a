//! Transactions of [`crate::transaction`] on SQLite: a connection of their own (so the
//! repository's other calls never run inside them), `BEGIN IMMEDIATE` so the write lock
//! is held from the start, and every statement run off the async threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, Statement};

use super::connection::open_connection;
use super::errors::map_err;
use super::sql::{write_on, Sql};
use crate::checkpoint::Write;
use crate::error::{Error, Result};
use crate::options::SqliteOptions;
use crate::time;
use crate::transaction::{SqlRow, SqlValue, TxBackend};

/// What a repository keeps to open transaction connections: one idle connection is kept
/// for the next transaction.
#[derive(Debug)]
pub(super) struct TxConnections {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Option<Connection>>,
}

impl TxConnections {
    pub fn new(path: PathBuf, options: &SqliteOptions) -> Self {
        // The repository created the schema already.
        let options = SqliteOptions { create_schema: false, ..options.clone() };
        TxConnections { path, options, idle: Mutex::new(None) }
    }

    /// A connection with `BEGIN IMMEDIATE` done (blocking: call off the async threads).
    fn begin(&self, sql: &Sql) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).take();
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.path, &self.options, sql)?,
        };
        sql.guard(|| conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err))?;
        Ok(conn)
    }

    /// Drops the idle connection (the repository is closing).
    pub fn close(&self) {
        drop(self.idle.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.is_none() {
            *idle = Some(conn);
        }
    }
}

pub(super) struct SqliteTx {
    /// `None` only while a statement runs on the blocking pool.
    conn: Option<Connection>,
    sql: Arc<Sql>,
    connections: Arc<TxConnections>,
}

impl SqliteTx {
    pub async fn begin(sql: Arc<Sql>, connections: Arc<TxConnections>) -> Result<Self> {
        let (s, c) = (sql.clone(), connections.clone());
        let conn = blocking(move || c.begin(&s)).await?;
        Ok(SqliteTx { conn: Some(conn), sql, connections })
    }

    /// Runs `f` on the connection on tokio's blocking pool. If this future is dropped
    /// midway, `f` still finishes and the connection is then dropped, which rolls the
    /// transaction back.
    async fn on_conn<R, F>(&mut self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection, &Sql) -> Result<R> + Send + 'static,
    {
        let mut conn =
            self.conn.take().ok_or_else(|| Error::backend("sqlite transaction lost its connection", None))?;
        let sql = self.sql.clone();
        let (conn, out) = blocking(move || {
            let out = f(&mut conn, &sql);
            Ok((conn, out))
        })
        .await?;
        self.conn = Some(conn);
        out
    }
}

impl SqliteTx {
    /// Ends the transaction with `statement`; the connection then serves the next one.
    /// (If it fails, the connection is dropped, which rolls back whatever is left.)
    async fn finish(mut self: Box<Self>, statement: &'static str) -> Result<()> {
        self.on_conn(move |c, s| s.guard(|| c.execute_batch(statement).map_err(map_err))).await?;
        if let Some(conn) = self.conn.take() {
            self.connections.put_back(conn);
        }
        Ok(())
    }
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend("the sqlite transaction's statement panicked", Some(e.into())))?
}

/// Binds `params` to `$1, $2, …` (by name) or `?` (by position).
fn bind(stmt: &mut Statement<'_>, params: &[SqlValue]) -> Result<()> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(Error::invalid(format!("the statement takes {expected} parameters, {} given", params.len())));
    }
    for (i, p) in params.iter().enumerate() {
        let index = stmt.parameter_index(&format!("${}", i + 1)).map_err(map_err)?.unwrap_or(i + 1);
        stmt.raw_bind_parameter(index, Param(p)).map_err(map_err)?;
    }
    Ok(())
}

struct Param<'a>(&'a SqlValue);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlValue::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            SqlValue::Float(f) => ToSqlOutput::Owned(Value::Real(*f)),
            SqlValue::Text(t) | SqlValue::Json(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            SqlValue::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            SqlValue::Uuid(u) => ToSqlOutput::Owned(Value::Text(u.to_string())),
            SqlValue::Timestamp(t) => ToSqlOutput::Owned(Value::Text(time::isoformat(t))),
        })
    }
}

fn read_value(v: ValueRef<'_>) -> Result<SqlValue> {
    Ok(match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Int(i),
        ValueRef::Real(f) => SqlValue::Float(f),
        ValueRef::Text(t) => SqlValue::Text(
            String::from_utf8(t.to_vec())
                .map_err(|e| Error::backend("sqlite returned text that is not UTF-8", Some(e.into())))?,
        ),
        ValueRef::Blob(b) => SqlValue::Bytes(b.to_vec()),
    })
}

fn execute(c: &mut Connection, sql: &str, params: &[SqlValue]) -> Result<u64> {
    let mut stmt = c.prepare(sql).map_err(map_err)?;
    bind(&mut stmt, params)?;
    if stmt.column_count() > 0 {
        // A statement that returns rows (`SELECT`, `… RETURNING`): the count is its rows.
        let mut rows = stmt.raw_query();
        let mut n = 0;
        while rows.next().map_err(map_err)?.is_some() {
            n += 1;
        }
        return Ok(n);
    }
    let before = c.total_changes();
    stmt.raw_execute().map_err(map_err)?;
    drop(stmt);
    // `changes()` still tells the last INSERT/UPDATE/DELETE's count after a statement
    // that changed no row (DDL); the total tells whether this one did.
    Ok(if c.total_changes() == before { 0 } else { c.changes() })
}

fn fetch_all(c: &mut Connection, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>> {
    let mut stmt = c.prepare(sql).map_err(map_err)?;
    bind(&mut stmt, params)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        let mut values = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            values.push((name.clone(), read_value(row.get_ref(i).map_err(map_err)?)?));
        }
        out.push(values);
    }
    Ok(out)
}

#[async_trait]
impl TxBackend for SqliteTx {
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.on_conn(move |c, _| execute(c, &sql, &params)).await
    }

    async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>> {
        let (sql, params) = (sql.to_owned(), params.to_vec());
        self.on_conn(move |c, _| fetch_all(c, &sql, &params)).await
    }

    async fn write(&mut self, w: Write<'_>) -> Result<()> {
        let w: crate::checkpoint::OwnedWrite = w.into();
        self.on_conn(move |c, s| write_on(c, s, &w.as_write())).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.finish("COMMIT").await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.finish("ROLLBACK").await
    }
}
