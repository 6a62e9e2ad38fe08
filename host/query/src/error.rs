//! Typed errors of the query services.

/// What can go wrong reading the views.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The spoolers failed, or a projection did not catch up in time for a read-your-writes read
    /// ([`warden_spooler::Error::CatchUpTimeout`]: the view exists but lags; answer "try again").
    #[error(transparent)]
    Spooler(#[from] warden_spooler::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl QueryError {
    /// Whether the read failed only because a projection lagged beyond the bound (retrying may succeed).
    pub fn is_catch_up_timeout(&self) -> bool {
        matches!(
            self,
            Self::Spooler(warden_spooler::Error::CatchUpTimeout { .. })
        )
    }
}

impl From<std::convert::Infallible> for QueryError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
