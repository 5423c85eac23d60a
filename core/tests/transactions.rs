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

/// Every parameter type, written and read back inside a waypost transaction.
async fn typed_values_round_trip(repo: &dyn CheckpointRepository, ns: &str, postgres: bool) {
    use waypost::SqlValue as V;
    let at = waypost::time::truncate_to_micros(chrono::Utc::now());
    let id = Uuid::new_v4();
    let (bool_t, bytes_t, uuid_t, ts_t, json_t) = match postgres {
        true => ("BOOLEAN", "BYTEA", "UUID", "TIMESTAMPTZ", "JSONB"),
        false => ("BOOLEAN", "BLOB", "TEXT", "TEXT", "TEXT"),
    };
    let tx = repo.begin().await.unwrap();
    tx.execute(
        &format!("CREATE TABLE {ns}typed (b {bool_t}, y {bytes_t}, u {uuid_t}, t {ts_t}, j {json_t}, n BIGINT)"),
        &[],
    )
    .await
    .unwrap();
    let params = [
        V::Bool(true),
        V::Bytes(vec![0, 159, 255]),
        V::Uuid(id),
        V::Timestamp(at),
        V::Json(r#"{"a": [1, 2]}"#.into()),
        V::Null,
    ];
    assert_eq!(
        tx.execute(&format!("INSERT INTO {ns}typed VALUES ($1, $2, $3, $4, $5, $6)"), &params).await.unwrap(),
        1
    );
    let rows = tx.fetch_all(&format!("SELECT b, y, u, t, j, n FROM {ns}typed"), &[]).await.unwrap();
    tx.commit().await.unwrap();
    let values: Vec<&V> = rows[0].iter().map(|(_, v)| v).collect();
    let names: Vec<&str> = rows[0].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["b", "y", "u", "t", "j", "n"]);
    if postgres {
        // Typed columns come back typed.
        assert_eq!(values[0], &V::Bool(true));
        assert_eq!(values[2], &V::Uuid(id));
        assert_eq!(values[3], &V::Timestamp(at));
        assert_eq!(values[4], &V::Json(r#"{"a": [1, 2]}"#.into()));
    } else {
        // SQLite keeps its storage classes: 1, text.
        assert_eq!(values[0], &V::Int(1));
        assert_eq!(values[2], &V::Text(id.to_string()));
        assert_eq!(values[3], &V::Text(waypost::time::isoformat(&at)));
        assert_eq!(values[4], &V::Text(r#"{"a": [1, 2]}"#.into()));
    }
    assert_eq!(values[1], &V::Bytes(vec![0, 159, 255]));
    assert_eq!(values[5], &V::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_transaction_values_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("typed.db"), SqliteOptions::default()).await.unwrap();
    typed_values_round_trip(&repo, "", false).await;
    repo.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_transaction_values_round_trip() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "typed").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), events_table: None, ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    typed_values_round_trip(&repo, &format!("\"{}\".", scratch.schema), true).await;
    // A column type waypost does not convert is Unsupported, and names the cast to use.
    let tx = repo.begin().await.unwrap();
    let err = tx.fetch_all("SELECT 1.5::numeric AS amount", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("amount"), "{err}");
    let rows = tx.fetch_all("SELECT 1.5::numeric::text AS amount", &[]).await;
    assert_eq!(rows.unwrap_err().kind(), ErrorKind::InvalidArgument, "the failed call ended the transaction");
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

/// A transaction dropped while a statement runs (a cancelled task) rolls back; so does
/// one dropped between statements; the repository keeps working.
async fn dropped_transactions_roll_back(repo: &dyn CheckpointRepository, ns: &str) {
    let tx = repo.begin().await.unwrap();
    tx.execute(&format!("CREATE TABLE {ns}dropped (id BIGINT)"), &[]).await.unwrap();
    tx.commit().await.unwrap();

    let tx = repo.begin().await.unwrap();
    tx.save_position("Dropped", 1, Uuid::new_v4(), "T").await.unwrap();
    tx.execute(&format!("INSERT INTO {ns}dropped VALUES ($1)"), &[waypost::SqlValue::Int(1)]).await.unwrap();
    drop(tx);

    let tx = repo.begin().await.unwrap();
    tx.save_position("Dropped", 2, Uuid::new_v4(), "T").await.unwrap();
    let finished = {
        // Poll a slow statement once, so that it is under way, then drop it. The one
        // poll may still see it finish on a loaded machine: then nothing was dropped
        // midway, and both outcomes must leave the store consistent.
        let insert = format!(
            "INSERT INTO {ns}dropped SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
             SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c) AS s"
        );
        let mut pending = Box::pin(tx.execute(&insert, &[]));
        futures_poll_once(pending.as_mut()).await
    };
    if finished {
        assert!(tx.is_open(), "a statement that finished leaves the transaction open");
    } else {
        assert!(!tx.is_open(), "a statement dropped midway ends the transaction");
        assert_eq!(tx.commit().await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
    // Either way, dropping it now rolls back what it wrote.
    drop(tx);

    assert_eq!(repo.get_position("Dropped").await.unwrap(), None);
    let tx = repo.begin().await.unwrap();
    let rows = tx.fetch_all(&format!("SELECT id FROM {ns}dropped"), &[]).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    tx.rollback().await.unwrap();
}

/// Polls a future once and reports whether it finished.
async fn futures_poll_once<F: std::future::Future>(mut f: std::pin::Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx).is_ready())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dropped_transactions_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepository::open(dir.path().join("dropped.db"), SqliteOptions::default()).await.unwrap();
    dropped_transactions_roll_back(&repo, "").await;
    repo.close().await.unwrap();
    assert_eq!(repo.begin().await.unwrap_err().kind(), ErrorKind::Unavailable, "closed");
    let memory = SqliteRepository::open(":memory:", SqliteOptions::default()).await.unwrap();
    assert_eq!(memory.begin().await.unwrap_err().kind(), ErrorKind::Unsupported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_transactions_roll_back() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "dropped").await;
    let options = PostgresOptions { schema: scratch.schema.clone(), events_table: None, ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options).await.unwrap();
    dropped_transactions_roll_back(&repo, &format!("\"{}\".", scratch.schema)).await;
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

/// While one transaction holds SQLite's write lock, the repository's own reads go on
/// (WAL), and a second transaction waits for the lock rather than failing at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_transactions_take_the_write_lock_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(SqliteRepository::open(dir.path().join("turns.db"), SqliteOptions::default()).await.unwrap());
    repo.save_position("Turns", 1, Uuid::new_v4(), "T").await.unwrap();
    let first = repo.begin().await.unwrap();
    first.save_position("Turns", 2, Uuid::new_v4(), "T").await.unwrap();
    assert_eq!(repo.get_position("Turns").await.unwrap(), Some(1), "a read goes on beside the transaction");
    let second = tokio::spawn({
        let repo = repo.clone();
        async move {
            let tx = repo.begin().await?;
            tx.save_position("Turns", 3, Uuid::new_v4(), "T").await?;
            tx.commit().await
        }
    });
    first.commit().await.unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(repo.get_position("Turns").await.unwrap(), Some(3));
    assert_eq!(repo.get_all_checkpoints().await.unwrap()[0].events_processed, 3);
    repo.close().await.unwrap();
}
