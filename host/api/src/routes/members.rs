//! Memberships of the instance, an organization or a project: the roles a request names, what a member list
//! answers, and the read-your-writes list shared by the three scopes.

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::{
    aggregate::Aggregate,
    authz::{Role, ScopeKind},
    instance::Instance,
    org::Organization,
    project::Project,
};
use warden_query::{MembershipQuery, MembershipView, Page, projections::MEMBERSHIPS};

use crate::{
    ApiState, schema, time,
    view::{ListPage, ReadReply, settle},
};

/// A role of an instance membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
// The variants spell the roles' names on the wire, prefix included.
#[allow(clippy::enum_variant_names)]
pub(crate) enum InstanceRoleName {
    /// Everything in the instance.
    IamOwner,
    /// Reads everything in the instance.
    IamOwnerViewer,
    /// Manages every organization of the instance.
    IamOrgManager,
    /// Manages every user of the instance.
    IamUserManager,
}

/// A role of an organization membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
// The variants spell the roles' names on the wire, prefix included.
#[allow(clippy::enum_variant_names)]
pub(crate) enum OrgRoleName {
    /// Everything in one organization.
    OrgOwner,
    /// Reads one organization.
    OrgOwnerViewer,
    /// Manages the users and user grants of one organization.
    OrgUserManager,
    /// Creates projects in one organization.
    OrgProjectCreator,
}

/// A role of a project membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
// The variants spell the roles' names on the wire, prefix included.
#[allow(clippy::enum_variant_names)]
pub(crate) enum ProjectRoleName {
    /// Everything in one project.
    ProjectOwner,
    /// Reads one project.
    ProjectOwnerViewer,
}

impl From<InstanceRoleName> for Role {
    fn from(role: InstanceRoleName) -> Self {
        match role {
            InstanceRoleName::IamOwner => Role::IamOwner,
            InstanceRoleName::IamOwnerViewer => Role::IamOwnerViewer,
            InstanceRoleName::IamOrgManager => Role::IamOrgManager,
            InstanceRoleName::IamUserManager => Role::IamUserManager,
        }
    }
}

impl From<OrgRoleName> for Role {
    fn from(role: OrgRoleName) -> Self {
        match role {
            OrgRoleName::OrgOwner => Role::OrgOwner,
            OrgRoleName::OrgOwnerViewer => Role::OrgOwnerViewer,
            OrgRoleName::OrgUserManager => Role::OrgUserManager,
            OrgRoleName::OrgProjectCreator => Role::OrgProjectCreator,
        }
    }
}

impl From<ProjectRoleName> for Role {
    fn from(role: ProjectRoleName) -> Self {
        match role {
            ProjectRoleName::ProjectOwner => Role::ProjectOwner,
            ProjectRoleName::ProjectOwnerViewer => Role::ProjectOwnerViewer,
        }
    }
}

/// Converts role names of a request.
pub(crate) fn roles<R: Copy + Into<Role>>(names: &[R]) -> Vec<Role> {
    names.iter().copied().map(Into::into).collect()
}

/// Makes a user a member with roles of the membership's kind (`R`: instance, organization or project roles).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMemberRequest<R> {
    /// The user to make a member.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    pub(crate) user_id: String,
    /// The roles: at least one, none repeated.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub(crate) roles: Vec<R>,
}

/// Replaces a member's roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberRolesRequest<R> {
    /// The complete new set of roles: at least one, none repeated.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub(crate) roles: Vec<R>,
}

/// The members of the instance, an organization or a project, reflecting every change of the members stored
/// before the request.
pub(crate) async fn members(
    api: &ApiState,
    scope: ScopeKind,
    scope_id: &str,
    page: Page,
) -> ReadReply<ListPage<MembershipBody>> {
    let aggregate_type = match scope {
        ScopeKind::Instance => Instance::TYPE,
        ScopeKind::Org => Organization::TYPE,
        ScopeKind::Project => Project::TYPE,
    };
    settle(api, MEMBERSHIPS, aggregate_type, scope_id).await?;
    let filter = MembershipQuery {
        scope: Some(scope),
        scope_id: Some(scope_id.to_owned()),
        ..MembershipQuery::default()
    };
    let members = api
        .queries
        .memberships(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(members)))
}

/// What a membership is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipScope {
    /// The whole instance.
    Instance,
    /// One organization.
    Org,
    /// One project.
    Project,
}

impl From<ScopeKind> for MembershipScope {
    fn from(kind: ScopeKind) -> Self {
        match kind {
            ScopeKind::Instance => Self::Instance,
            ScopeKind::Org => Self::Org,
            ScopeKind::Project => Self::Project,
        }
    }
}

impl From<MembershipScope> for ScopeKind {
    fn from(scope: MembershipScope) -> Self {
        match scope {
            MembershipScope::Instance => Self::Instance,
            MembershipScope::Org => Self::Org,
            MembershipScope::Project => Self::Project,
        }
    }
}

/// A user's membership of the instance, an organization or a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MembershipBody {
    /// Instance, organization or project.
    pub scope: MembershipScope,
    /// The instance, organization or project id.
    pub scope_id: String,
    /// The member.
    pub user_id: String,
    /// The roles held there, e.g. `ORG_OWNER`.
    pub roles: Vec<String>,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<MembershipView> for MembershipBody {
    fn from(v: MembershipView) -> Self {
        Self {
            scope: v.scope.into(),
            scope_id: v.scope_id,
            user_id: v.user_id,
            roles: v.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
    }
}
