//! Transactions of [`crate::transaction`] on PostgreSQL: a pooled connection's own
//! `BEGIN … COMMIT`, with the caller's parameters bound by type.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo, PgValueFormat, PgValueRef};
use sqlx::{AssertSqlSafe, Column, Decode, Encode, Postgres, Row, TypeInfo, ValueRef};
use uuid::Uuid;

use super::errors::map_err;
use super::sql::{write_query, Sql};
use crate::checkpoint::Write;
use crate::error::{Error, Result};
use crate::runtime::InRuntime;
use crate::transaction::{SqlRow, SqlValue, TxBackend};

pub(super) struct PgTx {
    tx: InRuntime<sqlx::Transaction<'static, Postgres>>,
    sql: Arc<Sql>,
    address: String,
}

impl PgTx {
    pub fn new(tx: sqlx::Transaction<'static, Postgres>, sql: Arc<Sql>, address: String) -> Self {
        PgTx { tx: InRuntime::new(tx), sql, address }
    }

    fn query<'q>(
        sql: &'q str,
        params: &'q [SqlValue],
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for p in params {
            q = q.bind(Param(p));
        }
        q
    }
}

/// A parameter, declared to the server with its own type; `NULL` is declared with no type
/// at all (OID 0) so that the server infers it from the statement.
struct Param<'a>(&'a SqlValue);

impl sqlx::Type<Postgres> for Param<'_> {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl Encode<'_, Postgres> for Param<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        match self.0 {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Bool(v) => <bool as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Int(v) => <i64 as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Float(v) => <f64 as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Text(v) => <String as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Bytes(v) => <Vec<u8> as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Uuid(v) => <Uuid as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Timestamp(v) => <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(v, buf),
            SqlValue::Json(v) => {
                // jsonb's binary form: a version byte, then the text.
                buf.push(1);
                buf.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(match self.0 {
            SqlValue::Null => PgTypeInfo::with_oid(Oid(0)),
            SqlValue::Bool(_) => PgTypeInfo::with_name("bool"),
            SqlValue::Int(_) => PgTypeInfo::with_name("int8"),
            SqlValue::Float(_) => PgTypeInfo::with_name("float8"),
            SqlValue::Text(_) => PgTypeInfo::with_name("text"),
            SqlValue::Bytes(_) => PgTypeInfo::with_name("bytea"),
            SqlValue::Uuid(_) => PgTypeInfo::with_name("uuid"),
            SqlValue::Timestamp(_) => PgTypeInfo::with_name("timestamptz"),
            SqlValue::Json(_) => PgTypeInfo::with_name("jsonb"),
        })
    }
}

fn decode<'r, T: Decode<'r, Postgres>>(value: PgValueRef<'r>) -> std::result::Result<T, BoxDynError> {
    T::decode(value)
}

/// One column's value, by the column's type.
fn read_value(row: &PgRow, index: usize) -> Result<SqlValue> {
    let column = &row.columns()[index];
    let value = row.try_get_raw(index).map_err(|e| Error::backend(format!("postgres: {e}"), Some(e.into())))?;
    if value.is_null() {
        return Ok(SqlValue::Null);
    }
    let type_name = column.type_info().name().to_owned();
    let decoded: std::result::Result<SqlValue, BoxDynError> = match type_name.as_str() {
        "BOOL" => decode::<bool>(value).map(SqlValue::Bool),
        "INT2" => decode::<i16>(value).map(|v| SqlValue::Int(v.into())),
        "INT4" => decode::<i32>(value).map(|v| SqlValue::Int(v.into())),
        "INT8" => decode::<i64>(value).map(SqlValue::Int),
        "OID" => decode::<Oid>(value).map(|v| SqlValue::Int(v.0.into())),
        "FLOAT4" => decode::<f32>(value).map(|v| SqlValue::Float(v.into())),
        "FLOAT8" => decode::<f64>(value).map(SqlValue::Float),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" => decode::<String>(value).map(SqlValue::Text),
        "BYTEA" => decode::<Vec<u8>>(value).map(SqlValue::Bytes),
        "UUID" => decode::<Uuid>(value).map(SqlValue::Uuid),
        "TIMESTAMPTZ" => decode::<DateTime<Utc>>(value).map(SqlValue::Timestamp),
        // A timestamp without a time zone is read as UTC.
        "TIMESTAMP" => decode::<NaiveDateTime>(value).map(|t| SqlValue::Timestamp(t.and_utc())),
        "JSON" | "JSONB" => json_text(value, type_name == "JSONB").map(SqlValue::Json),
        other => {
            return Err(Error::unsupported(format!(
                "column {:?} has type {other}, which waypost does not convert; cast it in SQL (e.g. ::text)",
                column.name()
            )))
        }
    };
    decoded.map_err(|e| Error::backend(format!("postgres: cannot read column {:?}: {e}", column.name()), None))
}

fn json_text(value: PgValueRef<'_>, jsonb: bool) -> std::result::Result<String, BoxDynError> {
    let bytes = value.as_bytes()?;
    let text = match (value.format(), jsonb) {
        (PgValueFormat::Binary, true) => bytes.get(1..).ok_or("empty jsonb value")?,
        _ => bytes,
    };
    Ok(std::str::from_utf8(text)?.to_owned())
}

/// The repository's mapping, plus a wrong parameter count (which the server reports as a
/// protocol violation) as the caller's mistake.
fn statement_err(address: &str, e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if db.message().contains("bind message supplies") {
            return Error::invalid(format!("wrong number of parameters: {}", db.message()));
        }
    }
    map_err(address, e)
}

#[async_trait]
impl TxBackend for PgTx {
    async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64> {
        let done =
            PgTx::query(sql, params).execute(&mut **self.tx).await.map_err(|e| statement_err(&self.address, e))?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>> {
        let rows =
            PgTx::query(sql, params).fetch_all(&mut **self.tx).await.map_err(|e| statement_err(&self.address, e))?;
        rows.iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| Ok((row.columns()[i].name().to_owned(), read_value(row, i)?)))
                    .collect::<Result<SqlRow>>()
            })
            .collect()
    }

    async fn write(&mut self, w: Write<'_>) -> Result<()> {
        write_query(&self.sql, &w).execute(&mut **self.tx).await.map(drop).map_err(|e| map_err(&self.address, e))
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let address = self.address.clone();
        self.tx.into_inner().commit().await.map_err(|e| map_err(&address, e))
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        let address = self.address.clone();
        self.tx.into_inner().rollback().await.map_err(|e| map_err(&address, e))
    }
}
