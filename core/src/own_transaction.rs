//! Checkpoint writes inside the caller's own transaction, by the protocol's names: each
//! validates here, into a [`CheckpointWrite`], and hands that to the backend's
//! `write` / `write_on`, which only stores it (as every other write of the core).

use uuid::Uuid;

use crate::checkpoint::CheckpointWrite;
use crate::error::Result;

#[cfg(feature = "_sqlite")]
impl crate::SqliteTransaction<'_> {
    /// [`save_position`](crate::CheckpointRepository::save_position) inside this transaction.
    ///
    /// # Errors
    /// As `save_position`.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// repo.transaction(|tx| tx.save_position("orders", 5, uuid::Uuid::new_v4(), "OrderPlaced")).await?;
    /// assert_eq!(repo.get_position("orders").await?, Some(5));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn save_position(&self, subscription_id: &str, position: i64, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(&CheckpointWrite::position(subscription_id, position, event_id, event_type)?)
    }

    /// [`update_checkpoint`](crate::CheckpointRepository::update_checkpoint) inside this transaction.
    ///
    /// # Errors
    /// As `update_checkpoint`.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use waypost::{CheckpointRepository, SqliteOptions, SqliteRepository};
    /// let repo = SqliteRepository::open(dir.path().join("app.db"), SqliteOptions::default()).await?;
    /// let id = uuid::Uuid::new_v4();
    /// repo.transaction(move |tx| tx.update_checkpoint("orders", id, "OrderPlaced")).await?;
    /// assert_eq!(repo.get_checkpoint("orders").await?, Some(id));
    /// # Ok::<(), waypost::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn update_checkpoint(&self, projection_name: &str, event_id: Uuid, event_type: &str) -> Result<()> {
        self.write(&CheckpointWrite::event(projection_name, event_id, event_type)?)
    }
}

#[cfg(feature = "postgres")]
impl crate::PostgresRepository {
    /// Saves a position on the caller's connection — inside the caller's open
    /// transaction, so that the checkpoint commits or rolls back with their read-model
    /// writes (exactly-once projections). Pass `&mut *tx` for a `sqlx::Transaction`.
    ///
    /// ```no_run
    /// # async fn demo(repo: &waypost::PostgresRepository, pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO order_totals (order_id, total) VALUES ($1, $2)")
    ///     .bind(42_i64).bind(99_i64).execute(&mut *tx).await?;
    /// repo.save_position_on(&mut tx, "OrderTotals", 1001, uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// tx.commit().await?; // both, or neither
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`CheckpointRepository::save_position`](crate::CheckpointRepository::save_position); errors of the caller's connection are
    /// mapped the same way.
    pub async fn save_position_on(
        &self,
        conn: &mut sqlx::PgConnection,
        subscription_id: &str,
        position: i64,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write_on(conn, &CheckpointWrite::position(subscription_id, position, event_id, event_type)?).await
    }

    /// [`update_checkpoint`](crate::CheckpointRepository::update_checkpoint) on the caller's
    /// connection; see [`save_position_on`](Self::save_position_on).
    ///
    /// # Errors
    /// As `update_checkpoint`.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(repo: &waypost::PostgresRepository, pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// repo.update_checkpoint_on(&mut tx, "Orders", uuid::Uuid::new_v4(), "OrderPlaced").await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_checkpoint_on(
        &self,
        conn: &mut sqlx::PgConnection,
        projection_name: &str,
        event_id: Uuid,
        event_type: &str,
    ) -> Result<()> {
        self.write_on(conn, &CheckpointWrite::event(projection_name, event_id, event_type)?).await
    }
}
