//! Errors of the domain: refusals of a command ([`DomainError`]) and failures to read a stored event
//! ([`DecodeError`]).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// What kind of refusal a [`DomainError`] is; each maps to one HTTP status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is malformed or out of bounds (HTTP 400).
    InvalidArgument,
    /// The addressed resource does not exist or was removed (HTTP 404).
    NotFound,
    /// A resource with the same identity or unique value already exists (HTTP 409).
    AlreadyExists,
    /// The resource is not in a state that allows the command (HTTP 409, or 412 for conditional requests).
    PreconditionFailed,
    /// The caller lacks a permission on the target (HTTP 403).
    PermissionDenied,
}

impl ErrorKind {
    /// The stable lower-case name of the kind, e.g. `"invalid_argument"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PreconditionFailed => "precondition_failed",
            Self::PermissionDenied => "permission_denied",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command refused by the domain, with everything an API needs for a clear 4xx answer.
///
/// `code` is machine-readable and stable (e.g. `"user.email.invalid"`), `field` names the input at fault
/// when there is one (e.g. `"email"`, `"redirect_uris[1]"`), and `message` says what is wrong and why.
/// Messages never contain secrets: hashes and keys are not echoed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    /// The class of refusal.
    pub kind: ErrorKind,
    /// A stable, machine-readable code such as `"org.name.taken"`.
    pub code: Cow<'static, str>,
    /// The input field at fault, as a path into the request (`"roles[0]"`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A human-readable explanation of what is wrong and why.
    pub message: String,
}

impl DomainError {
    /// An error of any kind without a field.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: code.into(),
            field: None,
            message: message.into(),
        }
    }

    /// Bad input in `field`.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ErrorKind::InvalidArgument, code, message).with_field(field)
    }

    /// The addressed resource does not exist.
    pub fn not_found(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, message)
    }

    /// The resource or value already exists.
    pub fn already_exists(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, code, message)
    }

    /// The current state does not allow the command.
    pub fn precondition(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, code, message)
    }

    /// The caller may not do this.
    pub fn permission_denied(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ErrorKind::PermissionDenied, code, message)
    }

    /// The same error, naming `field` as the input at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// A stored event that cannot be turned back into a domain event.
///
/// This is never the caller's fault: it means the event log holds something this version cannot read, and the
/// pipeline should report it as an internal error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No event of this aggregate has this type name.
    #[error("unknown event type {event_type:?}")]
    UnknownEventType {
        /// The stored event type.
        event_type: String,
    },
    /// The revision is newer than this version knows, or an older one with no upcaster.
    #[error("event type {event_type:?} has no readable revision {revision} (current is {current})")]
    UnsupportedRevision {
        /// The stored event type.
        event_type: String,
        /// The stored revision.
        revision: u16,
        /// The revision this version writes.
        current: u16,
    },
    /// The payload does not have the shape of its type and revision.
    #[error("payload of {event_type:?} revision {revision} is invalid: {reason}")]
    InvalidPayload {
        /// The stored event type.
        event_type: String,
        /// The stored revision.
        revision: u16,
        /// What the decoder found wrong.
        reason: String,
    },
}

impl DecodeError {
    /// An invalid payload for `event_type` at `revision`.
    pub fn invalid_payload(event_type: &str, revision: u16, reason: impl fmt::Display) -> Self {
        Self::InvalidPayload {
            event_type: event_type.to_owned(),
            revision,
            reason: reason.to_string(),
        }
    }
}
