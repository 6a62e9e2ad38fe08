//! `GET /api/v1/users…`: users, their metadata, keys, tokens and memberships.

use axum::{Json, extract::State, http::StatusCode};
use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::Caller;
use warden_domain::authz::{Permission, Target};
use warden_query::{Consistency, MembershipQuery, UserQuery, UserSort, UserView};

use super::{Items, PageQuery};
use crate::{
    ApiState,
    error::ApiError,
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    read::{
        ListPage, MachineKeyBody, MembershipBody, MetadataBody, PersonalAccessTokenBody, ReadReply,
        ResourceState, SortDirection, UserBody, UserType, authorize_visible, found, org_scope,
        page,
    },
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::get(
            "/api/v1/users",
            "listUsers",
            "List users, filtered, sorted and paged; without `org_id`, a caller without instance-wide access \
             sees its own organization's users",
            list,
        )
        .permission(Permission::UserRead)
        .query::<UsersQuery>()
        .returns::<ListPage<UserBody>>(ok),
        Endpoint::get("/api/v1/users/{user_id}", "getUser", "Read a user", get)
            .permission(Permission::UserRead)
            .returns::<UserBody>(ok),
        Endpoint::get(
            "/api/v1/users/{user_id}/metadata",
            "listUserMetadata",
            "A user's metadata, by key",
            metadata,
        )
        .permission(Permission::UserRead)
        .returns::<Items<MetadataBody>>(ok),
        Endpoint::get(
            "/api/v1/users/{user_id}/keys",
            "listMachineKeys",
            "A machine user's public keys, oldest first",
            keys,
        )
        .permission(Permission::UserRead)
        .returns::<Items<MachineKeyBody>>(ok),
        Endpoint::get(
            "/api/v1/users/{user_id}/pats",
            "listPersonalAccessTokens",
            "A machine user's personal access tokens (never the tokens themselves), oldest first",
            tokens,
        )
        .permission(Permission::UserRead)
        .returns::<Items<PersonalAccessTokenBody>>(ok),
        Endpoint::get(
            "/api/v1/users/{user_id}/memberships",
            "listUserMemberships",
            "A user's memberships of the instance, organizations and projects (the view as it is)",
            memberships,
        )
        .permission(Permission::UserRead)
        .query::<PageQuery>()
        .returns::<ListPage<MembershipBody>>(ok),
    ]
}

/// How to sort users.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum UserSortParam {
    /// By login name, case-insensitively.
    #[default]
    LoginName,
    /// By display name.
    DisplayName,
    /// By creation time.
    CreatedAt,
    /// By time of the last change.
    ChangedAt,
}

impl From<UserSortParam> for UserSort {
    fn from(sort: UserSortParam) -> Self {
        match sort {
            UserSortParam::LoginName => Self::LoginName,
            UserSortParam::DisplayName => Self::DisplayName,
            UserSortParam::CreatedAt => Self::CreatedAt,
            UserSortParam::ChangedAt => Self::ChangedAt,
        }
    }
}

/// Filters, sort order and paging of the user list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersQuery {
    /// Only users of this organization.
    org_id: Option<String>,
    /// Only login names starting with this, case-insensitively.
    login_name_prefix: Option<String>,
    /// Only users in this state.
    state: Option<ResourceState>,
    /// Only humans or only machines.
    #[serde(rename = "type")]
    user_type: Option<UserType>,
    /// Only locked (`true`) or only unlocked (`false`) users.
    locked: Option<bool>,
    /// Sort order (default `login_name`).
    sort: Option<UserSortParam>,
    /// Sort direction (default `asc`).
    direction: Option<SortDirection>,
    /// Items to skip (default 0).
    #[schemars(range(max = i64::MAX))]
    offset: Option<u64>,
    /// Items per page (1 to 500, default 50).
    #[schemars(range(min = 1, max = warden_query::MAX_PAGE_SIZE))]
    limit: Option<u32>,
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<UsersQuery>,
) -> ReadReply<ListPage<UserBody>> {
    let page = page(query.offset, query.limit)?;
    let org_id = org_scope(&api, &caller, Permission::UserRead, query.org_id).await?;
    let filter = UserQuery {
        org_id,
        login_name_prefix: query.login_name_prefix,
        state: query.state.map(Into::into),
        kind: query.user_type.map(Into::into),
        locked: query.locked,
        sort: query.sort.unwrap_or_default().into(),
        direction: query.direction.unwrap_or_default().into(),
    };
    let users = api.queries.users(&api.instance_id, &filter, page).await?;
    Ok(Json(ListPage::of(users)))
}

/// The user (read-your-writes), if the caller may read it: 404 when there is none, 403 when it belongs to an
/// organization the caller may not read.
async fn readable_user(
    api: &ApiState,
    caller: &Caller,
    user_id: &str,
) -> Result<UserView, ApiError> {
    let user = found(
        api.queries
            .user(&api.instance_id, user_id, Consistency::Latest)
            .await?,
        "user",
    )?;
    authorize_visible(
        api,
        caller,
        Permission::UserRead,
        &Target::Org {
            org_id: user.org_id.clone(),
        },
        "user",
    )
    .await?;
    Ok(user)
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
) -> ReadReply<UserBody> {
    Ok(Json(readable_user(&api, &caller, &user_id).await?.into()))
}

async fn metadata(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
) -> ReadReply<Items<MetadataBody>> {
    readable_user(&api, &caller, &user_id).await?;
    let entries = api
        .queries
        .user_metadata(&api.instance_id, &user_id, Consistency::Latest)
        .await?;
    Ok(Json(Items::of(entries)))
}

async fn keys(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
) -> ReadReply<Items<MachineKeyBody>> {
    readable_user(&api, &caller, &user_id).await?;
    let keys = api
        .queries
        .machine_keys(&api.instance_id, &user_id, Consistency::Latest)
        .await?;
    Ok(Json(Items::of(keys)))
}

async fn tokens(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
) -> ReadReply<Items<PersonalAccessTokenBody>> {
    readable_user(&api, &caller, &user_id).await?;
    let tokens = api
        .queries
        .personal_access_tokens(&api.instance_id, &user_id, Consistency::Latest)
        .await?;
    Ok(Json(Items::of(tokens)))
}

async fn memberships(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<MembershipBody>> {
    let page = query.page()?;
    readable_user(&api, &caller, &user_id).await?;
    let filter = MembershipQuery {
        user_id: Some(user_id),
        ..MembershipQuery::default()
    };
    let memberships = api
        .queries
        .memberships(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(memberships)))
}
