//! Transactions of [`crate::transaction`] on MySQL: a pooled connection's own
//! `BEGIN … COMMIT`, the caller's `$n` placeholders rewritten to `?` by the core's rule.
//!
//! MySQL commits implicitly at a DDL statement (`CREATE`, `ALTER`, `DROP`, `RENAME`,
//! `TRUNCATE`): what the transaction did before it is committed then. Statements after
//! it run in a new transaction, begun here, so they still commit or roll back together.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::mysql::{MySqlArguments, MySqlRow, MySqlValueRef};
use sqlx::{AssertSqlSafe, Column, Decode, MySql, Row, TypeInfo, ValueRef};

use super::errors::map_err;
use super::pool::Store;
use super::sql::write_query;
use crate::checkpoint::Write;
use crate::error::{Error, Result};
use crate::placeholders::to_positional;
use crate::runtime::InRuntime;
use crate::transaction::{SqlRow, SqlValue, TxBackend};

pub(super) struct MyTx {
    tx: InRuntime<sqlx::Transaction<'static, MySql>>,
    store: Arc<Store>,
}

impl MyTx {
    pub async fn begin(store: Arc<Store>) -> Result<Self> {
        let (pool, _) = store.ready().await?;
        let tx = pool.begin().await.map_err(|e| store.map_err(e))?;
        Ok(MyTx { tx: InRuntime::new(tx), store })
    }

    fn query<'q>(sql: &'q str, params: &'q [SqlValue]) -> sqlx::query::Query<'q, MySql, MySqlArguments> {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for p in params {
            q = match p {
                SqlValue::Null => q.bind(None::<String>),
                SqlValue::Bool(v) => q.bind(*v),
                SqlValue::Int(v) => q.bind(*v),
                SqlValue::Float(v) => q.bind(*v),
                SqlValue::Text(v) | SqlValue::Json(v) => q.bind(v.as_str()),
                SqlValue::Bytes(v) => q.bind(v.as_slice()),
                // MySQL has no UUID type: the hyphenated text, as waypost stores ids.
                SqlValue::Uuid(v) => q.bind(v.to_string()),
                SqlValue::Timestamp(v) => q.bind(*v),
            };
        }
        q
    }

    /// After a statement that committed implicitly, the rest runs in a new transaction.
    async fn resume_after(&mut self, sql: &str) -> Result<()> {
        let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        if ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"].iter().any(|k| first.eq_ignore_ascii_case(k)) {
            sqlx::query("START TRANSACTION").execute(&mut **self.tx).await.map_err(|e| self.store.map_err(e))?;
        }
        Ok(())
    }
}

fn decode<'r, T: Decode<'r, MySql>>(value: MySqlValueRef<'r>) -> std::result::Result<T, sqlx::error::BoxDynError> {
    T::decode(value)
}

/// One column's value, by the column's type.
fn read_value(row: &MySqlRow, index: usize) -> Result<SqlValue> {
    let column = &row.columns()[index];
    let value = row.try_get_raw(index).map_err(|e| Error::backend(format!("mysql: {e}"), Some(e.into())))?;
    if value.is_null() {
        return Ok(SqlValue::Null);
    }
    let type_name = column.type_info().name().to_owned();
    let decoded = match type_name.as_str() {
        "BOOLEAN" => decode::<bool>(value).map(SqlValue::Bool),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => decode::<i64>(value).map(SqlValue::Int),
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" | "BIGINT UNSIGNED" => {
            decode::<u64>(value).and_then(|v| Ok(SqlValue::Int(i64::try_from(v)?)))
        }
        "FLOAT" => decode::<f32>(value).map(|v| SqlValue::Float(v.into())),
        "DOUBLE" => decode::<f64>(value).map(SqlValue::Float),
        "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" | "DECIMAL" => {
            decode::<String>(value).map(SqlValue::Text)
        }
        "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            decode::<Vec<u8>>(value).map(SqlValue::Bytes)
        }
        "JSON" => decode::<String>(value).map(SqlValue::Json),
        "TIMESTAMP" => decode::<DateTime<Utc>>(value).map(SqlValue::Timestamp),
        // A DATETIME has no time zone: read as UTC, the connection's zone.
        "DATETIME" => decode::<NaiveDateTime>(value).map(|t| SqlValue::Timestamp(t.and_utc())),
        other => {
            return Err(Error::unsupported(format!(
                "column {:?} has type {other}, which waypost does not convert; cast it in SQL (e.g. CAST(... AS CHAR))",
                column.name()
            )))
        }
    };
    decoded.map_err(|e| Error::backend(format!("mysql: cannot read column {:?}: {e}", column.name()), None))
}

#[async_trait]
impl TxBackend for MyTx {
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let (sql, params) = to_positional(sql, params)?;
        let done = MyTx::query(&sql, &params).execute(&mut **self.tx).await.map_err(|e| self.store.map_err(e))?;
        self.resume_after(&sql).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>> {
        let (sql, params) = to_positional(sql, params)?;
        let rows = MyTx::query(&sql, &params).fetch_all(&mut **self.tx).await.map_err(|e| self.store.map_err(e))?;
        rows.iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| Ok((row.columns()[i].name().to_owned(), read_value(row, i)?)))
                    .collect::<Result<SqlRow>>()
            })
            .collect()
    }

    async fn write(&mut self, w: Write<'_>) -> Result<()> {
        write_query(&self.store.sql, &w).execute(&mut **self.tx).await.map(drop).map_err(|e| self.store.map_err(e))
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let address = self.store.address.clone();
        self.tx.into_inner().commit().await.map_err(|e| map_err(&address, e))
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        let address = self.store.address.clone();
        self.tx.into_inner().rollback().await.map_err(|e| map_err(&address, e))
    }
}
