//! `/api/v1/user-grants`: a user's roles in a project.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::NewUserGrant;

use warden_domain::user_grant::{
    AddUserGrant, ChangeUserGrant, DeactivateUserGrant, ReactivateUserGrant, RemoveUserGrant,
};

use crate::routes::change;
use crate::{
    ApiState,
    bodies::{Reply, WriteDetails, changed, created},
    extract::{Authenticated, Json},
    openapi::Endpoint,
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post(
            "/api/v1/user-grants",
            "addUserGrant",
            "Grant a user roles in a project (directly, or through a project grant)",
            add,
        )
        .command::<AddUserGrant>()
        .body::<AddUserGrantRequest>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/user-grants/{grant_id}",
            "changeUserGrant",
            "Replace the roles of a user grant",
            changed,
            |c, id: &String, body: &UserGrantRolesRequest| {
                Box::pin(c.change_user_grant(id, &body.role_keys))
            },
        )
        .command::<ChangeUserGrant>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/user-grants/{grant_id}/deactivate",
            "deactivateUserGrant",
            "Deactivate a user grant",
            |c, id: &String| Box::pin(c.deactivate_user_grant(id)),
        )
        .command::<DeactivateUserGrant>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/user-grants/{grant_id}/reactivate",
            "reactivateUserGrant",
            "Reactivate a deactivated user grant",
            |c, id: &String| Box::pin(c.reactivate_user_grant(id)),
        )
        .command::<ReactivateUserGrant>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/user-grants/{grant_id}",
            "removeUserGrant",
            "Remove a user grant",
            |c, id: &String| Box::pin(c.remove_user_grant(id)),
        )
        .command::<RemoveUserGrant>()
        .returns::<WriteDetails>(ok),
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

async fn add(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Json(body): Json<AddUserGrantRequest>,
) -> Reply {
    let grant = NewUserGrant {
        user_id: body.user_id,
        project_id: body.project_id,
        project_grant_id: body.project_grant_id,
        role_keys: body.role_keys,
    };
    created(
        api.commands
            .for_caller(&caller)
            .add_user_grant(&grant)
            .await?,
    )
}

/// The roles of a user grant.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserGrantRolesRequest {
    /// The complete new set of role keys.
    #[schemars(inner(length(min = 1, max = schema::ROLE_KEY_LEN), regex(pattern = schema::ROLE_KEY)), extend("uniqueItems" = true))]
    role_keys: Vec<String>,
}
