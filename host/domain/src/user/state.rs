//! The user's state, as its events build it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::aggregate::{Aggregate, Lifecycle};
use crate::application::AccessTokenType;
use crate::error::DomainError;

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

pub use crate::public_key::PublicKey as MachineKey;

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
    /// The kind of its client-credentials and JWT-bearer access tokens.
    pub access_token_type: AccessTokenType,
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
                    access_token_type: e.access_token_type,
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
                    m.access_token_type = e.access_token_type;
                }
            }
            UserEvent::MachineKeyAdded(e) => {
                if let Some(m) = self.machine_mut() {
                    m.keys.insert(e.key_id.clone(), MachineKey::from(e));
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

    pub(super) fn human_mut(&mut self) -> Option<&mut Human> {
        match &mut self.kind {
            Some(UserKind::Human(h)) => Some(h),
            _ => None,
        }
    }

    pub(super) fn machine_mut(&mut self) -> Option<&mut Machine> {
        match &mut self.kind {
            Some(UserKind::Machine(m)) => Some(m),
            _ => None,
        }
    }

    pub(super) fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "user.not_found",
                "the user does not exist",
            ))
        }
    }

    pub(super) fn ensure_new(&self) -> Result<(), DomainError> {
        if self.lifecycle == Lifecycle::Unspecified {
            Ok(())
        } else {
            Err(DomainError::already_exists(
                "user.already_exists",
                "a user with this id already exists",
            ))
        }
    }

    pub(super) fn existing_human(&self) -> Result<&Human, DomainError> {
        self.ensure_exists()?;
        self.human().ok_or_else(|| {
            DomainError::precondition("user.not_human", "this command applies to human users only")
        })
    }

    pub(super) fn existing_machine(&self) -> Result<&Machine, DomainError> {
        self.ensure_exists()?;
        self.machine().ok_or_else(|| {
            DomainError::precondition(
                "user.not_machine",
                "this command applies to machine users only",
            )
        })
    }
}
