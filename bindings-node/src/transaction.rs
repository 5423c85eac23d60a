//! Transactions: the caller's SQL and checkpoint writes committed together.

use std::sync::Arc;

use napi_derive::napi;

use crate::convert::{event_id, position, sql_cell, sql_values, JsPosition};
use crate::errors::{answer, Answer};
use crate::repository::NativeRepository;

/// A statement parameter or a value read back, tagged by `kind`: `null`, `bool` (in
/// `flag`), `int` (a `bigint` in `int`, so that 64-bit integers survive), `float` (in
/// `number`), `text`, `bytes` (a `Buffer` in `bytes`), `uuid`, `timestamp` (ISO 8601 in
/// `text`), `json` (its text). `index.js` converts JS values to and from these.
#[napi(object)]
pub struct SqlCell {
    pub kind: String,
    pub text: Option<String>,
    pub number: Option<f64>,
    pub flag: Option<bool>,
    pub int: Option<napi::bindgen_prelude::BigInt>,
    pub bytes: Option<napi::bindgen_prelude::Buffer>,
}

/// Rows of a query: the column names, then each row's cells in column order.
#[napi(object)]
pub struct SqlRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlCell>>,
}

#[napi]
impl NativeRepository {
    /// Opens a transaction on this store (see `repo.transaction(fn)` in `index.js`).
    #[napi]
    pub async fn begin(&self) -> Answer<NativeTransaction> {
        self.inner.begin().await.map(|tx| NativeTransaction { inner: Arc::new(tx) }).into()
    }
}

/// An open transaction of the core: the caller's SQL and checkpoint writes commit together.
#[napi]
pub struct NativeTransaction {
    /// Dropped open, it rolls back; the core drops its connection inside the runtime
    /// even from a finalizer on the JS thread.
    inner: Arc<waypost::Transaction>,
}

#[napi]
impl NativeTransaction {
    #[napi]
    pub async fn execute(&self, sql: String, params: Option<Vec<SqlCell>>) -> Answer<f64> {
        answer(async { Ok(self.inner.execute(&sql, &sql_values(params)?).await? as f64) }).await
    }

    #[napi]
    pub async fn fetch_all(&self, sql: String, params: Option<Vec<SqlCell>>) -> Answer<SqlRows> {
        answer(async {
            let rows = self.inner.fetch_all(&sql, &sql_values(params)?).await?;
            let columns = rows.first().map(|r| r.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
            let rows = rows.into_iter().map(|r| r.into_iter().map(|(_, v)| sql_cell(v)).collect()).collect();
            Ok(SqlRows { columns, rows })
        })
        .await
    }

    #[napi]
    pub async fn save_position(
        &self,
        subscription_id: String,
        position: JsPosition,
        event_id: String,
        event_type: String,
    ) -> Answer<()> {
        answer(async {
            let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
            self.inner.save_position(&subscription_id, position, id, &event_type).await
        })
        .await
    }

    #[napi]
    pub async fn update_checkpoint(&self, projection_name: String, event_id: String, event_type: String) -> Answer<()> {
        answer(async { self.inner.update_checkpoint(&projection_name, self::event_id(&event_id)?, &event_type).await })
            .await
    }

    #[napi]
    pub async fn save_position_token(
        &self,
        subscription_id: String,
        token: String,
        event_id: String,
        event_type: String,
    ) -> Answer<()> {
        answer(async {
            self.inner.save_position_token(&subscription_id, &token, self::event_id(&event_id)?, &event_type).await
        })
        .await
    }

    #[napi]
    pub async fn commit(&self) -> Answer<()> {
        self.inner.commit().await.into()
    }

    #[napi]
    pub async fn rollback(&self) -> Answer<()> {
        self.inner.rollback().await.into()
    }

    #[napi]
    pub fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}
