//! A human's second factor (TOTP) and the one-time codes sent by email (email verification, password reset).
//!
//! The domain stays pure: it never sees a plaintext code or a TOTP secret.
//!
//! - **TOTP** (RFC 6238). The secret arrives *sealed* (encrypted by the command layer with the instance's
//!   master key) and is stored so in `user.human.otp.added`; the enrolment is confirmed by a first valid code
//!   (`user.human.otp.verified`). The command layer checks a code against the secret and passes in the
//!   *time step* the code matched (or `None`); the domain accepts each time step at most once, so a code
//!   cannot be replayed, not even within its 30-second window.
//! - **Failed second-factor checks** are counted apart from failed password checks
//!   ([`Human::failed_otp_attempts`]); either counter reaching the lockout policy's
//!   `max_password_attempts` locks the user. A separate count keeps one factor's successes from wiping the
//!   other's failures (a correct password must not reset the count of wrong codes).
//! - **Codes** (email verification, password reset) arrive as their hash with an expiry. A check compares
//!   the hash of what the user typed (constant time) and the expiry; the code is used up by the event it
//!   allows (`user.human.email.verified`, `user.human.password.changed`), and a newer code replaces an older.

use serde::{Deserialize, Serialize};

use super::{User, UserEvent};
use crate::aggregate::{CommandContext, Decision, Lifecycle};
use crate::error::DomainError;
use crate::policy::LockoutPolicy;
use crate::validate;

/// The longest sealed TOTP secret accepted (the sealed form of a 20-byte secret is far shorter).
pub const MAX_SEALED_SECRET_LEN: usize = 1024;

/// Payload of `user.human.otp.added`: a TOTP secret awaiting its first code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpAdded {
    /// The secret, sealed with the instance's master key (never the plaintext).
    pub secret_sealed: String,
}

/// Payload of `user.human.otp.verified` and `user.human.otp.check.succeeded`: the time step (Unix time / 30 s)
/// of the code accepted, which no later code may reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpStep {
    /// The RFC 6238 time step the code matched.
    pub step: u64,
}

/// Payload of `user.human.email.code.added` and `user.human.password.code.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeAdded {
    /// The code's hash (never the code).
    pub code_hash: String,
    /// When the code stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// A human's TOTP second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Otp {
    /// The sealed secret.
    pub secret_sealed: String,
    /// True once a first code confirmed the enrolment; only then does it count at login.
    pub verified: bool,
    /// The latest time step accepted; codes of this step or earlier are refused.
    pub last_step: Option<u64>,
}

/// A pending one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingCode {
    /// The code's hash.
    pub code_hash: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// Which kind of emailed code a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// The code that verifies the email address.
    EmailVerification,
    /// The code that allows setting a new password.
    PasswordReset,
}

impl CodeKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::EmailVerification => "user.email.code",
            Self::PasswordReset => "user.password.code",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::EmailVerification => "email verification code",
            Self::PasswordReset => "password reset code",
        }
    }
}

/// Compares two strings in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_code_hash(code_hash: &str) -> Result<String, DomainError> {
    validate::secret_hash("user.code_hash", "code_hash", code_hash)
}

impl User {
    /// Checks `code_hash` against the pending code of `kind`: `Ok` when it matches and has not expired.
    /// Refusals: no code pending (`<kind>.not_found`, 404), expired (`<kind>.expired`, 409), wrong
    /// (`<kind>.invalid`, 400 on the field `code`).
    pub fn check_code(
        &self,
        kind: CodeKind,
        code_hash: &str,
        ctx: &CommandContext,
    ) -> Result<(), DomainError> {
        let human = self.existing_human()?;
        let pending = match kind {
            CodeKind::EmailVerification => human.email_code.as_ref(),
            CodeKind::PasswordReset => human.password_code.as_ref(),
        };
        let Some(pending) = pending else {
            return Err(DomainError::not_found(
                format!("{}.not_found", kind.prefix()),
                format!("no {} is pending; request a new one", kind.what()),
            )
            .with_field("code"));
        };
        if !same(&pending.code_hash, code_hash) {
            return Err(DomainError::invalid(
                "code",
                format!("{}.invalid", kind.prefix()),
                format!("the {} is wrong", kind.what()),
            ));
        }
        if ctx.now_unix_ms >= pending.expires_at_unix_ms {
            return Err(DomainError::precondition(
                format!("{}.expired", kind.prefix()),
                format!("the {} has expired; request a new one", kind.what()),
            )
            .with_field("code"));
        }
        Ok(())
    }

    /// Stores a new email verification code (replacing any pending one). Refused when the email is
    /// already verified.
    pub fn add_email_code(
        &self,
        code_hash: &str,
        expires_at_unix_ms: i64,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if human.email_verified {
            return Err(DomainError::precondition(
                "user.email.already_verified",
                "the email is already verified",
            ));
        }
        let code = new_code(code_hash, expires_at_unix_ms, ctx)?;
        Ok(Decision::event(UserEvent::EmailCodeAdded(code)))
    }

    /// Verifies the email with the code sent to it; the code is used up.
    pub fn verify_email_with_code(
        &self,
        code_hash: &str,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if human.email_verified {
            return Err(DomainError::precondition(
                "user.email.already_verified",
                "the email is already verified",
            ));
        }
        self.check_code(CodeKind::EmailVerification, code_hash, ctx)?;
        Ok(Decision::event(UserEvent::EmailVerified))
    }

    /// Stores a new password reset code (replacing any pending one). A deactivated user gets none.
    pub fn add_password_code(
        &self,
        code_hash: &str,
        expires_at_unix_ms: i64,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.existing_human()?;
        self.ensure_active()?;
        let code = new_code(code_hash, expires_at_unix_ms, ctx)?;
        Ok(Decision::event(UserEvent::PasswordCodeAdded(code)))
    }

    /// Sets a new password with a password reset code; the code is used up (any password change uses it
    /// up). The caller checks the code first with [`check_code`](Self::check_code) so it hashes a password
    /// only for a valid code, then checks the complexity policy and hashes.
    pub fn reset_password_with_code(
        &self,
        code_hash: &str,
        password_hash: &str,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.existing_human()?;
        self.ensure_active()?;
        self.check_code(CodeKind::PasswordReset, code_hash, ctx)?;
        self.set_password(password_hash, false, ctx)
    }

    /// Starts a TOTP enrolment with a sealed secret; replaces an enrolment not yet verified. Refused when a
    /// verified second factor exists (remove it first).
    pub fn add_otp(
        &self,
        secret_sealed: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if human.otp.as_ref().is_some_and(|otp| otp.verified) {
            return Err(DomainError::already_exists(
                "user.otp.already_enrolled",
                "the user already has a verified authenticator app; remove it before enrolling another",
            ));
        }
        let secret_sealed = secret_sealed.trim();
        if secret_sealed.is_empty() || secret_sealed.len() > MAX_SEALED_SECRET_LEN {
            return Err(DomainError::invalid(
                "secret_sealed",
                "user.otp.secret.invalid",
                format!("the sealed secret must be 1 to {MAX_SEALED_SECRET_LEN} bytes"),
            ));
        }
        Ok(Decision::event(UserEvent::OtpAdded(OtpAdded {
            secret_sealed: secret_sealed.to_owned(),
        })))
    }

    /// Confirms a pending TOTP enrolment with the time step a first code matched (`None`: the code was
    /// wrong, refused as `user.otp.code.invalid` on the field `code`).
    pub fn verify_otp(
        &self,
        matched_step: Option<u64>,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        let Some(otp) = &human.otp else {
            return Err(DomainError::not_found(
                "user.otp.not_found",
                "the user has no authenticator app to verify; enroll one first",
            ));
        };
        if otp.verified {
            return Err(DomainError::precondition(
                "user.otp.already_verified",
                "the authenticator app is already verified",
            ));
        }
        match matched_step {
            Some(step) => Ok(Decision::event(UserEvent::OtpVerified(OtpStep { step }))),
            None => Err(invalid_otp_code()),
        }
    }

    /// Removes the second factor (verified or pending).
    pub fn remove_otp(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if human.otp.is_none() {
            return Err(DomainError::not_found(
                "user.otp.not_found",
                "the user has no authenticator app",
            ));
        }
        Ok(Decision::event(UserEvent::OtpRemoved))
    }

    /// Records a TOTP check at login, given the time step the code matched (`None` for a wrong code). A step
    /// at or before the last one accepted is a replay and fails. Failures lock the user once the lockout
    /// policy's maximum is reached (counted apart from password failures).
    pub fn record_otp_check(
        &self,
        matched_step: Option<u64>,
        lockout: &LockoutPolicy,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        self.ensure_active()?;
        if self.locked {
            return Err(DomainError::precondition(
                "user.locked",
                "the user is locked",
            ));
        }
        let Some(otp) = human.otp.as_ref().filter(|otp| otp.verified) else {
            return Err(DomainError::precondition(
                "user.otp.not_enrolled",
                "the user has no verified authenticator app",
            ));
        };
        let fresh = matched_step.filter(|step| otp.last_step.is_none_or(|last| *step > last));
        if let Some(step) = fresh {
            return Ok(Decision::event(UserEvent::OtpCheckSucceeded(OtpStep {
                step,
            })));
        }
        let failures = human.failed_otp_attempts.saturating_add(1);
        let max = u32::from(lockout.max_password_attempts);
        let decision = Decision::event(UserEvent::OtpCheckFailed);
        Ok(if max > 0 && failures >= max {
            decision.and(UserEvent::Locked)
        } else {
            decision
        })
    }

    /// True when the user has a verified second factor that login must ask for.
    pub fn has_verified_otp(&self) -> bool {
        self.human()
            .and_then(|h| h.otp.as_ref())
            .is_some_and(|otp| otp.verified)
    }

    fn ensure_active(&self) -> Result<(), DomainError> {
        if self.lifecycle == Lifecycle::Inactive {
            return Err(DomainError::precondition(
                "user.inactive",
                "the user is deactivated",
            ));
        }
        Ok(())
    }
}

fn invalid_otp_code() -> DomainError {
    DomainError::invalid(
        "code",
        "user.otp.code.invalid",
        "the code is wrong or expired; enter the current code of the authenticator app",
    )
}

fn new_code(
    code_hash: &str,
    expires_at_unix_ms: i64,
    ctx: &CommandContext,
) -> Result<CodeAdded, DomainError> {
    let code_hash = check_code_hash(code_hash)?;
    let expires_at_unix_ms = validate::expiry(
        "user.code.expires_at",
        "expires_at",
        expires_at_unix_ms,
        ctx.now_unix_ms,
    )?;
    Ok(CodeAdded {
        code_hash,
        expires_at_unix_ms,
    })
}
