//! Dropping what needs a Tokio context from a thread that has none.
//!
//! sqlx hands a pooled connection back by spawning a task, which panics outside a Tokio
//! context. Repositories and transactions are dropped wherever their owner lets go of
//! them: a plain thread, a Python or JS finalizer, after the runtime has gone. What holds
//! such a connection keeps the runtime it was made on and drops it inside that one.

use std::ops::{Deref, DerefMut};

use tokio::runtime::Handle;

/// `T`, dropped inside the runtime that was current when it was wrapped. Once that runtime
/// has shut down, the spawn its drop makes is refused quietly instead of panicking.
pub(crate) struct InRuntime<T> {
    /// `None` only after [`into_inner`](Self::into_inner) or while dropping.
    value: Option<T>,
    runtime: Option<Handle>,
}

impl<T> InRuntime<T> {
    pub(crate) fn new(value: T) -> Self {
        InRuntime { value: Some(value), runtime: Handle::try_current().ok() }
    }

    pub(crate) fn into_inner(mut self) -> T {
        self.value.take().expect("InRuntime holds its value until taken")
    }
}

impl<T> Deref for InRuntime<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.as_ref().expect("InRuntime holds its value until taken")
    }
}

impl<T> DerefMut for InRuntime<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("InRuntime holds its value until taken")
    }
}

impl<T> Drop for InRuntime<T> {
    fn drop(&mut self) {
        let Some(value) = self.value.take() else { return };
        match (&self.runtime, Handle::try_current()) {
            (Some(runtime), Err(_)) => {
                let _entered = runtime.enter();
                drop(value);
            }
            _ => drop(value),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for InRuntime<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}
