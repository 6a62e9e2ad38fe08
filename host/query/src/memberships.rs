//! Memberships of the instance, organizations and projects: the view row, the read of one membership, the list
//! and a user's memberships as the authorization check takes them.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::authz::{Membership, Role, Scope, ScopeKind};
use warden_spooler::{DbRow, params};

use crate::{
    QueryError,
    list::{Field, ListSpec, Page, PageOf, Paging, named, text},
    projections::MEMBERSHIPS,
    row::{UnknownName, corrupt, decode},
    service::{Consistency, Queries},
};

/// A user's membership of the instance, an organization or a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// The instance.
    pub instance_id: String,
    /// Instance, organization or project.
    pub scope: ScopeKind,
    /// The instance, organization or project id.
    pub scope_id: String,
    /// The member.
    pub user_id: String,
    /// The roles held there.
    pub roles: Vec<Role>,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl MembershipView {
    pub(crate) const COLUMNS: &'static str =
        "instance_id, scope, scope_id, user_id, roles, created_at_ms, changed_at_ms";

    /// Decodes a row of either backend.
    pub(crate) fn decode(row: &DbRow) -> Result<Self, sqlx::Error> {
        decode::<MembershipRow>(row)?.try_into()
    }

    /// The membership as the authorization check takes it.
    pub fn to_membership(&self) -> Membership {
        let scope = match self.scope {
            ScopeKind::Instance => Scope::Instance,
            ScopeKind::Org => Scope::Org(self.scope_id.clone()),
            ScopeKind::Project => Scope::Project(self.scope_id.clone()),
        };
        Membership {
            scope,
            roles: self.roles.clone(),
        }
    }
}

/// A row of `memberships`; `scope` holds the stored name of a [`ScopeKind`].
#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    instance_id: String,
    scope: String,
    scope_id: String,
    user_id: String,
    #[sqlx(json)]
    roles: Vec<Role>,
    created_at_ms: i64,
    changed_at_ms: i64,
}

impl TryFrom<MembershipRow> for MembershipView {
    type Error = sqlx::Error;

    fn try_from(row: MembershipRow) -> Result<Self, Self::Error> {
        let scope = [ScopeKind::Instance, ScopeKind::Org, ScopeKind::Project]
            .into_iter()
            .find(|kind| kind.as_str() == row.scope)
            .ok_or_else(|| {
                corrupt(
                    "scope",
                    UnknownName {
                        what: "scope",
                        value: row.scope.clone(),
                    },
                )
            })?;
        Ok(Self {
            instance_id: row.instance_id,
            scope,
            scope_id: row.scope_id,
            user_id: row.user_id,
            roles: row.roles,
            created_at_ms: row.created_at_ms,
            changed_at_ms: row.changed_at_ms,
        })
    }
}

/// Memberships of an instance, by scope, scope id and user.
static MEMBERSHIP_LIST: ListSpec<MembershipQuery, MembershipRow> = ListSpec::new(
    "memberships",
    MembershipView::COLUMNS,
    &[
        Field::eq("user_id", |q| text(&q.user_id)),
        Field::eq("scope", |q| named(q.scope, ScopeKind::as_str)),
        Field::eq("scope_id", |q| text(&q.scope_id)),
        Field::JsonHolds {
            column: "roles",
            value: |q| q.role.map(Role::as_str),
        },
    ],
    None,
    &["scope", "scope_id", "user_id"],
    Paging::Offset,
);

/// Every membership of a user (the query is the user id), by scope and scope id.
static MEMBERSHIPS_OF_USER: ListSpec<str, MembershipRow> = ListSpec::new(
    "memberships",
    MembershipView::COLUMNS,
    &[Field::eq("user_id", |user_id| Some(user_id.into()))],
    None,
    &["scope", "scope_id"],
    Paging::Unpaged,
);

/// Which memberships to list (by scope, scope id and user).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MembershipQuery {
    /// Only memberships of this user.
    pub user_id: Option<String>,
    /// Only memberships of this kind.
    pub scope: Option<ScopeKind>,
    /// Only memberships on this instance, organization or project id.
    pub scope_id: Option<String>,
    /// Only memberships holding this role.
    pub role: Option<Role>,
}

impl Queries {
    /// A user's membership on a scope. Read-your-writes follows the scope's aggregate (the instance,
    /// organization or project holding the members).
    #[instrument(skip(self), err)]
    pub async fn membership(
        &self,
        instance_id: &str,
        scope: &Scope,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Option<MembershipView>, QueryError> {
        let (kind, scope_id) = match scope {
            Scope::Instance => ("instance", instance_id),
            Scope::Org(id) => ("org", id.as_str()),
            Scope::Project(id) => ("project", id.as_str()),
        };
        self.settle(MEMBERSHIPS, consistency, instance_id, &[(kind, scope_id)])
            .await?;
        let sql = format!(
            "SELECT {} FROM memberships WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 AND user_id = $4",
            MembershipView::COLUMNS
        );
        self.one(
            &sql,
            &params![instance_id, kind, scope_id, user_id],
            MembershipView::decode,
        )
        .await
    }

    /// Memberships of an instance.
    #[instrument(skip(self), err)]
    pub async fn memberships(
        &self,
        instance_id: &str,
        query: &MembershipQuery,
        page: Page,
    ) -> Result<PageOf<MembershipView>, QueryError> {
        self.list(&MEMBERSHIP_LIST, instance_id, query, page).await
    }

    /// Every membership of a user, as the authorization check takes them (the view as it is).
    #[instrument(skip(self), err)]
    pub async fn memberships_of_user(
        &self,
        instance_id: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, QueryError> {
        let views: Vec<MembershipView> = self
            .list_all(&MEMBERSHIPS_OF_USER, instance_id, user_id)
            .await?;
        Ok(views.iter().map(MembershipView::to_membership).collect())
    }
}
