//! `GET /api/v1/projects…`: projects, their roles, grants to other organizations and members.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Caller;
use warden_domain::{
    aggregate::Aggregate,
    authz::{Permission, ScopeKind, Target},
    project::Project,
};
use warden_query::{
    Consistency, NameSort, ProjectGrantQuery, ProjectGrantView, ProjectQuery, ProjectRoleView,
    ProjectView, projections::PROJECTS,
};

use crate::{
    ApiState,
    authz::{org_scope, readable},
    error::ApiError,
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    routes::members::{MembershipBody, members},
    time,
    view::{ListPage, PageQuery, ReadReply, ResourceState, found, list_query, settle, sort_param},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/projects",
            "listProjects",
            "List projects, filtered, sorted and paged; without `org_id`, a caller without instance-wide \
             access sees its own organization's projects",
            list,
        )
        .lists::<ProjectsQuery, ProjectBody>(Permission::ProjectRead),
        Endpoint::get("/api/v1/projects/{project_id}", "getProject", "Read a project", get)
            .reads::<ProjectBody>(Permission::ProjectRead),
        Endpoint::get(
            "/api/v1/projects/{project_id}/roles",
            "listProjectRoles",
            "A project's roles, by key",
            roles,
        )
        .lists::<PageQuery, ProjectRoleBody>(Permission::ProjectRead),
        Endpoint::get(
            "/api/v1/projects/{project_id}/grants",
            "listProjectGrants",
            "A project's grants to other organizations, oldest first",
            grants,
        )
        .lists::<ProjectGrantsQuery, ProjectGrantBody>(Permission::ProjectRead),
        Endpoint::get(
            "/api/v1/projects/{project_id}/grants/{grant_id}",
            "getProjectGrant",
            "Read a grant of a project",
            grant,
        )
        .reads::<ProjectGrantBody>(Permission::ProjectRead),
        Endpoint::get(
            "/api/v1/projects/{project_id}/members",
            "listProjectMembers",
            "The members of a project",
            list_members,
        )
        .lists::<PageQuery, MembershipBody>(Permission::ProjectMemberRead),
    ]
}

sort_param! {
    /// How to sort projects and applications.
    pub(crate) enum NameSortParam => NameSort {
        /// By name, case-insensitively.
        #[default]
        Name,
        /// By creation time.
        CreatedAt,
    }
}

list_query! {
    /// Filters, sort order and paging of the project list.
    pub(crate) struct ProjectsQuery {
        /// Only projects of this organization.
        org_id: Option<String>,
        /// Only names starting with this, case-insensitively.
        name_prefix: Option<String>,
        /// Only projects in this state.
        state: Option<ResourceState>,
    }
    sorted by NameSortParam, default "name"
}

list_query! {
    /// Filters and paging of a project's grants.
    pub(crate) struct ProjectGrantsQuery {
        /// Only grants to this organization.
        granted_org_id: Option<String>,
    }
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<ProjectsQuery>,
) -> ReadReply<ListPage<ProjectBody>> {
    let page = query.page()?;
    let org_id = org_scope(&api, &caller, Permission::ProjectRead, query.org_id).await?;
    let filter = ProjectQuery {
        org_id,
        name_prefix: query.name_prefix,
        state: query.state.map(Into::into),
        sort: query.sort.unwrap_or_default().into(),
        direction: query.direction.unwrap_or_default().into(),
    };
    let projects = api
        .queries
        .projects(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(projects)))
}

/// The project's authorization target.
pub(super) fn target(project: &ProjectView) -> Target {
    Target::Project {
        org_id: project.org_id.clone(),
        project_id: project.id.clone(),
    }
}

/// The project (read-your-writes), if the caller holds `permission` on it: 404 when there is none, 403 when
/// the caller may not read it.
pub(crate) async fn readable_project(
    api: &ApiState,
    caller: &Caller,
    project_id: &str,
    permission: Permission,
) -> Result<ProjectView, ApiError> {
    let project = api
        .queries
        .project(&api.instance_id, project_id, Consistency::Latest)
        .await?;
    readable(api, caller, permission, "project", project, target).await
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
) -> ReadReply<ProjectBody> {
    let project = readable_project(&api, &caller, &project_id, Permission::ProjectRead).await?;
    Ok(Json(project.into()))
}

async fn roles(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<ProjectRoleBody>> {
    let page = query.page()?;
    readable_project(&api, &caller, &project_id, Permission::ProjectRead).await?;
    let roles = api
        .queries
        .project_roles(&api.instance_id, &project_id, Consistency::Latest, page)
        .await?;
    Ok(Json(ListPage::of(roles)))
}

async fn grants(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
    Query(query): Query<ProjectGrantsQuery>,
) -> ReadReply<ListPage<ProjectGrantBody>> {
    let page = query.page()?;
    readable_project(&api, &caller, &project_id, Permission::ProjectRead).await?;
    settle(&api, PROJECTS, Project::TYPE, &project_id).await?;
    let filter = ProjectGrantQuery {
        project_id: Some(project_id),
        granted_org_id: query.granted_org_id,
        org_id: None,
    };
    let grants = api
        .queries
        .project_grants(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(grants)))
}

async fn grant(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path((project_id, grant_id)): Path<(String, String)>,
) -> ReadReply<ProjectGrantBody> {
    readable_project(&api, &caller, &project_id, Permission::ProjectRead).await?;
    let grant = api
        .queries
        .project_grant(
            &api.instance_id,
            &project_id,
            &grant_id,
            Consistency::Latest,
        )
        .await?;
    Ok(Json(found(grant, "project_grant")?.into()))
}

async fn list_members(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<MembershipBody>> {
    let page = query.page()?;
    readable_project(&api, &caller, &project_id, Permission::ProjectMemberRead).await?;
    members(&api, ScopeKind::Project, &project_id, page).await
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectBody {
    /// The project id.
    pub id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<ProjectView> for ProjectBody {
    fn from(v: ProjectView) -> Self {
        Self {
            id: v.id,
            org_id: v.org_id,
            name: v.name,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A role of a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectRoleBody {
    /// The key, as used in tokens and grants.
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// The group to arrange roles in the UI.
    pub group: String,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<ProjectRoleView> for ProjectRoleBody {
    fn from(v: ProjectRoleView) -> Self {
        Self {
            key: v.key,
            display_name: v.display_name,
            group: v.group,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
    }
}

/// A grant of a project to another organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectGrantBody {
    /// The grant id.
    pub grant_id: String,
    /// The project.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys the granted organization may hand out.
    pub role_keys: Vec<String>,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<ProjectGrantView> for ProjectGrantBody {
    fn from(v: ProjectGrantView) -> Self {
        Self {
            grant_id: v.grant_id,
            project_id: v.project_id,
            org_id: v.org_id,
            granted_org_id: v.granted_org_id,
            role_keys: v.role_keys,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
    }
}
