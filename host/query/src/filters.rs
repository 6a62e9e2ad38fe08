//! Filters and sort orders of the list queries. Every field is optional; they deserialize from query strings.

use serde::{Deserialize, Serialize};
use warden_domain::authz::{Role, ScopeKind};

use crate::views::{AppKind, Direction, State, UserKind};

/// How to sort organizations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgSort {
    /// By name, case-insensitively.
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
}

/// Which organizations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgQuery {
    /// Names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Only the organization with this domain (verified or not).
    pub domain: Option<String>,
    /// Sort order.
    pub sort: OrgSort,
    /// Sort direction.
    pub direction: Direction,
}

/// How to sort users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
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

/// Which users to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    /// Only users of this organization.
    pub org_id: Option<String>,
    /// Login names starting with this, case-insensitively.
    pub login_name_prefix: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Only humans or only machines.
    pub kind: Option<UserKind>,
    /// Only locked (or only unlocked) users.
    pub locked: Option<bool>,
    /// Sort order.
    pub sort: UserSort,
    /// Sort direction.
    pub direction: Direction,
}

/// How to sort projects and applications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSort {
    /// By name, case-insensitively.
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
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

/// Which applications to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationQuery {
    /// Only applications of this project.
    pub project_id: Option<String>,
    /// Only applications of projects of this organization.
    pub org_id: Option<String>,
    /// Names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    /// Only OIDC or only API applications.
    pub kind: Option<AppKind>,
    /// Only in this state.
    pub state: Option<State>,
    /// Sort order.
    pub sort: NameSort,
    /// Sort direction.
    pub direction: Direction,
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
