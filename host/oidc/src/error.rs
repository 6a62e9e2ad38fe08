//! Errors of the provider's services.

/// Why an operation of the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// No authorization request with this id in this instance (unknown, expired or already used).
    #[error("authorization request `{0}` not found or expired")]
    AuthRequestNotFound(String),
    /// The request cannot be completed as asked (e.g. the session's user may not use the app).
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(String),
    /// An action plugin bound failing closed failed (pre-token, pre-userinfo).
    #[error("{0}")]
    ActionFailed(String),
    /// Something the provider depends on is not ready (e.g. no signing key yet).
    #[error("unavailable: {0}")]
    Unavailable(String),
}
