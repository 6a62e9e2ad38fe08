//! The login flow's commands on a session, as typed values.
//!
//! Only Warden itself issues them, from the login pages, for a browser that has no authenticated caller yet:
//! their permission (`instance.write`, checked on the instance) is what a management caller would need, and
//! none is given one. Validators see their serialized form; the browser's token hashes never appear in it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Session, TerminationReason};

/// `session.start`: a browser starts logging in (a login refused before any password check still leaves a
/// trail).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StartSession {
    /// A short summary of the browser's user agent.
    pub user_agent: String,
    /// The hash of the token the browser gets.
    #[serde(skip)]
    pub token_hash: String,
}

impl std::fmt::Debug for StartSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartSession")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

crate::command::command!(StartSession: Session, "session.start", InstanceWrite, on Instance, |self, session, ctx| {
    session.start(&self.user_agent, &self.token_hash, ctx)
});

/// `session.password.check`: records a verified password attempt on the session (started first when new) and
/// on the user (the failure count and the lockout), in one push. It decides on the user too, so the login
/// commands run it rather than the one-aggregate path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckPassword {
    /// The login name as entered.
    pub login_name: String,
}

crate::command::command!(CheckPassword: Session, "session.password.check", InstanceWrite, on Instance);

/// `session.second_factor.check`: records a right (`token_hash` set: the browser's new token) or failed second
/// factor.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckSecondFactor {
    /// The method, an RFC 8176 value such as `otp`.
    pub method: String,
    /// Whether the factor was right.
    pub succeeded: bool,
    /// The hash of the browser's new token, after a right factor.
    #[serde(skip)]
    pub token_hash: Option<String>,
}

impl std::fmt::Debug for CheckSecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSecondFactor")
            .field("method", &self.method)
            .field("succeeded", &self.succeeded)
            .finish_non_exhaustive()
    }
}

crate::command::command!(CheckSecondFactor: Session, "session.second_factor.check", InstanceWrite, on Instance, |self, session, ctx| {
    match (self.succeeded, &self.token_hash) {
        (true, Some(token_hash)) => session.check_second_factor(&self.method, token_hash, ctx),
        (true, None) => Err(crate::DomainError::invalid(
            "token_hash",
            "session.token_hash.missing",
            "a right second factor gives the browser a new token",
        )),
        (false, _) => session.fail_second_factor(&self.method, ctx),
    }
});

/// `session.deny`: an action refused the login at `hook`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DenySession {
    /// The hook whose action refused, e.g. `post-authentication`.
    pub hook: String,
    /// The reason the action gave (or why it could not be asked).
    pub reason: String,
}

crate::command::command!(DenySession: Session, "session.deny", InstanceWrite, on Instance, |self, session, ctx| {
    session.deny(&self.hook, &self.reason, ctx)
});

/// `session.terminate`: ends a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TerminateSession {
    /// Why.
    pub reason: TerminationReason,
}

crate::command::command!(TerminateSession: Session, "session.terminate", InstanceWrite, on Instance, |self, session, ctx| {
    session.terminate(self.reason, ctx)
});
