//! The checkpointer: saves one projection's position by a strategy.

use std::sync::Arc;
use std::time::Duration;

use napi_derive::napi;

use crate::convert::{event_id, position, seconds, JsPosition};
use crate::errors::{answer, invalid, thrown, Answer, Outcome, Thrown};
use crate::repository::NativeRepository;

/// Options of `new Checkpointer(store, name, options)`: neither saves after every event.
#[napi(object)]
pub struct CheckpointerOptions {
    /// Save after this many events.
    pub every: Option<f64>,
    /// Save when this many milliseconds have passed since the last save.
    pub interval_ms: Option<f64>,
    /// For handlers that finish in any order: `begin(position)` each event in stream
    /// order, `ack(position, eventId, eventType)` when its handler is done; only the
    /// frontier is saved, never a position past an unfinished event. Default `false`.
    pub out_of_order: Option<bool>,
}

/// The strategy the options name: the core's rule, over JS numbers.
fn strategy(options: &Option<CheckpointerOptions>) -> Outcome<waypost::Strategy> {
    let (every, interval) = options.as_ref().map_or((None, None), |o| (o.every, o.interval_ms));
    let every = every
        .map(|n| {
            if n.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&n) {
                return Err(invalid(format!("every must be an integer from 1 to {}, got {n}", u32::MAX)));
            }
            Ok(n as u32)
        })
        .transpose()?;
    let interval = interval.map(|ms| seconds("intervalMs", Some(ms), Duration::ZERO)).transpose()?;
    waypost::Strategy::from_parts(every, interval)
}

/// The core's `Checkpointer`: saves one projection's position by a strategy.
#[napi]
pub struct NativeCheckpointer {
    inner: Arc<waypost::Checkpointer>,
}

#[napi]
impl NativeCheckpointer {
    #[napi(constructor)]
    pub fn new(
        store: &NativeRepository,
        projection_name: String,
        options: Option<CheckpointerOptions>,
    ) -> Result<NativeCheckpointer, Thrown> {
        let strategy = strategy(&options).map_err(thrown)?;
        let repo = store.inner.clone();
        let inner = match options.and_then(|o| o.out_of_order).unwrap_or(false) {
            true => waypost::Checkpointer::out_of_order(repo, &projection_name, strategy),
            false => waypost::Checkpointer::new(repo, &projection_name, strategy),
        }
        .map_err(thrown)?;
        Ok(NativeCheckpointer { inner: Arc::new(inner) })
    }

    #[napi]
    pub fn begin(&self, position: JsPosition) -> Result<(), Thrown> {
        self.inner.begin(self::position(position).map_err(thrown)?).map_err(thrown)
    }

    #[napi]
    pub async fn ack(&self, position: JsPosition, event_id: String, event_type: String) -> Answer<()> {
        answer(async { self.inner.ack(self::position(position)?, self::event_id(&event_id)?, &event_type).await }).await
    }

    #[napi(getter)]
    pub fn in_flight(&self) -> u32 {
        u32::try_from(self.inner.in_flight()).unwrap_or(u32::MAX)
    }

    #[napi]
    pub async fn record(&self, position: JsPosition, event_id: String, event_type: String) -> Answer<()> {
        answer(async { self.inner.record(self::position(position)?, self::event_id(&event_id)?, &event_type).await })
            .await
    }

    #[napi]
    pub async fn flush(&self) -> Answer<()> {
        self.inner.flush().await.into()
    }

    /// The final save runs as a task of the native runtime: it completes even if nobody
    /// awaits the returned Promise.
    #[napi]
    pub async fn close(&self) -> Answer<()> {
        let inner = self.inner.clone();
        Answer(tokio::spawn(async move { inner.close().await }).await.unwrap_or_else(|e| {
            Err(waypost::Error::Backend { message: format!("the final save failed: {e}"), source: None })
        }))
    }

    #[napi]
    pub async fn saves(&self) -> i64 {
        i64::try_from(self.inner.saves().await).unwrap_or(i64::MAX)
    }

    #[napi]
    pub async fn unsaved(&self) -> u32 {
        self.inner.unsaved().await
    }
}
