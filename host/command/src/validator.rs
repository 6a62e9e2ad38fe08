//! The validator seam: rules outside the domain (for instance WebAssembly validator plugins) that may refuse
//! a command after the domain decided it and before its events are stored.

use std::{future::Future, pin::Pin};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The future a validator returns.
pub type ValidationFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Violation>, ValidatorError>> + Send + 'a>>;

/// A rule set consulted for every command the pipeline is about to store.
///
/// Validators run in the order they were configured, after the domain accepted the command and before the
/// push; the violations of all of them are collected and, if there are any, the command is refused with a
/// 4xx listing them and nothing is stored. A validator that cannot give a verdict returns a
/// [`ValidatorError`], which fails the command without storing anything.
pub trait CommandValidator: Send + Sync + std::fmt::Debug {
    /// Checks one command; an empty list means the command may go on.
    fn validate<'a>(&'a self, request: &'a ValidationRequest) -> ValidationFuture<'a>;

    /// Whether [`validate`](Self::validate) would check a command of `command_type` in this instance and
    /// organization at all. The pipeline builds a [`ValidationRequest`] (the state and the proposed events,
    /// serialized and redacted) only for validators that answer yes.
    fn applies(&self, _instance_id: &str, _org_id: Option<&str>, _command_type: &str) -> bool {
        true
    }
}

/// Who issues a command, as validators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationActor {
    /// The user id of the caller, or `system`.
    pub user_id: String,
    /// The caller's organization, if the caller is a user.
    pub org_id: Option<String>,
}

/// An event the command would store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedEvent {
    /// Stable name of the event type, e.g. `user.human.added`.
    pub event_type: String,
    /// Revision of the payload's shape.
    pub revision: u16,
    /// The payload, with hashes of secrets redacted.
    pub payload: Value,
}

/// Everything a validator knows about a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRequest {
    /// Stable name of the command, e.g. `user.human.add`.
    pub command_type: String,
    /// The instance (tenant).
    pub instance_id: String,
    /// The organization owning the target aggregate, when there is one.
    pub org_id: Option<String>,
    /// Type of the target aggregate, e.g. `user`.
    pub aggregate_type: String,
    /// Id of the target aggregate.
    pub aggregate_id: String,
    /// Who issues the command.
    pub actor: ValidationActor,
    /// The command's input as JSON; plaintext passwords and secrets are never included.
    pub payload: Value,
    /// The target's current state as JSON (hashes redacted); `None` when the command creates it.
    pub state: Option<Value>,
    /// The events the command would store.
    pub events: Vec<ProposedEvent>,
}

/// One rule a command breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The input field at fault, or empty for the command as a whole.
    pub field: String,
    /// A stable, machine-readable code.
    pub code: String,
    /// A message for the caller.
    pub message: String,
}

/// A validator could not give a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("validator {validator} failed: {reason}")]
pub struct ValidatorError {
    /// Which validator failed.
    pub validator: String,
    /// Why, for the logs (never shown to the caller).
    pub reason: String,
}
