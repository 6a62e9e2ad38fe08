//! The user's commands: their input and how the user decides on them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use super::checks::{check_org, check_profile, lower};
use super::*;
use crate::aggregate::{CommandContext, Decision, Lifecycle, UniqueChange};
use crate::application::AccessTokenType;
use crate::command::command;
use crate::error::DomainError;
use crate::org::Organization;
use crate::policy::LockoutPolicy;
use crate::public_key::{KeyOwner, check_key_id, check_new_key};
use crate::unique;
use crate::validate;

/// The rules of machine users' keys.
const MACHINE_KEYS: KeyOwner = KeyOwner {
    code: "user.machine.key",
    name: "machine user",
    max: MAX_MACHINE_KEYS,
};

/// `user.human.add`: creates a human user ([`User::add_human`]). Validators see whether an initial
/// password is set (`password_set`), never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    #[serde(
        rename = "password_set",
        serialize_with = "serialize_is_some",
        skip_deserializing
    )]
    #[schemars(with = "bool")]
    pub password_hash: Option<String>,
    /// The user must change the initial password at the next login.
    pub password_change_required: bool,
}

/// `user.machine.add`: creates a machine user (service account) ([`User::add_machine`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddMachine {
    /// The organization the user belongs to.
    pub org_id: String,
    /// The login name.
    pub login_name: String,
    /// The display name.
    pub name: String,
    /// What the service account is for (may be empty).
    pub description: String,
    /// The kind of its client-credentials and JWT-bearer access tokens (default JWT).
    #[serde(default)]
    pub access_token_type: AccessTokenType,
}

impl User {
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
            access_token_type: cmd.access_token_type,
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
        self.transition(
            self.locked,
            ("user.already_locked", "the user is already locked"),
            UserEvent::Locked,
        )
    }

    /// Unlocks a locked user and resets the failed password count.
    pub fn unlock(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.transition(
            !self.locked,
            ("user.not_locked", "the user is not locked"),
            UserEvent::Unlocked,
        )
    }

    /// Deactivates an active user.
    pub fn deactivate(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.deactivate(
            UserEvent::Deactivated,
            ("user.already_inactive", "the user is already deactivated"),
        )
    }

    /// Reactivates a deactivated user.
    pub fn reactivate(&self, _ctx: &CommandContext) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.reactivate(
            UserEvent::Reactivated,
            (
                "user.not_inactive",
                "the user is active; only a deactivated user can be reactivated",
            ),
        )
    }

    /// Decides `event` on an existing user, refused (409) with `refusal`'s code and message when it is
    /// `already` done.
    fn transition(
        &self,
        already: bool,
        refusal: (&'static str, &'static str),
        event: UserEvent,
    ) -> Result<Decision<UserEvent>, DomainError> {
        self.ensure_exists()?;
        Decision::unless_done(already, refusal, event)
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

    /// Changes a machine's name and description, and the kind of its access tokens when given.
    pub fn change_machine(
        &self,
        name: &str,
        description: &str,
        access_token_type: Option<AccessTokenType>,
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
        let access_token_type = access_token_type.unwrap_or(machine.access_token_type);
        if name == machine.name
            && description == machine.description
            && access_token_type == machine.access_token_type
        {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserEvent::MachineChanged(MachineChanged {
            name,
            description,
            access_token_type,
        })))
    }

    /// Adds a public key for the JWT profile grant; the expiry must lie in the future.
    pub fn add_key(
        &self,
        key: &MachineKeyAdded,
        ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        let key = check_new_key(&MACHINE_KEYS, &machine.keys, key, ctx.now_unix_ms)?;
        Ok(Decision::event(UserEvent::MachineKeyAdded(key)))
    }

    /// Removes a machine's key.
    pub fn remove_key(
        &self,
        key_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserEvent>, DomainError> {
        let machine = self.existing_machine()?;
        check_key_id(&MACHINE_KEYS, &machine.keys, key_id)?;
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

/// Serializes whether a secret is set, never the secret.
fn serialize_is_some<S: Serializer>(
    value: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(value.is_some())
}

command!(AddHuman: User, "user.human.add", UserWrite);

/// Declares the commands that carry one value besides the user they act on: each is decided by the user's
/// method of the same purpose, given the value.
macro_rules! value_commands {
    ($(
        $(#[$doc:meta])*
        $name:ident { $(#[$field_doc:meta])* $field:ident: $value:ty, } => $type:literal, $decide:ident;
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            pub struct $name {
                $(#[$field_doc])*
                pub $field: $value,
            }

            command!($name: User, $type, UserWrite, |self, user, ctx| user.$decide(&self.$field, ctx));
        )*
    };
}

value_commands! {
    /// `user.profile.change`: replaces a human's profile.
    ChangeProfile {
        /// Name and language; an empty display name becomes "given family", an empty language `und`.
        profile: Profile,
    } => "user.profile.change", change_profile;

    /// `user.email.change`: changes a human's email; the new address is unverified.
    ChangeEmail {
        /// The new email address.
        email: String,
    } => "user.email.change", change_email;
}

/// Declares the commands that carry nothing but the user they act on (named by the caller): each is
/// decided by the user's method of the same purpose.
macro_rules! unit_commands {
    ($($(#[$doc:meta])* $name:ident => $type:literal, $permission:ident, $decide:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            pub struct $name {}

            command!($name: User, $type, $permission, |self, user, ctx| user.$decide(ctx));
        )*
    };
}

unit_commands! {
    /// `user.email.verify`: marks a human's email verified.
    VerifyEmail => "user.email.verify", UserWrite, verify_email;
    /// `user.lock`: locks a user.
    LockUser => "user.lock", UserWrite, lock;
    /// `user.unlock`: unlocks a user.
    UnlockUser => "user.unlock", UserWrite, unlock;
    /// `user.deactivate`: deactivates a user.
    DeactivateUser => "user.deactivate", UserWrite, deactivate;
    /// `user.reactivate`: reactivates a user.
    ReactivateUser => "user.reactivate", UserWrite, reactivate;
    /// `user.remove`: removes a user; the login name is free again.
    RemoveUser => "user.remove", UserDelete, remove;
    /// `user.machine.secret.remove`: removes a machine user's client secret.
    RemoveMachineSecret => "user.machine.secret.remove", UserWrite, remove_secret;
    /// `user.otp.remove`: removes a human's second factor (TOTP).
    RemoveOtp => "user.otp.remove", UserWrite, remove_otp;
}

/// `user.phone.change`: sets (`Some`) or removes (`None`) a human's phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePhone {
    /// The phone number in international form, or `null` to remove it.
    pub phone: Option<String>,
}

command!(ChangePhone: User, "user.phone.change", UserWrite, |self, user, ctx| {
    user.change_phone(self.phone.as_deref(), ctx)
});

/// `user.password.set`: sets a human's password. Validators see only `change_required`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetPassword {
    /// The PHC string of the new password's hash, computed by the caller after checking the policy.
    #[serde(skip)]
    pub password_hash: String,
    /// The user must change the password at the next login.
    pub change_required: bool,
}

impl std::fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPassword")
            .field("change_required", &self.change_required)
            .finish_non_exhaustive()
    }
}

command!(SetPassword: User, "user.password.set", UserWrite, |self, user, ctx| {
    user.set_password(&self.password_hash, self.change_required, ctx)
});

/// `user.metadata.set`: sets a metadata entry of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetUserMetadata {
    /// The entry's key.
    pub key: String,
    /// The entry's value.
    pub value: String,
}

command!(SetUserMetadata: User, "user.metadata.set", UserWrite, |self, user, ctx| {
    user.set_metadata(&self.key, &self.value, ctx)
});

value_commands! {
    /// `user.metadata.remove`: removes a metadata entry of a user.
    RemoveUserMetadata {
        /// The entry's key.
        key: String,
    } => "user.metadata.remove", remove_metadata;
}

command!(AddMachine: User, "user.machine.add", UserWrite);

/// `user.machine.change`: changes a machine user's name and description, and the kind of its access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeMachine {
    /// The display name.
    pub name: String,
    /// What the service account is for (may be empty).
    pub description: String,
    /// The kind of its access tokens; unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_type: Option<AccessTokenType>,
}

command!(ChangeMachine: User, "user.machine.change", UserWrite, |self, user, ctx| {
    user.change_machine(&self.name, &self.description, self.access_token_type, ctx)
});

/// `user.machine.key.add`: gives a machine user a public key for the JWT profile grant. Its serialized form
/// is the key, with the id generated for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AddMachineKey {
    /// The key.
    pub key: MachineKeyAdded,
}

command!(AddMachineKey: User, "user.machine.key.add", UserWrite, |self, user, ctx| {
    user.add_key(&self.key, ctx)
});

value_commands! {
    /// `user.machine.key.remove`: removes a machine user's key.
    RemoveMachineKey {
        /// The key id.
        key_id: String,
    } => "user.machine.key.remove", remove_key;
}

/// `user.machine.secret.set`: sets or replaces a machine user's client secret. Validators see nothing of it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetMachineSecret {
    /// The hash of the new secret, which is generated outside and shown once.
    #[serde(skip)]
    pub secret_hash: String,
}

impl std::fmt::Debug for SetMachineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetMachineSecret").finish_non_exhaustive()
    }
}

command!(SetMachineSecret: User, "user.machine.secret.set", UserWrite, |self, user, ctx| {
    user.set_secret(&self.secret_hash, ctx)
});

/// `user.machine.pat.add`: gives a machine user a personal access token. Validators see its id and expiry,
/// never its hash.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddPersonalAccessToken {
    /// The token id, generated outside.
    pub token_id: String,
    /// The token's hash; the token itself is shown once to its creator and never stored.
    #[serde(skip)]
    pub token_hash: String,
    /// When the token stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

impl std::fmt::Debug for AddPersonalAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddPersonalAccessToken")
            .field("token_id", &self.token_id)
            .field("expires_at_unix_ms", &self.expires_at_unix_ms)
            .finish_non_exhaustive()
    }
}

command!(AddPersonalAccessToken: User, "user.machine.pat.add", UserWrite, |self, user, ctx| {
    let token = PersonalAccessTokenAdded {
        token_id: self.token_id.clone(),
        token_hash: self.token_hash.clone(),
        expires_at_unix_ms: self.expires_at_unix_ms,
    };
    user.add_personal_access_token(&token, ctx)
});

value_commands! {
    /// `user.machine.pat.remove`: removes a machine user's personal access token.
    RemovePersonalAccessToken {
        /// The token id.
        token_id: String,
    } => "user.machine.pat.remove", remove_personal_access_token;
}

/// Declares the commands on a human's second factor and emailed codes: their input (a code, a sealed
/// secret, a password) never reaches validators, so each serializes as an empty object.
macro_rules! credential_commands {
    ($($(#[$doc:meta])* $name:ident => $type:literal;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            pub struct $name {}

            command!($name: User, $type, UserWrite);
        )*
    };
}

credential_commands! {
    /// `user.otp.add`: starts a TOTP enrolment with a new secret.
    AddOtp => "user.otp.add";
    /// `user.otp.verify`: confirms the TOTP enrolment with a first code.
    VerifyOtp => "user.otp.verify";
    /// `user.otp.check`: checks a TOTP code at login; failures count toward the lockout.
    CheckOtp => "user.otp.check";
    /// `user.password.code.add`: issues a password reset code, mailed to the user.
    AddPasswordCode => "user.password.code.add";
    /// `user.password.reset`: sets a new password with the mailed code.
    ResetPassword => "user.password.reset";
    /// `user.email.code.add`: issues an email verification code, mailed to the user.
    AddEmailCode => "user.email.code.add";
    /// `user.email.verify_code`: verifies the email with the mailed code.
    VerifyEmailWithCode => "user.email.verify_code";
}
