//! Tables that eventsource-py created are used as they are: the layout of its DDL (with
//! its indexes and `updated_at` trigger), rows it wrote, and its events table.

mod support;

use uuid::Uuid;
use waypost::{
    CheckpointRepository, ErrorKind, NewEvent, PostgresOptions, PostgresRepository, SqliteOptions, SqliteRepository,
};

const SQLITE_DDL: &str = "
CREATE TABLE projection_checkpoints (
    projection_name TEXT PRIMARY KEY,
    last_event_id TEXT,
    last_event_type TEXT,
    last_processed_at TEXT,
    global_position INTEGER,
    events_processed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX idx_checkpoints_last_processed ON projection_checkpoints (last_processed_at);
CREATE INDEX idx_checkpoints_updated_at ON projection_checkpoints (updated_at);
CREATE TRIGGER trg_checkpoint_updated_at AFTER UPDATE ON projection_checkpoints FOR EACH ROW
BEGIN
    UPDATE projection_checkpoints SET updated_at = datetime('now') WHERE projection_name = NEW.projection_name;
END;
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    aggregate_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    event_type TEXT NOT NULL,
    tenant_id TEXT,
    actor_id TEXT,
    version INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (aggregate_id, aggregate_type, version)
);
CREATE INDEX idx_events_event_type ON events (event_type);
CREATE INDEX idx_events_timestamp ON events (timestamp);
INSERT INTO projection_checkpoints
    (projection_name, last_event_id, last_event_type, last_processed_at, global_position, events_processed)
    VALUES ('OrderProjection', '6f9619ff-8b86-d011-b42d-00cf4fc964ff', 'OrderPlaced',
            '2026-11-25T12:55:27.030494+00:00', 41, 7);
INSERT INTO events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload) VALUES
    ('00000000-0000-4000-8000-000000000001', 'a', 'Order', 'OrderPlaced', 1, '2026-11-25T12:55:20.000000+00:00', '{}'),
    ('00000000-0000-4000-8000-000000000002', 'a', 'Order', 'OrderShipped', 2, '2026-11-25T12:55:39.080494+00:00', '{}');
";

#[tokio::test]
async fn sqlite_uses_an_eventsource_table_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventsource.db");
    rusqlite::Connection::open(&path).unwrap().execute_batch(SQLITE_DDL).unwrap();

    // Without schema changes allowed, the missing position_token column is a clear error.
    let strict = SqliteOptions { create_schema: false, ..SqliteOptions::default() };
    let repo = SqliteRepository::open(&path, strict).await.unwrap();
    assert_eq!(repo.get_position_token("OrderProjection").await.unwrap_err().kind(), ErrorKind::NotFound);
    repo.close().await.unwrap();

    let repo = SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap();
    assert_eq!(repo.get_position("OrderProjection").await.unwrap(), Some(41));
    let lag = repo.get_lag_metrics("OrderProjection", None).await.unwrap().unwrap();
    assert_eq!(lag.last_processed_at.as_deref(), Some("2026-11-25T12:55:27.030494+00:00"));
    assert_eq!(lag.latest_event_id.as_deref(), Some("00000000-0000-4000-8000-000000000002"));
    assert_eq!(lag.lag_seconds, 12.1); // round(12.05, 1) in CPython: 12.05 is stored as 12.0500…01
    assert_eq!((lag.stream_head, lag.events_behind), (Some(2), Some(0)));
    let placed = lag_for(&repo, "OrderPlaced").await;
    assert_eq!(placed.lag_seconds, 0.0);

    repo.save_position_token("OrderProjection", "cursor-9", Uuid::new_v4(), "OrderShipped").await.unwrap();
    repo.save_position("OrderProjection", 42, Uuid::new_v4(), "OrderShipped").await.unwrap();
    let all = repo.get_all_checkpoints().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].events_processed, 9);
    assert_eq!((all[0].global_position, all[0].position_token.as_deref()), (Some(42), Some("cursor-9")));
    repo.create_lag_index().await.unwrap();
    repo.close().await.unwrap();

    // A second open finds position_token already there and changes nothing.
    let again = SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap();
    assert_eq!(again.get_position_token("OrderProjection").await.unwrap().as_deref(), Some("cursor-9"));
}

/// The newest event of each type filter on the two-event eventsource table: the same
/// answers whichever lag query the table's indexes select (PostgreSQL looks them up).
async fn assert_typed_lag(repo: &dyn CheckpointRepository) {
    const PLACED: &str = "00000000-0000-4000-8000-000000000001";
    const SHIPPED: &str = "00000000-0000-4000-8000-000000000002";
    for (types, latest) in [
        (vec!["OrderPlaced"], Some(PLACED)),
        (vec!["OrderShipped"], Some(SHIPPED)),
        (vec!["OrderPlaced", "OrderShipped"], Some(SHIPPED)),
        (vec!["Absent", "OrderPlaced"], Some(PLACED)),
        (vec!["Absent"], None),
    ] {
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let lag = repo.get_lag_metrics("OrderProjection", Some(&types)).await.unwrap().unwrap();
        assert_eq!(lag.latest_event_id.as_deref(), latest, "types {types:?}");
        assert_eq!(lag.stream_head, Some(2), "types {types:?}");
    }
}

async fn lag_for(repo: &dyn CheckpointRepository, event_type: &str) -> waypost::LagMetrics {
    let types = [event_type.to_owned()];
    repo.get_lag_metrics("OrderProjection", Some(&types)).await.unwrap().unwrap()
}

const POSTGRES_DDL: &[&str] = &[
    "CREATE TABLE {schema}.projection_checkpoints (
        projection_name VARCHAR(255) PRIMARY KEY,
        last_event_id UUID,
        last_event_type VARCHAR(255),
        last_processed_at TIMESTAMPTZ,
        events_processed BIGINT NOT NULL DEFAULT 0,
        global_position BIGINT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
    )",
    "CREATE INDEX ON {schema}.projection_checkpoints (updated_at)",
    "CREATE FUNCTION {schema}.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN NEW.updated_at = NOW(); RETURN NEW; END $$",
    "CREATE TRIGGER trg_touch BEFORE UPDATE ON {schema}.projection_checkpoints
        FOR EACH ROW EXECUTE FUNCTION {schema}.touch_updated_at()",
    "CREATE TABLE {schema}.events (
        global_position BIGSERIAL PRIMARY KEY,
        event_id UUID NOT NULL UNIQUE,
        aggregate_id UUID NOT NULL,
        aggregate_type VARCHAR(255) NOT NULL,
        event_type VARCHAR(255) NOT NULL,
        tenant_id UUID,
        actor_id VARCHAR(255),
        version INTEGER NOT NULL,
        timestamp TIMESTAMPTZ NOT NULL,
        payload JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
        UNIQUE (aggregate_id, aggregate_type, version)
    )",
    "CREATE INDEX idx_events_timestamp ON {schema}.events (timestamp)",
    "CREATE INDEX idx_events_event_type ON {schema}.events (event_type)",
    "INSERT INTO {schema}.projection_checkpoints
        (projection_name, last_event_id, last_event_type, last_processed_at, events_processed, global_position)
        VALUES ('OrderProjection', '6f9619ff-8b86-d011-b42d-00cf4fc964ff', 'OrderPlaced',
                '2026-11-25T12:55:27.030494+00:00', 7, 41)",
    "INSERT INTO {schema}.events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload)
        VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'Order', 'OrderPlaced', 1,
                '2026-11-25T12:55:20+00:00', '{}'),
               ('00000000-0000-4000-8000-000000000002', gen_random_uuid(), 'Order', 'OrderShipped', 1,
                '2026-11-25T12:55:39.080494+00:00', '{}')",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_uses_an_eventsource_table_as_it_is() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "compat").await;
    for statement in POSTGRES_DDL {
        scratch.execute(statement).await;
    }
    let options =
        |create_schema| PostgresOptions { schema: scratch.schema.clone(), create_schema, ..PostgresOptions::default() };

    let strict = PostgresRepository::connect(&url, options(false)).await.unwrap();
    assert_eq!(strict.get_position_token("OrderProjection").await.unwrap_err().kind(), ErrorKind::NotFound);
    strict.close().await.unwrap();

    let repo = PostgresRepository::connect(&url, options(true)).await.unwrap();
    assert_eq!(repo.get_position("OrderProjection").await.unwrap(), Some(41));
    let lag = repo.get_lag_metrics("OrderProjection", None).await.unwrap().unwrap();
    assert_eq!(lag.last_processed_at.as_deref(), Some("2026-11-25T12:55:27.030494+00:00"));
    assert_eq!(lag.latest_event_id.as_deref(), Some("00000000-0000-4000-8000-000000000002"));
    assert_eq!(lag.lag_seconds, 12.1);
    assert_eq!((lag.stream_head, lag.events_behind), (Some(2), Some(0)));
    assert_eq!(lag_for(&repo, "OrderPlaced").await.lag_seconds, 0.0);
    // eventsource's indexes only (type alone, timestamp alone): the planner's query.
    assert_typed_lag(&repo).await;

    repo.save_position_token("OrderProjection", "cursor-9", Uuid::new_v4(), "OrderShipped").await.unwrap();
    repo.save_position("OrderProjection", 42, Uuid::new_v4(), "OrderShipped").await.unwrap();
    let all = repo.get_all_checkpoints().await.unwrap();
    assert_eq!(all[0].events_processed, 9);
    assert_eq!((all[0].global_position, all[0].position_token.as_deref()), (Some(42), Some("cursor-9")));
    repo.create_lag_index().await.unwrap();
    // With the (type, timestamp) index: one probe per type.
    assert_typed_lag(&repo).await;
    // A repository opened after someone else made the index finds it in the catalog.
    let reopened = PostgresRepository::connect(&url, options(false)).await.unwrap();
    assert_typed_lag(&reopened).await;
    reopened.close().await.unwrap();
    // Appending needs the columns eventsource-py requires; waypost's helper does not fill them.
    assert_eq!(repo.append_events(&[NewEvent::now("OrderPlaced")]).await.unwrap_err().kind(), ErrorKind::Backend);
    assert_eq!(lag_for(&repo, "OrderShipped").await.stream_head, Some(2));
    repo.close().await.unwrap();
    scratch.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_create_the_postgres_schema_once() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "race").await;
    let schema = format!("{}_new", scratch.schema);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (url, schema) = (url.clone(), schema.clone());
        set.spawn(async move {
            let repo = PostgresRepository::connect(&url, PostgresOptions { schema, ..PostgresOptions::default() })
                .await
                .unwrap();
            repo.update_checkpoint("p", Uuid::new_v4(), "T").await.unwrap();
            repo.close().await.unwrap();
        });
    }
    while let Some(done) = set.join_next().await {
        done.expect("every first call succeeds");
    }
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT events_processed FROM \"{schema}\".projection_checkpoints WHERE projection_name = 'p'"
    )))
    .fetch_one(scratch.admin())
    .await
    .unwrap();
    assert_eq!(count, 6);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(scratch.admin())
        .await
        .unwrap();
    scratch.drop_schema().await;
}

/// The filters a typed lag read is checked with on a thousand events: `Common` every
/// third event (so among the newest), `Rare` only among the oldest hundred (outside the
/// newest 256 that a read without the lag index looks through first), `Absent` never.
const FILTERS: &[&[&str]] =
    &[&["Common"], &["Rare"], &["Absent"], &["Rare", "Absent"], &["Common", "Rare"], &["Other"], &["Absent", "Other"]];

/// Event `i` of the thousand: its id, type and (strictly increasing) timestamp.
const THOUSAND_SQLITE: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload)
SELECT printf('00000000-0000-4000-8000-%012d', i), 'agg-' || i, 'Order',
       CASE WHEN i <= 100 AND i % 10 = 0 THEN 'Rare' WHEN i % 3 = 0 THEN 'Common' ELSE 'Other' END, 1,
       strftime('%Y-%m-%dT%H:%M:%S.000000+00:00', 1764000000 + i, 'unixepoch'), '{}'
FROM n";

const THOUSAND_POSTGRES: &str = "
INSERT INTO {schema}.events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, gen_random_uuid(), 'Order',
       CASE WHEN i <= 100 AND i % 10 = 0 THEN 'Rare' WHEN i % 3 = 0 THEN 'Common' ELSE 'Other' END, 1,
       to_timestamp(1764000000 + i), '{}'
FROM generate_series(1, 1000) AS i";

/// The newest event of each filter, as the plain `ORDER BY timestamp DESC` says.
fn expected_latest(types: &[&str]) -> Option<String> {
    (1..=1000u32)
        .rev()
        .find(|i| {
            let t = if *i <= 100 && i % 10 == 0 {
                "Rare"
            } else if i % 3 == 0 {
                "Common"
            } else {
                "Other"
            };
            types.contains(&t)
        })
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
}

async fn assert_newest_of_each_filter(repo: &dyn CheckpointRepository, when: &str) {
    for types in FILTERS {
        let owned: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        let lag = repo.get_lag_metrics("OrderProjection", Some(&owned)).await.unwrap().unwrap();
        assert_eq!(lag.latest_event_id, expected_latest(types), "{types:?} {when}");
    }
}

#[tokio::test]
async fn sqlite_typed_lag_finds_the_newest_of_each_type_with_or_without_the_lag_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eventsource.db");
    let setup = rusqlite::Connection::open(&path).unwrap();
    setup.execute_batch(SQLITE_DDL).unwrap();
    setup.execute_batch("DELETE FROM events").unwrap();
    setup.execute_batch(THOUSAND_SQLITE).unwrap();
    let repo = SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap();
    assert_newest_of_each_filter(&repo, "with eventsource's indexes").await;
    repo.create_lag_index().await.unwrap();
    assert_newest_of_each_filter(&repo, "after create_lag_index").await;
    repo.close().await.unwrap();
    let reopened = SqliteRepository::open(&path, SqliteOptions::default()).await.unwrap();
    assert_newest_of_each_filter(&reopened, "reopened with the lag index").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_typed_lag_finds_the_newest_of_each_type_with_or_without_the_lag_index() {
    let Some(url) = support::postgres_url().await else { return };
    let scratch = support::Scratch::new(&url, "lagshape").await;
    for statement in POSTGRES_DDL {
        scratch.execute(statement).await;
    }
    scratch.execute("DELETE FROM {schema}.events").await;
    scratch.execute(THOUSAND_POSTGRES).await;
    scratch.execute("ANALYZE {schema}.events").await;
    let options = || PostgresOptions { schema: scratch.schema.clone(), ..PostgresOptions::default() };
    let repo = PostgresRepository::connect(&url, options()).await.unwrap();
    assert_newest_of_each_filter(&repo, "with eventsource's indexes").await;
    repo.create_lag_index().await.unwrap();
    assert_newest_of_each_filter(&repo, "after create_lag_index").await;
    repo.close().await.unwrap();
    let reopened = PostgresRepository::connect(&url, options()).await.unwrap();
    assert_newest_of_each_filter(&reopened, "reopened with the lag index").await;
    reopened.close().await.unwrap();
    scratch.drop_schema().await;
}
