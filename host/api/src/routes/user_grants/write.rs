//! `/api/v1/user-grants`: a user's roles in a project.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::NewUserGrant;

use warden_domain::user_grant::{
    AddUserGrant, ChangeUserGrant, DeactivateUserGrant, ReactivateUserGrant, RemoveUserGrant,
};

use crate::routes::change;
use crate::{openapi::Endpoint, schema};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/user-grants", "addUserGrant")
            .summary("Grant a user roles in a project (directly, or through a project grant)")
            .command::<AddUserGrant>()
            .creates_with(|c, (): &(), body: &AddUserGrantRequest| {
                let grant = NewUserGrant {
                    user_id: body.user_id.clone(),
                    project_id: body.project_id.clone(),
                    project_grant_id: body.project_grant_id.clone(),
                    role_keys: body.role_keys.clone(),
                };
                Box::pin(async move { c.add_user_grant(&grant).await })
            }),
        change::put("/api/v1/user-grants/{grant_id}", "changeUserGrant")
            .summary("Replace the roles of a user grant")
            .command::<ChangeUserGrant>()
            .runs_with(|c, id: &String, body: &UserGrantRolesRequest| {
                Box::pin(c.change_user_grant(id, &body.role_keys))
            }),
        change::post(
            "/api/v1/user-grants/{grant_id}/deactivate",
            "deactivateUserGrant",
        )
        .summary("Deactivate a user grant")
        .command::<DeactivateUserGrant>()
        .runs(|c, id: &String| Box::pin(c.deactivate_user_grant(id))),
        change::post(
            "/api/v1/user-grants/{grant_id}/reactivate",
            "reactivateUserGrant",
        )
        .summary("Reactivate a deactivated user grant")
        .command::<ReactivateUserGrant>()
        .runs(|c, id: &String| Box::pin(c.reactivate_user_grant(id))),
        change::delete("/api/v1/user-grants/{grant_id}", "removeUserGrant")
            .summary("Remove a user grant")
            .command::<RemoveUserGrant>()
            .runs(|c, id: &String| Box::pin(c.remove_user_grant(id))),
    ]
}

/// A new user grant.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddUserGrantRequest {
    /// The user to grant roles to.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    user_id: String,
    /// The project.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    project_id: String,
    /// The project grant to give roles through (the user must belong to the granted organization).
    #[serde(default)]
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    project_grant_id: Option<String>,
    /// Role keys of the project (or of the project grant).
    #[serde(default)]
    #[schemars(inner(length(min = 1, max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY)), extend("uniqueItems" = true))]
    role_keys: Vec<String>,
}

/// The roles of a user grant.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserGrantRolesRequest {
    /// The complete new set of role keys.
    #[schemars(inner(length(min = 1, max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY)), extend("uniqueItems" = true))]
    role_keys: Vec<String>,
}
