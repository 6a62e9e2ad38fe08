//! Errors of the command side.

use warden_domain::{DecodeError, DomainError};

use crate::validator::{ValidatorError, Violation};

/// Why a command (or an authentication) did not succeed. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused the command (bad input, missing resource, wrong state, no permission, taken value).
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Validators refused the command.
    #[error("the command breaks {} rule(s) of the instance", .0.len())]
    Rejected(Vec<Violation>),
    /// The caller expected the target at another sequence than the current one.
    #[error("the {aggregate_type} is at sequence {actual}, not at the expected {expected}")]
    Stale {
        /// The target's aggregate type.
        aggregate_type: String,
        /// The sequence the caller expected.
        expected: i64,
        /// The current sequence.
        actual: i64,
    },
    /// The target kept changing concurrently; the command was retried and gave up.
    #[error("the {aggregate_type} {aggregate_id} is being changed concurrently; try again")]
    Contended {
        /// The target's aggregate type.
        aggregate_type: String,
        /// The target's id.
        aggregate_id: String,
    },
    /// The bearer token is missing, malformed, unknown, expired or belongs to an inactive user.
    #[error("missing, invalid or expired token")]
    Unauthenticated,
    /// A validator could not give a verdict.
    #[error(transparent)]
    Validator(#[from] ValidatorError),
    /// The eventstore failed.
    #[error("eventstore: {0}")]
    Store(#[from] warden_eventstore::Error),
    /// A stored event cannot be read back.
    #[error("stored event: {0}")]
    Decode(#[from] DecodeError),
    /// Hashing or checking a password failed.
    #[error("password hashing: {0}")]
    Hashing(String),
    /// A secret could not be sealed or opened with the master key (none configured, or a stored value that
    /// does not open).
    #[error("sealing: {0}")]
    Sealing(String),
}

impl CommandError {
    /// True for failures of Warden itself (to be logged, and answered without details).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Store(_)
                | Self::Decode(_)
                | Self::Hashing(_)
                | Self::Sealing(_)
                | Self::Validator(_)
        )
    }

    /// The domain's refusal, if this is one.
    pub fn as_refusal(&self) -> Option<&DomainError> {
        match self {
            Self::Refused(e) => Some(e),
            _ => None,
        }
    }
}

/// First-start bootstrap failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A command of the bootstrap failed.
    #[error("{step}: {source}")]
    Command {
        /// What the bootstrap was doing.
        step: &'static str,
        /// The failure.
        #[source]
        source: CommandError,
    },
    /// The admin token could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}
