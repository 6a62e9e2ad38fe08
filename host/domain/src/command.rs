//! Commands as typed values: each command is a type with a stable name, a serde shape, the permission the
//! caller needs and (for most) how its aggregate decides on it.
//!
//! The trait lives in the domain rather than in the command pipeline (`warden-command`) because a command's
//! shape is part of the domain's contract, not of its execution: the aggregate decides on it, validator
//! plugins see its serialized form (published as JSON Schema, [`schemas`]), and plugin bindings name its
//! type ([`is_known_pattern`]), none of which needs the pipeline's storage or clock. The pipeline runs every
//! [`Change`] through one generic path: load, authorize, decide, validate, push, retry.
//!
//! What validators see of a command is `serde_json::to_value(&command)`. Secrets never appear in it: a field
//! holding a password hash serializes as whether it is set (`password_set`), or not at all.

use std::collections::BTreeMap;

use schemars::{JsonSchema, generate::SchemaSettings};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    Aggregate, CommandContext, Decision, DomainError, application,
    authz::{Permission, Role},
    instance, notification, org, plugin, project, session, user, user_grant,
};

/// A command: a value with a stable type name that one aggregate decides on.
pub trait Command:
    Serialize + DeserializeOwned + JsonSchema + std::fmt::Debug + Send + Sync
{
    /// The stable dotted name, e.g. `user.human.add`: validators and their bindings use it.
    const TYPE: &'static str;
    /// The permission the caller needs on the resource ([`Command::CHECKED_ON`]).
    const PERMISSION: Permission;
    /// Where [`Command::PERMISSION`] is checked.
    const CHECKED_ON: CheckedOn = CheckedOn::Resource;
    /// The aggregate the command changes.
    type Aggregate: Aggregate;

    /// The roles the command gives on the resource: the caller must hold every permission they grant
    /// ([`crate::authz::may_grant`]).
    fn grants(&self) -> &[Role] {
        &[]
    }
}

/// Where a command's permission is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedOn {
    /// On the resource itself: its organization or project (a user's organization, with the rules on acting
    /// on another user).
    Resource,
    /// On the instance, for a statement only instance administrators make (e.g. verifying a domain).
    Instance,
}

/// The events a command's aggregate stores.
pub type EventOf<C> = <<C as Command>::Aggregate as Aggregate>::Event;

/// A command its aggregate decides on its own state alone (the commands on an existing resource).
pub trait Change: Command {
    /// The aggregate's decision on this command.
    fn decide(
        &self,
        state: &Self::Aggregate,
        ctx: &CommandContext,
    ) -> Result<Decision<EventOf<Self>>, DomainError>;
}

/// Implements [`Command`] (and, with `=> decide`, [`Change`]) for a command type.
macro_rules! command {
    ($command:ty: $aggregate:ty, $type:literal, $permission:ident $(, on $on:ident)?
     $(, grants $roles:ident)?) => {
        impl $crate::command::Command for $command {
            const TYPE: &'static str = $type;
            const PERMISSION: $crate::authz::Permission = $crate::authz::Permission::$permission;
            $(const CHECKED_ON: $crate::command::CheckedOn = $crate::command::CheckedOn::$on;)?
            type Aggregate = $aggregate;
            $(
                fn grants(&self) -> &[$crate::authz::Role] {
                    &self.$roles
                }
            )?
        }
    };
    ($command:ty: $aggregate:ty, $type:literal, $permission:ident $(, on $on:ident)?
     $(, grants $roles:ident)?, |$self_:ident, $state:ident, $ctx:ident| $decide:expr) => {
        $crate::command::command!($command: $aggregate, $type, $permission $(, on $on)? $(, grants $roles)?);
        impl $crate::command::Change for $command {
            fn decide(
                &$self_,
                $state: &$aggregate,
                $ctx: &$crate::CommandContext,
            ) -> Result<
                $crate::Decision<<$aggregate as $crate::Aggregate>::Event>,
                $crate::DomainError,
            > {
                $decide
            }
        }
    };
}
pub(crate) use command;

/// The JSON Schema of `C`'s serialized form, standing alone (its own `$defs`).
fn schema<C: Command>() -> Value {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<C>()
        .to_value()
}

/// Lists the typed commands once, for [`TYPES`] and [`schemas`].
macro_rules! typed_commands {
    ($($command:ty),* $(,)?) => {
        const TYPED: &[&str] = &[$(<$command as Command>::TYPE),*];

        /// The JSON Schema of what validators see of each typed command (its serialized form), by type.
        pub fn schemas() -> BTreeMap<&'static str, Value> {
            let mut schemas = BTreeMap::new();
            $(
                schemas.insert(<$command as Command>::TYPE, schema::<$command>());
            )*
            schemas
        }
    };
}

typed_commands![
    user::AddHuman,
    user::ChangeProfile,
    user::ChangeEmail,
    user::VerifyEmail,
    user::ChangePhone,
    user::SetPassword,
    user::LockUser,
    user::UnlockUser,
    user::DeactivateUser,
    user::ReactivateUser,
    user::RemoveUser,
    user::SetUserMetadata,
    user::RemoveUserMetadata,
    user::AddMachine,
    user::ChangeMachine,
    user::AddMachineKey,
    user::RemoveMachineKey,
    user::SetMachineSecret,
    user::RemoveMachineSecret,
    user::AddPersonalAccessToken,
    user::RemovePersonalAccessToken,
    user::AddOtp,
    user::VerifyOtp,
    user::RemoveOtp,
    user::CheckOtp,
    user::AddPasswordCode,
    user::ResetPassword,
    user::AddEmailCode,
    user::VerifyEmailWithCode,
    org::AddOrg,
    org::RenameOrg,
    org::DeactivateOrg,
    org::ReactivateOrg,
    org::RemoveOrg,
    org::AddOrgDomain,
    org::VerifyOrgDomain,
    org::SetPrimaryOrgDomain,
    org::RemoveOrgDomain,
    org::SetOrgPolicy,
    org::ResetOrgPolicy,
    org::AddOrgMember,
    org::ChangeOrgMember,
    org::RemoveOrgMember,
    project::AddProject,
    project::RenameProject,
    project::DeactivateProject,
    project::ReactivateProject,
    project::RemoveProject,
    project::AddProjectRole,
    project::ChangeProjectRole,
    project::RemoveProjectRole,
    project::AddProjectGrant,
    project::ChangeProjectGrant,
    project::RemoveProjectGrant,
    project::AddProjectMember,
    project::ChangeProjectMember,
    project::RemoveProjectMember,
    project::DropProjectGrant,
    instance::SetupInstance,
    instance::AddInstanceDomain,
    instance::SetPrimaryInstanceDomain,
    instance::RemoveInstanceDomain,
    instance::SetDefaultPolicy,
    instance::SetSystemOrg,
    instance::AddInstanceMember,
    instance::ChangeInstanceMember,
    instance::RemoveInstanceMember,
    user_grant::AddUserGrant,
    user_grant::ChangeUserGrant,
    user_grant::DeactivateUserGrant,
    user_grant::ReactivateUserGrant,
    user_grant::RemoveUserGrant,
    user_grant::DropUserGrantRole,
    plugin::AddPlugin,
    plugin::UploadPluginVersion,
    plugin::ActivatePluginVersion,
    plugin::AddPluginBinding,
    plugin::ChangePluginBinding,
    plugin::RemovePluginBinding,
    plugin::RemovePlugin,
    application::AddOidcApp,
    application::AddApiApp,
    application::ChangeOidcConfig,
    application::ChangeApiConfig,
    application::RenameApp,
    application::RegenerateAppSecret,
    application::DeactivateApp,
    application::ReactivateApp,
    application::RemoveApp,
    application::AddAppKey,
    application::RemoveAppKey,
    notification::MarkNotificationSent,
    notification::MarkNotificationFailed,
    session::StartSession,
    session::CheckPassword,
    session::CheckSecondFactor,
    session::DenySession,
    session::TerminateSession,
];

/// Every command type, sorted.
pub fn types() -> Vec<&'static str> {
    let mut types: Vec<_> = TYPED.to_vec();
    types.sort_unstable();
    types
}

/// Whether `command_type` names a command.
pub fn is_known(command_type: &str) -> bool {
    TYPED.contains(&command_type)
}

/// Whether a command type matches a binding's pattern: dotted parts compared one by one, where a `*` part
/// matches any one part and a trailing `*` part matches one or more parts (`user.*` matches
/// `user.human.add`; `*` matches every command).
pub fn pattern_matches(pattern: &str, command_type: &str) -> bool {
    let mut pattern = pattern.split('.').peekable();
    let mut parts = command_type.split('.');
    while let Some(p) = pattern.next() {
        let Some(part) = parts.next() else {
            return false;
        };
        if p == "*" && pattern.peek().is_none() {
            return true;
        }
        if p != "*" && p != part {
            return false;
        }
    }
    parts.next().is_none()
}

/// Whether a binding's pattern matches at least one command type.
pub fn is_known_pattern(pattern: &str) -> bool {
    TYPED
        .iter()
        .any(|command_type| pattern_matches(pattern, command_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_listed_once() {
        let types = types();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
        assert!(is_known("user.human.add"));
        assert!(!is_known("user.human.added"));
    }

    #[test]
    fn patterns_must_match_a_command() {
        assert!(is_known_pattern("*"));
        assert!(is_known_pattern("user.*"));
        assert!(is_known_pattern("user.*.add"));
        assert!(is_known_pattern("org.add"));
        assert!(!is_known_pattern("user.human.added"));
        assert!(!is_known_pattern("usr.*"));
        assert!(!is_known_pattern("user.human"));
    }

    #[test]
    fn secrets_never_serialize() {
        use crate::fixtures::{PASSWORD_HASH, profile};
        let add = user::AddHuman {
            org_id: "org-1".to_owned(),
            login_name: "alice".to_owned(),
            profile: profile(),
            email: "alice@example.com".to_owned(),
            email_verified: false,
            phone: None,
            password_hash: Some(PASSWORD_HASH.to_owned()),
            password_change_required: true,
        };
        let value = serde_json::to_value(&add).unwrap();
        assert_eq!(value["password_set"], true);
        assert!(!value.to_string().contains(PASSWORD_HASH), "{value}");
        let back: user::AddHuman = serde_json::from_value(value).unwrap();
        assert_eq!(
            back,
            user::AddHuman {
                password_hash: None,
                ..add
            }
        );
        let set = user::SetPassword {
            password_hash: PASSWORD_HASH.to_owned(),
            change_required: true,
        };
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            serde_json::json!({ "change_required": true })
        );
        assert!(!format!("{set:?}").contains(PASSWORD_HASH));
        let token_hash = "ab".repeat(32);
        let start = session::StartSession {
            user_agent: "Firefox 128 on Linux".to_owned(),
            token_hash: token_hash.clone(),
        };
        assert_eq!(
            serde_json::to_value(&start).unwrap(),
            serde_json::json!({ "user_agent": "Firefox 128 on Linux" })
        );
        assert!(!format!("{start:?}").contains(&token_hash));
        let second = session::CheckSecondFactor {
            method: "otp".to_owned(),
            succeeded: true,
            token_hash: Some(token_hash.clone()),
        };
        assert_eq!(
            serde_json::to_value(&second).unwrap(),
            serde_json::json!({ "method": "otp", "succeeded": true })
        );
        assert!(!format!("{second:?}").contains(&token_hash));
    }

    #[test]
    fn every_typed_command_has_a_schema() {
        let schemas = schemas();
        assert_eq!(schemas.len(), TYPED.len());
        let add = &schemas["user.human.add"];
        assert!(add.pointer("/properties/password_set").is_some());
        assert!(add.pointer("/properties/password_hash").is_none());
    }
}
