//! The claim manager: per-item work claims held by one worker.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use napi_derive::napi;

use crate::convert::{count, seconds};
use crate::errors::{answer, thrown, Answer, Outcome, Thrown};
use crate::repository::NativeRepository;

/// Options of `new CheckpointManager(store, options)`.
#[napi(object)]
#[derive(Default)]
pub struct ManagerOptions {
    pub worker_id: Option<String>,
    pub max_retries: Option<u32>,
    pub lease_ms: Option<f64>,
    pub fallback_to_memory: Option<bool>,
    pub table: Option<String>,
}

/// What a worker reports when it completes a file.
#[napi(object)]
#[derive(Default)]
pub struct FileStats {
    pub total_rows: Option<f64>,
    pub filtered_rows: Option<f64>,
    pub persisted_rows: Option<f64>,
    pub duration_ms: Option<f64>,
}

/// How many items stand where, counted in the store.
#[napi(object)]
pub struct ClaimStats {
    pub total: i64,
    pub processing: i64,
    pub completed: i64,
    pub failed: i64,
}

impl From<waypost::ClaimCounts> for ClaimStats {
    fn from(c: waypost::ClaimCounts) -> Self {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        ClaimStats { total: n(c.total), processing: n(c.processing), completed: n(c.completed), failed: n(c.failed) }
    }
}

/// Per-item work claims over a repository's store: the core's `ClaimManager`, started by
/// `start()` or the first call (it reaches the store and starts the heartbeat).
#[napi]
pub struct NativeManager {
    lazy: Arc<waypost::LazyClaimManager>,
}

impl NativeManager {
    async fn manager(&self) -> Outcome<Arc<waypost::ClaimManager>> {
        self.lazy.get().await
    }
}

#[napi]
impl NativeManager {
    #[napi(constructor)]
    pub fn new(store: &NativeRepository, options: Option<ManagerOptions>) -> Result<Self, Thrown> {
        let o = options.unwrap_or_default();
        let defaults = waypost::ManagerOptions::default();
        let options = waypost::ManagerOptions {
            worker_id: o.worker_id,
            max_retries: o.max_retries.unwrap_or(defaults.max_retries),
            lease: seconds("leaseMs", o.lease_ms, defaults.lease).map_err(thrown)?,
            fallback_to_memory: o.fallback_to_memory.unwrap_or(defaults.fallback_to_memory),
            table: o.table.unwrap_or(defaults.table),
        };
        let lazy = waypost::LazyClaimManager::new(store.inner.clone(), options).map_err(thrown)?;
        Ok(NativeManager { lazy: Arc::new(lazy) })
    }

    /// Reaches the store now and starts the heartbeat (the first call does otherwise).
    #[napi]
    pub async fn start(&self) -> Answer<()> {
        self.manager().await.map(drop).into()
    }

    #[napi]
    pub async fn claim_file(&self, url: String, file_type: String, timestamp: DateTime<Utc>) -> Answer<bool> {
        answer(async { self.manager().await?.claim_file(&url, &file_type, timestamp).await }).await
    }

    #[napi]
    pub async fn complete_file(&self, url: String, stats: Option<FileStats>) -> Answer<()> {
        answer(async {
            let s = stats.unwrap_or_default();
            let stats = waypost::ItemStats {
                records_total: count("totalRows", s.total_rows)?,
                records_filtered: count("filteredRows", s.filtered_rows)?,
                records_persisted: count("persistedRows", s.persisted_rows)?,
                processing_time_ms: count("durationMs", s.duration_ms)?,
            };
            self.manager().await?.complete_file(&url, stats).await
        })
        .await
    }

    #[napi]
    pub async fn fail_file(&self, url: String, message: String) -> Answer<()> {
        answer(async { self.manager().await?.fail_file(&url, &message).await }).await
    }

    #[napi]
    pub async fn release_file(&self, url: String) -> Answer<()> {
        answer(async { self.manager().await?.release_file(&url).await }).await
    }

    /// Calls `onLost(code, message)` once if this worker's claim on `url` is lost in the
    /// background. The callback is weak: it never keeps the process alive. `false` when
    /// no claim on `url` is held.
    #[napi]
    pub fn watch_lease(
        &self,
        url: String,
        on_lost: napi::bindgen_prelude::Function<(String, String), ()>,
    ) -> napi::Result<bool> {
        let Some(watch) = self.lazy.started().and_then(|m| m.lease_watch(&url)) else { return Ok(false) };
        let on_lost = on_lost.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
        napi::bindgen_prelude::spawn(async move {
            if let Some(lost) = watch.lost().await {
                on_lost.call(
                    (lost.kind().as_str().to_owned(), lost.to_string()),
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        });
        Ok(true)
    }

    #[napi]
    pub async fn is_processed(&self, url: String) -> Answer<bool> {
        answer(async { self.manager().await?.is_processed(&url).await }).await
    }

    #[napi]
    pub async fn get_stats(&self) -> Answer<ClaimStats> {
        answer(async { self.manager().await?.stats().await.map(ClaimStats::from) }).await
    }

    #[napi]
    pub fn worker_id(&self) -> String {
        self.lazy.worker_id().to_owned()
    }

    /// `"pending"` until the store answered, then `"store"`, or `"memory"` after a fallback.
    #[napi]
    pub fn mode(&self) -> String {
        self.lazy.mode_name().to_owned()
    }

    /// The fallback notice, once.
    #[napi]
    pub fn take_warning(&self) -> Option<String> {
        self.lazy.started().and_then(|m| m.take_warning())
    }

    #[napi]
    pub async fn close(&self) -> Answer<()> {
        Answer(match self.lazy.started() {
            Some(m) => m.close().await,
            None => Ok(()),
        })
    }
}
