//! User grants (a user's roles in a project): the view row, the read by id and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::{
    QueryError,
    list::{Direction, Field, ListSpec, Order, Page, PageOf, Paging, named, text},
    row::{State, decode},
    service::{Consistency, Queries},
};

/// A user's roles in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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
    #[sqlx(json)]
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
}

/// User grants of an instance, by creation time.
static USER_GRANT_LIST: ListSpec<UserGrantQuery, UserGrantView> = ListSpec::new(
    "user_grants",
    UserGrantView::COLUMNS,
    &[
        Field::eq("user_id", |q| text(&q.user_id)),
        Field::eq("project_id", |q| text(&q.project_id)),
        Field::eq("org_id", |q| text(&q.org_id)),
        Field::eq("project_grant_id", |q| text(&q.project_grant_id)),
        Field::eq("state", |q| named(q.state, State::as_str)),
    ],
    Some(|q| Order::new("created_at_ms", q.direction)),
    &["id"],
    Paging::Offset,
);

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
            decode::<UserGrantView>,
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
        self.list(&USER_GRANT_LIST, instance_id, query, page).await
    }
}
