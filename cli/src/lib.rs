//! The `waypost` command: what operators run against any waypost store.
//!
//! ```text
//! waypost status [NAME] [--json]         progress of every projection (or one)
//! waypost list [--json]                  every checkpoint as stored
//! waypost lag NAME [--types T,…]         lag metrics of one projection
//! waypost reset NAME [--yes]             delete a checkpoint (asks first)
//! waypost claims [--status S]            work claims and their counts
//! waypost demo append|process|status     the stop-resume demo on an SQLite file
//! waypost serve [--bind 127.0.0.1:8080]  dashboard, JSON API, /health and /metrics
//! ```
//!
//! The store is `--url` (or `WAYPOST_URL`; default: the demo's SQLite file). Exit codes:
//! 0 ok, 1 not found, 2 usage (including a refused confirmation), 3 unavailable, 4 any
//! other failure. The same entry point ([`run`]) serves the binary and the Python
//! package's `waypost` console script.

mod commands;
mod demo;
mod serve;
mod store;
mod view;

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use waypost::ErrorKind;

pub use serve::{router, ServeOptions};
pub use store::{open_store, StoreArgs};

/// The default store: the demo's SQLite file.
pub const DEFAULT_URL: &str = "sqlite:waypost-demo.db";

#[derive(Debug, Parser)]
#[command(
    name = "waypost",
    version,
    about = "Checkpoints of event-stream consumers: progress, lag, reset, claims, and a dashboard"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Progress of every projection, or of one: position, stream head, events behind,
    /// percent complete, lag and state.
    Status {
        /// One projection.
        name: Option<String>,
        /// Seconds without a write after which a projection that is behind counts as stalled.
        #[arg(long, default_value_t = 60)]
        stall_after: u64,
    },
    /// Every checkpoint as stored.
    List,
    /// Lag metrics of one projection.
    Lag {
        /// The projection.
        name: String,
        /// Only these event types count as the newest event (comma-separated).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
    },
    /// Delete a projection's checkpoint, so that it starts again from the beginning.
    Reset {
        /// The projection.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Work claims: counts, and the items themselves.
    Claims {
        /// Only items in this status (processing, completed, failed).
        #[arg(long)]
        status: Option<String>,
        /// The claims table.
        #[arg(long, default_value = waypost::DEFAULT_CLAIMS_TABLE)]
        claims_table: String,
        /// At most this many items.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The stop-resume demo on an embedded SQLite file.
    Demo {
        #[command(subcommand)]
        step: demo::Step,
        /// The demo's SQLite file.
        #[arg(long, env = "WAYPOST_DEMO_DB", default_value = "waypost-demo.db", global = true)]
        db: String,
    },
    /// Serve the dashboard (`/`), the JSON API (`/api/checkpoints`), `/health` and `/metrics`.
    Serve {
        /// Address to listen on (loopback unless you say otherwise).
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// Bearer token that allows DELETE /api/checkpoints/{name}; without one,
        /// mutations are off.
        #[arg(long, env = "WAYPOST_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Seconds without a write after which a projection that is behind counts as stalled.
        #[arg(long, default_value_t = 60)]
        stall_after: u64,
    },
}

/// What a command ended with.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A waypost error: the exit code follows its kind.
    Store(waypost::Error),
    /// Something else, with its exit code.
    Exit(i32, String),
}

impl From<waypost::Error> for Failure {
    fn from(e: waypost::Error) -> Self {
        Failure::Store(e)
    }
}

pub(crate) type Outcome = Result<(), Failure>;

/// The exit code for an error kind: 1 not found, 2 bad input, 3 unavailable, 4 other.
pub fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::NotFound => 1,
        ErrorKind::InvalidArgument => 2,
        ErrorKind::Unavailable => 3,
        _ => 4,
    }
}

/// Runs the command line `args` (the program name first) and returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("waypost: cannot start the runtime: {e}");
            return 4;
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    match outcome {
        Ok(()) => 0,
        Err(Failure::Store(e)) => {
            eprintln!("waypost: {e}");
            exit_code(e.kind())
        }
        Err(Failure::Exit(code, message)) => {
            if !message.is_empty() {
                eprintln!("waypost: {message}");
            }
            code
        }
    }
}

async fn dispatch(cli: Cli) -> Outcome {
    let json = cli.json;
    match cli.command {
        Command::Demo { step, db } => demo::run(step, &db, json).await,
        Command::Serve { bind, token, stall_after } => {
            let repo = open_store(&cli.store).await?;
            let options = ServeOptions { token, stall_after: std::time::Duration::from_secs(stall_after) };
            serve::serve(repo, &bind, options).await
        }
        command => {
            let repo = open_store(&cli.store).await?;
            let outcome = match command {
                Command::Status { name, stall_after } => {
                    commands::status(&*repo, name.as_deref(), stall_after, json).await
                }
                Command::List => commands::list(&*repo, json).await,
                Command::Lag { name, types } => commands::lag(&*repo, &name, &types, json).await,
                Command::Reset { name, yes } => commands::reset(&*repo, &name, yes, json).await,
                Command::Claims { status, claims_table, limit } => {
                    commands::claims(repo.clone(), status.as_deref(), &claims_table, limit, json).await
                }
                Command::Demo { .. } | Command::Serve { .. } => unreachable!("handled above"),
            };
            let _ = repo.close().await;
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_error_kind() {
        assert_eq!(exit_code(ErrorKind::NotFound), 1);
        assert_eq!(exit_code(ErrorKind::InvalidArgument), 2);
        assert_eq!(exit_code(ErrorKind::Unavailable), 3);
        assert_eq!(exit_code(ErrorKind::Backend), 4);
    }
}
