//! Typed errors of the spoolers.

use warden_eventstore::Cursor;

/// What can go wrong running or asking the spoolers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No projection of that name is registered.
    #[error("unknown projection `{0}`")]
    UnknownProjection(String),
    /// Two projections share a name.
    #[error("projection `{0}` is registered twice")]
    DuplicateProjection(String),
    /// A projection declares no aggregate types or an unusable table name.
    #[error("projection `{projection}` is invalid: {reason}")]
    InvalidProjection {
        /// The projection.
        projection: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("spooler configuration: {0}")]
    Config(String),
    /// A projection did not reach the requested position within the bound.
    #[error("projection `{projection}` did not catch up with position {} within {waited_ms} ms", target.position)]
    CatchUpTimeout {
        /// The projection.
        projection: String,
        /// The position waited for.
        target: Cursor,
        /// How long the caller waited.
        waited_ms: u64,
    },
    /// The eventstore failed.
    #[error("eventstore: {0}")]
    Eventstore(#[from] warden_eventstore::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A projection could not run for now, for a reason outside the event; the run is retried with back-off.
    #[error("projection unavailable: {0}")]
    Unavailable(String),
}
