//! Projects: the view rows (with roles and grants to other organizations), the reads by id and the lists.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::{DbRow, params};

use crate::{
    QueryError,
    list::{Direction, Filter, NameSort, Page, PageOf, order},
    projections::PROJECTS,
    row::State,
    service::{Consistency, Queries},
};

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            org_id: row.get("org_id")?,
            name: row.get("name")?,
            state: State::parse(&row.get::<String>("state")?)?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A role of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRoleView {
    /// The project.
    pub project_id: String,
    /// The key, as used in tokens and grants.
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// The group to arrange roles in the UI.
    pub group: String,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ProjectRoleView {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            project_id: row.get("project_id")?,
            key: row.get("role_key")?,
            display_name: row.get("display_name")?,
            group: row.get("role_group")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
    }
}

/// A grant of a project to another organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub role_keys: Vec<String>,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ProjectGrantView {
    pub(crate) const COLUMNS: &'static str = "instance_id, project_id, grant_id, org_id, granted_org_id, role_keys, created_at_ms, changed_at_ms";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            project_id: row.get("project_id")?,
            grant_id: row.get("grant_id")?,
            org_id: row.get("org_id")?,
            granted_org_id: row.get("granted_org_id")?,
            role_keys: row.json("role_keys")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
    }
}

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
            ProjectView::from_row,
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("org_id", query.org_id.as_deref());
        filter.prefix(
            "name_lower",
            query
                .name_prefix
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
        );
        filter.eq("state", query.state.map(|s| s.as_str()));
        let column = match query.sort {
            NameSort::Name => "name_lower",
            NameSort::CreatedAt => "created_at_ms",
        };
        let select = filter.select(
            ProjectView::COLUMNS,
            "projects",
            &order(column, "id", query.direction),
            page,
        );
        self.page(select, page, ProjectView::from_row).await
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("project_id", Some(project_id));
        let select = filter.select(
            "project_id, role_key, display_name, role_group, created_at_ms, changed_at_ms",
            "project_roles",
            "role_key ASC",
            page,
        );
        self.page(select, page, ProjectRoleView::from_row).await
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
            ProjectGrantView::from_row,
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("project_id", query.project_id.as_deref());
        filter.eq("granted_org_id", query.granted_org_id.as_deref());
        filter.eq("org_id", query.org_id.as_deref());
        let select = filter.select(
            ProjectGrantView::COLUMNS,
            "project_grants",
            "created_at_ms ASC, project_id ASC, grant_id ASC",
            page,
        );
        self.page(select, page, ProjectGrantView::from_row).await
    }
}
