//! `/api/v1/projects`: projects, their roles, grants to other organizations and members.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::project::ProjectRole;
use warden_domain::project::{
    AddProject, AddProjectGrant, AddProjectMember, AddProjectRole, ChangeProjectGrant,
    ChangeProjectMember, ChangeProjectRole, DeactivateProject, ReactivateProject, RemoveProject,
    RemoveProjectGrant, RemoveProjectMember, RemoveProjectRole, RenameProject,
};

use crate::routes::change;
use crate::{
    ApiState,
    bodies::{NameRequest, Reply, WriteDetails, changed, created, reply},
    extract::{Authenticated, IfMatch, Json, Path},
    openapi::Endpoint,
    routes::members::{AddMemberRequest, MemberRolesRequest, ProjectRoleName, roles},
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post(
            "/api/v1/projects",
            "addProject",
            "Create a project in an organization",
            add,
        )
        .command::<AddProject>()
        .body::<AddProjectRequest>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/projects/{project_id}",
            "renameProject",
            "Rename a project",
            changed,
            |c, id: &String, body: &NameRequest| Box::pin(c.rename_project(id, &body.name)),
        )
        .command::<RenameProject>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/projects/{project_id}/deactivate",
            "deactivateProject",
            "Deactivate a project",
            |c, id: &String| Box::pin(c.deactivate_project(id)),
        )
        .command::<DeactivateProject>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/projects/{project_id}/reactivate",
            "reactivateProject",
            "Reactivate a deactivated project",
            |c, id: &String| Box::pin(c.reactivate_project(id)),
        )
        .command::<ReactivateProject>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/projects/{project_id}",
            "removeProject",
            "Remove a project",
            |c, id: &String| Box::pin(c.remove_project(id)),
        )
        .command::<RemoveProject>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::POST,
            "/api/v1/projects/{project_id}/roles",
            "addProjectRole",
            "Add a role to a project",
            created,
            |c, id: &String, body: &AddRoleRequest| {
                Box::pin(async move {
                    let role = ProjectRole {
                        key: body.key.clone(),
                        display_name: body.display_name.clone(),
                        group: body.group.clone(),
                    };
                    c.add_project_role(id, &role).await
                })
            },
        )
        .command::<AddProjectRole>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/projects/{project_id}/roles/{key}",
            "changeProjectRole",
            "Change a project role's display name and group",
            changed,
            |c, (id, key): &(String, String), body: &ChangeRoleRequest| {
                Box::pin(async move {
                    let role = ProjectRole {
                        key: key.clone(),
                        display_name: body.display_name.clone(),
                        group: body.group.clone(),
                    };
                    c.change_project_role(id, &role).await
                })
            },
        )
        .command::<ChangeProjectRole>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/projects/{project_id}/roles/{key}",
            "removeProjectRole",
            "Remove a project role (also from the project's grants)",
            |c, (project_id, key): &(String, String)| {
                Box::pin(c.remove_project_role(project_id, key))
            },
        )
        .command::<RemoveProjectRole>()
        .returns::<WriteDetails>(ok),
        Endpoint::post(
            "/api/v1/projects/{project_id}/grants",
            "addProjectGrant",
            "Grant a project to another organization with some of its roles",
            add_grant,
        )
        .command::<AddProjectGrant>()
        .body::<AddProjectGrantRequest>()
        .returns::<ProjectGrantCreated>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/projects/{project_id}/grants/{grant_id}",
            "changeProjectGrant",
            "Replace the roles of a project grant",
            changed,
            |c, (project_id, grant_id): &(String, String), body: &RoleKeysRequest| {
                Box::pin(c.change_project_grant(project_id, grant_id, &body.role_keys))
            },
        )
        .command::<ChangeProjectGrant>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/projects/{project_id}/grants/{grant_id}",
            "removeProjectGrant",
            "Remove a project grant",
            |c, (project_id, grant_id): &(String, String)| {
                Box::pin(c.remove_project_grant(project_id, grant_id))
            },
        )
        .command::<RemoveProjectGrant>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::POST,
            "/api/v1/projects/{project_id}/members",
            "addProjectMember",
            "Make a user a project member",
            created,
            |c, project_id: &String, body: &AddMemberRequest<ProjectRoleName>| {
                Box::pin(async move {
                    c.add_project_member(project_id, &body.user_id, &roles(&body.roles))
                        .await
                })
            },
        )
        .command::<AddProjectMember>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/projects/{project_id}/members/{user_id}",
            "changeProjectMember",
            "Replace a project member's roles",
            changed,
            |c,
             (project_id, user_id): &(String, String),
             body: &MemberRolesRequest<ProjectRoleName>| {
                Box::pin(async move {
                    c.change_project_member(project_id, user_id, &roles(&body.roles))
                        .await
                })
            },
        )
        .command::<ChangeProjectMember>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/projects/{project_id}/members/{user_id}",
            "removeProjectMember",
            "End a project membership",
            |c, (project_id, user_id): &(String, String)| {
                Box::pin(c.remove_project_member(project_id, user_id))
            },
        )
        .command::<RemoveProjectMember>()
        .returns::<WriteDetails>(ok),
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

async fn add(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Json(body): Json<AddProjectRequest>,
) -> Reply {
    created(
        api.commands
            .for_caller(&caller)
            .add_project(&body.org_id, &body.name)
            .await?,
    )
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

async fn add_grant(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(project_id): Path<String>,
    Json(body): Json<AddProjectGrantRequest>,
) -> Reply<ProjectGrantCreated> {
    let (details, grant_id) = api
        .commands
        .for_caller(&caller)
        .if_sequence(seq)
        .add_project_grant(&project_id, &body.granted_org_id, &body.role_keys)
        .await?;
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
