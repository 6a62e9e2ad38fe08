//! Users: humans and machines (service accounts) in one aggregate type, `"user"`.
//!
//! Login names are unique per instance, case-insensitively: the lower-cased login name is claimed as
//! [`unique::LOGIN_NAME`]. Secrets never enter the domain in plain text: passwords, client secrets and personal
//! access tokens arrive hashed, and keys arrive as public keys; ids and expiry times are passed in.
//!
//! Commands on a removed user answer `NotFound` ("user.not_found"); human-only commands on a machine (and the
//! reverse) answer `PreconditionFailed` ("user.not_human", "user.not_machine").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events,
};
use crate::error::{DecodeError, DomainError};
use crate::org::Organization;
use crate::policy::LockoutPolicy;
use crate::unique;
use crate::validate;

mod auth;

pub use auth::{CodeAdded, CodeKind, MAX_SEALED_SECRET_LEN, Otp, OtpAdded, OtpStep, PendingCode};

/// The most metadata entries a user may have.
pub const MAX_METADATA_ENTRIES: usize = 100;
/// The most key pairs a machine user may have.
pub const MAX_MACHINE_KEYS: usize = 100;
/// The most personal access tokens a machine user may have.
pub const MAX_PERSONAL_ACCESS_TOKENS: usize = 100;
/// The language stored when a user states none (BCP 47 "undetermined").
pub const UNDETERMINED_LANGUAGE: &str = "und";

/// A human's name and language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Given (first) name.
    pub given_name: String,
    /// Family (last) name.
    pub family_name: String,
    /// The name shown in the UI; defaults to "given family".
    pub display_name: String,
    /// Preferred language (BCP 47 tag), `und` when unknown.
    pub preferred_language: String,
}

/// Payload of `user.human.added` (revision 2).
///
/// Revision 1 named the fields `user_name`, `first_name` and `last_name` and had no
/// `password_change_required`; it is upcast on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanAdded {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name, as entered.
    pub login_name: String,
    /// Name and language.
    #[serde(flatten)]
    pub profile: Profile,
    /// The email address.
    pub email: String,
    /// True when the email was verified by whoever created the user.
    pub email_verified: bool,
    /// The phone number in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The initial password's hash (PHC string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The user must change the initial password at the next login.
    #[serde(default)]
    pub password_change_required: bool,
}

/// Payload of `user.machine.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineAdded {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name, as entered.
    pub login_name: String,
    /// The display name.
    pub name: String,
    /// What the service account is for.
    #[serde(default)]
    pub description: String,
}

/// Payload of `user.human.email.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailChanged {
    /// The new, unverified address.
    pub email: String,
}

/// Payload of `user.human.phone.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneChanged {
    /// The new number in E.164 form.
    pub phone: String,
}

/// Payload of `user.human.password.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// The new password's hash (PHC string).
    pub password_hash: String,
    /// The user must change it at the next login.
    pub change_required: bool,
}

/// Payload of `user.metadata.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataSet {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Payload of `user.metadata.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataRemoved {
    /// The key.
    pub key: String,
}

/// Payload of `user.machine.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineChanged {
    /// The display name.
    pub name: String,
    /// What the service account is for.
    pub description: String,
}

/// The encoding of a machine user's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// A PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` block.
    Pem,
    /// A JSON Web Key.
    Jwk,
}

/// Payload of `user.machine.key.added`, and input of [`User::add_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineKeyAdded {
    /// The key id (the JWT `kid`), generated outside.
    pub key_id: String,
    /// The encoding of `public_key`.
    pub format: KeyFormat,
    /// The public key; the private key stays with the client.
    pub public_key: String,
    /// When the key stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// Payload of `user.machine.key.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineKeyRemoved {
    /// The key id.
    pub key_id: String,
}

/// Payload of `user.machine.secret.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSecretSet {
    /// The client secret's hash.
    pub secret_hash: String,
}

/// Payload of `user.machine.pat.added`, and input of [`User::add_personal_access_token`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessTokenAdded {
    /// The token id, generated outside.
    pub token_id: String,
    /// The token's hash; the token itself is shown once to its creator and never stored.
    pub token_hash: String,
    /// When the token stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// Payload of `user.machine.pat.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessTokenRemoved {
    /// The token id.
    pub token_id: String,
}

/// Payload of `user.membership.added`: the user became a member of an organization or project. The user
/// keeps the list so that every membership it holds is found from the user alone (acting on a user needs
/// them all, see [`crate::authz::may_act_on`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipAdded {
    /// What the membership is on.
    pub scope: crate::authz::ScopeKind,
    /// The organization's or project's id.
    pub scope_id: String,
}

domain_events! {
    /// Events of the user aggregate.
    pub enum UserEvent {
        /// A human user was created.
        HumanAdded(HumanAdded) => "user.human.added" @ 2,
        /// A machine user was created.
        MachineAdded(MachineAdded) => "user.machine.added" @ 1,
        /// A human's profile changed.
        ProfileChanged(Profile) => "user.human.profile.changed" @ 1,
        /// A human's email changed and is unverified.
        EmailChanged(EmailChanged) => "user.human.email.changed" @ 1,
        /// A human's email was verified.
        EmailVerified => "user.human.email.verified" @ 1,
        /// A human's phone number changed.
        PhoneChanged(PhoneChanged) => "user.human.phone.changed" @ 1,
        /// A human's phone number was removed.
        PhoneRemoved => "user.human.phone.removed" @ 1,
        /// A human's password was set.
        PasswordChanged(PasswordChanged) => "user.human.password.changed" @ 1,
        /// A password check at login succeeded; the failure count is reset.
        PasswordCheckSucceeded => "user.human.password.check.succeeded" @ 1,
        /// A password check at login failed.
        PasswordCheckFailed => "user.human.password.check.failed" @ 1,
        /// The user was locked (by an administrator or by the lockout policy).
        Locked => "user.locked" @ 1,
        /// The user was unlocked; the failure count is reset.
        Unlocked => "user.unlocked" @ 1,
        /// The user was deactivated.
        Deactivated => "user.deactivated" @ 1,
        /// The user was reactivated.
        Reactivated => "user.reactivated" @ 1,
        /// The user was removed; the login name is free again.
        Removed => "user.removed" @ 1,
        /// A metadata entry was set.
        MetadataSet(MetadataSet) => "user.metadata.set" @ 1,
        /// A metadata entry was removed.
        MetadataRemoved(MetadataRemoved) => "user.metadata.removed" @ 1,
        /// A machine's name or description changed.
        MachineChanged(MachineChanged) => "user.machine.changed" @ 1,
        /// A machine got a key pair for the JWT profile grant.
        MachineKeyAdded(MachineKeyAdded) => "user.machine.key.added" @ 1,
        /// A machine's key pair was removed.
        MachineKeyRemoved(MachineKeyRemoved) => "user.machine.key.removed" @ 1,
        /// A machine's client secret was set or replaced.
        MachineSecretSet(MachineSecretSet) => "user.machine.secret.set" @ 1,
        /// A machine's client secret was removed.
        MachineSecretRemoved => "user.machine.secret.removed" @ 1,
        /// A machine got a personal access token.
        PersonalAccessTokenAdded(PersonalAccessTokenAdded) => "user.machine.pat.added" @ 1,
        /// A machine's personal access token was removed.
        PersonalAccessTokenRemoved(PersonalAccessTokenRemoved) => "user.machine.pat.removed" @ 1,
        /// The user became a member of an organization or project.
        MembershipAdded(MembershipAdded) => "user.membership.added" @ 1,
        /// A human started a TOTP enrolment (sealed secret).
        OtpAdded(OtpAdded) => "user.human.otp.added" @ 1,
        /// A first valid code confirmed the TOTP enrolment.
        OtpVerified(OtpStep) => "user.human.otp.verified" @ 1,
        /// The TOTP second factor was removed.
        OtpRemoved => "user.human.otp.removed" @ 1,
        /// A TOTP check at login succeeded; its time step is used up and the failure count reset.
        OtpCheckSucceeded(OtpStep) => "user.human.otp.check.succeeded" @ 1,
        /// A TOTP check at login failed (wrong or replayed code).
        OtpCheckFailed => "user.human.otp.check.failed" @ 1,
        /// An email verification code was issued (hash and expiry).
        EmailCodeAdded(CodeAdded) => "user.human.email.code.added" @ 1,
        /// A password reset code was issued (hash and expiry).
        PasswordCodeAdded(CodeAdded) => "user.human.password.code.added" @ 1,
    }
    upcast = upcast;
}

/// Upcasts `user.human.added` revision 1 (`user_name`, `first_name`, `last_name`) to revision 2.
fn upcast(
    event_type: &str,
    from_revision: u16,
    payload: &Value,
) -> Result<Option<Value>, DecodeError> {
    match (event_type, from_revision) {
        ("user.human.added", 1) => {
            let Value::Object(fields) = payload else {
                return Err(DecodeError::invalid_payload(
                    event_type,
                    from_revision,
                    "expected an object",
                ));
            };
            let mut fields = fields.clone();
            for (old, new) in [
                ("user_name", "login_name"),
                ("first_name", "given_name"),
                ("last_name", "family_name"),
            ] {
                if let Some(value) = fields.remove(old) {
                    fields.insert(new.to_owned(), value);
                }
            }
            fields
                .entry("password_change_required")
                .or_insert(Value::Bool(false));
            Ok(Some(Value::Object(fields)))
        }
        _ => Ok(None),
    }
}

/// Input of [`User::add_human`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddHuman {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name.
    pub login_name: String,
    /// Name and language; an empty display name becomes "given family", an empty language `und`.
    pub profile: Profile,
    /// The email address.
    pub email: String,
    /// Creates the user with a verified email.
    pub email_verified: bool,
    /// An optional phone number.
    pub phone: Option<String>,
    /// An optional initial password, hashed by the caller after checking the password complexity policy.
    pub password_hash: Option<String>,
    /// The user must change the initial password at the next login.
    pub password_change_required: bool,
}

/// Input of [`User::add_machine`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMachine {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name.
    pub login_name: String,
    /// The display name.
    pub name: String,
    /// What the service account is for (may be empty).
    pub description: String,
}

/// A human user's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Human {
    /// Name and language.
    pub profile: Profile,
    /// The email address.
    pub email: String,
    /// True once the email was verified.
    pub email_verified: bool,
    /// The phone number.
    pub phone: Option<String>,
    /// The password's hash, if a password is set.
    pub password_hash: Option<String>,
    /// The password must be changed at the next login.
    pub password_change_required: bool,
    /// Failed password checks since the last success or unlock.
    pub failed_password_attempts: u32,
    /// The TOTP second factor, if enrolled (or being enrolled).
    pub otp: Option<Otp>,
    /// Failed TOTP checks since the last success or unlock.
    pub failed_otp_attempts: u32,
    /// The pending email verification code.
    pub email_code: Option<PendingCode>,
    /// The pending password reset code.
    pub password_code: Option<PendingCode>,
}

/// A machine user's key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineKey {
    /// The encoding of `public_key`.
    pub format: KeyFormat,
    /// The public key.
    pub public_key: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// A machine user's personal access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalAccessToken {
    /// The token's hash.
    pub token_hash: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// A machine user's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// The display name.
    pub name: String,
    /// What the service account is for.
    pub description: String,
    /// Key pairs by key id.
    pub keys: BTreeMap<String, MachineKey>,
    /// The client secret's hash, if one is set.
    pub secret_hash: Option<String>,
    /// Personal access tokens by token id.
    pub tokens: BTreeMap<String, PersonalAccessToken>,
}

/// Human or machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserKind {
    /// A person who logs in interactively.
    Human(Human),
    /// A service account.
    Machine(Machine),
}

/// State of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct User {
    /// Life cycle (active, inactive, removed).
    pub lifecycle: Lifecycle,
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name, as entered.
    pub login_name: String,
    /// True while locked; independent of the life cycle.
    pub locked: bool,
    /// Human or machine data; `None` before the user was added.
    pub kind: Option<UserKind>,
    /// Metadata entries.
    pub metadata: BTreeMap<String, String>,
    /// The organizations and projects the user was made a member of (by id; the roles live there).
    pub member_of: BTreeMap<String, crate::authz::ScopeKind>,
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Event = UserEvent;

    fn apply(&mut self, event: &UserEvent) {
        match event {
            UserEvent::HumanAdded(e) => {
                self.lifecycle = Lifecycle::Active;
                self.org_id.clone_from(&e.org_id);
                self.login_name.clone_from(&e.login_name);
                self.kind = Some(UserKind::Human(Human {
                    profile: e.profile.clone(),
                    email: e.email.clone(),
                    email_verified: e.email_verified,
                    phone: e.phone.clone(),
                    password_hash: e.password_hash.clone(),
                    password_change_required: e.password_change_required,
                    ..Human::default()
                }));
            }
            UserEvent::MachineAdded(e) => {
                self.lifecycle = Lifecycle::Active;
                self.org_id.clone_from(&e.org_id);
                self.login_name.clone_from(&e.login_name);
                self.kind = Some(UserKind::Machine(Machine {
                    name: e.name.clone(),
                    description: e.description.clone(),
                    ..Machine::default()
                }));
            }
            UserEvent::ProfileChanged(p) => {
                if let Some(h) = self.human_mut() {
                    h.profile = p.clone();
                }
            }
            UserEvent::EmailChanged(e) => {
                if let Some(h) = self.human_mut() {
                    h.email.clone_from(&e.email);
                    h.email_verified = false;
                    h.email_code = None;
                }
            }
            UserEvent::EmailVerified => {
                if let Some(h) = self.human_mut() {
                    h.email_verified = true;
                    h.email_code = None;
                }
            }
            UserEvent::PhoneChanged(e) => {
                if let Some(h) = self.human_mut() {
                    h.phone = Some(e.phone.clone());
                }
            }
            UserEvent::PhoneRemoved => {
                if let Some(h) = self.human_mut() {
                    h.phone = None;
                }
            }
            UserEvent::PasswordChanged(e) => {
                if let Some(h) = self.human_mut() {
                    h.password_hash = Some(e.password_hash.clone());
                    h.password_change_required = e.change_required;
                    h.password_code = None;
                }
            }
            UserEvent::PasswordCheckSucceeded => {
                if let Some(h) = self.human_mut() {
                    h.failed_password_attempts = 0;
                }
            }
            UserEvent::PasswordCheckFailed => {
                if let Some(h) = self.human_mut() {
                    h.failed_password_attempts = h.failed_password_attempts.saturating_add(1);
                }
            }
            UserEvent::Locked => self.locked = true,
            UserEvent::Unlocked => {
                self.locked = false;
                if let Some(h) = self.human_mut() {
                    h.failed_password_attempts = 0;
                    h.failed_otp_attempts = 0;
                }
            }
            UserEvent::Deactivated => self.lifecycle = Lifecycle::Inactive,
            UserEvent::Reactivated => self.lifecycle = Lifecycle::Active,
            UserEvent::Removed => self.lifecycle = Lifecycle::Removed,
            UserEvent::MetadataSet(e) => {
                self.metadata.insert(e.key.clone(), e.value.clone());
            }
            UserEvent::MetadataRemoved(e) => {
                self.metadata.remove(&e.key);
            }
            UserEvent::MachineChanged(e) => {
                if let Some(m) = self.machine_mut() {
                    m.name.clone_from(&e.name);
                    m.description.clone_from(&e.description);
                }
            }
            UserEvent::MachineKeyAdded(e) => {
                if let Some(m) = self.machine_mut() {
                    m.keys.insert(
                        e.key_id.clone(),
                        MachineKey {
                            format: e.format,
                            public_key: e.public_key.clone(),
                            expires_at_unix_ms: e.expires_at_unix_ms,
                        },
                    );
                }
            }
            UserEvent::MachineKeyRemoved(e) => {
                if let Some(m) = self.machine_mut() {
                    m.keys.remove(&e.key_id);
                }
            }
            UserEvent::MachineSecretSet(e) => {
                if let Some(m) = self.machine_mut() {
                    m.secret_hash = Some(e.secret_hash.clone());
                }
            }
            UserEvent::MachineSecretRemoved => {
                if let Some(m) = self.machine_mut() {
                    m.secret_hash = None;
                }
            }
            UserEvent::PersonalAccessTokenAdded(e) => {
                if let Some(m) = self.machine_mut() {
                    m.tokens.insert(
                        e.token_id.clone(),
                        PersonalAccessToken {
                            token_hash: e.token_hash.clone(),
                            expires_at_unix_ms: e.expires_at_unix_ms,
                        },
                    );
                }
            }
            UserEvent::PersonalAccessTokenRemoved(e) => {
                if let Some(m) = self.machine_mut() {
                    m.tokens.remove(&e.token_id);
                }
            }
            UserEvent::MembershipAdded(e) => {
                self.member_of.insert(e.scope_id.clone(), e.scope);
            }
            UserEvent::OtpAdded(e) => {
                if let Some(h) = self.human_mut() {
                    h.otp = Some(Otp {
                        secret_sealed: e.secret_sealed.clone(),
                        verified: false,
                        last_step: None,
                    });
                }
            }
            UserEvent::OtpVerified(e) => {
                if let Some(otp) = self.human_mut().and_then(|h| h.otp.as_mut()) {
                    otp.verified = true;
                    otp.last_step = Some(e.step);
                }
            }
            UserEvent::OtpRemoved => {
                if let Some(h) = self.human_mut() {
                    h.otp = None;
                    h.failed_otp_attempts = 0;
                }
            }
            UserEvent::OtpCheckSucceeded(e) => {
                if let Some(h) = self.human_mut() {
                    h.failed_otp_attempts = 0;
                    if let Some(otp) = h.otp.as_mut() {
                        otp.last_step = Some(otp.last_step.map_or(e.step, |last| last.max(e.step)));
                    }
                }
            }
            UserEvent::OtpCheckFailed => {
                if let Some(h) = self.human_mut() {
                    h.failed_otp_attempts = h.failed_otp_attempts.saturating_add(1);
                }
            }
            UserEvent::EmailCodeAdded(e) => {
                if let Some(h) = self.human_mut() {
                    h.email_code = Some(PendingCode {
                        code_hash: e.code_hash.clone(),
                        expires_at_unix_ms: e.expires_at_unix_ms,
                    });
                }
            }
            UserEvent::PasswordCodeAdded(e) => {
                if let Some(h) = self.human_mut() {
                    h.password_code = Some(PendingCode {
                        code_hash: e.code_hash.clone(),
                        expires_at_unix_ms: e.expires_at_unix_ms,
                    });
                }
            }
        }
    }
}

fn check_org(org: &Organization) -> Result<(), DomainError> {
    if !org.exists() {
        return Err(
            DomainError::not_found("org.not_found", "the organization does not exist")
                .with_field("org_id"),
        );
    }
    if !org.is_active() {
        return Err(DomainError::precondition(
            "org.inactive",
            "the organization is deactivated; reactivate it before adding users",
        )
        .with_field("org_id"));
    }
    Ok(())
}

fn check_profile(profile: &Profile) -> Result<Profile, DomainError> {
    let given_name = validate::text(
        "user.given_name",
        "given_name",
        &profile.given_name,
        validate::MAX_NAME_LEN,
    )?;
    let family_name = validate::text(
        "user.family_name",
        "family_name",
        &profile.family_name,
        validate::MAX_NAME_LEN,
    )?;
    let display_name = validate::optional_text(
        "user.display_name",
        "display_name",
        &profile.display_name,
        validate::MAX_NAME_LEN,
    )?;
    let display_name = if display_name.is_empty() {
        let joined = format!("{given_name} {family_name}");
        joined.chars().take(validate::MAX_NAME_LEN).collect()
    } else {
        display_name
    };
    let preferred_language = if profile.preferred_language.trim().is_empty() {
        UNDETERMINED_LANGUAGE.to_owned()
    } else {
        validate::language(
            "user.preferred_language",
            "preferred_language",
            &profile.preferred_language,
        )?
    };
    Ok(Profile {
        given_name,
        family_name,
        display_name,
        preferred_language,
    })
}

fn check_public_key(format: KeyFormat, key: &str) -> Result<String, DomainError> {
    const FIELD: &str = "public_key";
    if key.trim().is_empty() {
        return Err(DomainError::invalid(
            FIELD,
            "user.machine.key.required",
            "public_key is required",
        ));
    }
    if key.len() > validate::MAX_PUBLIC_KEY_BYTES {
        return Err(DomainError::invalid(
            FIELD,
            "user.machine.key.too_long",
            format!(
                "public_key must be at most {} bytes",
                validate::MAX_PUBLIC_KEY_BYTES
            ),
        ));
    }
    let private = || {
        DomainError::invalid(
            FIELD,
            "user.machine.key.private",
            "public_key contains a private key; send only the public key and keep the private key with the client",
        )
    };
    match format {
        KeyFormat::Pem => {
            let key = key.trim();
            if key.contains("PRIVATE KEY") {
                return Err(private());
            }
            let body = ["PUBLIC KEY", "RSA PUBLIC KEY"].iter().find_map(|label| {
                key.strip_prefix(&format!("-----BEGIN {label}-----"))?
                    .strip_suffix(&format!("-----END {label}-----"))
            });
            let valid = body.is_some_and(|b| {
                !b.trim().is_empty()
                    && b.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '+' | '/' | '=')
                            || c.is_ascii_whitespace()
                    })
            });
            if !valid {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a PEM block from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----",
                ));
            }
            Ok(key.to_owned())
        }
        KeyFormat::Jwk => {
            let parsed: Result<Value, _> = serde_json::from_str(key);
            let Ok(Value::Object(jwk)) = parsed else {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a JSON Web Key: a JSON object with a \"kty\" member",
                ));
            };
            if !jwk.get("kty").is_some_and(Value::is_string) {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a JSON Web Key: a JSON object with a \"kty\" member",
                ));
            }
            if jwk.contains_key("d") || jwk.contains_key("k") {
                return Err(private());
            }
            Ok(key.to_owned())
        }
    }
}

fn lower(login_name: &str) -> String {
    login_name.to_lowercase()
}

impl User {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    /// The human data, if this is a human.
    pub fn human(&self) -> Option<&Human> {
        match &self.kind {
            Some(UserKind::Human(h)) => Some(h),
            _ => None,
        }
    }

    /// The machine data, if this is a machine.
    pub fn machine(&self) -> Option<&Machine> {
        match &self.kind {
            Some(UserKind::Machine(m)) => Some(m),
            _ => None,
        }
    }

    fn human_mut(&mut self) -> Option<&mut Human> {
        match &mut self.kind {
            Some(UserKind::Human(h)) => Some(h),
            _ => None,
        }
    }

    fn machine_mut(&mut self) -> Option<&mut Machine> {
        match &mut self.kind {
            Some(UserKind::Machine(m)) => Some(m),
            _ => None,
        }
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "user.not_found",
                "the user does not exist",
            ))
        }
    }

    fn ensure_new(&self) -> Result<(), DomainError> {
        if self.lifecycle == Lifecycle::Unspecified {
            Ok(())
        } else {
            Err(DomainError::already_exists(
                "user.already_exists",
                "a user with this id already exists",
            ))
        }
    }

    fn existing_human(&self) -> Result<&Human, DomainError> {
        self.ensure_exists()?;
        self.human().ok_or_else(|| {
            DomainError::precondition("user.not_human", "this command applies to human users only")
        })
    }

    fn existing_machine(&self) -> Result<&Machine, DomainError> {
        self.ensure_exists()?;
        self.machine().ok_or_else(|| {
            DomainError::precondition(
                "user.not_machine",
                "this command applies to machine users only",
            )
        })
    }

    /// Creates a human user in an active organization; claims the login name.
    pub fn add_human(
        &self,
        cmd: &AddHuman,
        org: &Organization,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_new()?;
        let org_id = validate::identifier("user.org_id", "org_id", &cmd.org_id)?;
        check_org(org)?;
        let login_name = validate::login_name("user.login_name", "login_name", &cmd.login_name)?;
        let profile = check_profile(&cmd.profile)?;
        let email = validate::email("user.email", "email", &cmd.email)?;
        let phone = cmd
            .phone
            .as_deref()
            .map(|p| validate::phone("user.phone", "phone", p))
            .transpose()?;
        let password_hash = cmd
            .password_hash
            .as_deref()
            .map(|h| validate::password_hash("user.password_hash", "password_hash", h))
            .transpose()?;
        let password_change_required = password_hash.is_some() && cmd.password_change_required;
        Ok(Decision::event(UserEvent::HumanAdded(HumanAdded {
            org_id,
            login_name: login_name.clone(),
            profile,
            email,
            email_verified: cmd.email_verified,
            phone,
            password_hash,
            password_change_required,
        }))
        .with_unique(UniqueChange::add(
            unique::LOGIN_NAME,
            lower(&login_name),
            "login_name",
        )))
    }

    /// Creates a machine user (service account) in an active organization; claims the login name.
    pub fn add_machine(
        &self,
        cmd: &AddMachine,
        org: &Organization,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_new()?;
        let org_id = validate::identifier("user.org_id", "org_id", &cmd.org_id)?;
        check_org(org)?;
        let login_name = validate::login_name("user.login_name", "login_name", &cmd.login_name)?;
        let name = validate::text(
            "user.machine.name",
            "name",
            &cmd.name,
            validate::MAX_NAME_LEN,
        )?;
        let description = validate::optional_text(
            "user.machine.description",
            "description",
            &cmd.description,
            validate::MAX_DESCRIPTION_LEN,
        )?;
        Ok(Decision::event(UserEvent::MachineAdded(MachineAdded {
            org_id,
            login_name: login_name.clone(),
            name,
            description,
        }))
        .with_unique(UniqueChange::add(
            unique::LOGIN_NAME,
            lower(&login_name),
            "login_name",
        )))
    }

    /// Replaces a human's profile.
    pub fn change_profile(
        &self,
        profile: &Profile,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        let profile = check_profile(profile)?;
        if profile == human.profile {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserEvent::ProfileChanged(profile)))
    }

    /// Changes a human's email; the new address is unverified.
    pub fn change_email(
        &self,
        email: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        let email = validate::email("user.email", "email", email)?;
        if email == human.email {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserEvent::EmailChanged(EmailChanged {
            email,
        })))
    }

    /// Marks a human's email verified (after the caller checked the verification code).
    pub fn verify_email(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if human.email_verified {
            return Err(DomainError::precondition(
                "user.email.already_verified",
                "the email is already verified",
            ));
        }
        Ok(Decision::event(UserEvent::EmailVerified))
    }

    /// Sets (`Some`) or removes (`None`) a human's phone number.
    pub fn change_phone(
        &self,
        phone: Option<&str>,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        match phone {
            Some(phone) => {
                let phone = validate::phone("user.phone", "phone", phone)?;
                if human.phone.as_ref() == Some(&phone) {
                    return Ok(Decision::unchanged());
                }
                Ok(Decision::event(UserEvent::PhoneChanged(PhoneChanged {
                    phone,
                })))
            }
            None if human.phone.is_some() => Ok(Decision::event(UserEvent::PhoneRemoved)),
            None => Ok(Decision::unchanged()),
        }
    }

    /// Sets a human's password from its hash: by an administrator (usually with `change_required`) or by the
    /// user after proving the current one (without). The caller checks the complexity policy before hashing.
    pub fn set_password(
        &self,
        password_hash: &str,
        change_required: bool,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.existing_human()?;
        let password_hash =
            validate::password_hash("user.password_hash", "password_hash", password_hash)?;
        Ok(Decision::event(UserEvent::PasswordChanged(
            PasswordChanged {
                password_hash,
                change_required,
            },
        )))
    }

    /// Records the outcome of a password check at login; failures lock the user once the lockout policy's
    /// maximum is reached.
    pub fn record_password_check(
        &self,
        succeeded: bool,
        lockout: &LockoutPolicy,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let human = self.existing_human()?;
        if self.lifecycle == Lifecycle::Inactive {
            return Err(DomainError::precondition(
                "user.inactive",
                "the user is deactivated",
            ));
        }
        if self.locked {
            return Err(DomainError::precondition(
                "user.locked",
                "the user is locked",
            ));
        }
        if human.password_hash.is_none() {
            return Err(DomainError::precondition(
                "user.password.not_set",
                "the user has no password",
            ));
        }
        if succeeded {
            return Ok(Decision::event(UserEvent::PasswordCheckSucceeded));
        }
        let failures = human.failed_password_attempts.saturating_add(1);
        let max = u32::from(lockout.max_password_attempts);
        let decision = Decision::event(UserEvent::PasswordCheckFailed);
        Ok(if max > 0 && failures >= max {
            decision.and(UserEvent::Locked)
        } else {
            decision
        })
    }

    /// Locks the user: no login until unlocked.
    pub fn lock(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if self.locked {
            return Err(DomainError::precondition(
                "user.already_locked",
                "the user is already locked",
            ));
        }
        Ok(Decision::event(UserEvent::Locked))
    }

    /// Unlocks a locked user and resets the failed password count.
    pub fn unlock(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.locked {
            return Err(DomainError::precondition(
                "user.not_locked",
                "the user is not locked",
            ));
        }
        Ok(Decision::event(UserEvent::Unlocked))
    }

    /// Deactivates an active user.
    pub fn deactivate(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if self.lifecycle == Lifecycle::Inactive {
            return Err(DomainError::precondition(
                "user.already_inactive",
                "the user is already deactivated",
            ));
        }
        Ok(Decision::event(UserEvent::Deactivated))
    }

    /// Reactivates a deactivated user.
    pub fn reactivate(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if self.lifecycle == Lifecycle::Active {
            return Err(DomainError::precondition(
                "user.not_inactive",
                "the user is active; only a deactivated user can be reactivated",
            ));
        }
        Ok(Decision::event(UserEvent::Reactivated))
    }

    /// Removes the user; frees the login name.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        Ok(
            Decision::event(UserEvent::Removed).with_unique(UniqueChange::remove(
                unique::LOGIN_NAME,
                lower(&self.login_name),
            )),
        )
    }

    /// Sets a metadata entry.
    pub fn set_metadata(
        &self,
        key: &str,
        value: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        let key = validate::metadata_key("user.metadata.key", "key", key)?;
        let value = validate::metadata_value("user.metadata.value", "value", value)?;
        match self.metadata.get(&key) {
            Some(current) if *current == value => return Ok(Decision::unchanged()),
            Some(_) => {}
            None if self.metadata.len() >= MAX_METADATA_ENTRIES => {
                return Err(DomainError::precondition(
                    "user.metadata.limit_reached",
                    format!("a user may have at most {MAX_METADATA_ENTRIES} metadata entries"),
                ));
            }
            None => {}
        }
        Ok(Decision::event(UserEvent::MetadataSet(MetadataSet {
            key,
            value,
        })))
    }

    /// Removes a metadata entry.
    pub fn remove_metadata(
        &self,
        key: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.metadata.contains_key(key) {
            return Err(DomainError::not_found(
                "user.metadata.not_found",
                "the user has no metadata entry with this key",
            )
            .with_field("key"));
        }
        Ok(Decision::event(UserEvent::MetadataRemoved(
            MetadataRemoved {
                key: key.to_owned(),
            },
        )))
    }

    /// Changes a machine's name and description.
    pub fn change_machine(
        &self,
        name: &str,
        description: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        let name = validate::text("user.machine.name", "name", name, validate::MAX_NAME_LEN)?;
        let description = validate::optional_text(
            "user.machine.description",
            "description",
            description,
            validate::MAX_DESCRIPTION_LEN,
        )?;
        if name == machine.name && description == machine.description {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserEvent::MachineChanged(MachineChanged {
            name,
            description,
        })))
    }

    /// Adds a public key for the JWT profile grant; the expiry must lie in the future.
    pub fn add_key(
        &self,
        key: &MachineKeyAdded,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        let key_id = validate::identifier("user.machine.key.id", "key_id", &key.key_id)?;
        if machine.keys.contains_key(&key_id) {
            return Err(DomainError::already_exists(
                "user.machine.key.already_exists",
                "the user already has a key with this id",
            )
            .with_field("key_id"));
        }
        if machine.keys.len() >= MAX_MACHINE_KEYS {
            return Err(DomainError::precondition(
                "user.machine.key.limit_reached",
                format!(
                    "a machine user may have at most {MAX_MACHINE_KEYS} keys; remove expired ones first"
                ),
            ));
        }
        let public_key = check_public_key(key.format, &key.public_key)?;
        let expires_at_unix_ms = validate::expiry(
            "user.machine.key.expires_at",
            "expires_at",
            key.expires_at_unix_ms,
            ctx.now_unix_ms,
        )?;
        Ok(Decision::event(UserEvent::MachineKeyAdded(
            MachineKeyAdded {
                key_id,
                format: key.format,
                public_key,
                expires_at_unix_ms,
            },
        )))
    }

    /// Removes a machine's key.
    pub fn remove_key(
        &self,
        key_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        if !machine.keys.contains_key(key_id) {
            return Err(DomainError::not_found(
                "user.machine.key.not_found",
                "the user has no key with this id",
            )
            .with_field("key_id"));
        }
        Ok(Decision::event(UserEvent::MachineKeyRemoved(
            MachineKeyRemoved {
                key_id: key_id.to_owned(),
            },
        )))
    }

    /// Sets or replaces a machine's client secret from its hash.
    pub fn set_secret(
        &self,
        secret_hash: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.existing_machine()?;
        let secret_hash =
            validate::secret_hash("user.machine.secret_hash", "secret_hash", secret_hash)?;
        Ok(Decision::event(UserEvent::MachineSecretSet(
            MachineSecretSet { secret_hash },
        )))
    }

    /// Removes a machine's client secret.
    pub fn remove_secret(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        if machine.secret_hash.is_none() {
            return Err(DomainError::not_found(
                "user.machine.secret.not_found",
                "the user has no client secret",
            ));
        }
        Ok(Decision::event(UserEvent::MachineSecretRemoved))
    }

    /// Adds a personal access token from its hash; the expiry must lie in the future.
    pub fn add_personal_access_token(
        &self,
        token: &PersonalAccessTokenAdded,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        let token_id = validate::identifier("user.machine.pat.id", "token_id", &token.token_id)?;
        if machine.tokens.contains_key(&token_id) {
            return Err(DomainError::already_exists(
                "user.machine.pat.already_exists",
                "the user already has a token with this id",
            )
            .with_field("token_id"));
        }
        if machine.tokens.len() >= MAX_PERSONAL_ACCESS_TOKENS {
            return Err(DomainError::precondition(
                "user.machine.pat.limit_reached",
                format!(
                    "a machine user may have at most {MAX_PERSONAL_ACCESS_TOKENS} personal access tokens; remove unused ones first"
                ),
            ));
        }
        let token_hash = validate::secret_hash(
            "user.machine.pat.token_hash",
            "token_hash",
            &token.token_hash,
        )?;
        let expires_at_unix_ms = validate::expiry(
            "user.machine.pat.expires_at",
            "expires_at",
            token.expires_at_unix_ms,
            ctx.now_unix_ms,
        )?;
        Ok(Decision::event(UserEvent::PersonalAccessTokenAdded(
            PersonalAccessTokenAdded {
                token_id,
                token_hash,
                expires_at_unix_ms,
            },
        )))
    }

    /// Removes a personal access token.
    pub fn remove_personal_access_token(
        &self,
        token_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        if !machine.tokens.contains_key(token_id) {
            return Err(DomainError::not_found(
                "user.machine.pat.not_found",
                "the user has no token with this id",
            )
            .with_field("token_id"));
        }
        Ok(Decision::event(UserEvent::PersonalAccessTokenRemoved(
            PersonalAccessTokenRemoved {
                token_id: token_id.to_owned(),
            },
        )))
    }
}

impl User {
    /// Records that the user became a member of an organization or project (nothing when already recorded).
    pub fn record_membership(
        &self,
        scope: crate::authz::ScopeKind,
        scope_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        if self.member_of.contains_key(scope_id) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserEvent::MembershipAdded(
            MembershipAdded {
                scope,
                scope_id: scope_id.to_owned(),
            },
        )))
    }
}

#[cfg(test)]
mod tests;
