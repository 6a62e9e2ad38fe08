//! The production backend: PostgreSQL, shared by several nodes.
//!
//! Writers do not wait for each other unless they touch the same aggregate or unique value. Every push is
//! one statement, one round trip: a push of one aggregate without unique values checks the expected
//! sequence and inserts the events; any other push calls the `warden_push` function (migration 0160), which
//! takes the locks, checks the expected sequences, claims and releases the unique values and inserts the
//! events. The unique index on (aggregate, sequence) turns a concurrent append into a conflict.
//!
//! Pushes are not grouped into shared transactions here: concurrent commits already share WAL flushes in
//! the server, and each push being its own statement lets pushes of different aggregates run in parallel
//! (`cargo bench -p warden-eventstore --bench push`).
//!
//! Positions come from an identity column and are allocated before commit, so they are not in commit
//! order. Each event therefore records its writing transaction (`tx_id`), and stream readers read only
//! events of transactions older than the oldest one still running (`pg_snapshot_xmin`), ordered by
//! `(tx_id, position)`. Everything below that horizon is final: no event can later appear behind a
//! cursor a reader has passed.
//!
//! A push that expects aggregates unchanged without appending to them ([`Push::expect_unchanged`]) must
//! not commit after a change to them that it did not see. Every append therefore takes a transaction-level
//! advisory lock on its aggregate before it writes anything, and such a push takes the same lock in shared
//! mode before checking the expected sequences: either the change committed first (and the check sees it:
//! conflict), or it waits until the push committed. Locks are taken in key order, so they cannot deadlock.

use std::{
    str::FromStr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::Value;
use sqlx::{
    Connection, Executor, PgPool, Postgres, Row,
    postgres::{PgConnectOptions, PgDatabaseError, PgPoolOptions, PgRow},
};
use tokio::sync::watch;

use crate::{
    AggregateChanges, AggregateKey, Cursor, Error, Event, Eventstore, Expected, Push, Result,
    StreamQuery, StreamScan, UniqueChange, UniqueValue,
    error::{is_retryable_pg, is_unique_violation},
    migrate, now_micros, revision_from_db,
    statements::StatementPool,
};

const EVENT_COLUMNS: &str = "position, tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
                             event_type, revision, payload, creator, org_id, created_at";

/// The oldest transaction still running; events of transactions below it are final.
const HORIZON: &str = "(SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)";

/// The append of one aggregate's events; `$guard` adds to the first step, which runs before anything else.
macro_rules! append_sql {
    ($guard:literal) => {
        concat!(
            "WITH guard AS (SELECT pg_advisory_xact_lock(hashtextextended($10, 0))",
            $guard,
            "),
    latest AS (
        SELECT (SELECT COALESCE(MAX(sequence), 0) FROM events
                WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3) AS sequence
        FROM guard)
    INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, event_type, revision,
                        payload, creator, created_at, org_id)
    SELECT $1, $2, $3, latest.sequence + e.ord, e.event_type, e.revision, e.payload::jsonb, $7, $8, $11
    FROM latest, UNNEST($4::text[], $5::int4[], $6::text[]) WITH ORDINALITY AS e(event_type, revision, payload, ord)
    WHERE $9::bigint IS NULL OR latest.sequence = $9
    RETURNING position, tx_id, sequence"
        )
    };
}

const APPEND: &str = append_sql!("");
/// [`APPEND`] announcing itself: `NOTIFY $12, $13`, sent by the server when the push commits.
const APPEND_ANNOUNCED: &str = append_sql!(", pg_notify($12, $13)");

/// How long a pooled connection may sit idle before the pool checks it (a ping) before handing it out: the
/// server or the network may have closed it meanwhile.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The settings of the connections stream reads run on (see [`Eventstore::read_stream`] below): read-only,
/// and planned for the one good plan, an in-order range scan of the stream index that stops at the limit.
const READER_SETTINGS: [(&str, &str); 5] = [
    ("default_transaction_read_only", "on"),
    ("enable_sort", "off"),
    ("enable_bitmapscan", "off"),
    ("enable_seqscan", "off"),
    ("jit", "off"),
];

/// A `NOTIFY` that tells other processes sharing the database (the other nodes) that pushes were stored, at
/// most once per interval. The push that finds the interval over carries it in its own statement (PostgreSQL
/// sends it when the push commits, no round trip of its own); a push inside the interval leaves it owed, and
/// the owner of the announcement sends it ([`take_owed`](Self::take_owed)), so that a notification follows
/// every push's commit either way.
#[derive(Debug)]
pub struct PushAnnouncement {
    channel: String,
    payload: String,
    interval_us: u64,
    epoch: Instant,
    /// When the notification was last carried or sent, in µs since `epoch` plus one (0: never).
    last_us: AtomicU64,
    /// Whether a push committed without carrying it since [`take_owed`](Self::take_owed) was last called.
    owed: AtomicBool,
}

impl PushAnnouncement {
    /// `NOTIFY channel, payload` after pushes, at most once per `interval` when carried by a push.
    pub fn new(channel: impl Into<String>, payload: impl Into<String>, interval: Duration) -> Self {
        Self {
            channel: channel.into(),
            payload: payload.into(),
            interval_us: u64::try_from(interval.as_micros()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
            last_us: AtomicU64::new(0),
            owed: AtomicBool::new(false),
        }
    }

    /// The channel notified.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The payload sent.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// Records that the notification is being sent now, so that pushes within the interval do not carry it.
    pub fn sending(&self) {
        self.last_us.store(self.now_us(), Ordering::SeqCst);
    }

    /// Whether a push committed without carrying the notification since the last call: the caller sends it.
    pub fn take_owed(&self) -> bool {
        self.owed.swap(false, Ordering::SeqCst)
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Whether the push about to run carries the notification: none was carried or sent within the interval.
    fn claim(&self) -> bool {
        let now = self.now_us();
        let last = self.last_us.load(Ordering::SeqCst);
        if last != 0 && now.saturating_sub(last) < self.interval_us {
            return false;
        }
        self.last_us
            .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// The PostgreSQL eventstore.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections with [`READER_SETTINGS`], for stream reads and the head: a read is one statement, one
    /// round trip, instead of a transaction that sets the planner first.
    readers: StatementPool<Postgres>,
    /// Connections for single statements (pushes, aggregate reads, and the views' reads and writes through
    /// `warden_spooler::Db`): given back without the pool's test round trip.
    statements: StatementPool<Postgres>,
    pushed: watch::Sender<u64>,
    one_statement: bool,
    /// The notification pushes carry, when set ([`PgStore::announce_pushes`]); shared by the clones.
    announcement: Arc<RwLock<Option<Arc<PushAnnouncement>>>>,
}

/// A pool of at most `max` connections that pings only a connection that sat idle.
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        // By default the pool pings every connection it hands out, a round trip before every statement.
        // Only a connection that sat idle is checked: one in steady use was just answering.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options, max_connections).await
    }

    /// Connects with explicit options (used by tests to pick a schema).
    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = pool_options(max_connections.max(2))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (for transactions); stream reads and single statements get pools of their own
    /// to the same database, of a quarter and half its size.
    pub fn from_pool(pool: PgPool) -> Self {
        let options = pool.connect_options().as_ref().clone();
        let max = pool.options().get_max_connections();
        let readers = StatementPool::new(
            options.clone().options(READER_SETTINGS),
            (max / 4).max(2),
            Some(CHECK_IDLE_AFTER),
        );
        let statements = StatementPool::new(options, (max / 2).max(2), Some(CHECK_IDLE_AFTER));
        Self {
            pool,
            readers,
            statements,
            pushed: watch::channel(0).0,
            one_statement: true,
            announcement: Arc::default(),
        }
    }

    /// Whether every push is one statement (the default): a push with unique values, several aggregates or
    /// aggregates expected unchanged calls the `warden_push` function, one round trip. With `false` such a
    /// push is a transaction of several statements, as a baseline to measure the function against.
    pub fn one_statement(mut self, on: bool) -> Self {
        self.one_statement = on;
        self
    }

    /// Applies pending migrations (serialised across nodes by an advisory lock); returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        migrate::postgres(&self.pool).await
    }

    /// The connection pool; other storage crates use it for their own tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool for single statements; other storage crates use it for their own tables.
    pub fn statements(&self) -> &StatementPool<Postgres> {
        &self.statements
    }

    /// A receiver that changes after every successful push in this process.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.pushed.subscribe()
    }

    /// Has pushes through this store (and its clones) announce themselves with `announcement`, replacing the
    /// one set before.
    pub fn announce_pushes(&self, announcement: Arc<PushAnnouncement>) {
        *self
            .announcement
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(announcement);
    }

    /// Stops pushes announcing themselves with `announcement`, if it is still the one they use.
    pub fn stop_announcing(&self, announcement: &Arc<PushAnnouncement>) {
        let mut current = self
            .announcement
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, announcement))
        {
            *current = None;
        }
    }

    /// Whether the database answers and is fully migrated.
    pub async fn ready(&self) -> Result<bool> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM warden_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(version == Some(migrate::latest(true)))
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.readers.close().await;
        self.statements.close().await;
        self.pool.close().await;
    }
}

/// The name of an aggregate's advisory lock (hashed by PostgreSQL into the lock id).
fn lock_key(key: &AggregateKey) -> String {
    format!(
        "warden/aggregate\u{1f}{}\u{1f}{}\u{1f}{}",
        key.instance_id, key.aggregate_type, key.aggregate_id
    )
}

async fn append<'c, E>(
    executor: E,
    changes: AggregateChanges,
    creator: &str,
    org_id: Option<&str>,
    created_at: i64,
    announce: Option<&PushAnnouncement>,
) -> Result<Vec<Event>>
where
    E: Executor<'c, Database = Postgres>,
{
    let AggregateChanges {
        aggregate: key,
        expected,
        events,
    } = changes;
    let expected = match expected {
        Expected::Exact(sequence) => Some(sequence),
        Expected::Any => None,
    };
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let revisions: Vec<i32> = events.iter().map(|e| i32::from(e.revision)).collect();
    let payloads: Vec<String> = events.iter().map(|e| e.payload.to_string()).collect();
    let conflict = || Error::Conflict {
        aggregate_type: key.aggregate_type.clone(),
        aggregate_id: key.aggregate_id.clone(),
        expected,
    };
    let mut statement = sqlx::query(if announce.is_some() {
        APPEND_ANNOUNCED
    } else {
        APPEND
    })
    .bind(&key.instance_id)
    .bind(&key.aggregate_type)
    .bind(&key.aggregate_id)
    .bind(&types)
    .bind(&revisions)
    .bind(&payloads)
    .bind(creator)
    .bind(created_at)
    .bind(expected)
    .bind(lock_key(&key))
    .bind(org_id);
    if let Some(announce) = announce {
        statement = statement.bind(announce.channel()).bind(announce.payload());
    }
    let rows = statement.fetch_all(executor).await.map_err(|e| {
        if is_unique_violation(&e) || is_retryable_pg(&e) {
            conflict()
        } else {
            Error::Database(e)
        }
    })?;
    if rows.len() != events.len() {
        return Err(conflict());
    }
    let mut stored = Vec::with_capacity(rows.len());
    let mut rows: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    rows.sort_by_key(|r| r.2);
    for ((position, tx_id, sequence), event) in rows.into_iter().zip(events) {
        stored.push(Event {
            position,
            tx_id,
            aggregate: key.clone(),
            sequence,
            event_type: event.event_type,
            revision: event.revision,
            payload: event.payload,
            creator: creator.to_owned(),
            org_id: org_id.map(str::to_owned),
            created_at,
        });
    }
    Ok(stored)
}

impl Eventstore for PgStore {
    async fn push(&self, mut push: Push) -> Result<Vec<Event>> {
        push.prepare()?;
        let created_at = now_micros();
        let announcement = self
            .announcement
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // The push carries the notification when it is due; the transaction baseline never does.
        let carried = announcement
            .as_deref()
            .filter(|a| self.one_statement && a.claim());
        // A single statement is its own transaction: the common case of one aggregate and no unique
        // values needs no explicit BEGIN/COMMIT round trips.
        let stored =
            if push.aggregates.len() == 1 && push.unique.is_empty() && push.unchanged.is_empty() {
                let changes = push
                    .aggregates
                    .pop()
                    .ok_or_else(|| Error::InvalidPush("empty".into()))?;
                let mut conn = self.statements.acquire().await?;
                let stored = append(
                    &mut *conn,
                    changes,
                    &push.creator,
                    push.org_id.as_deref(),
                    created_at,
                    carried,
                )
                .await;
                conn.release_after(match &stored {
                    Err(Error::Database(e)) => Some(e),
                    _ => None,
                });
                stored?
            } else if self.one_statement {
                self.push_one_statement(push, created_at, carried).await?
            } else {
                self.push_in_transaction(push, created_at).await?
            };
        if let Some(announcement) = &announcement
            && carried.is_none()
        {
            // Before the subscribers hear of the push, so that its announcer finds the notification owed.
            announcement.owed.store(true, Ordering::SeqCst);
        }
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
             WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence > $4 \
             ORDER BY sequence"
        );
        let rows = self
            .statements
            .fetch_all(
                sqlx::query(&sql)
                    .bind(&aggregate.instance_id)
                    .bind(&aggregate.aggregate_type)
                    .bind(&aggregate.aggregate_id)
                    .bind(after_sequence),
            )
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_stream(&self, query: &StreamQuery) -> Result<Vec<Event>> {
        // The only good plan is a range scan of `events_stream` (or `events_org`) in index order that stops
        // after `limit` events: a stream reader (a spooler catching up) reads a few hundred events from
        // anywhere in a stream of millions. The planner does not always see it: estimating that the type
        // filters pass few rows (no statistics yet after a bulk load, or a generic plan of unknown
        // parameters) it prefers a bitmap scan of the whole rest of the stream plus a sort, over a second
        // per read at a million events. So the statement has only the conditions the query has and its limit
        // written in, and runs in a read-only transaction of its own that rules out sorts, bitmap scans and
        // sequential scans, leaving the in-order index scan; and JIT compilation, which the index scan's cost
        // (estimated for the whole range) would trigger at several milliseconds a read. The connections of
        // `readers` have these settings from the start, so the read is this one statement.
        let mut sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE (tx_id, position) > ($1, $2) AND tx_id < {HORIZON}"
        );
        let mut next = 3;
        let mut condition = |sql: &mut String, column: &str, op: &str| {
            sql.push_str(&format!(" AND {column} {op}${next}"));
            next += 1;
        };
        if query.instance_id.is_some() {
            condition(&mut sql, "instance_id", "= ");
        }
        if query.org_id.is_some() {
            condition(&mut sql, "org_id", "= ");
        }
        if !query.aggregate_types.is_empty() {
            condition(&mut sql, "aggregate_type", "= ANY(");
            sql.push(')');
        }
        if !query.event_types.is_empty() {
            condition(&mut sql, "event_type", "= ANY(");
            sql.push(')');
        }
        let order = if query.org_id.is_some() {
            // The organization index's own order, so its range scan needs no sort.
            "org_id, tx_id, position"
        } else {
            "tx_id, position"
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", query.limit));
        let mut statement = sqlx::query(&sql)
            .bind(query.after.tx_id)
            .bind(query.after.position);
        if let Some(instance_id) = &query.instance_id {
            statement = statement.bind(instance_id);
        }
        if let Some(org_id) = &query.org_id {
            statement = statement.bind(org_id);
        }
        if !query.aggregate_types.is_empty() {
            statement = statement.bind(&query.aggregate_types);
        }
        if !query.event_types.is_empty() {
            statement = statement.bind(&query.event_types);
        }
        let rows = self.readers.fetch_all(statement).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn scan_stream(&self, after: Cursor, limit: u32) -> Result<StreamScan> {
        // The horizon is taken once; the events below it are read as in `read_stream`, and one probe of the
        // stream index at the horizon tells whether committed events wait above it. The outer join keeps a
        // row (without an event) when nothing is readable, so that the probe's answer always comes back.
        let sql = format!(
            "WITH h AS MATERIALIZED (
                 SELECT x.horizon, EXISTS (SELECT 1 FROM events p WHERE p.tx_id >= x.horizon) AS pending
                 FROM (SELECT {HORIZON} AS horizon) x)
             SELECT e.*, h.pending FROM h LEFT JOIN LATERAL (
                 SELECT {EVENT_COLUMNS} FROM events
                 WHERE (tx_id, position) > ($1, $2) AND tx_id < h.horizon
                 ORDER BY tx_id, position LIMIT {limit}) e ON true"
        );
        let statement = sqlx::query(&sql).bind(after.tx_id).bind(after.position);
        let rows = self.readers.fetch_all(statement).await?;
        let mut scan = StreamScan::default();
        for row in &rows {
            scan.pending = row.try_get("pending")?;
            if row.try_get::<Option<i64>, _>("position")?.is_some() {
                scan.events.push(event_from_row(row)?);
            }
        }
        Ok(scan)
    }

    async fn head(&self) -> Result<Cursor> {
        let sql = format!(
            "SELECT tx_id, position FROM events WHERE tx_id < {HORIZON} \
             ORDER BY tx_id DESC, position DESC LIMIT 1"
        );
        let row = self.readers.fetch_optional(sqlx::query(&sql)).await?;
        Ok(match row {
            Some(row) => Cursor {
                tx_id: row.try_get(0)?,
                position: row.try_get(1)?,
            },
            None => Cursor::START,
        })
    }

    async fn is_taken(&self, value: &UniqueValue) -> Result<bool> {
        let taken = self
            .statements
            .fetch_optional(
                sqlx::query(
                    "SELECT 1 FROM unique_constraints WHERE instance_id = $1 AND unique_type = $2 AND unique_value = $3",
                )
                .bind(&value.instance_id)
                .bind(&value.unique_type)
                .bind(&value.value),
            )
            .await?;
        Ok(taken.is_some())
    }
}

impl PgStore {
    /// A push in a transaction of several statements: locks, checks, unique values, appends.
    async fn push_in_transaction(&self, push: Push, created_at: i64) -> Result<Vec<Event>> {
        let mut tx = self.pool.begin().await?;
        // Locks first, in one order, before anything is written (the transaction id, which orders the
        // stream, is assigned at the first write): appended aggregates exclusively, expected ones shared.
        let mut locks: Vec<(String, bool)> = push
            .aggregates
            .iter()
            .map(|a| (lock_key(&a.aggregate), true))
            .chain(push.unchanged.iter().map(|(k, _)| (lock_key(k), false)))
            .collect();
        locks.sort();
        let (names, exclusive): (Vec<String>, Vec<bool>) = locks.into_iter().unzip();
        // One round trip; the sorted subquery fixes the order the locks are taken in.
        sqlx::query(
            "SELECT CASE WHEN l.exclusive THEN pg_advisory_xact_lock(hashtextextended(l.name, 0))::text \
                         ELSE pg_advisory_xact_lock_shared(hashtextextended(l.name, 0))::text END \
             FROM (SELECT name, exclusive FROM unnest($1::text[], $2::bool[]) WITH ORDINALITY \
                   AS t(name, exclusive, i) ORDER BY i OFFSET 0) AS l",
        )
        .bind(&names)
        .bind(&exclusive)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or_database(e, &push))?;
        if !push.unchanged.is_empty() {
            // A statement after the locks: its snapshot includes every change committed before them.
            let column = |f: fn(&AggregateKey) -> &String| -> Vec<&str> {
                push.unchanged.iter().map(|(k, _)| f(k).as_str()).collect()
            };
            let expected: Vec<i64> = push.unchanged.iter().map(|(_, s)| *s).collect();
            let moved: Option<i64> = sqlx::query_scalar(
                "SELECT t.i FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) WITH ORDINALITY \
                     AS t(instance_id, aggregate_type, aggregate_id, expected, i) \
                 WHERE (SELECT COALESCE(MAX(e.sequence), 0) FROM events e \
                        WHERE e.instance_id = t.instance_id AND e.aggregate_type = t.aggregate_type \
                          AND e.aggregate_id = t.aggregate_id) <> t.expected \
                 ORDER BY t.i LIMIT 1",
            )
            .bind(column(|k| &k.instance_id))
            .bind(column(|k| &k.aggregate_type))
            .bind(column(|k| &k.aggregate_id))
            .bind(&expected)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(index) = moved {
                let (key, expected) = usize::try_from(index - 1)
                    .ok()
                    .and_then(|i| push.unchanged.get(i))
                    .ok_or_else(|| Error::InvalidPush("expected aggregate out of range".into()))?;
                return Err(Error::Conflict {
                    aggregate_type: key.aggregate_type.clone(),
                    aggregate_id: key.aggregate_id.clone(),
                    expected: Some(*expected),
                });
            }
        }
        for change in &push.unique {
            match change {
                UniqueChange::Add(u) => {
                    let inserted = sqlx::query(
                        "INSERT INTO unique_constraints (instance_id, unique_type, unique_value) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
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
                         WHERE instance_id = $1 AND unique_type = $2 AND unique_value = $3",
                    )
                    .bind(&u.instance_id)
                    .bind(&u.unique_type)
                    .bind(&u.value)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        let mut stored = Vec::new();
        for changes in push.aggregates {
            stored.extend(
                append(
                    &mut *tx,
                    changes,
                    &push.creator,
                    push.org_id.as_deref(),
                    created_at,
                    None,
                )
                .await?,
            );
        }
        tx.commit().await.map_err(|e| {
            if is_retryable_pg(&e) {
                Error::Conflict {
                    aggregate_type: stored
                        .first()
                        .map(|e| e.aggregate.aggregate_type.clone())
                        .unwrap_or_default(),
                    aggregate_id: stored
                        .first()
                        .map(|e| e.aggregate.aggregate_id.clone())
                        .unwrap_or_default(),
                    expected: None,
                }
            } else {
                Error::Database(e)
            }
        })?;
        Ok(stored)
    }

    /// A push as one call of `warden_push` (migration 0160): locks, checks, unique values and appends in
    /// one statement, one round trip.
    async fn push_one_statement(
        &self,
        push: Push,
        created_at: i64,
        announce: Option<&PushAnnouncement>,
    ) -> Result<Vec<Event>> {
        let mut locks: Vec<(String, bool)> = push
            .aggregates
            .iter()
            .map(|a| (lock_key(&a.aggregate), true))
            .chain(push.unchanged.iter().map(|(k, _)| (lock_key(k), false)))
            .collect();
        locks.sort();
        let (lock_names, lock_exclusive): (Vec<String>, Vec<bool>) = locks.into_iter().unzip();
        let unchanged = |f: fn(&AggregateKey) -> &String| -> Vec<&str> {
            push.unchanged.iter().map(|(k, _)| f(k).as_str()).collect()
        };
        let unchanged_expected: Vec<i64> = push.unchanged.iter().map(|(_, s)| *s).collect();
        let unique = |f: fn(&UniqueValue) -> &String| -> Vec<&str> {
            push.unique
                .iter()
                .map(|u| match u {
                    UniqueChange::Add(v) | UniqueChange::Remove(v) => f(v).as_str(),
                })
                .collect()
        };
        let unique_add: Vec<bool> = push
            .unique
            .iter()
            .map(|u| matches!(u, UniqueChange::Add(_)))
            .collect();
        let aggregates = |f: fn(&AggregateKey) -> &String| -> Vec<&str> {
            push.aggregates
                .iter()
                .map(|a| f(&a.aggregate).as_str())
                .collect()
        };
        let expected: Vec<Option<i64>> = push
            .aggregates
            .iter()
            .map(|a| match a.expected {
                Expected::Exact(sequence) => Some(sequence),
                Expected::Any => None,
            })
            .collect();
        let counts: Vec<i32> = push
            .aggregates
            .iter()
            .map(|a| i32::try_from(a.events.len()).unwrap_or(i32::MAX))
            .collect();
        let events = || push.aggregates.iter().flat_map(|a| a.events.iter());
        let types: Vec<&str> = events().map(|e| e.event_type.as_str()).collect();
        let revisions: Vec<i32> = events().map(|e| i32::from(e.revision)).collect();
        let payloads: Vec<String> = events().map(|e| e.payload.to_string()).collect();
        let mut conn = self.statements.acquire().await?;
        const PUSH: &str = "SELECT out_position, out_tx_id, out_sequence FROM warden_push($1, $2, $3, $4, $5, \
                            $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";
        // The notification is a step of its own, run once; PostgreSQL sends it when the push commits.
        const PUSH_ANNOUNCED: &str = "WITH announce AS MATERIALIZED (SELECT pg_notify($22, $23)) \
            SELECT out_position, out_tx_id, out_sequence FROM announce, warden_push($1, $2, $3, $4, $5, $6, $7, \
            $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";
        let mut statement = sqlx::query(if announce.is_some() {
            PUSH_ANNOUNCED
        } else {
            PUSH
        })
        .bind(&lock_names)
        .bind(&lock_exclusive)
        .bind(unchanged(|k| &k.instance_id))
        .bind(unchanged(|k| &k.aggregate_type))
        .bind(unchanged(|k| &k.aggregate_id))
        .bind(&unchanged_expected)
        .bind(&unique_add)
        .bind(unique(|v| &v.instance_id))
        .bind(unique(|v| &v.unique_type))
        .bind(unique(|v| &v.value))
        .bind(aggregates(|k| &k.instance_id))
        .bind(aggregates(|k| &k.aggregate_type))
        .bind(aggregates(|k| &k.aggregate_id))
        .bind(&expected)
        .bind(&counts)
        .bind(&types)
        .bind(&revisions)
        .bind(&payloads)
        .bind(&push.creator)
        .bind(created_at)
        .bind(push.org_id.as_deref());
        if let Some(announce) = announce {
            statement = statement.bind(announce.channel()).bind(announce.payload());
        }
        let rows = statement.fetch_all(&mut *conn).await;
        conn.release(&rows);
        let rows = rows.map_err(|e| push_function_error(e, &push))?;
        let total: usize = push.aggregates.iter().map(|a| a.events.len()).sum();
        if rows.len() != total {
            return Err(Error::Database(sqlx::Error::Protocol(format!(
                "warden_push stored {} events of {total}",
                rows.len()
            ))));
        }
        let mut rows = rows.iter();
        let mut stored = Vec::with_capacity(total);
        for changes in push.aggregates {
            for event in changes.events {
                let row = rows.next().ok_or(sqlx::Error::RowNotFound)?;
                stored.push(Event {
                    position: row.try_get(0)?,
                    tx_id: row.try_get(1)?,
                    aggregate: changes.aggregate.clone(),
                    sequence: row.try_get(2)?,
                    event_type: event.event_type,
                    revision: event.revision,
                    payload: event.payload,
                    creator: push.creator.clone(),
                    org_id: push.org_id.clone(),
                    created_at,
                });
            }
        }
        Ok(stored)
    }
}

/// The error of a failed `warden_push`: its own SQLSTATEs name the conflicting aggregate or the taken value;
/// a concurrent append that took the sequence first (the unique index), a deadlock or a serialization failure
/// is a conflict too.
fn push_function_error(error: sqlx::Error, push: &Push) -> Error {
    let Some(db) = error
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<PgDatabaseError>())
    else {
        return conflict_or_database(error, push);
    };
    let code = db.code().to_owned();
    let detail = db.detail().unwrap_or_default().to_owned();
    let index = |text: &str| text.parse::<usize>().ok().and_then(|i| i.checked_sub(1));
    match code.as_str() {
        "WU001" => match index(&detail).and_then(|i| push.unique.get(i)) {
            Some(UniqueChange::Add(u) | UniqueChange::Remove(u)) => Error::UniqueTaken {
                unique_type: u.unique_type.clone(),
                value: u.value.clone(),
            },
            None => Error::Database(error),
        },
        "WC001" => {
            let found = if let Some(i) = detail.strip_prefix("append:") {
                index(i).and_then(|i| push.aggregates.get(i)).map(|a| {
                    let expected = match a.expected {
                        Expected::Exact(sequence) => Some(sequence),
                        Expected::Any => None,
                    };
                    (&a.aggregate, expected)
                })
            } else if let Some(i) = detail.strip_prefix("unchanged:") {
                index(i)
                    .and_then(|i| push.unchanged.get(i))
                    .map(|(key, sequence)| (key, Some(*sequence)))
            } else {
                None
            };
            match found {
                Some((key, expected)) => Error::Conflict {
                    aggregate_type: key.aggregate_type.clone(),
                    aggregate_id: key.aggregate_id.clone(),
                    expected,
                },
                None => Error::Database(error),
            }
        }
        _ if is_unique_violation(&error) => {
            let key = push.aggregates.first().map(|a| &a.aggregate);
            Error::Conflict {
                aggregate_type: key.map(|k| k.aggregate_type.clone()).unwrap_or_default(),
                aggregate_id: key.map(|k| k.aggregate_id.clone()).unwrap_or_default(),
                expected: None,
            }
        }
        _ => conflict_or_database(error, push),
    }
}

/// A deadlock or serialization failure is a conflict (the command is decided again); anything else is a
/// database error.
fn conflict_or_database(error: sqlx::Error, push: &Push) -> Error {
    if is_retryable_pg(&error) {
        let key = push.aggregates.first().map(|a| &a.aggregate);
        Error::Conflict {
            aggregate_type: key.map(|k| k.aggregate_type.clone()).unwrap_or_default(),
            aggregate_id: key.map(|k| k.aggregate_id.clone()).unwrap_or_default(),
            expected: None,
        }
    } else {
        Error::Database(error)
    }
}

fn event_from_row(row: &PgRow) -> Result<Event> {
    let position: i64 = row.try_get("position")?;
    let payload: Value = row.try_get("payload")?;
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
