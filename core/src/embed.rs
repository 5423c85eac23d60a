//! The tokio runtime a host process owns when it embeds waypost without one of its own
//! (the Python extension): built on first use, stopped once at exit, and built afresh in
//! a forked child, whose copy of the parent's runtime has no threads.
//!
//! This is the other half of the fork rule the repositories keep: a repository inherited
//! from the parent refuses in the child (`Unsupported`), while one the child opens works
//! on the child's own runtime.
//!
//! ```
//! let handle = waypost::embed::handle()?;
//! assert_eq!(handle.block_on(async { 1 + 1 }), 2);
//! # Ok::<(), waypost::embed::RuntimeGone>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use tokio::runtime::{Handle, Runtime};

struct Owned {
    pid: u32,
    runtime: Option<Runtime>,
    /// Kept after shutdown: dropping a pool still needs a runtime context (spawning onto
    /// a shut-down runtime is a no-op rather than a panic).
    handle: Handle,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// The running runtime's handle, for the per-call fast path (an uncontended read lock,
/// no system call); emptied in a forked child.
static RUNNING: RwLock<Option<Handle>> = RwLock::new(None);

static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

/// Why there is no runtime to run on: it was stopped at exit, or could not be started.
///
/// # Examples
/// ```
/// // What `handle()` answers after `shutdown()`: its text says why.
/// let handle = waypost::embed::handle();
/// assert!(handle.is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeGone(String);

impl fmt::Display for RuntimeGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeGone {}

fn stopped() -> RuntimeGone {
    RuntimeGone("the waypost runtime was shut down at interpreter exit".to_owned())
}

/// The runtime's handle, building the runtime (two worker threads) on first use in this
/// process. After [`shutdown`] it refuses.
///
/// # Examples
/// ```
/// let handle = waypost::embed::handle().expect("built on first use");
/// assert_eq!(handle.block_on(async { 6 * 7 }), 42);
/// ```
pub fn handle() -> Result<Handle, RuntimeGone> {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return Err(stopped());
    }
    if let Some(handle) = RUNNING.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
        return Ok(handle.clone());
    }
    let mut guard = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("waypost-runtime")
            .enable_all()
            .build()
            .map_err(|e| RuntimeGone(format!("cannot start the waypost runtime: {e}")))?;
        let handle = runtime.handle().clone();
        *guard = Some(Owned { pid: std::process::id(), runtime: Some(runtime), handle });
    }
    let runtime = guard.as_ref().and_then(|o| o.runtime.as_ref()).ok_or_else(stopped)?;
    let handle = runtime.handle().clone();
    *RUNNING.write().unwrap_or_else(PoisonError::into_inner) = Some(handle.clone());
    Ok(handle)
}

/// To be called in a forked child (`os.register_at_fork`): the child's copy of the
/// parent's runtime has no threads, so it is forgotten, never dropped (dropping would
/// wait for those threads), and the child's next [`handle`] builds a runtime of its own.
///
/// # Examples
/// ```
/// // A host calls it in a forked child (Python: os.register_at_fork(after_in_child=...)).
/// // In a process that never forked it only drops the runtime's handle; the next call builds one.
/// waypost::embed::after_fork_in_child();
/// assert!(waypost::embed::handle().is_ok());
/// ```
pub fn after_fork_in_child() {
    let parent = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner).take();
    std::mem::forget(parent);
    *RUNNING.write().unwrap_or_else(PoisonError::into_inner) = None;
    SHUT_DOWN.store(false, Ordering::Release);
}

/// Runs `f` inside the runtime's context if this process ever had one (also after
/// shutdown): sqlx spawns while dropping pooled connections.
///
/// # Examples
/// ```
/// let _ = waypost::embed::handle();
/// assert!(waypost::embed::in_context(|| tokio::runtime::Handle::try_current().is_ok()));
/// ```
pub fn in_context<R>(f: impl FnOnce() -> R) -> R {
    let handle = {
        let guard = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().filter(|o| o.pid == std::process::id()).map(|o| o.handle.clone())
    };
    let _entered = handle.as_ref().map(Handle::enter);
    f()
}

/// Stops this process's runtime, for the host's exit hook: later [`handle`] calls refuse.
/// It returns the runtime for the caller to shut down where it may block (Python: with
/// the interpreter released), or `None` when this process has none running.
///
/// # Examples
/// ```
/// let _ = waypost::embed::handle();
/// let runtime = waypost::embed::shutdown().expect("running");
/// runtime.shutdown_background();
/// assert!(waypost::embed::handle().is_err(), "refused after shutdown");
/// ```
pub fn shutdown() -> Option<Runtime> {
    let mut guard = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let runtime = guard.as_mut().filter(|o| o.pid == std::process::id()).and_then(|o| o.runtime.take());
    if runtime.is_some() {
        SHUT_DOWN.store(true, Ordering::Release);
        *RUNNING.write().unwrap_or_else(PoisonError::into_inner) = None;
    }
    runtime
}

#[cfg(test)]
mod tests {
    // The runtime is the process's: these steps share it, so they run as one test.
    #[test]
    fn built_once_refused_after_shutdown_and_rebuilt_after_fork() {
        let first = super::handle().unwrap();
        assert_eq!(first.block_on(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
        assert!(super::in_context(|| Handle::try_current().is_ok()));

        let runtime = super::shutdown().expect("running");
        runtime.shutdown_background();
        assert_eq!(super::handle().unwrap_err(), super::stopped());
        assert!(super::shutdown().is_none(), "stopped once");
        assert!(first.block_on(async { tokio::spawn(async { 7 }).await }).is_err(), "its tasks are refused");
        assert!(super::in_context(|| Handle::try_current().is_ok()), "the context outlives the runtime");

        // What a forked child does: a runtime of its own.
        super::after_fork_in_child();
        let child = super::handle().unwrap();
        assert_eq!(child.block_on(async { tokio::spawn(async { 8 }).await.unwrap() }), 8);
    }

    use tokio::runtime::Handle;
}
