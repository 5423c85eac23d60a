//! waypost for Node: a native repository class over the Rust core. Methods convert
//! their arguments, call the core, and map results; errors carry their kind as napi's
//! `code`, which `index.js` turns into the matching error class (see `errors`).
//!
//! One module per core module; `NativeRepository`'s methods live with the topic they
//! serve (the protocol, declared once with its synchronous twins, in `protocol`; the
//! rest of its calls in `repository`, `begin` in `transaction`, progress and health in
//! `progress`).
//!
//! The modules are public as the items were at the root: napi exports their `pub` items,
//! and under `cfg(test)` napi-derive registers nothing, so in private modules the
//! exported functions would be dead code there.

pub mod checkpointer;
pub mod claims;
pub mod convert;
pub mod diagnostics;
pub mod errors;
pub mod frontier;
pub mod manager;
pub mod options;
pub mod protocol;
pub mod records;
pub mod repository;
pub mod transaction;
// Declared last: napi-rs lists a class's methods in the order its `#[napi] impl` blocks
// expand, which is declaration order, so `NativeRepository`'s progress and health
// methods stay after the others in `generated.d.ts`.
pub mod progress;
