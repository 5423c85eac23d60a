//! [`ClaimManager`]: the checkpoint-resume worker API on top of a [`ClaimLedger`] — claim
//! an item by its key, complete or fail it by the same key — with the claims' epochs
//! kept for the caller, leases renewed in the background while claims are held, and an
//! explicit, visible fallback to memory when asked for.
//!
//! The Node `CheckpointManager` and the Python manager are this type.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
//!
//! let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
//! let manager = ClaimManager::new(repo, ManagerOptions::default()).await?;
//! let at = waypost::time::now();
//! if manager.claim_file("s3://bucket/a.csv", "csv", at).await? {
//!     // … process the file …
//!     manager.complete_file("s3://bucket/a.csv", ItemStats { records_total: 3, ..Default::default() }).await?;
//! }
//! assert!(manager.is_processed("s3://bucket/a.csv").await?);
//! manager.close().await?;
//! # Ok::<(), waypost::Error>(())
//! # }).unwrap();
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::backends::memory::MemoryRepository;
use crate::checkpoint::validate_name;
use crate::claims::{self, Claim, ClaimCounts, ClaimLedger, ClaimRecord, ClaimsOptions, ItemStats};
use crate::error::{Error, ErrorKind, Result};
use crate::repository::CheckpointRepository;

/// The default lease: five minutes.
///
/// # Examples
/// ```
/// assert_eq!(waypost::ManagerOptions::default().lease, waypost::manager::DEFAULT_LEASE);
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

/// How a [`ClaimManager`] is set up.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let options = waypost::ManagerOptions { lease: Duration::from_secs(60), ..Default::default() };
/// options.validate()?;
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    /// This worker's id; `None`: `worker_<unix ms>_<6 random characters>`.
    pub worker_id: Option<String>,
    /// How many times an item is claimed again after its first attempt.
    pub max_retries: u32,
    /// How long a claim lives without a heartbeat; renewed every third of it.
    pub lease: Duration,
    /// Whether to switch to an in-process ledger when the store is unreachable at
    /// construction or at a claim. Off by default: a worker that cannot reach the
    /// shared store usually should stop, not split the work.
    pub fallback_to_memory: bool,
    /// The claims table.
    pub table: String,
}

impl ManagerOptions {
    /// Checks every option without touching a store.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad worker id, table or `max_retries`, or a lease over 30
    /// days or under 10 ms.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let too_short = waypost::ManagerOptions { lease: Duration::from_millis(1), ..Default::default() };
    /// assert_eq!(too_short.validate().unwrap_err().kind(), waypost::ErrorKind::InvalidArgument);
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(id) = &self.worker_id {
            validate_name("worker id", id)?;
        }
        claims::check_lease(self.lease)?;
        if self.lease < Duration::from_millis(10) {
            return Err(Error::invalid("lease must be at least 10 ms"));
        }
        ClaimsOptions { table: self.table.clone(), max_retries: self.max_retries }.validate().map(drop)
    }
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            worker_id: None,
            max_retries: claims::DEFAULT_MAX_RETRIES,
            lease: DEFAULT_LEASE,
            fallback_to_memory: false,
            table: claims::DEFAULT_CLAIMS_TABLE.to_owned(),
        }
    }
}

/// Where a manager keeps its claims.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
/// # let manager = ClaimManager::new(repo.clone(), options).await?;
/// # let at = waypost::time::now();
/// assert_eq!(manager.mode(), waypost::ManagerMode::Store);
/// assert_eq!(manager.mode().as_str(), "store");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagerMode {
    /// In the repository it was given: shared with every other worker.
    Store,
    /// In this process only, after the store was unreachable (`fallback_to_memory`).
    Memory,
}

impl ManagerMode {
    /// `store` or `memory`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::ManagerMode::Memory.as_str(), "memory");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ManagerMode::Store => "store",
            ManagerMode::Memory => "memory",
        }
    }
}

/// A [`ClaimManager`] started on first use, for the constructors of the bindings that
/// cannot wait (a Python `__init__`, a JS `new`). The start-up rule stays the core's: the
/// manager reaches the store when it starts ([`get`](Self::get)), and until the store has
/// answered its mode is `"pending"`, never `"store"`.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// use waypost::{CheckpointRepository, LazyClaimManager, ManagerOptions, MemoryRepository};
/// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// let lazy = LazyClaimManager::new(repo, ManagerOptions::default())?;
/// assert_eq!(lazy.mode_name(), "pending", "nothing asked the store yet");
/// let manager = lazy.get().await?;
/// assert_eq!((lazy.mode_name(), manager.worker_id()), ("store", lazy.worker_id()));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct LazyClaimManager {
    repo: Arc<dyn CheckpointRepository>,
    options: ManagerOptions,
    started: tokio::sync::OnceCell<Arc<ClaimManager>>,
}

impl std::fmt::Debug for LazyClaimManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClaimManager").field("mode", &self.mode_name()).finish_non_exhaustive()
    }
}

/// The mode of a manager whose store has not answered yet.
///
/// # Examples
/// ```
/// assert_eq!(waypost::manager::PENDING_MODE, "pending");
/// ```
pub const PENDING_MODE: &str = "pending";

impl LazyClaimManager {
    /// Checks `options` now (a bad one fails at construction) and gives every manager a
    /// worker id now, so that it can be read before the start.
    ///
    /// # Errors
    /// As [`ManagerOptions::validate`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, LazyClaimManager, ManagerOptions, MemoryRepository};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let lazy = LazyClaimManager::new(repo, ManagerOptions::default())?;
    /// assert!(lazy.worker_id().starts_with("worker_"), "given at construction");
    /// assert!(lazy.started().is_none());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn new(repo: Arc<dyn CheckpointRepository>, mut options: ManagerOptions) -> Result<Self> {
        options.validate()?;
        options.worker_id.get_or_insert_with(default_worker_id);
        Ok(LazyClaimManager { repo, options, started: tokio::sync::OnceCell::new() })
    }

    /// The manager, started (reaching the store) by the first caller.
    ///
    /// # Errors
    /// As [`ClaimManager::new`]; a failed start is tried again by the next call.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, LazyClaimManager, ManagerOptions, MemoryRepository};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let lazy = LazyClaimManager::new(repo, ManagerOptions::default())?;
    /// let first = lazy.get().await?;
    /// assert!(Arc::ptr_eq(&first, &lazy.get().await?), "started once");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self) -> Result<Arc<ClaimManager>> {
        let (repo, options) = (&self.repo, &self.options);
        self.started
            .get_or_try_init(|| async { ClaimManager::new(repo.clone(), options.clone()).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The manager if it has started.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, LazyClaimManager, ManagerOptions, MemoryRepository};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let lazy = LazyClaimManager::new(repo, ManagerOptions::default())?;
    /// lazy.get().await?;
    /// assert!(lazy.started().is_some());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn started(&self) -> Option<&Arc<ClaimManager>> {
        self.started.get()
    }

    /// This worker's id.
    ///
    /// # Examples
    /// ```
    /// # use std::sync::Arc;
    /// use waypost::{LazyClaimManager, ManagerOptions, MemoryRepository};
    /// let options = ManagerOptions { worker_id: Some("worker-7".into()), ..Default::default() };
    /// let lazy = LazyClaimManager::new(Arc::new(MemoryRepository::new()), options)?;
    /// assert_eq!(lazy.worker_id(), "worker-7");
    /// # Ok::<(), waypost::Error>(())
    /// ```
    pub fn worker_id(&self) -> &str {
        self.options.worker_id.as_deref().unwrap_or_default()
    }

    /// `"pending"` until the store answered, then `"store"`, or `"memory"` after a fallback.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use waypost::{CheckpointRepository, LazyClaimManager, ManagerOptions, MemoryRepository};
    /// let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// let lazy = LazyClaimManager::new(repo, ManagerOptions::default())?;
    /// assert_eq!(lazy.mode_name(), "pending");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn mode_name(&self) -> &'static str {
        self.started.get().map_or(PENDING_MODE, |m| m.mode().as_str())
    }
}

/// Per-item work claims for one worker. See the [module documentation](self).
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
/// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
/// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
/// # let manager = ClaimManager::new(repo.clone(), options).await?;
/// # let at = waypost::time::now();
/// if manager.claim_file("s3://b/a.csv", "csv", at).await? {
///     // ... process the file ...
///     manager.complete_file("s3://b/a.csv", ItemStats::default()).await?;
/// }
/// assert!(manager.is_processed("s3://b/a.csv").await?);
/// manager.close().await?;
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
pub struct ClaimManager {
    inner: Arc<Inner>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Inner {
    worker_id: String,
    lease: Duration,
    fallback: bool,
    options: ClaimsOptions,
    ledger: Mutex<Arc<dyn ClaimLedger>>,
    in_memory: AtomicBool,
    warning: Mutex<Option<String>>,
    held: Mutex<HashMap<String, Held>>,
    /// Why claims were lost in the background, for the next call on the key.
    lost: Mutex<HashMap<String, String>>,
    heartbeat_rounds: tokio::sync::watch::Sender<u64>,
}

/// A live claim, and the channel its [`LeaseWatch`]es listen on: `Some(reason)` once it
/// is lost; dropped (closing the channel) when it ends any other way.
struct Held {
    claim: Claim,
    lost: tokio::sync::watch::Sender<Option<String>>,
}

impl Held {
    fn new(claim: Claim) -> Self {
        Held { claim, lost: tokio::sync::watch::Sender::new(None) }
    }
}

/// Says when a held claim is lost in the background: the heartbeat found it taken over
/// or finished by someone else, or its lease ran out while the store was unreachable.
/// From [`ClaimManager::lease_watch`]; a worker selects on [`lost`](Self::lost) beside its
/// work and stops, since what it writes for the item will be refused.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use waypost::{ClaimManager, ManagerOptions, MemoryRepository};
///
/// let manager = ClaimManager::new(Arc::new(MemoryRepository::new()), ManagerOptions::default()).await?;
/// assert!(manager.claim_file("a.csv", "csv", waypost::time::now()).await?);
/// let watch = manager.lease_watch("a.csv").expect("held");
/// manager.complete_file("a.csv", Default::default()).await?;
/// assert!(watch.lost().await.is_none(), "completed, not lost");
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct LeaseWatch(tokio::sync::watch::Receiver<Option<String>>);

impl LeaseWatch {
    /// Waits until the claim is lost (`Some`, a [`Error::LeaseLost`] saying why) or ends
    /// any other way (`None`: completed, failed, released, the manager closed).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{ClaimManager, ManagerOptions, MemoryRepository};
    /// # let manager = ClaimManager::new(Arc::new(MemoryRepository::new()), ManagerOptions::default()).await?;
    /// manager.claim_file("a.csv", "csv", waypost::time::now()).await?;
    /// let watch = manager.lease_watch("a.csv").expect("held");
    /// manager.release_file("a.csv").await?;
    /// assert!(watch.lost().await.is_none(), "released, not lost");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn lost(mut self) -> Option<Error> {
        loop {
            if let Some(reason) = self.0.borrow_and_update().clone() {
                return Some(Error::LeaseLost { message: reason });
            }
            if self.0.changed().await.is_err() {
                return self.0.borrow().clone().map(|message| Error::LeaseLost { message });
            }
        }
    }

    /// Whether the claim has been lost by now.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{ClaimManager, ManagerOptions, MemoryRepository};
    /// # let manager = ClaimManager::new(Arc::new(MemoryRepository::new()), ManagerOptions::default()).await?;
    /// manager.claim_file("a.csv", "csv", waypost::time::now()).await?;
    /// let watch = manager.lease_watch("a.csv").expect("held");
    /// assert!(!watch.is_lost());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn is_lost(&self) -> bool {
        self.0.borrow().is_some()
    }
}

impl std::fmt::Debug for ClaimManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimManager")
            .field("worker_id", &self.inner.worker_id)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `worker_<unix ms>_<6 characters of [a-z0-9]>`.
///
/// # Examples
/// ```
/// let id = waypost::manager::default_worker_id();
/// assert!(id.starts_with("worker_") && id.len() > "worker_".len() + 7);
/// ```
pub fn default_worker_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let random = uuid::Uuid::new_v4();
    let suffix: String =
        random.as_bytes()[..6].iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("worker_{}_{suffix}", crate::time::now().timestamp_millis())
}

impl ClaimManager {
    /// A manager for `repo`'s claims table. Starts the background heartbeat, so it must
    /// be called within a tokio runtime.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad worker id, table, `max_retries` or a lease over 30
    /// days or under 10 ms; `Unsupported` for a repository without claims; `Unavailable`
    /// when the store cannot be reached and `fallback_to_memory` is off.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert_eq!(manager.worker_id(), "worker-1");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn new(repo: Arc<dyn CheckpointRepository>, options: ManagerOptions) -> Result<ClaimManager> {
        options.validate()?;
        let worker_id = options.worker_id.clone().unwrap_or_else(default_worker_id);
        let claims_options = ClaimsOptions { table: options.table.clone(), max_retries: options.max_retries };
        let ledger = repo.claims(claims_options.clone())?;
        let inner = Arc::new(Inner {
            worker_id,
            lease: options.lease,
            fallback: options.fallback_to_memory,
            options: claims_options,
            ledger: Mutex::new(ledger.clone()),
            in_memory: AtomicBool::new(false),
            warning: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            lost: Mutex::new(HashMap::new()),
            heartbeat_rounds: tokio::sync::watch::Sender::new(0),
        });
        // Reach the store now (this also creates the table), so that a worker learns at
        // start, not at its first item, that the store is missing.
        if let Err(e) = ledger.stats().await {
            inner.fall_back_or(e)?;
        }
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Ok(ClaimManager { inner, heartbeat: Mutex::new(Some(heartbeat)) })
    }

    /// This worker's id.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert_eq!(manager.worker_id(), "worker-1");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }

    /// Whether claims live in the store or, after a fallback, in this process.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert_eq!(manager.mode(), waypost::ManagerMode::Store);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn mode(&self) -> ManagerMode {
        if self.inner.in_memory.load(Ordering::Acquire) {
            ManagerMode::Memory
        } else {
            ManagerMode::Store
        }
    }

    /// The fallback warning, once: `Some` the first time it is asked after the switch.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert_eq!(manager.take_warning(), None, "no fallback happened");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn take_warning(&self) -> Option<String> {
        lock(&self.inner.warning).take()
    }

    /// A watch on the live claim this worker holds on `key` (`None` when it holds none),
    /// resolving when the claim is lost in the background.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert!(manager.lease_watch("k").is_none(), "not held");
    /// manager.claim_file("k", "csv", at).await?;
    /// assert!(!manager.lease_watch("k").expect("held").is_lost());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn lease_watch(&self, key: &str) -> Option<LeaseWatch> {
        lock(&self.inner.held).get(key).map(|h| LeaseWatch(h.lost.subscribe()))
    }

    /// The number of heartbeat rounds completed so far (each renews every held claim),
    /// as a channel that can be awaited.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// let rounds = manager.heartbeat_rounds();
    /// assert_eq!(*rounds.borrow(), 0, "the first round runs after a third of the lease");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn heartbeat_rounds(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.heartbeat_rounds.subscribe()
    }

    /// The keys this worker holds live claims on.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// assert_eq!(manager.held(), ["k"]);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn held(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.inner.held).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Claims `key` for this worker: `true` when it is now this worker's to process,
    /// `false` when it is done, held by a live worker, or out of retries.
    ///
    /// # Errors
    /// As [`ClaimLedger::claim`]; `Unavailable` only when `fallback_to_memory` is off.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert!(manager.claim_file("k", "csv", at).await?);
    /// assert!(!manager.claim_file("k", "csv", at).await?, "held already");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn claim_file(&self, key: &str, item_type: &str, item_timestamp: DateTime<Utc>) -> Result<bool> {
        let (worker, lease) = (&self.inner.worker_id, self.inner.lease);
        let claim = match self.inner.ledger().claim(key, item_type, item_timestamp, worker, lease).await {
            Err(e) if e.kind() == ErrorKind::Unavailable && self.inner.fallback && !self.inner.is_memory() => {
                self.inner.fall_back_or(e)?;
                self.inner.ledger().claim(key, item_type, item_timestamp, worker, lease).await?
            }
            other => other?,
        };
        Ok(match claim {
            Some(claim) => {
                lock(&self.inner.lost).remove(key);
                lock(&self.inner.held).insert(key.to_owned(), Held::new(claim));
                true
            }
            None => false,
        })
    }

    /// Marks a claimed item completed with its figures.
    ///
    /// # Errors
    /// `LeaseLost` when this worker holds no live claim on `key` (never claimed, already
    /// finished, or taken over after the lease ran out); `InvalidArgument` for a negative
    /// figure. On other errors the claim stays held and the call may be retried.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// manager.complete_file("k", ItemStats { records_total: 3, records_persisted: 3, ..Default::default() }).await?;
    /// assert_eq!(manager.stats().await?.completed, 1);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn complete_file(&self, key: &str, stats: ItemStats) -> Result<()> {
        let claim = self.inner.holding(key)?;
        let result = self.inner.ledger().complete(&claim, stats).await;
        self.inner.settle(key, &result);
        result
    }

    /// Marks a claimed item failed; it is claimed again while retries remain.
    ///
    /// # Errors
    /// As [`ClaimManager::complete_file`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// manager.fail_file("k", "bad header").await?;
    /// assert_eq!(manager.get("k").await?.unwrap().error_message.as_deref(), Some("bad header"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn fail_file(&self, key: &str, message: &str) -> Result<()> {
        let claim = self.inner.holding(key)?;
        let result = self.inner.ledger().fail(&claim, message).await;
        self.inner.settle(key, &result);
        result
    }

    /// Hands a claimed item back without counting an attempt.
    ///
    /// # Errors
    /// As [`ClaimManager::complete_file`].
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// manager.release_file("k").await?;
    /// assert!(manager.held().is_empty());
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn release_file(&self, key: &str) -> Result<()> {
        let claim = self.inner.holding(key)?;
        let result = self.inner.ledger().release(&claim).await;
        self.inner.settle(key, &result);
        result
    }

    /// Whether `key` is completed (by any worker).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert!(!manager.is_processed("k").await?);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn is_processed(&self, key: &str) -> Result<bool> {
        self.inner.ledger().is_processed(key).await
    }

    /// The item's whole record.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// assert_eq!(manager.get("k").await?.unwrap().worker_id.as_deref(), Some("worker-1"));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, key: &str) -> Result<Option<ClaimRecord>> {
        self.inner.ledger().get(key).await
    }

    /// How many items stand where, counted in the store (or in memory after a fallback).
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// assert_eq!(manager.stats().await?.total, 0);
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn stats(&self) -> Result<ClaimCounts> {
        self.inner.ledger().stats().await
    }

    /// Stops the heartbeat and releases every claim still held (without counting an
    /// attempt), so other workers can take those items at once.
    ///
    /// # Errors
    /// The first error releasing a claim, other than `LeaseLost`.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use waypost::{CheckpointRepository, ClaimManager, ItemStats, ManagerOptions, MemoryRepository};
    /// # let repo: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
    /// # let options = ManagerOptions { worker_id: Some("worker-1".into()), ..ManagerOptions::default() };
    /// # let manager = ClaimManager::new(repo.clone(), options).await?;
    /// # let at = waypost::time::now();
    /// manager.claim_file("k", "csv", at).await?;
    /// manager.close().await?;
    /// let other = ClaimManager::new(repo, ManagerOptions::default()).await?;
    /// assert!(other.claim_file("k", "csv", at).await?, "released at close");
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&self) -> Result<()> {
        if let Some(task) = lock(&self.heartbeat).take() {
            task.abort();
        }
        let held: Vec<Claim> = lock(&self.inner.held).drain().map(|(_, h)| h.claim).collect();
        let ledger = self.inner.ledger();
        let mut first = Ok(());
        for claim in held {
            match ledger.release(&claim).await {
                Err(e) if e.kind() != ErrorKind::LeaseLost && first.is_ok() => first = Err(e),
                _ => {}
            }
        }
        first
    }
}

impl Drop for ClaimManager {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.heartbeat).take() {
            task.abort();
        }
    }
}

impl Inner {
    fn ledger(&self) -> Arc<dyn ClaimLedger> {
        lock(&self.ledger).clone()
    }

    fn is_memory(&self) -> bool {
        self.in_memory.load(Ordering::Acquire)
    }

    /// Switches to memory for an `Unavailable` store when allowed; else returns `e`.
    fn fall_back_or(&self, e: Error) -> Result<()> {
        if !(self.fallback && e.kind() == ErrorKind::Unavailable) {
            return Err(e);
        }
        let memory: Arc<dyn CheckpointRepository> = Arc::new(MemoryRepository::new());
        *lock(&self.ledger) = memory.claims(self.options.clone())?;
        lock(&self.held).clear();
        if !self.in_memory.swap(true, Ordering::AcqRel) {
            *lock(&self.warning) = Some(format!(
                "waypost: the claims store is unreachable ({e}); worker {} now keeps claims in memory, \
                 where other workers cannot see them",
                self.worker_id
            ));
            tracing::warn!(code = "claims_fallback", worker = %self.worker_id, error = %e, "claims fell back to memory");
        }
        Ok(())
    }

    fn holding(&self, key: &str) -> Result<Claim> {
        claims::validate_key(key)?;
        if let Some(h) = lock(&self.held).get(key) {
            return Ok(h.claim.clone());
        }
        let why = lock(&self.lost).get(key).map(|reason| format!(": {reason}")).unwrap_or_default();
        Err(Error::LeaseLost { message: format!("worker {:?} holds no live claim on {key:?}{why}", self.worker_id) })
    }

    /// The heartbeat found the claim (of this epoch) lost: it is no longer held, its
    /// watches hear why, and so does the next call on the key.
    fn mark_lost(&self, claim: &Claim, reason: String) {
        let removed = {
            let mut held = lock(&self.held);
            match held.get(&claim.key) {
                Some(h) if h.claim.epoch == claim.epoch => held.remove(&claim.key),
                _ => None,
            }
        };
        if let Some(h) = removed {
            tracing::warn!(code = "lease_lost", worker = %self.worker_id, key = %claim.key, %reason, "claim lost");
            lock(&self.lost).insert(claim.key.clone(), reason.clone());
            h.lost.send_replace(Some(reason));
        }
    }

    /// After a holder's call: the claim is done with unless the call may be retried.
    fn settle(&self, key: &str, result: &Result<()>) {
        let finished = match result {
            Ok(()) => true,
            Err(e) => e.kind() == ErrorKind::LeaseLost,
        };
        if finished {
            lock(&self.held).remove(key);
        }
    }
}

/// Renews every held claim each third of the lease; drops claims found lost. Ends when
/// the manager is gone.
async fn heartbeat(inner: Weak<Inner>) {
    loop {
        let Some(period) = inner.upgrade().map(|i| i.lease / 3) else { return };
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        let held: Vec<Claim> = lock(&inner.held).values().map(|h| h.claim.clone()).collect();
        let ledger = inner.ledger();
        for claim in held {
            match ledger.heartbeat(&claim, inner.lease).await {
                Ok(renewed) => {
                    let mut held = lock(&inner.held);
                    // Only if it was not completed meanwhile.
                    if let Some(h) = held.get_mut(&claim.key).filter(|h| h.claim.epoch == renewed.epoch) {
                        h.claim = renewed;
                    }
                }
                Err(e) if e.kind() == ErrorKind::LeaseLost => {
                    inner.mark_lost(&claim, format!("the heartbeat found the claim gone ({e})"));
                }
                // Unreachable for now: the next round tries again, until the lease has
                // run out, when another worker may already have the item.
                Err(e) if crate::time::now() >= claim.lease_expires_at => {
                    inner.mark_lost(&claim, format!("the lease ran out while the store was unreachable ({e})"));
                }
                Err(_) => {}
            }
        }
        inner.heartbeat_rounds.send_modify(|n| *n += 1);
    }
}
