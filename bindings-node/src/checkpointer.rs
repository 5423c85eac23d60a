//! The checkpointer: saves one projection's position by a strategy.

use std::sync::Arc;
use std::time::Duration;

use napi::Result;
use napi_derive::napi;

use crate::convert::{event_id, position, seconds};
use crate::errors::{invalid, to_js_err};
use crate::repository::NativeRepository;

/// Options of `new Checkpointer(store, name, options)`: neither saves after every event.
#[napi(object)]
pub struct CheckpointerOptions {
    /// Save after this many events.
    pub every: Option<f64>,
    /// Save when this many milliseconds have passed since the last save.
    pub interval_ms: Option<f64>,
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
    ) -> Result<NativeCheckpointer> {
        let (every, interval) = options.map_or((None, None), |o| (o.every, o.interval_ms));
        let every = every
            .map(|n| {
                if n.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&n) {
                    return Err(invalid(format!("every must be an integer from 1 to {}, got {n}", u32::MAX)));
                }
                Ok(n as u32)
            })
            .transpose()?;
        let interval = interval.map(|ms| seconds("intervalMs", Some(ms), Duration::ZERO)).transpose()?;
        let strategy = waypost::Strategy::from_parts(every, interval).map_err(to_js_err)?;
        let inner = waypost::Checkpointer::new(store.inner.clone(), &projection_name, strategy).map_err(to_js_err)?;
        Ok(NativeCheckpointer { inner: Arc::new(inner) })
    }

    #[napi]
    pub async fn record(&self, position: f64, event_id: String, event_type: String) -> Result<()> {
        let (position, id) = (self::position(position)?, self::event_id(&event_id)?);
        self.inner.record(position, id, &event_type).await.map_err(to_js_err)
    }

    #[napi]
    pub async fn flush(&self) -> Result<()> {
        self.inner.flush().await.map_err(to_js_err)
    }

    /// The final save runs as a task of the native runtime: it completes even if nobody
    /// awaits the returned Promise.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.close().await })
            .await
            .map_err(|e| napi::Error::from_reason(format!("Backend: the final save failed: {e}")))?
            .map_err(to_js_err)
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
