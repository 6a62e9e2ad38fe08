//! `GET /api/v1/user-grants…`: users' roles in projects.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::authz::{Permission, Target};
use warden_query::{Consistency, UserGrantQuery, UserGrantView};

use crate::routes::projects::readable_project;
use crate::{
    ApiState,
    authz::{org_scope, readable},
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    time,
    view::{ListPage, ReadReply, ResourceState, SortDirection, list_query},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/user-grants",
            "listUserGrants",
            "List user grants by user, project, organization or project grant, by creation time; without \
             `org_id` or `project_id`, a caller without instance-wide access sees its own organization's grants",
            list,
        )
        .lists::<UserGrantsQuery, UserGrantBody>(Permission::UserGrantRead),
        Endpoint::get(
            "/api/v1/user-grants/{grant_id}",
            "getUserGrant",
            "Read a user grant",
            get,
        )
        .reads::<UserGrantBody>(Permission::UserGrantRead),
    ]
}

list_query! {
    /// Filters, sort direction and paging of the user grant list.
    pub(crate) struct UserGrantsQuery {
        /// Only grants of this user.
        user_id: Option<String>,
        /// Only grants on this project.
        project_id: Option<String>,
        /// Only grants owned by this organization.
        org_id: Option<String>,
        /// Only grants given through this project grant.
        project_grant_id: Option<String>,
        /// Only grants in this state.
        state: Option<ResourceState>,
        /// Direction of the order by creation time (default `asc`).
        direction: Option<SortDirection>,
    }
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<UserGrantsQuery>,
) -> ReadReply<ListPage<UserGrantBody>> {
    let page = query.page()?;
    let org_id = match (&query.project_id, query.org_id) {
        // Whoever may read a project's grants sees every grant on it.
        (Some(project_id), None) => {
            readable_project(&api, &caller, project_id, Permission::UserGrantRead).await?;
            None
        }
        (_, org_id) => org_scope(&api, &caller, Permission::UserGrantRead, org_id).await?,
    };
    let filter = UserGrantQuery {
        user_id: query.user_id,
        project_id: query.project_id,
        org_id,
        project_grant_id: query.project_grant_id,
        state: query.state.map(Into::into),
        direction: query.direction.unwrap_or_default().into(),
    };
    let grants = api
        .queries
        .user_grants(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(grants)))
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(grant_id): Path<String>,
) -> ReadReply<UserGrantBody> {
    let grant = api
        .queries
        .user_grant(&api.instance_id, &grant_id, Consistency::Latest)
        .await?;
    let grant = readable(
        &api,
        &caller,
        Permission::UserGrantRead,
        "user_grant",
        grant,
        // As on the write side: a grant given through a project grant belongs to the granted organization.
        |grant| match &grant.project_grant_id {
            Some(_) => Target::Org {
                org_id: grant.org_id.clone(),
            },
            None => Target::Project {
                org_id: grant.org_id.clone(),
                project_id: grant.project_id.clone(),
            },
        },
    )
    .await?;
    Ok(Json(grant.into()))
}

/// A user's roles in a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserGrantBody {
    /// The grant id.
    pub id: String,
    /// The user granted.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant through which the roles are given, if any.
    pub project_grant_id: Option<String>,
    /// The organization owning the grant.
    pub org_id: String,
    /// The role keys.
    pub role_keys: Vec<String>,
    /// Life cycle.
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<UserGrantView> for UserGrantBody {
    fn from(v: UserGrantView) -> Self {
        Self {
            id: v.id,
            user_id: v.user_id,
            project_id: v.project_id,
            project_grant_id: v.project_grant_id,
            org_id: v.org_id,
            role_keys: v.role_keys,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}
