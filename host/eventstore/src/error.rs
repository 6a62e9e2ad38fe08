//! Typed errors of the eventstore.

/// What can go wrong in the eventstore.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another push changed the aggregate since the caller read it; reload and decide again.
    #[error("aggregate {aggregate_type} {aggregate_id} was changed concurrently")]
    Conflict {
        /// Type of the aggregate that conflicted.
        aggregate_type: String,
        /// Id of the aggregate that conflicted.
        aggregate_id: String,
        /// The sequence the push expected, `None` for [`crate::Expected::Any`].
        expected: Option<i64>,
    },
    /// A unique value the push claims is taken.
    #[error("{unique_type} `{value}` is already taken")]
    UniqueTaken {
        /// The kind of unique value, e.g. `login_name`.
        unique_type: String,
        /// The value that is taken.
        value: String,
    },
    /// The push itself is malformed (a programming error of the caller).
    #[error("invalid push: {0}")]
    InvalidPush(String),
    /// A stored event cannot be read back.
    #[error("event at position {position} is corrupt: {reason}")]
    Corrupt {
        /// Position of the event.
        position: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// Applying a schema migration failed.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Version of the failing migration.
        version: i64,
        /// Name of the failing migration.
        name: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
    /// The database is newer than this binary (it has migrations this binary does not know).
    #[error(
        "the database has migration {0}, which this version of Warden does not know; upgrade Warden"
    )]
    UnknownMigration(i64),
    /// A migration applied to the database was changed afterwards: its file no longer matches the checksum
    /// recorded when it ran. Warden refuses to start, since the schema may not be what the file says.
    #[error(
        "migration {version} was changed after it was applied: {file} has SHA-256 {actual}, but {recorded} was \
         recorded when it ran; restore the file and put the change in a new migration"
    )]
    MigrationChanged {
        /// Version of the changed migration.
        version: i64,
        /// The migration's file, e.g. `migrations/sqlite/0001_events.sql`.
        file: String,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of the file as embedded in this binary.
        actual: String,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// Whether retrying the command on fresh state can succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// Whether the database, not the request, failed in a way that passes (see [`is_transient`]): the same
    /// call can succeed a moment later.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(err) => is_transient(err),
            _ => false,
        }
    }
}

/// Whether a database error is a passing condition of the database or its connection rather than a fault of
/// the statement or the data: retrying the same work later can succeed.
///
/// PostgreSQL (by SQLSTATE): connection exceptions (class 08), serialization failure (40001), deadlock
/// (40P01), insufficient resources such as a full disk, out of memory or too many connections (class 53),
/// lock not available (55P03), query canceled by a statement timeout (57014), operator intervention such as
/// an administrator or crash shutdown (57P). SQLite (by primary result code, whatever the extended code):
/// BUSY, LOCKED, NOMEM, READONLY, IOERR and FULL. Lost connections, pool timeouts and protocol errors too.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
        _ => false,
    }
}

/// [`is_transient`] on a database error code: a five-character PostgreSQL SQLSTATE, or SQLite's (extended)
/// result code in decimal.
fn is_transient_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || matches!(code, "40001" | "40P01" | "55P03" | "57014");
    }
    const SQLITE_NOMEM: i64 = 7;
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_READONLY: i64 = 8;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_FULL: i64 = 13;
    code.parse::<i64>().is_ok_and(|extended| {
        matches!(
            extended & 0xff,
            SQLITE_BUSY
                | SQLITE_LOCKED
                | SQLITE_NOMEM
                | SQLITE_READONLY
                | SQLITE_IOERR
                | SQLITE_FULL
        )
    })
}

/// Whether `err` or any error in its chain of sources is a transient database error ([`is_transient`]):
/// lets an outer layer answer "try again" without knowing the layers in between.
pub fn is_transient_source(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(sqlx) = err.downcast_ref::<sqlx::Error>()
            && is_transient(sqlx)
        {
            return true;
        }
        if let Some(store) = err.downcast_ref::<Error>()
            && store.is_transient()
        {
            return true;
        }
        current = err.source();
    }
    false
}

/// Whether a database error is PostgreSQL's deadlock or serialization failure (safe to retry).
pub(crate) fn is_retryable_pg(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Whether a database error is a unique-key violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::is_transient_code;

    #[test]
    fn transient_codes_of_both_backends() {
        for code in [
            "08006", "08003", "40001", "40P01", "53100", "53200", "53300", "55P03", "57014",
            "57P01",
        ] {
            assert!(is_transient_code(code), "PostgreSQL {code}");
        }
        for code in ["23505", "42P01", "22P02", "55000", "57000"] {
            assert!(!is_transient_code(code), "PostgreSQL {code}");
        }
        // BUSY, BUSY_SNAPSHOT, LOCKED, LOCKED_SHAREDCACHE, NOMEM, READONLY, READONLY_DBMOVED, IOERR,
        // IOERR_READ, IOERR_FSYNC, FULL.
        for code in [
            "5", "517", "6", "262", "7", "8", "1032", "10", "266", "1034", "13",
        ] {
            assert!(is_transient_code(code), "SQLite {code}");
        }
        // ERROR, CONSTRAINT_UNIQUE, CONSTRAINT_PRIMARYKEY, MISMATCH, CORRUPT.
        for code in ["1", "2067", "1555", "20", "11"] {
            assert!(!is_transient_code(code), "SQLite {code}");
        }
    }
}
