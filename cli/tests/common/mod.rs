//! Helpers of the CLI tests: stores with known contents on SQLite, PostgreSQL and MySQL, and
//! running the `waypost` binary.
#![allow(dead_code, unused_imports)]

#[path = "../../../core/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

pub use support::{mysql_url, postgres_url, MysqlScratch, Scratch, Space};
use waypost::{
    CheckpointRepository, EventsTable, MysqlOptions, MysqlRepository, NewEvent, PostgresOptions, PostgresRepository,
    SqliteOptions, SqliteRepository,
};

pub const WAYPOST: &str = env!("CARGO_BIN_EXE_waypost");

/// A store to run commands against, and the arguments that name it.
pub struct Store {
    pub repo: Arc<dyn CheckpointRepository>,
    pub args: Vec<String>,
    _dir: Option<tempfile::TempDir>,
    scratch: Space,
}

impl Store {
    pub async fn sqlite() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let options = SqliteOptions { events_table: Some(EventsTable::default()), ..SqliteOptions::default() };
        let repo = Arc::new(SqliteRepository::open(&path, options).await.unwrap());
        let args = vec!["--url".into(), format!("sqlite:{}", path.display())];
        Store { repo, args, _dir: Some(dir), scratch: Space::None }
    }

    pub async fn postgres(url: &str, label: &str) -> Store {
        let scratch = Scratch::new(url, label).await;
        let options = PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
        let repo = Arc::new(PostgresRepository::connect(url, options).await.unwrap());
        let args = vec!["--url".into(), url.to_owned(), "--schema".into(), scratch.schema.clone()];
        Store { repo, args, _dir: None, scratch: Space::Postgres(scratch) }
    }

    pub async fn mysql(url: &str, label: &str) -> Store {
        let scratch = MysqlScratch::new(url, label).await;
        let repo = Arc::new(MysqlRepository::connect(&scratch.url, MysqlOptions::default()).await.unwrap());
        let args = vec!["--url".into(), scratch.url.clone()];
        Store { repo, args, _dir: None, scratch: Space::Mysql(scratch) }
    }

    /// `events` events in the events table, and checkpoints at the given positions.
    pub async fn fill(&self, events: usize, checkpoints: &[(&str, i64)]) {
        self.repo.create_events_table().await.unwrap();
        let list: Vec<NewEvent> = (0..events).map(|_| NewEvent::now("OrderPlaced")).collect();
        for chunk in list.chunks(5_000) {
            self.repo.append_events(chunk).await.unwrap();
        }
        for (name, position) in checkpoints {
            self.repo.save_position(name, *position, uuid::Uuid::new_v4(), "OrderPlaced").await.unwrap();
        }
    }

    /// Runs `waypost ARGS… <store args>` with `stdin` as its input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_waypost(&[args, &self.args.iter().map(String::as_str).collect::<Vec<_>>()].concat(), stdin)
    }

    pub async fn finish(self) {
        self.repo.close().await.unwrap();
        self.scratch.drop().await;
    }
}

pub fn run_waypost(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(WAYPOST)
        .args(args)
        .env_remove("WAYPOST_URL")
        .env_remove("WAYPOST_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start waypost");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

pub fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}
