//! Login sessions: one browser's login of one user, aggregate type `"session"`.
//!
//! Every step of a login is an event, so the audit trail holds every login attempt: the session starts, the
//! user is identified by login name, the password is checked (or fails), a second factor is checked (or fails),
//! an action may refuse the login, and the session ends at logout.
//!
//! The browser proves it holds a session with a random token whose hash the session keeps (`token_hash`). Each
//! successful factor carries a new token hash: the token the browser held before logging in stops working once
//! the login succeeds, so a token planted in a browser before the login (session fixation) is worth nothing.
//!
//! A session is *authenticated* once the password was checked and, when one is required, a second factor too;
//! it stays so until terminated. Whether it is still young enough to be used is the caller's decision (the
//! domain has no clock): [`Session::auth_time_unix_ms`] says when the user last proved their password.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, CommandContext, Decision, domain_events, no_upcast};
use crate::error::DomainError;
use crate::validate;

mod commands;

pub use commands::{CheckPassword, CheckSecondFactor, DenySession, StartSession, TerminateSession};

/// The longest user agent summary kept, in characters.
pub const MAX_USER_AGENT_LEN: usize = 200;
/// The longest login name recorded for a failed attempt, in characters.
pub const MAX_LOGIN_NAME_LEN: usize = 200;
/// The longest reason recorded for a refusal or termination, in characters.
pub const MAX_REASON_LEN: usize = 500;

/// Payload of `session.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStarted {
    /// A short summary of the browser's user agent.
    pub user_agent: String,
    /// The hash of the token the browser holds.
    pub token_hash: String,
    /// When the session started, in ms since the Unix epoch.
    pub created_at_unix_ms: i64,
}

/// Payload of `session.user.identified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentified {
    /// The user.
    pub user_id: String,
    /// The user's organization.
    pub org_id: String,
    /// The login name the user entered.
    pub login_name: String,
}

/// Payload of `session.password.checked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChecked {
    /// When, in ms since the Unix epoch (the session's `auth_time`).
    pub checked_at_unix_ms: i64,
    /// The hash of the browser's new token.
    pub token_hash: String,
    /// A second factor must be checked before the session is authenticated.
    pub second_factor_required: bool,
}

/// Why a password check failed. The login page shows the same text for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// No user has the login name (or it is a machine user).
    UnknownUser,
    /// The password does not match.
    WrongPassword,
    /// The user is locked.
    Locked,
    /// The user is deactivated, or its organization is.
    Inactive,
    /// The user has no password.
    NoPassword,
}

/// Payload of `session.password.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordFailed {
    /// The login name as entered.
    pub login_name: String,
    /// Why.
    pub reason: FailureReason,
}

/// Payload of `session.second_factor.checked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorChecked {
    /// The method, an RFC 8176 value such as `otp`.
    pub method: String,
    /// When, in ms since the Unix epoch.
    pub checked_at_unix_ms: i64,
    /// The hash of the browser's new token.
    pub token_hash: String,
}

/// Payload of `session.second_factor.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondFactorFailed {
    /// The method, an RFC 8176 value such as `otp`.
    pub method: String,
}

/// Payload of `session.denied`: an action refused the login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDenied {
    /// The hook whose action refused, e.g. `post-authentication`.
    pub hook: String,
    /// The reason the action gave (or why it could not be asked).
    pub reason: String,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TerminationReason {
    /// The user logged out (on the login pages or through the client's end-session request).
    Logout,
    /// The user logged in again in the same browser; this session was replaced.
    Replaced,
}

/// Payload of `session.terminated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTerminated {
    /// Why.
    pub reason: TerminationReason,
}

domain_events! {
    /// Events of the session aggregate.
    pub enum SessionEvent {
        /// A browser started logging in.
        Started(SessionStarted) => "session.started" @ 1,
        /// The login name named a user.
        UserIdentified(UserIdentified) => "session.user.identified" @ 1,
        /// The user's password was right.
        PasswordChecked(PasswordChecked) => "session.password.checked" @ 1,
        /// A password check failed.
        PasswordFailed(PasswordFailed) => "session.password.failed" @ 1,
        /// A second factor was right.
        SecondFactorChecked(SecondFactorChecked) => "session.second_factor.checked" @ 1,
        /// A second factor check failed.
        SecondFactorFailed(SecondFactorFailed) => "session.second_factor.failed" @ 1,
        /// An action refused the login; the session cannot be authenticated any more.
        Denied(SessionDenied) => "session.denied" @ 1,
        /// The session ended.
        Terminated(SessionTerminated) => "session.terminated" @ 1,
    }
    upcast = no_upcast;
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// No events yet.
    #[default]
    Unspecified,
    /// Started; the login is under way or done.
    Active,
    /// An action refused the login.
    Denied,
    /// Ended.
    Terminated,
}

/// A factor the user proved, with when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    /// RFC 8176 method: `pwd`, `otp`.
    pub method: String,
    /// When, in ms since the Unix epoch.
    pub checked_at_unix_ms: i64,
}

/// State of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Where the session stands.
    pub status: SessionStatus,
    /// When it started, in ms since the Unix epoch.
    pub created_at_unix_ms: i64,
    /// The browser's user agent summary.
    pub user_agent: String,
    /// The hash of the token the browser must present.
    pub token_hash: String,
    /// The identified user.
    pub user_id: Option<String>,
    /// The identified user's organization.
    pub org_id: Option<String>,
    /// The login name the user entered.
    pub login_name: Option<String>,
    /// When the password was last checked, in ms since the Unix epoch.
    pub auth_time_unix_ms: Option<i64>,
    /// The password check asked for a second factor.
    pub second_factor_required: bool,
    /// The factors proved since the last password check, in order.
    pub factors: Vec<Factor>,
    /// Failed password and second factor checks.
    pub failed_attempts: u32,
}

impl Aggregate for Session {
    const TYPE: &'static str = "session";
    type Event = SessionEvent;

    fn apply(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::Started(e) => {
                self.status = SessionStatus::Active;
                self.user_agent.clone_from(&e.user_agent);
                self.token_hash.clone_from(&e.token_hash);
                self.created_at_unix_ms = e.created_at_unix_ms;
            }
            SessionEvent::UserIdentified(e) => {
                self.user_id = Some(e.user_id.clone());
                self.org_id = Some(e.org_id.clone());
                self.login_name = Some(e.login_name.clone());
            }
            SessionEvent::PasswordChecked(e) => {
                self.token_hash.clone_from(&e.token_hash);
                self.auth_time_unix_ms = Some(e.checked_at_unix_ms);
                self.second_factor_required = e.second_factor_required;
                self.factors = vec![Factor {
                    method: "pwd".to_owned(),
                    checked_at_unix_ms: e.checked_at_unix_ms,
                }];
            }
            SessionEvent::PasswordFailed(_) | SessionEvent::SecondFactorFailed(_) => {
                self.failed_attempts = self.failed_attempts.saturating_add(1);
            }
            SessionEvent::SecondFactorChecked(e) => {
                self.token_hash.clone_from(&e.token_hash);
                self.factors.push(Factor {
                    method: e.method.clone(),
                    checked_at_unix_ms: e.checked_at_unix_ms,
                });
            }
            SessionEvent::Denied(_) => self.status = SessionStatus::Denied,
            SessionEvent::Terminated(_) => self.status = SessionStatus::Terminated,
        }
    }
}

impl Session {
    /// Started and neither refused nor ended.
    pub fn is_active(&self) -> bool {
        self.status == SessionStatus::Active
    }

    /// The password was checked.
    pub fn password_checked(&self) -> bool {
        self.factors.iter().any(|f| f.method == "pwd")
    }

    /// A second factor was checked after the password.
    pub fn second_factor_checked(&self) -> bool {
        self.factors.iter().any(|f| f.method != "pwd")
    }

    /// Active, password checked, and the second factor checked when one is required.
    pub fn is_authenticated(&self) -> bool {
        self.is_active()
            && self.user_id.is_some()
            && self.password_checked()
            && (!self.second_factor_required || self.second_factor_checked())
    }

    /// Waits for a second factor: the password was checked, the second factor is required and not checked yet.
    pub fn awaits_second_factor(&self) -> bool {
        self.is_active()
            && self.password_checked()
            && self.second_factor_required
            && !self.second_factor_checked()
    }

    /// The RFC 8176 `amr` values: `pwd`, then each second factor, then `mfa` when there is more than one factor.
    pub fn amr(&self) -> Vec<String> {
        let mut amr: Vec<String> = Vec::new();
        for factor in &self.factors {
            if !amr.contains(&factor.method) {
                amr.push(factor.method.clone());
            }
        }
        if amr.len() > 1 {
            amr.push("mfa".to_owned());
        }
        amr
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.status == SessionStatus::Unspecified {
            return Err(DomainError::not_found(
                "session.not_found",
                "the session does not exist",
            ));
        }
        Ok(())
    }

    fn ensure_active(&self) -> Result<(), DomainError> {
        self.ensure_exists()?;
        match self.status {
            SessionStatus::Denied => Err(DomainError::precondition(
                "session.denied",
                "the login was refused; start a new login",
            )),
            SessionStatus::Terminated => Err(DomainError::precondition(
                "session.terminated",
                "the session has ended; start a new login",
            )),
            _ => Ok(()),
        }
    }

    /// Starts a session for a browser whose token hashes to `token_hash`.
    pub fn start(
        &self,
        user_agent: &str,
        token_hash: &str,
        ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        if self.status != SessionStatus::Unspecified {
            return Err(DomainError::already_exists(
                "session.already_exists",
                "a session with this id already exists",
            ));
        }
        let token_hash = validate::secret_hash("session.token_hash", "token_hash", token_hash)?;
        Ok(Decision::event(SessionEvent::Started(SessionStarted {
            user_agent: truncate(user_agent, MAX_USER_AGENT_LEN),
            token_hash,
            created_at_unix_ms: ctx.now_unix_ms,
        })))
    }

    /// Records the user a login name named. A session identifies one user: once the password was checked for
    /// one, another user needs a new session.
    pub fn identify_user(
        &self,
        user_id: &str,
        org_id: &str,
        login_name: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        if self.user_id.as_deref() == Some(user_id) {
            return Ok(Decision::unchanged());
        }
        if self.password_checked() {
            return Err(DomainError::precondition(
                "session.user.already_authenticated",
                "another user already logged in with this session; start a new login",
            ));
        }
        Ok(Decision::event(SessionEvent::UserIdentified(
            UserIdentified {
                user_id: user_id.to_owned(),
                org_id: org_id.to_owned(),
                login_name: truncate(login_name, MAX_LOGIN_NAME_LEN),
            },
        )))
    }

    /// Records a right password of the identified user; the browser's token is replaced by `token_hash`.
    pub fn check_password(
        &self,
        token_hash: &str,
        second_factor_required: bool,
        ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        if self.user_id.is_none() {
            return Err(DomainError::precondition(
                "session.user.unknown",
                "no user is identified in this session",
            ));
        }
        let token_hash = validate::secret_hash("session.token_hash", "token_hash", token_hash)?;
        Ok(Decision::event(SessionEvent::PasswordChecked(
            PasswordChecked {
                checked_at_unix_ms: ctx.now_unix_ms,
                token_hash,
                second_factor_required,
            },
        )))
    }

    /// Records a failed password check.
    pub fn fail_password(
        &self,
        login_name: &str,
        reason: FailureReason,
        _ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        Ok(Decision::event(SessionEvent::PasswordFailed(
            PasswordFailed {
                login_name: truncate(login_name, MAX_LOGIN_NAME_LEN),
                reason,
            },
        )))
    }

    /// Records a right second factor after the password; the browser's token is replaced by `token_hash`.
    pub fn check_second_factor(
        &self,
        method: &str,
        token_hash: &str,
        ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        if !self.password_checked() {
            return Err(DomainError::precondition(
                "session.password.unchecked",
                "the password must be checked before a second factor",
            ));
        }
        let method = check_method(method)?;
        let token_hash = validate::secret_hash("session.token_hash", "token_hash", token_hash)?;
        Ok(Decision::event(SessionEvent::SecondFactorChecked(
            SecondFactorChecked {
                method,
                checked_at_unix_ms: ctx.now_unix_ms,
                token_hash,
            },
        )))
    }

    /// Records a failed second factor check.
    pub fn fail_second_factor(
        &self,
        method: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        if !self.password_checked() {
            return Err(DomainError::precondition(
                "session.password.unchecked",
                "the password must be checked before a second factor",
            ));
        }
        let method = check_method(method)?;
        Ok(Decision::event(SessionEvent::SecondFactorFailed(
            SecondFactorFailed { method },
        )))
    }

    /// Records that an action refused the login at `hook`; the session cannot be used any more.
    pub fn deny(
        &self,
        hook: &str,
        reason: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_active()?;
        Ok(Decision::event(SessionEvent::Denied(SessionDenied {
            hook: truncate(hook, MAX_REASON_LEN),
            reason: truncate(reason, MAX_REASON_LEN),
        })))
    }

    /// Ends the session. Ending an ended or refused session changes nothing.
    pub fn terminate(
        &self,
        reason: TerminationReason,
        _ctx: &CommandContext,
    ) -> Result<Decision<SessionEvent>, DomainError> {
        self.ensure_exists()?;
        if self.status != SessionStatus::Active {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(SessionEvent::Terminated(
            SessionTerminated { reason },
        )))
    }
}

fn check_method(method: &str) -> Result<String, DomainError> {
    match method {
        "otp" | "hwk" | "sms" | "email" => Ok(method.to_owned()),
        _ => Err(DomainError::invalid(
            "method",
            "session.second_factor.method.unknown",
            format!("`{method}` is not a second factor method (otp, hwk, sms, email)"),
        )),
    }
}

/// At most `max` characters of `text`, without control characters.
fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests;
