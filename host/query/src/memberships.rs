//! Memberships of the instance, organizations and projects: the view row, the read of one membership, the list
//! and a user's memberships as the authorization check takes them.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::authz::{Membership, Role, Scope, ScopeKind};
use warden_spooler::{DbRow, SqlValue, params};

use crate::{
    QueryError,
    list::{Filter, Page, PageOf, like_escape},
    projections::MEMBERSHIPS,
    row::corrupt,
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

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let scope = match row.get::<String>("scope")?.as_str() {
            "instance" => ScopeKind::Instance,
            "org" => ScopeKind::Org,
            "project" => ScopeKind::Project,
            other => return Err(corrupt("scope", format!("unknown scope `{other}`"))),
        };
        Ok(Self {
            instance_id: row.get("instance_id")?,
            scope,
            scope_id: row.get("scope_id")?,
            user_id: row.get("user_id")?,
            roles: row.json("roles")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
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
            MembershipView::from_row,
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("user_id", query.user_id.as_deref());
        filter.eq("scope", query.scope.map(|s| s.as_str()));
        filter.eq("scope_id", query.scope_id.as_deref());
        if let Some(role) = query.role {
            let pattern = format!("%\"{}\"%", like_escape(role.as_str()));
            filter.raw(
                "CAST(roles AS TEXT) LIKE {} ESCAPE '\\'",
                SqlValue::from(pattern),
            );
        }
        let select = filter.select(
            MembershipView::COLUMNS,
            "memberships",
            "scope ASC, scope_id ASC, user_id ASC",
            page,
        );
        self.page(select, page, MembershipView::from_row).await
    }

    /// Every membership of a user, as the authorization check takes them (the view as it is).
    #[instrument(skip(self), err)]
    pub async fn memberships_of_user(
        &self,
        instance_id: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, QueryError> {
        let sql = format!(
            "SELECT {} FROM memberships WHERE instance_id = $1 AND user_id = $2 ORDER BY scope, scope_id",
            MembershipView::COLUMNS
        );
        let views = self
            .all(
                &sql,
                &params![instance_id, user_id],
                MembershipView::from_row,
            )
            .await?;
        Ok(views.iter().map(MembershipView::to_membership).collect())
    }
}
