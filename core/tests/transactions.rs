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
