//! Core calls awaited from Python, on the process's runtime (the core's `embed`: built on
//! first use, rebuilt in a forked child), which an `atexit` hook stops (a runtime left
//! running at interpreter exit can crash it).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::Handle;
pub use waypost::embed::in_context;

use crate::errors::{to_py_err, waypost_error};

/// The process's runtime (the core's `embed`), built on first use.
pub fn handle() -> PyResult<Handle> {
    waypost::embed::handle().map_err(|e| waypost_error(e.to_string()))
}

/// Registered with `os.register_at_fork`: the child builds a runtime of its own.
/// Repositories the child opens work; those inherited from the parent refuse with
/// `UnsupportedError` (the core checks the process), and dropping them leaves the
/// parent's connections alone.
#[pyfunction]
pub fn _after_fork_in_child() {
    // The parent's threads are gone: none of them is inside the gate any more.
    INSIDE.store(0, SeqCst);
    OPEN.store(true, SeqCst);
    waypost::embed::after_fork_in_child();
}

/// Stops the runtime; registered with `atexit`. Calls made afterwards raise.
#[pyfunction]
pub fn _shutdown(py: Python<'_>) {
    py.detach(|| {
        close_gate();
        if let Some(runtime) = waypost::embed::shutdown() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    });
}

// The gate between waypost's threads and the interpreter. A call's answer may arrive on a
// thread of waypost's (the SQLite thread, a runtime worker), whose wake enters the
// interpreter to wake the asyncio loop; a thread that enters it once finalization has
// begun is ended by CPython in the middle of Rust code, and the process aborts or crashes.
// The gate closes in the `atexit` hook, before finalization, and waits for every thread
// inside it to leave; after that no waypost thread enters the interpreter (their wakes
// are dropped: nobody is left to await them) and the Python thread no longer releases it
// to spin. OPEN and INSIDE are sequentially consistent: a thread that entered after
// `close_gate` read INSIDE sees OPEN false.
static OPEN: AtomicBool = AtomicBool::new(true);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` only while the gate is open, and holds the gate's closing until it returns.
fn through_gate<R>(f: impl FnOnce() -> R) -> Option<R> {
    INSIDE.fetch_add(1, SeqCst);
    let out = OPEN.load(SeqCst).then(f);
    INSIDE.fetch_sub(1, SeqCst);
    out
}

fn close_gate() {
    OPEN.store(false, SeqCst);
    while INSIDE.load(SeqCst) > 0 {
        std::thread::yield_now();
    }
}

/// The waker a core future gets: it passes a wake on to pyo3's coroutine (which enters
/// the interpreter) only through the gate.
struct Gated(Waker);

impl Wake for Gated {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        through_gate(|| self.0.wake_by_ref());
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
    /// The gated waker given to the core future, and the coroutine's waker inside it.
    waker: Option<(Waker, Waker)>,
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
    Ok(InRuntime { handle: handle()?, future: Some(Box::pin(future)), spin, waker: None })
}

/// Polls `future` with a no-op waker until it is ready or `budget` has passed.
fn spin_poll<F: Future + Send>(future: &mut Pin<Box<F>>, budget: Duration) -> Poll<F::Output>
where
    F::Output: Send,
{
    let start = Instant::now();
    // Inside the gate: the interpreter is not released once exit has begun.
    through_gate(|| {
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
    })
    .unwrap_or(Poll::Pending)
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
        if !matches!(&this.waker, Some((_, inner)) if inner.will_wake(cx.waker())) {
            this.waker = Some((Waker::from(Arc::new(Gated(cx.waker().clone()))), cx.waker().clone()));
        }
        let gated = &this.waker.as_ref().expect("set above").0;
        let cx = &mut Context::from_waker(gated);
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
