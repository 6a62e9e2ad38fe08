//! A connection pool for single statements that gives a connection back without a round trip.
//!
//! sqlx's pool tests every connection when it comes back (PostgreSQL: a `Sync` and its answer; SQLite: a
//! hop to the connection's thread and back), because a caller dropped half-way through a statement may
//! leave it in an unknown state. For a statement that is one call and one answer that test doubles the
//! round trips: measured with `pgbench` on a primary-key `SELECT`, a second round trip per statement cost
//! about 40% of the rate. Here a connection goes back only when its statement completed (successfully, or
//! with an error the database answered), and is closed instead when the caller was dropped half-way or the
//! connection failed; a connection that sat idle is tested before it is handed out again.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::{ConnectOptions, Connection, Database, Executor, IntoArguments, query::Query};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a caller waits for a connection before [`sqlx::Error::PoolTimedOut`].
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection unused for longer is closed when another one comes back (as sqlx's pools do after ten
/// minutes), so a burst of load does not keep its connections open for the server's whole life.
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// A pool of at most `max` connections for statements that are one call and one answer.
pub struct StatementPool<DB: Database> {
    inner: Arc<Inner<DB>>,
}

struct Inner<DB: Database> {
    options: <DB::Connection as Connection>::Options,
    /// Connections not in use, the most recently used last (handed out first: warm caches).
    idle: Mutex<Vec<Idle<DB::Connection>>>,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    max: u32,
    /// A connection idle for longer is tested before it is handed out; `None`: never (a connection to a
    /// file of this process cannot be lost).
    check_idle_after: Option<Duration>,
}

struct Idle<C> {
    conn: C,
    since: Instant,
    /// Its last statement was refused by the database: tested before it is handed out again (a refusal may
    /// also have ended the session, e.g. PostgreSQL's `FATAL` when an administrator terminates it).
    suspect: bool,
}

impl<DB: Database> Clone for StatementPool<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<DB: Database> fmt::Debug for StatementPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatementPool")
            .field("max", &self.inner.max)
            .field("idle", &self.idle_count())
            .finish()
    }
}

impl<DB: Database> StatementPool<DB> {
    /// A pool of at most `max` (at least one) connections opened with `options` when first needed.
    pub fn new(
        options: <DB::Connection as Connection>::Options,
        max: u32,
        check_idle_after: Option<Duration>,
    ) -> Self {
        let max = max.max(1);
        Self {
            inner: Arc::new(Inner {
                options,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(max as usize)),
                max,
                check_idle_after,
            }),
        }
    }

    /// The most connections the pool opens.
    pub fn max(&self) -> u32 {
        self.inner.max
    }

    /// How many connections are open and not in use.
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    /// A connection for one statement: give it back with [`Lease::release`] once the statement completed.
    pub async fn acquire(&self) -> Result<Lease<DB>, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.acquire_inner())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn acquire_inner(&self) -> Result<Lease<DB>, sqlx::Error> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(Idle {
                mut conn,
                since,
                suspect,
            }) = idle
            else {
                let conn = self.inner.options.connect().await?;
                return Ok(self.lease(conn, permit));
            };
            let stale = suspect
                || self
                    .inner
                    .check_idle_after
                    .is_some_and(|after| since.elapsed() >= after);
            // A connection that fails its test is dropped; the next idle one (or a new one) is tried.
            if !stale || conn.ping().await.is_ok() {
                return Ok(self.lease(conn, permit));
            }
        }
    }

    fn lease(&self, conn: DB::Connection, permit: OwnedSemaphorePermit) -> Lease<DB> {
        Lease {
            conn: Some(conn),
            inner: self.inner.clone(),
            _permit: permit,
        }
    }

    /// Closes the idle connections; connections in use are closed when they come back, and callers waiting
    /// for one get [`sqlx::Error::PoolClosed`].
    pub async fn close(&self) {
        self.inner.permits.close();
        let idle: Vec<_> = match self.inner.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for Idle { conn, .. } in idle {
            let _ = conn.close().await;
        }
    }
}

impl<DB: Database> StatementPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Runs `query` on a connection of the pool and returns its rows.
    pub async fn fetch_all<'q, A>(
        &self,
        query: Query<'q, DB, A>,
    ) -> Result<Vec<DB::Row>, sqlx::Error>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let mut conn = self.acquire().await?;
        let rows = query.fetch_all(&mut *conn).await;
        conn.release(&rows);
        rows
    }

    /// Runs `query` on a connection of the pool and returns its first row, if any.
    pub async fn fetch_optional<'q, A>(
        &self,
        query: Query<'q, DB, A>,
    ) -> Result<Option<DB::Row>, sqlx::Error>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let mut conn = self.acquire().await?;
        let row = query.fetch_optional(&mut *conn).await;
        conn.release(&row);
        row
    }

    /// Runs `query` on a connection of the pool and returns what it did.
    pub async fn execute<'q, A>(
        &self,
        query: Query<'q, DB, A>,
    ) -> Result<DB::QueryResult, sqlx::Error>
    where
        A: 'q + IntoArguments<'q, DB>,
    {
        let mut conn = self.acquire().await?;
        let done = query.execute(&mut *conn).await;
        conn.release(&done);
        done
    }
}

/// A connection taken from a [`StatementPool`]. Dropped without [`Lease::release`] (its caller was cancelled
/// half-way), the connection is closed rather than reused.
pub struct Lease<DB: Database> {
    conn: Option<DB::Connection>,
    inner: Arc<Inner<DB>>,
    _permit: OwnedSemaphorePermit,
}

impl<DB: Database> fmt::Debug for Lease<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("held", &self.conn.is_some())
            .finish()
    }
}

impl<DB: Database> Lease<DB> {
    /// Gives the connection back after its statement completed with `result`: reused when the statement ran
    /// to its end (a result, or an error the database answered with), closed when the connection failed.
    pub fn release<T>(self, result: &Result<T, sqlx::Error>) {
        self.release_after(result.as_ref().err());
    }

    /// [`Lease::release`] after a statement that failed with `error`, or succeeded (`None`).
    pub fn release_after(mut self, error: Option<&sqlx::Error>) {
        let Some(conn) = self.conn.take() else { return };
        let mut unused = Vec::new();
        if error.is_none_or(reusable_after)
            && !self.inner.permits.is_closed()
            && let Ok(mut idle) = self.inner.idle.lock()
        {
            // The least recently used connections are at the bottom of the stack.
            let expired = idle
                .iter()
                .take_while(|i| i.since.elapsed() >= IDLE_TIMEOUT)
                .count();
            unused.extend(idle.drain(..expired));
            idle.push(Idle {
                conn,
                since: Instant::now(),
                suspect: matches!(error, Some(sqlx::Error::Database(_))),
            });
        }
        // Closed (dropped) outside the lock.
        drop(unused);
    }
}

/// Whether a connection whose statement failed with `error` is in a known state: the database refused the
/// statement (sqlx reads the rest of its answer before the next statement), or the rows did not decode.
fn reusable_after(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
    )
}

impl<DB: Database> std::ops::Deref for Lease<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until released")
    }
}

impl<DB: Database> std::ops::DerefMut for Lease<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until released")
    }
}
