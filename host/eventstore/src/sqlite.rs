//! The embedded backend: SQLite in WAL mode.
//!
//! SQLite allows one writer at a time, so pushes go through a pool of exactly one connection: writers
//! queue in the process instead of failing with "database is locked". A committer task takes the queued
//! pushes and writes every push that arrived while the writer was busy in one transaction (group commit),
//! each push checked on its own so that it succeeds or fails alone. Because writes are serialized, the
//! commit order is the position order and a stream reader can never miss a late commit. Readers use a
//! separate pool and read concurrently with the writer (WAL).

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use rusqlite::ToSql;
use sqlx::{
    Connection, Row, Sqlite, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use crate::{
    AggregateKey, Cursor, Error, Event, Eventstore, Expected, Push, Result, StreamQuery,
    StreamScan, UniqueChange, UniqueValue,
    local_reads::{LocalReads, local_error},
    migrate, now_micros, revision_from_db,
    statements::StatementPool,
};

const EVENT_COLUMNS: &str = "position, tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
                             event_type, revision, payload, creator, org_id, created_at";

/// The SQLite eventstore.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Read-only connections for single statements of the views (their reads through `warden_spooler::Db`):
    /// given back without the pool's round trip to the connection's thread.
    statements: StatementPool<Sqlite>,
    /// Read-only connections for the eventstore's own reads, run on the caller's thread.
    local: Arc<LocalReads>,
    pushed: watch::Sender<u64>,
    committer: Arc<Committer>,
    group: bool,
    sync: Arc<WriterSync>,
}

/// How far a commit on SQLite is durable (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every push (and every other write that is not a view's) is in the WAL file on disk (`fsync`) before it is
    /// answered, as PostgreSQL commits with `synchronous_commit = on`: a power loss loses nothing answered.
    /// Pushes that arrive while one is written share the next commit and its `fsync`.
    #[default]
    Full,
    /// No `fsync` at commit: durable against a crash of the process, but a power loss or an operating-system
    /// crash can lose the last commits (never corrupting the database).
    Normal,
}

/// The `synchronous` setting of the single writer connection, which is switched to `NORMAL` for the
/// transactions whose loss on a power failure costs nothing but repeated work (a view's batch, which commits
/// its cursor with its rows and is written again from the events), and back to `FULL` before anything else.
///
/// SQLite refuses to change the setting inside a transaction, so it is set in the same call as `BEGIN`, or by a
/// statement of its own before a write outside a transaction. Only the holder of the writer connection changes
/// the setting; `relaxed` is set after every relaxed begin (whether it succeeded or not) and cleared only by a
/// holder that has just set `FULL`, so it is never clear while the connection is relaxed.
#[derive(Debug)]
pub struct WriterSync {
    full: bool,
    relaxed: AtomicBool,
}

impl WriterSync {
    fn new(synchronous: Synchronous) -> Self {
        Self {
            full: synchronous == Synchronous::Full,
            relaxed: AtomicBool::new(false),
        }
    }

    /// The statement that begins a durable write transaction.
    pub fn begin_durable(&self) -> &'static str {
        if self.full {
            "PRAGMA synchronous = FULL; BEGIN IMMEDIATE"
        } else {
            "BEGIN IMMEDIATE"
        }
    }

    /// Call once a transaction begun with [`WriterSync::begin_durable`] has begun (its holder has the
    /// connection).
    pub fn durable_begun(&self) {
        if self.full {
            self.relaxed.store(false, Ordering::SeqCst);
        }
    }

    /// The statement that begins a transaction that may skip the `fsync` at commit.
    pub fn begin_relaxed(&self) -> &'static str {
        if self.full {
            "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE"
        } else {
            "BEGIN IMMEDIATE"
        }
    }

    /// Call after trying to begin with [`WriterSync::begin_relaxed`], whatever the outcome.
    pub fn relaxed_begun(&self) {
        if self.full {
            self.relaxed.store(true, Ordering::SeqCst);
        }
    }

    /// Before a durable statement outside a transaction on the writer connection (which the caller holds).
    pub async fn make_durable(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        if self.full && self.relaxed.load(Ordering::SeqCst) {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
            self.relaxed.store(false, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`).
    pub async fn connect(url: &str, readers: u32) -> Result<Self> {
        Self::connect_with(url, readers, Synchronous::default()).await
    }

    /// [`SqliteStore::connect`] with the durability of commits chosen.
    pub async fn connect_with(url: &str, readers: u32, synchronous: Synchronous) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // The pools do not ping a connection before handing it out (their default): a connection to a file
        // in this process cannot be lost, and the ping is a round trip to the connection's thread.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone().read_only(true))
            .await?;
        let local = Arc::new(LocalReads::new(
            options.get_filename().to_owned(),
            readers.max(1) as usize,
        ));
        let statements = StatementPool::new(options.read_only(true), readers.max(1), None);
        let pushed = watch::channel(0).0;
        let sync = Arc::new(WriterSync::new(synchronous));
        let (queue, queued) = mpsc::unbounded_channel();
        let committer = Arc::new(Committer {
            queue,
            waiting: AtomicUsize::new(0),
        });
        tokio::spawn(commit_loop(
            writer.clone(),
            pushed.clone(),
            Arc::downgrade(&committer),
            queued,
            sync.clone(),
        ));
        Ok(Self {
            writer,
            reader,
            statements,
            local,
            pushed,
            committer,
            group: true,
            sync,
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        migrate::sqlite(&self.writer, &self.sync).await
    }

    /// The pool that writes (one connection); other storage crates use it for their own tables.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The `synchronous` setting of the writer connection: writers beside the eventstore's begin their
    /// transactions through it.
    pub fn writer_sync(&self) -> &Arc<WriterSync> {
        &self.sync
    }

    /// The pool for reads.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The read-only connections for single statements.
    pub fn statements(&self) -> &StatementPool<Sqlite> {
        &self.statements
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

    /// Closes the pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        self.statements.close().await;
        self.local.close();
    }
}

/// Appends one event to one aggregate if it is at the expected sequence (`?4`, NULL: any). The commit group
/// is `?11`, or the next one when NULL.
const APPEND_ONE: &str = "INSERT INTO events (tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
        event_type, revision, payload, creator, created_at, org_id)
    SELECT COALESCE(?11, (SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events)), ?1, ?2, ?3, latest.sequence + 1,
           ?5, ?6, ?7, ?8, ?9, ?10
    FROM (SELECT COALESCE(MAX(sequence), 0) AS sequence FROM events
          WHERE instance_id = ?1 AND aggregate_type = ?2 AND aggregate_id = ?3) AS latest
    WHERE ?4 IS NULL OR latest.sequence = ?4
    RETURNING position, tx_id, sequence";

const NEXT_TX_ID: &str = "SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events";

/// Most pushes written in one transaction.
const MAX_GROUP: usize = 256;

/// A push waiting for the committer, with the caller to answer.
struct Pending {
    push: Push,
    created_at: i64,
    reply: oneshot::Sender<Result<Vec<Event>>>,
}

/// The queue of pushes to the committer task, and how many are submitted and not yet answered.
#[derive(Debug)]
struct Committer {
    queue: mpsc::UnboundedSender<Pending>,
    waiting: AtomicUsize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("creator", &self.push.creator)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Whether pushes are written in groups (the default): pushes that arrive while the writer is busy are
    /// written together in its next transaction, each with its own checks and its own outcome. With `false`
    /// every push is a transaction of its own, as a baseline to measure grouping against.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group = on;
        self
    }

    /// How many pushes are submitted to the writer and not yet answered (queued or being written).
    pub fn pushes_waiting(&self) -> usize {
        self.committer.waiting.load(Ordering::SeqCst)
    }

    /// A push through the committer task: queued, written with whatever else is queued, answered.
    async fn push_grouped(&self, push: Push, created_at: i64) -> Result<Vec<Event>> {
        // Nothing queued and the writer idle: no group to join, so no hand-over to the committer either.
        if self.committer.waiting.load(Ordering::SeqCst) == 0
            && let Some(mut conn) = self.writer.try_acquire()
        {
            if is_single_statement(&push) {
                let stored = write_alone(&mut conn, &self.sync, push, created_at).await?;
                self.pushed.send_modify(|n| *n = n.wrapping_add(1));
                return Ok(stored);
            }
            // A transaction: written on a task of its own, so a caller dropped half-way (a client that went
            // away) never leaves the writer inside a transaction nothing tracks (sqlx counts one begun with a
            // custom `BEGIN` only after a further check); the push completes or fails as a whole either way.
            let pushed = self.pushed.clone();
            let sync = self.sync.clone();
            return tokio::spawn(async move {
                let stored = match write_together(&mut conn, &sync, &[(&push, created_at)]).await {
                    Ok(mut results) => results.pop().unwrap_or_else(|| {
                        Err(Error::InvalidPush(
                            "a push must append at least one event".into(),
                        ))
                    })?,
                    Err(error) => {
                        warn!(%error, "writing a push failed; writing it again on its own");
                        write_alone(&mut conn, &sync, push, created_at).await?
                    }
                };
                pushed.send_modify(|n| *n = n.wrapping_add(1));
                Ok::<_, Error>(stored)
            })
            .await
            .unwrap_or(Err(Error::Database(sqlx::Error::PoolClosed)));
        }
        let (reply, answer) = oneshot::channel();
        self.committer.waiting.fetch_add(1, Ordering::SeqCst);
        if self
            .committer
            .queue
            .send(Pending {
                push,
                created_at,
                reply,
            })
            .is_err()
        {
            self.committer.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Database(sqlx::Error::PoolClosed));
        }
        answer
            .await
            .unwrap_or(Err(Error::Database(sqlx::Error::PoolClosed)))
    }
}

/// The committer: takes the first queued push, waits for the writer connection, then takes every push queued
/// meanwhile (up to [`MAX_GROUP`]) and writes them in one transaction.
async fn commit_loop(
    writer: SqlitePool,
    pushed: watch::Sender<u64>,
    committer: std::sync::Weak<Committer>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    sync: Arc<WriterSync>,
) {
    let mut group: Vec<Pending> = Vec::new();
    while let Some(first) = queue.recv().await {
        group.push(first);
        let conn = writer.acquire().await;
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let results = match conn {
            Ok(mut conn) => write_group(&mut conn, &sync, &mut group).await,
            Err(e) => {
                let mut results = vec![Err(Error::Database(e))];
                results.resize_with(group.len(), || {
                    Err(Error::Database(sqlx::Error::PoolClosed))
                });
                results
            }
        };
        if results.iter().any(Result::is_ok) {
            pushed.send_modify(|n| *n = n.wrapping_add(1));
        }
        let answered = group.len();
        for (pending, result) in group.drain(..).zip(results) {
            let _ = pending.reply.send(result);
        }
        if let Some(committer) = committer.upgrade() {
            committer.waiting.fetch_sub(answered, Ordering::SeqCst);
        }
    }
}

/// Writes a group of pushes; one result per push, in order.
///
/// A single-event push alone is one statement. Anything else is written in one transaction in queue order
/// (see [`write_together`]): a push that fails (a conflict, a taken unique value) is answered with its error
/// and stores nothing, the others commit. When the group transaction itself fails, every push is written
/// again alone, so each caller gets the outcome of its own push.
async fn write_group(
    conn: &mut SqliteConnection,
    sync: &WriterSync,
    group: &mut [Pending],
) -> Vec<Result<Vec<Event>>> {
    if let [only] = group
        && is_single_statement(&only.push)
    {
        let push = std::mem::take(&mut only.push);
        return vec![write_alone(conn, sync, push, only.created_at).await];
    }
    let pushes: Vec<(&Push, i64)> = group.iter().map(|p| (&p.push, p.created_at)).collect();
    match write_together(conn, sync, &pushes).await {
        Ok(results) => results,
        Err(error) => {
            warn!(%error, pushes = group.len(), "group commit failed; writing each push alone");
            let mut results = Vec::with_capacity(group.len());
            for pending in group.iter_mut() {
                let push = std::mem::take(&mut pending.push);
                results.push(write_alone(conn, sync, push, pending.created_at).await);
            }
            results
        }
    }
}

/// One push in a transaction of its own (one statement when it is a single event without unique values).
async fn write_alone(
    conn: &mut SqliteConnection,
    sync: &WriterSync,
    push: Push,
    created_at: i64,
) -> Result<Vec<Event>> {
    if is_single_statement(&push) {
        sync.make_durable(conn).await?;
        return push_one(&mut *conn, &push, None, created_at)
            .await
            .map(|e| vec![e]);
    }
    // IMMEDIATE takes the write lock first: a deferred transaction that reads and then writes fails at once
    // with SQLITE_BUSY (no busy wait) when another connection to the file wrote in between.
    let mut tx = conn.begin_with(sync.begin_durable()).await?;
    sync.durable_begun();
    let tx_id: i64 = sqlx::query_scalar(NEXT_TX_ID).fetch_one(&mut *tx).await?;
    let stored = write_push(&mut tx, push, tx_id, created_at).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Most rows of one multi-row statement (SQLite binds at most 32,766 values to one statement).
const ROWS_PER_STATEMENT: usize = 200;

/// Several pushes in one transaction, in queue order, with a few statements for the whole group: the latest
/// sequences of every aggregate involved and which of the unique values involved are taken are read first;
/// each push is then checked against them as the pushes before it in the group left them, exactly as it
/// would be checked alone; a push that fails is answered with its error and leaves no trace; the events and
/// unique-value changes of the others are written with multi-row statements. The writer is serialized, so
/// what the transaction read stays true until it commits. `Err` when the transaction as a whole failed;
/// nothing of the group is stored then.
///
/// The transaction runs on the caller's thread, on the writer connection's SQLite handle locked from its
/// sqlx thread ([`sqlx::sqlite::LockedSqliteHandle`]): one hand-over to that thread for the whole
/// transaction instead of one for every statement. The only await is taking the lock, before anything is
/// begun, so a caller dropped half-way leaves no transaction open.
async fn write_together(
    conn: &mut SqliteConnection,
    sync: &WriterSync,
    group: &[(&Push, i64)],
) -> Result<Vec<Result<Vec<Event>>>, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let raw = handle.as_raw_handle();
    // SAFETY: `raw` is the open SQLite handle of the writer connection, and `handle` holds its lock until the
    // end of this function: sqlx's thread does not use the handle meanwhile. The wrapper does not own the
    // handle (it never closes it; dropping it finalizes only the statements it prepared) and is dropped
    // before the lock is released.
    #[allow(unsafe_code)]
    let db = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }.map_err(local_error)?;
    db.execute_batch(sync.begin_durable())
        .map_err(local_error)?;
    sync.durable_begun();
    let written = write_together_on(&db, group).and_then(|results| {
        db.execute_batch("COMMIT")?;
        Ok(results)
    });
    if written.is_err() && !db.is_autocommit() {
        let _ = db.execute_batch("ROLLBACK");
    }
    drop(db);
    drop(handle);
    written.map_err(local_error)
}

/// The statements of [`write_together`] inside its transaction.
fn write_together_on(
    db: &rusqlite::Connection,
    group: &[(&Push, i64)],
) -> rusqlite::Result<Vec<Result<Vec<Event>>>> {
    let mut keys: Vec<&AggregateKey> = group
        .iter()
        .flat_map(|(push, _)| {
            push.aggregates
                .iter()
                .map(|a| &a.aggregate)
                .chain(push.unchanged.iter().map(|(k, _)| k))
        })
        .collect();
    keys.sort();
    keys.dedup();
    let mut values: Vec<&UniqueValue> = group
        .iter()
        .flat_map(|(push, _)| push.unique.iter())
        .map(|change| match change {
            UniqueChange::Add(u) | UniqueChange::Remove(u) => u,
        })
        .collect();
    values.sort();
    values.dedup();
    let state = read_group_state(db, &keys, &values)?;
    let (mut tx_id, mut position) = state.next;
    let mut latest = state.latest;
    let taken_before = state.taken;
    let mut taken = taken_before.clone();

    let mut results = Vec::with_capacity(group.len());
    let mut stored: Vec<Event> = Vec::new();
    for &(push, created_at) in group {
        match check(push, &latest, &taken) {
            Err(error) => results.push(Err(error)),
            Ok(claims) => {
                taken.extend(claims);
                let first = stored.len();
                for changes in &push.aggregates {
                    let sequence = latest.entry(&changes.aggregate).or_insert(0);
                    for event in &changes.events {
                        *sequence += 1;
                        stored.push(Event {
                            position,
                            tx_id,
                            aggregate: changes.aggregate.clone(),
                            sequence: *sequence,
                            event_type: event.event_type.clone(),
                            revision: event.revision,
                            payload: event.payload.clone(),
                            creator: push.creator.clone(),
                            org_id: push.org_id.clone(),
                            created_at,
                        });
                        position += 1;
                    }
                }
                results.push(Ok(stored[first..].to_vec()));
                tx_id += 1;
            }
        }
    }

    // The net change of each unique value over the group.
    let (mut claimed, mut released): (Vec<&UniqueValue>, Vec<&UniqueValue>) =
        (Vec::new(), Vec::new());
    for (u, now) in &taken {
        if taken_before.get(u) != Some(now) {
            if *now {
                claimed.push(u);
            } else {
                released.push(u);
            }
        }
    }
    write_unique_values(
        db,
        "DELETE FROM unique_constraints WHERE (instance_id, unique_type, unique_value) IN (VALUES ",
        ")",
        &released,
    )?;
    write_unique_values(
        db,
        "INSERT INTO unique_constraints (instance_id, unique_type, unique_value) VALUES ",
        "",
        &claimed,
    )?;
    for chunk in stored.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (position, tx_id, instance_id, aggregate_type, aggregate_id, sequence, \
             event_type, revision, payload, creator, created_at, org_id) VALUES {}",
            rows_of(12, chunk.len())
        );
        let payloads: Vec<String> = chunk.iter().map(|e| e.payload.to_string()).collect();
        let revisions: Vec<i32> = chunk.iter().map(|e| i32::from(e.revision)).collect();
        let mut params: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 12);
        for (i, e) in chunk.iter().enumerate() {
            params.extend([
                &e.position as &dyn ToSql,
                &e.tx_id,
                &e.aggregate.instance_id,
                &e.aggregate.aggregate_type,
                &e.aggregate.aggregate_id,
                &e.sequence,
                &e.event_type,
                &revisions[i],
                &payloads[i],
                &e.creator,
                &e.created_at,
                &e.org_id,
            ]);
        }
        db.prepare_cached(&sql)?.execute(params.as_slice())?;
    }
    Ok(results)
}

/// Runs `head (?, ?, ?), … tail` for `values`, [`ROWS_PER_STATEMENT`] values per statement.
fn write_unique_values(
    db: &rusqlite::Connection,
    head: &str,
    tail: &str,
    values: &[&UniqueValue],
) -> rusqlite::Result<()> {
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("{head}{}{tail}", rows_of(3, chunk.len()));
        let params: Vec<&dyn ToSql> = chunk
            .iter()
            .flat_map(|u| [&u.instance_id as &dyn ToSql, &u.unique_type, &u.value])
            .collect();
        db.prepare_cached(&sql)?.execute(params.as_slice())?;
    }
    Ok(())
}

/// `count` rows of `columns` placeholders each: `(?, ?), (?, ?)`.
fn rows_of(columns: usize, count: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; count].join(", ")
}

/// What a group of pushes is checked against, read inside its transaction.
struct GroupState<'a> {
    /// The next commit group and position.
    next: (i64, i64),
    /// The latest sequence of every aggregate involved.
    latest: HashMap<&'a AggregateKey, i64>,
    /// Whether each unique value involved is taken.
    taken: HashMap<&'a UniqueValue, bool>,
}

/// Reads the [`GroupState`] of `keys` and `values`: one statement for the next commit group and position and
/// the first [`ROWS_PER_STATEMENT`] keys and values (every group of a few pushes), one more for each further
/// chunk of them. Rows are tagged: kind 0 the next tx_id and position, kind 1 a key's index and latest
/// sequence, kind 2 the index of a taken value.
fn read_group_state<'a>(
    db: &rusqlite::Connection,
    keys: &[&'a AggregateKey],
    values: &[&'a UniqueValue],
) -> rusqlite::Result<GroupState<'a>> {
    let mut state = GroupState {
        next: (1, 1),
        latest: HashMap::with_capacity(keys.len()),
        taken: values.iter().map(|u| (*u, false)).collect(),
    };
    let key_chunks: Vec<&[&AggregateKey]> = keys.chunks(ROWS_PER_STATEMENT).collect();
    let value_chunks: Vec<&[&UniqueValue]> = values.chunks(ROWS_PER_STATEMENT).collect();
    for at in 0..key_chunks.len().max(value_chunks.len()).max(1) {
        let key_chunk = key_chunks.get(at).copied().unwrap_or_default();
        let value_chunk = value_chunks.get(at).copied().unwrap_or_default();
        let mut ctes = Vec::new();
        let mut params: Vec<Box<dyn ToSql + '_>> = Vec::new();
        if !key_chunk.is_empty() {
            ctes.push(format!(
                "k(i, instance_id, aggregate_type, aggregate_id) AS (VALUES {})",
                rows_of(4, key_chunk.len())
            ));
            for (i, key) in key_chunk.iter().enumerate() {
                params.push(Box::new(i as i64));
                params.push(Box::new(&key.instance_id));
                params.push(Box::new(&key.aggregate_type));
                params.push(Box::new(&key.aggregate_id));
            }
        }
        if !value_chunk.is_empty() {
            ctes.push(format!(
                "u(i, instance_id, unique_type, unique_value) AS (VALUES {})",
                rows_of(4, value_chunk.len())
            ));
            for (i, u) in value_chunk.iter().enumerate() {
                params.push(Box::new(i as i64));
                params.push(Box::new(&u.instance_id));
                params.push(Box::new(&u.unique_type));
                params.push(Box::new(&u.value));
            }
        }
        let mut selects = Vec::new();
        if at == 0 {
            // Two subqueries: each MAX alone reads one end of an index; together in one query they scan it.
            selects.push(
                "SELECT 0, (SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events), \
                 (SELECT COALESCE(MAX(position), 0) + 1 FROM events)",
            );
        }
        if !key_chunk.is_empty() {
            selects.push(
                "SELECT 1, k.i, (SELECT COALESCE(MAX(e.sequence), 0) FROM events e \
                 WHERE e.instance_id = k.instance_id AND e.aggregate_type = k.aggregate_type \
                 AND e.aggregate_id = k.aggregate_id) FROM k",
            );
        }
        if !value_chunk.is_empty() {
            selects.push(
                "SELECT 2, u.i, 1 FROM u WHERE EXISTS (SELECT 1 FROM unique_constraints c \
                 WHERE c.instance_id = u.instance_id AND c.unique_type = u.unique_type \
                 AND c.unique_value = u.unique_value)",
            );
        }
        if selects.is_empty() {
            break;
        }
        let mut sql = String::new();
        if !ctes.is_empty() {
            sql.push_str("WITH ");
            sql.push_str(&ctes.join(", "));
            sql.push(' ');
        }
        sql.push_str(&selects.join(" UNION ALL "));
        let mut statement = db.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let kind: i64 = row.get(0)?;
            let a: i64 = row.get(1)?;
            let b: i64 = row.get(2)?;
            let index = usize::try_from(a).ok();
            match kind {
                0 => state.next = (a, b),
                1 => {
                    if let Some(key) = index.and_then(|i| key_chunk.get(i)) {
                        state.latest.insert(*key, b);
                    }
                }
                _ => {
                    if let Some(u) = index.and_then(|i| value_chunk.get(i)) {
                        state.taken.insert(*u, true);
                    }
                }
            }
        }
    }
    Ok(state)
}

/// Checks one push of a group against the state the pushes before it left (`latest` sequences, `taken`
/// unique values), in the order a push alone is checked: unique values, aggregates expected unchanged,
/// appends. Returns the unique values the push changes (value, taken afterwards).
fn check<'p>(
    push: &'p Push,
    latest: &HashMap<&AggregateKey, i64>,
    taken: &HashMap<&UniqueValue, bool>,
) -> Result<Vec<(&'p UniqueValue, bool)>> {
    let mut changes: Vec<(&UniqueValue, bool)> = Vec::with_capacity(push.unique.len());
    let is_taken = |changes: &[(&UniqueValue, bool)], u: &UniqueValue| {
        changes
            .iter()
            .rev()
            .find(|(v, _)| *v == u)
            .map(|(_, now)| *now)
            .or_else(|| taken.get(u).copied())
            .unwrap_or(false)
    };
    for change in &push.unique {
        match change {
            UniqueChange::Add(u) => {
                if is_taken(&changes, u) {
                    return Err(Error::UniqueTaken {
                        unique_type: u.unique_type.clone(),
                        value: u.value.clone(),
                    });
                }
                changes.push((u, true));
            }
            UniqueChange::Remove(u) => changes.push((u, false)),
        }
    }
    let at = |key: &AggregateKey| latest.get(key).copied().unwrap_or(0);
    for (key, expected) in &push.unchanged {
        if at(key) != *expected {
            return Err(Error::Conflict {
                aggregate_type: key.aggregate_type.clone(),
                aggregate_id: key.aggregate_id.clone(),
                expected: Some(*expected),
            });
        }
    }
    for changes in &push.aggregates {
        if let Expected::Exact(expected) = changes.expected
            && at(&changes.aggregate) != expected
        {
            return Err(Error::Conflict {
                aggregate_type: changes.aggregate.aggregate_type.clone(),
                aggregate_id: changes.aggregate.aggregate_id.clone(),
                expected: Some(expected),
            });
        }
    }
    Ok(changes)
}

fn is_single_statement(push: &Push) -> bool {
    push.unique.is_empty()
        && push.unchanged.is_empty()
        && matches!(push.aggregates.as_slice(), [changes] if changes.events.len() == 1)
}

/// A push of one event to one aggregate, without unique values, as one statement (in the commit group
/// `tx_id`, or the next one).
async fn push_one(
    conn: &mut SqliteConnection,
    push: &Push,
    tx_id: Option<i64>,
    created_at: i64,
) -> Result<Event> {
    let (Some(changes), Some(event)) = (
        push.aggregates.first(),
        push.aggregates.first().and_then(|c| c.events.first()),
    ) else {
        return Err(Error::InvalidPush(
            "a push must append at least one event".into(),
        ));
    };
    let key = &changes.aggregate;
    let expected = match changes.expected {
        Expected::Exact(sequence) => Some(sequence),
        Expected::Any => None,
    };
    let org_id = push.org_id.as_deref();
    let row = sqlx::query(APPEND_ONE)
        .bind(&key.instance_id)
        .bind(&key.aggregate_type)
        .bind(&key.aggregate_id)
        .bind(expected)
        .bind(&event.event_type)
        .bind(i32::from(event.revision))
        .bind(event.payload.to_string())
        .bind(&push.creator)
        .bind(created_at)
        .bind(org_id)
        .bind(tx_id)
        .fetch_optional(&mut *conn)
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
        creator: push.creator.clone(),
        org_id: org_id.map(str::to_owned),
        created_at,
    })
}

/// Writes one push inside an open transaction (or savepoint) as commit group `tx_id`: unique values,
/// expected-unchanged aggregates, then the appends. Writes are serialized, so what it reads stays true until
/// the transaction commits.
async fn write_push(
    conn: &mut SqliteConnection,
    push: Push,
    tx_id: i64,
    created_at: i64,
) -> Result<Vec<Event>> {
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
                .execute(&mut *conn)
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
                .execute(&mut *conn)
                .await?;
            }
        }
    }

    for (key, expected) in &push.unchanged {
        let latest = latest_sequence(conn, key).await?;
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
        let latest = latest_sequence(conn, &key).await?;
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
            .fetch_one(&mut *conn)
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
    Ok(stored)
}

async fn latest_sequence(conn: &mut SqliteConnection, key: &AggregateKey) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(MAX(sequence), 0) FROM events \
         WHERE instance_id = ? AND aggregate_type = ? AND aggregate_id = ?",
    )
    .bind(&key.instance_id)
    .bind(&key.aggregate_type)
    .bind(&key.aggregate_id)
    .fetch_one(&mut *conn)
    .await?)
}

impl Eventstore for SqliteStore {
    async fn push(&self, mut push: Push) -> Result<Vec<Event>> {
        push.prepare()?;
        let created_at = now_micros();
        let stored = if self.group {
            self.push_grouped(push, created_at).await?
        } else {
            let mut conn = self.writer.acquire().await?;
            let stored = write_alone(&mut conn, &self.sync, push, created_at).await?;
            self.pushed.send_modify(|n| *n = n.wrapping_add(1));
            stored
        };
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
        let rows = self.local.read(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(
                rusqlite::params![
                    aggregate.instance_id,
                    aggregate.aggregate_type,
                    aggregate.aggregate_id,
                    after_sequence
                ],
                RawEvent::from_row,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(RawEvent::into_event).collect()
    }

    async fn read_stream(&self, query: &StreamQuery) -> Result<Vec<Event>> {
        let mut sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE (tx_id, position) > (?, ?)");
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&query.after.tx_id, &query.after.position];
        if let Some(instance_id) = &query.instance_id {
            sql.push_str(" AND instance_id = ?");
            params.push(instance_id);
        }
        if let Some(org_id) = &query.org_id {
            sql.push_str(" AND org_id = ?");
            params.push(org_id);
        }
        for (column, values) in [
            ("aggregate_type", &query.aggregate_types),
            ("event_type", &query.event_types),
        ] {
            if values.is_empty() {
                continue;
            }
            sql.push_str(&format!(" AND {column} IN ("));
            for (i, value) in values.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                params.push(value);
            }
            sql.push(')');
        }
        let limit = i64::from(query.limit);
        sql.push_str(" ORDER BY tx_id, position LIMIT ?");
        params.push(&limit);
        let rows = self.local.read(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params.as_slice(), RawEvent::from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(RawEvent::into_event).collect()
    }

    async fn scan_stream(&self, after: Cursor, limit: u32) -> Result<StreamScan> {
        // One writer commits in position order: every committed event is readable at once.
        Ok(StreamScan {
            events: self.read_stream(&StreamQuery::after(after, limit)).await?,
            pending: false,
        })
    }

    async fn head(&self) -> Result<Cursor> {
        let head = self.local.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1",
            )?;
            let mut rows = statement.query([])?;
            match rows.next()? {
                Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
                None => Ok(None),
            }
        })?;
        Ok(match head {
            Some((tx_id, position)) => Cursor { tx_id, position },
            None => Cursor::START,
        })
    }

    async fn is_taken(&self, value: &UniqueValue) -> Result<bool> {
        Ok(self.local.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT 1 FROM unique_constraints \
                 WHERE instance_id = ? AND unique_type = ? AND unique_value = ?",
            )?;
            statement.exists(rusqlite::params![
                value.instance_id,
                value.unique_type,
                value.value
            ])
        })?)
    }
}

/// An event's columns as read ([`EVENT_COLUMNS`], in order), before its payload is parsed.
struct RawEvent {
    position: i64,
    tx_id: i64,
    instance_id: String,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    revision: i32,
    payload: String,
    creator: String,
    org_id: Option<String>,
    created_at: i64,
}

impl RawEvent {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            position: row.get(0)?,
            tx_id: row.get(1)?,
            instance_id: row.get(2)?,
            aggregate_type: row.get(3)?,
            aggregate_id: row.get(4)?,
            sequence: row.get(5)?,
            event_type: row.get(6)?,
            revision: row.get(7)?,
            payload: row.get(8)?,
            creator: row.get(9)?,
            org_id: row.get(10)?,
            created_at: row.get(11)?,
        })
    }

    fn into_event(self) -> Result<Event> {
        let payload = serde_json::from_str(&self.payload).map_err(|e| Error::Corrupt {
            position: self.position,
            reason: format!("payload is not JSON: {e}"),
        })?;
        Ok(Event {
            position: self.position,
            tx_id: self.tx_id,
            aggregate: AggregateKey {
                instance_id: self.instance_id,
                aggregate_type: self.aggregate_type,
                aggregate_id: self.aggregate_id,
            },
            sequence: self.sequence,
            event_type: self.event_type,
            revision: revision_from_db(self.revision, self.position)?,
            payload,
            creator: self.creator,
            org_id: self.org_id,
            created_at: self.created_at,
        })
    }
}
