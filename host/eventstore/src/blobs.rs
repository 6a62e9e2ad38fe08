//! Content-addressed blobs (uploaded plugin components), stored beside the events so every node reads them.

use crate::{Result, Store, now_micros};

impl Store {
    /// Stores `bytes` under `digest` (the caller's SHA-256 of them) in `instance_id`; storing the same
    /// digest again is a no-op.
    pub async fn put_blob(&self, instance_id: &str, digest: &str, bytes: &[u8]) -> Result<()> {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        match self {
            Store::Sqlite(s) => {
                sqlx::query(
                    "INSERT INTO plugin_blobs (instance_id, digest, bytes, size, created_at) \
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                )
                .bind(instance_id)
                .bind(digest)
                .bind(bytes)
                .bind(size)
                .bind(now_micros())
                .execute(s.writer())
                .await?;
            }
            Store::Postgres(s) => {
                sqlx::query(
                    "INSERT INTO plugin_blobs (instance_id, digest, bytes, size, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(instance_id)
                .bind(digest)
                .bind(bytes)
                .bind(size)
                .bind(now_micros())
                .execute(s.pool())
                .await?;
            }
        }
        Ok(())
    }

    /// The bytes stored under `digest` in `instance_id`, if any.
    pub async fn get_blob(&self, instance_id: &str, digest: &str) -> Result<Option<Vec<u8>>> {
        Ok(match self {
            Store::Sqlite(s) => {
                sqlx::query_scalar(
                    "SELECT bytes FROM plugin_blobs WHERE instance_id = ? AND digest = ?",
                )
                .bind(instance_id)
                .bind(digest)
                .fetch_optional(s.reader())
                .await?
            }
            Store::Postgres(s) => {
                sqlx::query_scalar(
                    "SELECT bytes FROM plugin_blobs WHERE instance_id = $1 AND digest = $2",
                )
                .bind(instance_id)
                .bind(digest)
                .fetch_optional(s.pool())
                .await?
            }
        })
    }
}
