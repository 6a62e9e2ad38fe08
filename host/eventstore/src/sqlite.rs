//! The embedded backend: SQLite in WAL mode.
//!
//! SQLite allows one writer at a time, so pushes go through a pool of exactly one connection: writers
//! queue in the process instead of failing with "database is locked". Because writes are serialized, the
//! commit order is the position order and a stream reader can never miss a late commit. Readers use a
//! separate pool and read concurrently with the writer (WAL).

use std::{str::FromStr, time::Duration};

use sqlx::{
    QueryBuilder, Row, Sqlite, SqlitePool,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};
use tokio::sync::watch;

use crate::{
    AggregateKey, Cursor, Error, Event, Eventstore, Expected, Push, Result, StreamQuery,
    UniqueChange, UniqueValue, migrate, now_micros, revision_from_db,
};

const EVENT_COLUMNS: &str = "position, tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
                             event_type, revision, payload, creator, org_id, created_at";

/// The SQLite eventstore.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    pushed: watch::Sender<u64>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`).
    pub async fn connect(url: &str, readers: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL is durable against application crashes; a power loss can lose the last
            // commits but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            pushed: watch::channel(0).0,
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        migrate::sqlite(&self.writer).await
    }

    /// The pool that writes (one connection); other storage crates use it for their own tables.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The pool for reads.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// A receiver that changes after every successful push in this process.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.pushed.subscribe()
    }

    /// Whether the database answers and is fully migrated.
    pub async fn ready(&self) -> Result<bool> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM warden_migrations")
            .fetch_one(&self.reader)
            .await?;
        Ok(version == Some(migrate::latest(false)))
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

const APPEND_ONE: &str = "INSERT INTO events (tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
        event_type, revision, payload, creator, created_at, org_id)
    SELECT (SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events), ?1, ?2, ?3, latest.sequence + 1, ?5, ?6, ?7, ?8, ?9, ?10
    FROM (SELECT COALESCE(MAX(sequence), 0) AS sequence FROM events
          WHERE instance_id = ?1 AND aggregate_type = ?2 AND aggregate_id = ?3) AS latest
    WHERE ?4 IS NULL OR latest.sequence = ?4
    RETURNING position, tx_id, sequence";

impl SqliteStore {
    /// The common case, one event for one aggregate, as one statement: no BEGIN/COMMIT round trips.
    async fn push_one(
        &self,
        changes: &crate::AggregateChanges,
        event: &crate::NewEvent,
        creator: &str,
        org_id: Option<&str>,
        created_at: i64,
    ) -> Result<Event> {
        let key = &changes.aggregate;
        let expected = match changes.expected {
            Expected::Exact(sequence) => Some(sequence),
            Expected::Any => None,
        };
        let row = sqlx::query(APPEND_ONE)
            .bind(&key.instance_id)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .bind(expected)
            .bind(&event.event_type)
            .bind(i32::from(event.revision))
            .bind(event.payload.to_string())
            .bind(creator)
            .bind(created_at)
            .bind(org_id)
            .fetch_optional(&self.writer)
            .await?;
        let Some(row) = row else {
            return Err(Error::Conflict {
                aggregate_type: key.aggregate_type.clone(),
                aggregate_id: key.aggregate_id.clone(),
                expected,
            });
        };
        Ok(Event {
            position: row.try_get(0)?,
            tx_id: row.try_get(1)?,
            aggregate: key.clone(),
            sequence: row.try_get(2)?,
            event_type: event.event_type.clone(),
            revision: event.revision,
            payload: event.payload.clone(),
            creator: creator.to_owned(),
            org_id: org_id.map(str::to_owned),
            created_at,
        })
    }
}

impl Eventstore for SqliteStore {
    async fn push(&self, mut push: Push) -> Result<Vec<Event>> {
        push.prepare()?;
        let created_at = now_micros();
        if push.unique.is_empty()
            && push.unchanged.is_empty()
            && let [changes] = push.aggregates.as_slice()
            && let [event] = changes.events.as_slice()
        {
            let stored = self
                .push_one(
                    changes,
                    event,
                    &push.creator,
                    push.org_id.as_deref(),
                    created_at,
                )
                .await?;
            self.pushed.send_modify(|n| *n = n.wrapping_add(1));
            return Ok(vec![stored]);
        }
        // IMMEDIATE takes the write lock first: a deferred transaction that reads and then writes fails at once
        // with SQLITE_BUSY (no busy wait) when another connection to the file wrote in between.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let tx_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events")
            .fetch_one(&mut *tx)
            .await?;

        for change in &push.unique {
            match change {
                UniqueChange::Add(u) => {
                    let inserted = sqlx::query(
                        "INSERT INTO unique_constraints (instance_id, unique_type, unique_value) \
                         VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    )
                    .bind(&u.instance_id)
                    .bind(&u.unique_type)
                    .bind(&u.value)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        return Err(Error::UniqueTaken {
                            unique_type: u.unique_type.clone(),
                            value: u.value.clone(),
                        });
                    }
                }
                UniqueChange::Remove(u) => {
                    sqlx::query(
                        "DELETE FROM unique_constraints \
                         WHERE instance_id = ? AND unique_type = ? AND unique_value = ?",
                    )
                    .bind(&u.instance_id)
                    .bind(&u.unique_type)
                    .bind(&u.value)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }

        // Writes are serialized: what this transaction reads stays true until it commits.
        for (key, expected) in &push.unchanged {
            let latest: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(sequence), 0) FROM events \
                 WHERE instance_id = ? AND aggregate_type = ? AND aggregate_id = ?",
            )
            .bind(&key.instance_id)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
            if latest != *expected {
                return Err(Error::Conflict {
                    aggregate_type: key.aggregate_type.clone(),
                    aggregate_id: key.aggregate_id.clone(),
                    expected: Some(*expected),
                });
            }
        }

        let mut stored = Vec::new();
        for changes in push.aggregates {
            let key = changes.aggregate;
            let latest: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(sequence), 0) FROM events \
                 WHERE instance_id = ? AND aggregate_type = ? AND aggregate_id = ?",
            )
            .bind(&key.instance_id)
            .bind(&key.aggregate_type)
            .bind(&key.aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
            if let Expected::Exact(expected) = changes.expected
                && expected != latest
            {
                return Err(Error::Conflict {
                    aggregate_type: key.aggregate_type,
                    aggregate_id: key.aggregate_id,
                    expected: Some(expected),
                });
            }
            for (offset, event) in (1..).zip(changes.events) {
                let sequence = latest + offset;
                let payload = event.payload.to_string();
                let position: i64 = sqlx::query_scalar(
                    "INSERT INTO events (tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
                     event_type, revision, payload, creator, created_at, org_id) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING position",
                )
                .bind(tx_id)
                .bind(&key.instance_id)
                .bind(&key.aggregate_type)
                .bind(&key.aggregate_id)
                .bind(sequence)
                .bind(&event.event_type)
                .bind(i32::from(event.revision))
                .bind(payload)
                .bind(&push.creator)
                .bind(created_at)
                .bind(push.org_id.as_deref())
                .fetch_one(&mut *tx)
                .await?;
                stored.push(Event {
                    position,
                    tx_id,
                    aggregate: key.clone(),
                    sequence,
                    event_type: event.event_type,
                    revision: event.revision,
                    payload: event.payload,
                    creator: push.creator.clone(),
                    org_id: push.org_id.clone(),
                    created_at,
                });
            }
        }
        tx.commit().await?;
        self.pushed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(stored)
    }

    async fn read_aggregate(
        &self,
        aggregate: &AggregateKey,
        after_sequence: i64,
    ) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE instance_id = ? AND aggregate_type = ? AND aggregate_id = ? AND sequence > ? \
             ORDER BY sequence"
        );
        let rows = sqlx::query(&sql)
            .bind(&aggregate.instance_id)
            .bind(&aggregate.aggregate_type)
            .bind(&aggregate.aggregate_id)
            .bind(after_sequence)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_stream(&self, query: &StreamQuery) -> Result<Vec<Event>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE (tx_id, position) > ("
        ));
        sql.push_bind(query.after.tx_id)
            .push(", ")
            .push_bind(query.after.position)
            .push(")");
        if let Some(instance_id) = &query.instance_id {
            sql.push(" AND instance_id = ").push_bind(instance_id);
        }
        if let Some(org_id) = &query.org_id {
            sql.push(" AND org_id = ").push_bind(org_id);
        }
        push_in(&mut sql, "aggregate_type", &query.aggregate_types);
        push_in(&mut sql, "event_type", &query.event_types);
        sql.push(" ORDER BY tx_id, position LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = sql.build().fetch_all(&self.reader).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn head(&self) -> Result<Cursor> {
        let row = sqlx::query(
            "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(match row {
            Some(row) => Cursor {
                tx_id: row.try_get(0)?,
                position: row.try_get(1)?,
            },
            None => Cursor::START,
        })
    }

    async fn is_taken(&self, value: &UniqueValue) -> Result<bool> {
        let taken: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM unique_constraints WHERE instance_id = ? AND unique_type = ? AND unique_value = ?",
        )
        .bind(&value.instance_id)
        .bind(&value.unique_type)
        .bind(&value.value)
        .fetch_optional(&self.reader)
        .await?;
        Ok(taken.is_some())
    }
}

fn push_in<'a>(sql: &mut QueryBuilder<'a, Sqlite>, column: &str, values: &'a [String]) {
    if values.is_empty() {
        return;
    }
    sql.push(format!(" AND {column} IN ("));
    let mut list = sql.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

fn event_from_row(row: &SqliteRow) -> Result<Event> {
    let position: i64 = row.try_get("position")?;
    let payload: String = row.try_get("payload")?;
    let payload = serde_json::from_str(&payload).map_err(|e| Error::Corrupt {
        position,
        reason: format!("payload is not JSON: {e}"),
    })?;
    Ok(Event {
        position,
        tx_id: row.try_get("tx_id")?,
        aggregate: AggregateKey {
            instance_id: row.try_get("instance_id")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
        },
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        revision: revision_from_db(row.try_get("revision")?, position)?,
        payload,
        creator: row.try_get("creator")?,
        org_id: row.try_get("org_id")?,
        created_at: row.try_get("created_at")?,
    })
}
