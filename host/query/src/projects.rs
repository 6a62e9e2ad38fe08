//! Projects: the view rows (with roles and grants to other organizations), the reads by id and the lists.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::params;

use crate::{
    QueryError,
    list::{Direction, Field, ListSpec, NameSort, Order, Page, PageOf, Paging, named, text},
    projections::PROJECTS,
    row::{State, decode},
    service::{Consistency, Queries},
};

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectView {
    /// The instance.
    pub instance_id: String,
    /// The project id.
    pub id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: State,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the project.
    pub sequence: i64,
}

impl ProjectView {
    pub(crate) const COLUMNS: &'static str =
        "instance_id, id, org_id, name, state, created_at_ms, changed_at_ms, sequence";
}

/// A role of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectRoleView {
    /// The project.
    pub project_id: String,
    /// The key, as used in tokens and grants.
    #[sqlx(rename = "role_key")]
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// The group to arrange roles in the UI.
    #[sqlx(rename = "role_group")]
    pub group: String,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

/// A grant of a project to another organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectGrantView {
    /// The instance.
    pub instance_id: String,
    /// The project.
    pub project_id: String,
    /// The grant id.
    pub grant_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys the granted organization may hand out.
    #[sqlx(json)]
    pub role_keys: Vec<String>,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ProjectGrantView {
    pub(crate) const COLUMNS: &'static str = "instance_id, project_id, grant_id, org_id, granted_org_id, role_keys, created_at_ms, changed_at_ms";
}

/// Projects of an instance.
static PROJECT_LIST: ListSpec<ProjectQuery, ProjectView> = ListSpec::new(
    "projects",
    ProjectView::COLUMNS,
    &[
        Field::eq("org_id", |q| text(&q.org_id)),
        Field::prefix("name_lower", |q| q.name_prefix.as_deref()),
        Field::eq("state", |q| named(q.state, State::as_str)),
    ],
    Some(|q| Order::new(q.sort.column(), q.direction)),
    &["id"],
    Paging::Offset,
);

/// The roles of a project (the query is the project id), by key.
static ROLE_LIST: ListSpec<str, ProjectRoleView> = ListSpec::new(
    "project_roles",
    "project_id, role_key, display_name, role_group, created_at_ms, changed_at_ms",
    &[Field::eq("project_id", |project_id| {
        Some(project_id.into())
    })],
    None,
    &["role_key"],
    Paging::Offset,
);

/// Project grants of an instance, oldest first.
static GRANT_LIST: ListSpec<ProjectGrantQuery, ProjectGrantView> = ListSpec::new(
    "project_grants",
    ProjectGrantView::COLUMNS,
    &[
        Field::eq("project_id", |q| text(&q.project_id)),
        Field::eq("granted_org_id", |q| text(&q.granted_org_id)),
        Field::eq("org_id", |q| text(&q.org_id)),
    ],
    None,
    &["created_at_ms", "project_id", "grant_id"],
    Paging::Offset,
);

/// Which projects to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectQuery {
    /// Only projects of this organization.
    pub org_id: Option<String>,
    /// Names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Sort order.
    pub sort: NameSort,
    /// Sort direction.
    pub direction: Direction,
}

/// Which project grants to list (newest last).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectGrantQuery {
    /// Only grants of this project.
    pub project_id: Option<String>,
    /// Only grants to this organization.
    pub granted_org_id: Option<String>,
    /// Only grants of projects of this organization.
    pub org_id: Option<String>,
}

impl Queries {
    /// A project.
    #[instrument(skip(self), err)]
    pub async fn project(
        &self,
        instance_id: &str,
        project_id: &str,
        consistency: Consistency,
    ) -> Result<Option<ProjectView>, QueryError> {
        self.by_id(
            &self.by_id.project,
            instance_id,
            project_id,
            consistency,
            decode::<ProjectView>,
        )
        .await
    }

    /// Projects of an instance.
    #[instrument(skip(self), err)]
    pub async fn projects(
        &self,
        instance_id: &str,
        query: &ProjectQuery,
        page: Page,
    ) -> Result<PageOf<ProjectView>, QueryError> {
        self.list(&PROJECT_LIST, instance_id, query, page).await
    }

    /// The roles of a project, by key.
    #[instrument(skip(self), err)]
    pub async fn project_roles(
        &self,
        instance_id: &str,
        project_id: &str,
        consistency: Consistency,
        page: Page,
    ) -> Result<PageOf<ProjectRoleView>, QueryError> {
        self.settle(
            PROJECTS,
            consistency,
            instance_id,
            &[("project", project_id)],
        )
        .await?;
        self.list(&ROLE_LIST, instance_id, project_id, page).await
    }

    /// One grant of a project.
    #[instrument(skip(self), err)]
    pub async fn project_grant(
        &self,
        instance_id: &str,
        project_id: &str,
        grant_id: &str,
        consistency: Consistency,
    ) -> Result<Option<ProjectGrantView>, QueryError> {
        self.settle(
            PROJECTS,
            consistency,
            instance_id,
            &[("project", project_id)],
        )
        .await?;
        let sql = format!(
            "SELECT {} FROM project_grants WHERE instance_id = $1 AND project_id = $2 AND grant_id = $3",
            ProjectGrantView::COLUMNS
        );
        self.one(
            &sql,
            &params![instance_id, project_id, grant_id],
            decode::<ProjectGrantView>,
        )
        .await
    }

    /// Project grants of an instance, oldest first.
    #[instrument(skip(self), err)]
    pub async fn project_grants(
        &self,
        instance_id: &str,
        query: &ProjectGrantQuery,
        page: Page,
    ) -> Result<PageOf<ProjectGrantView>, QueryError> {
        self.list(&GRANT_LIST, instance_id, query, page).await
    }
}
