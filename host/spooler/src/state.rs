//! Statements on the spooler's own tables: checkpoints, leases and failed events.
//!
//! Lease times use the database clock, so nodes with skewed clocks agree on when a lease lapses.

use warden_eventstore::{Cursor, Event};

use crate::db::{Backend, Db, DbRow, SqlValue, ViewTx};
use crate::params;
use crate::status::FailedEvent;

/// A lease this node holds on a projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The fencing token; it changes whenever the lease changes hands.
    pub(crate) token: i64,
}

/// A projection's row in `projection_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateRow {
    pub(crate) cursor: Cursor,
    pub(crate) last_event_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) holder: Option<String>,
    pub(crate) lease_token: i64,
    pub(crate) lease_until: i64,
    pub(crate) rebuilds: i64,
    /// The database clock when the row was read.
    pub(crate) now: i64,
}

impl StateRow {
    fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            cursor: Cursor {
                tx_id: row.get("tx_id")?,
                position: row.get("position")?,
            },
            last_event_at: row.get("last_event_at")?,
            updated_at: row.get("updated_at")?,
            holder: row.get("holder")?,
            lease_token: row.get("lease_token")?,
            lease_until: row.get("lease_until")?,
            rebuilds: row.get("rebuilds")?,
            now: row.get("now")?,
        })
    }

    /// The node holding a lease that has not lapsed.
    pub(crate) fn live_holder(&self) -> Option<&str> {
        self.holder
            .as_deref()
            .filter(|_| self.lease_until > self.now)
    }
}

/// The statements, rendered once for one backend.
#[derive(Debug)]
pub(crate) struct StateSql {
    ensure: String,
    load: String,
    acquire: String,
    renew: String,
    release: String,
    fence: String,
    record_failure: String,
    skip: String,
    resolve: String,
    reset: String,
    failures: String,
    now: String,
}

/// Columns of `projection_failures`, in the order [`FailedEvent::from_row`] reads them.
const FAILURE_COLUMNS: &str = "projection, position, tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
                               event_type, error, attempts, first_failed_at, last_failed_at, next_attempt_at, skipped";

impl StateSql {
    pub(crate) fn new(db: &Db) -> Self {
        let now = db.now_micros_sql();
        Self {
            ensure: format!(
                "INSERT INTO projection_state (projection, updated_at) VALUES ($1, {now}) \
                 ON CONFLICT (projection) DO NOTHING"
            ),
            load: format!(
                "SELECT tx_id, position, last_event_at, updated_at, holder, lease_token, lease_until, rebuilds, \
                 {now} AS now FROM projection_state WHERE projection = $1"
            ),
            // Takes a free or lapsed lease, or extends our own. The token changes when the holder does, which
            // fences out every batch the previous holder might still try to commit.
            acquire: format!(
                "UPDATE projection_state SET \
                     lease_token = CASE WHEN holder = $2 THEN lease_token ELSE lease_token + 1 END, \
                     holder = $2, lease_until = {now} + $3 \
                 WHERE projection = $1 AND (holder IS NULL OR holder = $2 OR lease_until < {now}) \
                 RETURNING lease_token, tx_id, position, rebuilds"
            ),
            renew: format!(
                "UPDATE projection_state SET lease_until = {now} + $4 \
                 WHERE projection = $1 AND holder = $2 AND lease_token = $3 RETURNING rebuilds, tx_id, position"
            ),
            release: "UPDATE projection_state SET holder = NULL, lease_until = 0 \
                      WHERE projection = $1 AND holder = $2 AND lease_token = $3"
                .to_owned(),
            // The first statement of every batch: moves the checkpoint from the one the batch was read after,
            // only while our lease holds. Zero rows changed means the batch must not be committed.
            fence: format!(
                "UPDATE projection_state SET tx_id = $5, position = $6, \
                     last_event_at = CASE WHEN $7 > last_event_at THEN $7 ELSE last_event_at END, \
                     updated_at = {now} \
                 WHERE projection = $1 AND holder = $2 AND lease_token = $8 AND lease_until > {now} \
                   AND tx_id = $3 AND position = $4"
            ),
            record_failure: format!(
                "INSERT INTO projection_failures ({FAILURE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, {now}, {now}, {now} + $10, FALSE) \
                 ON CONFLICT (projection, position) DO UPDATE SET \
                     attempts = projection_failures.attempts + 1, error = excluded.error, \
                     last_failed_at = excluded.last_failed_at, \
                     next_attempt_at = {now} + $10 \
                 RETURNING attempts"
            ),
            skip: "UPDATE projection_failures SET skipped = TRUE WHERE projection = $1 AND position = $2".to_owned(),
            resolve: "DELETE FROM projection_failures \
                      WHERE projection = $1 AND NOT skipped AND (tx_id < $2 OR (tx_id = $2 AND position <= $3))"
                .to_owned(),
            reset: format!(
                "UPDATE projection_state SET tx_id = 0, position = 0, last_event_at = 0, updated_at = {now}, \
                 rebuilds = rebuilds + 1 WHERE projection = $1"
            ),
            failures: format!(
                "SELECT {FAILURE_COLUMNS} FROM projection_failures WHERE projection = $1 ORDER BY tx_id, position"
            ),
            now: format!("SELECT {now} AS now"),
        }
    }

    /// Creates the projection's row if it is missing.
    pub(crate) async fn ensure(&self, db: &Db, projection: &str) -> Result<(), sqlx::Error> {
        db.execute(&self.ensure, &params![projection]).await?;
        Ok(())
    }

    /// Reads the projection's row.
    pub(crate) async fn load(
        &self,
        db: &Db,
        projection: &str,
    ) -> Result<Option<StateRow>, sqlx::Error> {
        db.fetch_optional(&self.load, &params![projection])
            .await?
            .as_ref()
            .map(StateRow::from_row)
            .transpose()
    }

    /// Takes or extends the lease for `ttl_us`; returns it with the checkpoint and rebuild count, or `None`
    /// when another node holds it.
    pub(crate) async fn acquire(
        &self,
        db: &Db,
        projection: &str,
        node: &str,
        ttl_us: i64,
    ) -> Result<Option<(Lease, Cursor, i64)>, sqlx::Error> {
        let row = db
            .execute_returning(&self.acquire, &params![projection, node, ttl_us])
            .await?;
        row.map(|row| {
            let lease = Lease {
                token: row.get("lease_token")?,
            };
            let cursor = Cursor {
                tx_id: row.get("tx_id")?,
                position: row.get("position")?,
            };
            Ok((lease, cursor, row.get("rebuilds")?))
        })
        .transpose()
    }

    /// Extends a lease we hold; returns the rebuild count and the checkpoint, or `None` when the lease changed
    /// hands.
    pub(crate) async fn renew(
        &self,
        db: &Db,
        projection: &str,
        node: &str,
        lease: Lease,
        ttl_us: i64,
    ) -> Result<Option<(i64, Cursor)>, sqlx::Error> {
        db.execute_returning(&self.renew, &params![projection, node, lease.token, ttl_us])
            .await?
            .map(|row| {
                let cursor = Cursor {
                    tx_id: row.get("tx_id")?,
                    position: row.get("position")?,
                };
                Ok((row.get("rebuilds")?, cursor))
            })
            .transpose()
    }

    /// Gives a lease up so another node can take it at once.
    pub(crate) async fn release(
        &self,
        db: &Db,
        projection: &str,
        node: &str,
        lease: Lease,
    ) -> Result<(), sqlx::Error> {
        db.execute(&self.release, &params![projection, node, lease.token])
            .await?;
        Ok(())
    }

    /// Moves the checkpoint from `from` to `to` inside a batch transaction, if the lease still holds and nobody
    /// moved it meanwhile. Must be the batch's first statement.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fence(
        &self,
        tx: &mut ViewTx,
        projection: &str,
        node: &str,
        lease: Lease,
        from: Cursor,
        to: Cursor,
        last_event_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let changed = tx
            .execute(
                &self.fence,
                &params![
                    projection,
                    node,
                    from.tx_id,
                    from.position,
                    to.tx_id,
                    to.position,
                    last_event_at,
                    lease.token
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Records one more failed attempt at `event`; returns the number of attempts so far.
    pub(crate) async fn record_failure(
        &self,
        tx: &mut ViewTx,
        projection: &str,
        event: &Event,
        error: &str,
        backoff_us: i64,
    ) -> Result<i64, sqlx::Error> {
        let row = tx
            .fetch_optional(
                &self.record_failure,
                &params![
                    projection,
                    event.position,
                    event.tx_id,
                    event.aggregate.instance_id.as_str(),
                    event.aggregate.aggregate_type.as_str(),
                    event.aggregate.aggregate_id.as_str(),
                    event.sequence,
                    event.event_type.as_str(),
                    error,
                    backoff_us
                ],
            )
            .await?;
        match row {
            Some(row) => row.get("attempts"),
            None => Err(sqlx::Error::RowNotFound),
        }
    }

    /// Marks a failed event skipped for good.
    pub(crate) async fn skip(
        &self,
        tx: &mut ViewTx,
        projection: &str,
        position: i64,
    ) -> Result<(), sqlx::Error> {
        tx.execute(&self.skip, &params![projection, position])
            .await?;
        Ok(())
    }

    /// Forgets failures (not skipped) of events up to `upto`, which have now been applied.
    pub(crate) async fn resolve(
        &self,
        tx: &mut ViewTx,
        projection: &str,
        upto: Cursor,
    ) -> Result<(), sqlx::Error> {
        tx.execute(
            &self.resolve,
            &params![projection, upto.tx_id, upto.position],
        )
        .await?;
        Ok(())
    }

    /// Resets the checkpoint to the start of the stream and forgets failures (for a rebuild).
    pub(crate) async fn reset(&self, tx: &mut ViewTx, projection: &str) -> Result<(), sqlx::Error> {
        tx.execute(&self.reset, &params![projection]).await?;
        tx.execute(
            "DELETE FROM projection_failures WHERE projection = $1",
            &params![projection],
        )
        .await?;
        Ok(())
    }

    /// Takes the projection's row (locking it until `tx` ends) and ends any lease on it: a batch of another
    /// node still running the projection commits before this, or is fenced out after it.
    pub(crate) async fn lock_for_removal(
        &self,
        tx: &mut ViewTx,
        projection: &str,
    ) -> Result<(), sqlx::Error> {
        tx.execute(
            "UPDATE projection_state SET holder = NULL, lease_until = 0, lease_token = lease_token + 1 \
             WHERE projection = $1",
            &params![projection],
        )
        .await?;
        Ok(())
    }

    /// Deletes the projection's checkpoint, lease and failed events (it is removed for good).
    pub(crate) async fn forget(
        &self,
        tx: &mut ViewTx,
        projection: &str,
    ) -> Result<(), sqlx::Error> {
        tx.execute(
            "DELETE FROM projection_failures WHERE projection = $1",
            &params![projection],
        )
        .await?;
        tx.execute(
            "DELETE FROM projection_state WHERE projection = $1",
            &params![projection],
        )
        .await?;
        Ok(())
    }

    /// The failed events of a projection, retrying or skipped.
    pub(crate) async fn failures(
        &self,
        db: &Db,
        projection: &str,
    ) -> Result<Vec<FailedEvent>, sqlx::Error> {
        db.fetch_all(&self.failures, &params![projection])
            .await?
            .iter()
            .map(FailedEvent::from_row)
            .collect()
    }

    /// The database clock, µs since the Unix epoch.
    pub(crate) async fn now(&self, db: &Db) -> Result<i64, sqlx::Error> {
        match db.fetch_optional(&self.now, &[]).await? {
            Some(row) => row.get("now"),
            None => Err(sqlx::Error::RowNotFound),
        }
    }
}

/// Queries about the part of the stream one projection reads.
#[derive(Debug)]
pub(crate) struct StreamSql {
    /// Whether any event the projection reads lies in `(from, to]`, and whether `to` is final yet.
    relevant_between: String,
    /// How many events the projection has not applied yet and when the oldest of them was stored.
    lag: String,
    /// Parameters naming the projection's types, bound after the statement's own.
    type_params: Vec<SqlValue>,
}

/// The most events counted for the lag figure; counting stops there.
const LAG_COUNT_CAP: i64 = 1_000_000;

impl StreamSql {
    pub(crate) fn new(
        backend: Backend,
        aggregate_types: &[String],
        event_types: &[String],
    ) -> Self {
        let type_params: Vec<SqlValue> = aggregate_types
            .iter()
            .chain(event_types)
            .map(|v| SqlValue::from(v.as_str()))
            .collect();
        // The statement's own parameters come first; the type lists follow from `first` on.
        let filter = |first: usize| {
            let mut filter = String::new();
            let mut next = first;
            for (column, values) in [
                ("aggregate_type", aggregate_types),
                ("event_type", event_types),
            ] {
                if values.is_empty() {
                    continue;
                }
                let placeholders: Vec<String> = (next..next + values.len())
                    .map(|i| format!("${i}"))
                    .collect();
                next += values.len();
                filter.push_str(&format!(" AND {column} IN ({})", placeholders.join(", ")));
            }
            filter
        };
        let (final_cond, visible) = match backend {
            // Events of transactions at or above the oldest running one may still be joined by late commits.
            Backend::Postgres => (
                " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                "$3 < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            ),
            // SQLite serializes writers: everything committed is final.
            Backend::Sqlite => ("", "TRUE"),
        };
        let relevant_between = format!(
            "SELECT {visible} AS visible, EXISTS (SELECT 1 FROM events \
                 WHERE (tx_id, position) > ($1, $2) AND (tx_id, position) <= ($3, $4){}) AS found",
            filter(5)
        );
        let lag = format!(
            "SELECT COUNT(*) AS behind, COALESCE(MIN(created_at), 0) AS oldest FROM ( \
                 SELECT created_at FROM events \
                 WHERE (tx_id, position) > ($1, $2){final_cond}{} LIMIT {LAG_COUNT_CAP}) behind",
            filter(3)
        );
        Self {
            relevant_between,
            lag,
            type_params,
        }
    }

    fn with_types(&self, mut params: Vec<SqlValue>) -> Vec<SqlValue> {
        params.extend(self.type_params.iter().cloned());
        params
    }

    /// `Some(true)` when an event the projection reads lies in `(from, to]`, `Some(false)` when none does,
    /// `None` when `to` is not final yet (an older transaction is still running).
    pub(crate) async fn relevant_between(
        &self,
        db: &Db,
        from: Cursor,
        to: Cursor,
    ) -> Result<Option<bool>, sqlx::Error> {
        let params = self.with_types(Vec::from(params![
            from.tx_id,
            from.position,
            to.tx_id,
            to.position
        ]));
        let Some(row) = db.fetch_optional(&self.relevant_between, &params).await? else {
            return Ok(None);
        };
        let visible: bool = row.get("visible")?;
        let found: bool = row.get("found")?;
        Ok(visible.then_some(found))
    }

    /// Events after `from` the projection has not applied, and the created_at (µs) of the oldest of them.
    pub(crate) async fn lag(&self, db: &Db, from: Cursor) -> Result<(i64, i64), sqlx::Error> {
        let params = self.with_types(Vec::from(params![from.tx_id, from.position]));
        match db.fetch_optional(&self.lag, &params).await? {
            Some(row) => Ok((row.get("behind")?, row.get("oldest")?)),
            None => Ok((0, 0)),
        }
    }
}
