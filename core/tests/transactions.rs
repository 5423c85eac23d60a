//! Checkpoints inside the caller's transaction: the read-model write and the checkpoint
//! commit together or not at all (SQLite: `SqliteRepository::transaction`; PostgreSQL:
//! `save_position_on` with the caller's sqlx transaction).

mod support;

use std::sync::Arc;

use uuid::Uuid;
use waypost::{
    CheckpointRepository, Error, ErrorKind, PostgresOptions, PostgresRepository, SqliteOptions, SqliteRepository,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_both_or_neither() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tx.db");
    let repo = Arc::new(SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap());
    repo.transaction(|tx| {
        tx.connection().execute_batch("CREATE TABLE totals (position INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")?;
        Ok(())
    })
    .await
    .unwrap();

    repo.transaction(|tx| {
        tx.connection().execute("INSERT INTO totals VALUES (?1, ?2)", (1, 10))?;
        tx.save_position("Totals", 1, Uuid::new_v4(), "OrderPlaced")
    })
    .await
    .unwrap();

    // A failure after both writes rolls both back.
    let err = repo
        .transaction(|tx| {
            tx.connection().execute("INSERT INTO totals VALUES (?1, ?2)", (2, 20))?;
            tx.save_position("Totals", 2, Uuid::new_v4(), "OrderPlaced")?;
            Err::<(), _>(Error::InvalidArgument { message: "the handler failed".into() })
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // A failing statement of the caller's (a duplicate key) rolls back too, with its kind.
    let err = repo
        .transaction(|tx| {
            tx.update_checkpoint("Totals", Uuid::new_v4(), "OrderShipped")?;
            tx.connection().execute("INSERT INTO totals VALUES (?1, ?2)", (1, 99))?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    assert_eq!(repo.get_position("Totals").await.unwrap(), Some(1));
    assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 1);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(i64, i64)> = raw
        .prepare("SELECT position, amount FROM totals ORDER BY position")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec![(1, 10)]);
    repo.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commits_both_or_neither() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "tx").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), events_table: None, ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    let totals = format!("\"{}\".totals", scratch.schema);
    scratch.execute(&format!("CREATE TABLE {totals} (position BIGINT PRIMARY KEY, amount BIGINT NOT NULL)")).await;
    let pool = scratch.admin();

    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {totals} VALUES (1, 10)"))).execute(&mut *tx).await.unwrap();
    repo.save_position_on(&mut tx, "Totals", 1, Uuid::new_v4(), "OrderPlaced").await.unwrap();
    assert_eq!(repo.get_position("Totals").await.unwrap(), None, "not visible before the commit");
    tx.commit().await.unwrap();
    assert_eq!(repo.get_position("Totals").await.unwrap(), Some(1));

    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("INSERT INTO {totals} VALUES (2, 20)"))).execute(&mut *tx).await.unwrap();
    repo.save_position_on(&mut tx, "Totals", 2, Uuid::new_v4(), "OrderPlaced").await.unwrap();
    repo.update_checkpoint_on(&mut tx, "Totals", Uuid::new_v4(), "OrderShipped").await.unwrap();
    tx.rollback().await.unwrap();

    let err = {
        let mut tx = pool.begin().await.unwrap();
        repo.save_position_on(&mut tx, "Totals", -1, Uuid::new_v4(), "OrderPlaced").await.unwrap_err()
    };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    assert_eq!(repo.get_position("Totals").await.unwrap(), Some(1));
    assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 1);
    let rows: Vec<(i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT position, amount FROM {totals} ORDER BY position")))
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(rows, vec![(1, 10)]);
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

/// Statement mode on SQLite: the caller runs the statement with their own rusqlite
/// connection inside their own transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_statement_runs_in_the_callers_transaction() {
    use waypost::{StatementKind, StatementParam};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stmt.db");
    let repo = SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap();
    let mut own = rusqlite::Connection::open(&path).unwrap();
    own.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    for (position, commit) in [(7, true), (8, false)] {
        let stmt = repo
            .checkpoint_statement("Own", Uuid::new_v4(), "OrderPlaced", StatementKind::SavePosition(position))
            .await
            .unwrap();
        assert!(stmt.sql.contains("?6"), "{}", stmt.sql);
        let params: Vec<rusqlite::types::Value> = stmt
            .params
            .iter()
            .map(|p| match p {
                StatementParam::Text(t) => rusqlite::types::Value::Text(t.clone()),
                StatementParam::Int(i) => rusqlite::types::Value::Integer(*i),
                other => panic!("SQLite takes text and integers, got {other:?}"),
            })
            .collect();
        let tx = own.transaction().unwrap();
        tx.execute(&stmt.sql, rusqlite::params_from_iter(params)).unwrap();
        if commit {
            tx.commit().unwrap();
        } // else dropped: rolled back
    }
    assert_eq!(repo.get_position("Own").await.unwrap(), Some(7));
    assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 1);
    let err = repo.checkpoint_statement("", Uuid::new_v4(), "T", StatementKind::UpdateCheckpoint).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let memory = waypost::MemoryRepository::new();
    let err = memory.checkpoint_statement("x", Uuid::new_v4(), "T", StatementKind::UpdateCheckpoint).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    repo.close().await.unwrap();
}

/// Statement mode on PostgreSQL, run by sqlx on the caller's own transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statement_runs_in_the_callers_transaction() {
    use waypost::{StatementKind, StatementParam};
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "stmt").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), events_table: None, ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    for (token, commit) in [("lsn:1", true), ("lsn:2", false)] {
        let kind = StatementKind::SavePositionToken(token.to_owned());
        let stmt = repo.checkpoint_statement("Cdc", Uuid::new_v4(), "Row", kind).await.unwrap();
        assert!(stmt.sql.contains("$6"), "{}", stmt.sql);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(stmt.sql.clone()));
        for p in &stmt.params {
            q = match p {
                StatementParam::Text(t) => q.bind(t.clone()),
                StatementParam::Int(i) => q.bind(*i),
                StatementParam::Uuid(u) => q.bind(*u),
                StatementParam::Timestamp(t) => q.bind(*t),
            };
        }
        let mut tx = scratch.admin().begin().await.unwrap();
        q.execute(&mut *tx).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }
    assert_eq!(repo.get_position_token("Cdc").await.unwrap().as_deref(), Some("lsn:1"));
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}
