//! Read-only SQLite connections used on the calling thread.
//!
//! An sqlx SQLite connection lives on a thread of its own: every statement is a message to that thread and
//! its rows a message back, so a read costs two thread wake-ups besides the read itself. For the
//! eventstore's reads (an aggregate's events, a page of the stream, the head, whether a value is taken:
//! an index lookup or a bounded page that takes microseconds) the wake-ups cost more than the read. These
//! connections run the statement on the caller's thread instead; a caller never waits on another thread
//! except for the short lock on the list of idle connections. A read in WAL mode never waits for the
//! writer, so the thread is held for the read alone.

use std::{borrow::Cow, error::Error as StdError, fmt, path::PathBuf, sync::Mutex, time::Duration};

use rusqlite::{Connection, OpenFlags};
use sqlx::error::{DatabaseError, ErrorKind};

/// Prepared statements kept per connection (the stream reads vary with their filters).
const STATEMENT_CACHE: usize = 64;

/// How long a read waits on a lock held by a checkpoint or a recovery before it fails (the writer's
/// setting).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of read-only connections to one database file, opened when first needed.
pub(crate) struct LocalReads {
    path: PathBuf,
    /// Connections not in use, the most recently used last (handed out first: warm caches).
    idle: Mutex<Vec<Connection>>,
    /// Most idle connections kept; more may exist while many callers read at once.
    keep: usize,
}

impl fmt::Debug for LocalReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalReads")
            .field("path", &self.path)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

impl LocalReads {
    pub(crate) fn new(path: PathBuf, keep: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one), on this thread.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open().map_err(local_error)?,
        };
        let result = read(&conn);
        // A connection whose statement failed is closed rather than kept: it may hold an unfinished statement.
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        result.map_err(local_error)
    }

    /// Closes the idle connections (those in use close when their read ends).
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A failure of SQLite as the rest of the eventstore reports one: a database error with SQLite's extended
/// result code, so [`crate::is_transient`] judges it as it judges sqlx's.
pub(crate) fn local_error(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            sqlx::Error::Database(Box::new(LocalError {
                code: failure.extended_code,
                message: message.unwrap_or_else(|| failure.to_string()),
            }))
        }
        other => sqlx::Error::Decode(Box::new(other)),
    }
}

#[derive(Debug)]
struct LocalError {
    code: i32,
    message: String,
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl StdError for LocalError {}

impl DatabaseError for LocalError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_failures_keep_their_code_and_busy_is_transient() {
        let busy = local_error(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        ));
        assert!(crate::is_transient(&busy));
        let constraint = local_error(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
            None,
        ));
        assert!(!crate::is_transient(&constraint));
        match constraint {
            sqlx::Error::Database(db) => assert_eq!(db.code().as_deref(), Some("2067")),
            other => panic!("not a database error: {other:?}"),
        }
    }

    #[test]
    fn a_failed_read_is_an_error_and_its_connection_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (7);",
            )
            .unwrap();
        let reads = LocalReads::new(path, 2);
        let n: i64 = reads
            .read(|conn| conn.query_row("SELECT n FROM t", [], |row| row.get(0)))
            .unwrap();
        assert_eq!(n, 7);
        assert_eq!(reads.idle.lock().unwrap().len(), 1);
        let missing = reads
            .read(|conn| conn.query_row("SELECT n FROM missing", [], |row| row.get::<_, i64>(0)));
        assert!(matches!(missing, Err(sqlx::Error::Database(_))));
        assert_eq!(reads.idle.lock().unwrap().len(), 0);
        // The connection is read-only: a write through it is refused, never applied.
        let write = reads.read(|conn| conn.execute("INSERT INTO t VALUES (8)", []));
        assert!(write.is_err());
        let count: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 1);
    }
}
