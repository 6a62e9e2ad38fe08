//! `GET /api/v1/apps…` and `GET /api/v1/projects/{project_id}/apps`: applications, never their secrets.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_command::Caller;
use warden_domain::authz::{Permission, Target};
use warden_query::{ApplicationQuery, ApplicationView, Consistency};

use crate::routes::projects::{NameSortParam, readable_project};
use crate::{
    ApiState,
    authz::{org_scope, readable},
    error::ApiError,
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    time,
    view::{ListPage, ReadReply, ResourceState, list_query, to_json},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/apps",
            "listApps",
            "List applications, filtered, sorted and paged; without `org_id` or `project_id`, a caller without \
             instance-wide access sees its own organization's applications",
            list,
        )
        .lists::<AppsQuery, ApplicationBody>(Permission::AppRead),
        Endpoint::get(
            "/api/v1/projects/{project_id}/apps",
            "listProjectApps",
            "List a project's applications, filtered, sorted and paged",
            list_of_project,
        )
        .lists::<ProjectAppsQuery, ApplicationBody>(Permission::AppRead),
        Endpoint::get(
            "/api/v1/apps/{app_id}",
            "getApp",
            "Read an application (never its client secret)",
            get,
        )
        .reads::<ApplicationBody>(Permission::AppRead),
    ]
}

list_query! {
    /// Filters, sort order and paging of the application list.
    pub(crate) struct AppsQuery {
        /// Only applications of projects of this organization.
        org_id: Option<String>,
        /// Only applications of this project.
        project_id: Option<String>,
        /// Only names starting with this, case-insensitively.
        name_prefix: Option<String>,
        /// Only OIDC or only API applications.
        #[serde(rename = "type")]
        app_type: Option<AppType>,
        /// Only applications in this state.
        state: Option<ResourceState>,
    }
    sorted by NameSortParam, default "name"
}

list_query! {
    /// Filters, sort order and paging of a project's applications.
    pub(crate) struct ProjectAppsQuery {
        /// Only names starting with this, case-insensitively.
        name_prefix: Option<String>,
        /// Only OIDC or only API applications.
        #[serde(rename = "type")]
        app_type: Option<AppType>,
        /// Only applications in this state.
        state: Option<ResourceState>,
    }
    sorted by NameSortParam, default "name"
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<AppsQuery>,
) -> ReadReply<ListPage<ApplicationBody>> {
    let page = query.page()?;
    let org_id = match (&query.project_id, query.org_id) {
        // The project's own check covers its project members; its organization is implied.
        (Some(project_id), org_id) => {
            readable_project(&api, &caller, project_id, Permission::AppRead).await?;
            org_id
        }
        (None, org_id) => org_scope(&api, &caller, Permission::AppRead, org_id).await?,
    };
    let filter = ApplicationQuery {
        project_id: query.project_id,
        org_id,
        name_prefix: query.name_prefix,
        kind: query.app_type.map(Into::into),
        state: query.state.map(Into::into),
        sort: query.sort.unwrap_or_default().into(),
        direction: query.direction.unwrap_or_default().into(),
    };
    let apps = api
        .queries
        .applications(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(apps)))
}

/// The list of `GET /api/v1/apps?project_id=…`.
async fn list_of_project(
    state: State<ApiState>,
    caller: Authenticated,
    Path(project_id): Path<String>,
    Query(query): Query<ProjectAppsQuery>,
) -> ReadReply<ListPage<ApplicationBody>> {
    let query = AppsQuery {
        org_id: None,
        project_id: Some(project_id),
        name_prefix: query.name_prefix,
        app_type: query.app_type,
        state: query.state,
        sort: query.sort,
        direction: query.direction,
        offset: query.offset,
        limit: query.limit,
    };
    list(state, caller, Query(query)).await
}

pub(super) async fn readable_app(
    api: &ApiState,
    caller: &Caller,
    app_id: &str,
) -> Result<ApplicationBody, ApiError> {
    let app = api
        .queries
        .application(&api.instance_id, app_id, Consistency::Latest)
        .await?;
    let app = readable(
        api,
        caller,
        Permission::AppRead,
        "application",
        app,
        |app| Target::Project {
            org_id: app.org_id.clone(),
            project_id: app.project_id.clone(),
        },
    )
    .await?;
    Ok(app.into())
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(app_id): Path<String>,
) -> ReadReply<ApplicationBody> {
    Ok(Json(readable_app(&api, &caller, &app_id).await?))
}

/// OIDC or API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// An OIDC client.
    Oidc,
    /// An API (resource server) client.
    Api,
}

impl From<warden_query::AppKind> for AppType {
    fn from(kind: warden_query::AppKind) -> Self {
        match kind {
            warden_query::AppKind::Oidc => Self::Oidc,
            warden_query::AppKind::Api => Self::Api,
        }
    }
}

impl From<AppType> for warden_query::AppKind {
    fn from(kind: AppType) -> Self {
        match kind {
            AppType::Oidc => Self::Oidc,
            AppType::Api => Self::Api,
        }
    }
}

/// An application of a project (never its client secret: only whether one is set).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationBody {
    /// The application id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The display name.
    pub name: String,
    /// OIDC or API.
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Life cycle.
    pub state: ResourceState,
    /// The client id.
    pub client_id: String,
    /// Whether a client secret is set.
    pub has_secret: bool,
    /// The OIDC configuration, for OIDC applications (as set with `PUT /api/v1/apps/{app_id}/oidc-config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Value>,
    /// The API configuration, for API applications (as set with `PUT /api/v1/apps/{app_id}/api-config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Value>,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<ApplicationView> for ApplicationBody {
    fn from(v: ApplicationView) -> Self {
        Self {
            id: v.id,
            project_id: v.project_id,
            org_id: v.org_id,
            name: v.name,
            app_type: v.kind.into(),
            state: v.state.into(),
            client_id: v.client_id,
            has_secret: v.has_secret,
            oidc: v.oidc.as_ref().map(to_json),
            api: v.api.as_ref().map(to_json),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}
