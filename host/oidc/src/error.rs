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
    /// A stored signing key does not open with this node's master key: the node was given another master key
    /// than the one the keys were sealed with (every node on one database needs the same).
    #[error(
        "the master key cannot decrypt the stored signing key `{kid}`: this node's master key (`master_key` in \
         the config file, WARDEN_MASTER_KEY, or <data_dir>/master.key) is not the one the signing keys in this \
         database were sealed with; configure every node on one database with the same master key"
    )]
    MasterKeyMismatch {
        /// The key that did not open.
        kid: String,
    },
}
