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
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl Error {
    /// Whether retrying the command on fresh state can succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
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
