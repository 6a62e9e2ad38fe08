//! `/api/v1/projects`: projects, their roles, grants to other organizations and members.

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Details;
use warden_domain::project::ProjectRole;
use warden_domain::project::{
    AddProject, AddProjectGrant, AddProjectMember, AddProjectRole, ChangeProjectGrant,
    ChangeProjectMember, ChangeProjectRole, DeactivateProject, ReactivateProject, RemoveProject,
    RemoveProjectGrant, RemoveProjectMember, RemoveProjectRole, RenameProject,
};

use crate::routes::change;
use crate::{
    bodies::{NameRequest, Reply, WriteDetails, reply},
    openapi::Endpoint,
    routes::members::{AddMemberRequest, MemberRolesRequest, ProjectRoleName, roles},
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/projects", "addProject")
            .summary("Create a project in an organization")
            .command::<AddProject>()
            .creates_with(|c, (): &(), body: &AddProjectRequest| {
                Box::pin(c.add_project(&body.org_id, &body.name))
            }),
        change::put("/api/v1/projects/{project_id}", "renameProject")
            .summary("Rename a project")
            .command::<RenameProject>()
            .runs_with(|c, id: &String, body: &NameRequest| {
                Box::pin(c.rename_project(id, &body.name))
            }),
        change::post(
            "/api/v1/projects/{project_id}/deactivate",
            "deactivateProject",
        )
        .summary("Deactivate a project")
        .command::<DeactivateProject>()
        .runs(|c, id: &String| Box::pin(c.deactivate_project(id))),
        change::post(
            "/api/v1/projects/{project_id}/reactivate",
            "reactivateProject",
        )
        .summary("Reactivate a deactivated project")
        .command::<ReactivateProject>()
        .runs(|c, id: &String| Box::pin(c.reactivate_project(id))),
        change::delete("/api/v1/projects/{project_id}", "removeProject")
            .summary("Remove a project")
            .command::<RemoveProject>()
            .runs(|c, id: &String| Box::pin(c.remove_project(id))),
        change::post("/api/v1/projects/{project_id}/roles", "addProjectRole")
            .summary("Add a role to a project")
            .command::<AddProjectRole>()
            .creates_with(|c, id: &String, body: &AddRoleRequest| {
                let role = project_role(&body.key, &body.display_name, &body.group);
                Box::pin(async move { c.add_project_role(id, &role).await })
            }),
        change::put(
            "/api/v1/projects/{project_id}/roles/{key}",
            "changeProjectRole",
        )
        .summary("Change a project role's display name and group")
        .command::<ChangeProjectRole>()
        .runs_with(
            |c, (id, key): &(String, String), body: &ChangeRoleRequest| {
                let role = project_role(key, &body.display_name, &body.group);
                Box::pin(async move { c.change_project_role(id, &role).await })
            },
        ),
        change::delete(
            "/api/v1/projects/{project_id}/roles/{key}",
            "removeProjectRole",
        )
        .summary("Remove a project role (also from the project's grants)")
        .command::<RemoveProjectRole>()
        .runs(|c, (id, key): &(String, String)| Box::pin(c.remove_project_role(id, key))),
        change::post("/api/v1/projects/{project_id}/grants", "addProjectGrant")
            .summary("Grant a project to another organization with some of its roles")
            .command::<AddProjectGrant>()
            .answers_with(
                StatusCode::CREATED,
                grant_created,
                |c, id: &String, body: &AddProjectGrantRequest| {
                    Box::pin(c.add_project_grant(id, &body.granted_org_id, &body.role_keys))
                },
            ),
        change::put(
            "/api/v1/projects/{project_id}/grants/{grant_id}",
            "changeProjectGrant",
        )
        .summary("Replace the roles of a project grant")
        .command::<ChangeProjectGrant>()
        .runs_with(
            |c, (id, grant_id): &(String, String), body: &RoleKeysRequest| {
                Box::pin(c.change_project_grant(id, grant_id, &body.role_keys))
            },
        ),
        change::delete(
            "/api/v1/projects/{project_id}/grants/{grant_id}",
            "removeProjectGrant",
        )
        .summary("Remove a project grant")
        .command::<RemoveProjectGrant>()
        .runs(|c, (id, grant_id): &(String, String)| {
            Box::pin(c.remove_project_grant(id, grant_id))
        }),
        change::post("/api/v1/projects/{project_id}/members", "addProjectMember")
            .summary("Make a user a project member")
            .command::<AddProjectMember>()
            .creates_with(|c, id: &String, body: &AddMemberRequest<ProjectRoleName>| {
                Box::pin(async move {
                    c.add_project_member(id, &body.user_id, &roles(&body.roles))
                        .await
                })
            }),
        change::put(
            "/api/v1/projects/{project_id}/members/{user_id}",
            "changeProjectMember",
        )
        .summary("Replace a project member's roles")
        .command::<ChangeProjectMember>()
        .runs_with(
            |c, (id, user_id): &(String, String), body: &MemberRolesRequest<ProjectRoleName>| {
                Box::pin(async move {
                    c.change_project_member(id, user_id, &roles(&body.roles))
                        .await
                })
            },
        ),
        change::delete(
            "/api/v1/projects/{project_id}/members/{user_id}",
            "removeProjectMember",
        )
        .summary("End a project membership")
        .command::<RemoveProjectMember>()
        .runs(|c, (id, user_id): &(String, String)| Box::pin(c.remove_project_member(id, user_id))),
    ]
}

/// A new project.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddProjectRequest {
    /// The organization owning the project.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    org_id: String,
    /// The name (at most 200 characters).
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
}

/// A new project role.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddRoleRequest {
    /// The key, as used in tokens and grants: ASCII letters, digits and `. _ - :`.
    #[schemars(length(max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY))]
    key: String,
    /// The name shown in the UI.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    display_name: String,
    /// A group to arrange roles in the UI.
    #[serde(default)]
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    group: String,
}

/// A project role's display name and group.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRoleRequest {
    /// The name shown in the UI.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    display_name: String,
    /// A group to arrange roles in the UI.
    #[serde(default)]
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    group: String,
}

/// A role of a project, as a body describes it.
fn project_role(key: &str, display_name: &str, group: &str) -> ProjectRole {
    ProjectRole {
        key: key.to_owned(),
        display_name: display_name.to_owned(),
        group: group.to_owned(),
    }
}

/// A grant of the project to another organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddProjectGrantRequest {
    /// The organization the project is granted to.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    granted_org_id: String,
    /// The role keys it may hand out to its users.
    #[serde(default)]
    #[schemars(inner(length(min = 1, max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY)), extend("uniqueItems" = true))]
    role_keys: Vec<String>,
}

/// A project grant added.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(crate) struct ProjectGrantCreated {
    /// What the write produced (of the project).
    #[serde(flatten)]
    details: WriteDetails,
    /// The new grant's id.
    grant_id: String,
}

fn grant_created((details, grant_id): (Details, String)) -> Reply<ProjectGrantCreated> {
    reply(
        StatusCode::CREATED,
        details.sequence,
        ProjectGrantCreated {
            details: details.into(),
            grant_id,
        },
    )
}

/// A set of role keys.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleKeysRequest {
    /// The complete new set of role keys.
    #[schemars(inner(length(min = 1, max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY)), extend("uniqueItems" = true))]
    role_keys: Vec<String>,
}
