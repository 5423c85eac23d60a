//! Which store a command works on, and opening it with the caller's table names.

use std::sync::Arc;

use clap::Args;
use waypost::{
    CheckpointRepository, EventsTable, MemoryRepository, MysqlOptions, MysqlRepository, PostgresOptions,
    PostgresRepository, SqliteOptions, SqliteRepository, Target,
};

/// The store options every command takes.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: sqlite:PATH, postgres://…, mysql://… or memory:.
    #[arg(long, env = "WAYPOST_URL", default_value = crate::DEFAULT_URL, global = true)]
    pub url: String,
    /// PostgreSQL schema of the checkpoint table.
    #[arg(long, default_value = "public", global = true)]
    pub schema: String,
    /// The checkpoint table.
    #[arg(long, default_value = waypost::DEFAULT_CHECKPOINT_TABLE, global = true)]
    pub table: String,
    /// The events table that lag and progress read (`none` for a store without one).
    #[arg(long, default_value = "events", global = true)]
    pub events_table: String,
}

impl StoreArgs {
    fn events(&self) -> Option<EventsTable> {
        (self.events_table != "none")
            .then(|| EventsTable { table: self.events_table.clone(), ..EventsTable::default() })
    }
}

/// Opens the store `args` names. SQLite files are not created: a command on a path that
/// does not exist is `NotFound`.
///
/// # Errors
/// `InvalidArgument` for a bad URL or table name; `NotFound` for a missing SQLite file;
/// `Unavailable` when the store cannot be reached.
pub async fn open_store(args: &StoreArgs) -> waypost::Result<Arc<dyn CheckpointRepository>> {
    Ok(match waypost::parse_url(&args.url)? {
        Target::Memory => Arc::new(MemoryRepository::new()),
        Target::Sqlite(path) => {
            if path != ":memory:" && !std::path::Path::new(path).exists() {
                return Err(waypost::Error::NotFound { message: format!("no sqlite database at {path}") });
            }
            let options =
                SqliteOptions { table: args.table.clone(), events_table: args.events(), ..SqliteOptions::default() };
            Arc::new(SqliteRepository::open(path, options).await?)
        }
        Target::Postgres(url) => {
            let options = PostgresOptions {
                schema: args.schema.clone(),
                table: args.table.clone(),
                events_table: args.events(),
                ..PostgresOptions::default()
            };
            Arc::new(PostgresRepository::connect(url, options).await?)
        }
        Target::Mysql(url) => {
            let options =
                MysqlOptions { table: args.table.clone(), events_table: args.events(), ..MysqlOptions::default() };
            Arc::new(MysqlRepository::connect(url, options).await?)
        }
        // The URL may carry a password: never echo it.
        _ => return Err(waypost::Error::InvalidArgument { message: "unsupported repository url scheme".into() }),
    })
}
