//! Projects: roles, grants of the project to other organizations, and project members.
//!
//! A role key is unique within its project. A project grant gives another organization a subset of the
//! project's roles to hand out to its own users. Removing a role also takes it out of every project grant
//! (as `project.grant.changed` events in the same decision); user grants holding the role are separate
//! aggregates and are updated by the caller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, CommandContext, Decision, Lifecycle, domain_events, no_upcast};
use crate::error::DomainError;
use crate::member::{MemberRemoved, MemberRoles, Members};
use crate::org::Organization;
use crate::validate;

mod commands;

pub use commands::*;

/// The most roles a project may have.
pub const MAX_PROJECT_ROLES: usize = 500;
/// The most grants a project may have.
pub const MAX_PROJECT_GRANTS: usize = 1000;

/// Payload of `project.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectAdded {
    /// The organization owning the project.
    pub org_id: String,
    /// The project's name.
    pub name: String,
}

/// Payload of `project.renamed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRenamed {
    /// The new name.
    pub name: String,
}

/// A project role: payload of `project.role.added` and `project.role.changed`, and input of the role commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProjectRole {
    /// The key, as used in tokens and grants.
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// An optional group to arrange roles in the UI.
    #[serde(default)]
    pub group: String,
}

/// Payload of `project.role.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRoleRemoved {
    /// The removed role's key.
    pub key: String,
}

/// Payload of `project.grant.added`, and input of [`Project::add_grant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProjectGrantAdded {
    /// The grant's id, generated outside.
    pub grant_id: String,
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys the granted organization may hand out.
    pub role_keys: Vec<String>,
}

/// Payload of `project.grant.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectGrantChanged {
    /// The grant's id.
    pub grant_id: String,
    /// The complete new set of role keys.
    pub role_keys: Vec<String>,
}

/// Payload of `project.grant.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectGrantRemoved {
    /// The grant's id.
    pub grant_id: String,
}

domain_events! {
    /// Events of the project aggregate.
    pub enum ProjectEvent {
        /// The project was created.
        Added(ProjectAdded) => "project.added" @ 1,
        /// The project was renamed.
        Renamed(ProjectRenamed) => "project.renamed" @ 1,
        /// The project was deactivated.
        Deactivated => "project.deactivated" @ 1,
        /// The project was reactivated.
        Reactivated => "project.reactivated" @ 1,
        /// The project was removed.
        Removed => "project.removed" @ 1,
        /// A role was added.
        RoleAdded(ProjectRole) => "project.role.added" @ 1,
        /// A role's display name or group changed.
        RoleChanged(ProjectRole) => "project.role.changed" @ 1,
        /// A role was removed.
        RoleRemoved(ProjectRoleRemoved) => "project.role.removed" @ 1,
        /// The project was granted to another organization.
        GrantAdded(ProjectGrantAdded) => "project.grant.added" @ 1,
        /// A grant's role keys changed.
        GrantChanged(ProjectGrantChanged) => "project.grant.changed" @ 1,
        /// A grant was removed.
        GrantRemoved(ProjectGrantRemoved) => "project.grant.removed" @ 1,
        /// A user became a project member.
        MemberAdded(MemberRoles) => "project.member.added" @ 1,
        /// A project member's roles changed.
        MemberChanged(MemberRoles) => "project.member.changed" @ 1,
        /// A user is no longer a project member.
        MemberRemoved(MemberRemoved) => "project.member.removed" @ 1,
    }
    upcast = no_upcast;
}

/// A grant of the project to another organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectGrant {
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys it may hand out.
    pub role_keys: Vec<String>,
}

/// State of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Project {
    /// Life cycle.
    pub lifecycle: Lifecycle,
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
    /// Roles by key.
    pub roles: BTreeMap<String, ProjectRole>,
    /// Grants by grant id.
    pub grants: BTreeMap<String, ProjectGrant>,
    /// The project members.
    pub members: Members,
}

impl Aggregate for Project {
    const TYPE: &'static str = "project";
    type Event = ProjectEvent;

    fn apply(&mut self, event: &ProjectEvent) {
        match event {
            ProjectEvent::Added(e) => {
                self.lifecycle = Lifecycle::Active;
                self.org_id.clone_from(&e.org_id);
                self.name.clone_from(&e.name);
            }
            ProjectEvent::Renamed(e) => self.name.clone_from(&e.name),
            ProjectEvent::Deactivated => self.lifecycle = Lifecycle::Inactive,
            ProjectEvent::Reactivated => self.lifecycle = Lifecycle::Active,
            ProjectEvent::Removed => self.lifecycle = Lifecycle::Removed,
            ProjectEvent::RoleAdded(role) | ProjectEvent::RoleChanged(role) => {
                self.roles.insert(role.key.clone(), role.clone());
            }
            ProjectEvent::RoleRemoved(e) => {
                self.roles.remove(&e.key);
            }
            ProjectEvent::GrantAdded(e) => {
                self.grants.insert(
                    e.grant_id.clone(),
                    ProjectGrant {
                        granted_org_id: e.granted_org_id.clone(),
                        role_keys: e.role_keys.clone(),
                    },
                );
            }
            ProjectEvent::GrantChanged(e) => {
                if let Some(grant) = self.grants.get_mut(&e.grant_id) {
                    grant.role_keys.clone_from(&e.role_keys);
                }
            }
            ProjectEvent::GrantRemoved(e) => {
                self.grants.remove(&e.grant_id);
            }
            ProjectEvent::MemberAdded(e) | ProjectEvent::MemberChanged(e) => {
                self.members.apply_set(e)
            }
            ProjectEvent::MemberRemoved(e) => self.members.apply_removed(e),
        }
    }
}

/// `project.add`: creates a project in an organization ([`Project::add`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddProject {
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
}

impl Project {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    /// True when the project has a role with this key.
    pub fn has_role(&self, key: &str) -> bool {
        self.roles.contains_key(key)
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "project.not_found",
                "the project does not exist",
            ))
        }
    }

    /// Refuses (404, on `project_id`) a command on another aggregate that names this project when it does not
    /// exist.
    pub(crate) fn ensure_named(&self) -> Result<(), DomainError> {
        self.ensure_exists()
            .map_err(|error| error.with_field("project_id"))
    }

    fn existing_grant(&self, grant_id: &str) -> Result<&ProjectGrant, DomainError> {
        self.grants.get(grant_id).ok_or_else(|| {
            DomainError::not_found(
                "project.grant.not_found",
                "the project has no grant with this id",
            )
            .with_field("grant_id")
        })
    }

    /// Checks role keys for a grant: valid, distinct, and roles of this project.
    fn check_grant_roles(&self, role_keys: &[String]) -> Result<Vec<String>, DomainError> {
        let keys = validate::role_keys("project.grant.role_key", "role_keys", role_keys)?;
        if let Some(i) = keys.iter().position(|k| !self.has_role(k)) {
            return Err(DomainError::invalid(
                format!("role_keys[{i}]"),
                "project.grant.role_key.unknown",
                format!("the project has no role {:?}", keys[i]),
            ));
        }
        Ok(keys)
    }

    /// Creates a project in an active organization.
    pub fn add(
        &self,
        cmd: &AddProject,
        org: &Organization,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        if self.lifecycle != Lifecycle::Unspecified {
            return Err(DomainError::already_exists(
                "project.already_exists",
                "a project with this id already exists",
            ));
        }
        let org_id = validate::identifier("project.org_id", "org_id", &cmd.org_id)?;
        if !org.exists() {
            return Err(
                DomainError::not_found("org.not_found", "the organization does not exist")
                    .with_field("org_id"),
            );
        }
        if !org.is_active() {
            return Err(DomainError::precondition(
                "org.inactive",
                "the organization is deactivated; reactivate it before adding projects",
            )
            .with_field("org_id"));
        }
        let name = validate::text("project.name", "name", &cmd.name, validate::MAX_NAME_LEN)?;
        Ok(Decision::event(ProjectEvent::Added(ProjectAdded {
            org_id,
            name,
        })))
    }

    /// Renames the project.
    pub fn rename(
        &self,
        name: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        let name = validate::text("project.name", "name", name, validate::MAX_NAME_LEN)?;
        if name == self.name {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(ProjectEvent::Renamed(ProjectRenamed {
            name,
        })))
    }

    /// Deactivates an active project.
    pub fn deactivate(&self, _ctx: &CommandContext) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.deactivate(
            ProjectEvent::Deactivated,
            (
                "project.already_inactive",
                "the project is already deactivated",
            ),
        )
    }

    /// Reactivates a deactivated project.
    pub fn reactivate(&self, _ctx: &CommandContext) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.reactivate(
            ProjectEvent::Reactivated,
            (
                "project.not_inactive",
                "the project is active; only a deactivated project can be reactivated",
            ),
        )
    }

    /// Removes the project.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        Ok(Decision::event(ProjectEvent::Removed))
    }

    fn check_role(role: &ProjectRole) -> Result<ProjectRole, DomainError> {
        Ok(ProjectRole {
            key: validate::role_key("project.role.key", "key", &role.key)?,
            display_name: validate::text(
                "project.role.display_name",
                "display_name",
                &role.display_name,
                validate::MAX_NAME_LEN,
            )?,
            group: validate::optional_text(
                "project.role.group",
                "group",
                &role.group,
                validate::MAX_NAME_LEN,
            )?,
        })
    }

    /// Adds a role; its key must be new in the project.
    pub fn add_role(
        &self,
        role: &ProjectRole,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        let role = Self::check_role(role)?;
        if self.has_role(&role.key) {
            return Err(DomainError::already_exists(
                "project.role.already_exists",
                format!("the project already has a role {:?}", role.key),
            )
            .with_field("key"));
        }
        if self.roles.len() >= MAX_PROJECT_ROLES {
            return Err(DomainError::precondition(
                "project.roles.limit_reached",
                format!("a project may have at most {MAX_PROJECT_ROLES} roles"),
            ));
        }
        Ok(Decision::event(ProjectEvent::RoleAdded(role)))
    }

    /// Changes a role's display name and group; the key identifies the role.
    pub fn change_role(
        &self,
        role: &ProjectRole,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        let role = Self::check_role(role)?;
        let Some(current) = self.roles.get(&role.key) else {
            return Err(DomainError::not_found(
                "project.role.not_found",
                format!("the project has no role {:?}", role.key),
            )
            .with_field("key"));
        };
        if *current == role {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(ProjectEvent::RoleChanged(role)))
    }

    /// Removes a role, and takes it out of every project grant.
    pub fn remove_role(
        &self,
        key: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.has_role(key) {
            return Err(DomainError::not_found(
                "project.role.not_found",
                format!("the project has no role {key:?}"),
            )
            .with_field("key"));
        }
        let mut decision = Decision::event(ProjectEvent::RoleRemoved(ProjectRoleRemoved {
            key: key.to_owned(),
        }));
        for (grant_id, grant) in &self.grants {
            if grant.role_keys.iter().any(|k| k == key) {
                decision = decision.and(ProjectEvent::GrantChanged(ProjectGrantChanged {
                    grant_id: grant_id.clone(),
                    role_keys: grant
                        .role_keys
                        .iter()
                        .filter(|k| *k != key)
                        .cloned()
                        .collect(),
                }));
            }
        }
        Ok(decision)
    }

    /// Grants the project to another, active organization with a subset of the project's roles.
    pub fn add_grant(
        &self,
        grant: &ProjectGrantAdded,
        granted_org: &Organization,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        let grant_id = validate::identifier("project.grant.id", "grant_id", &grant.grant_id)?;
        let granted_org_id = validate::identifier(
            "project.grant.org_id",
            "granted_org_id",
            &grant.granted_org_id,
        )?;
        if self.grants.contains_key(&grant_id) {
            return Err(DomainError::already_exists(
                "project.grant.already_exists",
                "the project already has a grant with this id",
            )
            .with_field("grant_id"));
        }
        if granted_org_id == self.org_id {
            return Err(DomainError::invalid(
                "granted_org_id",
                "project.grant.own_org",
                "a project cannot be granted to the organization that owns it",
            ));
        }
        if self
            .grants
            .values()
            .any(|g| g.granted_org_id == granted_org_id)
        {
            return Err(DomainError::already_exists(
                "project.grant.org_already_granted",
                "the project is already granted to this organization; change that grant's roles instead",
            )
            .with_field("granted_org_id"));
        }
        if !granted_org.exists() {
            return Err(
                DomainError::not_found("org.not_found", "the organization does not exist")
                    .with_field("granted_org_id"),
            );
        }
        if !granted_org.is_active() {
            return Err(DomainError::precondition(
                "org.inactive",
                "the organization is deactivated and cannot receive grants",
            )
            .with_field("granted_org_id"));
        }
        if self.grants.len() >= MAX_PROJECT_GRANTS {
            return Err(DomainError::precondition(
                "project.grants.limit_reached",
                format!("a project may have at most {MAX_PROJECT_GRANTS} grants"),
            ));
        }
        let role_keys = self.check_grant_roles(&grant.role_keys)?;
        Ok(Decision::event(ProjectEvent::GrantAdded(
            ProjectGrantAdded {
                grant_id,
                granted_org_id,
                role_keys,
            },
        )))
    }

    /// Replaces the role keys of a grant.
    pub fn change_grant(
        &self,
        grant_id: &str,
        role_keys: &[String],
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        let grant = self.existing_grant(grant_id)?;
        let role_keys = self.check_grant_roles(role_keys)?;
        if same_set(&grant.role_keys, &role_keys) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(ProjectEvent::GrantChanged(
            ProjectGrantChanged {
                grant_id: grant_id.to_owned(),
                role_keys,
            },
        )))
    }

    /// Removes a grant.
    pub fn remove_grant(
        &self,
        grant_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        self.ensure_exists()?;
        self.existing_grant(grant_id)?;
        Ok(Decision::event(ProjectEvent::GrantRemoved(
            ProjectGrantRemoved {
                grant_id: grant_id.to_owned(),
            },
        )))
    }

    /// Removes a grant as a follow-up of the project's or the granted organization's removal: unlike
    /// [`remove_grant`](Self::remove_grant) it works on a removed project, and changes nothing when the grant
    /// is already gone (so repeating it is harmless).
    pub fn drop_grant(
        &self,
        grant_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ProjectEvent>, DomainError> {
        if self.lifecycle == Lifecycle::Unspecified || !self.grants.contains_key(grant_id) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(ProjectEvent::GrantRemoved(
            ProjectGrantRemoved {
                grant_id: grant_id.to_owned(),
            },
        )))
    }
}

/// True when both lists hold the same keys, in any order.
pub(crate) fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|k| b.contains(k))
}

crate::member::with_members!(Project, ProjectEvent, Project);

#[cfg(test)]
mod tests;
