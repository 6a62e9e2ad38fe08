//! The user's events and their payloads, with the upcaster of old revisions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CodeAdded, OtpAdded, OtpStep};
use crate::aggregate::domain_events;
use crate::application::AccessTokenType;
use crate::error::DecodeError;

/// A human's name and language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The kind of its access tokens (JWT in events written before machines had a choice).
    #[serde(default)]
    pub access_token_type: AccessTokenType,
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
    /// The kind of its access tokens (JWT in events written before machines had a choice).
    #[serde(default)]
    pub access_token_type: AccessTokenType,
}

pub use crate::public_key::{KeyFormat, PublicKeyAdded as MachineKeyAdded};

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
