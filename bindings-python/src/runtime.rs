//! The tokio runtime waypost owns in a Python process: built on first use, shut down
//! from an `atexit` hook (a runtime left running at interpreter exit can crash it), and
//! built afresh in a forked child, whose copy of the parent's has no threads.
//! Repositories inherited from the parent refuse there, in the core.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

use crate::errors::{to_py_err, waypost_error};

struct Owned {
    pid: u32,
    runtime: Option<Runtime>,
    /// Kept after shutdown: dropping a pool still needs a runtime context (spawning
    /// onto a shut-down runtime is a no-op rather than a panic).
    handle: Handle,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// The running runtime's handle, for the per-call fast path (an uncontended read lock,
/// no system call); emptied in a forked child.
static RUNNING: RwLock<Option<Handle>> = RwLock::new(None);

const ALIVE: u8 = 0;
const SHUT_DOWN: u8 = 1;
static STATE: AtomicU8 = AtomicU8::new(ALIVE);

/// The runtime's handle, building the runtime on first use.
pub fn handle() -> PyResult<Handle> {
    if STATE.load(Ordering::Acquire) == SHUT_DOWN {
        return Err(waypost_error("the waypost runtime was shut down at interpreter exit"));
    }
    if let Some(handle) = RUNNING.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return Ok(handle.clone());
    }
    let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if guard.is_none() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("waypost-runtime")
            .enable_all()
            .build()
            .map_err(|e| waypost_error(format!("cannot start the waypost runtime: {e}")))?;
        let handle = runtime.handle().clone();
        *guard = Some(Owned { pid, runtime: Some(runtime), handle });
    }
    let owned = guard.as_ref().ok_or_else(|| waypost_error("the waypost runtime is gone"))?;
    match &owned.runtime {
        Some(runtime) => {
            let handle = runtime.handle().clone();
            *RUNNING.write().unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
            Ok(handle)
        }
        None => Err(waypost_error("the waypost runtime was shut down at interpreter exit")),
    }
}

/// Registered with `os.register_at_fork`: the child's copy of the parent's runtime has
/// no threads. It is forgotten, never dropped (dropping would wait for those threads),
/// and the child's first call builds a runtime of its own. Repositories the child opens
/// work; those inherited from the parent refuse with `UnsupportedError` (the core
/// checks the process), and dropping them leaves the parent's connections alone.
#[pyfunction]
pub fn _after_fork_in_child() {
    let parent = RUNTIME.lock().unwrap_or_else(|p| p.into_inner()).take();
    std::mem::forget(parent);
    *RUNNING.write().unwrap_or_else(|p| p.into_inner()) = None;
    STATE.store(ALIVE, Ordering::Release);
}

/// Runs `f` inside the runtime's context if there ever was one in this process (also
/// after shutdown): sqlx spawns while dropping pooled connections.
pub fn in_context<R>(f: impl FnOnce() -> R) -> R {
    let handle = {
        let guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().filter(|o| o.pid == std::process::id()).map(|o| o.handle.clone())
    };
    match handle {
        Some(handle) => {
            let _entered = handle.enter();
            f()
        }
        None => f(),
    }
}

/// Stops the runtime; registered with `atexit`. Calls made afterwards raise.
#[pyfunction]
pub fn _shutdown(py: Python<'_>) {
    let runtime = {
        let mut guard = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(owned) if owned.pid == std::process::id() => owned.runtime.take(),
            _ => None,
        }
    };
    if runtime.is_some() {
        STATE.store(SHUT_DOWN, Ordering::Release);
    }
    if let Some(runtime) = runtime {
        // Detached, so that tasks finishing now can take the interpreter if they need it.
        py.detach(|| runtime.shutdown_timeout(Duration::from_secs(2)));
    }
}

/// A core future polled on the Python thread with the runtime entered, so that sqlx can
/// register its sockets and timers; pyo3's coroutine wakes the asyncio loop when it is
/// ready. A future that is ready at once (memory, validation errors) never leaves the
/// Python thread; one that waits is woken from the thread that finished the work.
pub struct InRuntime<F> {
    handle: Handle,
    /// `None` only after completion or while dropping.
    future: Option<Pin<Box<F>>>,
    /// How long the first poll may wait for the answer before it yields to the loop.
    spin: Duration,
}

impl<F> Drop for InRuntime<F> {
    fn drop(&mut self) {
        // A cancelled call drops its future here, on the Python thread: returning a
        // pooled connection spawns onto the runtime, which needs its context.
        let _entered = self.handle.enter();
        self.future = None;
    }
}

/// Wraps a core call for awaiting from Python. When the answer is not there at once
/// and `spin` is not zero, the Python thread keeps polling for up to `spin`, with the
/// interpreter released, before it yields to the event loop. For a store whose calls usually finish within that time (SQLite: about
/// 100 µs for a durable write) this saves waking the loop from another thread, which
/// costs as much again; the loop is held for at most `spin` per call.
pub fn drive<F, T>(spin: Duration, future: F) -> PyResult<InRuntime<F>>
where
    F: Future<Output = waypost::Result<T>> + Send,
    T: Send,
{
    Ok(InRuntime { handle: handle()?, future: Some(Box::pin(future)), spin })
}

/// Polls `future` with a no-op waker until it is ready or `budget` has passed.
fn spin_poll<F: Future + Send>(future: &mut Pin<Box<F>>, budget: Duration) -> Poll<F::Output>
where
    F::Output: Send,
{
    let start = Instant::now();
    Python::attach(|py| {
        py.detach(|| loop {
            let mut cx = Context::from_waker(Waker::noop());
            std::hint::spin_loop();
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return Poll::Ready(out);
            }
            if start.elapsed() >= budget {
                return Poll::Pending;
            }
        })
    })
}

impl<F, T> Future for InRuntime<F>
where
    F: Future<Output = waypost::Result<T>> + Send,
    T: Send,
{
    type Output = PyResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        match this.future.as_mut() {
            Some(future) => {
                let mut poll = future.as_mut().poll(cx);
                if poll.is_pending() && !this.spin.is_zero() {
                    let budget = std::mem::take(&mut this.spin);
                    poll = spin_poll(future, budget);
                    if poll.is_pending() {
                        // Registers the loop's waker for the answer still to come.
                        poll = future.as_mut().poll(cx);
                    }
                }
                if poll.is_ready() {
                    this.future = None;
                }
                poll.map(|r| r.map_err(to_py_err))
            }
            None => Poll::Ready(Err(crate::errors::waypost_error("polled after completion"))),
        }
    }
}
