//! User grants (a user's roles in a project): the view row, the read by id and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::DbRow;

use crate::{
    QueryError,
    list::{Direction, Filter, Page, PageOf, order},
    row::State,
    service::{Consistency, Queries},
};

/// A user's roles in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantView {
    /// The instance.
    pub instance_id: String,
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
    pub state: State,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the grant.
    pub sequence: i64,
}

impl UserGrantView {
    pub(crate) const COLUMNS: &'static str = "instance_id, id, user_id, project_id, project_grant_id, org_id, \
         role_keys, state, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            project_id: row.get("project_id")?,
            project_grant_id: row.get("project_grant_id")?,
            org_id: row.get("org_id")?,
            role_keys: row.json("role_keys")?,
            state: State::parse(&row.get::<String>("state")?)?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// Which user grants to list (by creation time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserGrantQuery {
    /// Only grants of this user.
    pub user_id: Option<String>,
    /// Only grants on this project.
    pub project_id: Option<String>,
    /// Only grants owned by this organization.
    pub org_id: Option<String>,
    /// Only grants given through this project grant.
    pub project_grant_id: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Sort direction (by creation time).
    pub direction: Direction,
}

impl Queries {
    /// A user grant.
    #[instrument(skip(self), err)]
    pub async fn user_grant(
        &self,
        instance_id: &str,
        grant_id: &str,
        consistency: Consistency,
    ) -> Result<Option<UserGrantView>, QueryError> {
        self.by_id(
            &self.by_id.user_grant,
            instance_id,
            grant_id,
            consistency,
            UserGrantView::from_row,
        )
        .await
    }

    /// User grants of an instance, by creation time.
    #[instrument(skip(self), err)]
    pub async fn user_grants(
        &self,
        instance_id: &str,
        query: &UserGrantQuery,
        page: Page,
    ) -> Result<PageOf<UserGrantView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.eq("user_id", query.user_id.as_deref());
        filter.eq("project_id", query.project_id.as_deref());
        filter.eq("org_id", query.org_id.as_deref());
        filter.eq("project_grant_id", query.project_grant_id.as_deref());
        filter.eq("state", query.state.map(|s| s.as_str()));
        let select = filter.select(
            UserGrantView::COLUMNS,
            "user_grants",
            &order("created_at_ms", "id", query.direction),
            page,
        );
        self.page(select, page, UserGrantView::from_row).await
    }
}
