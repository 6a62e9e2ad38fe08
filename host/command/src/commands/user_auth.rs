//! A human's second factor (TOTP) and the emailed codes: email verification and password reset.
//!
//! # Public API (used by the login pages and the management API)
//!
//! All are methods of [`CallerCommands`]; the login pages call them as [`Caller::system`](crate::Caller::system)
//! of the instance (the user has not authenticated yet, or proved it with the session), the management API
//! as the signed-in administrator, who needs `user.write` on the user's organization and at least the user's
//! privileges ([`warden_domain::authz::may_act_on`]); a user may issue each of them on itself.
//!
//! | method | command type | what it does |
//! |---|---|---|
//! | [`enroll_otp`](CallerCommands::enroll_otp) | `user.otp.add` | new TOTP secret; returns it (base32) and the `otpauth://` URI **once** |
//! | [`verify_otp_enrollment`](CallerCommands::verify_otp_enrollment) | `user.otp.verify` | confirms the enrolment with a first code |
//! | [`remove_otp`](CallerCommands::remove_otp) | `user.otp.remove` | removes the second factor |
//! | [`check_otp`](CallerCommands::check_otp) | `user.otp.check` | checks a code at login; failures count toward the lockout |
//! | [`request_password_reset`](CallerCommands::request_password_reset) | `user.password.code.add` | new reset code, mailed to the user |
//! | [`reset_password_with_code`](CallerCommands::reset_password_with_code) | `user.password.reset` | new password with the mailed code |
//! | [`send_email_verification_code`](CallerCommands::send_email_verification_code) | `user.email.code.add` | new verification code, mailed to the user |
//! | [`verify_email_with_code`](CallerCommands::verify_email_with_code) | `user.email.verify_code` | verifies the email with the mailed code |
//!
//! TOTP follows RFC 6238 with the parameters every authenticator app understands: HMAC-SHA1, 6 digits,
//! 30-second steps, a 160-bit secret; a code of the previous or next step is accepted for clock skew, and
//! each step at most once (replay protection lives in the user aggregate). The secret is sealed with the
//! master key ([`crate::seal`]) before it is stored.
//!
//! Emailed codes are 12 characters from a 32-letter alphabet without look-alikes (60 bits), shown in groups
//! of four (`ABCD-EFGH-JKLM`); dashes, spaces and case do not matter when typed. The user aggregate keeps
//! only a SHA-256 of the code bound to the instance, the user and the code's purpose; the mail carries the
//! code, which travels sealed in the `notification.requested` event stored in the same push (see the crate
//! `warden-notify`). A reset code lives [`PASSWORD_CODE_LIFETIME_MS`], a verification code
//! [`EMAIL_CODE_LIFETIME_MS`]; a new code replaces the previous one.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use warden_domain::{
    DomainError,
    command::Command,
    instance::Instance,
    notification::{Notification, NotificationKind, NotificationRequested},
    org::Organization,
    policy,
    user::{
        AddEmailCode, AddOtp, AddPasswordCode, CheckOtp, CodeKind, RemoveOtp, ResetPassword, User,
        VerifyEmailWithCode, VerifyOtp,
    },
};

use super::{Resource, payload};
use crate::{
    CallerCommands, CommandError, Details, SecretString, new_id,
    pipeline::{Decided, Run, check, decide},
    secret::fill_random,
};

/// How long a password reset code is accepted: one hour.
pub const PASSWORD_CODE_LIFETIME_MS: i64 = 60 * 60 * 1000;
/// How long an email verification code is accepted: one day.
pub const EMAIL_CODE_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// TOTP digits.
pub const OTP_DIGITS: usize = 6;
/// TOTP time step in seconds.
pub const OTP_STEP_SECONDS: u64 = 30;
/// TOTP secret length in bytes (160 bits, as RFC 4226 recommends).
pub const OTP_SECRET_BYTES: usize = 20;
/// The issuer shown in authenticator apps when the instance has no name.
pub const DEFAULT_OTP_ISSUER: &str = "Warden";

/// Letters of emailed codes: no 0/O, 1/I; 32 of them, so a random byte maps without bias.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Letters in an emailed code.
const CODE_LEN: usize = 12;
/// The longest code input looked at (anything longer is wrong anyway).
const MAX_CODE_INPUT: usize = 64;

/// What [`CallerCommands::enroll_otp`] returns: the secret, shown once, to be put into an authenticator app.
#[derive(Debug, Clone)]
pub struct OtpEnrollment {
    /// The stored enrolment (pending until verified).
    pub details: Details,
    /// The secret, base32 (for typing into an app).
    pub secret: SecretString,
    /// The `otpauth://totp/...` URI (for a QR code).
    pub uri: SecretString,
}

/// What [`CallerCommands::check_otp`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpCheck {
    /// The check as stored.
    pub details: Details,
    /// The code was right and not used before.
    pub valid: bool,
    /// The failure locked the user (lockout policy).
    pub locked: bool,
}

/// An emailed code as typed, reduced to its letters: upper case, no dashes or white space.
pub fn normalize_code(input: &str) -> String {
    input
        .chars()
        .take(MAX_CODE_INPUT)
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// A new emailed code, grouped for reading: `ABCD-EFGH-JKLM`.
pub fn generate_code() -> Result<SecretString, CommandError> {
    let mut bytes = [0u8; CODE_LEN];
    fill_random(&mut bytes)?;
    let mut code = String::with_capacity(CODE_LEN + CODE_LEN / 4);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(CODE_ALPHABET[usize::from(b & 31)]));
    }
    Ok(SecretString::new(code))
}

/// The stored hash of an emailed code: SHA-256 over the purpose, instance, user and normalized code.
pub fn hash_code(kind: CodeKind, instance_id: &str, user_id: &str, code: &str) -> String {
    let purpose = match kind {
        CodeKind::EmailVerification => "email",
        CodeKind::PasswordReset => "password",
    };
    let mut hasher = Sha256::new();
    for part in [
        "warden.code",
        purpose,
        instance_id,
        user_id,
        &normalize_code(code),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// What a sealed TOTP secret is bound to.
fn otp_owner(instance_id: &str, user_id: &str) -> String {
    format!("user.otp|{instance_id}|{user_id}")
}

/// What the sealed code of a notification is bound to (`warden-notify` opens it with the same).
pub fn notification_owner(instance_id: &str, notification_id: &str) -> String {
    format!("notification|{instance_id}|{notification_id}")
}

fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<TOTP, CommandError> {
    // The otpauth label may not hold a colon (it separates issuer and account).
    let clean = |s: &str| s.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        OTP_DIGITS,
        1,
        OTP_STEP_SECONDS,
        secret,
        Some(clean(issuer)),
        clean(account),
    )
    .map_err(|e| CommandError::Sealing(format!("TOTP parameters: {e:?}")))
}

/// The time step (Unix seconds / 30) whose code equals `code`, looking one step back and ahead.
pub fn matching_step(totp: &TOTP, code: &str, now_unix_ms: i64) -> Option<u64> {
    let code = code.trim();
    if code.len() != OTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now_unix_ms / 1000).ok()?;
    let current = now / OTP_STEP_SECONDS;
    [
        current.checked_sub(1),
        Some(current),
        current.checked_add(1),
    ]
    .into_iter()
    .flatten()
    .find(|step| {
        let expected = totp.generate(step * OTP_STEP_SECONDS);
        bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
    })
}

/// Runs a command on the existing user `$user_id` through [`decide!`]: loads the user, authorizes
/// ([`authorize_user`]), and evaluates `$decide` with the user's state as `$user`, which gives the decision
/// and what the command answers beside the details.
macro_rules! decide_on_user {
    ($run:ident, $user_id:expr, |$user:ident| $decide:block) => {
        decide!($run, {
            let loaded = $run.target::<User>($user_id).await?;
            authorize_user(&$run, $user_id, &loaded.state).await?;
            let $user = &loaded.state;
            let (decision, output) = $decide;
            let org_id = $user.owner_org($user_id);
            Ok(Decided::new(loaded, decision, org_id).with(output))
        })
    };
}

impl CallerCommands<'_> {
    fn secret_box(&self) -> Result<&crate::seal::SecretBox, CommandError> {
        self.commands.inner.secret_box.as_ref().ok_or_else(|| {
            CommandError::Sealing("no master key is configured to seal secrets".to_owned())
        })
    }

    /// Starts a TOTP enrolment (replacing one not yet verified): a new secret, sealed and stored. The secret
    /// and the `otpauth://` URI are returned once and never again; the enrolment counts at login only after
    /// [`verify_otp_enrollment`](Self::verify_otp_enrollment).
    pub async fn enroll_otp(&self, user_id: &str) -> Result<OtpEnrollment, CommandError> {
        let mut secret = vec![0u8; OTP_SECRET_BYTES];
        fill_random(&mut secret)?;
        let instance_id = self.caller.instance_id.clone();
        let mut sealed = None;
        let mut run = self.run(AddOtp::TYPE, || payload(&AddOtp {}));
        let (details, (issuer, account)) = decide_on_user!(run, user_id, |user| {
            // The domain's refusals (no such user, a machine, already enrolled) come before any need of the
            // master key.
            user.add_otp("v1.pending", run.ctx())?;
            let sealed = match &sealed {
                Some(sealed) => sealed,
                None => sealed.insert(
                    self.secret_box()?
                        .seal(&secret, &otp_owner(&instance_id, user_id))
                        .map_err(|e| CommandError::Sealing(e.to_string()))?,
                ),
            };
            let decision = user.add_otp(sealed, run.ctx())?;
            let instance = run.read::<Instance>(&instance_id).await?;
            let issuer = match instance.state.name.trim() {
                "" => DEFAULT_OTP_ISSUER.to_owned(),
                name => name.to_owned(),
            };
            (decision, (issuer, user.login_name.clone()))
        });
        let totp = totp(secret, &issuer, &account)?;
        Ok(OtpEnrollment {
            details,
            secret: SecretString::new(totp.get_secret_base32()),
            uri: SecretString::new(totp.get_url()),
        })
    }

    /// Confirms a pending TOTP enrolment with a code from the app; a wrong code is refused
    /// (`user.otp.code.invalid` on the field `code`) and stores nothing.
    pub async fn verify_otp_enrollment(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Details, CommandError> {
        let mut run = self.run(VerifyOtp::TYPE, || payload(&VerifyOtp {}));
        let (details, ()) = decide_on_user!(run, user_id, |user| {
            let step = match user.human().and_then(|h| h.otp.as_ref()) {
                Some(otp) if !otp.verified => {
                    self.step_of(&run, user_id, &otp.secret_sealed, code)?
                }
                _ => None,
            };
            (user.verify_otp(step, run.ctx())?, ())
        });
        Ok(details)
    }

    /// Removes a user's second factor (the administrator's way out when the phone is lost).
    pub async fn remove_otp(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &RemoveOtp {}).await
    }

    /// Checks a TOTP code at login and records the outcome on the user: success (the code's time step is used
    /// up) or failure (counted; at the lockout policy's maximum the user is locked). Refused, storing nothing,
    /// for a user without a verified second factor (`user.otp.not_enrolled`), a locked
    /// (`user.locked`) or deactivated user.
    pub async fn check_otp(&self, user_id: &str, code: &str) -> Result<OtpCheck, CommandError> {
        let mut run = self.run(CheckOtp::TYPE, || payload(&CheckOtp {}));
        let (details, (valid, locked)) = decide_on_user!(run, user_id, |user| {
            let step = match user.human().and_then(|h| h.otp.as_ref()) {
                Some(otp) if otp.verified => {
                    self.step_of(&run, user_id, &otp.secret_sealed, code)?
                }
                _ => None,
            };
            let lockout = lockout_policy(&run, user).await?;
            let decision = user.record_otp_check(step, &lockout, run.ctx())?;
            let valid = decision
                .events
                .iter()
                .any(|e| matches!(e, warden_domain::user::UserEvent::OtpCheckSucceeded(_)));
            let locked = decision
                .events
                .iter()
                .any(|e| matches!(e, warden_domain::user::UserEvent::Locked));
            (decision, (valid, locked))
        });
        Ok(OtpCheck {
            details,
            valid,
            locked,
        })
    }

    /// Creates a password reset code and requests the email that carries it (one push: code and
    /// `notification.requested`). The code is never returned: it reaches the user only by mail.
    pub async fn request_password_reset(&self, user_id: &str) -> Result<Details, CommandError> {
        self.issue_code(
            AddPasswordCode::TYPE,
            user_id,
            CodeKind::PasswordReset,
            PASSWORD_CODE_LIFETIME_MS,
        )
        .await
    }

    /// Creates an email verification code and requests the email that carries it (replacing a previous one).
    pub async fn send_email_verification_code(
        &self,
        user_id: &str,
    ) -> Result<Details, CommandError> {
        self.issue_code(
            AddEmailCode::TYPE,
            user_id,
            CodeKind::EmailVerification,
            EMAIL_CODE_LIFETIME_MS,
        )
        .await
    }

    /// Verifies a user's email with the mailed code. A wrong code is refused as `user.email.code.invalid`
    /// on the field `code`, an expired one as `user.email.code.expired`, none pending as
    /// `user.email.code.not_found`.
    pub async fn verify_email_with_code(
        &self,
        user_id: &str,
        code: &str,
    ) -> Result<Details, CommandError> {
        let code_hash = hash_code(
            CodeKind::EmailVerification,
            &self.caller.instance_id,
            user_id,
            &checked_code(code)?,
        );
        let mut run = self.run(VerifyEmailWithCode::TYPE, || {
            payload(&VerifyEmailWithCode {})
        });
        let (details, ()) = decide_on_user!(run, user_id, |user| {
            (user.verify_email_with_code(&code_hash, run.ctx())?, ())
        });
        Ok(details)
    }

    /// Sets a new password with the mailed reset code: the code is checked first (a wrong one costs no
    /// hashing), then the password against the organization's complexity policy, then it is hashed and
    /// stored; the code is used up. The user need not change it again at the next login.
    pub async fn reset_password_with_code(
        &self,
        user_id: &str,
        code: &str,
        password: &SecretString,
    ) -> Result<Details, CommandError> {
        let code_hash = hash_code(
            CodeKind::PasswordReset,
            &self.caller.instance_id,
            user_id,
            &checked_code(code)?,
        );
        let mut run = self.run(ResetPassword::TYPE, || payload(&ResetPassword {}));
        let org_id = check!(run, {
            let user = run.target::<User>(user_id).await?;
            authorize_user(&run, user_id, &user.state).await?;
            user.state
                .check_code(CodeKind::PasswordReset, &code_hash, run.ctx())?;
            Ok(user.state.org_id.clone())
        });
        super::user::check_password(&mut run, &org_id, password).await?;
        let password_hash = run.inner().hasher.hash(password.clone()).await?;
        let (details, ()) = decide_on_user!(run, user_id, |user| {
            let decision = user.reset_password_with_code(&code_hash, &password_hash, run.ctx())?;
            (decision, ())
        });
        Ok(details)
    }

    async fn issue_code(
        &self,
        command_type: &'static str,
        user_id: &str,
        kind: CodeKind,
        lifetime_ms: i64,
    ) -> Result<Details, CommandError> {
        let instance_id = self.caller.instance_id.clone();
        let code = generate_code()?;
        let code_hash = hash_code(kind, &instance_id, user_id, code.expose());
        let notification_id = new_id();
        let mut code_sealed = None;
        // Both code commands serialize as an empty object: the code never reaches validators.
        let mut run = self.run(command_type, || payload(&AddEmailCode {}));
        let (details, ()) = decide_on_user!(run, user_id, |user| {
            let expires_at_unix_ms = run.ctx().now_unix_ms.saturating_add(lifetime_ms);
            let decision = match kind {
                CodeKind::PasswordReset => {
                    user.add_password_code(&code_hash, expires_at_unix_ms, run.ctx())
                }
                CodeKind::EmailVerification => {
                    user.add_email_code(&code_hash, expires_at_unix_ms, run.ctx())
                }
            }?;
            let Some(human) = user.human() else {
                // Unreachable: the domain refuses a machine above.
                return Err(CommandError::Refused(DomainError::precondition(
                    "user.not_human",
                    "this command applies to human users only",
                )));
            };
            let code_sealed = match &code_sealed {
                Some(sealed) => sealed,
                None => code_sealed.insert(
                    self.secret_box()?
                        .seal(
                            code.expose().as_bytes(),
                            &notification_owner(&instance_id, &notification_id),
                        )
                        .map_err(|e| CommandError::Sealing(e.to_string()))?,
                ),
            };
            let request = NotificationRequested {
                kind: match kind {
                    CodeKind::PasswordReset => NotificationKind::PasswordReset,
                    CodeKind::EmailVerification => NotificationKind::EmailVerification,
                },
                user_id: user_id.to_owned(),
                org_id: user.org_id.clone(),
                recipient: human.email.clone(),
                display_name: human.profile.display_name.clone(),
                language: human.profile.preferred_language.clone(),
                code_sealed: code_sealed.clone(),
                expires_at_unix_ms,
            };
            let notification = Notification::default().request(&request, run.ctx())?;
            run.append_also::<Notification>(&notification_id, 0, &notification);
            (decision, ())
        });
        tracing::info!(
            user_id,
            notification_id,
            kind = kind_name(kind),
            "code issued and mail requested"
        );
        Ok(details)
    }

    /// The time step a code matches for the sealed secret of `user_id`.
    fn step_of(
        &self,
        run: &Run<'_>,
        user_id: &str,
        secret_sealed: &str,
        code: &str,
    ) -> Result<Option<u64>, CommandError> {
        let secret = self
            .secret_box()?
            .open(secret_sealed, &otp_owner(&self.caller.instance_id, user_id))
            .map_err(|e| {
                CommandError::Sealing(format!("the TOTP secret of user {user_id}: {e}"))
            })?;
        let totp = totp(secret, DEFAULT_OTP_ISSUER, "user")?;
        Ok(matching_step(&totp, code, run.ctx().now_unix_ms))
    }
}

fn kind_name(kind: CodeKind) -> &'static str {
    match kind {
        CodeKind::PasswordReset => "password_reset",
        CodeKind::EmailVerification => "email_verification",
    }
}

/// A typed code, normalized; an empty or overlong one is refused on the field `code`.
fn checked_code(code: &str) -> Result<String, CommandError> {
    if code.chars().count() > MAX_CODE_INPUT {
        return Err(CommandError::Refused(DomainError::invalid(
            "code",
            "user.code.too_long",
            format!("code must be at most {MAX_CODE_INPUT} characters"),
        )));
    }
    let code = normalize_code(code);
    if code.is_empty() {
        return Err(CommandError::Refused(DomainError::invalid(
            "code",
            "user.code.required",
            "code is required",
        )));
    }
    Ok(code)
}

/// Authorizes a command on the user `user_id` (nothing to check when it does not exist: the domain answers
/// that), answering as missing to a caller that may not see it.
async fn authorize_user(run: &Run<'_>, user_id: &str, user: &User) -> Result<(), CommandError> {
    let Some(target) = user.authz_target(user_id) else {
        return Ok(());
    };
    match run
        .authorize_on_user(AddOtp::PERMISSION, user_id, user)
        .await
    {
        Ok(()) => Ok(()),
        Err(error) => Err(run
            .hide_unseen(error, AddOtp::PERMISSION, &target, || {
                User::default().remove_otp(run.ctx()).err()
            })
            .await),
    }
}

/// The lockout policy in force for the user's organization.
async fn lockout_policy(run: &Run<'_>, user: &User) -> Result<policy::LockoutPolicy, CommandError> {
    let instance = run.read::<Instance>(&run.ctx().instance_id).await?;
    let org = run.read::<Organization>(&user.org_id).await?;
    Ok(policy::resolve(&instance.state.policies, &org.state.policy_overrides).lockout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_random_and_normalize_back() {
        let a = generate_code().expect("random");
        let b = generate_code().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 14, "{a:?}");
        assert_eq!(a.expose().matches('-').count(), 2);
        assert!(
            normalize_code(a.expose())
                .bytes()
                .all(|c| CODE_ALPHABET.contains(&c))
        );
        assert_eq!(normalize_code(" abcd-efgh jkLM "), "ABCDEFGHJKLM");
        let lower = a.expose().to_lowercase().replace('-', " ");
        assert_eq!(
            hash_code(CodeKind::PasswordReset, "i", "u", a.expose()),
            hash_code(CodeKind::PasswordReset, "i", "u", &lower)
        );
        assert_ne!(
            hash_code(CodeKind::PasswordReset, "i", "u", a.expose()),
            hash_code(CodeKind::EmailVerification, "i", "u", a.expose()),
            "a reset code does not verify an email"
        );
        assert_ne!(
            hash_code(CodeKind::PasswordReset, "i", "u", a.expose()),
            hash_code(CodeKind::PasswordReset, "i", "v", a.expose()),
            "nor serve another user"
        );
    }

    #[test]
    fn totp_matches_rfc_6238_and_one_step_of_skew() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", at T = 59 s: 94287082 (8 digits),
        // so the 6-digit code is 287082.
        let totp = totp(b"12345678901234567890".to_vec(), "Warden", "alice").expect("totp");
        assert_eq!(totp.generate(59), "287082");
        assert_eq!(matching_step(&totp, "287082", 59_000), Some(1));
        // One step later the previous code is still accepted (skew); two steps later it is not.
        assert_eq!(matching_step(&totp, "287082", 89_000), Some(1));
        assert_eq!(matching_step(&totp, "287082", 120_000), None);
        assert_eq!(matching_step(&totp, "28708", 59_000), None);
        assert_eq!(matching_step(&totp, "abcdef", 59_000), None);
        let uri = totp.get_url();
        assert!(uri.starts_with("otpauth://totp/Warden:alice?"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
    }
}
