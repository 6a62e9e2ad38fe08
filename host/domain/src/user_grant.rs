//! User grants: a user's roles in a project, given either by the project's owner organization or, through a
//! project grant, by an organization the project is granted to.
//!
//! A user has at most one grant per project and project grant ([`unique::USER_GRANT`]). Role keys must exist in
//! the project, and for a grant through a project grant they must be among the roles granted to that
//! organization, whose user the grantee must be.

use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events, no_upcast,
};
use crate::error::DomainError;
use crate::project::{Project, same_set};
use crate::unique;
use crate::user::User;
use crate::validate;

mod commands;

pub use commands::*;

/// Payload of `user_grant.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantAdded {
    /// The user granted.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant through which the roles are given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_grant_id: Option<String>,
    /// The organization owning the grant: the project's owner, or the granted organization.
    pub org_id: String,
    /// The role keys.
    pub role_keys: Vec<String>,
}

/// Payload of `user_grant.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantChanged {
    /// The complete new set of role keys.
    pub role_keys: Vec<String>,
}

domain_events! {
    /// Events of the user grant aggregate.
    pub enum UserGrantEvent {
        /// A user was granted roles in a project.
        Added(UserGrantAdded) => "user_grant.added" @ 1,
        /// The granted roles changed.
        Changed(UserGrantChanged) => "user_grant.changed" @ 1,
        /// The grant was deactivated.
        Deactivated => "user_grant.deactivated" @ 1,
        /// The grant was reactivated.
        Reactivated => "user_grant.reactivated" @ 1,
        /// The grant was removed.
        Removed => "user_grant.removed" @ 1,
    }
    upcast = no_upcast;
}

/// `user_grant.add`: gives a user roles of a project ([`UserGrant::add`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddUserGrant {
    /// The user to grant roles to.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant to give roles through, if any.
    pub project_grant_id: Option<String>,
    /// The role keys (may be empty: access to the project without roles).
    pub role_keys: Vec<String>,
}

/// State of a user grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserGrant {
    /// Life cycle.
    pub lifecycle: Lifecycle,
    /// The user.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant, if any.
    pub project_grant_id: Option<String>,
    /// The organization owning the grant.
    pub org_id: String,
    /// The role keys.
    pub role_keys: Vec<String>,
}

impl Aggregate for UserGrant {
    const TYPE: &'static str = "user_grant";
    type Event = UserGrantEvent;

    fn apply(&mut self, event: &UserGrantEvent) {
        match event {
            UserGrantEvent::Added(e) => {
                self.lifecycle = Lifecycle::Active;
                self.user_id.clone_from(&e.user_id);
                self.project_id.clone_from(&e.project_id);
                self.project_grant_id.clone_from(&e.project_grant_id);
                self.org_id.clone_from(&e.org_id);
                self.role_keys.clone_from(&e.role_keys);
            }
            UserGrantEvent::Changed(e) => self.role_keys.clone_from(&e.role_keys),
            UserGrantEvent::Deactivated => self.lifecycle = Lifecycle::Inactive,
            UserGrantEvent::Reactivated => self.lifecycle = Lifecycle::Active,
            UserGrantEvent::Removed => self.lifecycle = Lifecycle::Removed,
        }
    }
}

/// The unique value of a user's grant on a project (and project grant).
fn unique_key(user_id: &str, project_id: &str, project_grant_id: Option<&str>) -> String {
    format!("{user_id}/{project_id}/{}", project_grant_id.unwrap_or(""))
}

/// Checks role keys against the project, or against the project grant when there is one.
fn check_roles(
    project: &Project,
    project_grant_id: Option<&str>,
    role_keys: &[String],
) -> Result<Vec<String>, DomainError> {
    let keys = validate::role_keys("user_grant.role_key", "role_keys", role_keys)?;
    let grant = match project_grant_id {
        Some(id) => Some(project.grants.get(id).ok_or_else(|| {
            DomainError::not_found(
                "project.grant.not_found",
                "the project has no grant with this id",
            )
            .with_field("project_grant_id")
        })?),
        None => None,
    };
    for (i, key) in keys.iter().enumerate() {
        let known = match grant {
            Some(grant) => grant.role_keys.contains(key),
            None => project.has_role(key),
        };
        if !known {
            let message = match grant {
                Some(_) => format!("role {key:?} is not among the roles of the project grant"),
                None => format!("the project has no role {key:?}"),
            };
            return Err(DomainError::invalid(
                format!("role_keys[{i}]"),
                "user_grant.role_key.unknown",
                message,
            ));
        }
    }
    Ok(keys)
}

impl UserGrant {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "user_grant.not_found",
                "the user grant does not exist",
            ))
        }
    }

    /// Grants roles in `project` to `user`; claims the (user, project, project grant) pair.
    pub fn add(
        &self,
        cmd: &AddUserGrant,
        user: &User,
        project: &Project,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserGrantEvent>, DomainError> {
        if self.lifecycle != Lifecycle::Unspecified {
            return Err(DomainError::already_exists(
                "user_grant.already_exists",
                "a user grant with this id already exists",
            ));
        }
        let user_id = validate::identifier("user_grant.user_id", "user_id", &cmd.user_id)?;
        let project_id =
            validate::identifier("user_grant.project_id", "project_id", &cmd.project_id)?;
        let project_grant_id = cmd
            .project_grant_id
            .as_deref()
            .map(|id| validate::identifier("user_grant.project_grant_id", "project_grant_id", id))
            .transpose()?;
        if !user.exists() {
            return Err(
                DomainError::not_found("user.not_found", "the user does not exist")
                    .with_field("user_id"),
            );
        }
        project.ensure_named()?;
        let role_keys = check_roles(project, project_grant_id.as_deref(), &cmd.role_keys)?;
        let org_id = match project_grant_id
            .as_deref()
            .and_then(|id| project.grants.get(id))
        {
            Some(grant) => {
                if user.org_id != grant.granted_org_id {
                    return Err(DomainError::invalid(
                        "user_id",
                        "user_grant.user_not_in_granted_org",
                        "through a project grant, only users of the granted organization can be given roles",
                    ));
                }
                grant.granted_org_id.clone()
            }
            None => project.org_id.clone(),
        };
        let key = unique_key(&user_id, &project_id, project_grant_id.as_deref());
        Ok(Decision::event(UserGrantEvent::Added(UserGrantAdded {
            user_id,
            project_id,
            project_grant_id,
            org_id,
            role_keys,
        }))
        .with_unique(UniqueChange::add(unique::USER_GRANT, key, "user_id")))
    }

    /// Replaces the granted role keys; `project` is the grant's project, to check the keys.
    pub fn change_roles(
        &self,
        role_keys: &[String],
        project: &Project,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserGrantEvent>, DomainError> {
        self.ensure_exists()?;
        project.ensure_named()?;
        let role_keys = check_roles(project, self.project_grant_id.as_deref(), role_keys)?;
        if same_set(&self.role_keys, &role_keys) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserGrantEvent::Changed(UserGrantChanged {
            role_keys,
        })))
    }

    /// Deactivates an active grant: its roles do not count until reactivated.
    pub fn deactivate(
        &self,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserGrantEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.deactivate(
            UserGrantEvent::Deactivated,
            (
                "user_grant.already_inactive",
                "the user grant is already deactivated",
            ),
        )
    }

    /// Reactivates a deactivated grant.
    pub fn reactivate(
        &self,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserGrantEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.reactivate(
            UserGrantEvent::Reactivated,
            (
                "user_grant.not_inactive",
                "the user grant is active; only a deactivated grant can be reactivated",
            ),
        )
    }

    /// Removes the grant; the user may be granted roles in the project again.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<UserGrantEvent>, DomainError> {
        self.ensure_exists()?;
        let key = unique_key(
            &self.user_id,
            &self.project_id,
            self.project_grant_id.as_deref(),
        );
        Ok(Decision::event(UserGrantEvent::Removed)
            .with_unique(UniqueChange::remove(unique::USER_GRANT, key)))
    }
}

impl UserGrant {
    /// Takes the role `key` out of the grant after the role was removed from its project (a follow-up of
    /// `project.role.removed`). Unlike [`change_roles`](Self::change_roles) it does not check the project,
    /// which may be gone meanwhile. Changes nothing when the grant is removed or does not hold the role. A
    /// grant left without roles stays: it still gives access to the project, as a grant made without roles
    /// does, until someone removes it.
    pub fn drop_role(
        &self,
        key: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<UserGrantEvent>, DomainError> {
        if !self.exists() || !self.role_keys.iter().any(|k| k == key) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(UserGrantEvent::Changed(UserGrantChanged {
            role_keys: self
                .role_keys
                .iter()
                .filter(|k| *k != key)
                .cloned()
                .collect(),
        })))
    }
}

#[cfg(test)]
mod tests;
