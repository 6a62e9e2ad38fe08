//! Authorization of the management API: member roles, the permissions they grant, and a pure check of a
//! caller's memberships against a permission on a target.
//!
//! Memberships nest: an instance membership covers every organization and project of the instance, an
//! organization membership covers the organization and its projects, a project membership covers that project.
//! A role grants only its listed permissions, wherever its membership applies.
//!
//! | role | scope | permissions |
//! |---|---|---|
//! | `IAM_OWNER` | instance | all |
//! | `IAM_OWNER_VIEWER` | instance | every `*.read`, `events.read` |
//! | `IAM_ORG_MANAGER` | instance | `instance.read`, `org.*`, `policy.*`, `user.*`, `user_grant.*`, `project.*`, `app.*` |
//! | `IAM_USER_MANAGER` | instance | `instance.read`, `org.read`, `user.*`, `user_grant.*`, `project.read` |
//! | `ORG_OWNER` | organization | `org.read/write/delete`, `org.member.*`, `policy.*`, `user.*`, `user_grant.*`, `project.*`, `app.*`, `events.read` |
//! | `ORG_OWNER_VIEWER` | organization | the `*.read` of the above, `events.read` |
//! | `ORG_USER_MANAGER` | organization | `org.read`, `user.*`, `user_grant.*`, `project.read` |
//! | `ORG_PROJECT_CREATOR` | organization | `org.read`, `project.create` |
//! | `PROJECT_OWNER` | project | `project.read/write/delete`, `project.member.*`, `project.grant.write`, `app.*`, `user_grant.*` |
//! | `PROJECT_OWNER_VIEWER` | project | `project.read`, `project.member.read`, `app.read`, `user_grant.read` |
//!
//! # Which memberships count
//!
//! Memberships of removed users, and memberships on an organization or project that is removed or
//! deactivated (or whose organization is), authorize nothing: the caller builds memberships from live data
//! and leaves those out. Organization roles on the *system organization* (the one created at first start to
//! hold the first administrator) authorize nothing either: only instance roles manage it.
//!
//! # Acting on another user
//!
//! Creating or removing a user's credentials (personal access tokens, machine keys, client secret,
//! password, and the email address and phone number through which a password is reset or a second factor
//! received) and changing its life cycle (lock, unlock, deactivate, reactivate, remove) hand the caller the
//! target's power, so they need more than `user.write` on the target's organization: [`may_act_on`] requires
//! that for **every** membership the target holds, the caller may manage members on that scope and holds
//! every permission the target's roles grant there. A user of an active organization may manage its own
//! personal access tokens and its own password without any role ([`SelfService`]); every other command on oneself follows the same rule as
//! on anyone else.
//!
//! The last active `IAM_OWNER` of an instance cannot be deactivated, locked, removed or lose the role
//! (`instance.last_owner`), so the instance is never left without an administrator.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// What a role is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// The whole instance.
    Instance,
    /// One organization and everything in it.
    Org,
    /// One project.
    Project,
}

impl ScopeKind {
    /// The stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Org => "org",
            Self::Project => "project",
        }
    }
}

/// A member role; its stored and API name is the upper-case form, e.g. `"ORG_OWNER"`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Role {
    /// Owns the instance: every permission everywhere.
    #[serde(rename = "IAM_OWNER")]
    IamOwner,
    /// Reads everything in the instance.
    #[serde(rename = "IAM_OWNER_VIEWER")]
    IamOwnerViewer,
    /// Manages all organizations and their content, but not instance settings or instance members.
    #[serde(rename = "IAM_ORG_MANAGER")]
    IamOrgManager,
    /// Manages all users and user grants.
    #[serde(rename = "IAM_USER_MANAGER")]
    IamUserManager,
    /// Owns an organization and everything in it.
    #[serde(rename = "ORG_OWNER")]
    OrgOwner,
    /// Reads everything in an organization.
    #[serde(rename = "ORG_OWNER_VIEWER")]
    OrgOwnerViewer,
    /// Manages an organization's users and user grants.
    #[serde(rename = "ORG_USER_MANAGER")]
    OrgUserManager,
    /// May create projects in an organization.
    #[serde(rename = "ORG_PROJECT_CREATOR")]
    OrgProjectCreator,
    /// Owns a project: roles, applications, grants, members.
    #[serde(rename = "PROJECT_OWNER")]
    ProjectOwner,
    /// Reads a project.
    #[serde(rename = "PROJECT_OWNER_VIEWER")]
    ProjectOwnerViewer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 10] = [
        Role::IamOwner,
        Role::IamOwnerViewer,
        Role::IamOrgManager,
        Role::IamUserManager,
        Role::OrgOwner,
        Role::OrgOwnerViewer,
        Role::OrgUserManager,
        Role::OrgProjectCreator,
        Role::ProjectOwner,
        Role::ProjectOwnerViewer,
    ];

    /// The stored and API name, e.g. `"IAM_OWNER"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IamOwner => "IAM_OWNER",
            Self::IamOwnerViewer => "IAM_OWNER_VIEWER",
            Self::IamOrgManager => "IAM_ORG_MANAGER",
            Self::IamUserManager => "IAM_USER_MANAGER",
            Self::OrgOwner => "ORG_OWNER",
            Self::OrgOwnerViewer => "ORG_OWNER_VIEWER",
            Self::OrgUserManager => "ORG_USER_MANAGER",
            Self::OrgProjectCreator => "ORG_PROJECT_CREATOR",
            Self::ProjectOwner => "PROJECT_OWNER",
            Self::ProjectOwnerViewer => "PROJECT_OWNER_VIEWER",
        }
    }

    /// Parses a role name; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The kind of membership this role belongs to.
    pub fn scope_kind(self) -> ScopeKind {
        match self {
            Self::IamOwner | Self::IamOwnerViewer | Self::IamOrgManager | Self::IamUserManager => {
                ScopeKind::Instance
            }
            Self::OrgOwner
            | Self::OrgOwnerViewer
            | Self::OrgUserManager
            | Self::OrgProjectCreator => ScopeKind::Org,
            Self::ProjectOwner | Self::ProjectOwnerViewer => ScopeKind::Project,
        }
    }

    /// The permissions this role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Self::IamOwner => &Permission::ALL,
            Self::IamOwnerViewer => &[
                InstanceRead,
                InstanceMemberRead,
                EventsRead,
                OrgRead,
                OrgMemberRead,
                PolicyRead,
                UserRead,
                UserGrantRead,
                ProjectRead,
                ProjectMemberRead,
                AppRead,
                PluginRead,
            ],
            Self::IamOrgManager => &[
                InstanceRead,
                OrgCreate,
                OrgRead,
                OrgWrite,
                OrgDelete,
                OrgMemberRead,
                OrgMemberWrite,
                PolicyRead,
                PolicyWrite,
                UserRead,
                UserWrite,
                UserDelete,
                UserGrantRead,
                UserGrantWrite,
                ProjectCreate,
                ProjectRead,
                ProjectWrite,
                ProjectDelete,
                ProjectMemberRead,
                ProjectMemberWrite,
                ProjectGrantWrite,
                AppRead,
                AppWrite,
            ],
            Self::IamUserManager => &[
                InstanceRead,
                OrgRead,
                UserRead,
                UserWrite,
                UserDelete,
                UserGrantRead,
                UserGrantWrite,
                ProjectRead,
            ],
            Self::OrgOwner => &[
                EventsRead,
                OrgRead,
                OrgWrite,
                OrgDelete,
                OrgMemberRead,
                OrgMemberWrite,
                PolicyRead,
                PolicyWrite,
                UserRead,
                UserWrite,
                UserDelete,
                UserGrantRead,
                UserGrantWrite,
                ProjectCreate,
                ProjectRead,
                ProjectWrite,
                ProjectDelete,
                ProjectMemberRead,
                ProjectMemberWrite,
                ProjectGrantWrite,
                AppRead,
                AppWrite,
            ],
            Self::OrgOwnerViewer => &[
                EventsRead,
                OrgRead,
                OrgMemberRead,
                PolicyRead,
                UserRead,
                UserGrantRead,
                ProjectRead,
                ProjectMemberRead,
                AppRead,
            ],
            Self::OrgUserManager => &[
                OrgRead,
                UserRead,
                UserWrite,
                UserDelete,
                UserGrantRead,
                UserGrantWrite,
                ProjectRead,
            ],
            Self::OrgProjectCreator => &[OrgRead, ProjectCreate],
            Self::ProjectOwner => &[
                ProjectRead,
                ProjectWrite,
                ProjectDelete,
                ProjectMemberRead,
                ProjectMemberWrite,
                ProjectGrantWrite,
                AppRead,
                AppWrite,
                UserGrantRead,
                UserGrantWrite,
            ],
            Self::ProjectOwnerViewer => &[ProjectRead, ProjectMemberRead, AppRead, UserGrantRead],
        }
    }

    /// True when this role grants `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission checked by the management API; its name is dotted, e.g. `"org.write"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// Read instance settings, domains and default policies.
    #[serde(rename = "instance.read")]
    InstanceRead,
    /// Change instance settings, domains and default policies.
    #[serde(rename = "instance.write")]
    InstanceWrite,
    /// Read instance members.
    #[serde(rename = "instance.member.read")]
    InstanceMemberRead,
    /// Add, change and remove instance members.
    #[serde(rename = "instance.member.write")]
    InstanceMemberWrite,
    /// Read the audit trail (events).
    #[serde(rename = "events.read")]
    EventsRead,
    /// Create organizations.
    #[serde(rename = "org.create")]
    OrgCreate,
    /// Read an organization and its domains.
    #[serde(rename = "org.read")]
    OrgRead,
    /// Rename, deactivate and reactivate an organization, manage its domains.
    #[serde(rename = "org.write")]
    OrgWrite,
    /// Remove an organization.
    #[serde(rename = "org.delete")]
    OrgDelete,
    /// Read organization members.
    #[serde(rename = "org.member.read")]
    OrgMemberRead,
    /// Add, change and remove organization members.
    #[serde(rename = "org.member.write")]
    OrgMemberWrite,
    /// Read policies.
    #[serde(rename = "policy.read")]
    PolicyRead,
    /// Set and reset organization policies.
    #[serde(rename = "policy.write")]
    PolicyWrite,
    /// Read users and their metadata.
    #[serde(rename = "user.read")]
    UserRead,
    /// Create and change users, their credentials and metadata.
    #[serde(rename = "user.write")]
    UserWrite,
    /// Remove users.
    #[serde(rename = "user.delete")]
    UserDelete,
    /// Read user grants.
    #[serde(rename = "user_grant.read")]
    UserGrantRead,
    /// Add, change and remove user grants.
    #[serde(rename = "user_grant.write")]
    UserGrantWrite,
    /// Create projects in an organization.
    #[serde(rename = "project.create")]
    ProjectCreate,
    /// Read a project and its roles.
    #[serde(rename = "project.read")]
    ProjectRead,
    /// Change a project and its roles.
    #[serde(rename = "project.write")]
    ProjectWrite,
    /// Remove a project.
    #[serde(rename = "project.delete")]
    ProjectDelete,
    /// Read project members.
    #[serde(rename = "project.member.read")]
    ProjectMemberRead,
    /// Add, change and remove project members.
    #[serde(rename = "project.member.write")]
    ProjectMemberWrite,
    /// Grant a project to other organizations.
    #[serde(rename = "project.grant.write")]
    ProjectGrantWrite,
    /// Read applications.
    #[serde(rename = "app.read")]
    AppRead,
    /// Add, change and remove applications and their secrets.
    #[serde(rename = "app.write")]
    AppWrite,
    /// Read plugins, their versions and bindings.
    #[serde(rename = "plugin.read")]
    PluginRead,
    /// Upload, bind and remove plugins (instance-wide code execution: instance roles only).
    #[serde(rename = "plugin.write")]
    PluginWrite,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 29] = [
        Permission::InstanceRead,
        Permission::InstanceWrite,
        Permission::InstanceMemberRead,
        Permission::InstanceMemberWrite,
        Permission::EventsRead,
        Permission::OrgCreate,
        Permission::OrgRead,
        Permission::OrgWrite,
        Permission::OrgDelete,
        Permission::OrgMemberRead,
        Permission::OrgMemberWrite,
        Permission::PolicyRead,
        Permission::PolicyWrite,
        Permission::UserRead,
        Permission::UserWrite,
        Permission::UserDelete,
        Permission::UserGrantRead,
        Permission::UserGrantWrite,
        Permission::ProjectCreate,
        Permission::ProjectRead,
        Permission::ProjectWrite,
        Permission::ProjectDelete,
        Permission::ProjectMemberRead,
        Permission::ProjectMemberWrite,
        Permission::ProjectGrantWrite,
        Permission::AppRead,
        Permission::AppWrite,
        Permission::PluginRead,
        Permission::PluginWrite,
    ];

    /// The dotted name, e.g. `"org.write"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceRead => "instance.read",
            Self::InstanceWrite => "instance.write",
            Self::InstanceMemberRead => "instance.member.read",
            Self::InstanceMemberWrite => "instance.member.write",
            Self::EventsRead => "events.read",
            Self::OrgCreate => "org.create",
            Self::OrgRead => "org.read",
            Self::OrgWrite => "org.write",
            Self::OrgDelete => "org.delete",
            Self::OrgMemberRead => "org.member.read",
            Self::OrgMemberWrite => "org.member.write",
            Self::PolicyRead => "policy.read",
            Self::PolicyWrite => "policy.write",
            Self::UserRead => "user.read",
            Self::UserWrite => "user.write",
            Self::UserDelete => "user.delete",
            Self::UserGrantRead => "user_grant.read",
            Self::UserGrantWrite => "user_grant.write",
            Self::ProjectCreate => "project.create",
            Self::ProjectRead => "project.read",
            Self::ProjectWrite => "project.write",
            Self::ProjectDelete => "project.delete",
            Self::ProjectMemberRead => "project.member.read",
            Self::ProjectMemberWrite => "project.member.write",
            Self::ProjectGrantWrite => "project.grant.write",
            Self::AppRead => "app.read",
            Self::AppWrite => "app.write",
            Self::PluginRead => "plugin.read",
            Self::PluginWrite => "plugin.write",
        }
    }

    /// Parses a dotted permission name; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a membership is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// The caller's instance.
    Instance,
    /// The organization with this id.
    Org(String),
    /// The project with this id.
    Project(String),
}

impl Scope {
    /// The kind of scope.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Self::Instance => ScopeKind::Instance,
            Self::Org(_) => ScopeKind::Org,
            Self::Project(_) => ScopeKind::Project,
        }
    }

    /// True when a membership on this scope applies to `target`.
    pub fn covers(&self, target: &Target) -> bool {
        match (self, target) {
            (Self::Instance, _) => true,
            (Self::Org(org), Target::Org { org_id }) => org == org_id,
            (Self::Org(org), Target::Project { org_id, .. }) => org == org_id,
            (Self::Project(project), Target::Project { project_id, .. }) => project == project_id,
            _ => false,
        }
    }
}

/// One membership of a caller: roles on a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Where the roles apply.
    pub scope: Scope,
    /// The roles held there.
    pub roles: Vec<Role>,
}

/// The resource a permission is checked on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// The instance itself (instance settings, creating organizations, instance members).
    Instance,
    /// An organization, or a resource owned by it (users, organization policies).
    Org {
        /// The organization's id.
        org_id: String,
    },
    /// A project, or a resource in it (applications, project grants, user grants).
    Project {
        /// The id of the organization owning the project.
        org_id: String,
        /// The project's id.
        project_id: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instance => f.write_str("the instance"),
            Self::Org { org_id } => write!(f, "organization {org_id}"),
            Self::Project { project_id, .. } => write!(f, "project {project_id}"),
        }
    }
}

/// True when any of `memberships` grants `permission` on `target`. Roles held on a scope of the wrong kind
/// (e.g. `ORG_OWNER` on an instance scope) grant nothing.
pub fn is_allowed(memberships: &[Membership], permission: Permission, target: &Target) -> bool {
    memberships.iter().any(|m| {
        m.scope.covers(target)
            && m.roles
                .iter()
                .any(|role| role.scope_kind() == m.scope.kind() && role.grants(permission))
    })
}

/// Like [`is_allowed`], as a `PermissionDenied` error naming the missing permission and the target.
pub fn authorize(
    memberships: &[Membership],
    permission: Permission,
    target: &Target,
) -> Result<(), DomainError> {
    if is_allowed(memberships, permission, target) {
        Ok(())
    } else {
        Err(DomainError::permission_denied(
            "authz.permission_denied",
            format!("permission {permission} on {target} is required for this request"),
        ))
    }
}

/// The permission that manages members on a scope of `kind`.
pub fn member_write_permission(kind: ScopeKind) -> Permission {
    match kind {
        ScopeKind::Instance => Permission::InstanceMemberWrite,
        ScopeKind::Org => Permission::OrgMemberWrite,
        ScopeKind::Project => Permission::ProjectMemberWrite,
    }
}

/// A membership held by the user a command acts on, with the target its scope is checked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMembership {
    /// The scope of the membership, as a target (a project scope names its organization too).
    pub on: Target,
    /// The roles held there.
    pub roles: Vec<Role>,
}

/// Whether a user may act on its own account without the permission the command otherwise needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfService {
    /// The user may do this to itself (its own personal access tokens and password).
    Allowed,
    /// Acting on oneself needs the same permissions as acting on anyone.
    NotAllowed,
}

/// The one rule for acting on another user's credentials or life cycle: `caller` must cover every
/// membership of the target, i.e. hold the member-management permission on its scope and every permission
/// the target's roles grant there. Refused with `authz.target_more_privileged` (403).
pub fn may_act_on(caller: &[Membership], target: &[HeldMembership]) -> Result<(), DomainError> {
    for held in target {
        let kind = match &held.on {
            Target::Instance => ScopeKind::Instance,
            Target::Org { .. } => ScopeKind::Org,
            Target::Project { .. } => ScopeKind::Project,
        };
        let covered = is_allowed(caller, member_write_permission(kind), &held.on)
            && held.roles.iter().all(|role| {
                role.scope_kind() != kind
                    || role
                        .permissions()
                        .iter()
                        .all(|p| is_allowed(caller, *p, &held.on))
            });
        if !covered {
            let roles: Vec<&str> = held.roles.iter().map(|r| r.as_str()).collect();
            return Err(DomainError::permission_denied(
                "authz.target_more_privileged",
                format!(
                    "the user holds {} on {}; acting on its credentials or life cycle needs at least \
                     those privileges",
                    roles.join(", "),
                    held.on
                ),
            ));
        }
    }
    Ok(())
}

/// The rule for giving roles: granting a membership is no way to gain privileges, so `caller` must hold on
/// `on` every permission that `roles` grant there (an `IAM_ORG_MANAGER`, who may manage organization members
/// but not read the audit trail, cannot make anyone, itself included, `ORG_OWNER`). Refused with
/// `authz.role_beyond_own` (403).
pub fn may_grant(caller: &[Membership], roles: &[Role], on: &Target) -> Result<(), DomainError> {
    let kind = match on {
        Target::Instance => ScopeKind::Instance,
        Target::Org { .. } => ScopeKind::Org,
        Target::Project { .. } => ScopeKind::Project,
    };
    for role in roles.iter().filter(|r| r.scope_kind() == kind) {
        if let Some(missing) = role
            .permissions()
            .iter()
            .find(|p| !is_allowed(caller, **p, on))
        {
            return Err(DomainError::permission_denied(
                "authz.role_beyond_own",
                format!(
                    "{} grants {} on {on}, which you do not hold: you can only give roles within your own \
                     privileges",
                    role.as_str(),
                    missing.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The permission that lets a caller see a resource checked against `permission`: without it, the
/// resource answers as if it did not exist (404) rather than 403, so ids of other tenants cannot be probed.
pub fn visibility(permission: Permission) -> Permission {
    use Permission::*;
    match permission {
        InstanceRead | InstanceWrite | InstanceMemberRead | InstanceMemberWrite | OrgCreate => {
            InstanceRead
        }
        EventsRead => EventsRead,
        // An organization's policies and members are parts of the organization: whoever sees it sees them.
        OrgRead | OrgWrite | OrgDelete | OrgMemberRead | OrgMemberWrite | ProjectCreate
        | PolicyRead | PolicyWrite => OrgRead,
        UserRead | UserWrite | UserDelete => UserRead,
        UserGrantRead | UserGrantWrite => UserGrantRead,
        ProjectRead | ProjectWrite | ProjectDelete | ProjectMemberRead | ProjectMemberWrite
        | ProjectGrantWrite => ProjectRead,
        AppRead | AppWrite => AppRead,
        PluginRead | PluginWrite => PluginRead,
    }
}

/// Whether a caller refused `permission` on `target` may still see the target (403) or must be told it
/// does not exist (404). The instance itself is never hidden.
pub fn may_see(memberships: &[Membership], permission: Permission, target: &Target) -> bool {
    matches!(target, Target::Instance)
        || is_allowed(memberships, visibility(permission), target)
        || is_allowed(memberships, permission, target)
}

#[cfg(test)]
mod tests;
