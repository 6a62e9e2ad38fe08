//! The project's commands as typed values ([`crate::command::Command`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::member::WithMembers;

use super::{AddProject, Project, ProjectGrantAdded, ProjectRole};
use crate::authz::Role;
use crate::command::command;

command!(AddProject: Project, "project.add", ProjectCreate);

/// `project.rename`: renames a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenameProject {
    /// The new name.
    pub name: String,
}

command!(RenameProject: Project, "project.rename", ProjectWrite, |self, project, ctx| {
    project.rename(&self.name, ctx)
});

/// `project.deactivate`: deactivates a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeactivateProject {}

command!(DeactivateProject: Project, "project.deactivate", ProjectWrite, |self, project, ctx| {
    project.deactivate(ctx)
});

/// `project.reactivate`: reactivates a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReactivateProject {}

command!(ReactivateProject: Project, "project.reactivate", ProjectWrite, |self, project, ctx| {
    project.reactivate(ctx)
});

/// `project.remove`: removes a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveProject {}

command!(RemoveProject: Project, "project.remove", ProjectDelete, |self, project, ctx| {
    project.remove(ctx)
});

/// `project.role.add`: adds a role to a project. Its serialized form is the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AddProjectRole {
    /// The new role.
    pub role: ProjectRole,
}

command!(AddProjectRole: Project, "project.role.add", ProjectWrite, |self, project, ctx| {
    project.add_role(&self.role, ctx)
});

/// `project.role.change`: changes a project role's display name and group. Its serialized form is the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ChangeProjectRole {
    /// The role as it is to be, by key.
    pub role: ProjectRole,
}

command!(ChangeProjectRole: Project, "project.role.change", ProjectWrite, |self, project, ctx| {
    project.change_role(&self.role, ctx)
});

/// `project.role.remove`: removes a project role (and takes it out of the project's grants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveProjectRole {
    /// The role's key.
    pub key: String,
}

command!(RemoveProjectRole: Project, "project.role.remove", ProjectWrite, |self, project, ctx| {
    project.remove_role(&self.key, ctx)
});

/// `project.grant.add`: grants a project to another organization with some of its roles. The project
/// decides with the granted organization's state ([`Project::add_grant`]); the serialized form is the
/// grant, with the id generated for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AddProjectGrant {
    /// The grant.
    pub grant: ProjectGrantAdded,
}

command!(AddProjectGrant: Project, "project.grant.add", ProjectGrantWrite);

/// `project.grant.change`: replaces the roles of a project grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeProjectGrant {
    /// The grant's id.
    pub grant_id: String,
    /// The role keys the granted organization may hand out from now on.
    pub role_keys: Vec<String>,
}

command!(ChangeProjectGrant: Project, "project.grant.change", ProjectGrantWrite, |self, project, ctx| {
    project.change_grant(&self.grant_id, &self.role_keys, ctx)
});

/// `project.grant.remove`: removes a project grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveProjectGrant {
    /// The grant's id.
    pub grant_id: String,
}

command!(RemoveProjectGrant: Project, "project.grant.remove", ProjectGrantWrite, |self, project, ctx| {
    project.remove_grant(&self.grant_id, ctx)
});

/// `project.member.add`: makes a user a project member with project roles. The project decides with the
/// user's state ([`Project::add_member`]), and the user records the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddProjectMember {
    /// The user.
    pub user_id: String,
    /// The project roles, e.g. `PROJECT_OWNER`.
    pub roles: Vec<Role>,
}

command!(AddProjectMember: Project, "project.member.add", ProjectMemberWrite, grants roles);

/// `project.member.change`: replaces a project member's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeProjectMember {
    /// The member.
    pub user_id: String,
    /// The project roles from now on.
    pub roles: Vec<Role>,
}

command!(ChangeProjectMember: Project, "project.member.change", ProjectMemberWrite, grants roles, |self, project, ctx| {
    project.change_member(&self.user_id, &self.roles, ctx)
});

/// `project.member.remove`: ends a project membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveProjectMember {
    /// The member.
    pub user_id: String,
}

command!(RemoveProjectMember: Project, "project.member.remove", ProjectMemberWrite, |self, project, ctx| {
    project.remove_member(&self.user_id, ctx)
});

/// `project.grant.drop`: removes a grant of a project, also when the project is removed (a follow-up of
/// removals); nothing happens when the grant is already gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DropProjectGrant {
    /// The grant's id.
    pub grant_id: String,
}

command!(DropProjectGrant: Project, "project.grant.drop", ProjectGrantWrite, |self, project, ctx| {
    project.drop_grant(&self.grant_id, ctx)
});
