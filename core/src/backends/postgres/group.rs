//! Group commit for checkpoint writes: a write that arrives while the store's writes are
//! busy joins a queue, and the queue is written by one multi-row upsert, one commit for
//! all of it. Each caller is answered only after that commit. When the server refuses the
//! statement (nothing of it was written), each write of it runs again alone, so a write
//! that fails fails with its own error; when the connection fails (the statement may have
//! committed), every write of it gets that error, as a write alone would.
//!
//! Order: while anything is queued or in flight, every new write queues behind it, and
//! the queue is written one statement at a time, first come first written. So a write
//! whose caller gave up (a cancelled task) still lands before every later write, never
//! after one (see `Midway` for the single-statement path).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::AssertSqlSafe;
use tokio::sync::oneshot;

use super::pool::{Fetch, Store};
use super::sql::write_query;
use crate::checkpoint::{OwnedWrite, Write};
use crate::error::{Error, ErrorKind, Result};

/// The most writes one statement takes; the rest wait for the next.
const MAX_GROUP: usize = 512;

/// A queued write and where its answer goes.
struct Queued {
    write: OwnedWrite,
    reply: oneshot::Sender<Result<()>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    /// A task is writing the queue.
    draining: bool,
    /// Writes on the single-statement path right now.
    direct: usize,
    /// The multi-row statement failed where every write alone succeeded (a table
    /// without a column it names): write one by one from then on.
    one_by_one: bool,
}

/// The queue of one store's checkpoint writes.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<State>,
}

/// Ends a write's turn on the single-statement path, however the call ends.
struct Direct<'a>(&'a Store);

impl Drop for Direct<'_> {
    fn drop(&mut self) {
        self.0.group.state.lock().unwrap_or_else(PoisonError::into_inner).direct -= 1;
    }
}

/// Starts the task that writes the queue unless it runs already.
fn start_draining(store: &Arc<Store>, state: &mut State) {
    if !state.draining && !state.queue.is_empty() {
        state.draining = true;
        tokio::spawn(drain(store.clone()));
    }
}

/// Writes `w`: at once when no other write is queued or in flight (one statement, as
/// without group commit), else in the queue's next statement, which a task of its own
/// sends beside the write in flight.
pub(super) async fn write(store: &Arc<Store>, w: &Write<'_>) -> Result<()> {
    // In a forked child the queue may name a drain task of the parent's, which does not
    // exist here: refuse before queueing (see `crate::origin`).
    store.origin.check()?;
    let reply = {
        let mut state = store.group.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.queue.is_empty() && !state.draining && state.direct == 0 {
            state.direct += 1;
            None
        } else {
            let (reply, answer) = oneshot::channel();
            state.queue.push_back(Queued { write: OwnedWrite::from(w.clone()), reply });
            start_draining(store, &mut state);
            Some(answer)
        }
    };
    match reply {
        None => {
            let _turn = Direct(store.as_ref());
            store.run(write_query(&store.sql, w), Fetch::Nothing).await.map(drop)
        }
        Some(answer) => {
            answer.await.map_err(|_| Error::backend("the checkpoint write was dropped before it ran", None))?
        }
    }
}

/// Clears `draining` if the drain task is dropped before it ends (its runtime shut
/// down), failing the writes still queued: a later write on another runtime starts a
/// new drain instead of waiting for one that no longer runs.
struct Draining {
    store: Arc<Store>,
    ended: bool,
}

impl Drop for Draining {
    fn drop(&mut self) {
        if !self.ended {
            let mut state = self.store.group.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.draining = false;
            // Dropping their senders answers their callers with an error.
            state.queue.clear();
        }
    }
}

/// Writes the queue, one statement at a time, until it is empty.
async fn drain(store: Arc<Store>) {
    let mut guard = Draining { store: store.clone(), ended: false };
    loop {
        let (group, one_by_one) = {
            let mut state = store.group.state.lock().unwrap_or_else(PoisonError::into_inner);
            let group = take_distinct(&mut state.queue);
            if group.is_empty() {
                state.draining = false;
                guard.ended = true;
                return;
            }
            (group, state.one_by_one)
        };
        if group.len() == 1 || one_by_one {
            for queued in group {
                let out = store.run(write_query(&store.sql, &queued.write.as_write()), Fetch::Nothing).await.map(drop);
                let _ = queued.reply.send(out);
            }
            continue;
        }
        match store.run(many_query(&store, &group), Fetch::Nothing).await {
            Ok(_) => {
                for queued in group {
                    let _ = queued.reply.send(Ok(()));
                }
            }
            // The connection failed: the statement may have committed before its answer
            // was lost, so running its writes again could count them twice. Each caller
            // gets the error, as a write alone would.
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                for queued in group {
                    let _ = queued.reply.send(Err(e.duplicate()));
                }
            }
            Err(_) => {
                // The server refused the statement, so nothing of it was written: each
                // write runs alone and gets its own answer.
                let mut all_ok = true;
                for queued in group {
                    let out =
                        store.run(write_query(&store.sql, &queued.write.as_write()), Fetch::Nothing).await.map(drop);
                    all_ok &= out.is_ok();
                    let _ = queued.reply.send(out);
                }
                if all_ok {
                    store.group.state.lock().unwrap_or_else(PoisonError::into_inner).one_by_one = true;
                }
            }
        }
    }
}

/// The longest run at the queue's front with no name twice (one upsert cannot change a
/// row twice), at most `MAX_GROUP` long.
fn take_distinct(queue: &mut VecDeque<Queued>) -> Vec<Queued> {
    let mut names = std::collections::HashSet::new();
    let mut group = Vec::new();
    while group.len() < MAX_GROUP {
        match queue.front() {
            Some(q) if names.insert(q.write.name.clone()) => group.push(queue.pop_front().expect("front")),
            _ => break,
        }
    }
    group
}

/// The multi-row upsert of `group`: a position or token left `NULL` keeps the stored one.
fn many_query<'q>(
    store: &Store,
    group: &'q [Queued],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(AssertSqlSafe(store.sql.upsert_many.clone()))
        .bind(group.iter().map(|q| q.write.name.as_str()).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.event_id).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.event_type.as_str()).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.at).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.count).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.position).collect::<Vec<_>>())
        .bind(group.iter().map(|q| q.write.token.as_deref()).collect::<Vec<_>>())
}
